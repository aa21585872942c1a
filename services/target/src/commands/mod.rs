//! The target commands, one file each, dispatched through [`TargetCommand`]. Each takes the
//! event's own JSON form as `data`.

mod cancel_session;
mod correct;
mod hold_session;
mod notch_up;
mod practice;
mod retire;
mod schedule_session;
mod set;

use carelog_commands::authorize::{require_patient_self, require_role, require_therapist_consent};
use carelog_commands::{
    corrected_payload, parse_data, CommandData, CommandError, Context, NewEvent, Request,
};
use carelog_eventlog::AggregateHistory;
use carelog_schemas::target::{
    EntryCorrected, SessionCancelled, SessionHeld, SessionScheduled, TargetNotchedUp,
    TargetPracticed, TargetRetired, TargetSet,
};
use carelog_schemas::values::Scope;
use carelog_schemas::{EventPayload, Role, TargetId};

use crate::state::{Target, TargetState};

/// Command names, the last token of `care.cmd.target.<name>`.
pub(crate) const NAMES: &[&str] = &[
    "set",
    "practice",
    "notch_up",
    "retire",
    "schedule_session",
    "hold_session",
    "cancel_session",
    "correct",
];

/// A target command.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetCommand {
    Set(TargetSet),
    Practice(TargetPracticed),
    NotchUp(TargetNotchedUp),
    Retire(TargetRetired),
    ScheduleSession(SessionScheduled),
    HoldSession(SessionHeld),
    CancelSession(SessionCancelled),
    Correct(EntryCorrected),
}

impl TargetCommand {
    pub(crate) fn parse(name: &str, data: CommandData<'_>) -> Result<Self, CommandError> {
        Ok(match name {
            "set" => TargetCommand::Set(parse_data(data)?),
            "practice" => TargetCommand::Practice(parse_data(data)?),
            "notch_up" => TargetCommand::NotchUp(parse_data(data)?),
            "retire" => TargetCommand::Retire(parse_data(data)?),
            "schedule_session" => TargetCommand::ScheduleSession(parse_data(data)?),
            "hold_session" => TargetCommand::HoldSession(parse_data(data)?),
            "cancel_session" => TargetCommand::CancelSession(parse_data(data)?),
            "correct" => TargetCommand::Correct(parse_data(data)?),
            other => {
                return Err(CommandError::invalid(
                    "known_command",
                    format!("unknown target command {other:?}"),
                ))
            }
        })
    }

    /// The consent scope a therapist needs for this command on the aggregate `own`. A
    /// correction needs the scope of the entry it corrects (a session's correction needs
    /// `sessions`); one naming no entry here is refused later, as not found, to those who
    /// hold `targets`.
    fn scope(&self, own: &AggregateHistory) -> Scope {
        match self {
            TargetCommand::ScheduleSession(_)
            | TargetCommand::HoldSession(_)
            | TargetCommand::CancelSession(_) => Scope::Sessions,
            TargetCommand::Correct(correction) => match corrected_payload(own, correction) {
                Some(EventPayload::Target(event)) => event.consent_scope(),
                _ => None,
            }
            .unwrap_or(Scope::Targets),
            _ => Scope::Targets,
        }
    }
}

pub(crate) async fn decide(
    context: &Context<'_>,
    request: &Request<TargetCommand>,
) -> Result<Vec<NewEvent>, CommandError> {
    // Domain §5: the patient themselves, or a therapist holding the patient's consent for
    // targets (sessions for session commands). Clinics and auditors do not write here.
    let actor = request.actor();
    let allowed: &[Role] = match request.command {
        TargetCommand::HoldSession(_) => &[Role::Therapist],
        _ => &[Role::Patient, Role::Therapist],
    };
    require_role(actor, allowed, request.name)?;
    require_patient_self(actor, context.patient_id())?;
    let consents = context.consents().await?;
    if actor.role == Role::Therapist {
        require_therapist_consent(
            actor,
            &consents,
            request.command.scope(context.own()),
            request.received_at,
        )?;
    }
    let state = context.own().folded::<TargetState>();
    match &request.command {
        TargetCommand::Set(command) => set::decide(&state, request, command),
        TargetCommand::Practice(command) => practice::decide(&state, request, command),
        TargetCommand::NotchUp(command) => notch_up::decide(&state, request, command),
        TargetCommand::Retire(command) => retire::decide(&state, request, command),
        TargetCommand::ScheduleSession(command) => {
            schedule_session::decide(&state, &consents, request, command)
        }
        TargetCommand::HoldSession(command) => hold_session::decide(&state, request, command),
        TargetCommand::CancelSession(command) => cancel_session::decide(&state, request, command),
        TargetCommand::Correct(command) => correct::decide(context, request, command),
    }
}

/// The target, if it exists for this patient and is still active.
fn active_target(state: &TargetState, target_id: TargetId) -> Result<&Target, CommandError> {
    let target = state.targets.get(&target_id).ok_or_else(|| {
        CommandError::not_found(
            "target_exists",
            format!("this patient has no target {target_id}"),
        )
        .at("data.target_id")
    })?;
    if !target.active {
        return Err(CommandError::violated(
            "target_active",
            format!("target {target_id} was retired"),
        )
        .at("data.target_id"));
    }
    Ok(target)
}

//! The observation commands, one file each, dispatched through [`ObservationCommand`]. Their
//! `data` is the event's JSON form without `flags`, which the service computes.

mod correct;
mod record;
mod score;

use std::collections::HashSet;

use carelog_commands::authorize::{
    require_clinic_with_active_course, require_patient_self, require_role,
    require_therapist_consent,
};
use carelog_commands::state::{apply_commit, fold_live_events};
use carelog_commands::{
    corrected_payload, parse_data, CommandData, CommandError, Context, NewEvent, Request,
};
use carelog_eventlog::{AggregateHistory, Fold, StoredCommit};
use carelog_schemas::observation::EntryCorrected;
use carelog_schemas::values::Scope;
use carelog_schemas::{EventPayload, ObservationEvent, ObservationId, Role};
use tokio::sync::OnceCell;

pub use record::Record;
pub use score::Score;

/// Command names, the last token of `care.cmd.observation.<name>`.
pub(crate) const NAMES: &[&str] = &["record", "score", "correct"];

/// An observation command.
#[derive(Debug, Clone, PartialEq)]
pub enum ObservationCommand {
    Record(Record),
    Score(Score),
    Correct(EntryCorrected),
}

impl ObservationCommand {
    pub(crate) fn parse(name: &str, data: CommandData<'_>) -> Result<Self, CommandError> {
        Ok(match name {
            "record" => ObservationCommand::Record(parse_data(data)?),
            "score" => ObservationCommand::Score(parse_data(data).map_err(|mut error| {
                // Item count, item range and total are the scale rule of domain §4.
                if error
                    .field
                    .as_deref()
                    .is_some_and(|f| f.starts_with("data.score"))
                {
                    error.rule = Some("scale_shape");
                }
                error
            })?),
            "correct" => ObservationCommand::Correct(parse_data(data)?),
            other => {
                return Err(CommandError::invalid(
                    "known_command",
                    format!("unknown observation command {other:?}"),
                ))
            }
        })
    }

    /// The consent scope a therapist needs for this command on the aggregate `own`. A
    /// correction needs the scope of the entry it corrects (a score's correction needs
    /// `scores`); one naming no entry here is refused later, as not found, to those who hold
    /// `observations`.
    fn scope(&self, own: &AggregateHistory) -> Scope {
        match self {
            ObservationCommand::Score(_) => Scope::Scores,
            ObservationCommand::Correct(correction) => match corrected_payload(own, correction) {
                Some(EventPayload::Observation(event)) => event.consent_scope(),
                _ => None,
            }
            .unwrap_or(Scope::Observations),
            _ => Scope::Observations,
        }
    }
}

pub(crate) async fn decide(
    context: &Context<'_>,
    request: &Request<ObservationCommand>,
) -> Result<Vec<NewEvent>, CommandError> {
    // Domain §5: the patient themselves, a therapist holding the patient's consent for
    // observations (scores for questionnaires), or the clinic of an active course.
    let actor = request.actor();
    require_role(
        actor,
        &[Role::Patient, Role::Therapist, Role::Clinic],
        request.name,
    )?;
    require_patient_self(actor, context.patient_id())?;
    // The dose family is read when a rule needs it, at most once: a clinic must hold an active
    // course, and a red-flag symptom is flagged by how long after a dose it occurred. A mood,
    // a rating, a note or a score by the patient or a therapist does not depend on it, and
    // reading it would cost a round trip to the log.
    let doses = OnceCell::new();
    match actor.role {
        Role::Therapist => {
            let consents = context.consents().await?;
            require_therapist_consent(
                actor,
                &consents,
                request.command.scope(context.own()),
                request.received_at,
            )?;
        }
        Role::Clinic => require_clinic_with_active_course(
            actor,
            doses.get_or_try_init(|| context.doses()).await?,
        )?,
        _ => {}
    }
    match &request.command {
        ObservationCommand::Record(command) => {
            record::decide(context, &doses, request, command).await
        }
        ObservationCommand::Score(command) => score::decide(request, command),
        ObservationCommand::Correct(command) => correct::decide(context, request, command),
    }
}

/// Whether an observation id is already used in this patient's record.
fn observation_exists(context: &Context<'_>, observation_id: ObservationId) -> bool {
    context
        .own()
        .folded::<ObservationIds>()
        .0
        .contains(&observation_id)
}

/// The ids of the patient's recorded observations that still stand (not corrected).
#[derive(Debug, Clone, Default, PartialEq)]
struct ObservationIds(HashSet<ObservationId>);

impl ObservationIds {
    fn apply_event(&mut self, payload: &EventPayload) {
        if let EventPayload::Observation(ObservationEvent::ObservationRecorded(recorded)) = payload
        {
            self.0.insert(recorded.observation_id);
        }
    }
}

impl Fold for ObservationIds {
    fn from_history(history: &AggregateHistory) -> Self {
        fold_live_events(history, ObservationIds::apply_event)
    }

    fn apply(&mut self, stored: &StoredCommit) -> bool {
        apply_commit(self, stored, ObservationIds::apply_event)
    }
}

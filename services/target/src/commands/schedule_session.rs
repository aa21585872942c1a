//! `schedule_session`: a therapy or skills session is planned with a consented therapist.
//! Whether it falls in the 24–72 h window is the projections' to show, never a rejection.

use carelog_commands::state::ConsentState;
use carelog_commands::{CommandError, NewEvent, Request};
use carelog_schemas::target::{SessionScheduled, TargetEvent};
use carelog_schemas::values::{GranteeRole, Scope};
use carelog_schemas::Role;

use super::TargetCommand;
use crate::state::TargetState;

pub(super) fn decide(
    state: &TargetState,
    consents: &ConsentState,
    request: &Request<TargetCommand>,
    command: &SessionScheduled,
) -> Result<Vec<NewEvent>, CommandError> {
    let actor = request.actor();
    if actor.role == Role::Therapist && command.therapist_id != actor.party_id {
        return Err(CommandError::forbidden(
            "session_therapist",
            "a therapist schedules sessions with themselves only",
        )
        .at("data.therapist_id"));
    }
    let consented = consents
        .open_grant_to(
            command.therapist_id,
            GranteeRole::Therapist,
            Some(Scope::Sessions),
            request.received_at,
        )
        .is_some();
    if !consented {
        return Err(CommandError::forbidden(
            "therapist_consent",
            "the session's therapist has no open consent from the patient covering sessions",
        )
        .at("data.therapist_id"));
    }
    if state.sessions.contains_key(&command.session_id) {
        return Err(CommandError::invalid(
            "id_unique",
            format!(
                "session {} already exists; choose a new session id",
                command.session_id
            ),
        )
        .at("data.session_id"));
    }
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        TargetEvent::SessionScheduled(command.clone()),
    )])
}

//! `cancel_session`: the patient or the session's therapist calls a session off.

use carelog_commands::{CommandError, NewEvent, Request};
use carelog_schemas::target::{SessionCancelled, TargetEvent};
use carelog_schemas::Role;

use super::hold_session::open_session;
use super::TargetCommand;
use crate::state::TargetState;

pub(super) fn decide(
    state: &TargetState,
    request: &Request<TargetCommand>,
    command: &SessionCancelled,
) -> Result<Vec<NewEvent>, CommandError> {
    let session = open_session(state, command.session_id)?;
    let actor = request.actor();
    if actor.role == Role::Therapist && session.therapist_id != actor.party_id {
        return Err(CommandError::forbidden(
            "session_therapist",
            "a therapist cancels only their own sessions",
        )
        .at("actor.party_id"));
    }
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        TargetEvent::SessionCancelled(command.clone()),
    )])
}

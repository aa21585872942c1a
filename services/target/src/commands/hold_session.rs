//! `hold_session`: the session's therapist records one practice, one barrier, one next step.

use carelog_commands::{CommandError, NewEvent, Request};
use carelog_schemas::target::{SessionHeld, TargetEvent};
use carelog_schemas::SessionId;

use super::TargetCommand;
use crate::state::{Session, TargetState};

pub(super) fn decide(
    state: &TargetState,
    request: &Request<TargetCommand>,
    command: &SessionHeld,
) -> Result<Vec<NewEvent>, CommandError> {
    let session = open_session(state, command.session_id)?;
    if session.therapist_id != request.actor().party_id {
        return Err(CommandError::forbidden(
            "session_therapist",
            "only the session's therapist records it as held",
        )
        .at("actor.party_id"));
    }
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        TargetEvent::SessionHeld(command.clone()),
    )])
}

/// The session, if it exists for this patient and was neither held nor cancelled.
pub(super) fn open_session(
    state: &TargetState,
    session_id: SessionId,
) -> Result<&Session, CommandError> {
    let session = state.sessions.get(&session_id).ok_or_else(|| {
        CommandError::not_found(
            "session_exists",
            format!("this patient has no session {session_id}"),
        )
        .at("data.session_id")
    })?;
    if session.held || session.cancelled {
        let why = if session.held { "held" } else { "cancelled" };
        return Err(CommandError::violated(
            "session_open",
            format!("session {session_id} was already {why}"),
        )
        .at("data.session_id"));
    }
    Ok(session)
}

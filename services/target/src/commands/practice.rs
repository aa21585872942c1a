//! `practice`: the patient practised an active target on a day.

use carelog_commands::{CommandError, NewEvent, Request};
use carelog_schemas::target::{TargetEvent, TargetPracticed};

use super::{active_target, TargetCommand};
use crate::state::TargetState;

pub(super) fn decide(
    state: &TargetState,
    request: &Request<TargetCommand>,
    command: &TargetPracticed,
) -> Result<Vec<NewEvent>, CommandError> {
    active_target(state, command.target_id)?;
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        TargetEvent::TargetPracticed(command.clone()),
    )])
}

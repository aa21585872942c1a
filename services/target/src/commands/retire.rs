//! `retire`: a target is no longer active (achieved, replaced or paused).

use carelog_commands::{CommandError, NewEvent, Request};
use carelog_schemas::target::{TargetEvent, TargetRetired};

use super::{active_target, TargetCommand};
use crate::state::TargetState;

pub(super) fn decide(
    state: &TargetState,
    request: &Request<TargetCommand>,
    command: &TargetRetired,
) -> Result<Vec<NewEvent>, CommandError> {
    active_target(state, command.target_id)?;
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        TargetEvent::TargetRetired(command.clone()),
    )])
}

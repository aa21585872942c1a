//! `set`: a target is chosen. At most one behaviour (behavioral activation, exposure or sleep)
//! and one thought exercise (cognitive) are active at a time (domain §4, "too many goals").

use carelog_commands::{CommandError, NewEvent, Request};
use carelog_schemas::target::{TargetEvent, TargetSet};
use carelog_schemas::values::TargetCategory;

use super::TargetCommand;
use crate::state::TargetState;

fn is_thought_exercise(category: TargetCategory) -> bool {
    category == TargetCategory::Cognitive
}

pub(super) fn decide(
    state: &TargetState,
    request: &Request<TargetCommand>,
    command: &TargetSet,
) -> Result<Vec<NewEvent>, CommandError> {
    if state.targets.contains_key(&command.target_id()) {
        return Err(CommandError::invalid(
            "id_unique",
            format!(
                "target {} already exists; choose a new target id",
                command.target_id()
            ),
        )
        .at("data.target_id"));
    }
    let thought = is_thought_exercise(command.category());
    if let Some(active) = state
        .active_targets()
        .find(|active| is_thought_exercise(active.category) == thought)
    {
        let kind = if thought {
            "one thought exercise (cognitive)"
        } else {
            "one behaviour (behavioral activation, exposure or sleep)"
        };
        return Err(CommandError::violated(
            "too_many_goals",
            format!(
                "too many goals: keep to {kind} at a time; the active {} target {} must be \
                 retired first",
                active.category, active.target_id
            ),
        )
        .at("data.category"));
    }
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        TargetEvent::TargetSet(command.clone()),
    )])
}

//! `notch_up`: one small notch harder, allowed only after the target's last three practices
//! (since it was set or last notched) were done and easy (domain §4).

use carelog_commands::{CommandError, NewEvent, Request};
use carelog_schemas::target::{TargetEvent, TargetNotchedUp};
use carelog_schemas::values::{Ease, PracticeOutcome};

use super::{active_target, TargetCommand};
use crate::state::TargetState;

/// How many done-and-easy practices in a row earn a notch.
const PRACTICES_FOR_A_NOTCH: usize = 3;

pub(super) fn decide(
    state: &TargetState,
    request: &Request<TargetCommand>,
    command: &TargetNotchedUp,
) -> Result<Vec<NewEvent>, CommandError> {
    let target = active_target(state, command.target_id)?;
    // The last practices by the day they were done (a late log lands in its place), ties in
    // log order.
    let mut practices = target.practices_since_notch.clone();
    practices.sort_by_key(|practice| practice.on);
    let last = &practices[practices.len().saturating_sub(PRACTICES_FOR_A_NOTCH)..];
    if last.len() < PRACTICES_FOR_A_NOTCH {
        return Err(CommandError::violated(
            "notch_after_three_easy",
            format!(
                "a notch needs the last {PRACTICES_FOR_A_NOTCH} practices done and easy; this \
                 target has {} practice(s) since it was set or last notched up",
                last.len()
            ),
        )
        .at("data.target_id"));
    }
    if let Some(practice) = last
        .iter()
        .find(|practice| practice.outcome != PracticeOutcome::Done || practice.ease != Ease::Easy)
    {
        return Err(CommandError::violated(
            "notch_after_three_easy",
            format!(
                "a notch needs the last {PRACTICES_FOR_A_NOTCH} practices done and easy; the \
                 practice on {} was {} and {}",
                practice.on, practice.outcome, practice.ease
            ),
        )
        .at("data.target_id"));
    }
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        TargetEvent::TargetNotchedUp(command.clone()),
    )])
}

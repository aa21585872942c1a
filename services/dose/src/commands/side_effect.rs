//! `record_side_effect`: a side effect seen during or after a dose.

use carelog_commands::state::DoseState;
use carelog_commands::{CommandError, NewEvent, Request};
use carelog_schemas::dose::{DoseEvent, SideEffectRecorded};

use super::{dose_of_clinic, require_not_cancelled, DoseCommand};

pub(super) fn decide(
    state: &DoseState,
    request: &Request<DoseCommand>,
    command: &SideEffectRecorded,
) -> Result<Vec<NewEvent>, CommandError> {
    let (dose, _) = dose_of_clinic(state, request.actor(), command.dose_id)?;
    require_not_cancelled(dose)?;
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        DoseEvent::SideEffectRecorded(command.clone()),
    )])
}

//! `cancel`: a scheduled dose will not be given.

use carelog_commands::state::DoseState;
use carelog_commands::{CommandError, NewEvent, Request};
use carelog_schemas::dose::{DoseCancelled, DoseEvent};

use super::{dose_of_clinic, require_not_cancelled, DoseCommand};

pub(super) fn decide(
    state: &DoseState,
    request: &Request<DoseCommand>,
    command: &DoseCancelled,
) -> Result<Vec<NewEvent>, CommandError> {
    let (dose, _) = dose_of_clinic(state, request.actor(), command.dose_id)?;
    require_not_cancelled(dose)?;
    if dose.administration.is_some() {
        return Err(CommandError::violated(
            "dose_open",
            format!(
                "dose {} was already administered; correct the entry instead of cancelling",
                dose.dose_id
            ),
        )
        .at("data.dose_id"));
    }
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        DoseEvent::DoseCancelled(command.clone()),
    )])
}

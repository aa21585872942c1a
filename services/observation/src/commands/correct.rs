//! `correct`: the party that recorded an observation marks it as amended or entered in error;
//! the entry stays in the log.

use carelog_commands::{check_correction, CommandError, Context, NewEvent, Request};
use carelog_schemas::observation::{EntryCorrected, ObservationEvent};

use super::ObservationCommand;

pub(super) fn decide(
    context: &Context<'_>,
    request: &Request<ObservationCommand>,
    command: &EntryCorrected,
) -> Result<Vec<NewEvent>, CommandError> {
    check_correction(context.own(), request.actor(), command)?;
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        ObservationEvent::EntryCorrected(command.clone()),
    )])
}

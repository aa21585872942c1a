//! `correct`: the clinic marks one of its own dose-family entries as amended or entered in
//! error; the entry stays in the log.

use carelog_commands::{check_correction, CommandError, Context, NewEvent, Request};
use carelog_schemas::dose::{DoseEvent, EntryCorrected};

use super::DoseCommand;

pub(super) fn decide(
    context: &Context<'_>,
    request: &Request<DoseCommand>,
    command: &EntryCorrected,
) -> Result<Vec<NewEvent>, CommandError> {
    check_correction(context.own(), request.actor(), command)?;
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        DoseEvent::EntryCorrected(command.clone()),
    )])
}

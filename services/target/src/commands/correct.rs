//! `correct`: the party that recorded a target-family entry marks it as amended or entered in
//! error; the entry stays in the log.

use carelog_commands::{check_correction, CommandError, Context, NewEvent, Request};
use carelog_schemas::target::{EntryCorrected, TargetEvent};

use super::TargetCommand;

pub(super) fn decide(
    context: &Context<'_>,
    request: &Request<TargetCommand>,
    command: &EntryCorrected,
) -> Result<Vec<NewEvent>, CommandError> {
    check_correction(context.own(), request.actor(), command)?;
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        TargetEvent::EntryCorrected(command.clone()),
    )])
}

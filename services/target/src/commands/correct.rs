//! `correct`: the party that recorded a target-family entry marks it as amended or entered in
//! error; the entry stays in the log. A retirement is not corrected: that would reopen the
//! target beside whatever took its slot without the "too many goals" rule being checked again;
//! the target is set again instead.

use carelog_commands::{check_correction, CommandError, Context, NewEvent, Request};
use carelog_schemas::target::{EntryCorrected, TargetEvent};
use carelog_schemas::EventPayload;

use super::TargetCommand;

pub(super) fn decide(
    context: &Context<'_>,
    request: &Request<TargetCommand>,
    command: &EntryCorrected,
) -> Result<Vec<NewEvent>, CommandError> {
    let corrected = check_correction(context.own(), request.actor(), command)?;
    if matches!(
        corrected,
        EventPayload::Target(TargetEvent::TargetRetired(_))
    ) {
        return Err(CommandError::violated(
            "correction_reopens",
            "a retired target cannot be reopened by a correction; set it again",
        )
        .at("data.corrects"));
    }
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        TargetEvent::EntryCorrected(command.clone()),
    )])
}

//! `correct`: the clinic marks one of its own dose-family entries as amended or entered in
//! error; the entry stays in the log. An ended course or a cancelled dose is not reopened by a
//! correction (the rules that guard starting and scheduling would not be checked again); the
//! clinic starts or schedules anew instead.

use carelog_commands::{check_correction, CommandError, Context, NewEvent, Request};
use carelog_schemas::dose::{DoseEvent, EntryCorrected};
use carelog_schemas::EventPayload;

use super::DoseCommand;

pub(super) fn decide(
    context: &Context<'_>,
    request: &Request<DoseCommand>,
    command: &EntryCorrected,
) -> Result<Vec<NewEvent>, CommandError> {
    let corrected = check_correction(context.own(), request.actor(), command)?;
    let reopened = match corrected {
        EventPayload::Dose(DoseEvent::CourseEnded(_)) => Some("an ended course"),
        EventPayload::Dose(DoseEvent::DoseCancelled(_)) => Some("a cancelled dose"),
        _ => None,
    };
    if let Some(what) = reopened {
        return Err(CommandError::violated(
            "correction_reopens",
            format!("{what} cannot be reopened by a correction; start or schedule it again"),
        )
        .at("data.corrects"));
    }
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        DoseEvent::EntryCorrected(command.clone()),
    )])
}

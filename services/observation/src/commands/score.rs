//! `score`: a questionnaire was scored; its shape (item count, item range, total = sum) is
//! checked by its type. PHQ-9 item 9 above 0 is flagged for the clinic: "contact the patient"
//! (domain §4).

use carelog_commands::{CommandError, NewEvent, Request};
use carelog_schemas::observation::{ObservationEvent, ScaleScored};
use carelog_schemas::values::{Flag, Flags, Instrument, ScaleScore};
use serde::Deserialize;

use super::ObservationCommand;

/// The score as sent: the event's fields without `flags`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Score {
    score: ScaleScore,
}

pub(super) fn decide(
    request: &Request<ObservationCommand>,
    command: &Score,
) -> Result<Vec<NewEvent>, CommandError> {
    let mut flags = Flags::none();
    if command.score.instrument() == Instrument::Phq9 && command.score.item(9).unwrap_or(0) > 0 {
        flags.insert(Flag::Phq9Item9Positive);
    }
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        ObservationEvent::ScaleScored(ScaleScored {
            score: command.score.clone(),
            flags,
        }),
    )])
}

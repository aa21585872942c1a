//! The `correct` command every writing family shares: mark one of the aggregate's earlier
//! events as amended or entered in error, never rewriting it (domain §3).

use carelog_eventlog::{AggregateHistory, StoredCommit};
use carelog_schemas::{Actor, EntryCorrected, EventId, EventPayload, EventRecord};

use crate::error::CommandError;
use crate::state::{corrected_event_ids, correction_of};

/// The event `event_id` of the aggregate, with the commit that holds it.
fn find_recorded(
    own: &AggregateHistory,
    event_id: EventId,
) -> Option<(&StoredCommit, &EventRecord)> {
    own.commits().iter().find_map(|stored| {
        stored
            .commit
            .events()
            .iter()
            .find(|record| record.event_id == event_id)
            .map(|record| (stored, record))
    })
}

/// The payload of the event a correction names, if the aggregate holds it: what decides the
/// consent scope a therapist needs to correct it.
pub fn corrected_payload<'a>(
    own: &'a AggregateHistory,
    correction: &EntryCorrected,
) -> Option<&'a EventPayload> {
    find_recorded(own, correction.corrects).map(|(_, record)| &record.payload)
}

/// Checks a correction against the aggregate: the event exists here, is not itself a
/// correction, was not corrected already, and was recorded by the same party. Returns the
/// corrected event's payload, for the service's own checks.
pub fn check_correction<'a>(
    own: &'a AggregateHistory,
    actor: Actor,
    correction: &EntryCorrected,
) -> Result<&'a EventPayload, CommandError> {
    let Some((stored, record)) = find_recorded(own, correction.corrects) else {
        return Err(CommandError::not_found(
            "event_exists",
            format!(
                "no {} event {} in this patient's record",
                own.key.family, correction.corrects
            ),
        )
        .at("data.corrects"));
    };
    if correction_of(&record.payload).is_some() {
        return Err(CommandError::invalid(
            "correction_target",
            "a correction cannot itself be corrected; correct the original entry",
        )
        .at("data.corrects"));
    }
    if corrected_event_ids(own).contains(&correction.corrects) {
        return Err(
            CommandError::violated("correct_once", "this entry was already corrected")
                .at("data.corrects"),
        );
    }
    if stored.commit.actor().party_id != actor.party_id || stored.commit.actor().role != actor.role
    {
        return Err(CommandError::forbidden(
            "corrector_is_recorder",
            "only the party that recorded an entry may correct it",
        )
        .at("actor.party_id"));
    }
    Ok(&record.payload)
}

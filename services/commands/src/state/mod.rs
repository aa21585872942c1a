//! What the services know about a patient, folded from the log: the consents and the dose
//! family are read by every service (to authorize, and for the rules that look across
//! families), so their folds live here; each service folds its own family itself.

mod consent;
mod dose;

pub use consent::{ConsentGrant, ConsentState};
pub use dose::{Administration, Course, Dose, DoseState, VitalsReading};

use std::collections::BTreeSet;

use carelog_eventlog::{AggregateHistory, StoredCommit};
use carelog_schemas::commit::EventRecord;
use carelog_schemas::{EventId, EventPayload};

/// The events of an aggregate that still stand, in log order, each with its commit: an event
/// named by a later `entry_corrected` (amended or entered in error) is left out, and so are the
/// corrections themselves. Amended data is recorded by later events, which are included.
pub fn live_events(
    history: &AggregateHistory,
) -> impl Iterator<Item = (&StoredCommit, &EventRecord)> + '_ {
    let corrected = corrected_event_ids(history);
    history
        .commits()
        .iter()
        .flat_map(|stored| {
            stored
                .commit
                .events()
                .iter()
                .map(move |record| (stored, record))
        })
        .filter(move |(_, record)| {
            !corrected.contains(&record.event_id) && correction_of(&record.payload).is_none()
        })
}

/// The state `apply` folds from the events of `history` that still stand ([`live_events`]),
/// for [`carelog_eventlog::Fold::from_history`].
pub fn fold_live_events<S: Default>(
    history: &AggregateHistory,
    mut apply: impl FnMut(&mut S, &EventPayload),
) -> S {
    let mut state = S::default();
    for (_, record) in live_events(history) {
        apply(&mut state, &record.payload);
    }
    state
}

/// Applies the events of `stored` to `state` with `apply`, for
/// [`carelog_eventlog::Fold::apply`]; `false` (nothing applied) when the commit holds a
/// correction, which takes an earlier event back: the state is then folded again from the whole
/// history ([`live_events`]). The events of a new commit cannot have been corrected before it
/// (a correction names an event already in the record), so applying them on top gives what
/// folding the whole history gives.
pub fn apply_commit<S>(
    state: &mut S,
    stored: &StoredCommit,
    mut apply: impl FnMut(&mut S, &EventPayload),
) -> bool {
    let events = stored.commit.events();
    if events
        .iter()
        .any(|record| correction_of(&record.payload).is_some())
    {
        return false;
    }
    for record in events {
        apply(state, &record.payload);
    }
    true
}

/// The ids of the events of an aggregate that a correction names.
pub fn corrected_event_ids(history: &AggregateHistory) -> BTreeSet<EventId> {
    history
        .commits()
        .iter()
        .flat_map(|stored| stored.commit.events())
        .filter_map(|record| correction_of(&record.payload))
        .collect()
}

/// The event an `entry_corrected` names, if the payload is one.
pub fn correction_of(payload: &EventPayload) -> Option<EventId> {
    use carelog_schemas::{ConsentEvent, DoseEvent, ObservationEvent, TargetEvent};
    match payload {
        EventPayload::Dose(DoseEvent::EntryCorrected(correction))
        | EventPayload::Consent(ConsentEvent::EntryCorrected(correction))
        | EventPayload::Target(TargetEvent::EntryCorrected(correction))
        | EventPayload::Observation(ObservationEvent::EntryCorrected(correction)) => {
            Some(correction.corrects)
        }
        _ => None,
    }
}

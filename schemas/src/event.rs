//! The event payloads of all families, the full envelope of a recorded event, and the JSON
//! form used by APIs and exports.

use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::commit::{Commit, EventRecord};
use crate::consent::ConsentEvent;
use crate::dose::DoseEvent;
use crate::family::Family;
use crate::ids::{CommandId, CommitId, CorrelationId, EventId, PatientId};
use crate::observation::ObservationEvent;
use crate::target::TargetEvent;
use crate::timestamp::Timestamp;

/// Any event of any family. The variant order is part of the wire format (append only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventPayload {
    Dose(DoseEvent),
    Consent(ConsentEvent),
    Target(TargetEvent),
    Observation(ObservationEvent),
}

/// A JSON event whose type or data does not fit the contract.
#[derive(Debug, thiserror::Error)]
pub enum JsonFormError {
    #[error("unknown event type {event_type:?} in the {family} family")]
    UnknownType { family: Family, event_type: String },
    #[error("event type {event_type:?} of the {family} family has schema version {found}; this build reads {expected}")]
    UnsupportedVersion {
        family: Family,
        event_type: String,
        found: u16,
        expected: u16,
    },
    #[error("invalid {event_type} data: {source}")]
    Data {
        event_type: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid event JSON: {0}")]
    Envelope(#[source] serde_json::Error),
}

impl EventPayload {
    pub fn family(&self) -> Family {
        match self {
            EventPayload::Dose(_) => Family::Dose,
            EventPayload::Consent(_) => Family::Consent,
            EventPayload::Target(_) => Family::Target,
            EventPayload::Observation(_) => Family::Observation,
        }
    }

    /// The event's type name, e.g. `dose_administered` (snake case, unique within a family).
    pub fn event_type(&self) -> &'static str {
        match self {
            EventPayload::Dose(event) => event.event_type(),
            EventPayload::Consent(event) => event.event_type(),
            EventPayload::Target(event) => event.event_type(),
            EventPayload::Observation(event) => event.event_type(),
        }
    }

    /// The schema version of this event type's current shape.
    pub fn schema_version(&self) -> u16 {
        match self {
            EventPayload::Dose(event) => event.schema_version(),
            EventPayload::Consent(event) => event.schema_version(),
            EventPayload::Target(event) => event.schema_version(),
            EventPayload::Observation(event) => event.schema_version(),
        }
    }

    /// The event's data as a JSON object, without its type tag.
    pub fn data_to_json(&self) -> serde_json::Value {
        let tagged = match self {
            EventPayload::Dose(event) => serde_json::to_value(event),
            EventPayload::Consent(event) => serde_json::to_value(event),
            EventPayload::Target(event) => serde_json::to_value(event),
            EventPayload::Observation(event) => serde_json::to_value(event),
        };
        // Every family enum is externally tagged with one data-carrying variant per type, so
        // the JSON is `{ "<type>": { ...data } }`; take the data out.
        match tagged {
            Ok(serde_json::Value::Object(map)) => map
                .into_iter()
                .next()
                .map(|(_, data)| data)
                .unwrap_or(serde_json::Value::Null),
            _ => serde_json::Value::Null,
        }
    }

    /// Appends the event's data to `out` as JSON text, without its type tag: the same object as
    /// `data_to_json`, but written straight from the typed event (no `Value` built), its keys
    /// in field order rather than sorted — for stores that normalize key order (PostgreSQL's
    /// `jsonb`).
    pub fn write_data_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let start = out.len();
        let written = match self {
            EventPayload::Dose(event) => serde_json::to_writer(&mut *out, event),
            EventPayload::Consent(event) => serde_json::to_writer(&mut *out, event),
            EventPayload::Target(event) => serde_json::to_writer(&mut *out, event),
            EventPayload::Observation(event) => serde_json::to_writer(&mut *out, event),
        };
        if let Err(error) = written {
            out.truncate(start);
            return Err(error);
        }
        // Externally tagged, one data-carrying variant per type: `{"<type>":<data>}`, and a
        // type name is plain snake case, so its tag ends at the first `":`.
        let tagged = &out[start..];
        let tag_end = tagged
            .starts_with(b"{\"")
            .then(|| tagged.windows(2).position(|pair| pair == b"\":"))
            .flatten();
        match tag_end {
            Some(tag_end) if tagged.ends_with(b"}") => {
                out.pop();
                out.drain(start..start + tag_end + 2);
            }
            _ => {
                out.truncate(start);
                serde_json::to_writer(&mut *out, &self.data_to_json())?;
            }
        }
        Ok(())
    }

    /// Reads an event from its family, type name, schema version and JSON data, checking every
    /// domain value on the way.
    pub fn from_json_parts(
        family: Family,
        event_type: &str,
        schema_version: u16,
        data: serde_json::Value,
    ) -> Result<EventPayload, JsonFormError> {
        let known = match family {
            Family::Dose => DoseEvent::schema_version_of(event_type),
            Family::Consent => ConsentEvent::schema_version_of(event_type),
            Family::Target => TargetEvent::schema_version_of(event_type),
            Family::Observation => ObservationEvent::schema_version_of(event_type),
        };
        let Some(expected) = known else {
            return Err(JsonFormError::UnknownType {
                family,
                event_type: event_type.to_owned(),
            });
        };
        if schema_version != expected {
            return Err(JsonFormError::UnsupportedVersion {
                family,
                event_type: event_type.to_owned(),
                found: schema_version,
                expected,
            });
        }
        let mut tagged = serde_json::Map::new();
        tagged.insert(event_type.to_owned(), data);
        let tagged = serde_json::Value::Object(tagged);
        let data_error = |source| JsonFormError::Data {
            event_type: event_type.to_owned(),
            source,
        };
        Ok(match family {
            Family::Dose => EventPayload::Dose(serde_json::from_value(tagged).map_err(data_error)?),
            Family::Consent => {
                EventPayload::Consent(serde_json::from_value(tagged).map_err(data_error)?)
            }
            Family::Target => {
                EventPayload::Target(serde_json::from_value(tagged).map_err(data_error)?)
            }
            Family::Observation => {
                EventPayload::Observation(serde_json::from_value(tagged).map_err(data_error)?)
            }
        })
    }
}

/// Everything the log knows about one event besides its data (domain §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub event_id: EventId,
    pub patient_id: PatientId,
    pub family: Family,
    /// The event type, e.g. `dose_administered`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub schema_version: u16,
    pub occurred_at: Timestamp,
    pub recorded_at: Timestamp,
    pub actor: Actor,
    pub correlation_id: CorrelationId,
    /// The idempotency key of the command that produced the event.
    pub command_id: CommandId,
    pub commit_id: CommitId,
    /// Log position (stream sequence) of the commit holding the event.
    pub position: u64,
    /// Log position of the previous commit of the same aggregate; 0 when it is the first.
    pub appended_after: u64,
}

/// An event as read from the log: its envelope and its data.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub envelope: Envelope,
    pub payload: EventPayload,
}

impl RecordedEvent {
    pub(crate) fn from_commit(commit: &Commit, record: &EventRecord, position: u64) -> Self {
        RecordedEvent {
            envelope: Envelope {
                event_id: record.event_id,
                patient_id: commit.patient_id(),
                family: commit.family(),
                event_type: record.payload.event_type().to_owned(),
                schema_version: record.payload.schema_version(),
                occurred_at: record.occurred_at,
                recorded_at: commit.recorded_at(),
                actor: commit.actor(),
                correlation_id: commit.correlation_id(),
                command_id: commit.command_id(),
                commit_id: commit.commit_id(),
                position,
                appended_after: commit.appended_after(),
            },
            payload: record.payload.clone(),
        }
    }

    /// The JSON form: the envelope's fields, and the event's own fields under `data`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut form = match serde_json::to_value(&self.envelope) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        form.insert("data".to_owned(), self.payload.data_to_json());
        serde_json::Value::Object(form)
    }

    /// Writes the JSON forms of `commit`'s events, stored at `position`, as a JSON array:
    /// byte for byte what printing each event's [`RecordedEvent::to_json`] in an array gives
    /// (the same keys in the same, sorted, order), without building those values. Command
    /// replies are written with it, once per command.
    pub fn write_json_array(
        commit: &Commit,
        position: u64,
        out: &mut Vec<u8>,
    ) -> serde_json::Result<()> {
        out.push(b'[');
        for (index, record) in commit.events().iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            write_event_json(commit, record, position, out)?;
        }
        out.push(b']');
        Ok(())
    }

    /// Reads the JSON form back, checking the envelope (no unknown or missing field) and every
    /// domain value.
    pub fn from_json(value: serde_json::Value) -> Result<RecordedEvent, JsonFormError> {
        let serde_json::Value::Object(mut form) = value else {
            return Err(JsonFormError::Envelope(serde::de::Error::custom(
                "an event must be a JSON object",
            )));
        };
        let data = form
            .remove("data")
            .ok_or_else(|| JsonFormError::Envelope(serde::de::Error::missing_field("data")))?;
        // Without `data`, the object is exactly the envelope, so `deny_unknown_fields` applies.
        let envelope: Envelope = serde_json::from_value(serde_json::Value::Object(form))
            .map_err(JsonFormError::Envelope)?;
        let payload = EventPayload::from_json_parts(
            envelope.family,
            &envelope.event_type,
            envelope.schema_version,
            data,
        )?;
        Ok(RecordedEvent { envelope, payload })
    }
}

/// One event's JSON form. The keys come in the order `to_json`'s map prints them (sorted), so
/// both forms are the same bytes; `data` is the event's own data as `data_to_json` gives it.
fn write_event_json(
    commit: &Commit,
    record: &EventRecord,
    position: u64,
    out: &mut Vec<u8>,
) -> serde_json::Result<()> {
    fn value(out: &mut Vec<u8>, key: &[u8], value: &impl Serialize) -> serde_json::Result<()> {
        out.extend_from_slice(key);
        serde_json::to_writer(&mut *out, value)
    }
    let actor = commit.actor();
    value(out, b"{\"actor\":{\"party_id\":", &actor.party_id)?;
    value(out, b",\"role\":", &actor.role)?;
    value(out, b"},\"appended_after\":", &commit.appended_after())?;
    value(out, b",\"command_id\":", &commit.command_id())?;
    value(out, b",\"commit_id\":", &commit.commit_id())?;
    value(out, b",\"correlation_id\":", &commit.correlation_id())?;
    value(out, b",\"data\":", &record.payload.data_to_json())?;
    value(out, b",\"event_id\":", &record.event_id)?;
    value(out, b",\"family\":", &commit.family())?;
    value(out, b",\"occurred_at\":", &record.occurred_at)?;
    value(out, b",\"patient_id\":", &commit.patient_id())?;
    value(out, b",\"position\":", &position)?;
    value(out, b",\"recorded_at\":", &commit.recorded_at())?;
    value(
        out,
        b",\"schema_version\":",
        &record.payload.schema_version(),
    )?;
    value(out, b",\"type\":", &record.payload.event_type())?;
    out.push(b'}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dose::DoseScheduled;
    use crate::{Role, Timestamp};

    fn example() -> serde_json::Value {
        let at = Timestamp::parse_rfc3339("2026-03-03T09:30:00Z").expect("fixed timestamp");
        RecordedEvent {
            envelope: Envelope {
                event_id: EventId::now_v7(),
                patient_id: PatientId::new_random(),
                family: Family::Dose,
                event_type: "dose_scheduled".to_owned(),
                schema_version: 1,
                occurred_at: at,
                recorded_at: at,
                actor: Actor {
                    role: Role::Clinic,
                    party_id: crate::PartyId::new_random(),
                },
                correlation_id: CorrelationId::new_random(),
                command_id: CommandId::new_random(),
                commit_id: CommitId::new_random(),
                position: 3,
                appended_after: 0,
            },
            payload: EventPayload::Dose(DoseEvent::DoseScheduled(DoseScheduled {
                dose_id: crate::DoseId::new_random(),
                course_id: crate::CourseId::new_random(),
                planned_at: at,
            })),
        }
        .to_json()
    }

    fn check(edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>), expected: &str) {
        let mut json = example();
        if let serde_json::Value::Object(map) = &mut json {
            edit(map);
        }
        let outcome = RecordedEvent::from_json(json)
            .map(|_| ())
            .map_err(|e| e.to_string());
        match outcome {
            Ok(()) => assert_eq!(expected, "ok"),
            Err(error) => assert!(error.contains(expected), "{error:?} lacks {expected:?}"),
        }
    }

    #[test]
    fn the_json_form_is_checked_field_by_field() {
        check(|_| {}, "ok");
        check(
            |map| {
                map.insert("bogus".to_owned(), serde_json::json!(1));
            },
            "unknown field `bogus`",
        );
        check(
            |map| {
                map.remove("data");
            },
            "missing field `data`",
        );
        check(
            |map| {
                map.remove("recorded_at");
            },
            "missing field `recorded_at`",
        );
        check(
            |map| {
                map.insert("type".to_owned(), serde_json::json!("dose_teleported"));
            },
            "unknown event type \"dose_teleported\"",
        );
        check(
            |map| {
                map.insert("schema_version".to_owned(), serde_json::json!(9));
            },
            "schema version 9",
        );
    }
}

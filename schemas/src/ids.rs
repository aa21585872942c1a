//! Identifiers: UUID newtypes that cannot be mixed up with one another.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An identifier that failed to parse or broke its rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} must be a UUID: {reason}")]
    NotAUuid { kind: &'static str, reason: String },
    #[error("{kind} must not be the nil UUID")]
    Nil { kind: &'static str },
    #[error("{kind} must be a UUIDv7 (time-ordered), got version {version}")]
    NotVersion7 { kind: &'static str, version: usize },
}

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "Uuid", into = "Uuid")]
        pub struct $name(Uuid);

        impl $name {
            /// What this identifier is called in error messages.
            pub const KIND: &'static str = $kind;

            /// A fresh random identifier.
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }

            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl TryFrom<Uuid> for $name {
            type Error = IdError;
            fn try_from(value: Uuid) -> Result<Self, IdError> {
                if value.is_nil() {
                    return Err(IdError::Nil { kind: $kind });
                }
                Ok(Self(value))
            }
        }

        impl From<$name> for Uuid {
            fn from(value: $name) -> Uuid {
                value.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(text: &str) -> Result<Self, IdError> {
                let uuid = Uuid::parse_str(text)
                    .map_err(|error| IdError::NotAUuid { kind: $kind, reason: error.to_string() })?;
                Self::try_from(uuid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Hyphenated lower case: the form used in NATS subjects and JSON.
                fmt::Display::fmt(&self.0.hyphenated(), formatter)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(formatter, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }
    };
}

uuid_id!(
    /// A patient: the aggregate key of every family.
    PatientId,
    "patient id"
);
uuid_id!(
    /// A person or organisation acting in the system: a clinic, a prescriber, a therapist, a
    /// patient's own party id, an auditor.
    PartyId,
    "party id"
);
uuid_id!(
    /// The caller-chosen idempotency key of a command.
    CommandId,
    "command id"
);
uuid_id!(
    /// Ties together the events caused by one request across services.
    CorrelationId,
    "correlation id"
);
uuid_id!(
    /// One commit in the log; also its `Nats-Msg-Id`.
    CommitId,
    "commit id"
);
uuid_id!(
    /// A treatment course.
    CourseId,
    "course id"
);
uuid_id!(
    /// A scheduled or administered dose.
    DoseId,
    "dose id"
);
uuid_id!(
    /// A consent grant.
    ConsentId,
    "consent id"
);
uuid_id!(
    /// A CBT target.
    TargetId,
    "target id"
);
uuid_id!(
    /// A therapy or skills session.
    SessionId,
    "session id"
);
uuid_id!(
    /// A patient, therapist or clinic observation.
    ObservationId,
    "observation id"
);

/// An event's identity: always a UUIDv7, so ids sort by creation time.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "Uuid", into = "Uuid")]
pub struct EventId(Uuid);

impl EventId {
    /// A fresh UUIDv7 from the current time.
    pub fn now_v7() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl TryFrom<Uuid> for EventId {
    type Error = IdError;
    fn try_from(value: Uuid) -> Result<Self, IdError> {
        let version = value.get_version_num();
        if version != 7 {
            return Err(IdError::NotVersion7 {
                kind: "event id",
                version,
            });
        }
        Ok(Self(value))
    }
}

impl From<EventId> for Uuid {
    fn from(value: EventId) -> Uuid {
        value.0
    }
}

impl FromStr for EventId {
    type Err = IdError;
    fn from_str(text: &str) -> Result<Self, IdError> {
        let uuid = Uuid::parse_str(text).map_err(|error| IdError::NotAUuid {
            kind: "event id",
            reason: error.to_string(),
        })?;
        Self::try_from(uuid)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), formatter)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "EventId({})", self.0.hyphenated())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nil_ids_are_rejected_when_decoded() {
        let nil = postcard::to_allocvec(&Uuid::nil()).expect("encode nil uuid");
        let error = postcard::from_bytes::<PatientId>(&nil).expect_err("nil must not decode");
        assert!(matches!(error, postcard::Error::SerdeDeCustom));
    }

    #[test]
    fn event_ids_must_be_version_7() {
        let v4 = Uuid::new_v4();
        assert_eq!(
            EventId::try_from(v4),
            Err(IdError::NotVersion7 {
                kind: "event id",
                version: 4
            })
        );
        assert!(EventId::try_from(Uuid::now_v7()).is_ok());
        let json = format!("\"{v4}\"");
        let error = serde_json::from_str::<EventId>(&json).expect_err("v4 is not an event id");
        assert!(error.to_string().contains("UUIDv7"), "{error}");
    }
}

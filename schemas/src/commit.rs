//! The unit of append: a commit of one or more events of one aggregate, sealed into the bytes
//! of one JetStream message with its hash and the hash of the commit before it.
//!
//! Wire layout of a message (postcard): `SealedCommit { format, body, hash }`, where `body` is
//! the postcard encoding of [`Commit`] in the layout named by `format`, and `hash` is the
//! SHA-256 of exactly those body bytes. The hash is taken over the stored bytes, never over a
//! re-encoding, so a later change of encoder cannot make an old commit look altered.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::actor::Actor;
use crate::event::{EventPayload, RecordedEvent};
use crate::family::Family;
use crate::ids::{CommandId, CommitId, CorrelationId, EventId, PatientId};
use crate::timestamp::Timestamp;

/// The layout of [`Commit`] written today. Older layouts stay decodable forever (see
/// ARCHITECTURE.md, "How a type evolves").
pub const COMMIT_FORMAT_V1: u16 = 1;

/// The most events one commit may hold: a command produces a handful, never thousands.
pub const MAX_EVENTS_PER_COMMIT: usize = 64;

/// Room for the body of a commit of a few events, so encoding rarely reallocates.
const TYPICAL_BODY_CAPACITY: usize = 512;
/// Bytes a frame adds around its body: format and length varints (at most 3 + 5) and the hash.
const FRAME_OVERHEAD: usize = 8 + 32;

/// SHA-256 of a commit's body bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CommitHash(pub [u8; 32]);

impl CommitHash {
    /// The "previous hash" of the first commit of a subject.
    pub const GENESIS: CommitHash = CommitHash([0; 32]);

    pub fn of_body(body: &[u8]) -> Self {
        Self(Sha256::digest(body).into())
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

impl fmt::Display for CommitHash {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.to_hex())
    }
}

impl fmt::Debug for CommitHash {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "CommitHash({})", self.to_hex())
    }
}

/// One event inside a commit: what happened, when, and its identity. The rest of its envelope
/// is shared by the whole commit (see [`Commit::recorded_events`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub event_id: EventId,
    /// When it happened, as the caller says; may be earlier than `recorded_at` (late events).
    pub occurred_at: Timestamp,
    pub payload: EventPayload,
}

/// What a writer hands to the log: the events of one command for one aggregate, before the
/// log has placed them. [`Commit::seal`] turns it into bytes once the position is known.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitDraft {
    pub commit_id: CommitId,
    pub command_id: CommandId,
    pub correlation_id: CorrelationId,
    pub patient_id: PatientId,
    pub family: Family,
    pub actor: Actor,
    pub events: Vec<EventRecord>,
}

/// A commit whose events break the one-aggregate rule or the size limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitShapeError {
    #[error("a commit must hold at least one event")]
    Empty,
    #[error("a commit holds at most {MAX_EVENTS_PER_COMMIT} events, this one {0}")]
    TooManyEvents(usize),
    #[error("event {event_id} is a {event_family} event, but the commit is for the {commit_family} family")]
    FamilyMismatch {
        event_id: EventId,
        event_family: Family,
        commit_family: Family,
    },
    #[error("event id {0} appears twice in one commit")]
    DuplicateEventId(EventId),
}

/// A commit as stored in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Commit {
    commit_id: CommitId,
    command_id: CommandId,
    correlation_id: CorrelationId,
    patient_id: PatientId,
    family: Family,
    actor: Actor,
    /// When the log accepted it (the writer's clock at append).
    recorded_at: Timestamp,
    /// Log position of the previous commit on this aggregate's subject; 0 for the first.
    appended_after: u64,
    previous_hash: CommitHash,
    events: Vec<EventRecord>,
}

/// Why the bytes of a message are not a valid commit. Each case names what broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the message is not a sealed commit frame: {0}")]
    Frame(String),
    #[error("commit format {0} is unknown to this build (newest known: {COMMIT_FORMAT_V1})")]
    UnknownFormat(u16),
    #[error("the commit body does not match its hash (stored {stored}, computed {computed})")]
    HashMismatch {
        stored: CommitHash,
        computed: CommitHash,
    },
    #[error("the commit body does not decode: {0}")]
    Body(String),
    #[error("{0} bytes follow the commit body")]
    TrailingBytes(usize),
    #[error("the commit is malformed: {0}")]
    Shape(#[from] CommitShapeError),
}

#[derive(Serialize, Deserialize)]
struct SealedCommit<'a> {
    format: u16,
    #[serde(borrow, with = "serde_bytes")]
    body: &'a [u8],
    hash: CommitHash,
}

impl CommitDraft {
    fn check_shape(&self) -> Result<(), CommitShapeError> {
        check_events(self.family, &self.events)
    }
}

fn check_events(family: Family, events: &[EventRecord]) -> Result<(), CommitShapeError> {
    if events.is_empty() {
        return Err(CommitShapeError::Empty);
    }
    if events.len() > MAX_EVENTS_PER_COMMIT {
        return Err(CommitShapeError::TooManyEvents(events.len()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for event in events {
        let event_family = event.payload.family();
        if event_family != family {
            return Err(CommitShapeError::FamilyMismatch {
                event_id: event.event_id,
                event_family,
                commit_family: family,
            });
        }
        if !seen.insert(event.event_id) {
            return Err(CommitShapeError::DuplicateEventId(event.event_id));
        }
    }
    Ok(())
}

/// A commit encoded for the log, with its own hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBytes {
    pub bytes: Vec<u8>,
    pub hash: CommitHash,
}

impl Commit {
    /// Places a draft after `appended_after` (whose hash is `previous_hash`) and encodes it.
    pub fn seal(
        draft: CommitDraft,
        recorded_at: Timestamp,
        appended_after: u64,
        previous_hash: CommitHash,
    ) -> Result<(Commit, SealedBytes), CommitShapeError> {
        draft.check_shape()?;
        let commit = Commit {
            commit_id: draft.commit_id,
            command_id: draft.command_id,
            correlation_id: draft.correlation_id,
            patient_id: draft.patient_id,
            family: draft.family,
            actor: draft.actor,
            recorded_at,
            appended_after,
            previous_hash,
            events: draft.events,
        };
        let sealed = commit.encode();
        Ok((commit, sealed))
    }

    /// Encodes this commit in the current format. Used by [`Commit::seal`] and by tests that
    /// need to forge bytes.
    pub fn encode(&self) -> SealedBytes {
        // Encoding plain data into a Vec cannot fail: every type here serializes infallibly.
        // Buffers are sized up front: appends are on the hot path, and growing a Vec from
        // empty would copy the body several times.
        let body = postcard::to_extend(self, Vec::with_capacity(TYPICAL_BODY_CAPACITY))
            .expect("encoding a commit into memory is infallible");
        let hash = CommitHash::of_body(&body);
        let frame = SealedCommit {
            format: COMMIT_FORMAT_V1,
            body: &body,
            hash,
        };
        let bytes = postcard::to_extend(&frame, Vec::with_capacity(body.len() + FRAME_OVERHEAD))
            .expect("encoding a frame into memory is infallible");
        SealedBytes { bytes, hash }
    }

    /// Decodes a message's bytes, checking the frame, the hash and the commit's shape.
    pub fn decode(bytes: &[u8]) -> Result<(Commit, CommitHash), DecodeError> {
        let (frame, rest) = postcard::take_from_bytes::<SealedCommit<'_>>(bytes)
            .map_err(|error| DecodeError::Frame(error.to_string()))?;
        if !rest.is_empty() {
            return Err(DecodeError::TrailingBytes(rest.len()));
        }
        let computed = CommitHash::of_body(frame.body);
        if computed != frame.hash {
            return Err(DecodeError::HashMismatch {
                stored: frame.hash,
                computed,
            });
        }
        let commit = match frame.format {
            COMMIT_FORMAT_V1 => {
                let (commit, rest) = postcard::take_from_bytes::<Commit>(frame.body)
                    .map_err(|error| DecodeError::Body(error.to_string()))?;
                if !rest.is_empty() {
                    return Err(DecodeError::TrailingBytes(rest.len()));
                }
                commit
            }
            unknown => return Err(DecodeError::UnknownFormat(unknown)),
        };
        check_events(commit.family, &commit.events)?;
        Ok((commit, frame.hash))
    }

    pub fn commit_id(&self) -> CommitId {
        self.commit_id
    }
    pub fn command_id(&self) -> CommandId {
        self.command_id
    }
    pub fn correlation_id(&self) -> CorrelationId {
        self.correlation_id
    }
    pub fn patient_id(&self) -> PatientId {
        self.patient_id
    }
    pub fn family(&self) -> Family {
        self.family
    }
    pub fn actor(&self) -> Actor {
        self.actor
    }
    pub fn recorded_at(&self) -> Timestamp {
        self.recorded_at
    }
    pub fn appended_after(&self) -> u64 {
        self.appended_after
    }
    pub fn previous_hash(&self) -> CommitHash {
        self.previous_hash
    }
    pub fn events(&self) -> &[EventRecord] {
        &self.events
    }

    /// The commit's events with their full envelopes, given the log position the commit was
    /// stored at.
    pub fn recorded_events(&self, position: u64) -> Vec<RecordedEvent> {
        self.events
            .iter()
            .map(|record| RecordedEvent::from_commit(self, record, position))
            .collect()
    }

    /// Rebuilds a commit field by field, without the checks of [`Commit::seal`]. Only for
    /// tests that forge log entries to prove verification catches them.
    #[doc(hidden)]
    pub fn forge_for_tests(
        mut self,
        appended_after: u64,
        previous_hash: CommitHash,
        events: Option<Vec<EventRecord>>,
    ) -> Commit {
        self.appended_after = appended_after;
        self.previous_hash = previous_hash;
        if let Some(events) = events {
            self.events = events;
        }
        self
    }
}

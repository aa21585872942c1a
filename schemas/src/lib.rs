//! The care log's event contract: every event of the four families (domain §3), the domain
//! values they carry, their postcard wire encoding inside a versioned, hashed commit frame, and
//! their JSON form. This crate depends on no other crate of the workspace.

#[macro_use]
mod macros;

pub mod actor;
pub mod commit;
pub mod consent;
pub mod correction;
pub mod dose;
pub mod event;
pub mod family;
pub mod ids;
pub mod observation;
pub mod target;
pub mod timestamp;
pub mod values;

pub use actor::{Actor, Role};
pub use commit::{
    Commit, CommitDraft, CommitHash, CommitShapeError, DecodeError, EventRecord, SealedBytes,
    COMMIT_FORMAT_V1, MAX_EVENTS_PER_COMMIT,
};
pub use consent::ConsentEvent;
pub use correction::{CorrectionKind, EntryCorrected};
pub use dose::DoseEvent;
pub use event::{Envelope, EventPayload, JsonFormError, RecordedEvent};
pub use family::Family;
pub use ids::*;
pub use observation::ObservationEvent;
pub use target::TargetEvent;
pub use timestamp::{Timestamp, TimestampError};
pub use values::ValueError;

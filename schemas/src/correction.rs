//! Corrections: how a family says that one of its earlier events was wrong without rewriting it
//! (domain §3: events are immutable; a mistake is corrected by a later event naming it).
//!
//! Every family carries its own `entry_corrected` event, because only the family that owns an
//! event may correct it, and a correction must travel in the same aggregate stream as the
//! event it corrects.

use serde::{Deserialize, Serialize};

use crate::ids::EventId;
use crate::values::FreeText;

name_enum! {
    /// What kind of mistake a correction records.
    pub enum CorrectionKind {
        /// The entry was wrong and is replaced: the right data is recorded by the events of
        /// the same commit that follow the correction (or by a later one).
        Amended => "amended",
        /// The entry should never have been recorded (wrong patient, duplicate, test data): it
        /// is void and nothing replaces it. FHIR's `entered-in-error`.
        EnteredInError => "entered_in_error",
    }
}

/// Marks an earlier event of the same family and patient as corrected. Readers keep showing
/// the original in the audit history, but projections treat it as amended or void.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryCorrected {
    /// The event being corrected; it must belong to the same family and patient (checked by
    /// the service that owns the family, which can see the stream).
    pub corrects: EventId,
    pub kind: CorrectionKind,
    pub reason: FreeText,
}

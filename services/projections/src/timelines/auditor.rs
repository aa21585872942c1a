//! The auditor's timeline: the full history, by role.

use uuid::Uuid;

use crate::entry::{Basis, AUDITOR_VIEWER};

/// The auditor's full history: every entry, by role. It mirrors the log up to the checkpoint
/// and is the source of every backfill.
pub(crate) fn auditor() -> Vec<(Uuid, Basis)> {
    vec![(AUDITOR_VIEWER, Basis::Role)]
}

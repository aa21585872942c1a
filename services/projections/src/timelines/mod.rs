//! The four role timelines (domain §5, §6), one file each. Every entry is stored once
//! (`entries`); the auditor reads all of them (by role), the patient those `patient.rs` lets
//! through (their own record), and each clinic and therapist the entries it has a row for in
//! `entry_readers`, which `clinic.rs` and `therapist.rs` decide as the entry is applied.

mod clinic;
mod patient;
mod therapist;

use uuid::Uuid;

use crate::consents::ActiveConsents;
use crate::courses::CourseContext;
use crate::entry::{Audience, Basis, Entry};

pub(crate) use patient::reaches_patient;

/// Every clinic and therapist who may read an entry, clinics first, each kind in id order:
/// the order the rows are written in.
pub(crate) fn readers(entry: &Entry, context: &EventContext) -> Vec<(Audience, Uuid, Basis)> {
    let kinds = [
        (Audience::Clinic, clinic::clinic(entry, context)),
        (Audience::Therapist, therapist::therapist(entry, context)),
    ];
    kinds
        .into_iter()
        .flat_map(|(audience, readers)| {
            readers
                .into_iter()
                .map(move |(viewer, basis)| (audience, viewer, basis))
        })
        .collect()
}

/// What the role projections need to know about the event behind an entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct EventContext {
    pub(crate) course: CourseContext,
    /// Clinics of the patient's open courses; filled only when a safety alert needs them.
    pub(crate) treating_clinics: Vec<Uuid>,
    /// For consent events: the grantee they name.
    pub(crate) grantee: Option<(Audience, Uuid)>,
    pub(crate) consents: ActiveConsents,
}

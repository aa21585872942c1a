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
    // One vector for both kinds: this runs for every entry, so no map per entry.
    let mut readers = Vec::new();
    clinic::clinic(
        entry,
        context,
        &mut KindReaders::new(&mut readers, Audience::Clinic),
    );
    therapist::therapist(
        entry,
        context,
        &mut KindReaders::new(&mut readers, Audience::Therapist),
    );
    readers
}

/// One kind's readers of an entry: one row per party, the basis given last wins.
pub(crate) struct KindReaders<'a> {
    readers: &'a mut Vec<(Audience, Uuid, Basis)>,
    audience: Audience,
    start: usize,
}

impl KindReaders<'_> {
    /// The readers of `audience`, appended to `readers` and put in id order when dropped.
    fn new(readers: &mut Vec<(Audience, Uuid, Basis)>, audience: Audience) -> KindReaders<'_> {
        let start = readers.len();
        KindReaders {
            readers,
            audience,
            start,
        }
    }

    pub(crate) fn insert(&mut self, viewer: Uuid, basis: Basis) {
        match self.readers[self.start..]
            .iter_mut()
            .find(|(_, known, _)| *known == viewer)
        {
            Some(reader) => reader.2 = basis,
            None => self.readers.push((self.audience, viewer, basis)),
        }
    }
}

impl Drop for KindReaders<'_> {
    fn drop(&mut self) {
        self.readers[self.start..].sort_unstable_by_key(|(_, viewer, _)| *viewer);
    }
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

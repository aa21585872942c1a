//! The four role timelines (domain §5, §6), one file each. Each decides, for one entry, which
//! readers of its kind get a row and on what basis; `readers` asks them in a fixed order.

mod auditor;
mod clinic;
mod patient;
mod therapist;

use uuid::Uuid;

use crate::consents::ActiveConsents;
use crate::courses::CourseContext;
use crate::entry::{Audience, Basis, Entry};

/// Every reader of an entry, auditor first, then the patient, clinics and therapists (each kind
/// in id order): the order the rows are written in.
pub(crate) fn readers(entry: &Entry, context: &EventContext) -> Vec<(Audience, Uuid, Basis)> {
    let kinds = [
        (Audience::Auditor, auditor::auditor()),
        (Audience::Patient, patient::patient(entry)),
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

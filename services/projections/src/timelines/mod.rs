//! The four role timelines (domain §5, §6), one file each. Each decides, for one entry, which
//! readers of its kind get a row and on what basis; `apply.rs` calls them in a fixed order.

mod auditor;
mod clinic;
mod patient;
mod therapist;

pub(crate) use auditor::auditor;
pub(crate) use clinic::clinic;
pub(crate) use patient::patient;
pub(crate) use therapist::therapist;

use uuid::Uuid;

use crate::consents::ActiveConsents;
use crate::courses::CourseContext;
use crate::entry::Audience;

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

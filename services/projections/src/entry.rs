//! One timeline entry before it is given to its readers, and who may read it and why.

use carelog_schemas::values::Scope;
use time::OffsetDateTime;
use uuid::Uuid;

/// The four kinds of reader (domain §5). Auditors read by role, so they share one viewer id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Audience {
    Patient,
    Clinic,
    Therapist,
    Auditor,
}

impl Audience {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Audience::Patient => "patient",
            Audience::Clinic => "clinic",
            Audience::Therapist => "therapist",
            Audience::Auditor => "auditor",
        }
    }
}

/// The viewer id of every auditor row.
pub(crate) const AUDITOR_VIEWER: Uuid = Uuid::nil();

/// Why a reader has a row. Only `Consent` and `Own` rows depend on a consent: revocation,
/// expiry and the read-time filter concern those two alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Basis {
    /// The patient's own record.
    SelfRecord,
    /// Auditors see everything by role.
    Role,
    /// The clinic of the course the entry belongs to.
    Course,
    /// An active consent of the patient covers the entry's scope.
    Consent,
    /// A therapist's own entry (recorded by it, or a session naming it); visible while the
    /// therapist holds any active consent of the patient.
    Own,
    /// A consent (grant or revocation) naming this reader as grantee.
    Grant,
    /// The treatment-safety exception: safety alerts reach the treating clinic.
    SafetyException,
}

impl Basis {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Basis::SelfRecord => "self",
            Basis::Role => "role",
            Basis::Course => "course",
            Basis::Consent => "consent",
            Basis::Own => "own",
            Basis::Grant => "grant",
            Basis::SafetyException => "safety_exception",
        }
    }
}

/// Who an entry can reach at all; the role projections decide which readers of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// A recorded event, or an item that reveals exactly what its event does (the integration
    /// window reveals the dose): patient, auditor, clinic of the course, consented grantees.
    Record,
    /// Patient and auditor only (safety reminders after a dose).
    PatientOnly,
    /// Clinic of the course and auditor (alerts from flags on dose-family events).
    ClinicAlert,
    /// Treating clinics and auditor, without the note text (domain §5 safety exception).
    SafetyAlert,
    /// Therapists whose active consent covers the entry's scope, and the auditor (window and
    /// notch suggestions, domain §5).
    TherapistSuggestion,
}

/// A timeline entry, the same for every reader who may see it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) patient_id: Uuid,
    pub(crate) position: i64,
    pub(crate) event_index: i32,
    /// `event` for the event itself, else the derived item's name.
    pub(crate) item: String,
    pub(crate) event_id: Uuid,
    pub(crate) family: &'static str,
    pub(crate) kind: String,
    pub(crate) scope: Option<Scope>,
    pub(crate) course_id: Option<Uuid>,
    pub(crate) actor_role: &'static str,
    pub(crate) actor_id: Uuid,
    pub(crate) related_party: Option<Uuid>,
    pub(crate) occurred_at: OffsetDateTime,
    pub(crate) recorded_at: OffsetDateTime,
    pub(crate) summary: String,
    pub(crate) detail: serde_json::Value,
    pub(crate) reach: Reach,
}

/// The item name of a recorded event's own entry.
pub(crate) const EVENT_ITEM: &str = "event";

/// The columns a backfill copies from the auditor's rows, in `timeline_entries` order after
/// `audience, viewer_id` and before `basis`/`correction` handling.
pub(crate) const COPIED_COLUMNS: &str = "patient_id, position, event_index, item, event_id, family,
    kind, scope, course_id, actor_role, actor_id, related_party, occurred_at, recorded_at,
    summary, detail, correction";

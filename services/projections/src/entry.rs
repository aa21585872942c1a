//! One timeline entry (stored once, in `entries`), and who may read it and why.

use std::borrow::Cow;

use carelog_schemas::values::Scope;
use time::OffsetDateTime;
use uuid::Uuid;

/// The readers with rows of their own in `entry_readers`: clinics and therapists, each party
/// reading only what its course, its consents or the safety exception give it. The patient and
/// the auditor read `entries` directly (see `timelines`), with the bases `self` and `role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Audience {
    Clinic,
    Therapist,
}

impl Audience {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Audience::Clinic => "clinic",
            Audience::Therapist => "therapist",
        }
    }
}

/// Why a clinic or therapist has a row. Only `Consent` and `Own` rows depend on a consent:
/// revocation, expiry and the read-time filter concern those two alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Basis {
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
    /// Clinic of the course and auditor (alerts from flags on dose-family events).
    ClinicAlert,
    /// Treating clinics and auditor, without the note text (domain §5 safety exception).
    SafetyAlert,
    /// Therapists whose active consent covers the entry's scope, and the auditor (window and
    /// notch suggestions, domain §5).
    TherapistSuggestion,
}

impl Reach {
    pub(crate) const ALL: [Reach; 4] = [
        Reach::Record,
        Reach::ClinicAlert,
        Reach::SafetyAlert,
        Reach::TherapistSuggestion,
    ];

    /// The name stored in `entries.reach`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reach::Record => "record",
            Reach::ClinicAlert => "clinic_alert",
            Reach::SafetyAlert => "safety_alert",
            Reach::TherapistSuggestion => "therapist_suggestion",
        }
    }
}

/// A timeline entry, the same for every reader who may see it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) patient_id: Uuid,
    pub(crate) position: i64,
    pub(crate) event_index: i32,
    /// `event` for the event itself, else the derived item's name.
    pub(crate) item: Cow<'static, str>,
    pub(crate) event_id: Uuid,
    pub(crate) family: &'static str,
    pub(crate) kind: Cow<'static, str>,
    pub(crate) scope: Option<Scope>,
    pub(crate) course_id: Option<Uuid>,
    /// The clinic reading the entry by its course right (basis `course`; see
    /// `timelines/clinic.rs`): it reads the entry itself, without a row in `entry_readers`.
    pub(crate) clinic_id: Option<Uuid>,
    pub(crate) actor_role: &'static str,
    pub(crate) actor_id: Uuid,
    pub(crate) related_party: Option<Uuid>,
    pub(crate) occurred_at: OffsetDateTime,
    pub(crate) recorded_at: OffsetDateTime,
    pub(crate) summary: String,
    /// JSON text, stored in `jsonb` as is (an event's data is written straight from the typed
    /// event: no `serde_json::Value` built per event).
    pub(crate) detail: Vec<u8>,
    pub(crate) reach: Reach,
}

impl Entry {
    /// A copy to build a derived item from: every field of this entry but its text and
    /// detail, which the item sets itself (an event's detail can be large; not copied).
    pub(crate) fn derived_base(&self) -> Entry {
        Entry {
            patient_id: self.patient_id,
            position: self.position,
            event_index: self.event_index,
            item: Cow::Borrowed(""),
            event_id: self.event_id,
            family: self.family,
            kind: Cow::Borrowed(""),
            scope: self.scope,
            course_id: self.course_id,
            clinic_id: self.clinic_id,
            actor_role: self.actor_role,
            actor_id: self.actor_id,
            related_party: self.related_party,
            occurred_at: self.occurred_at,
            recorded_at: self.recorded_at,
            summary: String::new(),
            detail: b"null".to_vec(),
            reach: self.reach,
        }
    }
}

/// A derived item's detail as JSON text.
pub(crate) fn json_text(value: &serde_json::Value) -> Vec<u8> {
    // A `Value` always serializes.
    serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec())
}

/// The item name of a recorded event's own entry.
pub(crate) const EVENT_ITEM: &str = "event";

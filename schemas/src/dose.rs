//! The dose family (clinic): courses, doses, pre-dose checks, vitals, side effects, discharge
//! (domain §2, §3). Rules that need the course or earlier events (Spravato amounts, pre-dose
//! vitals before a Spravato dose, discharge after 120 minutes) are the dose service's; these
//! types guarantee each event is well formed on its own.

use serde::{Deserialize, Serialize};

pub use crate::correction::EntryCorrected;
use crate::ids::{CourseId, DoseId, PartyId};
use crate::timestamp::Timestamp;
use crate::values::{
    BloodPressure, DeviceCount, Drug, FastingHours, Flags, FreeText, HeartRate, LotNumber,
    Milligrams, ObservedMinutes, Path, Route, Severity, SideEffectKind, SpO2, VitalsPhase,
    WeightKg,
};

event_family! {
    /// Events of the dose family. Variant order is the wire tag: append only.
    pub enum DoseEvent {
        CourseStarted => "course_started", version 1,
        DoseScheduled => "dose_scheduled", version 1,
        PreDoseCheckRecorded => "pre_dose_check_recorded", version 1,
        DoseAdministered => "dose_administered", version 1,
        VitalsRecorded => "vitals_recorded", version 1,
        SideEffectRecorded => "side_effect_recorded", version 1,
        PatientDischarged => "patient_discharged", version 1,
        DoseCancelled => "dose_cancelled", version 1,
        CourseEnded => "course_ended", version 1,
        EntryCorrected => "entry_corrected", version 1,
    }
}

impl From<DoseEvent> for crate::event::EventPayload {
    fn from(event: DoseEvent) -> Self {
        crate::event::EventPayload::Dose(event)
    }
}

/// A patient is enrolled with a clinic on a treatment path; doses belong to a course.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CourseStarted {
    pub course_id: CourseId,
    /// The clinic treating the patient in this course; it sees the course's dose family.
    pub clinic_id: PartyId,
    pub path: Path,
    pub prescriber_id: PartyId,
    /// Allows a 28 mg first Spravato dose (domain §2). Recorded at enrolment, not derived from
    /// a birth date, so the log holds no more PHI than the rule needs.
    pub age_65_or_older: bool,
}

/// A dose is planned in a course.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoseScheduled {
    pub dose_id: DoseId,
    pub course_id: CourseId,
    pub planned_at: Timestamp,
}

/// The checklist before dosing. Flags: `solid_food_fasted_under_2h`,
/// `benzodiazepine_last_24h`, `stimulant_last_24h`, `no_ride_home_arranged`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreDoseCheckRecorded {
    pub dose_id: DoseId,
    pub solid_food_fasted_hours: FastingHours,
    pub clear_liquids_fasted_hours: FastingHours,
    pub benzodiazepine_last_24h: bool,
    pub stimulant_last_24h: bool,
    pub ride_home_arranged: bool,
    pub flags: Flags,
}

/// A dose was given. Flags: `bp_above_140_90` (from the pre-dose vitals), `bp_crisis`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoseAdministered {
    pub dose_id: DoseId,
    pub drug: Drug,
    pub route: Route,
    pub amount_mg: Milligrams,
    /// The weight the amount was calculated from, for weight-based (mg/kg) dosing.
    pub weight_kg: Option<WeightKg>,
    /// 28 mg nasal devices used, for Spravato.
    pub devices: Option<DeviceCount>,
    pub lot: Option<LotNumber>,
    pub administered_at: Timestamp,
    pub flags: Flags,
}

/// Vital signs taken during a dosing visit, or outside one (`dose_id` absent). Blood pressure
/// is one value (`{"systolic": …, "diastolic": …}`) because its rules concern the pair.
/// Flags: `bp_above_140_90` (pre-dose), `bp_crisis`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VitalsRecorded {
    pub dose_id: Option<DoseId>,
    pub phase: VitalsPhase,
    pub blood_pressure: BloodPressure,
    pub heart_rate: HeartRate,
    pub spo2: Option<SpO2>,
    pub flags: Flags,
}

/// A side effect seen during or after a dose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SideEffectRecorded {
    pub dose_id: DoseId,
    pub effect: SideEffectKind,
    pub severity: Severity,
    /// What the effect was when it is `other`, or anything the clinician adds. Not in the
    /// domain's field list; optional so a bare record stays possible.
    pub note: Option<FreeText>,
}

/// The patient left after a dose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientDischarged {
    pub dose_id: DoseId,
    pub observed_minutes: ObservedMinutes,
    pub ride_home_confirmed: bool,
    pub clinically_stable: bool,
}

/// A scheduled dose will not be given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoseCancelled {
    pub dose_id: DoseId,
    pub reason: FreeText,
}

/// A course is over; no more doses belong to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CourseEnded {
    pub course_id: CourseId,
    pub reason: FreeText,
}

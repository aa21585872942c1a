//! `record_vitals`: blood pressure, heart rate and SpO2, flagged above 140/90 before a dose and
//! at or above 180/110 at any time (domain §4).

use carelog_commands::authorize::require_clinic_with_active_course;
use carelog_commands::state::DoseState;
use carelog_commands::{CommandError, NewEvent, Request};
use carelog_schemas::dose::{DoseEvent, VitalsRecorded};
use carelog_schemas::values::{BloodPressure, Flag, Flags, HeartRate, SpO2, VitalsPhase};
use carelog_schemas::DoseId;
use serde::Deserialize;

use super::{dose_of_clinic, require_not_cancelled, require_taken_before_dose, DoseCommand};

/// The vitals as the clinic sends them: the event's fields without `flags`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vitals {
    dose_id: Option<DoseId>,
    phase: VitalsPhase,
    blood_pressure: BloodPressure,
    heart_rate: HeartRate,
    spo2: Option<SpO2>,
}

/// Above 140/90: either number above its limit.
pub(crate) fn above_140_90(pressure: BloodPressure) -> bool {
    pressure.systolic() > 140 || pressure.diastolic() > 90
}

/// At or above 180/110: either number at or above its limit.
pub(crate) fn crisis(pressure: BloodPressure) -> bool {
    pressure.systolic() >= 180 || pressure.diastolic() >= 110
}

pub(super) fn decide(
    state: &DoseState,
    request: &Request<DoseCommand>,
    command: &Vitals,
) -> Result<Vec<NewEvent>, CommandError> {
    match command.dose_id {
        Some(dose_id) => {
            let (dose, _) = dose_of_clinic(state, request.actor(), dose_id)?;
            require_not_cancelled(dose)?;
            if command.phase == VitalsPhase::PreDose {
                let taken_at = request.occurred_at();
                require_taken_before_dose(dose, taken_at, "a pre-dose reading", "data.phase")?;
            }
        }
        None => {
            if command.phase != VitalsPhase::Other {
                return Err(CommandError::invalid(
                    "vitals_dose_for_phase",
                    format!(
                        "{} vitals belong to a dose: give its dose_id",
                        command.phase
                    ),
                )
                .at("data.dose_id"));
            }
            require_clinic_with_active_course(request.actor(), state)?;
        }
    }
    let mut flags = Flags::none();
    if command.phase == VitalsPhase::PreDose && above_140_90(command.blood_pressure) {
        flags.insert(Flag::BpAbove140Over90);
    }
    if crisis(command.blood_pressure) {
        flags.insert(Flag::BpCrisis);
    }
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        DoseEvent::VitalsRecorded(VitalsRecorded {
            dose_id: command.dose_id,
            phase: command.phase,
            blood_pressure: command.blood_pressure,
            heart_rate: command.heart_rate,
            spo2: command.spo2,
            flags,
        }),
    )])
}

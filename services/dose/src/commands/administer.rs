//! `administer`: a dose was given. Spravato: esketamine, intranasal, 56 or 84 mg (28 mg only as
//! the first dose for a patient 65 or older), devices = amount / 28, and pre-dose vitals first.
//! Off-label ketamine: ketamine by one of its routes, no nasal devices. Flags come from the
//! dose's vitals (domain §2, §4).

use carelog_commands::state::{Course, Dose, DoseState};
use carelog_commands::{CommandError, NewEvent, Request};
use carelog_schemas::dose::{DoseAdministered, DoseEvent};
use carelog_schemas::values::{
    DeviceCount, Drug, Flag, Flags, LotNumber, Milligrams, Path, Route, WeightKg,
};
use carelog_schemas::{DoseId, Timestamp};
use serde::Deserialize;

use super::vitals::{above_140_90, crisis};
use super::{dose_of_clinic, require_course_active, require_not_cancelled, DoseCommand};

/// The administration as the clinic sends it: the event's fields without `flags`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Administer {
    dose_id: DoseId,
    drug: Drug,
    route: Route,
    amount_mg: Milligrams,
    weight_kg: Option<WeightKg>,
    devices: Option<DeviceCount>,
    lot: Option<LotNumber>,
    administered_at: Timestamp,
}

/// Milligrams per Spravato nasal device.
const MG_PER_DEVICE: u32 = 28;

pub(super) fn decide(
    state: &DoseState,
    request: &Request<DoseCommand>,
    command: &Administer,
) -> Result<Vec<NewEvent>, CommandError> {
    let (dose, course) = dose_of_clinic(state, request.actor(), command.dose_id)?;
    require_not_cancelled(dose)?;
    require_course_active(course)?;
    if dose.administration.is_some() {
        return Err(CommandError::violated(
            "administer_once",
            format!("dose {} was already administered", dose.dose_id),
        )
        .at("data.dose_id"));
    }
    match course.path {
        Path::Spravato => check_spravato(state, course, dose, command)?,
        Path::Ketamine => check_ketamine(command)?,
    }
    let mut flags = Flags::none();
    if dose
        .latest_pre_dose_blood_pressure()
        .is_some_and(above_140_90)
    {
        flags.insert(Flag::BpAbove140Over90);
    }
    if dose
        .vitals
        .iter()
        .any(|reading| crisis(reading.blood_pressure))
    {
        flags.insert(Flag::BpCrisis);
    }
    Ok(vec![NewEvent::new(
        request.meta.occurred_at.unwrap_or(command.administered_at),
        DoseEvent::DoseAdministered(DoseAdministered {
            dose_id: command.dose_id,
            drug: command.drug,
            route: command.route,
            amount_mg: command.amount_mg,
            weight_kg: command.weight_kg,
            devices: command.devices,
            lot: command.lot.clone(),
            administered_at: command.administered_at,
            flags,
        }),
    )])
}

fn check_spravato(
    state: &DoseState,
    course: &Course,
    dose: &Dose,
    command: &Administer,
) -> Result<(), CommandError> {
    if command.drug != Drug::Esketamine {
        return Err(CommandError::invalid(
            "drug_matches_path",
            "a Spravato course gives esketamine",
        )
        .at("data.drug"));
    }
    if command.route != Route::Intranasal {
        return Err(
            CommandError::invalid("spravato_route", "Spravato is given intranasally")
                .at("data.route"),
        );
    }
    let first_dose = state.administered_in_course(course.course_id) == 0;
    let milligrams = command.amount_mg.whole_milligrams();
    let allowed = match milligrams {
        Some(56 | 84) => true,
        Some(28) => first_dose && course.age_65_or_older,
        _ => false,
    };
    if !allowed {
        let message = if milligrams == Some(28) {
            "a 28 mg Spravato dose is allowed only as the first dose for a patient 65 or older"
                .to_owned()
        } else {
            format!(
                "a Spravato dose is 56 or 84 mg (28 mg only as a first dose at 65 or older), \
                 not {}",
                command.amount_mg
            )
        };
        return Err(CommandError::invalid("spravato_amount", message).at("data.amount_mg"));
    }
    let expected_devices = milligrams.unwrap_or_default() / MG_PER_DEVICE;
    let devices = command.devices.map(|devices| u32::from(devices.get()));
    if devices != Some(expected_devices) {
        return Err(CommandError::invalid(
            "spravato_devices",
            format!(
                "{} of Spravato is {expected_devices} nasal devices of 28 mg; give devices: \
                 {expected_devices}",
                command.amount_mg
            ),
        )
        .at("data.devices"));
    }
    if dose.latest_pre_dose_blood_pressure().is_none() {
        return Err(CommandError::violated(
            "spravato_pre_dose_vitals",
            "a Spravato dose needs pre-dose vitals recorded for it first",
        )
        .at("data.dose_id"));
    }
    Ok(())
}

fn check_ketamine(command: &Administer) -> Result<(), CommandError> {
    if command.drug != Drug::Ketamine {
        return Err(CommandError::invalid(
            "drug_matches_path",
            "an off-label ketamine course gives ketamine",
        )
        .at("data.drug"));
    }
    if command.route == Route::Intranasal {
        return Err(CommandError::invalid(
            "ketamine_route",
            "off-label ketamine is given iv, im, subcutaneous, sublingual or oral",
        )
        .at("data.route"));
    }
    if command.devices.is_some() {
        return Err(CommandError::invalid(
            "devices_only_for_spravato",
            "nasal devices are counted only for Spravato doses",
        )
        .at("data.devices"));
    }
    Ok(())
}

//! `record_pre_dose_check`: the checklist before dosing, flagged where it shows a risk
//! (domain §4: solids under 2 h, a benzodiazepine or stimulant in 24 h, no ride home).

use carelog_commands::state::DoseState;
use carelog_commands::{CommandError, NewEvent, Request};
use carelog_schemas::dose::{DoseEvent, PreDoseCheckRecorded};
use carelog_schemas::values::{FastingHours, Flag, Flags};
use carelog_schemas::DoseId;
use serde::Deserialize;

use super::{dose_of_clinic, require_not_cancelled, require_taken_before_dose, DoseCommand};

/// The checklist as the clinic sends it: the event's fields without `flags`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreDoseCheck {
    dose_id: DoseId,
    solid_food_fasted_hours: FastingHours,
    clear_liquids_fasted_hours: FastingHours,
    benzodiazepine_last_24h: bool,
    stimulant_last_24h: bool,
    ride_home_arranged: bool,
}

/// Tenths of an hour: solids less than 2 h before dosing are flagged.
const SOLID_FOOD_MIN_TENTHS: u16 = 20;

pub(super) fn decide(
    state: &DoseState,
    request: &Request<DoseCommand>,
    command: &PreDoseCheck,
) -> Result<Vec<NewEvent>, CommandError> {
    let (dose, _) = dose_of_clinic(state, request.actor(), command.dose_id)?;
    require_not_cancelled(dose)?;
    let taken_at = request.occurred_at();
    require_taken_before_dose(dose, taken_at, "the pre-dose check", "data.dose_id")?;
    let mut flags = Flags::none();
    if command.solid_food_fasted_hours.units() < SOLID_FOOD_MIN_TENTHS {
        flags.insert(Flag::SolidFoodFastedUnder2h);
    }
    if command.benzodiazepine_last_24h {
        flags.insert(Flag::BenzodiazepineLast24h);
    }
    if command.stimulant_last_24h {
        flags.insert(Flag::StimulantLast24h);
    }
    if !command.ride_home_arranged {
        flags.insert(Flag::NoRideHomeArranged);
    }
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        DoseEvent::PreDoseCheckRecorded(PreDoseCheckRecorded {
            dose_id: command.dose_id,
            solid_food_fasted_hours: command.solid_food_fasted_hours,
            clear_liquids_fasted_hours: command.clear_liquids_fasted_hours,
            benzodiazepine_last_24h: command.benzodiazepine_last_24h,
            stimulant_last_24h: command.stimulant_last_24h,
            ride_home_arranged: command.ride_home_arranged,
            flags,
        }),
    )])
}

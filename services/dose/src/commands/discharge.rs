//! `discharge`: the patient leaves after a dose. Spravato needs at least 120 minutes of
//! observation, a confirmed ride home and a clinically stable patient (domain §2, §4).

use carelog_commands::state::DoseState;
use carelog_commands::{CommandError, NewEvent, Request};
use carelog_schemas::dose::{DoseEvent, PatientDischarged};
use carelog_schemas::values::Path;

use super::{dose_of_clinic, DoseCommand};

const MICROS_PER_MINUTE: i64 = 60 * 1_000_000;

/// The shortest observation after a Spravato dose.
const SPRAVATO_MIN_OBSERVED_MINUTES: u16 = 120;

pub(super) fn decide(
    state: &DoseState,
    request: &Request<DoseCommand>,
    command: &PatientDischarged,
) -> Result<Vec<NewEvent>, CommandError> {
    let (dose, course) = dose_of_clinic(state, request.actor(), command.dose_id)?;
    let Some(given) = dose.administration else {
        return Err(CommandError::violated(
            "discharge_after_administration",
            format!(
                "dose {} has not been administered; discharge follows a dose",
                dose.dose_id
            ),
        )
        .at("data.dose_id"));
    };
    if dose.discharged {
        return Err(CommandError::violated(
            "discharge_once",
            format!(
                "the patient was already discharged after dose {}",
                dose.dose_id
            ),
        )
        .at("data.dose_id"));
    }
    // The observation claimed must fit between the dose and the discharge (its `occurred_at`,
    // by default the time the command was received), give or take the minute charts are
    // kept to (a dose at 09:45:30, a discharge charted at 11:45 after 120 minutes).
    let discharged_at = request.occurred_at();
    let since_dose = discharged_at.unix_micros() - given.administered_at.unix_micros();
    if i64::from(command.observed_minutes.minutes()) * MICROS_PER_MINUTE
        > since_dose + MICROS_PER_MINUTE
    {
        return Err(CommandError::violated(
            "observed_since_dose",
            format!(
                "{} minutes of observation do not fit between the dose at {} and the discharge \
                 at {discharged_at}; give the discharge's occurred_at",
                command.observed_minutes.minutes(),
                given.administered_at,
            ),
        )
        .at("data.observed_minutes"));
    }
    if course.path == Path::Spravato {
        let mut missing = Vec::new();
        let mut field = None;
        if command.observed_minutes.minutes() < SPRAVATO_MIN_OBSERVED_MINUTES {
            missing.push(format!(
                "observation of at least {SPRAVATO_MIN_OBSERVED_MINUTES} minutes (was {})",
                command.observed_minutes.minutes()
            ));
            field.get_or_insert("data.observed_minutes");
        }
        if !command.ride_home_confirmed {
            missing.push("a confirmed ride home".to_owned());
            field.get_or_insert("data.ride_home_confirmed");
        }
        if !command.clinically_stable {
            missing.push("a clinically stable patient".to_owned());
            field.get_or_insert("data.clinically_stable");
        }
        if let Some(field) = field {
            return Err(CommandError::violated(
                "spravato_discharge",
                format!("Spravato discharge needs {}", missing.join(", ")),
            )
            .at(field));
        }
    }
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        DoseEvent::PatientDischarged(command.clone()),
    )])
}

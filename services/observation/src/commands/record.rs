//! `record`: something observed about the patient. A red-flag symptom (persistent vomiting,
//! severe headache, chest pain, feeling worse) within 72 h after a dose is flagged for the
//! clinic: "contact the patient" (domain §4).

use std::sync::Arc;

use carelog_commands::state::DoseState;
use carelog_commands::{CommandError, Context, NewEvent, Request};
use carelog_schemas::observation::{ObservationEvent, ObservationRecorded};
use carelog_schemas::values::{Flag, Flags, ObservationValue, Symptom, RED_FLAG_WINDOW_HOURS};
use carelog_schemas::ObservationId;
use serde::Deserialize;
use tokio::sync::OnceCell;

use super::{observation_exists, ObservationCommand};

/// The observation as sent: the event's fields without `flags`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    observation_id: ObservationId,
    value: ObservationValue,
}

/// The red-flag window in microseconds.
const RED_FLAG_WINDOW_MICROS: i64 = RED_FLAG_WINDOW_HOURS * 3600 * 1_000_000;

fn is_red_flag(symptom: Symptom) -> bool {
    matches!(
        symptom,
        Symptom::PersistentVomiting
            | Symptom::SevereHeadache
            | Symptom::ChestPain
            | Symptom::FeelingWorse
    )
}

/// `doses` is the patient's dose family if it was read already; it is read here only for a
/// red-flag symptom.
pub(super) async fn decide(
    context: &Context<'_>,
    doses: &OnceCell<Arc<DoseState>>,
    request: &Request<ObservationCommand>,
    command: &Record,
) -> Result<Vec<NewEvent>, CommandError> {
    if observation_exists(context, command.observation_id) {
        return Err(CommandError::invalid(
            "id_unique",
            format!(
                "observation {} already exists; choose a new observation id",
                command.observation_id
            ),
        )
        .at("data.observation_id"));
    }
    let occurred_at = request.occurred_at();
    let mut flags = Flags::none();
    if let ObservationValue::Symptom(report) = &command.value {
        if is_red_flag(report.symptom) {
            let doses = doses.get_or_try_init(|| context.doses()).await?;
            let after_a_dose = doses
                .last_administration_before(occurred_at)
                .is_some_and(|given| {
                    occurred_at.unix_micros() - given.administered_at.unix_micros()
                        <= RED_FLAG_WINDOW_MICROS
                });
            if after_a_dose {
                flags.insert(Flag::RedFlagSymptomWithin72h);
            }
        }
    }
    Ok(vec![NewEvent::new(
        occurred_at,
        ObservationEvent::ObservationRecorded(ObservationRecorded {
            observation_id: command.observation_id,
            value: command.value.clone(),
            flags,
        }),
    )])
}

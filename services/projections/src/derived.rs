//! The items projections derive beside the recorded events (domain §6): the integration window
//! after each administered dose, the patient's safety reminder after a dose, and the alerts
//! raised by flags on events (§4), each naming the event that raised it.

use carelog_schemas::dose::DoseEvent;
use carelog_schemas::observation::ObservationEvent;
use carelog_schemas::values::{Flag, Flags, ObservationValue, Scope};
use carelog_schemas::{EventPayload, RecordedEvent};
use serde_json::json;
use time::Duration;

use crate::entry::{Entry, Reach};

/// The integration window opens this long after a dose …
pub(crate) const WINDOW_OPENS_AFTER: Duration = Duration::hours(24);
/// … and closes this long after it.
pub(crate) const WINDOW_CLOSES_AFTER: Duration = Duration::hours(72);

/// The item name of a dose's integration window.
pub(crate) const INTEGRATION_WINDOW: &str = "integration_window";

const SAFETY_REMINDER: &str = "After your dose: no driving or machinery until after a full \
night's sleep; keep the rest of the day light; call the clinic for persistent vomiting, severe \
headache or chest pain.";

/// The derived items of one event, built from its own entry (same position, patient, actor).
pub(crate) fn derived_items(event: &RecordedEvent, event_entry: &Entry) -> Vec<Entry> {
    let mut items = Vec::new();
    let item = |name: String, reach: Reach| Entry {
        item: name.clone(),
        kind: name,
        reach,
        scope: None,
        ..event_entry.derived_base()
    };
    if let EventPayload::Dose(DoseEvent::DoseAdministered(dose)) = &event.payload {
        let given_at = dose.administered_at.to_datetime();
        let opens_at = given_at + WINDOW_OPENS_AFTER;
        let closes_at = given_at + WINDOW_CLOSES_AFTER;
        items.push(Entry {
            scope: Some(Scope::Doses),
            occurred_at: opens_at,
            summary: format!(
                "Integration window: {} to {}",
                rfc3339(opens_at),
                rfc3339(closes_at)
            ),
            detail: json!({
                "dose_id": dose.dose_id,
                "administered_at": dose.administered_at,
                "opens_at": rfc3339(opens_at),
                "closes_at": rfc3339(closes_at),
            }),
            ..item(INTEGRATION_WINDOW.to_owned(), Reach::Record)
        });
        items.push(Entry {
            occurred_at: given_at,
            summary: SAFETY_REMINDER.to_owned(),
            detail: json!({ "dose_id": dose.dose_id, "administered_at": dose.administered_at }),
            ..item("safety_reminder".to_owned(), Reach::PatientOnly)
        });
    }
    for flag in flags_of(&event.payload).iter() {
        let raised_by = json!({ "flag": flag, "raised_by": event.envelope.event_id });
        match flag {
            Flag::Phq9Item9Positive | Flag::RedFlagSymptomWithin72h => {
                // The safety exception: the clinic learns what to act on, never the note text.
                let (summary, detail) = safety_alert(flag, &event.payload, raised_by);
                items.push(Entry {
                    summary,
                    detail,
                    ..item(format!("safety_alert:{flag}"), Reach::SafetyAlert)
                });
            }
            _ => items.push(Entry {
                summary: format!("Alert: {flag} ({})", event_entry.kind),
                detail: raised_by,
                ..item(format!("alert:{flag}"), Reach::ClinicAlert)
            }),
        }
    }
    items
}

fn safety_alert(
    flag: Flag,
    payload: &EventPayload,
    mut detail: serde_json::Value,
) -> (String, serde_json::Value) {
    let summary = match payload {
        EventPayload::Observation(ObservationEvent::ObservationRecorded(observation)) => {
            match &observation.value {
                ObservationValue::Symptom(report) => {
                    detail["symptom"] = json!(report.symptom);
                    format!(
                        "Contact the patient: {} within 72 h of a dose",
                        report.symptom
                    )
                }
                other => format!("Contact the patient: {flag} ({})", other.kind()),
            }
        }
        EventPayload::Observation(ObservationEvent::ScaleScored(scored)) => {
            detail["instrument"] = json!(scored.score.instrument());
            format!(
                "Contact the patient: {} item 9 above 0",
                scored.score.instrument()
            )
        }
        _ => format!("Contact the patient: {flag}"),
    };
    (summary, detail)
}

fn flags_of(payload: &EventPayload) -> Flags {
    match payload {
        EventPayload::Dose(DoseEvent::PreDoseCheckRecorded(check)) => check.flags.clone(),
        EventPayload::Dose(DoseEvent::DoseAdministered(dose)) => dose.flags.clone(),
        EventPayload::Dose(DoseEvent::VitalsRecorded(vitals)) => vitals.flags.clone(),
        EventPayload::Observation(ObservationEvent::ObservationRecorded(observation)) => {
            observation.flags.clone()
        }
        EventPayload::Observation(ObservationEvent::ScaleScored(scored)) => scored.flags.clone(),
        _ => Flags::none(),
    }
}

pub(crate) fn rfc3339(instant: time::OffsetDateTime) -> String {
    instant
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| instant.to_string())
}

//! The items projections derive beside the recorded events (domain §6): stored as the log is
//! applied, the alerts raised by flags on events (§4), each naming the event that raised it;
//! made when a timeline is read (`read_time_items`), an administered dose's integration window,
//! the patient's safety reminder after it and "window open, no session scheduled".

use carelog_schemas::dose::DoseEvent;
use carelog_schemas::observation::ObservationEvent;
use carelog_schemas::values::{Flag, Flags, ObservationValue, Scope};
use carelog_schemas::{EventPayload, RecordedEvent};
use serde_json::json;
use time::Duration;

use crate::entry::{json_text, Entry, Reach};
use crate::read::TimelineEntry;

/// The integration window opens this long after a dose …
pub(crate) const WINDOW_OPENS_AFTER: Duration = Duration::hours(24);
/// … and closes this long after it.
pub(crate) const WINDOW_CLOSES_AFTER: Duration = Duration::hours(72);

/// The item name of a dose's integration window …
pub(crate) const INTEGRATION_WINDOW: &str = "integration_window";
/// … of the patient's safety reminder after it …
pub(crate) const SAFETY_REMINDER_ITEM: &str = "safety_reminder";
/// … and of "window open, no session scheduled" on a therapist's caseload.
pub(crate) const WINDOW_NO_SESSION: &str = "suggestion:window_no_session";

const SAFETY_REMINDER: &str = "After your dose: no driving or machinery until after a full \
night's sleep; keep the rest of the day light; call the clinic for persistent vomiting, severe \
headache or chest pain.";

/// The alerts an event raises, built from its own entry (same position, patient, actor). The
/// integration window, the safety reminder and the window suggestion are not stored: they are
/// functions of the dose's entry (and the sessions), made when a timeline is read
/// (`read_time_items`).
pub(crate) fn derived_items(event: &RecordedEvent, event_entry: &Entry) -> Vec<Entry> {
    let mut items = Vec::new();
    let item = |name: String, reach: Reach| Entry {
        item: name.clone().into(),
        kind: name.into(),
        reach,
        scope: None,
        ..event_entry.derived_base()
    };
    for flag in flags_of(&event.payload).iter() {
        let raised_by = json!({ "flag": flag, "raised_by": event.envelope.event_id });
        match flag {
            Flag::Phq9Item9Positive | Flag::RedFlagSymptomWithin72h => {
                // The safety exception: the clinic learns what to act on, never the note text.
                let (summary, detail) = safety_alert(flag, &event.payload, raised_by);
                items.push(Entry {
                    summary,
                    detail: json_text(&detail),
                    ..item(format!("safety_alert:{flag}"), Reach::SafetyAlert)
                });
            }
            _ => items.push(Entry {
                summary: format!("Alert: {flag} ({})", event_entry.kind),
                detail: json_text(&raised_by),
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

pub(crate) fn flags_of(payload: &EventPayload) -> Flags {
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

/// The items `read_time_items` makes (stored by releases before migration 0005).
pub(crate) const READ_TIME_ITEMS: [&str; 3] =
    [INTEGRATION_WINDOW, SAFETY_REMINDER_ITEM, WINDOW_NO_SESSION];

/// Who reads a dose's items made at read time, besides every reader of the dose itself (who
/// reads its integration window: it reveals exactly what the dose does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DoseItemReaders {
    /// The patient and the auditor: the safety reminder.
    pub(crate) safety_reminder: bool,
    /// Therapists (whose consent covers doses, as they read the dose) and the auditor.
    pub(crate) window_suggestion: bool,
}

/// The items a timeline shows beside an administered dose's entry, as its reader may see them
/// (domain §6): its integration window (+24 h to +72 h, at the window's opening), the patient's
/// safety reminder (at the dose), and "window open, no session scheduled" when no live session
/// (scheduled, not cancelled, not entered in error) falls in the window (`window_has_session`).
/// Each carries the dose's position, timestamps, basis and correction: a corrected dose's items
/// are shown corrected, as the dose is. None when `dose` is not a dose's entry.
pub(crate) fn read_time_items(
    dose: &TimelineEntry,
    readers: DoseItemReaders,
    window_has_session: bool,
) -> Vec<TimelineEntry> {
    if dose.item != crate::entry::EVENT_ITEM || dose.kind != "dose_administered" {
        return Vec::new();
    }
    let (Some(given_at), Some(dose_id)) = (
        dose.detail_instant("administered_at"),
        dose.detail.get("dose_id").cloned(),
    ) else {
        return Vec::new();
    };
    let administered_at = dose.detail["administered_at"].clone();
    let (opens_at, closes_at) = (
        given_at + WINDOW_OPENS_AFTER,
        given_at + WINDOW_CLOSES_AFTER,
    );
    let item = |name: &str, scope: Option<Scope>, occurred_at, summary, detail| TimelineEntry {
        item: name.to_owned(),
        kind: name.to_owned(),
        scope: scope.map(|scope| scope.as_str().to_owned()),
        occurred_at,
        summary,
        detail,
        ..dose.clone()
    };
    let mut items = vec![item(
        INTEGRATION_WINDOW,
        Some(Scope::Doses),
        opens_at,
        format!(
            "Integration window: {} to {}",
            rfc3339(opens_at),
            rfc3339(closes_at)
        ),
        json!({
            "dose_id": dose_id,
            "administered_at": administered_at,
            "opens_at": rfc3339(opens_at),
            "closes_at": rfc3339(closes_at),
        }),
    )];
    if readers.safety_reminder {
        items.push(item(
            SAFETY_REMINDER_ITEM,
            None,
            given_at,
            SAFETY_REMINDER.to_owned(),
            json!({ "dose_id": dose_id, "administered_at": administered_at }),
        ));
    }
    if readers.window_suggestion && !window_has_session {
        items.push(item(
            WINDOW_NO_SESSION,
            Some(Scope::Doses),
            opens_at,
            format!(
                "Integration window open until {}, no session scheduled",
                rfc3339(closes_at)
            ),
            json!({
                "dose_id": dose_id,
                "opens_at": rfc3339(opens_at),
                "closes_at": rfc3339(closes_at),
            }),
        ));
    }
    items
}

pub(crate) fn rfc3339(instant: time::OffsetDateTime) -> String {
    instant
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| instant.to_string())
}

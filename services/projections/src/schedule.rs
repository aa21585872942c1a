//! Next-dose-due hints from the course's path (domain §6), derived as the log is applied, and
//! the missed-dose hint, decided when a timeline is read (like consent expiry), so that it
//! shows up once a due date passes without waiting for an event and a rebuild still equals the
//! live projection.
//!
//! The schedules (each hint carries `after`, `due_from`, `due_by`; a dose of the course
//! administered after `after` and by `due_by` keeps the hint from turning into a missed dose):
//! - **Spravato**, on each administered dose, counting weeks from the course's first
//!   administered dose: weeks 1–4 twice a week, next dose from +2 days, due by +5 days (the
//!   longest gap of a Tuesday/Thursday rhythm); weeks 5–8 weekly, from +6 days, due by +8 days;
//!   from week 9 every one to two weeks, from +7 days, due by +14 days.
//! - **Ketamine**: the clinic sets the cadence, so each dose it schedules is the next dose due,
//!   from its planned time, due by one day after it; a dose given within a day either side of
//!   the plan counts. A cancelled dose, or a course ended before the due date, is never missed.

use carelog_schemas::dose::DoseEvent;
use carelog_schemas::values::Scope;
use carelog_schemas::{EventPayload, RecordedEvent};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::derived::rfc3339;
use crate::entry::{json_text, Entry, Reach};
use crate::state::BatchState;

/// The item name of the next-dose-due hint, and of the missed-dose hint read from it.
pub(crate) const NEXT_DOSE_DUE: &str = "next_dose_due";
pub(crate) const MISSED_DOSE: &str = "missed_dose";

/// The Spravato hint after a dose given in `week` (1-based) of the course: (from, due by).
pub(crate) fn spravato_interval(week: i64) -> (Duration, Duration) {
    match week {
        ..=4 => (Duration::days(2), Duration::days(5)),
        5..=8 => (Duration::days(6), Duration::days(8)),
        _ => (Duration::days(7), Duration::days(14)),
    }
}

/// How far from a ketamine dose's planned time it still counts, either side.
const KETAMINE_TOLERANCE: Duration = Duration::days(1);

/// The next-dose-due hint an event raises, if any. Runs after the course registry took the
/// event, so the course's first dose is known even when this is it.
pub(crate) fn next_dose_due(
    state: &BatchState,
    event: &RecordedEvent,
    event_entry: &Entry,
) -> Option<Entry> {
    let course_id = event_entry.course_id?;
    let course = crate::courses::course(state, event_entry.patient_id, course_id);
    let path = course.map(|course| course.path.as_str());
    let (dose_id, after, due_from, due_by, summary) = match (&event.payload, path) {
        (EventPayload::Dose(DoseEvent::DoseAdministered(dose)), Some("spravato")) => {
            let given_at = dose.administered_at.to_datetime();
            let first = course.and_then(|course| course.first_administered_at);
            let week = (given_at - first.unwrap_or(given_at)).whole_weeks() + 1;
            let (from, by) = spravato_interval(week);
            (
                dose.dose_id,
                given_at,
                given_at + from,
                given_at + by,
                format!(
                    "Next dose due by {} (course week {week})",
                    day(given_at + by)
                ),
            )
        }
        (EventPayload::Dose(DoseEvent::DoseScheduled(scheduled)), Some("ketamine")) => {
            let planned_at = scheduled.planned_at.to_datetime();
            (
                scheduled.dose_id,
                planned_at - KETAMINE_TOLERANCE,
                planned_at,
                planned_at + KETAMINE_TOLERANCE,
                format!(
                    "Next dose due {} (as the clinic scheduled)",
                    day(planned_at)
                ),
            )
        }
        _ => return None,
    };
    Some(Entry {
        item: NEXT_DOSE_DUE.into(),
        kind: NEXT_DOSE_DUE.into(),
        scope: Some(Scope::Doses),
        reach: Reach::Record,
        occurred_at: due_from,
        summary,
        detail: json_text(&json!({
            "dose_id": dose_id,
            "course_id": course_id,
            "after": rfc3339(after),
            "due_from": rfc3339(due_from),
            "due_by": rfc3339(due_by),
        })),
        ..event_entry.derived_base()
    })
}

fn day(instant: OffsetDateTime) -> String {
    instant.date().to_string()
}

/// The SQL condition "next-dose-due row `n` (an alias) is a missed dose at `$now_param`": its due date
/// passed, no dose of the course was given in its interval, and neither its dose was cancelled
/// nor its course ended before it was due. Reads the patient's entries (the whole history),
/// whoever reads the hint.
pub(crate) fn missed(n: &str, now_param: &str) -> String {
    format!(
        "{n}.item = '{NEXT_DOSE_DUE}' AND ({n}.detail->>'due_by')::timestamptz < {now_param}
         AND NOT EXISTS (SELECT 1 FROM entries d
             WHERE d.patient_id = {n}.patient_id AND d.course_id = {n}.course_id AND d.item = 'event' AND d.correction IS NULL
               AND ((d.kind = 'dose_administered'
                     AND (d.detail->>'administered_at')::timestamptz
                         > ({n}.detail->>'after')::timestamptz
                     AND (d.detail->>'administered_at')::timestamptz
                         <= ({n}.detail->>'due_by')::timestamptz)
                 OR (d.kind = 'dose_cancelled' AND d.detail->>'dose_id' = {n}.detail->>'dose_id')
                 OR (d.kind = 'course_ended'
                     AND d.occurred_at <= ({n}.detail->>'due_by')::timestamptz)))"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spravato_weeks_follow_the_label() {
        assert_eq!(spravato_interval(1).1, Duration::days(5));
        assert_eq!(spravato_interval(4).0, Duration::days(2));
        assert_eq!(spravato_interval(5), (Duration::days(6), Duration::days(8)));
        assert_eq!(spravato_interval(8).1, Duration::days(8));
        assert_eq!(
            spravato_interval(9),
            (Duration::days(7), Duration::days(14))
        );
    }
}

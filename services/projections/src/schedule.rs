//! Next-dose-due and missed-dose hints from the course's path (domain §6), both made when a
//! timeline is read (like the integration window and like consent expiry): a missed dose shows
//! up once its due date passes without waiting for an event, a dose recorded late counts the
//! course's weeks from the course's real first dose, and nothing of them is stored (migration
//! 0006), so a rebuild writes fewer rows and still equals the live projection.
//!
//! The schedules (each hint carries `after`, `due_from`, `due_by`; a dose of the course
//! administered after `after` and by `due_by` keeps the hint from turning into a missed dose):
//! - **Spravato**, on each administered dose, counting weeks from the course's first
//!   administered dose that is not corrected: weeks 1–4 twice a week, next dose from +2 days,
//!   due by +5 days (the longest gap of a Tuesday/Thursday rhythm); weeks 5–8 weekly, from +6
//!   days, due by +8 days; from week 9 every one to two weeks, from +7 days, due by +14 days.
//! - **Ketamine**: the clinic sets the cadence, so each dose it schedules is the next dose due,
//!   from its planned time, due by one day after it; a dose given within a day either side of
//!   the plan counts.
//!
//! A hint follows its course as it stands: should the course's start be corrected and the
//! course started again on the other path, its doses' hints follow the new path. A hint of a
//! corrected event is shown corrected, as its event is, and never turns into a missed dose;
//! neither does a hint whose dose was cancelled, whose course ended by its due date, or whose
//! course was withdrawn (its start corrected and the course not started again: there is no
//! schedule left to miss; an amended start is normally followed at once by the new one, and
//! from then on the hints count again).

use carelog_schemas::values::Scope;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::derived::rfc3339;
use crate::entry::EVENT_ITEM;
use crate::read::TimelineEntry;

/// The item name of the next-dose-due hint, and of the missed-dose hint made from it.
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

/// What a timeline read knows of the course of a dose's entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CourseSchedule<'a> {
    pub(crate) course_id: Uuid,
    pub(crate) path: &'a str,
    /// The course's first administered dose that is not corrected, if any.
    pub(crate) first_administered_at: Option<OffsetDateTime>,
}

/// A next-dose-due hint, and what deciding whether it was missed needs.
#[derive(Debug, Clone)]
pub(crate) struct DoseDue {
    pub(crate) hint: TimelineEntry,
    course_id: Uuid,
    dose_id: Uuid,
    after: OffsetDateTime,
    due_by: OffsetDateTime,
}

/// The next-dose-due hint the event of `entry` raises, if any: an administered dose on the
/// Spravato path, a scheduled one on the ketamine path.
pub(crate) fn next_dose_due(entry: &TimelineEntry, course: CourseSchedule<'_>) -> Option<DoseDue> {
    if entry.item != EVENT_ITEM {
        return None;
    }
    let dose_id = entry
        .detail
        .get("dose_id")
        .and_then(serde_json::Value::as_str)
        .and_then(|text| Uuid::parse_str(text).ok())?;
    let (after, due_from, due_by, summary) = match (entry.kind.as_str(), course.path) {
        ("dose_administered", "spravato") => {
            let given_at = entry.detail_instant("administered_at")?;
            let first = course.first_administered_at.unwrap_or(given_at);
            let week = (given_at - first).whole_weeks() + 1;
            let (from, by) = spravato_interval(week);
            let summary = format!(
                "Next dose due by {} (course week {week})",
                (given_at + by).date()
            );
            (given_at, given_at + from, given_at + by, summary)
        }
        ("dose_scheduled", "ketamine") => {
            let planned_at = entry.detail_instant("planned_at")?;
            let summary = format!(
                "Next dose due {} (as the clinic scheduled)",
                planned_at.date()
            );
            (
                planned_at - KETAMINE_TOLERANCE,
                planned_at,
                planned_at + KETAMINE_TOLERANCE,
                summary,
            )
        }
        _ => return None,
    };
    let hint = TimelineEntry {
        item: NEXT_DOSE_DUE.to_owned(),
        kind: NEXT_DOSE_DUE.to_owned(),
        scope: Some(Scope::Doses.as_str().to_owned()),
        occurred_at: due_from,
        summary,
        detail: json!({
            "dose_id": dose_id,
            "course_id": course.course_id,
            "after": rfc3339(after),
            "due_from": rfc3339(due_from),
            "due_by": rfc3339(due_by),
        }),
        ..entry.clone()
    };
    Some(DoseDue {
        hint,
        course_id: course.course_id,
        dose_id,
        after,
        due_by,
    })
}

/// What of the patient's history (every uncorrected event, whoever reads) keeps a hint from
/// being missed.
#[derive(Debug, Clone, Default)]
pub(crate) struct DoseFacts {
    /// (course, administered at) of every administered dose.
    pub(crate) given: Vec<(Uuid, OffsetDateTime)>,
    /// (course, dose) of every cancelled dose.
    pub(crate) cancelled: Vec<(Uuid, Uuid)>,
    /// (course, ended at) of every course end.
    pub(crate) ended: Vec<(Uuid, OffsetDateTime)>,
    /// Every course whose start is corrected and that was not started again: withdrawn, it has
    /// no schedule left to miss.
    pub(crate) withdrawn: Vec<Uuid>,
}

/// The kinds of event `DoseFacts` is read from.
pub(crate) const DOSE_FACT_KINDS: [&str; 4] = [
    "dose_administered",
    "dose_cancelled",
    "course_ended",
    "course_started",
];

impl DoseDue {
    /// Whether the hint may have been missed by `now`: not corrected and its due date passed.
    /// Only then are the patient's `DoseFacts` needed.
    pub(crate) fn overdue(&self, now: OffsetDateTime) -> bool {
        self.hint.correction.is_none() && self.due_by < now
    }

    /// The missed-dose hint this one turns into at `now`, if it does: overdue, no dose of the
    /// course given after `after` and by `due_by`, its dose not cancelled, its course not ended
    /// by `due_by` nor withdrawn. At its due date, uncorrected.
    pub(crate) fn missed(&self, now: OffsetDateTime, facts: &DoseFacts) -> Option<TimelineEntry> {
        if !self.overdue(now) {
            return None;
        }
        let course = self.course_id;
        let kept = facts
            .given
            .iter()
            .any(|(of, at)| *of == course && *at > self.after && *at <= self.due_by)
            || facts.cancelled.contains(&(course, self.dose_id))
            || facts
                .ended
                .iter()
                .any(|(of, at)| *of == course && *at <= self.due_by)
            || facts.withdrawn.contains(&course);
        if kept {
            return None;
        }
        let due_by = rfc3339(self.due_by);
        Some(TimelineEntry {
            item: MISSED_DOSE.to_owned(),
            kind: MISSED_DOSE.to_owned(),
            occurred_at: self.due_by,
            summary: format!("Missed dose: it was due by {due_by}"),
            correction: None,
            ..self.hint.clone()
        })
    }
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

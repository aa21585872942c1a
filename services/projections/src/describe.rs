//! What a recorded event means to a reader: the consent scope that governs it, the course it
//! belongs to, the party it names, and a short human summary without free text (notes, reasons
//! and descriptions stay in the detail, which only readers allowed to see the event get).

use carelog_schemas::consent::ConsentEvent;
use carelog_schemas::dose::DoseEvent;
use carelog_schemas::observation::ObservationEvent;
use carelog_schemas::target::TargetEvent;
use carelog_schemas::values::{ObservationValue, Scope};
use carelog_schemas::{CourseId, DoseId, EntryCorrected, EventId, EventPayload, PartyId};

/// How an event finds the consent scope that governs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScopeRule {
    /// Governed by this scope.
    Fixed(Scope),
    /// Consent events: no consent opens them; the grantee sees the ones naming it.
    Unscoped,
    /// A correction: governed by the scope of the event it corrects.
    SameAs(EventId),
}

/// How an event of the dose family finds its course (and so the clinic of the course).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CourseRule {
    /// Not a dose-family event.
    NotDoseFamily,
    Course(CourseId),
    Dose(DoseId),
    /// Vitals taken outside a dosing visit: the patient's open courses with the clinic that
    /// recorded them (never another clinic's).
    RecorderOpenCourses,
    /// A correction: the course of the corrected event.
    SameAs(EventId),
}

/// The reader-independent description of one event.
#[derive(Debug, Clone)]
pub(crate) struct Description {
    pub(crate) scope: ScopeRule,
    pub(crate) course: CourseRule,
    /// A party the event names besides its actor: the therapist of a session, the grantee of a
    /// consent. Used for "own" entries and "grants to it".
    pub(crate) related_party: Option<PartyId>,
    pub(crate) summary: String,
}

pub(crate) fn describe(payload: &EventPayload) -> Description {
    match payload {
        EventPayload::Dose(event) => describe_dose(event),
        EventPayload::Consent(event) => describe_consent(event),
        EventPayload::Target(event) => describe_target(event),
        EventPayload::Observation(event) => describe_observation(event),
    }
}

fn description(scope: ScopeRule, course: CourseRule, summary: String) -> Description {
    Description {
        scope,
        course,
        related_party: None,
        summary,
    }
}

fn describe_dose(event: &DoseEvent) -> Description {
    use ScopeRule::Fixed;
    let doses = Fixed(Scope::Doses);
    match event {
        DoseEvent::CourseStarted(started) => description(
            doses,
            CourseRule::Course(started.course_id),
            format!("Course started ({})", started.path),
        ),
        DoseEvent::DoseScheduled(scheduled) => description(
            doses,
            CourseRule::Course(scheduled.course_id),
            format!("Dose scheduled for {}", scheduled.planned_at),
        ),
        DoseEvent::PreDoseCheckRecorded(check) => description(
            doses,
            CourseRule::Dose(check.dose_id),
            format!("Pre-dose check recorded{}", flag_suffix(check.flags.iter())),
        ),
        DoseEvent::DoseAdministered(dose) => description(
            doses,
            CourseRule::Dose(dose.dose_id),
            format!(
                "Dose administered: {} {} {}{}",
                dose.drug,
                dose.amount_mg,
                dose.route,
                flag_suffix(dose.flags.iter())
            ),
        ),
        DoseEvent::VitalsRecorded(vitals) => description(
            Fixed(Scope::Vitals),
            vitals
                .dose_id
                .map_or(CourseRule::RecorderOpenCourses, CourseRule::Dose),
            format!(
                "Vitals ({}): BP {}, HR {} bpm{}",
                vitals.phase,
                vitals.blood_pressure,
                vitals.heart_rate.beats_per_minute(),
                flag_suffix(vitals.flags.iter())
            ),
        ),
        DoseEvent::SideEffectRecorded(side_effect) => description(
            Fixed(Scope::SideEffects),
            CourseRule::Dose(side_effect.dose_id),
            format!(
                "Side effect: {} ({})",
                side_effect.effect, side_effect.severity
            ),
        ),
        DoseEvent::PatientDischarged(discharge) => description(
            doses,
            CourseRule::Dose(discharge.dose_id),
            format!(
                "Discharged after {} minutes of observation",
                discharge.observed_minutes.minutes()
            ),
        ),
        DoseEvent::DoseCancelled(cancelled) => description(
            doses,
            CourseRule::Dose(cancelled.dose_id),
            "Dose cancelled".to_owned(),
        ),
        DoseEvent::CourseEnded(ended) => description(
            doses,
            CourseRule::Course(ended.course_id),
            "Course ended".to_owned(),
        ),
        DoseEvent::EntryCorrected(correction) => description(
            ScopeRule::SameAs(correction.corrects),
            CourseRule::SameAs(correction.corrects),
            format!("Entry corrected ({})", correction.kind),
        ),
    }
}

fn describe_consent(event: &ConsentEvent) -> Description {
    let none = CourseRule::NotDoseFamily;
    match event {
        ConsentEvent::ConsentGranted(granted) => {
            let scopes: Vec<&str> = granted.scopes.iter().map(|scope| scope.as_str()).collect();
            let expiry = granted
                .expires_at
                .map(|at| format!(" until {at}"))
                .unwrap_or_default();
            Description {
                related_party: Some(granted.grantee_id),
                ..description(
                    ScopeRule::Unscoped,
                    none,
                    format!(
                        "Consent granted to a {}: {}{expiry}",
                        granted.grantee_role,
                        scopes.join(", ")
                    ),
                )
            }
        }
        ConsentEvent::ConsentRevoked(_) => {
            description(ScopeRule::Unscoped, none, "Consent revoked".to_owned())
        }
        ConsentEvent::EntryCorrected(correction) => description(
            ScopeRule::Unscoped,
            none,
            format!("Entry corrected ({})", correction.kind),
        ),
    }
}

/// The scope rule of a target or observation event: its own consent scope, or for a
/// correction the scope of the entry it corrects.
fn family_scope(scope: Option<Scope>, correction: Option<&EntryCorrected>) -> ScopeRule {
    match (scope, correction) {
        (Some(scope), _) => ScopeRule::Fixed(scope),
        (None, Some(correction)) => ScopeRule::SameAs(correction.corrects),
        (None, None) => ScopeRule::Unscoped,
    }
}

fn describe_target(event: &TargetEvent) -> Description {
    let none = CourseRule::NotDoseFamily;
    let correction = match event {
        TargetEvent::EntryCorrected(correction) => Some(correction),
        _ => None,
    };
    let scope = family_scope(event.consent_scope(), correction);
    match event {
        TargetEvent::TargetSet(set) => {
            description(scope, none, format!("Target set ({})", set.category()))
        }
        TargetEvent::TargetPracticed(practice) => description(
            scope,
            none,
            format!(
                "Practice on {}: {}, {}",
                practice.on, practice.outcome, practice.ease
            ),
        ),
        TargetEvent::TargetNotchedUp(_) => description(scope, none, "Target notched up".to_owned()),
        TargetEvent::TargetRetired(retired) => {
            description(scope, none, format!("Target retired ({})", retired.reason))
        }
        TargetEvent::SessionScheduled(session) => Description {
            related_party: Some(session.therapist_id),
            ..description(scope, none, format!("Session scheduled for {}", session.at))
        },
        TargetEvent::SessionHeld(_) => description(scope, none, "Session held".to_owned()),
        TargetEvent::SessionCancelled(_) => {
            description(scope, none, "Session cancelled".to_owned())
        }
        TargetEvent::EntryCorrected(correction) => description(
            scope,
            none,
            format!("Entry corrected ({})", correction.kind),
        ),
    }
}

fn describe_observation(event: &ObservationEvent) -> Description {
    let none = CourseRule::NotDoseFamily;
    let correction = match event {
        ObservationEvent::EntryCorrected(correction) => Some(correction),
        _ => None,
    };
    let scope = family_scope(event.consent_scope(), correction);
    match event {
        ObservationEvent::ObservationRecorded(observation) => {
            let summary = match &observation.value {
                ObservationValue::Mood(mood) => format!("Mood {}/10", mood.rating()),
                ObservationValue::SleepHours(hours) => format!("Slept {hours}"),
                ObservationValue::Shift(_) => "Shift noticed".to_owned(),
                ObservationValue::Symptom(report) => format!("Symptom: {}", report.symptom),
                ObservationValue::Note(_) => "Note".to_owned(),
            };
            description(
                scope,
                none,
                format!("{summary}{}", flag_suffix(observation.flags.iter())),
            )
        }
        ObservationEvent::ScaleScored(scored) => description(
            scope,
            none,
            format!(
                "{} total {}{}",
                scored.score.instrument(),
                scored.score.total(),
                flag_suffix(scored.flags.iter())
            ),
        ),
        ObservationEvent::EntryCorrected(correction) => description(
            scope,
            none,
            format!("Entry corrected ({})", correction.kind),
        ),
    }
}

fn flag_suffix<T: std::fmt::Display>(flags: impl Iterator<Item = T>) -> String {
    let flags: Vec<String> = flags.map(|flag| flag.to_string()).collect();
    if flags.is_empty() {
        String::new()
    } else {
        format!(" [{}]", flags.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carelog_schemas::values::Flags;
    use carelog_schemas::values::{FreeText, SymptomReport};
    use carelog_schemas::ObservationId;

    #[test]
    fn summaries_carry_no_free_text() {
        let secret = "my private words";
        let note = ObservationEvent::ObservationRecorded(
            carelog_schemas::observation::ObservationRecorded {
                observation_id: ObservationId::new_random(),
                value: ObservationValue::Symptom(SymptomReport {
                    symptom: carelog_schemas::values::Symptom::ChestPain,
                    detail: Some(FreeText::new(secret).expect("text")),
                }),
                flags: Flags::none(),
            },
        );
        let described = describe(&EventPayload::Observation(note));
        assert_eq!(described.summary, "Symptom: chest_pain");
        assert_eq!(described.scope, ScopeRule::Fixed(Scope::Observations));
    }
}

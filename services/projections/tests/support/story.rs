//! A small vocabulary of care events (three patients, two clinics, two therapists) for tests
//! that need many varied sequences: courses, doses, consents granted and revoked, targets and
//! practices, sessions, observations, corrections and undecodable messages. A step that makes
//! no sense yet (a dose before any course) is turned into one that does, so every sequence is a
//! plausible log.

use anyhow::Result;
use carelog_eventlog::AggregateKey;
use carelog_schemas::{Family, PartyId, PatientId, Role};
use proptest::prelude::*;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{actor, at, course_started, event, patient_actor, Harness};

/// One thing that happens in the story.
#[derive(Debug, Clone)]
pub enum Step {
    StartCourse {
        patient: usize,
    },
    ScheduleDose {
        patient: usize,
    },
    AdministerDose {
        patient: usize,
        flagged: bool,
    },
    Grant {
        patient: usize,
        therapist: usize,
        grantee_is_clinic: bool,
        scopes: u8,
    },
    Revoke {
        patient: usize,
        which: usize,
    },
    Mood {
        patient: usize,
        rating: u8,
        late: bool,
    },
    RedFlagSymptom {
        patient: usize,
    },
    Practice {
        patient: usize,
        easy: bool,
    },
    ScheduleSession {
        patient: usize,
        therapist: usize,
    },
    CorrectLast {
        patient: usize,
    },
    Garbage {
        patient: usize,
    },
}

pub fn step() -> impl Strategy<Value = Step> {
    let patient = 0usize..3;
    prop_oneof![
        patient
            .clone()
            .prop_map(|patient| Step::StartCourse { patient }),
        patient
            .clone()
            .prop_map(|patient| Step::ScheduleDose { patient }),
        (patient.clone(), any::<bool>())
            .prop_map(|(patient, flagged)| Step::AdministerDose { patient, flagged }),
        (patient.clone(), 0usize..2, any::<bool>(), 1u8..64).prop_map(
            |(patient, therapist, grantee_is_clinic, scopes)| Step::Grant {
                patient,
                therapist,
                grantee_is_clinic,
                scopes
            }
        ),
        (patient.clone(), 0usize..3).prop_map(|(patient, which)| Step::Revoke { patient, which }),
        (patient.clone(), 0u8..11, any::<bool>()).prop_map(|(patient, rating, late)| Step::Mood {
            patient,
            rating,
            late
        }),
        patient
            .clone()
            .prop_map(|patient| Step::RedFlagSymptom { patient }),
        (patient.clone(), any::<bool>())
            .prop_map(|(patient, easy)| Step::Practice { patient, easy }),
        (patient.clone(), 0usize..2)
            .prop_map(|(patient, therapist)| Step::ScheduleSession { patient, therapist }),
        patient
            .clone()
            .prop_map(|patient| Step::CorrectLast { patient }),
        patient.prop_map(|patient| Step::Garbage { patient }),
    ]
}

const SCOPES: [&str; 6] = [
    "doses",
    "vitals",
    "side_effects",
    "targets",
    "sessions",
    "observations",
];

#[derive(Debug, Default, Clone)]
struct PatientState {
    course: Option<Uuid>,
    scheduled_dose: Option<Uuid>,
    consents: Vec<Uuid>,
    target: Option<Uuid>,
    last_observation_event: Option<Uuid>,
}

/// The parties and what each patient has so far.
#[derive(Debug)]
pub struct Story {
    pub patients: Vec<PatientId>,
    pub clinics: Vec<PartyId>,
    pub therapists: Vec<PartyId>,
    state: Vec<PatientState>,
    clock: OffsetDateTime,
}

impl Story {
    /// Every reader of the story who might read `patient`'s timeline: the patient, the
    /// auditor, each clinic and each therapist.
    pub fn readers_of(&self, patient: PatientId) -> Vec<carelog_projections::Reader> {
        use carelog_projections::Reader;
        [Reader::Patient(patient), Reader::Auditor]
            .into_iter()
            .chain(self.clinics.iter().map(|clinic| Reader::Clinic(*clinic)))
            .chain(self.therapists.iter().map(|t| Reader::Therapist(*t)))
            .collect()
    }

    pub fn new() -> Story {
        Story {
            patients: (0..3).map(|_| PatientId::new_random()).collect(),
            clinics: (0..2).map(|_| PartyId::new_random()).collect(),
            therapists: (0..2).map(|_| PartyId::new_random()).collect(),
            state: vec![PatientState::default(); 3],
            clock: at("2026-03-02T08:00:00Z").to_datetime(),
        }
    }

    fn when(&mut self, late: bool) -> carelog_schemas::Timestamp {
        self.clock += Duration::hours(7);
        let instant = if late {
            self.clock - Duration::days(2)
        } else {
            self.clock
        };
        let text = instant
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        at(&text)
    }

    /// Appends what `step` means for the story so far.
    pub async fn apply(&mut self, harness: &mut Harness, step: &Step) -> Result<()> {
        match *step {
            Step::StartCourse { patient } => self.start_course(harness, patient).await,
            Step::ScheduleDose { patient } => self.schedule_dose(harness, patient).await,
            Step::AdministerDose { patient, flagged } => {
                let Some(dose_id) = self.state[patient].scheduled_dose.take() else {
                    return self.schedule_dose(harness, patient).await;
                };
                let clinic = self.clinic_of(patient);
                let when = self.when(false);
                let flags: Vec<&str> = if flagged {
                    vec!["bp_above_140_90"]
                } else {
                    vec![]
                };
                harness
                    .append(
                        self.patients[patient],
                        clinic,
                        when,
                        event(
                            Family::Dose,
                            "dose_administered",
                            json!({
                                "dose_id": dose_id, "drug": "esketamine", "route": "intranasal",
                                "amount_mg": 56, "weight_kg": null, "devices": 2, "lot": null,
                                "administered_at": when, "flags": flags,
                            }),
                        ),
                    )
                    .await?;
                Ok(())
            }
            Step::Grant {
                patient,
                therapist,
                grantee_is_clinic,
                scopes,
            } => {
                let (grantee, role) = if grantee_is_clinic {
                    (self.clinics[(patient + 1) % 2], "clinic")
                } else {
                    (self.therapists[therapist], "therapist")
                };
                let scopes: Vec<&str> = SCOPES
                    .iter()
                    .enumerate()
                    .filter(|(bit, _)| scopes & (1 << bit) != 0)
                    .map(|(_, scope)| *scope)
                    .collect();
                let consent_id = Uuid::new_v4();
                let when = self.when(false);
                let p = self.patients[patient];
                harness
                    .append(p, patient_actor(p), when, event(Family::Consent, "consent_granted", json!({
                        "consent_id": consent_id, "grantee_id": grantee, "grantee_role": role,
                        "scopes": scopes, "purpose": "coordinate care", "expires_at": null,
                    })))
                    .await?;
                self.state[patient].consents.push(consent_id);
                Ok(())
            }
            Step::Revoke { patient, which } => {
                let consents = &mut self.state[patient].consents;
                if consents.is_empty() {
                    return self.mood(harness, patient, 5, false).await;
                }
                let consent_id = consents.remove(which % consents.len());
                let when = self.when(false);
                let p = self.patients[patient];
                harness
                    .append(
                        p,
                        patient_actor(p),
                        when,
                        event(
                            Family::Consent,
                            "consent_revoked",
                            json!({ "consent_id": consent_id, "reason": null }),
                        ),
                    )
                    .await?;
                Ok(())
            }
            Step::Mood {
                patient,
                rating,
                late,
            } => self.mood(harness, patient, rating, late).await,
            Step::RedFlagSymptom { patient } => {
                let when = self.when(false);
                let p = self.patients[patient];
                harness
                    .append(p, patient_actor(p), when, event(Family::Observation, "observation_recorded", json!({
                        "observation_id": Uuid::new_v4(),
                        "value": {"symptom": {"symptom": "severe_headache", "detail": "private"}},
                        "flags": ["red_flag_symptom_within_72h"],
                    })))
                    .await?;
                Ok(())
            }
            Step::Practice { patient, easy } => {
                let p = self.patients[patient];
                let Some(target_id) = self.state[patient].target else {
                    let target_id = Uuid::new_v4();
                    let when = self.when(false);
                    let therapist = actor(Role::Therapist, self.therapists[patient % 2]);
                    harness
                        .append(
                            p,
                            therapist,
                            when,
                            event(
                                Family::Target,
                                "target_set",
                                json!({
                                    "target_id": target_id, "category": "behavioral_activation",
                                    "menu_item": null, "description": "walk", "plan": "daily",
                                }),
                            ),
                        )
                        .await?;
                    self.state[patient].target = Some(target_id);
                    return Ok(());
                };
                let when = self.when(false);
                let on = when.to_datetime().date().to_string();
                let ease = if easy { "easy" } else { "hard" };
                harness
                    .append(
                        p,
                        patient_actor(p),
                        when,
                        event(
                            Family::Target,
                            "target_practiced",
                            json!({
                                "target_id": target_id, "on": on, "outcome": "done", "ease": ease,
                                "note": null,
                            }),
                        ),
                    )
                    .await?;
                Ok(())
            }
            Step::ScheduleSession { patient, therapist } => {
                let when = self.when(false);
                let session_at = self.when(false);
                let p = self.patients[patient];
                harness
                    .append(p, patient_actor(p), when, event(Family::Target, "session_scheduled", json!({
                        "session_id": Uuid::new_v4(), "therapist_id": self.therapists[therapist],
                        "at": session_at,
                    })))
                    .await?;
                Ok(())
            }
            Step::CorrectLast { patient } => {
                let Some(corrects) = self.state[patient].last_observation_event.take() else {
                    return self.mood(harness, patient, 3, true).await;
                };
                let when = self.when(false);
                let p = self.patients[patient];
                harness
                    .append(p, patient_actor(p), when, event(Family::Observation, "entry_corrected", json!({
                        "corrects": corrects, "kind": "entered_in_error", "reason": "wrong day",
                    })))
                    .await?;
                Ok(())
            }
            Step::Garbage { patient: _ } => {
                // On an aggregate of its own: the story's aggregates keep their hash chains.
                let subject =
                    AggregateKey::new(PatientId::new_random(), Family::Observation).subject();
                harness
                    .log
                    .jetstream()
                    .publish(subject, "not a commit".into())
                    .await?
                    .await?;
                Ok(())
            }
        }
    }

    fn clinic_of(&self, patient: usize) -> carelog_schemas::Actor {
        actor(Role::Clinic, self.clinics[patient % 2])
    }

    async fn start_course(&mut self, harness: &mut Harness, patient: usize) -> Result<()> {
        let course_id = Uuid::new_v4();
        let clinic = self.clinic_of(patient);
        let when = self.when(false);
        harness
            .append(
                self.patients[patient],
                clinic,
                when,
                course_started(course_id, clinic.party_id, "spravato"),
            )
            .await?;
        self.state[patient].course = Some(course_id);
        Ok(())
    }

    async fn schedule_dose(&mut self, harness: &mut Harness, patient: usize) -> Result<()> {
        let Some(course_id) = self.state[patient].course else {
            return self.start_course(harness, patient).await;
        };
        let dose_id = Uuid::new_v4();
        let clinic = self.clinic_of(patient);
        let when = self.when(false);
        let planned_at = self.when(false);
        harness
            .append(
                self.patients[patient],
                clinic,
                when,
                event(
                    Family::Dose,
                    "dose_scheduled",
                    json!({ "dose_id": dose_id, "course_id": course_id, "planned_at": planned_at }),
                ),
            )
            .await?;
        self.state[patient].scheduled_dose = Some(dose_id);
        Ok(())
    }

    async fn mood(
        &mut self,
        harness: &mut Harness,
        patient: usize,
        rating: u8,
        late: bool,
    ) -> Result<()> {
        let when = self.when(late);
        let p = self.patients[patient];
        harness
            .append(
                p,
                patient_actor(p),
                when,
                event(
                    Family::Observation,
                    "observation_recorded",
                    json!({
                        "observation_id": Uuid::new_v4(), "value": {"mood": rating}, "flags": [],
                    }),
                ),
            )
            .await?;
        self.state[patient].last_observation_event = harness.last_event_id;
        Ok(())
    }
}

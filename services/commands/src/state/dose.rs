//! The dose family folded: courses and their clinics, doses and what happened at each visit.
//! The dose service decides on it; the other services read it to authorize clinics and to
//! know when doses were given.

use std::collections::{BTreeMap, BTreeSet};

use carelog_eventlog::{AggregateHistory, Fold, StoredCommit};
use carelog_schemas::values::{BloodPressure, Milligrams, Path, VitalsPhase};
use carelog_schemas::{CourseId, DoseEvent, DoseId, EventPayload, PartyId, Timestamp};

use super::{apply_commit, fold_live_events};

/// A treatment course.
#[derive(Debug, Clone, PartialEq)]
pub struct Course {
    pub course_id: CourseId,
    pub clinic_id: PartyId,
    pub path: Path,
    pub age_65_or_older: bool,
    pub ended: bool,
}

/// Vitals recorded for a dose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VitalsReading {
    pub phase: VitalsPhase,
    pub blood_pressure: BloodPressure,
}

/// A dose that was given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Administration {
    pub administered_at: Timestamp,
    pub amount_mg: Milligrams,
}

/// A scheduled dose and what happened to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Dose {
    pub dose_id: DoseId,
    pub course_id: CourseId,
    pub planned_at: Timestamp,
    pub cancelled: bool,
    pub pre_dose_check_recorded: bool,
    /// In log order.
    pub vitals: Vec<VitalsReading>,
    pub administration: Option<Administration>,
    pub discharged: bool,
}

impl Dose {
    /// The last pre-dose blood pressure recorded for this dose.
    pub fn latest_pre_dose_blood_pressure(&self) -> Option<BloodPressure> {
        self.vitals
            .iter()
            .rev()
            .find(|reading| reading.phase == VitalsPhase::PreDose)
            .map(|reading| reading.blood_pressure)
    }
}

impl Fold for DoseState {
    fn from_history(history: &AggregateHistory) -> Self {
        DoseState::from_history(history)
    }

    fn apply(&mut self, stored: &StoredCommit) -> bool {
        apply_commit(self, stored, DoseState::apply_event)
    }
}

/// A patient's courses and doses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DoseState {
    courses: BTreeMap<CourseId, Course>,
    doses: BTreeMap<DoseId, Dose>,
    /// Courses ended while no start of theirs stood (their start corrected): started again
    /// (the amended start), such a course is still ended.
    ended_unstarted: BTreeSet<CourseId>,
}

impl DoseState {
    pub fn from_history(history: &AggregateHistory) -> Self {
        fold_live_events(history, DoseState::apply_event)
    }

    fn apply_event(&mut self, payload: &EventPayload) {
        let EventPayload::Dose(event) = payload else {
            return;
        };
        match event {
            DoseEvent::CourseStarted(started) => {
                self.courses.insert(
                    started.course_id,
                    Course {
                        course_id: started.course_id,
                        clinic_id: started.clinic_id,
                        path: started.path,
                        age_65_or_older: started.age_65_or_older,
                        ended: self.ended_unstarted.contains(&started.course_id),
                    },
                );
            }
            DoseEvent::DoseScheduled(scheduled) => {
                self.doses.insert(
                    scheduled.dose_id,
                    Dose {
                        dose_id: scheduled.dose_id,
                        course_id: scheduled.course_id,
                        planned_at: scheduled.planned_at,
                        cancelled: false,
                        pre_dose_check_recorded: false,
                        vitals: Vec::new(),
                        administration: None,
                        discharged: false,
                    },
                );
            }
            DoseEvent::PreDoseCheckRecorded(check) => {
                if let Some(dose) = self.doses.get_mut(&check.dose_id) {
                    dose.pre_dose_check_recorded = true;
                }
            }
            DoseEvent::DoseAdministered(administered) => {
                if let Some(dose) = self.doses.get_mut(&administered.dose_id) {
                    dose.administration = Some(Administration {
                        administered_at: administered.administered_at,
                        amount_mg: administered.amount_mg,
                    });
                }
            }
            DoseEvent::VitalsRecorded(vitals) => {
                if let Some(dose) = vitals.dose_id.and_then(|id| self.doses.get_mut(&id)) {
                    dose.vitals.push(VitalsReading {
                        phase: vitals.phase,
                        blood_pressure: vitals.blood_pressure,
                    });
                }
            }
            DoseEvent::PatientDischarged(discharged) => {
                if let Some(dose) = self.doses.get_mut(&discharged.dose_id) {
                    dose.discharged = true;
                }
            }
            DoseEvent::DoseCancelled(cancelled) => {
                if let Some(dose) = self.doses.get_mut(&cancelled.dose_id) {
                    dose.cancelled = true;
                }
            }
            DoseEvent::CourseEnded(ended) => match self.courses.get_mut(&ended.course_id) {
                Some(course) => course.ended = true,
                None => {
                    self.ended_unstarted.insert(ended.course_id);
                }
            },
            DoseEvent::SideEffectRecorded(_) | DoseEvent::EntryCorrected(_) => {}
        }
    }

    pub fn course(&self, course_id: CourseId) -> Option<&Course> {
        self.courses.get(&course_id)
    }

    pub fn dose(&self, dose_id: DoseId) -> Option<&Dose> {
        self.doses.get(&dose_id)
    }

    /// The courses of the patient, in id order.
    pub fn courses(&self) -> impl Iterator<Item = &Course> {
        self.courses.values()
    }

    /// Whether `clinic` treats the patient in a course that has not ended: the "clinic of the
    /// course" of domain §5.
    pub fn has_active_course_with(&self, clinic: PartyId) -> bool {
        self.courses
            .values()
            .any(|course| course.clinic_id == clinic && !course.ended)
    }

    /// Every administered dose, in dose id order.
    pub fn administrations(&self) -> impl Iterator<Item = (&Dose, Administration)> {
        self.doses
            .values()
            .filter_map(|dose| dose.administration.map(|given| (dose, given)))
    }

    /// How many doses of a course were administered.
    pub fn administered_in_course(&self, course_id: CourseId) -> usize {
        self.administrations()
            .filter(|(dose, _)| dose.course_id == course_id)
            .count()
    }

    /// The most recent administration at or before `at`.
    pub fn last_administration_before(&self, at: Timestamp) -> Option<Administration> {
        self.administrations()
            .map(|(_, given)| given)
            .filter(|given| given.administered_at <= at)
            .max_by_key(|given| given.administered_at)
    }
}

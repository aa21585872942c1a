//! The subject scheme: one subject per aggregate, `care.<family>.<patient_id>`.
//!
//! One subject per aggregate lets JetStream itself guard each aggregate's consistency
//! (`Nats-Expected-Last-Subject-Sequence` compares against the last message on exactly that
//! subject), lets a service load one patient's one family with a filtered consumer, and keeps
//! unrelated patients from ever conflicting.

use std::fmt;
use std::str::FromStr;

use carelog_schemas::{Family, PatientId};

/// First token of every subject in the care stream.
pub const CARE_SUBJECT_PREFIX: &str = "care";

/// One patient's one family: the unit of consistency in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AggregateKey {
    pub patient_id: PatientId,
    pub family: Family,
}

/// A subject that is not `care.<family>.<patient_id>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("subject {subject:?} is not care.<family>.<patient_id>: {reason}")]
pub struct SubjectError {
    pub subject: String,
    pub reason: String,
}

impl AggregateKey {
    pub fn new(patient_id: PatientId, family: Family) -> Self {
        AggregateKey { patient_id, family }
    }

    pub fn subject(&self) -> String {
        // Built by hand rather than with `format!`: it is on the path of every append.
        let family = self.family.as_str();
        let mut subject = String::with_capacity(
            CARE_SUBJECT_PREFIX.len() + family.len() + 2 + uuid::fmt::Hyphenated::LENGTH,
        );
        subject.push_str(CARE_SUBJECT_PREFIX);
        subject.push('.');
        subject.push_str(family);
        subject.push('.');
        subject.push_str(
            self.patient_id
                .as_uuid()
                .hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer()),
        );
        subject
    }

    /// The subjects the care stream captures: one wildcard per family.
    pub fn stream_subjects() -> Vec<String> {
        Family::ALL
            .iter()
            .map(|family| format!("{CARE_SUBJECT_PREFIX}.{family}.*"))
            .collect()
    }

    pub fn from_subject(subject: &str) -> Result<Self, SubjectError> {
        let error = |reason: &str| SubjectError {
            subject: subject.to_owned(),
            reason: reason.to_owned(),
        };
        let mut tokens = subject.split('.');
        let (Some(prefix), Some(family), Some(patient), None) =
            (tokens.next(), tokens.next(), tokens.next(), tokens.next())
        else {
            return Err(error("expected three tokens"));
        };
        if prefix != CARE_SUBJECT_PREFIX {
            return Err(error("first token is not care"));
        }
        let family = Family::from_str(family).map_err(|e| error(&e.to_string()))?;
        let patient_id = PatientId::from_str(patient).map_err(|e| error(&e.to_string()))?;
        Ok(AggregateKey { patient_id, family })
    }
}

impl fmt::Display for AggregateKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.subject())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_round_trip_and_reject_strangers() {
        let key = AggregateKey::new(PatientId::new_random(), Family::Dose);
        assert_eq!(AggregateKey::from_subject(&key.subject()), Ok(key));
        assert_eq!(key.subject(), format!("care.dose.{}", key.patient_id));
        for bad in [
            "care.dose",
            "care.dose.not-a-uuid",
            "care.cmd.dose.administer",
            "care.billing.0190f3a0-0000-7000-8000-000000000001",
            "other.dose.0190f3a0-0000-7000-8000-000000000001",
        ] {
            assert!(AggregateKey::from_subject(bad).is_err(), "{bad} accepted");
        }
    }
}

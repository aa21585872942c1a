//! Helpers shared by the care log's integration tests.

use anyhow::Result;
use carelog_eventlog::{AppendError, AppendOutcome, Appended};
use carelog_schemas::dose::{DoseEvent, DoseScheduled};
use carelog_schemas::{
    Actor, CommandId, CommitDraft, CommitId, CorrelationId, CourseId, DoseId, EventId,
    EventPayload, EventRecord, Family, PartyId, PatientId, Role, Timestamp,
};

/// A commit of one `DoseScheduled` event for `patient_id`, with fresh ids.
pub(crate) fn draft_for(patient_id: PatientId) -> CommitDraft {
    let planned_at = Timestamp::parse_rfc3339("2026-03-03T09:30:00Z").expect("fixed timestamp");
    CommitDraft {
        commit_id: CommitId::new_random(),
        command_id: CommandId::new_random(),
        correlation_id: CorrelationId::new_random(),
        patient_id,
        family: Family::Dose,
        actor: Actor {
            role: Role::Clinic,
            party_id: PartyId::new_random(),
        },
        events: vec![EventRecord {
            event_id: EventId::now_v7(),
            occurred_at: planned_at,
            payload: EventPayload::Dose(DoseEvent::DoseScheduled(DoseScheduled {
                dose_id: DoseId::new_random(),
                course_id: CourseId::new_random(),
                planned_at,
            })),
        }],
    }
}

/// The appended commit, or an error if the log stored nothing new.
pub(crate) fn appended(outcome: Result<AppendOutcome, AppendError>) -> Result<Appended> {
    match outcome? {
        AppendOutcome::Appended(appended) => Ok(appended),
        AppendOutcome::Duplicate { position } => {
            anyhow::bail!("expected a new commit, got a duplicate of {position}")
        }
    }
}

//! Cross-crate tests against a real nats-server: what the system process sets up, what the
//! command services will append, and what projections and exports will read back.

use std::time::Duration;

use anyhow::{Context, Result};
use carelog_eventlog::{AggregateHead, AppendOutcome, CareLog, CareLogConfig};
use carelog_schemas::dose::{DoseEvent, DoseScheduled};
use carelog_schemas::{
    Actor, CommandId, CommitDraft, CommitId, CorrelationId, CourseId, DoseId, EventId,
    EventPayload, EventRecord, Family, PartyId, PatientId, RecordedEvent, Role, Timestamp,
};
use carelog_testkit::NatsServer;
use futures::StreamExt;

fn dose_scheduled(patient_id: PatientId, planned_at: &str) -> Result<CommitDraft> {
    let planned_at = Timestamp::parse_rfc3339(planned_at)?;
    Ok(CommitDraft {
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
    })
}

/// The system process sets the log up; a writer appends through the library; a replay reads
/// every event back with its full envelope, and its JSON export reads back to the same event.
#[tokio::test]
async fn events_appended_while_the_system_runs_replay_and_export_faithfully() -> Result<()> {
    let server = NatsServer::start().await?;
    let config = carelog::Config {
        nats_url: server.url(),
        stream: "CARE".to_owned(),
        replicas: 1,
        duplicate_window_secs: 600,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let system = tokio::spawn(carelog::run(config.clone(), async {
        let _ = stopped.await;
    }));

    let log = CareLog::connect(server.client().await?, CareLogConfig::default()).await?;
    let patient = PatientId::new_random();
    let mut head = AggregateHead::EMPTY;
    let mut appended = Vec::new();
    for planned_at in ["2026-03-03T09:30:00Z", "2026-03-05T09:30:00Z"] {
        let AppendOutcome::Appended(commit) = log
            .append(dose_scheduled(patient, planned_at)?, head)
            .await?
        else {
            anyhow::bail!("a fresh commit was reported as a duplicate");
        };
        head = commit.head();
        appended.push(commit);
    }

    let last = log.last_position().await?;
    let replayed: Vec<_> = log.read_range(1, last).await?.collect::<Vec<_>>().await;
    assert_eq!(replayed.len(), 2);
    for (stored, original) in replayed.into_iter().zip(&appended) {
        let stored = stored?;
        assert_eq!(stored.position, original.position);
        assert_eq!(stored.commit, original.commit);
        for event in stored.commit.recorded_events(stored.position) {
            assert_eq!(event.envelope.patient_id, patient);
            assert_eq!(event.envelope.position, stored.position);
            assert_eq!(event.envelope.event_type, "dose_scheduled");
            let json = event.to_json();
            assert_eq!(json["family"], "dose");
            assert_eq!(json["type"], "dose_scheduled");
            assert_eq!(RecordedEvent::from_json(json)?, event);
        }
    }

    carelog::verify(config).await?;
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), system)
        .await
        .context("the system did not stop within 10 s")???;
    Ok(())
}

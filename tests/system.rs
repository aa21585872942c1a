//! Cross-crate tests against a real nats-server: what the system process sets up, what the
//! command services will append, and what projections and exports will read back.

use std::time::Duration;

use anyhow::{Context, Result};
use carelog_eventlog::{AggregateHead, AppendOutcome, CareLog, CareLogConfig};
use carelog_schemas::dose::{DoseEvent, DoseScheduled};
use carelog_schemas::{
    Actor, CommandId, CommitDraft, CommitId, ConsentId, CorrelationId, CourseId, DoseId, EventId,
    EventPayload, EventRecord, Family, PartyId, PatientId, RecordedEvent, Role, Timestamp,
};
use carelog_testkit::{NatsServer, NatsUser, TestDatabase};
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

/// The system process sets the log and the projections up; a writer appends through the
/// library; a replay reads every event back with its full envelope, its JSON export reads back
/// to the same event, and the running projections put both into the auditor's timeline.
#[tokio::test]
async fn events_appended_while_the_system_runs_replay_export_and_project_faithfully() -> Result<()>
{
    let server = NatsServer::start().await?;
    let database = TestDatabase::create().await?;
    let config = carelog::Config {
        nats_url: server.url(),
        stream: "CARE".to_owned(),
        replicas: 1,
        duplicate_window_secs: 600,
        database_url: database.url().to_owned(),
    };
    while_the_system_runs(
        config.clone(),
        exercise_the_system(&server, &database, config),
    )
    .await
}

/// Runs `body` while the whole system (`carelog::run`) runs beside it in this task (its future
/// is not `Send`, as `main` never needs it to be). Fails at once, with the system's error, if
/// the system stops before the body ends; otherwise stops the system when the body ends,
/// however it ends.
async fn while_the_system_runs(
    config: carelog::Config,
    body: impl std::future::Future<Output = Result<()>>,
) -> Result<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let system = carelog::run(config, async {
        let _ = stopped.await;
    });
    tokio::pin!(system);
    tokio::pin!(body);
    let first = tokio::time::timeout(Duration::from_secs(120), async {
        tokio::select! {
            ended = &mut system => futures::future::Either::Left(ended),
            outcome = &mut body => futures::future::Either::Right(outcome),
        }
    })
    .await
    .context("the system test did not finish within 120 s")?;
    match first {
        futures::future::Either::Left(ended) => Err(ended
            .err()
            .unwrap_or_else(|| anyhow::anyhow!("it returned Ok"))
            .context("the system stopped before the test ended")),
        futures::future::Either::Right(outcome) => {
            let _ = stop.send(());
            let stopped = tokio::time::timeout(Duration::from_secs(30), &mut system)
                .await
                .context("the system did not stop within 30 s")?;
            outcome?;
            stopped
        }
    }
}

async fn exercise_the_system(
    server: &NatsServer,
    database: &TestDatabase,
    config: carelog::Config,
) -> Result<()> {
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

    // The projections, started by the system, catch up with both commits.
    let pool =
        carelog_projections::database::connect(database.url(), carelog_projections::LIVE_SCHEMA, 1)
            .await?;
    let auditor_view = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let entries = carelog_projections::timeline(
                &pool,
                carelog_projections::Reader::Auditor,
                patient,
                time::OffsetDateTime::now_utc(),
            )
            .await?;
            if entries.iter().filter(|entry| entry.item == "event").count() == 2 {
                return anyhow::Ok(entries);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .context("the projections did not catch up within 30 s")??;
    let positions: Vec<u64> = auditor_view
        .iter()
        .filter(|entry| entry.item == "event")
        .map(|entry| entry.position)
        .collect();
    assert_eq!(
        positions,
        appended
            .iter()
            .map(|commit| commit.position)
            .collect::<Vec<_>>()
    );
    pool.close().await;

    carelog::verify(config).await
}

/// The whole path a patient app and a therapist dashboard see, on a server with the users and
/// permissions of `infra/nats/authorization.conf`: a patient's consent sent as a JSON command
/// over NATS (logged in as a patient client) to the running system (logged in as `carelog`) is
/// validated, appended, answered, and projected into the therapist's timeline; a command that
/// breaks a rule appends nothing.
#[tokio::test]
async fn a_command_sent_to_the_running_system_reaches_the_grantees_timeline() -> Result<()> {
    let server = NatsServer::start_with_authorization().await?;
    let database = TestDatabase::create().await?;
    let config = carelog::Config {
        nats_url: server.url_as(NatsUser::Carelog),
        stream: "CARE".to_owned(),
        replicas: 1,
        duplicate_window_secs: 600,
        database_url: database.url().to_owned(),
    };
    while_the_system_runs(config, grant_consent_through_the_system(&server, &database)).await
}

async fn grant_consent_through_the_system(
    server: &NatsServer,
    database: &TestDatabase,
) -> Result<()> {
    let client = server.client_as(NatsUser::Patient).await?;
    let patient = PatientId::new_random();
    let therapist = PartyId::new_random();
    let command = |command_id: CommandId, actor_role: &str, actor: String| {
        serde_json::json!({
            "command_id": command_id.to_string(),
            "patient_id": patient.to_string(),
            "actor": { "role": actor_role, "party_id": actor },
            "data": {
                "consent_id": ConsentId::new_random().to_string(),
                "grantee_id": therapist.to_string(),
                "grantee_role": "therapist",
                "scopes": ["targets", "sessions"],
                "purpose": "CBT between doses",
                "expires_at": null
            }
        })
    };
    // The services come up with the system: ask until they answer (bounded).
    let request = |body: serde_json::Value| {
        let client = client.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(30), async {
                loop {
                    match client
                        .request("care.cmd.consent.grant", body.to_string().into())
                        .await
                    {
                        Ok(reply) => {
                            return serde_json::from_slice::<serde_json::Value>(&reply.payload)
                                .context("the reply is JSON")
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
            })
            .await
            .context("no reply from the consent service within 30 s")?
        }
    };

    // Only the patient grants consent: a command naming a clinic as its actor is refused by the
    // consent service itself.
    let forbidden = request(command(
        CommandId::new_random(),
        "clinic",
        PartyId::new_random().to_string(),
    ))
    .await?;
    assert_eq!(forbidden["ok"], false, "{forbidden}");
    assert_eq!(forbidden["error"]["code"], "forbidden", "{forbidden}");

    let granted = request(command(
        CommandId::new_random(),
        "patient",
        patient.to_string(),
    ))
    .await?;
    assert_eq!(granted["ok"], true, "{granted}");
    assert_eq!(granted["events"][0]["type"], "consent_granted", "{granted}");
    // The rejected command appended nothing: the grant is the log's first commit.
    assert_eq!(granted["position"], 1, "{granted}");

    let pool =
        carelog_projections::database::connect(database.url(), carelog_projections::LIVE_SCHEMA, 1)
            .await?;
    let therapist_view = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let entries = carelog_projections::timeline(
                &pool,
                carelog_projections::Reader::Therapist(therapist),
                patient,
                time::OffsetDateTime::now_utc(),
            )
            .await?;
            if !entries.is_empty() {
                return anyhow::Ok(entries);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .context("the grant did not reach the therapist's timeline within 30 s")??;
    assert_eq!(therapist_view.len(), 1);
    assert_eq!(therapist_view[0].kind, "consent_granted");
    assert_eq!(therapist_view[0].position, 1);
    pool.close().await;
    Ok(())
}

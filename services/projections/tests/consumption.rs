//! Consumption of the log: late events land in their place, garbage is parked and the events
//! after it applied, redeliveries are skipped, a projector killed mid-stream resumes from its
//! checkpoint with no duplicate and no missing row, and the lag is observable.

mod support;

use std::collections::BTreeSet;

use anyhow::Result;
use carelog_eventlog::AggregateKey;
use carelog_projections::{dead_letter, Projector, Reader};
use carelog_schemas::{Family, PartyId, PatientId, Role};
use serde_json::json;
use support::{actor, assert_same_models, at, event, kinds, patient_actor, read_models, Harness};
use uuid::Uuid;

fn mood(rating: u8) -> carelog_schemas::EventPayload {
    event(
        Family::Observation,
        "observation_recorded",
        json!({
            "observation_id": Uuid::new_v4(), "value": {"mood": rating}, "flags": [],
        }),
    )
}

/// Positions of the patient's event entries, in log order.
async fn projected_positions(harness: &Harness, patient: PatientId) -> Result<Vec<i64>> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT position FROM entries WHERE patient_id = $1 AND item = 'event' ORDER BY position",
    )
    .bind(patient.as_uuid())
    .fetch_all(&harness.pool)
    .await?;
    Ok(rows.into_iter().map(|(position,)| position).collect())
}

#[tokio::test]
async fn late_events_land_in_their_place_with_both_timestamps() -> Result<()> {
    let mut harness = Harness::running().await?;
    let patient = PatientId::new_random();
    let me = patient_actor(patient);
    let second = harness
        .append(patient, me, at("2026-03-04T08:00:00Z"), mood(5))
        .await?;
    let third = harness
        .append(patient, me, at("2026-03-05T08:00:00Z"), mood(6))
        .await?;
    // Recorded last, happened first: a clinic system sending yesterday's entry today.
    let first = harness
        .append(patient, me, at("2026-03-01T08:00:00Z"), mood(4))
        .await?;
    harness.caught_up().await?;

    let timeline = harness.timeline(Reader::Patient(patient), patient).await?;
    let positions: Vec<u64> = timeline.iter().map(|entry| entry.position).collect();
    assert_eq!(positions, [first, second, third]);
    let summaries: Vec<&str> = timeline
        .iter()
        .map(|entry| entry.summary.as_str())
        .collect();
    assert_eq!(summaries, ["Mood 4/10", "Mood 5/10", "Mood 6/10"]);
    let late = &timeline[0];
    assert!(late.recorded_at > late.occurred_at);
    assert!(late.recorded_at >= timeline[2].recorded_at, "recorded last");
    assert_eq!(late.detail["value"]["mood"], 4);
    Ok(())
}

#[tokio::test]
async fn garbage_is_parked_and_the_events_after_it_are_applied() -> Result<()> {
    let mut harness = Harness::running().await?;
    let patient = PatientId::new_random();
    let me = patient_actor(patient);
    let before = harness
        .append(patient, me, at("2026-03-04T08:00:00Z"), mood(5))
        .await?;
    let subject = AggregateKey::new(patient, Family::Observation).subject();
    let garbage = harness
        .log
        .jetstream()
        .publish(subject.clone(), "{\"not\": \"a commit\"}".into())
        .await?
        .await?
        .sequence;
    // The garbage is not on the aggregate's hash chain; a fresh aggregate keeps appending.
    let other = PatientId::new_random();
    let after = harness
        .append(
            other,
            patient_actor(other),
            at("2026-03-04T09:00:00Z"),
            mood(6),
        )
        .await?;
    harness.caught_up().await?;

    let parked = dead_letter::list(&harness.pool).await?;
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].position, garbage);
    assert_eq!(parked[0].subject, subject);
    assert_eq!(parked[0].payload, b"{\"not\": \"a commit\"}");
    assert!(
        parked[0].error.contains("not a valid commit"),
        "{}",
        parked[0].error
    );
    assert_eq!(dead_letter::count(&harness.pool).await?, 1);
    assert_eq!(
        projected_positions(&harness, patient).await?,
        [before as i64]
    );
    assert_eq!(projected_positions(&harness, other).await?, [after as i64]);
    Ok(())
}

#[tokio::test]
async fn a_commit_that_cannot_be_applied_is_parked_whole_and_the_rest_goes_on() -> Result<()> {
    let mut harness = Harness::running().await?;
    let patient = PatientId::new_random();
    let clinic = actor(Role::Clinic, PartyId::new_random());
    let course = json!({
        "course_id": Uuid::new_v4(), "clinic_id": clinic.party_id, "path": "ketamine",
        "prescriber_id": Uuid::new_v4(), "age_65_or_older": false,
    });
    let started = harness
        .append(
            patient,
            clinic,
            at("2026-03-02T09:00:00Z"),
            event(Family::Dose, "course_started", course.clone()),
        )
        .await?;
    // The same course id started twice: the command service would refuse it, the projection
    // must not crash on it either.
    let twice = harness
        .append(
            patient,
            clinic,
            at("2026-03-02T09:01:00Z"),
            event(Family::Dose, "course_started", course),
        )
        .await?;
    let later = harness
        .append(
            patient,
            patient_actor(patient),
            at("2026-03-03T08:00:00Z"),
            mood(7),
        )
        .await?;
    harness.caught_up().await?;

    let parked = dead_letter::list(&harness.pool).await?;
    let parked_positions: Vec<u64> = parked.iter().map(|letter| letter.position).collect();
    assert_eq!(parked_positions, [twice]);
    assert_eq!(
        projected_positions(&harness, patient).await?,
        [started as i64, later as i64]
    );

    // A rebuild reads the three commits as one batch: its set-based pass fails on the second
    // and the batch is applied again one commit at a time, parking that commit alone.
    let live = read_models(&harness.pool).await?;
    harness.stop_projector().await?;
    let outcome = harness.rebuild(64).await?;
    assert_eq!(outcome.parked, 1);
    assert_same_models(&live, &read_models(&harness.pool).await?, "live, rebuilt");
    Ok(())
}

#[tokio::test]
async fn redelivered_messages_are_skipped() -> Result<()> {
    let mut harness = Harness::running().await?;
    let patient = PatientId::new_random();
    for rating in 0..5 {
        harness
            .append(
                patient,
                patient_actor(patient),
                at("2026-03-04T08:00:00Z"),
                mood(rating),
            )
            .await?;
    }
    harness.caught_up().await?;
    let projector = Projector::connect(harness.config.clone(), harness.log.clone()).await?;
    let last = harness.log.last_position().await?;
    let outcome = projector.replay_range(1, last).await?;
    assert_eq!(
        (outcome.applied, outcome.skipped, outcome.checkpoint),
        (0, 5, last)
    );
    assert_eq!(projected_positions(&harness, patient).await?.len(), 5);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_killed_mid_stream_resumes_with_no_duplicate_and_no_gap() -> Result<()> {
    let mut harness = Harness::start().await?;
    harness.config.batch_size = 7;
    let patients: Vec<PatientId> = (0..3).map(|_| PatientId::new_random()).collect();
    let mut expected: Vec<BTreeSet<u64>> = vec![BTreeSet::new(); patients.len()];
    for round in 0..6 {
        harness.start_projector().await?;
        for step in 0..30u8 {
            let which = usize::from(step) % patients.len();
            let patient = patients[which];
            let position = harness
                .append(
                    patient,
                    patient_actor(patient),
                    at("2026-03-04T08:00:00Z"),
                    mood(step % 11),
                )
                .await?;
            expected[which].insert(position);
        }
        // Killed wherever it is: between batches, or with a batch's transaction open.
        if round % 2 == 0 {
            harness.kill_projector().await;
        } else {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            harness.kill_projector().await;
        }
    }
    harness.start_projector().await?;
    harness.caught_up().await?;

    assert!(dead_letter::list(&harness.pool).await?.is_empty());
    for (patient, expected) in patients.iter().zip(&expected) {
        let projected = projected_positions(&harness, *patient).await?;
        let projected: Vec<u64> = projected
            .into_iter()
            .map(|position| position as u64)
            .collect();
        assert_eq!(projected, expected.iter().copied().collect::<Vec<_>>());
        let timeline = harness
            .timeline(Reader::Patient(*patient), *patient)
            .await?;
        assert_eq!(timeline.len(), expected.len());
    }
    Ok(())
}

#[tokio::test]
async fn the_lag_is_the_checkpoint_beside_the_logs_last_position() -> Result<()> {
    let mut harness = Harness::start().await?;
    let patient = PatientId::new_random();
    for rating in 0..3 {
        harness
            .append(
                patient,
                patient_actor(patient),
                at("2026-03-04T08:00:00Z"),
                mood(rating),
            )
            .await?;
    }
    let lag = carelog_projections::lag(&harness.pool, &harness.log).await?;
    assert_eq!(
        (lag.applied_position, lag.log_position, lag.behind()),
        (0, 3, 3)
    );
    harness.start_projector().await?;
    harness.caught_up().await?;
    let lag = carelog_projections::lag(&harness.pool, &harness.log).await?;
    assert_eq!((lag.applied_position, lag.behind()), (3, 0));
    harness.stop_projector().await?;
    harness
        .append(
            patient,
            patient_actor(patient),
            at("2026-03-05T08:00:00Z"),
            mood(9),
        )
        .await?;
    let lag = carelog_projections::lag(&harness.pool, &harness.log).await?;
    assert_eq!(lag.behind(), 1);
    harness.start_projector().await?;
    harness.caught_up().await?;
    assert_eq!(
        kinds(&harness.timeline(Reader::Patient(patient), patient).await?).len(),
        4
    );
    Ok(())
}

#[tokio::test]
async fn an_event_applied_twice_fails_loudly_and_is_not_parked() -> Result<()> {
    let mut harness = Harness::start().await?;
    let patient = PatientId::new_random();
    let me = patient_actor(patient);
    let first = harness
        .append(patient, me, at("2026-03-04T08:00:00Z"), mood(5))
        .await?;
    let projector = Projector::connect(harness.config.clone(), harness.log.clone()).await?;
    projector.replay_range(1, first).await?;
    let second = harness
        .append(patient, me, at("2026-03-05T08:00:00Z"), mood(6))
        .await?;
    // The next event's entry is already there: applying it clashes on the entries' primary
    // key, exactly as applying it a second time would.
    sqlx::query(
        "INSERT INTO entries (patient_id, position, event_index, item, event_id, family, kind,
             reach, actor_role, actor_id, occurred_at, recorded_at, summary, detail)
         VALUES ($1, $2, 0, 'event', $3, 'observation', 'observation_recorded', 'record',
             'patient', $1, now(), now(), 'Mood 6/10', '{}')",
    )
    .bind(patient.as_uuid())
    .bind(i64::try_from(second)?)
    .bind(Uuid::new_v4())
    .execute(&harness.pool)
    .await?;

    let failed = projector.replay_range(second, second).await;
    assert!(failed.is_err(), "a double apply must fail, got {failed:?}");
    assert_eq!(
        dead_letter::count(&harness.pool).await?,
        0,
        "nothing parked"
    );
    let lag = carelog_projections::lag(&harness.pool, &harness.log).await?;
    assert_eq!(
        lag.applied_position, first,
        "the checkpoint stays before it"
    );

    // Once the clash is gone, the same position applies: it was retried, not skipped.
    sqlx::query("DELETE FROM entries WHERE position = $1")
        .bind(i64::try_from(second)?)
        .execute(&harness.pool)
        .await?;
    let outcome = projector.replay_range(second, second).await?;
    assert_eq!((outcome.applied, outcome.parked), (1, 0));
    assert_eq!(
        projected_positions(&harness, patient).await?,
        [first as i64, second as i64]
    );
    Ok(())
}

/// Everything written to the log output, for the test that reads it.
#[derive(Clone, Default)]
struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    fn text(&self) -> String {
        let bytes = self.0.lock().map(|bytes| bytes.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut bytes) = self.0.lock() {
            bytes.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_failure_is_logged_by_kind_and_action_without_its_message() -> Result<()> {
    // The current-thread runtime polls the projector on this thread, under this subscriber.
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    let mut harness = Harness::running().await?;
    let patient = PatientId::new_random();
    // A transient failure whose database message names what it failed on; a data error's
    // message would quote the patient's data the same way.
    sqlx::raw_sql("ALTER TABLE entries RENAME TO entries_away")
        .execute(&harness.pool)
        .await?;
    harness
        .append(
            patient,
            patient_actor(patient),
            at("2026-03-04T08:00:00Z"),
            mood(5),
        )
        .await?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !logs.text().contains("projection stopped") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failure logged: {}",
            logs.text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let text = logs.text();
    let line = text
        .lines()
        .find(|line| line.contains("projection stopped"))
        .unwrap_or_default();
    assert!(line.contains("kind=") && line.contains("action="), "{line}");
    assert!(
        !line.contains("\"entries\"") && !line.contains("does not exist"),
        "the log line quotes the database's message: {line}"
    );
    sqlx::raw_sql("ALTER TABLE entries_away RENAME TO entries")
        .execute(&harness.pool)
        .await?;
    harness.caught_up().await?;
    Ok(())
}

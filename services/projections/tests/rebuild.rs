//! `carelog projections rebuild`: the read models rebuilt from log position 1 into a fresh
//! schema equal the live ones row for row, the swap is one atomic step under the writers'
//! lock, and the running projector goes on in the swapped-in schema. And the property behind
//! it: any event sequence, projected live in random batches with redeliveries, gaps and
//! restarts, equals its rebuild from scratch.

mod support;

use std::time::Duration;

use anyhow::Result;
use carelog_projections::checkpoint::WRITER_LOCK_KEY;
use std::cell::RefCell;

use carelog_projections::{Projector, RebuildSettings};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use support::story::{step, Step, Story};
use support::{assert_same_models, models_difference, read_models, schemas, Harness};

/// A story touching every kind of read-model row: courses, doses and their derived items,
/// consents granted and revoked (backfills and deletions), alerts, corrections, dead letters.
fn story_steps() -> Vec<Step> {
    use Step::*;
    vec![
        StartCourse { patient: 0 },
        ScheduleDose { patient: 0 },
        AdministerDose {
            patient: 0,
            flagged: true,
        },
        Grant {
            patient: 0,
            therapist: 0,
            grantee_is_clinic: false,
            scopes: 0b111111,
        },
        Practice {
            patient: 0,
            easy: true,
        },
        Practice {
            patient: 0,
            easy: true,
        },
        Mood {
            patient: 0,
            rating: 6,
            late: true,
        },
        Garbage { patient: 1 },
        RedFlagSymptom { patient: 0 },
        ScheduleSession {
            patient: 0,
            therapist: 0,
        },
        Grant {
            patient: 0,
            therapist: 1,
            grantee_is_clinic: true,
            scopes: 0b100001,
        },
        CorrectLast { patient: 0 },
        Mood {
            patient: 1,
            rating: 2,
            late: false,
        },
        Revoke {
            patient: 0,
            which: 0,
        },
        StartCourse { patient: 1 },
        ScheduleDose { patient: 1 },
        AdministerDose {
            patient: 1,
            flagged: false,
        },
    ]
}

async fn tell(harness: &mut Harness, story: &mut Story, steps: &[Step]) -> Result<()> {
    for step in steps {
        story.apply(harness, step).await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_rebuild_equals_the_live_read_models_row_for_row() -> Result<()> {
    let mut harness = Harness::running().await?;
    let mut story = Story::new();
    tell(&mut harness, &mut story, &story_steps()).await?;
    harness.caught_up().await?;
    let live = read_models(&harness.pool).await?;
    assert!(live.iter().any(|row| row.starts_with("dead_letter")));
    let count = |kind: &str| live.iter().filter(|row| row.starts_with(kind)).count();
    assert!(count("entry ") > 15 && count("reader ") > 5, "{live:#?}");

    let outcome = harness.rebuild(4).await?;
    assert_eq!(outcome.checkpoint, outcome.replaced_checkpoint);
    assert_eq!(outcome.parked, 1);
    assert_same_models(&live, &read_models(&harness.pool).await?, "live, rebuilt");
    assert_eq!(schemas(&harness.pool).await?, ["projections"]);
    // Every reader's timeline through the public read, too.
    for patient in &story.patients {
        for reader in story.readers_of(*patient) {
            assert!(harness.timeline(reader, *patient).await.is_ok());
        }
    }
    Ok(())
}

#[tokio::test]
async fn the_running_projector_goes_on_in_the_swapped_in_schema() -> Result<()> {
    let mut harness = Harness::running().await?;
    let mut story = Story::new();
    let steps = story_steps();
    tell(&mut harness, &mut story, &steps[..8]).await?;
    harness.caught_up().await?;

    harness.rebuild(3).await?;
    // The projector was never stopped: what is appended now lands in the new schema.
    tell(&mut harness, &mut story, &steps[8..]).await?;
    harness.caught_up().await?;
    let live = read_models(&harness.pool).await?;
    harness.stop_projector().await?;

    harness.rebuild(64).await?;
    assert_same_models(&live, &read_models(&harness.pool).await?, "live, rebuilt");
    Ok(())
}

#[tokio::test]
async fn the_swap_waits_for_the_writers_lock_and_readers_see_old_or_new_never_a_mix() -> Result<()>
{
    let mut harness = Harness::running().await?;
    let mut story = Story::new();
    tell(&mut harness, &mut story, &story_steps()).await?;
    harness.caught_up().await?;
    harness.stop_projector().await?;
    let full = read_models(&harness.pool).await?;
    let full_seen = read_models_in(&mut *harness.pool.acquire().await?).await?;
    // Damage the live read models so that old and new can be told apart.
    sqlx::query("DELETE FROM entry_readers WHERE audience = 'therapist'")
        .execute(&harness.pool)
        .await?;
    let damaged = read_models(&harness.pool).await?;
    assert_ne!(damaged, full);
    let damaged_seen = read_models_in(&mut *harness.pool.acquire().await?).await?;

    // Hold the writers' lock as a live batch would: the rebuild may build, not swap.
    let mut writer = harness.pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(WRITER_LOCK_KEY)
        .execute(&mut *writer)
        .await?;
    let rebuild = {
        let url = harness.database.url().to_owned();
        let schema = harness.config.schema.clone();
        let log = harness.log.clone();
        tokio::spawn(async move {
            carelog_projections::rebuild(&url, &schema, &log, RebuildSettings::new(5), |_| {}).await
        })
    };
    // Readers keep seeing the live (damaged) models while the rebuild waits for the lock.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !schemas(&harness.pool)
        .await?
        .contains(&"projections_rebuild".to_owned())
        || rebuild_checkpoint(&harness).await? < Some(full_checkpoint(&full))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rebuild never caught up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!rebuild.is_finished(), "the swap did not wait for the lock");
    assert_same_models(
        &damaged,
        &read_models(&harness.pool).await?,
        "damaged, during rebuild",
    );

    // Readers during the swap: each read is the old models or the new ones, whole.
    let reader = {
        let pool = harness.pool.clone();
        let (damaged, full) = (damaged_seen, full_seen);
        tokio::spawn(async move {
            loop {
                let mut transaction = pool.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    .execute(&mut *transaction)
                    .await?;
                let seen = read_models_in(&mut transaction).await?;
                transaction.commit().await?;
                assert!(
                    seen == damaged || seen == full,
                    "a mix of old and new read models"
                );
                if seen == full {
                    return anyhow::Ok(());
                }
            }
        })
    };
    writer.commit().await?;
    rebuild.await??;
    tokio::time::timeout(Duration::from_secs(20), reader).await???;
    assert_same_models(
        &full,
        &read_models(&harness.pool).await?,
        "full, after rebuild",
    );
    assert_eq!(schemas(&harness.pool).await?, ["projections"]);
    Ok(())
}

async fn read_models_in(connection: &mut sqlx::PgConnection) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT (SELECT position FROM checkpoint)::text || ' ' || count(*)::text || ' '
                || coalesce(string_agg(r::text, '|' ORDER BY audience, viewer_id, patient_id,
                   position, event_index, item), '')
         FROM entry_readers r",
    )
    .fetch_all(&mut *connection)
    .await?;
    Ok(rows.into_iter().map(|(row,)| row).collect())
}

/// Read models written in the layout before migration 0004 (every reader a full copy of the
/// entry, in `timeline_entries`) come out of the migration exactly as the current code writes
/// them.
#[tokio::test]
async fn the_old_one_row_per_reader_layout_migrates_to_the_same_read_models() -> Result<()> {
    // A schema at migration 0003, holding the same read models in the old layout.
    let (_harness, _story, current, old) = story_in_schema_at_migration(3).await?;
    sqlx::raw_sql(
        "INSERT INTO projections_old.timeline_entries (audience, viewer_id, patient_id, position,
             event_index, item, event_id, family, kind, scope, basis, course_id, actor_role,
             actor_id, related_party, occurred_at, recorded_at, summary, detail, correction)
         SELECT 'auditor', '00000000-0000-0000-0000-000000000000', patient_id, position,
             event_index, item, event_id, family, kind, scope, 'role', course_id, actor_role,
             actor_id, related_party, occurred_at, recorded_at, summary, detail, correction
         FROM projections.entries
         UNION ALL
         SELECT 'patient', patient_id, patient_id, position, event_index, item, event_id,
             family, kind, scope, 'self', course_id, actor_role, actor_id, related_party,
             occurred_at, recorded_at, summary, detail, correction
         FROM projections.entries WHERE reach IN ('record', 'patient_only')
         UNION ALL
         SELECT 'clinic', clinic_id, patient_id, position, event_index, item, event_id,
             family, kind, scope, 'course', course_id, actor_role, actor_id, related_party,
             occurred_at, recorded_at, summary, detail, correction
         FROM projections.entries
         WHERE clinic_id IS NOT NULL AND reach IN ('record', 'clinic_alert')
         UNION ALL
         SELECT r.audience, r.viewer_id, t.patient_id, t.position, t.event_index, t.item,
             t.event_id, t.family, t.kind, t.scope, r.basis, t.course_id, t.actor_role,
             t.actor_id, t.related_party, t.occurred_at, t.recorded_at, t.summary, t.detail,
             t.correction
         FROM projections.entry_readers r JOIN projections.entries t
             USING (patient_id, position, event_index, item);",
    )
    .execute(&old)
    .await?;

    carelog_projections::MIGRATOR.run(&old).await?;
    assert_same_models(&current, &read_models(&old).await?, "migrated from 0003");
    let reaches: Vec<(String,)> =
        sqlx::query_as("SELECT DISTINCT reach FROM projections_old.entries ORDER BY 1")
            .fetch_all(&old)
            .await?;
    assert!(
        reaches.len() >= 3,
        "the story reaches every kind of reader: {reaches:?}"
    );
    Ok(())
}

/// Read models written before migration 0005, when an administered dose's integration window,
/// safety reminder and window suggestion were stored (with readers' rows), come out of the
/// migration as the current code writes them: those rows gone, the timelines made at read time.
#[tokio::test]
async fn stored_dose_items_go_with_migration_0005() -> Result<()> {
    let (harness, story, current, old) = story_in_schema_at_migration(4).await?;
    sqlx::raw_sql(
        "INSERT INTO projections_old.entries SELECT * FROM projections.entries;
         INSERT INTO projections_old.entry_readers SELECT * FROM projections.entry_readers;",
    )
    .execute(&old)
    .await?;
    let stored = sqlx::raw_sql(STORED_DOSE_ITEMS).execute(&old).await?;
    assert!(stored.rows_affected() > 0);
    let (derived_rows,): (i64,) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM projections_old.entries WHERE item <> 'event')
              + (SELECT count(*) FROM projections_old.entry_readers WHERE item LIKE '%window%')",
    )
    .fetch_one(&old)
    .await?;
    assert!(derived_rows >= 4, "the old layout holds stored dose items");

    carelog_projections::MIGRATOR.run(&old).await?;
    assert_same_models(&current, &read_models(&old).await?, "migrated from 0004");

    // A projector of the release before still running during an upgrade writes them again:
    // timelines ignore them and show the items made at read time, once.
    sqlx::raw_sql(STORED_DOSE_ITEMS).execute(&old).await?;
    let dose_items =
        timelines_read_alike(&harness, &story, &old, |item| item.contains("window")).await?;
    assert!(dose_items > 0, "the story's timelines show dose items");
    Ok(())
}

/// The dose items as the release before migration 0005 stored them, for every administered
/// dose: the window for the dose's readers, the reminder for none (patient and auditor read
/// entries), the suggestion for its therapists.
const STORED_DOSE_ITEMS: &str = "
    INSERT INTO projections_old.entries (patient_id, position, event_index, item, event_id,
        family, kind, scope, reach, course_id, clinic_id, actor_role, actor_id, related_party,
        occurred_at, recorded_at, summary, detail, correction)
    SELECT d.patient_id, d.position, d.event_index, i.item, d.event_id, d.family, i.item,
        d.scope, i.reach, d.course_id, CASE WHEN i.clinic THEN d.clinic_id END, d.actor_role,
        d.actor_id, d.related_party, d.occurred_at, d.recorded_at, i.item, '{}', d.correction
    FROM projections.entries d, (VALUES ('integration_window', 'record', true, true),
        ('safety_reminder', 'patient_only', false, false),
        ('suggestion:window_no_session', 'therapist_suggestion', false, true))
        AS i (item, reach, clinic, therapist)
    WHERE d.item = 'event' AND d.kind = 'dose_administered';
    INSERT INTO projections_old.entry_readers
    SELECT r.patient_id, r.audience, r.viewer_id, r.position, r.event_index, i.item, r.basis
    FROM projections.entry_readers r
        JOIN projections.entries d USING (patient_id, position, event_index, item),
        (VALUES ('integration_window', true, true),
            ('suggestion:window_no_session', false, true)) AS i (item, clinic, therapist)
    WHERE d.item = 'event' AND d.kind = 'dose_administered'
      AND ((r.audience = 'clinic' AND i.clinic) OR (r.audience = 'therapist' AND i.therapist));";

#[tokio::test]
async fn stored_next_dose_hints_go_with_migration_0006() -> Result<()> {
    let (harness, story, current, old) = story_in_schema_at_migration(5).await?;
    sqlx::raw_sql(
        "INSERT INTO projections_old.entries SELECT * FROM projections.entries;
         INSERT INTO projections_old.entry_readers SELECT * FROM projections.entry_readers;",
    )
    .execute(&old)
    .await?;
    let stored = sqlx::raw_sql(STORED_NEXT_DOSE_HINTS).execute(&old).await?;
    assert!(
        stored.rows_affected() > 0,
        "the old layout holds stored hints"
    );

    carelog_projections::MIGRATOR.run(&old).await?;
    assert_same_models(&current, &read_models(&old).await?, "migrated from 0005");

    // A projector of the release before still running during an upgrade writes them again:
    // timelines ignore them and show the hints made at read time, once.
    sqlx::raw_sql(STORED_NEXT_DOSE_HINTS).execute(&old).await?;
    let hints =
        timelines_read_alike(&harness, &story, &old, |item| item == "next_dose_due").await?;
    assert!(hints > 0, "the story's timelines show next-dose-due hints");
    Ok(())
}

/// Asserts that every reader of every patient of the story reads the same timeline from `old`
/// as from the harness's read models; returns how many entries of the items `counted` they show.
async fn timelines_read_alike(
    harness: &Harness,
    story: &Story,
    old: &sqlx::PgPool,
    counted: impl Fn(&str) -> bool,
) -> Result<usize> {
    let mut shown = 0;
    for patient in &story.patients {
        for reader in story.readers_of(*patient) {
            let now = time::OffsetDateTime::now_utc();
            let expected =
                carelog_projections::timeline(&harness.pool, reader, *patient, now).await?;
            let read = carelog_projections::timeline(old, reader, *patient, now).await?;
            assert_eq!(read, expected, "{reader:?}");
            shown += read.iter().filter(|entry| counted(&entry.item)).count();
        }
    }
    Ok(shown)
}

/// The next-dose-due hints as the release before migration 0006 stored them, one per
/// administered dose, for the dose's readers.
const STORED_NEXT_DOSE_HINTS: &str = "
    INSERT INTO projections_old.entries (patient_id, position, event_index, item, event_id,
        family, kind, scope, reach, course_id, clinic_id, actor_role, actor_id, related_party,
        occurred_at, recorded_at, summary, detail, correction)
    SELECT patient_id, position, event_index, 'next_dose_due', event_id, family,
        'next_dose_due', scope, reach, course_id, clinic_id, actor_role, actor_id,
        related_party, occurred_at + interval '2 days', recorded_at, 'Next dose due', '{}',
        correction
    FROM projections.entries WHERE item = 'event' AND kind = 'dose_administered';
    INSERT INTO projections_old.entry_readers
    SELECT r.patient_id, r.audience, r.viewer_id, r.position, r.event_index, 'next_dose_due',
        r.basis
    FROM projections.entry_readers r
        JOIN projections.entries d USING (patient_id, position, event_index, item)
    WHERE d.item = 'event' AND d.kind = 'dose_administered';";

/// The story told and projected (the projector stopped), its read models, and a pool on a
/// schema `projections_old` at migration `version` holding the same checkpoint, dead letters
/// and state tables (the caller writes the timelines in that version's layout).
async fn story_in_schema_at_migration(
    version: i64,
) -> Result<(Harness, Story, Vec<String>, sqlx::PgPool)> {
    let mut harness = Harness::running().await?;
    let mut story = Story::new();
    tell(&mut harness, &mut story, &story_steps()).await?;
    harness.caught_up().await?;
    harness.stop_projector().await?;
    let current = read_models(&harness.pool).await?;
    let options: sqlx::postgres::PgConnectOptions = harness.database.url().parse()?;
    sqlx::raw_sql("CREATE SCHEMA projections_old")
        .execute(&harness.pool)
        .await?;
    let old = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.options([("search_path", "projections_old")]))
        .await?;
    let mut up_to = sqlx::migrate::Migrator::DEFAULT;
    up_to.migrations = std::borrow::Cow::Owned(
        carelog_projections::MIGRATOR
            .iter()
            .filter(|migration| migration.version <= version)
            .cloned()
            .collect(),
    );
    up_to.run(&old).await?;
    sqlx::raw_sql(
        "DELETE FROM projections_old.checkpoint;
         INSERT INTO projections_old.checkpoint SELECT * FROM projections.checkpoint;
         INSERT INTO projections_old.dead_letters SELECT * FROM projections.dead_letters;
         INSERT INTO projections_old.courses SELECT * FROM projections.courses;
         INSERT INTO projections_old.doses SELECT * FROM projections.doses;
         INSERT INTO projections_old.consents SELECT * FROM projections.consents;
         INSERT INTO projections_old.sessions SELECT * FROM projections.sessions;",
    )
    .execute(&old)
    .await?;
    Ok((harness, story, current, old))
}

fn full_checkpoint(models: &[String]) -> i64 {
    models
        .iter()
        .find_map(|row| row.strip_prefix("checkpoint "))
        .and_then(|position| position.parse().ok())
        .unwrap_or(0)
}

async fn rebuild_checkpoint(harness: &Harness) -> Result<Option<i64>> {
    Ok(
        sqlx::query_as::<_, (i64,)>("SELECT position FROM projections_rebuild.checkpoint")
            .fetch_optional(&harness.pool)
            .await
            .ok()
            .flatten()
            .map(|(position,)| position),
    )
}

/// How the live projection receives the log, one delivery at a time: the projector's batch
/// size, how many new positions, how far back the delivery starts (redelivered messages), how
/// far ahead (positions the consumer skipped, which the batch must read from the log), and
/// whether the projector restarts first.
#[derive(Debug, Clone)]
struct Delivery {
    batch_size: usize,
    count: u64,
    back: u64,
    ahead: u64,
    restart: bool,
}

fn delivery() -> impl Strategy<Value = Delivery> {
    (1usize..6, 1u64..8, 0u64..4, 0u64..3, any::<bool>()).prop_map(
        |(batch_size, count, back, ahead, restart)| Delivery {
            batch_size,
            count,
            back,
            ahead,
            restart,
        },
    )
}

/// The invariant of the projections: a projection rebuilt from the log equals the one built
/// live, whatever the events and however they were delivered. One nats-server and one database
/// serve every case (reset between cases) to keep the test to seconds.
#[test]
fn any_log_projected_live_in_any_delivery_equals_its_rebuild() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let harness = RefCell::new(runtime.block_on(Harness::start())?);
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = (vec(step(), 1..30), vec(delivery(), 1..12), 1usize..9);
    let outcome = runner.run(&strategy, |(steps, deliveries, rebuild_batch)| {
        let mut harness = harness.borrow_mut();
        let difference = runtime
            .block_on(live_beside_rebuild(
                &mut harness,
                &steps,
                &deliveries,
                rebuild_batch,
            ))
            .map_err(|error| TestCaseError::fail(format!("{error:#}")))?;
        match difference {
            None => Ok(()),
            Some(difference) => Err(TestCaseError::fail(difference)),
        }
    });
    if let Err(error) = outcome {
        anyhow::bail!("{error}");
    }
    Ok(())
}

/// Projects `steps` live as `deliveries` say, rebuilds, and returns how the two differ.
async fn live_beside_rebuild(
    harness: &mut Harness,
    steps: &[Step],
    deliveries: &[Delivery],
    rebuild_batch: usize,
) -> Result<Option<String>> {
    harness.reset().await?;
    let mut story = Story::new();
    tell(harness, &mut story, steps).await?;
    let last = harness.log.last_position().await?;

    let mut projector: Option<Projector> = None;
    let mut applied = 0;
    for delivery in deliveries.iter().cycle() {
        if applied >= last {
            break;
        }
        if delivery.restart || projector.is_none() {
            let mut config = harness.config.clone();
            config.batch_size = delivery.batch_size;
            projector = Some(Projector::connect(config, harness.log.clone()).await?);
        }
        let Some(live) = &projector else {
            continue;
        };
        let until = (applied + delivery.ahead + delivery.count).min(last);
        let from = (applied + 1 + delivery.ahead)
            .saturating_sub(delivery.back)
            .clamp(1, until);
        live.replay_range(from, until).await?;
        applied = carelog_projections::lag(live.pool(), &harness.log)
            .await?
            .applied_position;
    }
    drop(projector);
    let live = read_models(&harness.pool).await?;
    harness.rebuild(rebuild_batch).await?;
    let rebuilt = read_models(&harness.pool).await?;
    Ok(models_difference(&live, &rebuilt))
}

//! Test harness of the projections: a private nats-server, a fresh PostgreSQL database, the
//! care log, a projector that can be started, stopped and killed, and an event writer.

#![allow(dead_code, unreachable_pub)]

pub mod story;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use carelog_eventlog::{AggregateHead, AggregateKey, AppendOutcome, CareLog, CareLogConfig};
use carelog_projections::{ProjectionConfig, Projector, Reader, TimelineEntry};
use carelog_schemas::{
    Actor, CommandId, CommitDraft, CommitId, CorrelationId, EventId, EventPayload, EventRecord,
    Family, PartyId, PatientId, Role, Timestamp,
};
use carelog_testkit::{NatsServer, TestDatabase};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const CAUGHT_UP_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Harness {
    pub nats: NatsServer,
    pub database: TestDatabase,
    pub log: CareLog,
    pub config: ProjectionConfig,
    pub pool: PgPool,
    projector: Option<(JoinHandle<()>, oneshot::Sender<()>)>,
    heads: BTreeMap<AggregateKey, AggregateHead>,
    /// The event id of the last event appended.
    pub last_event_id: Option<uuid::Uuid>,
}

impl Harness {
    /// Servers, log and schema; the projector is not running yet.
    pub async fn start() -> Result<Harness> {
        let nats = NatsServer::start().await?;
        let database = TestDatabase::create().await?;
        let log = CareLog::connect(nats.client().await?, CareLogConfig::default())
            .await
            .context("set up the care stream")?;
        let mut config = ProjectionConfig::new(database.url());
        config.retry_pause = Duration::from_millis(100);
        let pool = carelog_projections::database::connect(database.url(), &config.schema, 2)
            .await
            .context("connect the test's pool")?;
        Ok(Harness {
            nats,
            database,
            log,
            config,
            pool,
            projector: None,
            heads: BTreeMap::new(),
            last_event_id: None,
        })
    }

    /// Starts over on the same servers: an empty care stream and no read models (the
    /// projector must be stopped). Lets a property test run many cases on one server.
    pub async fn reset(&mut self) -> Result<()> {
        self.pool.close().await;
        let stream_name = self.log.config().stream_name.clone();
        self.log
            .jetstream()
            .delete_stream(&stream_name)
            .await
            .context("delete the care stream")?;
        self.log = CareLog::connect(self.nats.client().await?, CareLogConfig::default())
            .await
            .context("set up the care stream again")?;
        let mut setup = <sqlx::PgConnection as sqlx::Connection>::connect(self.database.url())
            .await
            .context("connect to drop the read models")?;
        sqlx::raw_sql(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            self.config.schema
        ))
        .execute(&mut setup)
        .await?;
        drop(setup);
        self.pool =
            carelog_projections::database::connect(self.database.url(), &self.config.schema, 2)
                .await
                .context("connect the test's pool")?;
        self.heads.clear();
        Ok(())
    }

    /// The harness with its projector running.
    pub async fn running() -> Result<Harness> {
        let mut harness = Harness::start().await?;
        harness.start_projector().await?;
        Ok(harness)
    }

    pub async fn start_projector(&mut self) -> Result<()> {
        let projector = Projector::connect(self.config.clone(), self.log.clone()).await?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(error) = projector.run(shutdown).await {
                panic!("projector failed: {error}");
            }
        });
        self.projector = Some((task, stop));
        Ok(())
    }

    /// Stops the projector at its next await point, as a graceful shutdown does.
    pub async fn stop_projector(&mut self) -> Result<()> {
        if let Some((task, stop)) = self.projector.take() {
            let _ = stop.send(());
            task.await.context("projector task")?;
        }
        Ok(())
    }

    /// Kills the projector wherever it is (mid-batch included): its open transaction is
    /// rolled back, its messages unacknowledged.
    pub async fn kill_projector(&mut self) {
        if let Some((task, _stop)) = self.projector.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Waits until the projection has applied everything the log holds.
    pub async fn caught_up(&self) -> Result<()> {
        let deadline = tokio::time::Instant::now() + CAUGHT_UP_TIMEOUT;
        loop {
            let lag = carelog_projections::lag(&self.pool, &self.log).await?;
            if lag.behind() == 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("the projection did not catch up: {lag:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Appends one event as `actor`; returns its log position.
    pub async fn append(
        &mut self,
        patient_id: PatientId,
        actor: Actor,
        occurred_at: Timestamp,
        payload: EventPayload,
    ) -> Result<u64> {
        let family = payload.family();
        let event_id = EventId::now_v7();
        self.last_event_id = Some(*event_id.as_uuid());
        let key = AggregateKey::new(patient_id, family);
        let head = self
            .heads
            .get(&key)
            .copied()
            .unwrap_or(AggregateHead::EMPTY);
        let draft = CommitDraft {
            commit_id: CommitId::new_random(),
            command_id: CommandId::new_random(),
            correlation_id: CorrelationId::new_random(),
            patient_id,
            family,
            actor,
            events: vec![EventRecord {
                event_id,
                occurred_at,
                payload,
            }],
        };
        match self.log.append(draft, head).await? {
            AppendOutcome::Appended(appended) => {
                self.heads.insert(key, appended.head());
                Ok(appended.position)
            }
            AppendOutcome::Duplicate { position } => bail!("unexpected duplicate at {position}"),
        }
    }

    pub async fn timeline(
        &self,
        reader: Reader,
        patient_id: PatientId,
    ) -> Result<Vec<TimelineEntry>> {
        Ok(carelog_projections::timeline(
            &self.pool,
            reader,
            patient_id,
            time::OffsetDateTime::now_utc(),
        )
        .await?)
    }

    pub async fn timeline_at(
        &self,
        reader: Reader,
        patient_id: PatientId,
        now: time::OffsetDateTime,
    ) -> Result<Vec<TimelineEntry>> {
        Ok(carelog_projections::timeline(&self.pool, reader, patient_id, now).await?)
    }
}

/// An event from its JSON form (domain §3 field names), checked like any API input.
pub fn event(family: Family, event_type: &str, data: Value) -> EventPayload {
    EventPayload::from_json_parts(family, event_type, 1, data)
        .unwrap_or_else(|error| panic!("test event {event_type}: {error}"))
}

/// A `course_started` of `clinic` on `path` (`spravato`, `ketamine`), by an adult's prescriber.
pub fn course_started(course_id: uuid::Uuid, clinic: PartyId, path: &str) -> EventPayload {
    event(
        Family::Dose,
        "course_started",
        serde_json::json!({
            "course_id": course_id, "clinic_id": clinic, "path": path,
            "prescriber_id": uuid::Uuid::new_v4(), "age_65_or_older": false,
        }),
    )
}

pub fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap_or_else(|error| panic!("test time {text}: {error}"))
}

pub fn actor(role: Role, party_id: PartyId) -> Actor {
    Actor { role, party_id }
}

/// The patient acting for itself: its party id is its patient id.
pub fn patient_actor(patient_id: PatientId) -> Actor {
    let party = PartyId::try_from(*patient_id.as_uuid()).unwrap_or_else(|_| PartyId::new_random());
    actor(Role::Patient, party)
}

/// `kind` of each entry, with the item for derived ones, in timeline order.
pub fn kinds(entries: &[TimelineEntry]) -> Vec<String> {
    entries.iter().map(|entry| entry.kind.clone()).collect()
}

/// Every row of every read model, as text, in a fixed order: what "the rebuilt read models
/// equal the live ones" compares. Leaves out only the wall-clock columns (`updated_at`,
/// `parked_at`).
pub async fn read_models(pool: &PgPool) -> Result<Vec<String>> {
    let queries = [
        "SELECT 'checkpoint ' || position::text FROM checkpoint",
        "SELECT 'entry ' || t::text FROM entries t
         ORDER BY patient_id, position, event_index, item",
        "SELECT 'reader ' || r::text FROM entry_readers r
         ORDER BY patient_id, audience, viewer_id, position, event_index, item",
        "SELECT 'consent ' || c::text FROM consents c ORDER BY consent_id",
        "SELECT 'course ' || c::text FROM courses c ORDER BY course_id",
        "SELECT 'dose ' || d::text FROM doses d ORDER BY dose_id",
        "SELECT 'session ' || s::text FROM sessions s ORDER BY patient_id, event_id",
        "SELECT 'dead_letter ' || concat_ws(' ', position, subject, error, encode(payload, 'hex'))
         FROM dead_letters ORDER BY position",
    ];
    let mut rows = Vec::new();
    for query in queries {
        let found: Vec<(String,)> = sqlx::query_as(query).fetch_all(pool).await?;
        rows.extend(found.into_iter().map(|(row,)| row));
    }
    Ok(rows)
}

/// The schemas of the test's database, by name.
pub async fn schemas(pool: &PgPool) -> Result<Vec<String>> {
    let found: Vec<(String,)> = sqlx::query_as(
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'projections%' ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    Ok(found.into_iter().map(|(name,)| name).collect())
}

impl Harness {
    /// Stops the projector, rebuilds the read models in batches of `batch_size` commits, and
    /// asserts they equal what the live projection had built.
    pub async fn assert_rebuild_equals_live(&mut self, batch_size: usize) -> Result<()> {
        let live = read_models(&self.pool).await?;
        self.stop_projector().await?;
        self.rebuild(batch_size).await?;
        assert_same_models(&live, &read_models(&self.pool).await?, "rebuilt");
        Ok(())
    }

    /// Rebuilds the read models and swaps them in, as `carelog projections rebuild` does.
    pub async fn rebuild(&self, batch_size: usize) -> Result<carelog_projections::RebuildOutcome> {
        Ok(carelog_projections::rebuild(
            self.database.url(),
            &self.config.schema,
            &self.log,
            carelog_projections::RebuildSettings::new(batch_size),
            |_| {},
        )
        .await?)
    }
}

/// Asserts two read-model snapshots are equal, showing only the rows that differ.
pub fn assert_same_models(left: &[String], right: &[String], what: &str) {
    if let Some(difference) = models_difference(left, right) {
        panic!("{what}: {difference}");
    }
}

/// The rows that differ between two read-model snapshots, if any.
pub fn models_difference(left: &[String], right: &[String]) -> Option<String> {
    if left == right {
        return None;
    }
    let only_left: Vec<&str> = left
        .iter()
        .filter(|row| !right.contains(row))
        .map(String::as_str)
        .collect();
    let only_right: Vec<&str> = right
        .iter()
        .filter(|row| !left.contains(row))
        .map(String::as_str)
        .collect();
    Some(format!(
        "{} rows beside {}\nonly in the first:\n{}\nonly in the second:\n{}",
        left.len(),
        right.len(),
        only_left.join("\n"),
        only_right.join("\n"),
    ))
}

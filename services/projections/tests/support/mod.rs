//! Test harness of the projections: a private nats-server, a fresh PostgreSQL database, the
//! care log, a projector that can be started, stopped and killed, and an event writer.

#![allow(dead_code, unreachable_pub)]

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
        })
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
                event_id: EventId::now_v7(),
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

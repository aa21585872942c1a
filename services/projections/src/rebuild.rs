//! Rebuilding the read models from the log: every read model is built again from log position 1
//! into a fresh schema (`<live>_rebuild`) while the live one keeps serving, then swapped in by
//! renaming both schemas in one transaction.
//!
//! How the live projector keeps working across the swap: the swap transaction takes the
//! writers' advisory lock (the one every live batch and sweep takes as its first statement), so
//! no live batch is in flight while the schemas are renamed. Under that lock the rebuild first
//! applies whatever the live projection applied since the rebuild last caught up, up to the live
//! checkpoint, so **the swapped-in checkpoint is never behind the live one**: the projector's
//! durable consumer stays in step and the next batch it commits lands in the swapped-in schema
//! (its pool names the schema in `search_path`, which PostgreSQL resolves again after a schema
//! rename, cached plans included). When the live projector was stopped and the rebuild read
//! further than it, the swapped-in checkpoint is ahead; redeliveries at or below it are skipped
//! and the projector repositions its consumer at the next start, as after any restore.
//!
//! Only one rebuild runs at a time (a session advisory lock); a rebuild that died leaves its
//! schema behind, and the next one drops it first.

use carelog_eventlog::{CareLog, CommitStream};
use futures::StreamExt;
use sqlx::{Connection as _, PgConnection, PgPool, Postgres, Transaction};

use crate::batch::{apply_in_transaction, apply_partition, Incoming};
use crate::database::{check_schema_name, from_db_position};
use crate::state::StateCache;
use crate::{checkpoint, sweep, ProjectionError};

/// Key of the session advisory lock held by a running rebuild ("rebuild" in ASCII).
const REBUILD_LOCK_KEY: i64 = 0x0072_6562_7569_6c64;

/// Where a rebuild stands, reported after every batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildProgress {
    /// How far the rebuild has got: the furthest position a worker has applied (the workers
    /// share the patients, so a few positions before it may still be on their way).
    pub checkpoint: u64,
    /// The log position the current phase reads up to.
    pub target: u64,
    /// Events applied so far (a commit holds one or more).
    pub events: u64,
}

/// Passes over the log before the swap; more only chase a log that grows as fast as we read.
const MAX_UNLOCKED_PASSES: usize = 8;

/// What a finished rebuild did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildOutcome {
    /// The checkpoint of the schema now serving.
    pub checkpoint: u64,
    /// The live checkpoint just before the swap.
    pub replaced_checkpoint: u64,
    pub events: u64,
    /// Messages parked again in the dead-letter table.
    pub parked: u64,
}

/// Names of the schemas a rebuild of `live` uses.
fn schema_names(live: &str) -> Result<(String, String), ProjectionError> {
    check_schema_name(live)?;
    let rebuilding = format!("{live}_rebuild");
    let retired = format!("{live}_retired");
    check_schema_name(&rebuilding)?;
    check_schema_name(&retired)?;
    Ok((rebuilding, retired))
}

/// Commits per transaction of a rebuild's worker, by default. Large, because a batch's rows are
/// written in key order (`state.rs`): the more rows a batch holds of each of its patients, the
/// fewer places of the B-trees each `COPY` touches (512 → 4,096 took the 1,000,000-event
/// benchmark from about 36,000 to about 58,000 events/s; BENCHMARKS.md).
pub const REBUILD_BATCH_SIZE: usize = 4_096;

/// How a rebuild runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildSettings {
    /// Commits per transaction.
    pub batch_size: usize,
    /// Workers applying the log side by side, each for its share of the patients, each on a
    /// connection of its own.
    pub workers: usize,
}

impl RebuildSettings {
    /// `batch_size` commits per transaction, two workers per core (while one decides its
    /// batch, the database writes another's: one per core left a tenth of two cores idle in
    /// the benchmark), at most eight.
    pub fn new(batch_size: usize) -> RebuildSettings {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        RebuildSettings {
            batch_size,
            workers: (2 * cores).clamp(2, 8),
        }
    }
}

/// Rebuilds every read model of `live_schema` from the log and swaps the result in.
/// `progress` is called after every batch.
pub async fn rebuild(
    database_url: &str,
    live_schema: &str,
    care_log: &CareLog,
    settings: RebuildSettings,
    mut progress: impl FnMut(RebuildProgress),
) -> Result<RebuildOutcome, ProjectionError> {
    let (rebuilding, retired) = schema_names(live_schema)?;
    let settings = RebuildSettings {
        batch_size: settings.batch_size.max(1),
        workers: settings.workers.max(1),
    };
    let batch_size = settings.batch_size;
    let mut guard =
        PgConnection::connect(database_url)
            .await
            .map_err(ProjectionError::database(
                "connect to PostgreSQL for the rebuild",
            ))?;
    let (locked,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
        .bind(REBUILD_LOCK_KEY)
        .fetch_one(&mut guard)
        .await
        .map_err(ProjectionError::database("take the rebuild lock"))?;
    if !locked {
        return Err(ProjectionError::RebuildRunning);
    }
    for leftover in [&rebuilding, &retired] {
        execute(
            &mut guard,
            &format!("DROP SCHEMA IF EXISTS {leftover} CASCADE"),
        )
        .await
        .map_err(ProjectionError::database(
            "drop what an earlier rebuild left behind",
        ))?;
    }
    // The live schema must exist to be swapped out (a first start may not have made it yet).
    crate::database::connect(database_url, live_schema, 1)
        .await?
        .close()
        .await;
    let connections = u32::try_from(settings.workers + 1).unwrap_or(u32::MAX);
    let pool = crate::database::connect(database_url, &rebuilding, connections).await?;
    tracing::info!(schema = %rebuilding, "rebuilding the read models from the care log");

    let mut state = Rebuilt::default();
    // Bulk, then catch-ups with what arrived meanwhile, all without the writers' lock (nothing
    // else writes the rebuilt schema), until what is left fits one batch: the part applied
    // under the lock, while live writers wait, stays short.
    for _pass in 0..MAX_UNLOCKED_PASSES {
        let target = care_log.last_position().await?;
        if target.saturating_sub(state.checkpoint) <= batch_size as u64 && state.checkpoint > 0 {
            break;
        }
        state
            .apply_unlocked(&pool, care_log, target, settings, &mut progress)
            .await?;
    }

    let mut transaction = pool
        .begin()
        .await
        .map_err(ProjectionError::database("begin the rebuild's swap"))?;
    checkpoint::lock_writers(&mut transaction).await?;
    let live_checkpoint = format!("SELECT position FROM {live_schema}.checkpoint");
    let (live_position,): (i64,) = sqlx::query_as(&live_checkpoint)
        .fetch_one(&mut *transaction)
        .await
        .map_err(ProjectionError::database("read the live checkpoint"))?;
    let replaced_checkpoint = from_db_position(live_position);
    if replaced_checkpoint > state.checkpoint {
        state
            .apply_locked(
                &mut transaction,
                care_log,
                replaced_checkpoint,
                &mut progress,
            )
            .await?;
    }
    sweep::sweep_in(&mut transaction, time::OffsetDateTime::now_utc()).await?;
    for rename in [
        format!("ALTER SCHEMA {live_schema} RENAME TO {retired}"),
        format!("ALTER SCHEMA {rebuilding} RENAME TO {live_schema}"),
    ] {
        execute(&mut transaction, &rename)
            .await
            .map_err(ProjectionError::database("swap the rebuilt schema in"))?;
    }
    transaction
        .commit()
        .await
        .map_err(ProjectionError::database("commit the rebuild's swap"))?;
    pool.close().await;
    tracing::info!(
        checkpoint = state.checkpoint,
        replaced_checkpoint,
        events = state.events,
        "rebuilt read models swapped in"
    );

    execute(
        &mut guard,
        &format!("DROP SCHEMA IF EXISTS {retired} CASCADE"),
    )
    .await
    .map_err(ProjectionError::database("drop the retired read models"))?;
    let _ = guard.close().await;
    Ok(RebuildOutcome {
        checkpoint: state.checkpoint,
        replaced_checkpoint,
        events: state.events,
        parked: state.parked,
    })
}

/// One statement of DDL. `sqlx::query`, not `raw_sql`: a `raw_sql` future is not `Send` for
/// every lifetime, and the rebuild must be spawnable.
async fn execute(connection: &mut PgConnection, statement: &str) -> Result<(), sqlx::Error> {
    sqlx::query(statement)
        .persistent(false)
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// The rebuild's running totals.
#[derive(Debug, Default)]
struct Rebuilt {
    checkpoint: u64,
    events: u64,
    parked: u64,
}

impl Rebuilt {
    /// Applies the log after the checkpoint up to `target` without the writers' lock, all read
    /// from one stream (a reader per batch would leave a consumer behind on the server for
    /// each; they expire only after 30 s). The commits are dealt out to `workers` workers by
    /// patient, each applying its share in log order, one transaction per batch, on a
    /// connection of its own: every read model is per patient (state, entries, readers' rows),
    /// so the patients' shares are independent and the result is the same as applying the log
    /// in one line. While one worker decides its batch, the database writes another's. The
    /// checkpoint is written once every worker is done.
    async fn apply_unlocked(
        &mut self,
        pool: &PgPool,
        care_log: &CareLog,
        target: u64,
        settings: RebuildSettings,
        progress: &mut impl FnMut(RebuildProgress),
    ) -> Result<(), ProjectionError> {
        if self.checkpoint >= target {
            return Ok(());
        }
        let reads = care_log.read_range(self.checkpoint + 1, target).await?;
        let (done_sender, mut done) =
            tokio::sync::mpsc::unbounded_channel::<(u64, crate::BatchOutcome)>();
        let mut senders = Vec::with_capacity(settings.workers);
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..settings.workers {
            // Two batches queued per worker: reading and decoding stay ahead of the database.
            let (sender, batches) = tokio::sync::mpsc::channel::<Vec<Incoming>>(2);
            senders.push(sender);
            workers.spawn(work(
                pool.clone(),
                care_log.clone(),
                batches,
                done_sender.clone(),
            ));
        }
        drop(done_sender);
        let reader = AbortOnDrop::new(tokio::spawn(deal(reads, settings.batch_size, senders)));
        let mut furthest = self.checkpoint;
        while let Some((events, outcome)) = done.recv().await {
            self.events += events;
            self.parked += outcome.parked;
            furthest = furthest.max(outcome.checkpoint);
            progress(RebuildProgress {
                checkpoint: furthest,
                target,
                events: self.events,
            });
        }
        // Every worker has stopped: the first failure, if any, is the rebuild's.
        while let Some(finished) = workers.join_next().await {
            finished.map_err(|error| ProjectionError::Consumer {
                action: "run a rebuild worker",
                reason: error.to_string(),
            })??;
        }
        let last_read = reader
            .join()
            .await
            .map_err(|error| ProjectionError::Consumer {
                action: "read the log for the rebuild",
                reason: error.to_string(),
            })?
            .unwrap_or_default();
        if last_read > self.checkpoint {
            let mut connection = pool
                .acquire()
                .await
                .map_err(ProjectionError::database("write the rebuild's checkpoint"))?;
            checkpoint::write(&mut connection, last_read).await?;
            self.checkpoint = last_read;
        }
        Ok(())
    }

    /// Applies what is left up to `until` inside the caller's transaction (which holds the
    /// writers' lock), in one read and one batch.
    async fn apply_locked(
        &mut self,
        transaction: &mut Transaction<'_, Postgres>,
        care_log: &CareLog,
        until: u64,
        progress: &mut impl FnMut(RebuildProgress),
    ) -> Result<(), ProjectionError> {
        let reads = care_log.read_range(self.checkpoint + 1, until).await?;
        let incoming: Vec<Incoming> = reads.map(Incoming::Read).collect().await;
        let events = events_in(&incoming);
        let outcome = apply_in_transaction(transaction, care_log, incoming).await?;
        self.checkpoint = outcome.checkpoint;
        self.parked += outcome.parked;
        self.events += events;
        progress(RebuildProgress {
            checkpoint: self.checkpoint,
            target: until,
            events: self.events,
        });
        Ok(())
    }
}

/// The events of the commits read (for the progress report).
fn events_in(incoming: &[Incoming]) -> u64 {
    incoming
        .iter()
        .map(|item| match item {
            Incoming::Read(Ok(stored)) => stored.commit.events().len() as u64,
            _ => 0,
        })
        .sum()
}

/// Deals the commits of `reads` out to the workers by patient, in batches of `batch_size`, until
/// the reads end or a worker is gone; returns the last position read. A message that could not
/// be read as a commit goes to the first worker, which parks it (or fails the rebuild when it
/// has no position).
async fn deal(
    mut reads: CommitStream,
    batch_size: usize,
    workers: Vec<tokio::sync::mpsc::Sender<Vec<Incoming>>>,
) -> u64 {
    let mut batches: Vec<Vec<Incoming>> = workers.iter().map(|_| Vec::new()).collect();
    let mut last = 0;
    while let Some(read) = reads.next().await {
        let worker = match &read {
            Ok(stored) => {
                last = stored.position;
                worker_of(stored.key.patient_id.as_uuid(), workers.len())
            }
            Err(error) => {
                last = error.position().unwrap_or(last);
                0
            }
        };
        batches[worker].push(Incoming::Read(read));
        if batches[worker].len() >= batch_size {
            let batch = std::mem::take(&mut batches[worker]);
            if workers[worker].send(batch).await.is_err() {
                return last;
            }
        }
    }
    for (worker, batch) in workers.iter().zip(batches) {
        if !batch.is_empty() && worker.send(batch).await.is_err() {
            return last;
        }
    }
    last
}

/// The worker a patient's commits go to: from the UUID's last eight bytes, random in both v4
/// and v7 ids.
fn worker_of(patient: &uuid::Uuid, workers: usize) -> usize {
    let bytes = patient.as_bytes();
    let mut low = [0u8; 8];
    low.copy_from_slice(&bytes[8..]);
    (u64::from_le_bytes(low) % workers.max(1) as u64) as usize
}

/// One rebuild worker: applies the batches it is dealt, one transaction each, and reports
/// each batch's events and outcome.
async fn work(
    pool: PgPool,
    care_log: CareLog,
    mut batches: tokio::sync::mpsc::Receiver<Vec<Incoming>>,
    done: tokio::sync::mpsc::UnboundedSender<(u64, crate::BatchOutcome)>,
) -> Result<(), ProjectionError> {
    // This worker alone writes its patients' rows: their state can stay in memory between
    // batches (dropped whenever a batch fails).
    let mut cache = StateCache::default();
    while let Some(incoming) = batches.recv().await {
        let events = events_in(&incoming);
        let mut transaction = pool
            .begin()
            .await
            .map_err(ProjectionError::database("begin a rebuild batch"))?;
        let outcome = apply_partition(&mut transaction, &care_log, incoming, &mut cache).await?;
        transaction
            .commit()
            .await
            .map_err(ProjectionError::database("commit a rebuild batch"))?;
        let _ = done.send((events, outcome));
    }
    Ok(())
}

/// Stops a task when its handle is dropped (an error return included).
struct AbortOnDrop<T>(Option<tokio::task::JoinHandle<T>>);

impl<T> AbortOnDrop<T> {
    fn new(task: tokio::task::JoinHandle<T>) -> AbortOnDrop<T> {
        AbortOnDrop(Some(task))
    }

    /// Waits for the task to end.
    async fn join(mut self) -> Result<Option<T>, tokio::task::JoinError> {
        match self.0.take() {
            Some(task) => task.await.map(Some),
            None => Ok(None),
        }
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_follow_the_live_schema() {
        let (rebuilding, retired) = schema_names("projections").expect("valid");
        assert_eq!(rebuilding, "projections_rebuild");
        assert_eq!(retired, "projections_retired");
        assert!(schema_names("Projections; DROP").is_err());
        assert!(schema_names(&"p".repeat(48)).is_err());
    }
}

//! One batch: many log messages applied in one PostgreSQL transaction, the checkpoint written
//! in the same transaction. Messages at or below the checkpoint are skipped (a redelivery); a
//! message past the next position is preceded by the missing range read from the log (never a
//! silent skip); a message that cannot be decoded or applied is parked, and the batch goes on.
//! The batch is applied set-based (`state.rs`); see `apply_in_transaction`.

use bytes::Bytes;
use carelog_eventlog::{CareLog, ReadError, StoredCommit};
use futures::StreamExt;
use sqlx::{Acquire as _, PgConnection, PgPool, Postgres, Transaction};

use crate::apply::{apply_commit, wants};
use crate::state::{BatchState, StateCache, Wanted};
use crate::{checkpoint, dead_letter, ProjectionError};

/// A message of the care log on its way into the read models.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// As delivered by the durable consumer: decoded here.
    Message {
        position: u64,
        subject: String,
        payload: Bytes,
    },
    /// As read by a replay (`read_range`): already decoded, or the reason it could not be.
    Read(Result<StoredCommit, ReadError>),
}

/// What a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// The checkpoint after the batch.
    pub checkpoint: u64,
    pub applied: u64,
    pub parked: u64,
    /// Redeliveries at or below the checkpoint.
    pub skipped: u64,
}

/// Applies `incoming` in one transaction and commits it with the new checkpoint.
pub(crate) async fn apply_batch(
    pool: &PgPool,
    care_log: &CareLog,
    incoming: Vec<Incoming>,
) -> Result<BatchOutcome, ProjectionError> {
    let mut transaction = pool
        .begin()
        .await
        .map_err(ProjectionError::database("begin a projection batch"))?;
    checkpoint::lock_writers(&mut transaction).await?;
    let outcome = apply_in_transaction(&mut transaction, care_log, incoming).await?;
    transaction
        .commit()
        .await
        .map_err(ProjectionError::database("commit a projection batch"))?;
    Ok(outcome)
}

/// Applies `incoming` inside the caller's transaction (which holds whatever lock its schema
/// needs) and writes the new checkpoint there; the caller commits.
///
/// First the messages are put in order: redeliveries skipped, missing positions read from the
/// log, each message decoded or marked for parking. Then the whole batch is applied at once from
/// one load of its patients' state (`state.rs`) under one savepoint. Only when that fails
/// because of one commit's data (a value or a constraint) is the batch applied again one commit
/// at a time, each under a savepoint of its own, so that commit alone is parked.
pub(crate) async fn apply_in_transaction(
    transaction: &mut Transaction<'_, Postgres>,
    care_log: &CareLog,
    incoming: Vec<Incoming>,
) -> Result<BatchOutcome, ProjectionError> {
    let start = checkpoint::read(transaction).await?;
    let mut outcome = BatchOutcome {
        checkpoint: start,
        ..BatchOutcome::default()
    };
    let mut prepared = Vec::with_capacity(incoming.len());
    let mut next = start + 1;
    for item in incoming {
        let position = match &item {
            Incoming::Message { position, .. } => *position,
            Incoming::Read(Ok(stored)) => stored.position,
            Incoming::Read(Err(error)) => match error.position() {
                Some(position) => position,
                None => return Err(ProjectionError::Log(clone_read_error(error))),
            },
        };
        if position < next {
            outcome.skipped += 1;
            continue;
        }
        if position > next {
            read_gap(care_log, next, position - 1, &mut prepared).await?;
        }
        prepared.push(prepare(with_raw_payload(care_log, item).await?));
        next = position + 1;
    }
    apply_prepared(transaction, &mut outcome, prepared, None).await?;
    if outcome.checkpoint > start {
        checkpoint::write(transaction, outcome.checkpoint).await?;
    }
    Ok(outcome)
}

/// Applies messages of the log that need no ordering against a checkpoint: a rebuild's worker
/// gets every position of its patients exactly once, in log order, and writes no checkpoint
/// (the rebuild writes it when every worker is done). Parks as `apply_in_transaction` does.
/// `cache` carries the worker's patients' state from batch to batch (`StateCache`).
pub(crate) async fn apply_partition(
    transaction: &mut Transaction<'_, Postgres>,
    care_log: &CareLog,
    incoming: Vec<Incoming>,
    cache: &mut StateCache,
) -> Result<BatchOutcome, ProjectionError> {
    let mut prepared = Vec::with_capacity(incoming.len());
    for item in incoming {
        if let Incoming::Read(Err(error)) = &item {
            if error.position().is_none() {
                return Err(ProjectionError::Log(clone_read_error(error)));
            }
        }
        prepared.push(prepare(with_raw_payload(care_log, item).await?));
    }
    let mut outcome = BatchOutcome::default();
    apply_prepared(transaction, &mut outcome, prepared, Some(cache)).await?;
    Ok(outcome)
}

/// The whole batch applied at once under one savepoint; when that fails because of one
/// commit's data, again one commit at a time so that commit alone is parked.
/// `cache`: a rebuild worker's state kept between batches; `None` for the live projector,
/// which loads every batch's state (the expiry sweep and a rebuild's swap change its tables
/// behind it).
async fn apply_prepared(
    transaction: &mut Transaction<'_, Postgres>,
    outcome: &mut BatchOutcome,
    prepared: Vec<Prepared>,
    mut cache: Option<&mut StateCache>,
) -> Result<(), ProjectionError> {
    if prepared.is_empty() {
        return Ok(());
    }
    let mut savepoint = transaction
        .begin()
        .await
        .map_err(ProjectionError::database("open a batch's savepoint"))?;
    let mut fast = *outcome;
    let applied = apply_all(&mut savepoint, &mut fast, &prepared, cache.as_deref_mut()).await;
    if let (Err(_), Some(cache)) = (&applied, cache) {
        // What the batch took from the cache is gone with its state.
        cache.clear();
    }
    match applied {
        Ok(()) => {
            savepoint
                .commit()
                .await
                .map_err(ProjectionError::database("release a batch's savepoint"))?;
            *outcome = fast;
        }
        Err(error) if error.is_caused_by_data() => {
            savepoint
                .rollback()
                .await
                .map_err(ProjectionError::database("roll back a batch's savepoint"))?;
            tracing::info!(
                error = error.action(),
                "a commit of the batch cannot be applied; applying the batch one commit at a time"
            );
            for item in prepared {
                apply_one(transaction, outcome, item).await?;
            }
        }
        Err(error) => return Err(error),
    }
    Ok(())
}

/// A message put in order, decoded or to be parked.
#[derive(Debug)]
enum Prepared {
    Commit {
        stored: StoredCommit,
        subject: String,
        /// The bytes as delivered (empty when read already decoded: re-encoded if parked).
        payload: Bytes,
    },
    Park {
        position: u64,
        subject: String,
        error: String,
        payload: Bytes,
    },
}

impl Prepared {
    fn position(&self) -> u64 {
        match self {
            Prepared::Commit { stored, .. } => stored.position,
            Prepared::Park { position, .. } => *position,
        }
    }
}

fn prepare(item: Incoming) -> Prepared {
    match item {
        Incoming::Message {
            position,
            subject,
            payload,
        } => match StoredCommit::decode(position, &subject, payload.clone()) {
            Ok(stored) => Prepared::Commit {
                stored,
                subject,
                payload,
            },
            Err(error) => Prepared::Park {
                position,
                subject,
                error: error.to_string(),
                payload,
            },
        },
        Incoming::Read(Ok(stored)) => {
            let subject = stored.key.subject();
            Prepared::Commit {
                stored,
                subject,
                payload: Bytes::new(),
            }
        }
        Incoming::Read(Err(error)) => Prepared::Park {
            position: error.position().unwrap_or_default(),
            subject: match &error {
                ReadError::Undecodable { subject, .. }
                | ReadError::MisfiledCommit { subject, .. } => subject.clone(),
                _ => String::new(),
            },
            error: error.to_string(),
            payload: Bytes::new(),
        },
    }
}

/// Reads the positions `from..=until` straight from the log: messages the consumer did not
/// deliver (its state ahead of the database) are never skipped.
async fn read_gap(
    care_log: &CareLog,
    from: u64,
    until: u64,
    prepared: &mut Vec<Prepared>,
) -> Result<(), ProjectionError> {
    tracing::warn!(
        from,
        until,
        "positions missing from the delivery; reading them from the log"
    );
    let mut missing = care_log.read_range(from, until).await?;
    let mut last = from.saturating_sub(1);
    while let Some(read) = missing.next().await {
        if let Err(error) = &read {
            if error.position().is_none() {
                return Err(ProjectionError::Log(clone_read_error(error)));
            }
        }
        let item = prepare(with_raw_payload(care_log, Incoming::Read(read)).await?);
        last = item.position();
        prepared.push(item);
    }
    if last < until {
        return Err(ProjectionError::Consumer {
            action: "fill a gap in the delivery",
            reason: format!("the log ended at {last} before {until}"),
        });
    }
    Ok(())
}

/// The fast path: every commit of the batch applied from one load of state, written by one
/// flush.
async fn apply_all(
    connection: &mut PgConnection,
    outcome: &mut BatchOutcome,
    prepared: &[Prepared],
    mut cache: Option<&mut StateCache>,
) -> Result<(), ProjectionError> {
    let mut wanted = Wanted::default();
    for item in prepared {
        if let Prepared::Commit { stored, .. } = item {
            wants(stored, &mut wanted);
        }
    }
    let loaded = match cache.as_deref_mut() {
        Some(cache) => BatchState::load_from(connection, &wanted, cache).await,
        None => BatchState::load(connection, &wanted).await,
    };
    let mut state = loaded.map_err(ProjectionError::database("load the batch's state"))?;
    for item in prepared {
        match item {
            Prepared::Commit { stored, .. } => {
                apply_commit(connection, &mut state, stored).await?;
                outcome.applied += 1;
                outcome.checkpoint = stored.position;
            }
            Prepared::Park {
                position,
                subject,
                error,
                payload,
            } => {
                park(
                    connection,
                    outcome,
                    *position,
                    subject,
                    error,
                    payload,
                    "undecodable",
                )
                .await?
            }
        }
    }
    state
        .flush(connection)
        .await
        .map_err(ProjectionError::database("write a batch's rows"))?;
    if let Some(cache) = cache {
        state.keep_in(cache);
    }
    Ok(())
}

/// A message a replay could not decode, fetched again as raw bytes, so that it is parked with
/// its payload exactly as the live consumer parks it (a rebuild equals the live projection).
async fn with_raw_payload(care_log: &CareLog, item: Incoming) -> Result<Incoming, ProjectionError> {
    let position = match &item {
        Incoming::Read(Err(error)) => match error.position() {
            Some(position) => position,
            None => return Ok(item),
        },
        _ => return Ok(item),
    };
    let raw = care_log
        .jetstream()
        .get_stream_no_info(&care_log.config().stream_name)
        .await
        .map_err(ProjectionError::consumer("open the care stream"))?
        .direct_get(position)
        .await
        .map_err(ProjectionError::consumer(
            "read an undecodable message's bytes",
        ))?;
    Ok(Incoming::Message {
        position,
        subject: raw.subject.to_string(),
        payload: raw.payload,
    })
}

/// Applies one message under a savepoint of its own, or parks it.
async fn apply_one(
    transaction: &mut Transaction<'_, Postgres>,
    outcome: &mut BatchOutcome,
    item: Prepared,
) -> Result<(), ProjectionError> {
    let (stored, subject, payload) = match item {
        Prepared::Commit {
            stored,
            subject,
            payload,
        } => (stored, subject, payload),
        Prepared::Park {
            position,
            subject,
            error,
            payload,
        } => {
            return park(
                transaction,
                outcome,
                position,
                &subject,
                &error,
                &payload,
                "undecodable",
            )
            .await;
        }
    };
    let mut savepoint = transaction
        .begin()
        .await
        .map_err(ProjectionError::database("open a savepoint for one commit"))?;
    let applied = async {
        let mut wanted = Wanted::default();
        wants(&stored, &mut wanted);
        let mut state = BatchState::load(&mut savepoint, &wanted)
            .await
            .map_err(ProjectionError::database("load a commit's state"))?;
        apply_commit(&mut savepoint, &mut state, &stored).await?;
        state
            .flush(&mut savepoint)
            .await
            .map_err(ProjectionError::applying)
    }
    .await;
    match applied {
        Ok(()) => {
            savepoint
                .commit()
                .await
                .map_err(ProjectionError::database("release a commit's savepoint"))?;
            outcome.applied += 1;
            outcome.checkpoint = stored.position;
            Ok(())
        }
        Err(error) if error.is_caused_by_data() => {
            savepoint
                .rollback()
                .await
                .map_err(ProjectionError::database("roll back a commit's savepoint"))?;
            let payload = if payload.is_empty() {
                stored.commit.encode().bytes
            } else {
                payload.to_vec()
            };
            park(
                transaction,
                outcome,
                stored.position,
                &subject,
                &error.to_string(),
                &payload,
                "unappliable",
            )
            .await
        }
        Err(error) => Err(error),
    }
}

async fn park(
    connection: &mut PgConnection,
    outcome: &mut BatchOutcome,
    position: u64,
    subject: &str,
    error: &str,
    payload: &[u8],
    reason: &'static str,
) -> Result<(), ProjectionError> {
    dead_letter::park(connection, position, subject, error, payload).await?;
    // Position and kind only: the error text may quote data, and it is in the table.
    tracing::warn!(
        position,
        reason,
        "parked a message in the dead-letter table"
    );
    outcome.parked += 1;
    outcome.checkpoint = position;
    Ok(())
}

/// `ReadError` is not `Clone`; a transport failure is re-described for the caller.
fn clone_read_error(error: &ReadError) -> ReadError {
    ReadError::Transport {
        action: "read the care log",
        reason: error.to_string(),
    }
}

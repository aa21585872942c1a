//! One batch: many log messages applied in one PostgreSQL transaction, the checkpoint written
//! in the same transaction. Messages at or below the checkpoint are skipped (a redelivery); a
//! message past the next position is preceded by the missing range read from the log (never a
//! silent skip); a message that cannot be decoded or applied is parked, and the batch goes on.

use bytes::Bytes;
use carelog_eventlog::{CareLog, ReadError, StoredCommit};
use futures::StreamExt;
use sqlx::{Acquire as _, PgPool, Postgres, Transaction};

use crate::apply::apply_commit;
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
    for item in incoming {
        let position = match &item {
            Incoming::Message { position, .. } => *position,
            Incoming::Read(Ok(stored)) => stored.position,
            Incoming::Read(Err(error)) => match error.position() {
                Some(position) => position,
                None => return Err(ProjectionError::Log(clone_read_error(error))),
            },
        };
        if position <= outcome.checkpoint {
            outcome.skipped += 1;
            continue;
        }
        if position > outcome.checkpoint + 1 {
            fill_gap(transaction, care_log, &mut outcome, position - 1).await?;
        }
        let item = with_raw_payload(care_log, item).await?;
        apply_one(transaction, &mut outcome, item).await?;
    }
    if outcome.checkpoint > start {
        checkpoint::write(transaction, outcome.checkpoint).await?;
    }
    Ok(outcome)
}

/// Reads the positions after the checkpoint up to `until` straight from the log and applies
/// them: messages the consumer did not deliver (its state ahead of the database) are never
/// skipped.
async fn fill_gap(
    transaction: &mut Transaction<'_, Postgres>,
    care_log: &CareLog,
    outcome: &mut BatchOutcome,
    until: u64,
) -> Result<(), ProjectionError> {
    tracing::warn!(
        from = outcome.checkpoint + 1,
        until,
        "positions missing from the delivery; reading them from the log"
    );
    let mut missing = care_log.read_range(outcome.checkpoint + 1, until).await?;
    while let Some(read) = missing.next().await {
        if let Err(error) = &read {
            if error.position().is_none() {
                return Err(ProjectionError::Log(clone_read_error(error)));
            }
        }
        let item = with_raw_payload(care_log, Incoming::Read(read)).await?;
        apply_one(transaction, outcome, item).await?;
    }
    if outcome.checkpoint < until {
        return Err(ProjectionError::Consumer {
            action: "fill a gap in the delivery",
            reason: format!("the log ended at {} before {until}", outcome.checkpoint),
        });
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

/// Decodes and applies one message under a savepoint, or parks it.
async fn apply_one(
    transaction: &mut Transaction<'_, Postgres>,
    outcome: &mut BatchOutcome,
    item: Incoming,
) -> Result<(), ProjectionError> {
    let (stored, subject, payload) = match item {
        Incoming::Message {
            position,
            subject,
            payload,
        } => match StoredCommit::decode(position, &subject, payload.clone()) {
            Ok(stored) => (stored, subject, payload),
            Err(error) => {
                park(
                    transaction,
                    outcome,
                    position,
                    &subject,
                    &error.to_string(),
                    &payload,
                    "undecodable",
                )
                .await?;
                return Ok(());
            }
        },
        Incoming::Read(Ok(stored)) => {
            let subject = stored.key.subject();
            (stored, subject, Bytes::new())
        }
        Incoming::Read(Err(error)) => {
            let position = error.position().unwrap_or(outcome.checkpoint + 1);
            let subject = match &error {
                ReadError::Undecodable { subject, .. }
                | ReadError::MisfiledCommit { subject, .. } => subject.clone(),
                _ => String::new(),
            };
            park(
                transaction,
                outcome,
                position,
                &subject,
                &error.to_string(),
                &[],
                "undecodable",
            )
            .await?;
            return Ok(());
        }
    };
    let mut savepoint = transaction
        .begin()
        .await
        .map_err(ProjectionError::database("open a savepoint for one commit"))?;
    match apply_commit(&mut savepoint, &stored).await {
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
    transaction: &mut Transaction<'_, Postgres>,
    outcome: &mut BatchOutcome,
    position: u64,
    subject: &str,
    error: &str,
    payload: &[u8],
    reason: &'static str,
) -> Result<(), ProjectionError> {
    dead_letter::park(transaction, position, subject, error, payload).await?;
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

//! The live projector: a durable JetStream pull consumer over the whole care stream, its
//! messages gathered into batches and applied with the checkpoint in one transaction.
//!
//! The checkpoint in PostgreSQL is the truth; the durable consumer is only the delivery cursor.
//! At start the consumer is reused when its state matches the checkpoint, and otherwise
//! recreated to deliver from the position after it (a crash between commit and ack, a restored
//! database, a rebuild). Acks are sent after the commit: a crash before it redelivers the batch
//! (applied once, since nothing committed), a crash after it redelivers messages that are at or
//! below the checkpoint (acked and skipped).

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::Message;
use carelog_eventlog::CareLog;
use futures::StreamExt;
use sqlx::PgPool;
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::batch::{apply_batch, BatchOutcome, Incoming};
use crate::{checkpoint, sweep, ProjectionConfig, ProjectionError};

/// The running projection: a pool on its schema and the care log it follows.
#[derive(Debug, Clone)]
pub struct Projector {
    config: ProjectionConfig,
    care_log: CareLog,
    pool: PgPool,
}

impl Projector {
    /// Connects to PostgreSQL, creates the schema and applies the migrations.
    pub async fn connect(
        config: ProjectionConfig,
        care_log: CareLog,
    ) -> Result<Projector, ProjectionError> {
        if config.batch_size == 0 {
            return Err(ProjectionError::Config(
                "batch size must be at least 1".to_owned(),
            ));
        }
        let pool = crate::database::connect(&config.database_url, &config.schema, 4).await?;
        Ok(Projector {
            config,
            care_log,
            pool,
        })
    }

    /// The pool on the projections' schema (for reads and tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies the log's positions `from..=until` through the same batches as the live
    /// consumer (positions at or below the checkpoint are skipped). A replay tool, and the way
    /// tests redeliver messages on purpose.
    pub async fn replay_range(
        &self,
        from: u64,
        until: u64,
    ) -> Result<BatchOutcome, ProjectionError> {
        let mut total = BatchOutcome::default();
        let mut reads = self.care_log.read_range(from, until).await?;
        let mut ended = false;
        while !ended {
            let mut incoming = Vec::with_capacity(self.config.batch_size);
            while incoming.len() < self.config.batch_size {
                match reads.next().await {
                    Some(read) => incoming.push(Incoming::Read(read)),
                    None => {
                        ended = true;
                        break;
                    }
                }
            }
            if incoming.is_empty() {
                break;
            }
            let outcome = apply_batch(&self.pool, &self.care_log, incoming).await?;
            total.checkpoint = outcome.checkpoint;
            total.applied += outcome.applied;
            total.parked += outcome.parked;
            total.skipped += outcome.skipped;
        }
        Ok(total)
    }

    /// Follows the log until `shutdown` completes. A failure (database or log unavailable) is
    /// logged and retried from the checkpoint after a pause: never a crash loop.
    ///
    /// Refuses to start when the read models are ahead of the log: they were built from
    /// another log, and following this one would skip its first positions.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ProjectionError> {
        let lag = crate::lag(&self.pool, &self.care_log).await?;
        if lag.applied_position > lag.log_position {
            return Err(ProjectionError::Inconsistent {
                position: lag.applied_position,
                reason: "the read models are ahead of the care log (built from another log?); \
                         rebuild them or point DATABASE_URL elsewhere",
            });
        }
        tracing::info!(
            applied_position = lag.applied_position,
            log_position = lag.log_position,
            "projections following the care log"
        );
        let mut shutdown = pin!(shutdown);
        loop {
            let consumed = tokio::select! {
                consumed = self.consume() => consumed,
                () = &mut shutdown => return Ok(()),
            };
            if let Err(error) = consumed {
                // Kind and action only: the message may quote data (PHI).
                tracing::error!(
                    kind = error.kind(),
                    action = error.action(),
                    "projection stopped; resuming from the checkpoint"
                );
                tokio::select! {
                    () = tokio::time::sleep(self.config.retry_pause) => {}
                    () = &mut shutdown => return Ok(()),
                }
            }
        }
    }

    /// Consumes until an error. Cancel-safe: dropped mid-batch, the transaction rolls back.
    async fn consume(&self) -> Result<(), ProjectionError> {
        let consumer = self.position_consumer().await?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(ProjectionError::consumer(
                "subscribe the projection consumer",
            ))?;
        let mut next_sweep = Instant::now();
        loop {
            if Instant::now() >= next_sweep {
                sweep::sweep_expired(&self.pool, time::OffsetDateTime::now_utc()).await?;
                next_sweep = Instant::now() + self.config.sweep_interval;
            }
            let first = tokio::select! {
                message = messages.next() => message,
                () = tokio::time::sleep_until(next_sweep) => continue,
            };
            let Some(first) = first else {
                return Err(ProjectionError::Consumer {
                    action: "read the projection consumer",
                    reason: "the message stream ended".to_owned(),
                });
            };
            let mut batch = vec![first.map_err(ProjectionError::consumer("receive a message"))?];
            let linger_until = Instant::now() + self.config.batch_linger;
            while batch.len() < self.config.batch_size {
                match tokio::time::timeout_at(linger_until, messages.next()).await {
                    Ok(Some(message)) => {
                        batch.push(message.map_err(ProjectionError::consumer("receive a message"))?)
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            self.apply_and_ack(batch).await?;
        }
    }

    async fn apply_and_ack(&self, batch: Vec<Message>) -> Result<(), ProjectionError> {
        let mut incoming = Vec::with_capacity(batch.len());
        for message in &batch {
            let info = message
                .info()
                .map_err(ProjectionError::consumer("read a message's log position"))?;
            incoming.push(Incoming::Message {
                position: info.stream_sequence,
                subject: message.subject.to_string(),
                payload: message.payload.clone(),
            });
        }
        let size = batch.len();
        let span = tracing::info_span!("projection_batch", size);
        let started = Instant::now();
        let outcome = apply_batch(&self.pool, &self.care_log, incoming)
            .instrument(span)
            .await?;
        tracing::debug!(
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            checkpoint = outcome.checkpoint,
            applied = outcome.applied,
            parked = outcome.parked,
            skipped = outcome.skipped,
            "projection batch committed"
        );
        for message in &batch {
            // A lost ack only means a redelivery, which the checkpoint skips.
            if let Err(error) = message.ack().await {
                tracing::debug!("ack a projected message: {error}");
            }
        }
        Ok(())
    }

    /// The durable consumer, positioned right after the checkpoint.
    async fn position_consumer(
        &self,
    ) -> Result<async_nats::jetstream::consumer::PullConsumer, ProjectionError> {
        let mut connection = self
            .pool
            .acquire()
            .await
            .map_err(ProjectionError::database("connect to read the checkpoint"))?;
        let checkpoint = checkpoint::read(&mut connection).await?;
        drop(connection);
        let stream = self
            .care_log
            .jetstream()
            .get_stream_no_info(&self.care_log.config().stream_name)
            .await
            .map_err(ProjectionError::consumer("open the care stream"))?;
        let name = &self.config.consumer_name;
        if let Ok(info) = stream.consumer_info(name).await {
            let in_step = info.delivered.stream_sequence == checkpoint
                && info.ack_floor.stream_sequence == checkpoint
                && info.num_ack_pending == 0;
            if !in_step {
                tracing::info!(
                    checkpoint,
                    delivered = info.delivered.stream_sequence,
                    acked = info.ack_floor.stream_sequence,
                    "repositioning the projection consumer at the checkpoint"
                );
                stream
                    .delete_consumer(name)
                    .await
                    .map_err(ProjectionError::consumer("delete the projection consumer"))?;
            }
        }
        let deliver_policy = if checkpoint == 0 {
            DeliverPolicy::All
        } else {
            DeliverPolicy::ByStartSequence {
                start_sequence: checkpoint + 1,
            }
        };
        stream
            .get_or_create_consumer(
                name,
                pull::Config {
                    durable_name: Some(name.clone()),
                    description: Some("carelog projections: read models in PostgreSQL".to_owned()),
                    deliver_policy,
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(60),
                    max_ack_pending: 10_000,
                    ..Default::default()
                },
            )
            .await
            .map_err(ProjectionError::consumer("create the projection consumer"))
    }
}

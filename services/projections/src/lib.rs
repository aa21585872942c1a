//! Projections: the care log turned into what each role sees (domain §5, §6), in PostgreSQL.
//!
//! One projector follows the log with a durable JetStream consumer and applies its messages in
//! batches; each batch's rows and the checkpoint (the last log position applied) commit in one
//! transaction, so a crash or a redelivery never applies an event twice or skips one. It
//! builds four role timelines — the patient's own, each clinic's, each therapist's (per
//! grantee) and the auditor's full history — from one row per entry (`entries`, which the
//! patient and the auditor read) and one narrow row per clinic or therapist reader
//! (`entry_readers`), beside the course registry and the consents. Consent is enforced by
//! construction: a grantee has rows only for scopes under an active consent; a grant
//! backfills them from the patient's entries, a
//! revocation deletes them (past entries too), and expiry is checked at read time and swept.
//! A message that cannot be decoded or applied is parked in `dead_letters` and the projection
//! goes on. `rebuild` builds every read model again from the log into a fresh schema and swaps it
//! in while the live projector keeps running.

mod apply;
mod batch;
pub mod checkpoint;
mod consents;
mod consumer;
mod copy;
mod courses;
pub mod database;
pub mod dead_letter;
mod derived;
mod describe;
mod entry;
mod error;
pub mod lag;
pub mod read;
pub mod rebuild;
mod schedule;
mod state;
mod suggestions;
pub mod sweep;
mod timelines;

use std::future::Future;
use std::time::Duration;

use carelog_eventlog::CareLog;

pub use batch::BatchOutcome;
pub use consumer::Projector;
pub use database::{from_db_position, to_db_position, LIVE_SCHEMA, MIGRATOR};
pub use error::ProjectionError;
pub use lag::{lag, Lag};
pub use read::{timeline, Reader, TimelineEntry};
pub use rebuild::REBUILD_BATCH_SIZE;
pub use rebuild::{rebuild, RebuildOutcome, RebuildProgress, RebuildSettings};

/// Settings of the projector.
#[derive(Debug, Clone)]
pub struct ProjectionConfig {
    /// PostgreSQL holding the read models (`DATABASE_URL`).
    pub database_url: String,
    /// The schema the read models live in.
    pub schema: String,
    /// Name of the durable JetStream consumer.
    pub consumer_name: String,
    /// The most messages applied in one transaction.
    pub batch_size: usize,
    /// How long a batch waits for more messages after its first.
    pub batch_linger: Duration,
    /// How often rows of expired consents are swept.
    pub sweep_interval: Duration,
    /// Pause before resuming after a failure.
    pub retry_pause: Duration,
}

impl ProjectionConfig {
    pub fn new(database_url: impl Into<String>) -> ProjectionConfig {
        ProjectionConfig {
            database_url: database_url.into(),
            schema: LIVE_SCHEMA.to_owned(),
            consumer_name: "projections".to_owned(),
            batch_size: 256,
            batch_linger: Duration::from_millis(10),
            sweep_interval: Duration::from_secs(60),
            retry_pause: Duration::from_secs(1),
        }
    }
}

/// Runs the projections until `shutdown` completes.
pub async fn run(
    config: ProjectionConfig,
    care_log: CareLog,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ProjectionError> {
    Projector::connect(config, care_log)
        .await?
        .run(shutdown)
        .await
}

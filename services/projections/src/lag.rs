//! How far the projection is behind the log: its checkpoint beside the stream's last sequence.

use carelog_eventlog::CareLog;
use sqlx::PgPool;

use crate::{checkpoint, ProjectionError};

/// The projection's position beside the log's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lag {
    /// The last log position applied to the read models.
    pub applied_position: u64,
    /// The last position the log holds.
    pub log_position: u64,
}

impl Lag {
    /// Positions written to the log and not yet applied.
    pub fn behind(&self) -> u64 {
        self.log_position.saturating_sub(self.applied_position)
    }
}

pub async fn lag(pool: &PgPool, care_log: &CareLog) -> Result<Lag, ProjectionError> {
    let mut connection = pool
        .acquire()
        .await
        .map_err(ProjectionError::database("connect to read the checkpoint"))?;
    let applied_position = checkpoint::read(&mut connection).await?;
    let log_position = care_log.last_position().await?;
    Ok(Lag {
        applied_position,
        log_position,
    })
}

//! Why a projection step failed, and whether retrying can help.

use carelog_eventlog::ReadError;

/// A failure of the projector. `Database` errors caused by the data of one commit (SQLSTATE
/// classes 22 and 23: a value or a constraint) park that commit in the dead-letter table,
/// except a unique violation on the timeline tables (an event applied twice), which fails
/// loudly; every other failure is transient: the batch rolls back and is retried from the
/// checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("{action}: {source}")]
    Database {
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("apply the read-model migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("read the care log: {0}")]
    Log(#[from] ReadError),
    #[error("{action}: {reason}")]
    Consumer {
        action: &'static str,
        reason: String,
    },
    #[error("log position {position}: {reason}")]
    Inconsistent { position: u64, reason: &'static str },
    #[error("invalid projection configuration: {0}")]
    Config(String),
    #[error("another rebuild of the read models is running")]
    RebuildRunning,
}

impl ProjectionError {
    pub(crate) fn database(action: &'static str) -> impl FnOnce(sqlx::Error) -> ProjectionError {
        move |source| ProjectionError::Database { action, source }
    }

    /// A statement of the apply step failed.
    pub(crate) fn applying(source: sqlx::Error) -> ProjectionError {
        ProjectionError::Database {
            action: "apply an event to the read models",
            source,
        }
    }

    pub(crate) fn consumer<E: std::fmt::Display>(
        action: &'static str,
    ) -> impl FnOnce(E) -> ProjectionError {
        move |error| ProjectionError::Consumer {
            action,
            reason: error.to_string(),
        }
    }

    /// Whether the failure comes from the data being applied (so retrying cannot help and the
    /// message is parked) rather than from the database or the log being unavailable.
    pub(crate) fn is_caused_by_data(&self) -> bool {
        match self {
            ProjectionError::Database {
                source: sqlx::Error::Database(error),
                ..
            } => {
                // A unique violation on the timeline is the same event applied twice (a bug of
                // the projector, not bad data): it must stop the projection, never be parked
                // while the checkpoint moves past it.
                !is_double_apply(error.as_ref())
                    && error
                        .code()
                        .is_some_and(|code| code.starts_with("22") || code.starts_with("23"))
            }
            ProjectionError::Inconsistent { .. } => true,
            _ => false,
        }
    }

    /// What was being done when it failed, for logs: a fixed phrase, never data.
    pub(crate) fn action(&self) -> &'static str {
        match self {
            ProjectionError::Database { action, .. } | ProjectionError::Consumer { action, .. } => {
                action
            }
            ProjectionError::Migrate(_) => "apply the read-model migrations",
            ProjectionError::Log(_) => "read the care log",
            ProjectionError::Inconsistent { reason, .. } => reason,
            ProjectionError::Config(_) => "check the projection configuration",
            ProjectionError::RebuildRunning => "start a rebuild",
        }
    }

    /// A short name of the failure for logs: never the message, which may quote data.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ProjectionError::Database { .. } => "database",
            ProjectionError::Migrate(_) => "migrate",
            ProjectionError::Log(_) => "log",
            ProjectionError::Consumer { .. } => "consumer",
            ProjectionError::Inconsistent { .. } => "inconsistent",
            ProjectionError::Config(_) => "config",
            ProjectionError::RebuildRunning => "rebuild_running",
        }
    }
}

/// SQLSTATE 23505 (unique violation) on `entries` or `entry_readers`: rows of an event that already has
/// them, i.e. the event is being applied a second time.
fn is_double_apply(error: &dyn sqlx::error::DatabaseError) -> bool {
    error.code().as_deref() == Some("23505")
        && (matches!(error.table(), Some("entries" | "entry_readers"))
            || error.constraint().is_some_and(|constraint| {
                constraint.starts_with("entries_") || constraint.starts_with("entry_readers_")
            }))
}

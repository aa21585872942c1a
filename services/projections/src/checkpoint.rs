//! The checkpoint: the last log position applied, written in the same transaction as the rows
//! it covers. A transaction-scoped advisory lock serialises every writer of the read models
//! (the live projector's batches, the expiry sweep, a rebuild's swap).

use sqlx::PgConnection;

use crate::database::{from_db_position, to_db_position};
use crate::ProjectionError;

/// Key of the advisory lock every writer of the read models takes ("carelog" in ASCII); an
/// operator holding it in a transaction pauses every writer.
pub const WRITER_LOCK_KEY: i64 = 0x0063_6172_656c_6f67;

/// Takes the writers' lock until the end of the current transaction.
pub(crate) async fn lock_writers(connection: &mut PgConnection) -> Result<(), ProjectionError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(WRITER_LOCK_KEY)
        .execute(&mut *connection)
        .await
        .map_err(ProjectionError::database(
            "take the read models' writer lock",
        ))?;
    Ok(())
}

/// The last log position applied (0 before the first).
pub async fn read(connection: &mut PgConnection) -> Result<u64, ProjectionError> {
    let (position,): (i64,) = sqlx::query_as("SELECT position FROM checkpoint")
        .fetch_one(&mut *connection)
        .await
        .map_err(ProjectionError::database("read the projection checkpoint"))?;
    Ok(from_db_position(position))
}

pub(crate) async fn write(
    connection: &mut PgConnection,
    position: u64,
) -> Result<(), ProjectionError> {
    sqlx::query("UPDATE checkpoint SET position = $1, updated_at = now()")
        .bind(to_db_position(position)?)
        .execute(&mut *connection)
        .await
        .map_err(ProjectionError::database("write the projection checkpoint"))?;
    Ok(())
}

//! The dead-letter table: a message that cannot be decoded or applied is parked here with its
//! position and the error, in the batch's transaction, and the projection goes on. The error
//! text stays in the database; logs carry only the position and the kind of failure.

use sqlx::{PgConnection, PgPool};

use crate::database::{from_db_position, to_db_position};
use crate::ProjectionError;

/// A parked message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub position: u64,
    pub subject: String,
    pub error: String,
    pub payload: Vec<u8>,
}

pub(crate) async fn park(
    connection: &mut PgConnection,
    position: u64,
    subject: &str,
    error: &str,
    payload: &[u8],
) -> Result<(), ProjectionError> {
    sqlx::query(
        "INSERT INTO dead_letters (position, subject, error, payload) VALUES ($1, $2, $3, $4)
         ON CONFLICT (position) DO NOTHING",
    )
    .bind(to_db_position(position)?)
    .bind(subject)
    .bind(error)
    .bind(payload)
    .execute(&mut *connection)
    .await
    .map_err(ProjectionError::database(
        "park a message in the dead-letter table",
    ))?;
    Ok(())
}

/// Every parked message, in log order.
pub async fn list(pool: &PgPool) -> Result<Vec<DeadLetter>, ProjectionError> {
    let rows: Vec<(i64, String, String, Vec<u8>)> = sqlx::query_as(
        "SELECT position, subject, error, payload FROM dead_letters ORDER BY position",
    )
    .fetch_all(pool)
    .await
    .map_err(ProjectionError::database("list the dead letters"))?;
    Ok(rows
        .into_iter()
        .map(|(position, subject, error, payload)| DeadLetter {
            position: from_db_position(position),
            subject,
            error,
            payload,
        })
        .collect())
}

/// How many messages are parked.
pub async fn count(pool: &PgPool) -> Result<u64, ProjectionError> {
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM dead_letters")
        .fetch_one(pool)
        .await
        .map_err(ProjectionError::database("count the dead letters"))?;
    Ok(from_db_position(count))
}

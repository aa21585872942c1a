//! The expiry sweep: deletes grantees' rows that no active consent covers any more because a
//! consent expired (domain §5: an expired consent is treated as revoked at its expiry). Reads
//! filter by expiry already, so the sweep only keeps the tables honest; it runs beside the
//! live projector, under the same writer lock.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use crate::consents::consent_covers;
use crate::{checkpoint, ProjectionError};

/// Removes rows of consents expired at `now` (the wall clock, live; a fixed instant in
/// tests); returns how many.
pub async fn sweep_expired(pool: &PgPool, now: OffsetDateTime) -> Result<u64, ProjectionError> {
    let mut transaction = pool
        .begin()
        .await
        .map_err(ProjectionError::database("begin the expiry sweep"))?;
    checkpoint::lock_writers(&mut transaction).await?;
    let swept = sweep_in(&mut transaction, now).await?;
    transaction
        .commit()
        .await
        .map_err(ProjectionError::database("commit the expiry sweep"))?;
    if swept > 0 {
        tracing::info!(rows = swept, "swept rows of expired consents");
    }
    Ok(swept)
}

/// The sweep's delete, inside the caller's transaction (which holds the writers' lock).
pub(crate) async fn sweep_in(
    connection: &mut PgConnection,
    now: OffsetDateTime,
) -> Result<u64, ProjectionError> {
    let statement = format!(
        "DELETE FROM timeline_entries t
         WHERE t.basis IN ('consent', 'own') AND NOT {}",
        consent_covers("$1")
    );
    Ok(sqlx::query(&statement)
        .bind(now)
        .execute(&mut *connection)
        .await
        .map_err(ProjectionError::database("sweep rows of expired consents"))?
        .rows_affected())
}

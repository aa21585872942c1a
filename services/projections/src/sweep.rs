//! The expiry sweep: deletes grantees' rows that no active consent covers any more because a
//! consent expired (domain §5: an expired consent is treated as revoked at its expiry). Reads
//! filter by expiry already, so the sweep only keeps the tables honest; it runs beside the
//! live projector, under the same writer lock.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use crate::consents::{consent_covers, READS_ENTRY};
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
    // Only expiry leaves rows uncovered (a revocation deletes its rows as it is applied), so
    // only the grantees of expired consents are looked at: one probe of the timeline's key per
    // (patient, grantee), not a scan of every row.
    let statement = format!(
        "DELETE FROM entry_readers r
         USING (SELECT DISTINCT patient_id, grantee_role, grantee_id FROM consents
                WHERE revoked_at IS NULL AND expires_at <= $1) expired, entries t
         WHERE r.patient_id = expired.patient_id AND r.audience = expired.grantee_role
           AND r.viewer_id = expired.grantee_id
           AND r.basis IN ('consent', 'own') AND {READS_ENTRY} AND NOT {covers}",
        covers = consent_covers("$1")
    );
    Ok(sqlx::query(&statement)
        .bind(now)
        .execute(&mut *connection)
        .await
        .map_err(ProjectionError::database("sweep rows of expired consents"))?
        .rows_affected())
}

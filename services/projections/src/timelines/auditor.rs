//! The auditor's timeline: the full history, by role.

use sqlx::PgConnection;

use crate::entry::{Audience, Basis, Entry, AUDITOR_VIEWER};

/// The auditor's full history: every entry, by role. It mirrors the log up to the checkpoint
/// and is the source of every backfill.
pub(crate) async fn auditor(
    connection: &mut PgConnection,
    entry: &Entry,
) -> Result<(), sqlx::Error> {
    entry
        .insert(connection, Audience::Auditor, AUDITOR_VIEWER, Basis::Role)
        .await
}

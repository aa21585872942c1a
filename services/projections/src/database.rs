//! The projections' PostgreSQL: their own schema (so a rebuild can build a second one and swap
//! it in), a pool whose `search_path` is that schema, and the migrations applied at start-up.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection as _, PgConnection, PgPool};

use crate::ProjectionError;

/// The read-model migrations, embedded at compile time (no database needed to build).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The schema the live read models are served from.
pub const LIVE_SCHEMA: &str = "projections";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A schema name we are willing to put into SQL text: lower-case letters, digits, `_`.
pub(crate) fn check_schema_name(schema: &str) -> Result<(), ProjectionError> {
    let valid = !schema.is_empty()
        && schema.len() <= 48
        && schema.starts_with(|c: char| c.is_ascii_lowercase())
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(ProjectionError::Config(format!(
            "schema name {schema:?} must be lower-case letters, digits and '_'"
        )))
    }
}

/// Creates `schema` if needed, applies the migrations inside it, and returns a pool whose
/// connections resolve unqualified table names in it.
pub async fn connect(
    database_url: &str,
    schema: &str,
    max_connections: u32,
) -> Result<PgPool, ProjectionError> {
    check_schema_name(schema)?;
    let options = PgConnectOptions::from_str(database_url)
        .map_err(ProjectionError::database("parse DATABASE_URL"))?;
    let mut setup = PgConnection::connect_with(&options)
        .await
        .map_err(ProjectionError::database("connect to PostgreSQL"))?;
    // Two processes starting at once (the system and `carelog projections lag`, say) would
    // race on `CREATE SCHEMA IF NOT EXISTS`, which is not safe under concurrency in
    // PostgreSQL: set-up is serialized by a session advisory lock, released when it is done.
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(SETUP_LOCK_KEY)
        .execute(&mut setup)
        .await
        .map_err(ProjectionError::database("lock the projections' set-up"))?;
    let set_up = async {
        // `sqlx::query`, not `raw_sql`: a `raw_sql` future is not `Send` for every lifetime.
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .persistent(false)
            .execute(&mut setup)
            .await
            .map_err(ProjectionError::database("create the projections' schema"))?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(CONNECT_TIMEOUT)
            // The log is the truth and the checkpoint commits with the rows: a batch lost to
            // a database crash is applied again from the log, so commits need not wait for
            // the WAL flush.
            .connect_with(options.options([("search_path", schema), ("synchronous_commit", "off")]))
            .await
            .map_err(ProjectionError::database("connect the projections' pool"))?;
        MIGRATOR.run(&pool).await?;
        Ok(pool)
    }
    .await;
    // Closing the session releases the lock too; unlock first so the next waiter need not
    // wait for the close to reach the server.
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(SETUP_LOCK_KEY)
        .execute(&mut setup)
        .await;
    let _ = setup.close().await;
    set_up
}

/// Key of the session advisory lock that serializes schema creation and migrations.
const SETUP_LOCK_KEY: i64 = 0x6361_7265_6c6f_6701; // "carelog" + 1

/// A log position as PostgreSQL stores it (`bigint`).
pub fn to_db_position(position: u64) -> Result<i64, ProjectionError> {
    i64::try_from(position).map_err(|_| ProjectionError::Inconsistent {
        position,
        reason: "the log position does not fit a bigint",
    })
}

/// A log position read back from PostgreSQL; the checkpoint column refuses negatives.
pub fn from_db_position(position: i64) -> u64 {
    u64::try_from(position).unwrap_or(0)
}

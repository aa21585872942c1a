//! A fresh, uniquely named PostgreSQL database for one test, on the server at `DATABASE_URL`,
//! dropped again when the test lets go of it.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::Connection as _;

/// What `make up` provides.
const DEFAULT_DATABASE_URL: &str = "postgres://carelog:carelog@127.0.0.1:5432/carelog";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Enough for a test's concurrent work; 200 server connections shared by parallel tests.
const POOL_SIZE: u32 = 5;

/// How old a test database left behind (its process killed before the drop) must be before
/// the next test run drops it: far longer than any run, so another run's databases on a shared
/// server are never touched.
pub const STALE_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// The prefix of every test database's name.
const PREFIX: &str = "carelog_test_";

/// A database created for one test (`carelog_test_<unix seconds>_<uuid>`), with a pool
/// connected to it. Dropping it drops the database `WITH (FORCE)`, best effort. One whose
/// process was killed first stays behind, and the first `create` of a later process drops
/// every test database older than [`STALE_AFTER`] ([`TestDatabase::sweep_stale`]).
pub struct TestDatabase {
    name: String,
    url: String,
    /// `DATABASE_URL`: where the database was created from, and is dropped from.
    server_url: String,
    pool: PgPool,
}

impl TestDatabase {
    /// Creates the database on the server at `DATABASE_URL` (default
    /// `postgres://carelog:carelog@127.0.0.1:5432/carelog`, which `make up` provides); the
    /// role needs `CREATEDB`.
    pub async fn create() -> anyhow::Result<TestDatabase> {
        let server_url =
            std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
        let name = format!(
            "{PREFIX}{}_{}",
            unix_seconds(SystemTime::now()),
            uuid::Uuid::new_v4().simple()
        );
        let url = with_database(&server_url, &name)?;

        let mut admin = connect(&server_url).await?;
        static SWEPT: std::sync::Once = std::sync::Once::new();
        let mut sweep = false;
        SWEPT.call_once(|| sweep = true);
        if sweep {
            // Best effort: a database that cannot be dropped now is tried again next run.
            if let Err(error) = sweep_stale(&mut admin, SystemTime::now(), STALE_AFTER).await {
                eprintln!("carelog-testkit: stale test databases not swept: {error:#}");
            }
        }
        let created = sqlx::raw_sql(&format!(r#"CREATE DATABASE "{name}""#))
            .execute(&mut admin)
            .await
            .with_context(|| {
                format!(
                    "create database {name} at {} (the role needs CREATEDB)",
                    redacted(&server_url)
                )
            });
        let _ = admin.close().await;
        created?;

        let pool = match PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect(&url)
            .await
        {
            Ok(pool) => pool,
            Err(error) => {
                let _ = drop_database(&server_url, &name).await;
                return Err(error).with_context(|| format!("connect to {}", redacted(&url)));
            }
        };
        Ok(TestDatabase {
            name,
            url,
            server_url,
            pool,
        })
    }

    /// The database's URL: `DATABASE_URL` with the database name replaced.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        &self.pool
    }

    /// The database's name, `carelog_test_<unix seconds>_<uuid>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server's URL (`DATABASE_URL`) the database was created on.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// Drops every test database on the server at `server_url` created more than `older_than`
    /// before `now` (by the time in its name; names without one, from before the seventh
    /// session, are left alone). Returns the names dropped.
    pub async fn sweep_stale(
        server_url: &str,
        now: SystemTime,
        older_than: Duration,
    ) -> anyhow::Result<Vec<String>> {
        let mut admin = connect(server_url).await?;
        let swept = sweep_stale(&mut admin, now, older_than).await;
        let _ = admin.close().await;
        swept
    }
}

async fn sweep_stale(
    admin: &mut PgConnection,
    now: SystemTime,
    older_than: Duration,
) -> anyhow::Result<Vec<String>> {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
            .bind(PREFIX)
            .fetch_all(&mut *admin)
            .await
            .context("list the test databases")?;
    let cutoff = unix_seconds(now).saturating_sub(older_than.as_secs());
    let mut dropped = Vec::new();
    for name in names {
        // Only names this harness makes (digits, then a simple uuid): nothing else is dropped,
        // and nothing but those characters reaches the statement.
        let Some(created) = created_at(&name) else {
            continue;
        };
        if created >= cutoff {
            continue;
        }
        let dropping = sqlx::raw_sql(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
            .execute(&mut *admin)
            .await;
        match dropping {
            Ok(_) => dropped.push(name),
            // One that cannot be dropped (another role's, on a shared server) must not keep
            // the others.
            Err(error) => {
                eprintln!("carelog-testkit: stale test database {name} not dropped: {error}")
            }
        }
    }
    Ok(dropped)
}

/// The creation time (unix seconds) in a name `carelog_test_<unix seconds>_<32 hex digits>`;
/// `None` for any other name.
fn created_at(name: &str) -> Option<u64> {
    let (seconds, id) = name.strip_prefix(PREFIX)?.split_once('_')?;
    let well_formed = !seconds.is_empty()
        && seconds.bytes().all(|byte| byte.is_ascii_digit())
        && id.len() == 32
        && id
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'));
    well_formed.then(|| seconds.parse().ok()).flatten()
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

impl fmt::Debug for TestDatabase {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("TestDatabase")
            .field("name", &self.name)
            .field("url", &redacted(&self.url))
            .finish_non_exhaustive()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Closing marks the pool closed at once (no new connections); the rest of `close()` is
        // async and would need this test's runtime, which is blocked here. FORCE ends the
        // connections still open.
        let closing = self.pool.close();
        drop(closing);
        // Drop cannot await, and the test's runtime may be single-threaded: run the DROP on a
        // thread of its own with a runtime of its own, and wait for it.
        let server_url = self.server_url.clone();
        let name = self.name.clone();
        let dropper = std::thread::spawn(move || -> anyhow::Result<()> {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("build a runtime to drop the test database")?
                .block_on(drop_database(&server_url, &name))
        });
        // Best effort: a failure leaves one uniquely named database behind.
        let _ = dropper.join();
    }
}

async fn connect(server_url: &str) -> anyhow::Result<PgConnection> {
    let unreachable = || {
        format!(
            "PostgreSQL not reachable at {}: run `make up` or set DATABASE_URL",
            redacted(server_url)
        )
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(server_url)).await {
        Ok(connected) => connected.with_context(unreachable),
        Err(_elapsed) => bail!(
            "{} (no answer within {} s)",
            unreachable(),
            CONNECT_TIMEOUT.as_secs()
        ),
    }
}

async fn drop_database(server_url: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = connect(server_url).await?;
    let dropped = sqlx::raw_sql(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
        .execute(&mut admin)
        .await
        .with_context(|| format!("drop database {name}"));
    let _ = admin.close().await;
    dropped?;
    Ok(())
}

/// `server_url` with its database name replaced: `postgres://u:p@h:5432/x?opts` → `.../name?opts`.
fn with_database(server_url: &str, database: &str) -> anyhow::Result<String> {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let authority_start = base
        .find("://")
        .map(|scheme_end| scheme_end + 3)
        .with_context(|| {
            format!(
                "DATABASE_URL {} is not a URL like postgres://user:password@host:port/database",
                redacted(server_url)
            )
        })?;
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |offset| authority_start + offset);
    let mut url = format!("{}/{database}", &base[..authority_end]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    Ok(url)
}

/// The URL with its password replaced by `***`, for messages.
fn redacted(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?'])
        .map_or(url.len(), |offset| authority_start + offset);
    let authority = &url[authority_start..authority_end];
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!(
                "{}{user}:***@{host}{}",
                &url[..authority_start],
                &url[authority_end..]
            ),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{created_at, redacted, with_database};

    #[test]
    fn only_names_the_harness_makes_carry_a_creation_time() {
        let id = "0720d1eeaecf4e4b94af2dec4674c877";
        assert_eq!(
            created_at(&format!("carelog_test_1763780000_{id}")),
            Some(1_763_780_000)
        );
        for name in [
            format!("carelog_test_{id}"),
            "carelog_test_1_keep".to_owned(),
            format!("carelog_test_1_{id}\"; DROP TABLE x; --"),
            format!("carelog_test__{id}"),
            format!("carelog_test_12a_{id}"),
            format!("carelog_test_1_{}", id.to_uppercase()),
            format!("carelog_1_{id}"),
        ] {
            assert_eq!(created_at(&name), None, "{name}");
        }
    }

    fn check_with_database(server_url: &str, expected: &str) {
        assert_eq!(
            with_database(server_url, "carelog_test_1").ok().as_deref(),
            Some(expected),
            "{server_url}"
        );
    }

    #[test]
    fn replaces_the_database_in_a_url() {
        check_with_database(
            "postgres://carelog:carelog@127.0.0.1:5432/carelog",
            "postgres://carelog:carelog@127.0.0.1:5432/carelog_test_1",
        );
        check_with_database(
            "postgres://carelog:pw@db:5432/carelog?sslmode=disable",
            "postgres://carelog:pw@db:5432/carelog_test_1?sslmode=disable",
        );
        check_with_database(
            "postgresql://carelog@localhost",
            "postgresql://carelog@localhost/carelog_test_1",
        );
        check_with_database(
            "postgres://u:p@h?sslmode=disable",
            "postgres://u:p@h/carelog_test_1?sslmode=disable",
        );
        assert!(with_database("carelog", "carelog_test_1").is_err());
    }

    fn check_redacted(url: &str, expected: &str) {
        assert_eq!(redacted(url), expected, "{url}");
    }

    #[test]
    fn hides_passwords_in_messages() {
        check_redacted(
            "postgres://carelog:secret@127.0.0.1:5432/carelog",
            "postgres://carelog:***@127.0.0.1:5432/carelog",
        );
        check_redacted(
            "postgres://carelog:s:e@cret@h/db?x=1",
            "postgres://carelog:***@h/db?x=1",
        );
        check_redacted("postgres://carelog@h/db", "postgres://carelog@h/db");
        check_redacted("postgres://h:5432/db", "postgres://h:5432/db");
    }
}

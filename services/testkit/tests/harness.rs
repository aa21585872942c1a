//! The harness itself: private nats-servers keep their JetStream store across restarts and
//! crashes, and test databases are separate, usable and gone after drop.

use anyhow::{ensure, Context as _};
use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::{self, stream, ErrorCode};
use carelog_testkit::{NatsServer, TestDatabase};

const STREAM: &str = "HARNESS";

async fn create_stream(server: &NatsServer) -> anyhow::Result<jetstream::Context> {
    let jetstream = jetstream::new(server.client().await?);
    jetstream
        .create_stream(stream::Config {
            name: STREAM.to_owned(),
            subjects: vec!["harness.>".to_owned()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .context("create the HARNESS stream")?;
    Ok(jetstream)
}

/// Publishes `payloads` and returns the sequence numbers the server acknowledged.
async fn publish_all(
    jetstream: &jetstream::Context,
    payloads: &[&str],
) -> anyhow::Result<Vec<u64>> {
    let mut sequences = Vec::new();
    for payload in payloads {
        let ack = jetstream
            .publish("harness.events", payload.as_bytes().to_vec().into())
            .await
            .context("publish")?
            .await
            .context("wait for the publish acknowledgement")?;
        sequences.push(ack.sequence);
    }
    Ok(sequences)
}

/// Every payload in the stream, in sequence order, read through a fresh client.
async fn stored_payloads(server: &NatsServer) -> anyhow::Result<Vec<String>> {
    let jetstream = jetstream::new(server.client().await?);
    let stream = jetstream
        .get_stream(STREAM)
        .await
        .context("look up the HARNESS stream")?;
    let state = stream
        .get_info()
        .await
        .context("read the stream's state")?
        .state;
    let mut payloads = Vec::new();
    if state.messages == 0 {
        return Ok(payloads);
    }
    for sequence in state.first_sequence..=state.last_sequence {
        let message = stream
            .get_raw_message(sequence)
            .await
            .with_context(|| format!("read message {sequence}"))?;
        payloads.push(String::from_utf8(message.payload.to_vec())?);
    }
    Ok(payloads)
}

#[tokio::test]
async fn servers_get_their_own_ports_and_answer_at_their_urls() -> anyhow::Result<()> {
    let first = NatsServer::start().await?;
    let second = NatsServer::start().await?;
    assert_ne!(first.port(), second.port());
    assert_eq!(first.url(), format!("nats://127.0.0.1:{}", first.port()));

    let jetstream = create_stream(&first).await?;
    assert_eq!(publish_all(&jetstream, &["one", "two"]).await?, vec![1, 2]);
    // The second server has its own store: the first one's stream is not there.
    let on_second = jetstream::new(second.client().await?)
        .get_stream(STREAM)
        .await;
    match on_second {
        Err(error) => assert!(
            matches!(
                error.kind(),
                GetStreamErrorKind::JetStream(ref api_error)
                    if api_error.error_code() == ErrorCode::STREAM_NOT_FOUND
            ),
            "expected stream not found, got {error}"
        ),
        Ok(_) => panic!("HARNESS exists on the second server too"),
    }
    Ok(())
}

#[tokio::test]
async fn restart_keeps_the_port_and_the_stored_messages() -> anyhow::Result<()> {
    let mut server = NatsServer::start().await?;
    let port = server.port();
    let jetstream = create_stream(&server).await?;
    publish_all(&jetstream, &["admitted", "dose", "discharged"]).await?;

    server.restart().await?;

    assert_eq!(server.port(), port);
    assert_eq!(
        stored_payloads(&server).await?,
        ["admitted", "dose", "discharged"]
    );
    // The log goes on where it stopped.
    let jetstream = jetstream::new(server.client().await?);
    assert_eq!(publish_all(&jetstream, &["readmitted"]).await?, vec![4]);
    Ok(())
}

#[tokio::test]
async fn a_killed_server_comes_back_with_its_store() -> anyhow::Result<()> {
    let mut server = NatsServer::start().await?;
    let port = server.port();
    let jetstream = create_stream(&server).await?;
    publish_all(&jetstream, &["admitted", "dose"]).await?;

    server.kill();
    let refused = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        async_nats::connect(server.url()),
    )
    .await;
    ensure!(
        matches!(refused, Ok(Err(_))),
        "a client could still connect to the killed server"
    );

    server.restart().await?;
    assert_eq!(server.port(), port);
    assert_eq!(stored_payloads(&server).await?, ["admitted", "dose"]);
    Ok(())
}

#[tokio::test]
async fn test_databases_are_separate_and_dropped() -> anyhow::Result<()> {
    let first = TestDatabase::create().await?;
    let second = TestDatabase::create().await?;
    assert_ne!(first.name(), second.name());
    assert_ne!(first.url(), second.url());

    sqlx::query("CREATE TABLE doses (patient TEXT NOT NULL, milligrams INT NOT NULL)")
        .execute(first.pool())
        .await?;
    sqlx::query("INSERT INTO doses VALUES ('p1', 500), ('p1', 250)")
        .execute(first.pool())
        .await?;
    let total: i64 = sqlx::query_scalar("SELECT sum(milligrams) FROM doses")
        .fetch_one(first.pool())
        .await?;
    assert_eq!(total, 750);
    let current: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(first.pool())
        .await?;
    assert_eq!(current, first.name());

    // The second database does not see the first one's table.
    let tables_in_second: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'doses'",
    )
    .fetch_one(second.pool())
    .await?;
    assert_eq!(tables_in_second, 0);

    // Dropping works with connections still open (WITH (FORCE)).
    let held = first.pool().acquire().await?;
    let first_name = first.name().to_owned();
    drop(first);
    drop(held);
    let remaining: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(&first_name)
        .fetch_one(second.pool())
        .await?;
    assert_eq!(remaining, 0, "{first_name} still exists after drop");
    Ok(())
}

#[tokio::test]
async fn test_databases_left_behind_for_a_day_are_swept() -> anyhow::Result<()> {
    let database = TestDatabase::create().await?;
    let now = std::time::SystemTime::now();
    let seconds = now.duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let stale_seconds = seconds - carelog_testkit::STALE_AFTER.as_secs() - 60;
    let recent_seconds = seconds - carelog_testkit::STALE_AFTER.as_secs() + 60;
    let stale = format!(
        "carelog_test_{stale_seconds}_{}",
        uuid::Uuid::new_v4().simple()
    );
    let recent = format!(
        "carelog_test_{recent_seconds}_{}",
        uuid::Uuid::new_v4().simple()
    );
    for name in [&stale, &recent] {
        sqlx::raw_sql(&format!(r#"CREATE DATABASE "{name}""#))
            .execute(database.pool())
            .await?;
    }
    let dropped =
        TestDatabase::sweep_stale(database.server_url(), now, carelog_testkit::STALE_AFTER).await?;
    // (Another process's first `create` may have swept `stale` already: what counts is that it
    // is gone and the others are not.)
    assert!(!dropped.contains(&recent), "{dropped:?}");
    assert!(!dropped.iter().any(|name| name == database.name()));
    let exists = |name: String| {
        let pool = database.pool().clone();
        async move {
            sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
            )
            .bind(name)
            .fetch_one(&pool)
            .await
        }
    };
    ensure!(!exists(stale).await?, "the stale database is still there");
    ensure!(
        exists(recent.clone()).await?,
        "the recent database was dropped"
    );
    ensure!(exists(database.name().to_owned()).await?);
    sqlx::raw_sql(&format!(r#"DROP DATABASE "{recent}""#))
        .execute(database.pool())
        .await?;
    Ok(())
}

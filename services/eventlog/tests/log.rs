//! The care log against a real nats-server: appends, conflicts, deduplication, races,
//! restarts, garbage on the stream, and hash-chain verification.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::{Context, Result};
use carelog_eventlog::{
    AggregateHead, AggregateKey, AppendError, AppendOutcome, BreakKind, CareLog, CareLogConfig,
    ReadError,
};
use carelog_schemas::{Commit, CommitDraft, CommitHash, DecodeError, Family, PatientId, Timestamp};
use carelog_testkit::NatsServer;

mod support;
use futures::StreamExt;
use support::{appended, draft_for};

async fn start() -> Result<(NatsServer, CareLog)> {
    let (server, _client, log) = start_with(CareLogConfig::default()).await?;
    Ok((server, log))
}

async fn start_with(config: CareLogConfig) -> Result<(NatsServer, async_nats::Client, CareLog)> {
    let server = NatsServer::start().await?;
    let client = server.client().await?;
    let log = CareLog::connect(client.clone(), config)
        .await
        .context("set up the care stream")?;
    Ok((server, client, log))
}

/// Waits (bounded) until the client has reconnected after a server restart.
async fn reconnected(client: &async_nats::Client) -> Result<()> {
    tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while client.connection_state() != async_nats::connection::State::Connected {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .context("the client did not reconnect within 20 s")
}

#[tokio::test]
async fn appends_chain_and_load_in_order() -> Result<()> {
    let (_server, log) = start().await?;
    let patient = PatientId::new_random();
    let key = AggregateKey::new(patient, Family::Dose);
    assert_eq!(log.head(key).await?, AggregateHead::EMPTY);

    let first = appended(log.append(draft_for(patient), AggregateHead::EMPTY).await)?;
    // Another aggregate in between, so positions of one subject are not contiguous.
    appended(
        log.append(draft_for(PatientId::new_random()), AggregateHead::EMPTY)
            .await,
    )?;
    let second = appended(log.append(draft_for(patient), first.head()).await)?;

    assert_eq!(second.commit.previous_hash(), first.hash);
    assert_eq!(second.commit.appended_after(), first.position);
    let history = log.load_aggregate(key).await?;
    let positions: Vec<u64> = history.commits().iter().map(|c| c.position).collect();
    assert_eq!(positions, vec![first.position, second.position]);
    assert_eq!(history.head, second.head());
    assert_eq!(log.head(key).await?, second.head());
    assert_eq!(history.commits()[1].commit, second.commit);
    Ok(())
}

#[tokio::test]
async fn stale_expected_position_is_a_conflict_and_appends_nothing() -> Result<()> {
    let (_server, log) = start().await?;
    let patient = PatientId::new_random();
    let first = appended(log.append(draft_for(patient), AggregateHead::EMPTY).await)?;
    appended(log.append(draft_for(patient), first.head()).await)?;
    let before = log.last_position().await?;

    for stale in [AggregateHead::EMPTY, first.head()] {
        let outcome = log.append(draft_for(patient), stale).await;
        assert!(
            matches!(outcome, Err(AppendError::Conflict { expected_position, .. }) if expected_position == stale.position()),
            "stale head {stale:?} gave {outcome:?}"
        );
    }
    assert_eq!(log.last_position().await?, before);
    let history = log
        .load_aggregate(AggregateKey::new(patient, Family::Dose))
        .await?;
    assert_eq!(history.commits().len(), 2);
    Ok(())
}

#[tokio::test]
async fn the_same_commit_sent_twice_is_stored_once() -> Result<()> {
    let (_server, log) = start().await?;
    let patient = PatientId::new_random();
    let draft = draft_for(patient);
    let first = appended(log.append(draft.clone(), AggregateHead::EMPTY).await)?;
    // The retry names the same (now stale) head, as a client retrying after a lost ack would.
    let retry = log.append(draft, AggregateHead::EMPTY).await?;
    assert!(
        matches!(retry, AppendOutcome::Duplicate { position } if position == first.position),
        "{retry:?}"
    );
    assert_eq!(log.last_position().await?, first.position);
    let history = log
        .load_aggregate(AggregateKey::new(patient, Family::Dose))
        .await?;
    assert_eq!(history.commits().len(), 1);
    Ok(())
}

#[tokio::test]
async fn racing_writers_on_one_aggregate_one_wins_per_position() -> Result<()> {
    let (_server, log) = start().await?;
    let patient = PatientId::new_random();
    let key = AggregateKey::new(patient, Family::Dose);
    const RACERS: usize = 8;
    const ROUNDS: usize = 5;
    let barrier = Arc::new(tokio::sync::Barrier::new(RACERS));

    let mut tasks = Vec::new();
    // A racer that fails leaves the others waiting at the barrier: bound the whole race.
    let race = async {
        for _ in 0..RACERS {
            let log = log.clone();
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                let mut wins = Vec::new();
                let mut conflicts = 0usize;
                for _ in 0..ROUNDS {
                    // Everyone reads the head, then everyone appends on it at once.
                    barrier.wait().await;
                    let head = log.head(key).await?;
                    barrier.wait().await;
                    match log.append(draft_for(patient), head).await {
                        Ok(AppendOutcome::Appended(appended)) => {
                            wins.push((head.position(), appended.position))
                        }
                        Err(AppendError::Conflict { .. }) => conflicts += 1,
                        other => anyhow::bail!("unexpected append outcome {other:?}"),
                    }
                }
                anyhow::Ok((wins, conflicts))
            }));
        }
        let mut wins = Vec::new();
        let mut conflicts = 0;
        for task in tasks {
            let (task_wins, task_conflicts) = task.await??;
            wins.extend(task_wins);
            conflicts += task_conflicts;
        }
        anyhow::Ok((wins, conflicts))
    };
    let (wins, conflicts) = tokio::time::timeout(std::time::Duration::from_secs(60), race)
        .await
        .context("the race did not finish within 60 s")??;
    assert_eq!(wins.len(), ROUNDS, "exactly one winner per round: {wins:?}");
    assert_eq!(conflicts, ROUNDS * (RACERS - 1));
    let expected_positions: BTreeSet<u64> = wins.iter().map(|(expected, _)| *expected).collect();
    assert_eq!(
        expected_positions.len(),
        ROUNDS,
        "one win per expected position"
    );

    let history = log.load_aggregate(key).await?;
    assert_eq!(history.commits().len(), ROUNDS);
    assert!(log.verify_aggregate(key).await?.is_intact());
    Ok(())
}

#[tokio::test]
async fn pipelined_appends_for_many_aggregates_all_land() -> Result<()> {
    let (_server, log) = start().await?;
    let patients: Vec<PatientId> = (0..500).map(|_| PatientId::new_random()).collect();
    let batch = patients
        .iter()
        .map(|patient| (draft_for(*patient), AggregateHead::EMPTY))
        .collect();
    let outcomes = log.append_pipelined(batch, 128).await;
    let mut positions = BTreeSet::new();
    for outcome in outcomes {
        positions.insert(appended(outcome)?.position);
    }
    assert_eq!(positions.len(), patients.len());
    assert_eq!(log.last_position().await?, patients.len() as u64);
    // A second round on the same aggregates, naming the heads from the first.
    let heads: Vec<AggregateHead> = futures::future::try_join_all(
        patients
            .iter()
            .map(|patient| log.head(AggregateKey::new(*patient, Family::Dose))),
    )
    .await?;
    let batch = patients
        .iter()
        .zip(heads)
        .map(|(patient, head)| (draft_for(*patient), head))
        .collect();
    for outcome in log.append_pipelined(batch, 128).await {
        appended(outcome)?;
    }
    // A malformed commit in the middle of a pipeline fails alone, in its place.
    let mut batch: Vec<(CommitDraft, AggregateHead)> = (0..3)
        .map(|_| (draft_for(PatientId::new_random()), AggregateHead::EMPTY))
        .collect();
    batch[1].0.events.clear();
    let outcomes = log.append_pipelined(batch, 2).await;
    assert!(matches!(outcomes[0], Ok(AppendOutcome::Appended(_))));
    assert!(
        matches!(outcomes[1], Err(AppendError::Shape(_))),
        "{:?}",
        outcomes[1]
    );
    assert!(matches!(outcomes[2], Ok(AppendOutcome::Appended(_))));

    let report = log.verify_log().await?;
    assert!(report.is_intact(), "{:?}", report.first_break);
    assert_eq!(report.commits_checked, 2 * patients.len() as u64 + 2);
    assert_eq!(report.subjects_checked, patients.len() + 2);
    Ok(())
}

#[tokio::test]
async fn chained_appends_follow_each_other_on_one_aggregate_and_stop_where_one_fails() -> Result<()>
{
    let (_server, log) = start().await?;
    // Three commits for each of 50 patients, in rounds, with more in flight than patients (the
    // second round waits for the first's acknowledgements) and with fewer (it never waits).
    for max_in_flight in [128, 8] {
        let patients: Vec<PatientId> = (0..50).map(|_| PatientId::new_random()).collect();
        let drafts = (0..3).flat_map(|_| patients.iter().map(|patient| draft_for(*patient)));
        let mut heads = std::collections::HashMap::new();
        let outcomes = log.append_chained(drafts, &mut heads, max_in_flight).await;
        assert_eq!(outcomes.len(), 150);
        for outcome in outcomes {
            appended(outcome)?;
        }
        for patient in &patients {
            let key = AggregateKey::new(*patient, Family::Dose);
            assert_eq!(heads.get(&key), Some(&log.head(key).await?));
            let history = log.load_aggregate(key).await?;
            assert_eq!(history.commits().len(), 3);
        }
    }
    // One aggregate named at a stale head: its commits after the conflict are not sent; the
    // other aggregate's go on, after the head the caller gave.
    let stale = PatientId::new_random();
    let stale_key = AggregateKey::new(stale, Family::Dose);
    appended(log.append(draft_for(stale), AggregateHead::EMPTY).await)?;
    let other = PatientId::new_random();
    let other_key = AggregateKey::new(other, Family::Dose);
    let other_head = appended(log.append(draft_for(other), AggregateHead::EMPTY).await)?.head();
    let before = log.last_position().await?;
    let mut heads = std::collections::HashMap::from([(other_key, other_head)]);
    let drafts = [stale, other, stale, other, stale].map(draft_for);
    let outcomes = log.append_chained(drafts, &mut heads, 16).await;
    assert!(
        matches!(outcomes[0], Err(AppendError::Conflict { .. })),
        "{:?}",
        outcomes[0]
    );
    for index in [2, 4] {
        assert!(
            matches!(&outcomes[index], Err(AppendError::NotSent { subject }) if *subject == stale_key.subject()),
            "{:?}",
            outcomes[index]
        );
    }
    let second = appended(outcomes.into_iter().nth(3).context("a fourth outcome")?)?;
    assert_eq!(second.commit.appended_after(), before + 1);
    assert_eq!(log.last_position().await?, before + 2);
    assert_eq!(heads.get(&other_key), Some(&second.head()));
    assert!(!heads.contains_key(&stale_key));
    assert_eq!(log.load_aggregate(stale_key).await?.commits().len(), 1);
    let report = log.verify_log().await?;
    assert!(report.is_intact(), "{:?}", report.first_break);
    Ok(())
}

#[tokio::test]
async fn the_log_survives_a_server_restart_and_appends_continue() -> Result<()> {
    let (mut server, client, log) = start_with(CareLogConfig::default()).await?;
    let patient = PatientId::new_random();
    let key = AggregateKey::new(patient, Family::Dose);
    let mut head = AggregateHead::EMPTY;
    for _ in 0..3 {
        head = appended(log.append(draft_for(patient), head).await)?.head();
    }

    server.restart().await?;
    reconnected(&client).await?;

    for _ in 0..3 {
        head = appended(log.append(draft_for(patient), head).await)?.head();
    }
    let history = log.load_aggregate(key).await?;
    assert_eq!(history.commits().len(), 6);
    assert_eq!(history.head, head);
    assert!(log.verify_log().await?.is_intact());

    // A killed (not stopped) server too: acknowledged commits survive a process crash.
    server.kill();
    server.restart().await?;
    reconnected(&client).await?;
    let after_crash = log.load_aggregate(key).await?;
    assert_eq!(after_crash.commits().len(), 6);
    appended(log.append(draft_for(patient), head).await)?;
    Ok(())
}

#[tokio::test]
async fn setting_up_the_stream_twice_is_harmless_and_explicit() -> Result<()> {
    let (server, log) = start().await?;
    appended(
        log.append(draft_for(PatientId::new_random()), AggregateHead::EMPTY)
            .await,
    )?;
    let again = CareLog::connect(server.client().await?, CareLogConfig::default()).await?;
    assert_eq!(again.last_position().await?, 1);
    let info = again
        .jetstream()
        .get_stream("CARE")
        .await?
        .get_info()
        .await?;
    assert_eq!(info.config.max_age, std::time::Duration::ZERO);
    assert_eq!(info.config.max_messages, -1);
    assert_eq!(info.config.max_bytes, -1);
    assert_eq!(
        info.config.storage,
        async_nats::jetstream::stream::StorageType::File
    );
    assert!(info.config.duplicate_window >= std::time::Duration::from_secs(600));
    Ok(())
}

#[tokio::test]
async fn processes_setting_the_stream_up_at_once_all_succeed() -> Result<()> {
    // `carelog run` and a writer (or `carelog setup`) starting together on a fresh server.
    let server = NatsServer::start().await?;
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(server.client().await?);
    }
    let set_ups = futures::future::join_all(
        clients
            .into_iter()
            .map(|client| CareLog::connect(client, CareLogConfig::default())),
    )
    .await;
    for set_up in set_ups {
        set_up.context("a set-up racing the others")?;
    }
    Ok(())
}

#[tokio::test]
async fn opening_reads_the_stream_as_it_is_and_fails_when_there_is_none() -> Result<()> {
    let server = carelog_testkit::NatsServer::start().await?;
    let missing = CareLog::open(server.client().await?, CareLogConfig::default()).await;
    assert!(
        matches!(missing, Err(carelog_eventlog::SetupError::Missing { .. })),
        "{missing:?}"
    );
    // Opening created nothing.
    let jetstream = async_nats::jetstream::new(server.client().await?);
    assert!(jetstream.get_stream("CARE").await.is_err());

    let log = CareLog::connect(server.client().await?, CareLogConfig::default()).await?;
    appended(
        log.append(draft_for(PatientId::new_random()), AggregateHead::EMPTY)
            .await,
    )?;
    let opened = CareLog::open(server.client().await?, CareLogConfig::default()).await?;
    assert_eq!(opened.last_position().await?, 1);
    assert!(opened.verify_log().await?.is_intact());
    Ok(())
}

#[tokio::test]
async fn garbage_on_a_care_subject_is_a_typed_error_with_its_position() -> Result<()> {
    let (server, log) = start().await?;
    let patient = PatientId::new_random();
    let key = AggregateKey::new(patient, Family::Dose);
    let first = appended(log.append(draft_for(patient), AggregateHead::EMPTY).await)?;

    let client = server.client().await?;
    let jetstream = async_nats::jetstream::new(client);
    let garbage_position = jetstream
        .publish(key.subject(), "{\"not\": \"a commit\"}".into())
        .await?
        .await?
        .sequence;
    let after = appended(
        log.append(draft_for(PatientId::new_random()), AggregateHead::EMPTY)
            .await,
    )?;

    // Loading the aggregate refuses to decide on a broken history.
    let error = log
        .load_aggregate(key)
        .await
        .expect_err("garbage must not load");
    assert!(
        matches!(error, ReadError::Undecodable { position, .. } if position == garbage_position),
        "{error:?}"
    );
    assert_eq!(error.position(), Some(garbage_position));

    // Reading the log yields the error in its place and goes on.
    let items: Vec<_> = log
        .read_range(1, after.position)
        .await?
        .collect::<Vec<_>>()
        .await;
    assert_eq!(items.len(), 3);
    assert_eq!(
        items[0].as_ref().map(|c| c.position).ok(),
        Some(first.position)
    );
    assert!(
        matches!(&items[1], Err(ReadError::Undecodable { position, source: DecodeError::Frame(_), .. }) if *position == garbage_position)
    );
    assert_eq!(
        items[2].as_ref().map(|c| c.position).ok(),
        Some(after.position)
    );
    // A range reaching past the end of the log ends at the end instead of waiting, and a
    // reader taking batches may poll once more after the end: it stays ended.
    let mut past_the_end = log.read_range(1, after.position + 100).await?;
    let mut read = 0;
    while past_the_end.next().await.is_some() {
        read += 1;
    }
    assert_eq!(read, 3);
    assert!(past_the_end.next().await.is_none());

    let report = log.verify_log().await?;
    let found = report.first_break.expect("verify must report the garbage");
    assert_eq!(found.position, garbage_position);
    assert!(matches!(found.kind, BreakKind::Undecodable(_)));
    Ok(())
}

#[tokio::test]
async fn verify_finds_a_commit_forged_with_a_wrong_previous_hash() -> Result<()> {
    let (server, log) = start().await?;
    let patient = PatientId::new_random();
    let key = AggregateKey::new(patient, Family::Dose);
    let mut head = AggregateHead::EMPTY;
    for _ in 0..3 {
        head = appended(log.append(draft_for(patient), head).await)?.head();
    }
    assert!(log.verify_aggregate(key).await?.is_intact());
    assert!(log.verify_log().await?.is_intact());

    // A forger writes straight to the stream a well-formed, correctly self-hashed commit that
    // claims a different history before it.
    let (genuine, _) = Commit::seal(
        draft_for(patient),
        Timestamp::now(),
        head.position(),
        head.hash(),
    )?;
    let forged = genuine.forge_for_tests(head.position(), CommitHash([7; 32]), None);
    let jetstream = async_nats::jetstream::new(server.client().await?);
    let forged_position = jetstream
        .publish(key.subject(), forged.encode().bytes.into())
        .await?
        .await?
        .sequence;
    // Later commits chain correctly onto the forged one; the break is still found where it is.
    let forged_head = log.head(key).await?;
    appended(log.append(draft_for(patient), forged_head).await)?;

    for report in [log.verify_aggregate(key).await?, log.verify_log().await?] {
        let found = report.first_break.expect("the forgery must be found");
        assert_eq!(found.position, forged_position);
        assert_eq!(
            found.kind,
            BreakKind::PreviousHashMismatch {
                expected: head.hash(),
                found: CommitHash([7; 32]),
            }
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_resend_after_a_lost_ack_is_reported_as_appended_and_stored_once() -> Result<()> {
    let config = CareLogConfig {
        ack_timeout: std::time::Duration::from_millis(300),
        ..CareLogConfig::default()
    };
    let (server, _client, log) = start_with(config).await?;
    let patient = PatientId::new_random();
    let first = appended(log.append(draft_for(patient), AggregateHead::EMPTY).await)?;

    // The server stalls: the append is sent, but its acknowledgement cannot come in time, so
    // the client sends the same commit again; once the server thaws, it stores the first copy
    // and answers the resend as a duplicate of it.
    server.pause()?;
    let pending_log = log.clone();
    let append =
        tokio::spawn(async move { pending_log.append(draft_for(patient), first.head()).await });
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    server.resume()?;
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(30), append)
        .await
        .context("the append did not finish within 30 s")??;
    let second = appended(outcome)?;

    assert_eq!(log.last_position().await?, second.position);
    let history = log
        .load_aggregate(AggregateKey::new(patient, Family::Dose))
        .await?;
    assert_eq!(history.commits().len(), 2);
    assert_eq!(history.head, second.head());
    assert!(log.verify_log().await?.is_intact());
    Ok(())
}

#[tokio::test]
async fn a_loaded_aggregate_catches_up_with_later_commits_and_still_refuses_garbage() -> Result<()>
{
    let (server, log) = start().await?;
    // Another writer with a cache of its own (as another service instance would be), so the
    // reader's cache does not learn of its appends.
    let writer = CareLog::connect(server.client().await?, CareLogConfig::default()).await?;
    let patient = PatientId::new_random();
    let key = AggregateKey::new(patient, Family::Dose);
    let first = appended(
        writer
            .append(draft_for(patient), AggregateHead::EMPTY)
            .await,
    )?;
    assert_eq!(log.load_aggregate(key).await?.commits().len(), 1);

    // Moves on by two commits, with another aggregate's commits in between: the next load
    // (caught up from the cached one) has all three, in order.
    let second = appended(writer.append(draft_for(patient), first.head()).await)?;
    appended(
        writer
            .append(draft_for(PatientId::new_random()), AggregateHead::EMPTY)
            .await,
    )?;
    let third = appended(writer.append(draft_for(patient), second.head()).await)?;
    // The reader did not write the last commit it knows of: nothing to decide on unread.
    assert!(log.cached_aggregate(key).is_none());
    let history = log.load_aggregate(key).await?;
    let positions: Vec<u64> = history.commits().iter().map(|c| c.position).collect();
    assert_eq!(
        positions,
        vec![first.position, second.position, third.position]
    );
    assert_eq!(history.head, third.head());
    // A second loader (a clone shares the cache) sees the same.
    assert_eq!(log.clone().load_aggregate(key).await?.head, third.head());

    // Far behind (more commits than a catch-up follows): read whole, still complete.
    let mut head = third.head();
    for _ in 0..20 {
        head = appended(writer.append(draft_for(patient), head).await)?.head();
    }
    let history = log.load_aggregate(key).await?;
    assert_eq!(history.commits().len(), 23);
    assert_eq!(history.head, head);

    // Garbage after a cached load is still refused, with its position.
    let jetstream = async_nats::jetstream::new(server.client().await?);
    let garbage_position = jetstream
        .publish(key.subject(), "not a commit".into())
        .await?
        .await?
        .sequence;
    let error = log
        .load_aggregate(key)
        .await
        .expect_err("garbage must not load");
    assert_eq!(error.position(), Some(garbage_position));
    Ok(())
}

#[tokio::test]
async fn own_appends_extend_the_cached_aggregate() -> Result<()> {
    let (server, log) = start().await?;
    let patient = PatientId::new_random();
    let key = AggregateKey::new(patient, Family::Dose);
    assert!(log.cached_aggregate(key).is_none());
    // An empty aggregate, once loaded, is cached as empty.
    assert_eq!(log.load_aggregate(key).await?.head, AggregateHead::EMPTY);
    let first = appended(log.append(draft_for(patient), AggregateHead::EMPTY).await)?;
    let second = appended(log.clone().append(draft_for(patient), first.head()).await)?;
    let cached = log
        .cached_aggregate(key)
        .context("the appended aggregate is cached")?;
    let positions: Vec<u64> = cached.commits().iter().map(|c| c.position).collect();
    assert_eq!(positions, vec![first.position, second.position]);
    assert_eq!(cached.head, second.head());

    // An append after a head the cache does not hold leaves the cache alone (the cached
    // history would have a hole): here, one that conflicts.
    let stale = log.append(draft_for(patient), first.head()).await;
    assert!(matches!(stale, Err(AppendError::Conflict { .. })));
    assert_eq!(
        log.cached_aggregate(key).map(|h| h.head),
        Some(second.head())
    );
    // Once a load finds another writer's commit, the cached history is no longer offered
    // unread; the next own append offers it again.
    let writer = CareLog::connect(server.client().await?, CareLogConfig::default()).await?;
    let third = appended(writer.append(draft_for(patient), second.head()).await)?;
    assert_eq!(log.load_aggregate(key).await?.head, third.head());
    assert!(log.cached_aggregate(key).is_none());
    let fourth = appended(log.append(draft_for(patient), third.head()).await)?;
    assert_eq!(
        log.cached_aggregate(key).map(|h| h.head),
        Some(fourth.head())
    );
    // Never loaded, never cached: appends to it do not fill the cache.
    let other = PatientId::new_random();
    appended(log.append(draft_for(other), AggregateHead::EMPTY).await)?;
    assert!(log
        .cached_aggregate(AggregateKey::new(other, Family::Dose))
        .is_none());
    Ok(())
}

//! The care log on a three-node JetStream cluster with a replicated stream (replicas 3): the
//! same guarantees as on one node — conflicts, deduplication, one winner per race — and appends
//! go on while one node is down.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use carelog_eventlog::{
    AggregateHead, AggregateKey, AppendError, AppendOutcome, CareLog, CareLogConfig, SetupError,
};
use carelog_schemas::{Family, PatientId};
use carelog_testkit::NatsCluster;

mod support;
use support::{appended, draft_for};

#[tokio::test]
async fn a_replicated_care_log_keeps_its_guarantees_and_survives_a_node() -> Result<()> {
    let mut cluster = NatsCluster::start().await?;
    let config = CareLogConfig {
        replicas: 3,
        ..CareLogConfig::default()
    };
    let log = CareLog::connect(cluster.client().await?, config)
        .await
        .context("set up the replicated care stream")?;
    let info = log.jetstream().get_stream("CARE").await?.get_info().await?;
    assert_eq!(info.config.num_replicas, 3);
    // Set-up with the single-machine default does not drop the copies.
    let single = CareLog::connect(cluster.client().await?, CareLogConfig::default()).await;
    assert!(
        matches!(
            single,
            Err(SetupError::FewerReplicas {
                live: 3,
                configured: 1,
                ..
            })
        ),
        "{single:?}"
    );
    let info = log.jetstream().get_stream("CARE").await?.get_info().await?;
    assert_eq!(info.config.num_replicas, 3);

    let patient = PatientId::new_random();
    let key = AggregateKey::new(patient, Family::Dose);
    let draft = draft_for(patient);
    let first = appended(log.append(draft.clone(), AggregateHead::EMPTY).await)?;

    // The same commit again: stored once, answered with the original position.
    let again = log.append(draft, AggregateHead::EMPTY).await?;
    assert!(
        matches!(again, AppendOutcome::Duplicate { position } if position == first.position),
        "{again:?}"
    );
    // A stale head: a conflict, nothing appended.
    let stale = log.append(draft_for(patient), AggregateHead::EMPTY).await;
    assert!(
        matches!(stale, Err(AppendError::Conflict { .. })),
        "{stale:?}"
    );
    assert_eq!(log.last_position().await?, first.position);

    // Racers on one head: exactly one wins.
    let head = log.head(key).await?;
    let log = Arc::new(log);
    let racers = (0..6).map(|_| {
        let log = log.clone();
        tokio::spawn(async move { log.append(draft_for(patient), head).await })
    });
    let mut wins = 0;
    for racer in racers {
        match racer.await? {
            Ok(AppendOutcome::Appended(_)) => wins += 1,
            Err(AppendError::Conflict { .. }) => {}
            other => anyhow::bail!("unexpected racer outcome {other:?}"),
        }
    }
    assert_eq!(wins, 1);

    // One node down: the other two are a quorum, and appends go on.
    cluster
        .node_mut(2)
        .context("the cluster has three nodes")?
        .kill();
    let head = log.head(key).await?;
    let during = tokio::time::timeout(
        Duration::from_secs(60),
        log.append(draft_for(patient), head),
    )
    .await
    .context("no append within 60 s with one node down")?;
    let during = appended(during)?;
    cluster
        .node_mut(2)
        .context("the cluster has three nodes")?
        .restart()
        .await?;

    let history = log.load_aggregate(key).await?;
    let positions: Vec<u64> = history.commits().iter().map(|c| c.position).collect();
    eprintln!(
        "first {} during {} last {} history {positions:?}",
        first.position,
        during.position,
        log.last_position().await?
    );
    assert_eq!(history.commits().len(), 3);
    assert_eq!(history.head, during.head());
    let report = log.verify_log().await?;
    assert!(report.is_intact(), "{:?}", report.first_break);
    Ok(())
}

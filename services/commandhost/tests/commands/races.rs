//! Two instances of every service racing on one patient: both answer correctly, the rules hold
//! on the result, and the aggregate's chain stays whole.

use anyhow::{ensure, Result};
use carelog_commands::{execute, Outcome, RuntimeOptions};
use carelog_eventlog::{AggregateKey, CareLog, CareLogConfig};
use carelog_schemas::Family;
use carelog_target::TargetService;
use futures::future::join_all;
use serde_json::json;

use crate::support::{check, new_id, Cast, Harness, OK};

#[tokio::test]
async fn two_instances_racing_on_one_patient_stay_consistent() -> Result<()> {
    let harness = Harness::start_instances(2).await?;
    let cast = Cast::new();

    // Many independent observations at once: every one is appended exactly once.
    let envelopes: Vec<_> = (0..16)
        .map(|_| {
            cast.command(
                &cast.patient,
                json!({ "observation_id": new_id(), "value": { "mood": 5 } }),
            )
        })
        .collect();
    let replies = join_all(
        envelopes
            .iter()
            .map(|envelope| harness.send("observation.record", envelope)),
    )
    .await;
    let mut positions = Vec::new();
    for reply in replies {
        let reply = reply?;
        ensure!(reply.ok(), "{}", reply.json);
        positions.push(reply.position());
    }
    positions.sort_unstable();
    positions.dedup();
    ensure!(positions.len() == 16, "each command got its own commit");
    ensure!(
        harness
            .commits(cast.patient_id(), Family::Observation)
            .await?
            == 16,
        "16 commits"
    );

    // Two thought exercises at once: one wins, the other is refused on fresh state; never both.
    for round in 0..4 {
        let racers: Vec<_> = (0..2)
            .map(|_| {
                cast.command(
                    &cast.patient,
                    json!({ "target_id": new_id(), "category": "cognitive", "menu_item": null,
                            "description": "reframe", "plan": "once a day" }),
                )
            })
            .collect();
        let replies = join_all(
            racers
                .iter()
                .map(|envelope| harness.send("target.set", envelope)),
        )
        .await;
        let mut accepted = 0;
        let mut too_many = 0;
        for reply in replies {
            let reply = reply?;
            if reply.ok() {
                accepted += 1;
            } else if reply.rule() == Some("too_many_goals") {
                too_many += 1;
            } else {
                anyhow::bail!("round {round}: unexpected {}", reply.json);
            }
        }
        ensure!(
            accepted == 1 && too_many == 1,
            "round {round}: {accepted} accepted, {too_many} refused"
        );
        // Retire the winner so the next round races again.
        let history = harness
            .log
            .load_aggregate(AggregateKey::new(cast.patient_id(), Family::Target))
            .await?;
        let last = history
            .commits()
            .last()
            .map(|stored| stored.commit.recorded_events(stored.position));
        let target_id = last
            .and_then(|events| {
                events
                    .first()
                    .map(|event| event.payload.data_to_json()["target_id"].clone())
            })
            .unwrap_or_default();
        check(
            &harness,
            "retire",
            "target.retire",
            cast.command(
                &cast.patient,
                json!({ "target_id": target_id, "reason": "replaced" }),
            ),
            OK,
        )
        .await?;
    }

    // The same command delivered to both instances at once: one commit, one answer.
    let envelope = cast.command(
        &cast.patient,
        json!({ "observation_id": new_id(), "value": { "mood": 7 } }),
    );
    let before = harness
        .commits(cast.patient_id(), Family::Observation)
        .await?;
    let replies = join_all((0..4).map(|_| harness.send("observation.record", &envelope))).await;
    let mut bodies = Vec::new();
    for reply in replies {
        let reply = reply?;
        ensure!(reply.ok(), "{}", reply.json);
        bodies.push(reply.body);
    }
    ensure!(
        bodies.windows(2).all(|pair| pair[0] == pair[1]),
        "every delivery got the same answer"
    );
    ensure!(
        harness
            .commits(cast.patient_id(), Family::Observation)
            .await?
            == before + 1,
        "appended once"
    );

    for family in [Family::Observation, Family::Target] {
        let report = harness
            .log
            .verify_aggregate(AggregateKey::new(cast.patient_id(), family))
            .await?;
        ensure!(
            report.first_break.is_none(),
            "{family} chain broken: {:?}",
            report.first_break
        );
    }
    harness.stop().await
}

/// Two instances whose caches disagree with the log, driven one command at a time: a decision
/// on a stale cached aggregate never stands on its own. A refusal it reaches is decided again
/// on fresh state; an acceptance it reaches is refused by the append and decided again.
#[tokio::test]
async fn a_stale_cached_aggregate_never_decides_alone() -> Result<()> {
    let server = carelog_testkit::NatsServer::start().await?;
    let connect = || async {
        let client = server.client().await?;
        let log = CareLog::connect(client, CareLogConfig::default()).await?;
        anyhow::Ok(log)
    };
    // Two instances of the target service, each with its own cache.
    let (first, second) = (connect().await?, connect().await?);
    let cast = Cast::new();
    let send = |log: &CareLog, name: &'static str, data: serde_json::Value| {
        let payload = serde_json::to_vec(&cast.command(&cast.patient, data));
        let log = log.clone();
        async move {
            let payload = payload?;
            anyhow::Ok(
                execute(
                    &TargetService,
                    &log,
                    RuntimeOptions::default(),
                    name,
                    &payload,
                )
                .await,
            )
        }
    };
    let thought = |target_id: &str| {
        json!({ "target_id": target_id, "category": "cognitive", "menu_item": null,
                "description": "reframe", "plan": "once a day" })
    };
    let accepted = |outcome: &Outcome| {
        matches!(
            outcome,
            Outcome::Accepted {
                replayed: false,
                ..
            }
        )
    };
    let refused_with = |outcome: &Outcome, rule: &str| matches!(outcome, Outcome::Rejected { error, .. } if error.rule == Some(rule));

    let one = new_id();
    ensure!(accepted(&send(&first, "set", thought(&one)).await?));
    // The second instance retires it; the first's cache still shows it active.
    let retired = send(
        &second,
        "retire",
        json!({ "target_id": one, "reason": "replaced" }),
    );
    ensure!(accepted(&retired.await?));
    // On its cache the first would refuse ("too many goals"): decided again on fresh state,
    // it is accepted.
    let outcome = send(&first, "set", thought(&new_id())).await?;
    ensure!(accepted(&outcome), "{}", outcome.to_json());
    // On its cache the second would accept a second thought exercise: the append is refused
    // (the aggregate moved), and on fresh state so is the command.
    let outcome = send(&second, "set", thought(&new_id())).await?;
    ensure!(
        refused_with(&outcome, "too_many_goals"),
        "{}",
        outcome.to_json()
    );

    let key = AggregateKey::new(cast.patient_id(), Family::Target);
    let history = first.load_aggregate(key).await?;
    ensure!(history.commits().len() == 3, "set, retire, set");
    let report = first.verify_aggregate(key).await?;
    ensure!(report.first_break.is_none(), "{:?}", report.first_break);
    Ok(())
}

//! The `carelog` binary as `make run` starts it: against a real nats-server it sets up the care
//! log, says so in a health line, and stops cleanly on SIGTERM; `carelog verify` tells an intact
//! log from a forged one by its exit status.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use carelog_eventlog::{AggregateHead, CareLog, CareLogConfig};
use carelog_schemas::{
    Actor, CommandId, CommitDraft, CommitId, CorrelationId, EventId, EventPayload, EventRecord,
    Family, PartyId, PatientId, Role, Timestamp,
};
use carelog_testkit::{NatsServer, NatsUser, TestDatabase};

fn carelog(nats_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_carelog"));
    command
        .env("NATS_URL", nats_url)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    command
}

#[tokio::test]
async fn run_sets_up_the_log_prints_health_and_stops_on_sigterm() -> Result<()> {
    let server = NatsServer::start().await?;
    let database = TestDatabase::create().await?;
    let mut child = carelog(&server.url())
        .env("DATABASE_URL", database.url())
        .arg("run")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("start carelog run")?;
    let stdout = child.stdout.take().context("carelog stdout")?;
    // The health line is the readiness signal; read lines until it comes (bounded by the
    // process: if it exits, the pipe closes and the loop ends).
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|line| line.contains("health: care log ready"))
    });
    let health = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if reader.is_finished() {
                return reader.join().ok().flatten();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .context("no health line within 60 s")?
    .context("carelog run exited without a health line")?;
    assert!(health.contains("stream=CARE"), "{health}");
    assert!(health.contains("position=0"), "{health}");

    // The stream exists with the care subjects.
    let jetstream = async_nats::jetstream::new(server.client().await?);
    let info = jetstream.get_stream("CARE").await?.get_info().await?;
    assert!(info.config.subjects.contains(&"care.dose.*".to_owned()));

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait()).await??;
    assert!(exit.success(), "carelog run exited with {exit}");
    Ok(())
}

#[tokio::test]
async fn verify_exits_non_zero_on_a_forged_log() -> Result<()> {
    let server = NatsServer::start().await?;
    // Verify changes nothing: where there is no care log, it says so and creates none.
    let missing = carelog(&server.url()).arg("verify").output()?;
    assert!(!missing.status.success(), "verify passed without a log");
    let said = String::from_utf8_lossy(&missing.stdout);
    assert!(
        said.contains("stream CARE") && said.contains("does not exist"),
        "{said}"
    );

    carelog_eventlog::CareLog::connect(
        server.client().await?,
        carelog_eventlog::CareLogConfig::default(),
    )
    .await?;
    let ok = carelog(&server.url()).arg("verify").output()?;
    assert!(
        ok.status.success(),
        "verify of an empty log failed: {}",
        String::from_utf8_lossy(&ok.stdout)
    );

    let jetstream = async_nats::jetstream::new(server.client().await?);
    jetstream
        .publish(
            "care.consent.5b0c3f5e-2f1a-4c9d-8e7b-6a5f4e3d2c1b",
            "forged".into(),
        )
        .await?
        .await?;
    let broken = carelog(&server.url()).arg("verify").output()?;
    assert!(!broken.status.success(), "verify accepted a forged commit");
    let said = String::from_utf8_lossy(&broken.stdout);
    assert!(said.contains("log position 1"), "{said}");
    Ok(())
}

#[tokio::test]
async fn projections_lag_shows_the_read_models_beside_the_log() -> Result<()> {
    let server = NatsServer::start().await?;
    let database = TestDatabase::create().await?;
    // The projections' commands open the stream without managing it: before `setup` there is
    // none, and they say how to make it.
    let before = carelog(&server.url())
        .env("DATABASE_URL", database.url())
        .args(["projections", "lag"])
        .output()?;
    let said = String::from_utf8_lossy(&before.stdout);
    assert!(!before.status.success(), "lag ran without a care stream");
    assert!(
        said.contains("does not exist") && said.contains("carelog setup"),
        "{said}"
    );
    let setup = carelog(&server.url()).arg("setup").output()?;
    let said = String::from_utf8_lossy(&setup.stdout);
    assert!(setup.status.success(), "{said}");
    assert!(said.contains("the care stream is ready"), "{said}");
    let output = carelog(&server.url())
        .env("DATABASE_URL", database.url())
        .args(["projections", "lag"])
        .output()?;
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        said.contains("applied_position=0 log_position=0 behind=0"),
        "{said}"
    );
    Ok(())
}

#[tokio::test]
async fn the_projections_run_alone_as_their_own_nats_user() -> Result<()> {
    let server = NatsServer::start_with_authorization().await?;
    let database = TestDatabase::create().await?;
    let setup = carelog(&server.url_as(NatsUser::Carelog))
        .arg("setup")
        .output()?;
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stdout)
    );
    // One commit in the log, appended as the all-in-one user.
    let log = CareLog::open(server.client().await?, CareLogConfig::default()).await?;
    let patient = PatientId::new_random();
    let draft = CommitDraft {
        commit_id: CommitId::new_random(),
        command_id: CommandId::new_random(),
        correlation_id: CorrelationId::new_random(),
        patient_id: patient,
        family: Family::Observation,
        actor: Actor {
            role: Role::Patient,
            party_id: PartyId::try_from(*patient.as_uuid())?,
        },
        events: vec![EventRecord {
            event_id: EventId::now_v7(),
            occurred_at: Timestamp::now(),
            payload: EventPayload::from_json_parts(
                Family::Observation,
                "observation_recorded",
                1,
                serde_json::json!({
                    "observation_id": uuid::Uuid::new_v4(), "value": {"mood": 6}, "flags": [],
                }),
            )?,
        }],
    };
    log.append(draft, AggregateHead::EMPTY).await?;

    let projections = server.url_as(NatsUser::Projections);
    let mut child = carelog(&projections)
        .env("DATABASE_URL", database.url())
        .args(["projections", "run"])
        .stdout(Stdio::null())
        .spawn()
        .context("start carelog projections run")?;
    // Until the read models hold the commit (bounded), asked as the projections user.
    let caught_up = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let lag = carelog(&projections)
                .env("DATABASE_URL", database.url())
                .args(["projections", "lag"])
                .output()?;
            if String::from_utf8_lossy(&lag.stdout).contains("applied_position=1 log_position=1") {
                return anyhow::Ok(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait()).await??;
    caught_up.context("the projections did not apply the commit within 60 s")??;
    assert!(exit.success(), "carelog projections run exited with {exit}");
    Ok(())
}

#[tokio::test]
async fn a_user_without_the_right_is_told_the_server_refused_it() -> Result<()> {
    let server = NatsServer::start_with_authorization().await?;
    // Setting the care stream up is the carelog user's alone: the auditor is refused, and the
    // refusal, not a bare timeout, is what it reads.
    let setup = carelog(&server.url_as(NatsUser::Auditor))
        .arg("setup")
        .output()?;
    assert!(!setup.status.success(), "the auditor set the stream up");
    let said = String::from_utf8_lossy(&setup.stdout).to_lowercase();
    assert!(
        said.contains("refused this user")
            && said.contains("permissions violation")
            && said.contains("only the `carelog` user"),
        "{said}"
    );
    // A wrong password: said at once, not after a timeout.
    let wrong = carelog(
        &server
            .url_as(NatsUser::Carelog)
            .replace("carelog-dev-only", "wrong"),
    )
    .arg("setup")
    .output()?;
    assert!(!wrong.status.success(), "set up with a wrong password");
    let said = String::from_utf8_lossy(&wrong.stdout).to_lowercase();
    assert!(
        said.contains("authorization violation") && said.contains("password in nats_url"),
        "{said}"
    );
    // A stream the authorization file does not name.
    let verify = carelog(&server.url_as(NatsUser::Auditor))
        .env("CARELOG_STREAM", "NOPE")
        .arg("verify")
        .output()?;
    assert!(!verify.status.success());
    let said = String::from_utf8_lossy(&verify.stdout).to_lowercase();
    assert!(
        said.contains("permissions violation") && said.contains("carelog_stream"),
        "{said}"
    );
    Ok(())
}

//! The carelog system process: configuration, start-up of the care log, and (as later
//! services arrive) the services themselves, run until shutdown.

use std::future::Future;
use std::time::Duration;

use anyhow::{Context, Result};
use carelog_eventlog::{CareLog, CareLogConfig};

/// Configuration of a carelog process, from flags or the environment.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// NATS server holding the care log.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// JetStream stream name of the care log.
    #[arg(long, env = "CARELOG_STREAM", default_value = "CARE")]
    pub stream: String,
    /// Replicas of the care stream: 1 on one machine, 3 on a cluster.
    #[arg(long, env = "CARELOG_REPLICAS", default_value_t = 1)]
    pub replicas: usize,
    /// JetStream duplicate window in seconds (at least 600).
    #[arg(long, env = "CARELOG_DUPLICATE_WINDOW_SECS", default_value_t = 600)]
    pub duplicate_window_secs: u64,
}

impl Config {
    pub fn care_log_config(&self) -> CareLogConfig {
        CareLogConfig {
            stream_name: self.stream.clone(),
            replicas: self.replicas,
            duplicate_window: Duration::from_secs(self.duplicate_window_secs),
            ..CareLogConfig::default()
        }
    }
}

/// Connects to NATS and sets up the care stream.
pub async fn connect_care_log(config: &Config) -> Result<CareLog> {
    let client = async_nats::ConnectOptions::new()
        .name("carelog")
        .retry_on_initial_connect()
        .connect(&config.nats_url)
        .await
        .with_context(|| format!("connect to NATS at {}", config.nats_url))?;
    let connect = CareLog::connect(client, config.care_log_config());
    tokio::time::timeout(Duration::from_secs(30), connect)
        .await
        .with_context(|| format!("NATS at {} did not answer within 30 s", config.nats_url))?
        .context("set up the care stream")
}

/// Runs the system until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<()> {
    let care_log = connect_care_log(&config).await?;
    let position = care_log
        .last_position()
        .await
        .context("read the care log's position")?;
    tracing::info!(
        nats = %config.nats_url,
        stream = %config.stream,
        replicas = config.replicas,
        position,
        "health: care log ready"
    );
    shutdown.await;
    tracing::info!("shutting down");
    Ok(())
}

/// Verifies the whole care log and fails at the first break.
pub async fn verify(config: Config) -> Result<()> {
    let care_log = connect_care_log(&config).await?;
    let report = care_log.verify_log().await.context("walk the care log")?;
    match report.first_break {
        None => {
            tracing::info!(
                commits = report.commits_checked,
                aggregates = report.subjects_checked,
                last_position = report.last_position,
                "verify: the care log is complete and unaltered"
            );
            Ok(())
        }
        Some(found) => Err(anyhow::anyhow!(
            "verify: the care log is broken after {} good commits: {found}",
            report.commits_checked
        )),
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

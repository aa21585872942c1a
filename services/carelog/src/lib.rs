//! The carelog system process: configuration, start-up of the care log and the read models,
//! then the four command services and the projections, run until shutdown.

use std::future::Future;
use std::time::Duration;

use anyhow::{Context, Result};
use carelog_eventlog::{CareLog, CareLogConfig};
use carelog_projections::{Lag, ProjectionConfig, Projector};

/// Configuration of a carelog process, from flags or the environment.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// NATS server holding the care log, with the login to use if it needs one
    /// (`nats://user:password@host:port`; several URLs separated by commas). The default logs
    /// in to the `make up` server as its `carelog` user (development password, loopback only);
    /// a URL without a login connects without one.
    #[arg(
        long,
        env = "NATS_URL",
        default_value = "nats://carelog:carelog-dev-only@127.0.0.1:4222",
        hide_env_values = true
    )]
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
    /// PostgreSQL holding the projections' read models.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://carelog:carelog@127.0.0.1:5432/carelog",
        hide_env_values = true
    )]
    pub database_url: String,
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

    pub fn projection_config(&self) -> ProjectionConfig {
        ProjectionConfig::new(self.database_url.clone())
    }
}

/// Connects to NATS and sets up the care stream.
async fn connect_care_log(config: &Config) -> Result<CareLog> {
    Ok(connect(config).await?.1)
}

/// Connects to NATS, sets up the care stream, and returns both the connection and the log.
async fn connect(config: &Config) -> Result<(async_nats::Client, CareLog)> {
    let (client, shown_url, refusals) = nats_client(config).await?;
    set_up(
        &refusals,
        &shown_url,
        CareLog::connect(client.clone(), config.care_log_config()),
        "set up the care stream",
        "only the `carelog` user creates the care stream or restores its settings",
    )
    .await
    .map(|care_log| (client, care_log))
}

/// Connects to NATS and opens the care stream as it is, changing nothing. `checked`: refuse a
/// stream whose settings would lose history (`CareLog::open_checked`), as the projections'
/// commands do; unchecked, what the read-only auditor's `verify` does (`CareLog::open`).
async fn open_care_log(config: &Config, checked: bool) -> Result<CareLog> {
    let (client, shown_url, refusals) = nats_client(config).await?;
    let care_log_config = config.care_log_config();
    let open = async move {
        if checked {
            CareLog::open_checked(client, care_log_config).await
        } else {
            CareLog::open(client, care_log_config).await
        }
    };
    set_up(
        &refusals,
        &shown_url,
        open,
        "open the care stream",
        "this user may not read that stream: check CARELOG_STREAM and the user's permissions",
    )
    .await
}

/// `work` (setting up or opening the care log) within 30 s, failing at once with `hint` if the
/// server refuses the connection anything meanwhile.
async fn set_up<T, E: std::error::Error + Send + Sync + 'static>(
    refusals: &carelog_commands::Refusals,
    shown_url: &str,
    work: impl Future<Output = Result<T, E>>,
    what: &'static str,
    hint: &'static str,
) -> Result<T> {
    let work = async {
        tokio::time::timeout(Duration::from_secs(30), work)
            .await
            .with_context(|| format!("NATS at {shown_url} did not answer within 30 s"))?
            .context(what)
    };
    refusals.unless_anything_refused(work, hint).await
}

/// Creates the care stream or restores its settings (`CareLog::connect`), prints where it
/// stands, and returns: a deployment's set-up step before it starts the services alone.
pub async fn setup(config: Config) -> Result<()> {
    let care_log = connect_care_log(&config).await?;
    let position = care_log
        .last_position()
        .await
        .context("read the care log's position")?;
    tracing::info!(
        stream = %config.stream,
        replicas = config.replicas,
        position,
        "setup: the care stream is ready"
    );
    Ok(())
}

/// A NATS connection to `NATS_URL` (a login in the URL included), the URL to show, and what the
/// server refuses the connection.
async fn nats_client(
    config: &Config,
) -> Result<(async_nats::Client, String, carelog_commands::Refusals)> {
    let shown_url = carelog_commands::redact_nats_url(&config.nats_url);
    let (options, servers) = carelog_commands::nats_connect_options(&config.nats_url)?;
    let (options, refusals) = carelog_commands::Refusals::watching(options);
    let client = options
        .name("carelog")
        .retry_on_initial_connect()
        .connect(servers)
        .await
        .with_context(|| format!("connect to NATS at {shown_url}"))?;
    Ok((client, shown_url, refusals))
}

/// Runs the system until `shutdown` completes: the care log, the four command services (its
/// only writers), and the projections following it into PostgreSQL.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<()> {
    let (client, care_log) = connect(&config).await?;
    let projector = Projector::connect(config.projection_config(), care_log.clone())
        .await
        .context("set up the projections' read models in PostgreSQL")?;
    let position = care_log
        .last_position()
        .await
        .context("read the care log's position")?;
    tracing::info!(
        nats = %carelog_commands::redact_nats_url(&config.nats_url),
        stream = %config.stream,
        replicas = config.replicas,
        position,
        "health: care log ready"
    );
    let (stop_commands, commands_stopped) = tokio::sync::oneshot::channel::<()>();
    let mut commands = tokio::spawn(carelog_commandhost::serve_all(
        client,
        care_log.clone(),
        carelog_commands::RuntimeOptions::default(),
        async {
            let _ = commands_stopped.await;
        },
    ));
    let (stop_projections, projections_stopped) = tokio::sync::oneshot::channel::<()>();
    let mut projections = tokio::spawn(projector.run(async {
        let _ = projections_stopped.await;
    }));
    tracing::info!("command services and projections running");
    tokio::select! {
        () = shutdown => {}
        finished = &mut commands => {
            finished
                .context("the command services' task")?
                .context("run the command services")?;
            anyhow::bail!("the command services stopped on their own");
        }
        finished = &mut projections => {
            // The projector only returns by itself when it cannot start (see `Projector::run`).
            finished
                .context("the projections' task")?
                .context("run the projections")?;
            anyhow::bail!("the projections stopped on their own");
        }
    }
    tracing::info!("shutting down");
    // The command services first: they answer what they already received, and the
    // projections then still see what those answers appended.
    let _ = stop_commands.send(());
    commands
        .await
        .context("the command services' task")?
        .context("stop the command services")?;
    let _ = stop_projections.send(());
    projections
        .await
        .context("the projections' task")?
        .context("stop the projections")?;
    Ok(())
}

/// Runs the projections alone until `shutdown` completes: the care stream opened as it is
/// (`carelog setup` or `carelog run` made it), the read models' migrations applied, then the
/// log followed into PostgreSQL.
pub async fn projections_run(config: Config, shutdown: impl Future<Output = ()>) -> Result<()> {
    let care_log = open_care_log(&config, true).await?;
    let projector = Projector::connect(config.projection_config(), care_log)
        .await
        .context("set up the projections' read models in PostgreSQL")?;
    tracing::info!("projections running");
    projector.run(shutdown).await.context("run the projections")
}

/// The projections' position beside the care log's.
pub async fn projections_lag(config: Config) -> Result<Lag> {
    let care_log = open_care_log(&config, true).await?;
    let pool = carelog_projections::database::connect(
        &config.database_url,
        carelog_projections::LIVE_SCHEMA,
        1,
    )
    .await
    .context("connect to the projections' read models")?;
    carelog_projections::lag(&pool, &care_log)
        .await
        .context("read the projections' lag")
}

/// Rebuilds every read model from log position 1 into a fresh schema while the live one keeps
/// serving, then swaps it in (`carelog_projections::rebuild`), drawing a progress bar with the
/// events applied per second on standard error.
pub async fn projections_rebuild(
    config: Config,
    settings: carelog_projections::RebuildSettings,
) -> Result<carelog_projections::RebuildOutcome> {
    let care_log = open_care_log(&config, true).await?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} rebuild [{elapsed_precise}] {wide_bar} {pos}/{len} positions {msg}",
        )
        .context("build the progress bar's template")?,
    );
    let started = std::time::Instant::now();
    let outcome = carelog_projections::rebuild(
        &config.database_url,
        carelog_projections::LIVE_SCHEMA,
        &care_log,
        settings,
        |progress| {
            bar.set_length(progress.target.max(progress.checkpoint));
            bar.set_position(progress.checkpoint);
            let seconds = started.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!(
                "{} events, {:.0} events/s",
                progress.events,
                progress.events as f64 / seconds
            ));
        },
    )
    .await
    .context("rebuild the projections' read models");
    bar.finish();
    outcome
}

/// Verifies the whole care log and fails at the first break. Changes nothing, so it runs as
/// a read-only NATS user too (`auditor` in `infra/nats/authorization.conf`).
pub async fn verify(config: Config) -> Result<()> {
    let care_log = open_care_log(&config, false).await?;
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

/// Completes on Ctrl-C or SIGTERM (the service binaries' signal, shared).
pub use carelog_commands::shutdown_signal;

//! The `carelog` command: runs the system, verifies the log, runs the benchmarks.

// A command-line program: its reports (the benchmark tables) go to standard output.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use clap::Parser;

mod bench;

// Appends allocate and free small buffers on different threads at a high rate; glibc's
// allocator spends more time on that than the append itself (measured: BENCHMARKS.md).
#[global_allocator]
static GLOBAL_ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "carelog",
    version,
    about = "Event-sourced care coordination backend"
)]
struct Cli {
    #[command(flatten)]
    config: carelog::Config,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Set up the care log and run the system until interrupted (Ctrl-C or SIGTERM).
    Run,
    /// Create the care stream, or restore its settings, and exit: what a deployment runs once,
    /// as a NATS user allowed to manage it, before it starts the services on their own.
    Setup,
    /// Verify the whole care log: every commit decodes, every hash chain holds, no position is
    /// missing. Exits non-zero at the first break.
    Verify,
    /// Measure appends, and commands against the command services, beside raw JetStream
    /// publishes on a private nats-server; `--only projections` measures the read models'
    /// rebuild and live lag (needs PostgreSQL).
    Bench(bench::BenchArgs),
    /// The projections' read models in PostgreSQL.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
}

#[derive(Debug, clap::Subcommand)]
enum ProjectionsCommand {
    /// Follow the care log into the read models until interrupted, without the command
    /// services: the projections on their own (NATS user `projections`), beside services that
    /// run elsewhere. Run one per database.
    Run,
    /// Show the last log position applied to the read models beside the log's last position.
    Lag,
    /// Rebuild every read model from log position 1 into a new schema while the live one keeps
    /// serving, then swap them in one transaction. Safe beside a running projector.
    Rebuild {
        /// Messages applied per transaction.
        #[arg(long, default_value_t = carelog_projections::REBUILD_BATCH_SIZE)]
        batch_size: usize,
        /// Workers applying the log side by side, each for its share of the patients, each on
        /// a database connection of its own [default: two per core, at most 8].
        #[arg(long)]
        workers: Option<usize>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The benchmark runs the command services, which log every command at `info`: by default
    // it logs warnings only, so its report stays readable (`RUST_LOG` still decides).
    let default_filter = match cli.command {
        Command::Bench(_) => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_target(false)
        .init();
    let result = match cli.command {
        Command::Run => carelog::run(cli.config, carelog::shutdown_signal()).await,
        Command::Setup => carelog::setup(cli.config).await,
        Command::Verify => carelog::verify(cli.config).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Projections(ProjectionsCommand::Run) => {
            carelog::projections_run(cli.config, carelog::shutdown_signal()).await
        }
        Command::Projections(ProjectionsCommand::Lag) => {
            carelog::projections_lag(cli.config).await.map(|lag| {
                println!(
                    "applied_position={} log_position={} behind={}",
                    lag.applied_position,
                    lag.log_position,
                    lag.behind()
                );
            })
        }
        Command::Projections(ProjectionsCommand::Rebuild {
            batch_size,
            workers,
        }) => {
            let mut settings = carelog_projections::RebuildSettings::new(batch_size);
            settings.workers = workers.unwrap_or(settings.workers);
            carelog::projections_rebuild(cli.config, settings)
                .await
                .map(|outcome| {
                    println!(
                        "checkpoint={} replaced_checkpoint={} events={} parked={}",
                        outcome.checkpoint,
                        outcome.replaced_checkpoint,
                        outcome.events,
                        outcome.parked
                    );
                })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

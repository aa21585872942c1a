//! The NATS side of a service: a queue-group subscription on `care.cmd.<service>.*`, up to
//! `max_in_flight` requests in progress at once (futures of the service's one task), a JSON
//! reply to each, and a graceful stop that answers what was already received.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use carelog_eventlog::{CareLog, CareLogConfig};
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tracing::Instrument;

use crate::connection::{development_nats_url, nats_connect_options, redact_nats_url};
use crate::runtime::{execute, Outcome, RuntimeOptions, Service};

/// First tokens of every command subject: `care.cmd.<service>.<command>`. The care stream's
/// subjects (`care.<family>.*`) never match them.
pub const COMMAND_SUBJECT_PREFIX: &str = "care.cmd";

/// Header set on a reply answered from the log (a retried command id); its body is the first
/// answer's.
pub const REPLAYED_HEADER: &str = "Carelog-Replayed";

/// Why a service could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// `url` has its passwords hidden.
    #[error("connect to NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("open the care log: {0}")]
    CareLog(#[from] carelog_eventlog::SetupError),
    #[error("subscribe to {subject}: {reason}")]
    Subscribe { subject: String, reason: String },
    /// The NATS server refused the connection a subscription the service needs (its user is
    /// not this service's): it would otherwise look ready and never receive a command.
    #[error("the NATS server refused this user: {reason} ({hint})")]
    Refused { reason: String, hint: &'static str },
}

/// What the NATS server refused a connection. The server refuses a request or a subscription
/// with an error on the connection, not to the requester or the subscriber, which just hear
/// nothing: a service on another service's login would look ready and serve nothing, or wait
/// for a stream it may not read.
#[derive(Debug, Clone)]
pub struct Refusals {
    /// The last refusal of any kind.
    any: Arc<tokio::sync::watch::Sender<Option<String>>>,
    /// The last refused subscription.
    subscription: Arc<tokio::sync::watch::Sender<Option<String>>>,
}

impl Refusals {
    /// `options` that record what the server refuses the connection, and the record.
    pub fn watching(options: async_nats::ConnectOptions) -> (async_nats::ConnectOptions, Self) {
        let refusals = Refusals {
            any: Arc::new(tokio::sync::watch::Sender::new(None)),
            subscription: Arc::new(tokio::sync::watch::Sender::new(None)),
        };
        let recorder = refusals.clone();
        let options = options.event_callback(move |event| {
            let recorder = recorder.clone();
            async move {
                let said = match &event {
                    async_nats::Event::ServerError(error) => error.to_string(),
                    async_nats::Event::ClientError(error) => error.to_string(),
                    _ => String::new(),
                };
                let lower = said.to_lowercase();
                if lower.contains("permissions violation") {
                    if lower.contains("for subscription") {
                        recorder.subscription.send_replace(Some(said.clone()));
                    }
                    recorder.any.send_replace(Some(said));
                } else if lower.contains("authorization violation") {
                    // The login itself (a wrong user or password): nothing will work.
                    recorder.any.send_replace(Some(format!(
                        "{said}: the user or password in NATS_URL is wrong"
                    )));
                }
                tracing::debug!(%event, "NATS connection event");
            }
        });
        (options, refusals)
    }

    /// Completes with the first refusal on `channel`, whenever it came.
    async fn first(
        channel: &tokio::sync::watch::Sender<Option<String>>,
        hint: &'static str,
    ) -> ServeError {
        let mut refused = channel.subscribe();
        // Never an error: `self` holds the sender.
        let reason = refused
            .wait_for(Option::is_some)
            .await
            .map(|reason| reason.clone().unwrap_or_default())
            .unwrap_or_default();
        ServeError::Refused { reason, hint }
    }

    /// `work`'s outcome, unless the server refuses the connection anything first (the error
    /// then names the refusal, and `hint`): for setting up, where every request is needed.
    pub async fn unless_anything_refused<T, E: From<ServeError>>(
        &self,
        work: impl Future<Output = Result<T, E>>,
        hint: &'static str,
    ) -> Result<T, E> {
        tokio::select! {
            outcome = work => outcome,
            refused = Self::first(&self.any, hint) => Err(refused.into()),
        }
    }

    /// `serving`'s outcome, unless the server refuses a subscription first: a refused publish
    /// fails one command, a refused subscription the whole service.
    pub async fn unless_subscription_refused(
        &self,
        serving: impl Future<Output = Result<(), ServeError>>,
    ) -> Result<(), ServeError> {
        tokio::select! {
            outcome = serving => outcome,
            refused = Self::first(&self.subscription, SERVICE_LOGIN_HINT) => Err(refused),
        }
    }
}

/// What to check when the server refuses a service's connection.
const SERVICE_LOGIN_HINT: &str = "is NATS_URL's login this service's own user?";

/// Where a service finds NATS and the care log, and how it runs.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// May carry a login: `nats://user:password@host:port` (see [`crate::nats_connect_options`]).
    pub nats_url: String,
    pub care_log: CareLogConfig,
    pub runtime: RuntimeOptions,
}

impl ServiceConfig {
    /// From the environment, with the variables and defaults of the `carelog` binary
    /// (`NATS_URL`, `CARELOG_STREAM`, `CARELOG_REPLICAS`, `CARELOG_DUPLICATE_WINDOW_SECS`);
    /// without `NATS_URL`, the `make up` server logged in as the all-in-one `carelog` user.
    pub fn from_env() -> Result<Self, String> {
        Self::from_env_or(&development_nats_url("carelog"))
    }

    /// Like [`ServiceConfig::from_env`], with `default_nats_url` when `NATS_URL` is unset.
    pub fn from_env_or(default_nats_url: &str) -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        let mut care_log = CareLogConfig::default();
        if let Some(stream) = var("CARELOG_STREAM") {
            care_log.stream_name = stream;
        }
        if let Some(replicas) = var("CARELOG_REPLICAS") {
            care_log.replicas = replicas
                .parse()
                .map_err(|_| format!("CARELOG_REPLICAS must be a number, got {replicas:?}"))?;
        }
        if let Some(seconds) = var("CARELOG_DUPLICATE_WINDOW_SECS") {
            let seconds: u64 = seconds.parse().map_err(|_| {
                format!("CARELOG_DUPLICATE_WINDOW_SECS must be a number, got {seconds:?}")
            })?;
            care_log.duplicate_window = Duration::from_secs(seconds);
        }
        Ok(ServiceConfig {
            nats_url: var("NATS_URL").unwrap_or_else(|| default_nats_url.to_owned()),
            care_log,
            runtime: RuntimeOptions::default(),
        })
    }

    /// Connects to NATS (waiting for it to come up) and opens the care log, which
    /// `carelog setup` (or `carelog run`) created: a service's NATS user may append to its
    /// family and read the stream, not manage it, and a stream whose settings would lose
    /// history is refused (`CareLog::open_checked`).
    pub async fn connect(&self, name: &str) -> Result<(async_nats::Client, CareLog), ServeError> {
        let (client, log, _refusals) = self.connect_watching(name).await?;
        Ok((client, log))
    }

    /// [`ServiceConfig::connect`], and what the server refuses the connection: serve within
    /// [`Refusals::unless_subscription_refused`].
    pub async fn connect_watching(
        &self,
        name: &str,
    ) -> Result<(async_nats::Client, CareLog, Refusals), ServeError> {
        let (options, servers) =
            nats_connect_options(&self.nats_url).map_err(|error| ServeError::Connect {
                url: error.url.clone(),
                reason: error.reason,
            })?;
        let (options, refusals) = Refusals::watching(options);
        let client = options
            .name(name)
            .retry_on_initial_connect()
            .connect(servers)
            .await
            .map_err(|error| ServeError::Connect {
                url: redact_nats_url(&self.nats_url),
                reason: error.to_string(),
            })?;
        let log = refusals
            .unless_anything_refused(
                async {
                    CareLog::open_checked(client.clone(), self.care_log.clone())
                        .await
                        .map_err(ServeError::from)
                },
                SERVICE_LOGIN_HINT,
            )
            .await?;
        Ok((client, log, refusals))
    }
}

/// Connects and serves one service until `shutdown` completes: what a service binary's
/// `run(config, shutdown)` does.
pub async fn run_service<S: Service>(
    service: S,
    config: ServiceConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let (client, log, refusals) = config
        .connect_watching(&format!("carelog-{}", S::NAME))
        .await?;
    refusals
        .unless_subscription_refused(serve(
            Arc::new(service),
            client,
            log,
            config.runtime,
            shutdown,
        ))
        .await
}

/// What every service binary's `main` does: tracing from `RUST_LOG` (default `info`), the
/// configuration from the environment (without `NATS_URL`: the `make up` server, logged in as
/// the service's own user), then [`run_service`] until Ctrl-C or SIGTERM.
pub async fn service_main<S: Service>(service: S) -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .init();
    let config = match ServiceConfig::from_env_or(&development_nats_url(S::NAME)) {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(%error, "invalid configuration");
            return std::process::ExitCode::FAILURE;
        }
    };
    match run_service(service, config, crate::shutdown_signal()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, service = S::NAME, "the service stopped");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Serves one service's commands on an existing connection until `shutdown` completes, then
/// stops taking requests, answers those already received, and returns.
pub async fn serve<S: Service>(
    service: Arc<S>,
    client: async_nats::Client,
    log: CareLog,
    options: RuntimeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let subject = format!("{COMMAND_SUBJECT_PREFIX}.{}.*", S::NAME);
    let queue_group = format!("carelog-{}", S::NAME);
    let mut subscriber = client
        .queue_subscribe(subject.clone(), queue_group.clone())
        .await
        .map_err(|error| ServeError::Subscribe {
            subject: subject.clone(),
            reason: error.to_string(),
        })?;
    tracing::info!(service = S::NAME, %subject, %queue_group, "command service ready");
    // The commands in progress are futures of this one task, not tasks of their own: a spawn
    // per command made the runtime wake its other worker to steal it, and each command's
    // publishes reached the connection one wake-up (and one socket write) at a time. Polled
    // together, the commands a wake-up moves on hand their publishes over in one batch.
    let max_in_flight = options.max_in_flight.max(1);
    let mut running = FuturesUnordered::new();
    let run = |message: async_nats::Message| {
        std::panic::AssertUnwindSafe(handle(&*service, &client, &log, options, message))
            .catch_unwind()
    };
    let finished = |joined: std::thread::Result<()>| {
        if joined.is_err() {
            tracing::error!(service = S::NAME, "a command panicked; it got no reply");
        }
    };
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => {
                tracing::info!(service = S::NAME, "stopping: answering requests already received");
                if let Err(error) = subscriber.drain().await {
                    tracing::warn!(service = S::NAME, %error, "could not drain the subscription");
                }
                // After this round trip the server has processed the unsubscribe, and every
                // request it delivered before is in the subscription's buffer: answer those.
                if let Err(error) = client.flush().await {
                    tracing::warn!(service = S::NAME, %error, "could not flush while draining");
                }
                while let Some(Some(message)) = subscriber.next().now_or_never() {
                    running.push(run(message));
                }
                break;
            }
            message = subscriber.next(), if running.len() < max_in_flight => {
                let Some(message) = message else { break };
                running.push(run(message));
            }
            Some(joined) = running.next(), if !running.is_empty() => finished(joined),
        }
    }
    while let Some(joined) = running.next().await {
        finished(joined);
    }
    if let Err(error) = client.flush().await {
        tracing::warn!(service = S::NAME, %error, "could not flush the last replies");
    }
    tracing::info!(service = S::NAME, "command service stopped");
    Ok(())
}

async fn handle<S: Service>(
    service: &S,
    client: &async_nats::Client,
    log: &CareLog,
    options: RuntimeOptions,
    message: async_nats::Message,
) {
    let name = message
        .subject
        .as_str()
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_owned();
    let Some(reply_to) = message.reply.clone() else {
        tracing::warn!(service = S::NAME, command = %name, "command without a reply subject ignored");
        return;
    };
    let span = tracing::info_span!(
        "command",
        service = S::NAME,
        command = %name,
        command_id = tracing::field::Empty,
        patient_id = tracing::field::Empty,
    );
    let outcome = async {
        let outcome = execute(service, log, options, &name, &message.payload).await;
        log_outcome(&outcome);
        outcome
    }
    .instrument(span)
    .await;
    let mut headers = HeaderMap::new();
    if let Outcome::Accepted { replayed: true, .. } = outcome {
        headers.insert(REPLAYED_HEADER, "true");
    }
    let body = outcome.reply_body();
    if let Err(error) = client
        .publish_with_headers(reply_to, headers, body.into())
        .await
    {
        tracing::warn!(service = S::NAME, command = %name, %error, "could not send the reply");
    }
}

/// Logs how a command ended: ids, codes, rules and positions, never the input or the message
/// (which can quote it).
fn log_outcome(outcome: &Outcome) {
    match outcome {
        Outcome::Accepted {
            command_id,
            position,
            commit,
            replayed,
        } => {
            tracing::Span::current()
                .record("command_id", tracing::field::display(command_id))
                .record("patient_id", tracing::field::display(commit.patient_id()));
            tracing::info!(
                position,
                events = commit.events().len(),
                replayed,
                "command accepted"
            );
        }
        Outcome::Rejected { command_id, error } => {
            if let Some(command_id) = command_id {
                tracing::Span::current().record("command_id", tracing::field::display(command_id));
            }
            tracing::info!(
                code = %error.code,
                rule = error.rule.unwrap_or(""),
                field = error.field.as_deref().unwrap_or(""),
                "command rejected"
            );
        }
    }
}

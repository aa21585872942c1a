//! Runs the four command services (dose, consent, target, observation) in one process, each on
//! its own queue group, so one `carelog` process can host them all; a deployment may instead
//! run the four service binaries separately, or several instances of each.

use std::future::Future;
use std::sync::Arc;

use carelog_commands::{serve, RuntimeOptions, ServeError, Service};
use carelog_consent::ConsentService;
use carelog_dose::DoseService;
use carelog_eventlog::CareLog;
use carelog_observation::ObservationService;
use carelog_target::TargetService;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use carelog_commands::ServiceConfig as Config;

/// Connects to NATS, opens the care log (set up by `carelog setup`; see `ServiceConfig::connect`),
/// then serves the four command services until `shutdown`
/// completes; each then answers the requests it already received and stops.
pub async fn run_all(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let (client, log, refusals) = config.connect_watching("carelog-commands").await?;
    refusals
        .unless_subscription_refused(serve_all(client, log, config.runtime, shutdown))
        .await
}

/// Serves the four command services on an existing connection until `shutdown` completes.
///
/// Each service runs as a task of its own on the current runtime, so its requests are
/// polled on the runtime's workers beside the connection's own task (a wake-up between them
/// usually stays on one worker), whatever thread awaits this future.
pub async fn serve_all(
    client: async_nats::Client,
    log: CareLog,
    options: RuntimeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let (stop, stopped) = watch::channel(false);
    let mut services = Services([
        spawn_service(DoseService, &client, &log, options, &stopped),
        spawn_service(ConsentService, &client, &log, options, &stopped),
        spawn_service(TargetService, &client, &log, options, &stopped),
        spawn_service(ObservationService, &client, &log, options, &stopped),
    ]);
    let mut finished = std::pin::pin!(services.finished());
    tokio::select! {
        result = &mut finished => return result,
        () = shutdown => {}
    }
    let _ = stop.send(true);
    finished.await
}

/// Serves one service as a task of its own until `stopped` says stop.
fn spawn_service<S: Service>(
    service: S,
    client: &async_nats::Client,
    log: &CareLog,
    options: RuntimeOptions,
    stopped: &watch::Receiver<bool>,
) -> JoinHandle<Result<(), ServeError>> {
    let mut stopped = stopped.clone();
    let stop_signal = async move {
        // An error means the sender is gone, which also means stop.
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    tokio::spawn(serve(
        Arc::new(service),
        client.clone(),
        log.clone(),
        options,
        stop_signal,
    ))
}

/// The four services' tasks, aborted if serving is given up (its future dropped) before they
/// finished.
struct Services([JoinHandle<Result<(), ServeError>>; 4]);

impl Services {
    /// The first error of a service, once every service stopped or one failed (as `try_join!`).
    /// A service that panicked panics here too.
    async fn finished(&mut self) -> Result<(), ServeError> {
        let [dose, consent, target, observation] = &mut self.0;
        tokio::try_join!(
            joined(dose),
            joined(consent),
            joined(target),
            joined(observation)
        )
        .map(|_| ())
    }
}

async fn joined(task: &mut JoinHandle<Result<(), ServeError>>) -> Result<(), ServeError> {
    match task.await {
        Ok(result) => result,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        // Cancelled: only `Services::drop` aborts them, and then nobody waits any more.
        Err(_) => Ok(()),
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

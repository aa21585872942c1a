//! Runs the four command services (dose, consent, target, observation) in one process, each on
//! its own queue group, so one `carelog` process can host them all; a deployment may instead
//! run the four service binaries separately, or several instances of each.

use std::future::Future;
use std::sync::Arc;

use carelog_commands::{serve, RuntimeOptions, ServeError};
use carelog_consent::ConsentService;
use carelog_dose::DoseService;
use carelog_eventlog::CareLog;
use carelog_observation::ObservationService;
use carelog_target::TargetService;
use tokio::sync::watch;

pub use carelog_commands::ServiceConfig as Config;

/// Connects to NATS and the care log, then serves the four command services until `shutdown`
/// completes; each then answers the requests it already received and stops.
pub async fn run_all(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let (client, log) = config.connect("carelog-commands").await?;
    serve_all(client, log, config.runtime, shutdown).await
}

/// Serves the four command services on an existing connection until `shutdown` completes.
pub async fn serve_all(
    client: async_nats::Client,
    log: CareLog,
    options: RuntimeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let (stop, stopped) = watch::channel(false);
    let stop_signal = |mut stopped: watch::Receiver<bool>| async move {
        // An error means the sender is gone, which also means stop.
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let services = async {
        tokio::try_join!(
            serve(
                Arc::new(DoseService),
                client.clone(),
                log.clone(),
                options,
                stop_signal(stopped.clone())
            ),
            serve(
                Arc::new(ConsentService),
                client.clone(),
                log.clone(),
                options,
                stop_signal(stopped.clone())
            ),
            serve(
                Arc::new(TargetService),
                client.clone(),
                log.clone(),
                options,
                stop_signal(stopped.clone())
            ),
            serve(
                Arc::new(ObservationService),
                client.clone(),
                log.clone(),
                options,
                stop_signal(stopped.clone())
            ),
        )
        .map(|_| ())
    };
    let mut services = std::pin::pin!(services);
    tokio::select! {
        result = &mut services => return result,
        () = shutdown => {}
    }
    let _ = stop.send(true);
    services.await
}

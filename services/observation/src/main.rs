//! The observation service binary: configuration from the environment, tracing, then `run`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    carelog_commands::service_main(carelog_observation::ObservationService).await
}

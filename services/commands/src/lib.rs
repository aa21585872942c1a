//! The command runtime shared by the four command services (dose, consent, target,
//! observation): the JSON command envelope and its parsing, typed error replies, the NATS
//! queue-group request-reply loop, the write side of the access rules (domain §5), permanent
//! idempotency by command id, and decide → append → on conflict reload and retry.
//!
//! A service implements [`Service`]: which family it writes, which commands it takes, and
//! `decide`, which checks a command against the rules on fresh state and returns the events to
//! append. The runtime does everything else. Command and reply shapes: `README.md` beside this
//! crate.

pub mod authorize;
mod connection;
mod correction;
mod envelope;
mod error;
mod runtime;
mod server;
pub mod state;

pub use connection::{development_nats_url, nats_connect_options, redact_nats_url, InvalidNatsUrl};
pub use correction::check_correction;
pub use envelope::{parse_data, parse_envelope, CommandData, CommandMeta, RawCommand};
pub use error::{CommandError, ErrorCode};
pub use runtime::{
    commit_id_for, execute, Context, NewEvent, Outcome, Request, RuntimeOptions, Service,
};
pub use server::{
    run_service, serve, service_main, ServeError, ServiceConfig, COMMAND_SUBJECT_PREFIX,
    REPLAYED_HEADER,
};

/// Completes on Ctrl-C or SIGTERM: the shutdown signal of the service binaries.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
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
        () = terminate => {}
    }
}

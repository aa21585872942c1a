//! The command runtime shared by the four command services (dose, consent, target,
//! observation): the JSON command envelope and its parsing, typed error replies, the NATS
//! queue-group request-reply loop, the write side of the access rules (domain §5), permanent
//! idempotency by command id, and decide → append → on conflict reload and retry.
//!
//! A service implements [`Service`] (declared with [`command_service!`]): which family it
//! writes, which commands it takes, and `decide`, which checks a command against the rules on
//! fresh state and returns the events to append. The runtime does everything else. Command and reply shapes: `README.md` beside this
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
pub use correction::{check_correction, corrected_payload};
pub use envelope::{parse_data, parse_envelope, CommandData, CommandMeta, RawCommand};
pub use error::{CommandError, ErrorCode};
pub use runtime::{
    commit_id_for, execute, Context, NewEvent, Outcome, Request, RuntimeOptions, Service,
};
pub use server::{
    run_service, serve, service_main, Refusals, ServeError, ServiceConfig, COMMAND_SUBJECT_PREFIX,
    REPLAYED_HEADER,
};

/// What [`command_service!`] names from other crates.
#[doc(hidden)]
pub mod __macro_support {
    pub use carelog_schemas::Family;
}

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

/// Declares a command service: a unit struct implementing [`Service`] with the given name,
/// family and command type, whose commands are parsed by `<Command>::parse(name, data)` and
/// decided by `<module>::decide(context, request)` (`<module>::NAMES` lists them), and the
/// crate's `run(config, shutdown)` and `Config`. Every service crate's `lib.rs` is this plus its
/// documentation and modules.
///
/// ```ignore
/// carelog_commands::command_service! {
///     /// The dose service's rules.
///     DoseService { name: "dose", family: Family::Dose, command: DoseCommand, module: commands }
/// }
/// ```
#[macro_export]
macro_rules! command_service {
    (
        $(#[$meta:meta])*
        $service:ident {
            name: $name:literal,
            family: $family:expr,
            command: $command:ty,
            module: $module:ident $(,)?
        }
    ) => {
        pub use $crate::ServiceConfig as Config;

        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $service;

        impl $crate::Service for $service {
            const NAME: &'static str = $name;
            const FAMILY: $crate::__macro_support::Family = $family;
            const COMMANDS: &'static [&'static str] = $module::NAMES;
            type Command = $command;

            fn parse(
                &self,
                name: &str,
                data: $crate::CommandData<'_>,
            ) -> Result<$command, $crate::CommandError> {
                <$command>::parse(name, data)
            }

            async fn decide(
                &self,
                context: &$crate::Context<'_>,
                request: &$crate::Request<$command>,
            ) -> Result<Vec<$crate::NewEvent>, $crate::CommandError> {
                $module::decide(context, request).await
            }
        }

        #[doc = concat!("Serves ", $name, " commands until `shutdown` completes.")]
        pub async fn run(
            config: Config,
            shutdown: impl std::future::Future<Output = ()> + Send,
        ) -> Result<(), $crate::ServeError> {
            $crate::run_service($service, config, shutdown).await
        }
    };
}

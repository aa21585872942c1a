//! The target service: CBT targets, their practice and notches, and skills sessions (domain §3
//! target family), with the "one behaviour and one thought exercise" and "notch after three
//! easy practices" rules of §4 and the write side of §5 (the patient, or a therapist holding
//! the patient's consent). Commands arrive on `care.cmd.target.<command>`; see the command
//! runtime (`carelog-commands`) for the envelope, replies and retries.

mod commands;
mod state;

use std::future::Future;

use carelog_commands::{CommandData, CommandError, Context, NewEvent, Request, Service};
use carelog_schemas::Family;

pub use carelog_commands::ServiceConfig as Config;
pub use commands::TargetCommand;

/// The target service's rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct TargetService;

impl Service for TargetService {
    const NAME: &'static str = "target";
    const FAMILY: Family = Family::Target;
    const COMMANDS: &'static [&'static str] = commands::NAMES;
    type Command = TargetCommand;

    fn parse(&self, name: &str, data: CommandData<'_>) -> Result<TargetCommand, CommandError> {
        TargetCommand::parse(name, data)
    }

    async fn decide(
        &self,
        context: &Context<'_>,
        request: &Request<TargetCommand>,
    ) -> Result<Vec<NewEvent>, CommandError> {
        commands::decide(context, request).await
    }
}

/// Serves target commands until `shutdown` completes.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), carelog_commands::ServeError> {
    carelog_commands::run_service(TargetService, config, shutdown).await
}

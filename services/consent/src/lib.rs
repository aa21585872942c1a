//! The consent service: the patient grants and revokes consents (domain §3 consent family,
//! §4 consent rules, §5: only the patient writes here). Commands arrive on
//! `care.cmd.consent.<command>`; see the command runtime (`carelog-commands`) for the envelope,
//! replies and retries.

mod commands;

use std::future::Future;

use carelog_commands::{CommandData, CommandError, Context, NewEvent, Request, Service};
use carelog_schemas::Family;

pub use carelog_commands::ServiceConfig as Config;
pub use commands::ConsentCommand;

/// The consent service's rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsentService;

impl Service for ConsentService {
    const NAME: &'static str = "consent";
    const FAMILY: Family = Family::Consent;
    const COMMANDS: &'static [&'static str] = commands::NAMES;
    type Command = ConsentCommand;

    fn parse(&self, name: &str, data: CommandData<'_>) -> Result<ConsentCommand, CommandError> {
        ConsentCommand::parse(name, data)
    }

    async fn decide(
        &self,
        context: &Context<'_>,
        request: &Request<ConsentCommand>,
    ) -> Result<Vec<NewEvent>, CommandError> {
        commands::decide(context, request).await
    }
}

/// Serves consent commands until `shutdown` completes.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), carelog_commands::ServeError> {
    carelog_commands::run_service(ConsentService, config, shutdown).await
}

//! The dose service: the clinic's courses, doses, pre-dose checks, vitals, side effects and
//! discharges (domain §3 dose family), with the dosing rules of domain §2/§4 and the write side
//! of §5 (only the clinic of a course writes to it). Commands arrive on
//! `care.cmd.dose.<command>`; see the command runtime (`carelog-commands`) for the envelope,
//! replies and retries.

mod commands;

use std::future::Future;

use carelog_commands::{CommandData, CommandError, Context, NewEvent, Request, Service};
use carelog_schemas::Family;

pub use carelog_commands::ServiceConfig as Config;
pub use commands::{Administer, DoseCommand, PreDoseCheck, Vitals};

/// The dose service's rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct DoseService;

impl Service for DoseService {
    const NAME: &'static str = "dose";
    const FAMILY: Family = Family::Dose;
    const COMMANDS: &'static [&'static str] = commands::NAMES;
    type Command = DoseCommand;

    fn parse(&self, name: &str, data: CommandData<'_>) -> Result<DoseCommand, CommandError> {
        DoseCommand::parse(name, data)
    }

    async fn decide(
        &self,
        context: &Context<'_>,
        request: &Request<DoseCommand>,
    ) -> Result<Vec<NewEvent>, CommandError> {
        commands::decide(context, request).await
    }
}

/// Serves dose commands until `shutdown` completes.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), carelog_commands::ServeError> {
    carelog_commands::run_service(DoseService, config, shutdown).await
}

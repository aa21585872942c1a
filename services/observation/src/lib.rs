//! The observation service: ratings, notes, symptoms and scored questionnaires (domain §3
//! observation family), with the safety flags of §4 (PHQ-9 item 9 above 0; a red-flag symptom
//! within 72 h of a dose) and the write side of §5 (the patient, a therapist holding the
//! patient's consent, or the clinic of an active course). Commands arrive on
//! `care.cmd.observation.<command>`; see the command runtime (`carelog-commands`) for the
//! envelope, replies and retries.

mod commands;

use std::future::Future;

use carelog_commands::{CommandData, CommandError, Context, NewEvent, Request, Service};
use carelog_schemas::Family;

pub use carelog_commands::ServiceConfig as Config;
pub use commands::{ObservationCommand, Record, Score};

/// The observation service's rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct ObservationService;

impl Service for ObservationService {
    const NAME: &'static str = "observation";
    const FAMILY: Family = Family::Observation;
    const COMMANDS: &'static [&'static str] = commands::NAMES;
    type Command = ObservationCommand;

    fn parse(&self, name: &str, data: CommandData<'_>) -> Result<ObservationCommand, CommandError> {
        ObservationCommand::parse(name, data)
    }

    async fn decide(
        &self,
        context: &Context<'_>,
        request: &Request<ObservationCommand>,
    ) -> Result<Vec<NewEvent>, CommandError> {
        commands::decide(context, request).await
    }
}

/// Serves observation commands until `shutdown` completes.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), carelog_commands::ServeError> {
    carelog_commands::run_service(ObservationService, config, shutdown).await
}

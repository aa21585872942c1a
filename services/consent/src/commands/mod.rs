//! The consent commands, one file each, dispatched through [`ConsentCommand`].

mod grant;
mod revoke;

use carelog_commands::authorize::{require_patient_self, require_role};
use carelog_commands::{parse_data, CommandData, CommandError, Context, NewEvent, Request};
use carelog_schemas::consent::{ConsentGranted, ConsentRevoked};
use carelog_schemas::Role;

/// Command names, the last token of `care.cmd.consent.<name>`.
pub(crate) const NAMES: &[&str] = &["grant", "revoke"];

/// A consent command; its `data` is the event's own JSON form.
#[derive(Debug, Clone, PartialEq)]
pub enum ConsentCommand {
    Grant(ConsentGranted),
    Revoke(ConsentRevoked),
}

impl ConsentCommand {
    pub(crate) fn parse(name: &str, data: CommandData<'_>) -> Result<Self, CommandError> {
        match name {
            "grant" => parse_data(data).map(ConsentCommand::Grant),
            "revoke" => parse_data(data).map(ConsentCommand::Revoke),
            other => Err(CommandError::invalid(
                "known_command",
                format!("unknown consent command {other:?}"),
            )),
        }
    }
}

pub(crate) async fn decide(
    context: &Context<'_>,
    request: &Request<ConsentCommand>,
) -> Result<Vec<NewEvent>, CommandError> {
    // Domain §4/§5: only the patient grants or revokes, and only on their own record.
    require_role(request.actor(), &[Role::Patient], request.name)?;
    require_patient_self(request.actor(), context.patient_id())?;
    let consents = context.consents().await?;
    match &request.command {
        ConsentCommand::Grant(grant) => grant::decide(&consents, request, grant),
        ConsentCommand::Revoke(revoke) => revoke::decide(&consents, request, revoke),
    }
}

//! `grant`: the patient lets one grantee see some scopes of their record.

use carelog_commands::state::ConsentState;
use carelog_commands::{CommandError, NewEvent, Request};
use carelog_schemas::consent::{ConsentEvent, ConsentGranted};

use super::ConsentCommand;

pub(super) fn decide(
    consents: &ConsentState,
    request: &Request<ConsentCommand>,
    grant: &ConsentGranted,
) -> Result<Vec<NewEvent>, CommandError> {
    // One grantee and a non-empty scope set are guaranteed by the event's types.
    if consents.grant(grant.consent_id).is_some() {
        return Err(CommandError::invalid(
            "id_unique",
            format!(
                "consent {} already exists; choose a new consent id",
                grant.consent_id
            ),
        )
        .at("data.consent_id"));
    }
    if let Some(expires_at) = grant.expires_at {
        if expires_at <= request.received_at {
            return Err(CommandError::violated(
                "consent_expiry_in_future",
                format!(
                    "the consent would expire at {expires_at}, which is not in the future \
                     (now {})",
                    request.received_at
                ),
            )
            .at("data.expires_at"));
        }
    }
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        ConsentEvent::ConsentGranted(grant.clone()),
    )])
}

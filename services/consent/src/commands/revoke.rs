//! `revoke`: the patient withdraws a consent; access ends at once.

use carelog_commands::state::ConsentState;
use carelog_commands::{CommandError, NewEvent, Request};
use carelog_schemas::consent::{ConsentEvent, ConsentRevoked};

use super::ConsentCommand;

pub(super) fn decide(
    consents: &ConsentState,
    request: &Request<ConsentCommand>,
    revoke: &ConsentRevoked,
) -> Result<Vec<NewEvent>, CommandError> {
    let Some(grant) = consents.grant(revoke.consent_id) else {
        return Err(CommandError::not_found(
            "consent_exists",
            format!("this patient has no consent {}", revoke.consent_id),
        )
        .at("data.consent_id"));
    };
    if !grant.is_open(request.received_at) {
        let why = if grant.revoked { "revoked" } else { "expired" };
        return Err(CommandError::violated(
            "consent_open",
            format!("consent {} is already {why}", revoke.consent_id),
        )
        .at("data.consent_id"));
    }
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        ConsentEvent::ConsentRevoked(revoke.clone()),
    )])
}

//! The consent family folded: which grants exist and which are open at an instant.

use std::collections::BTreeMap;

use carelog_eventlog::{AggregateHistory, Fold, StoredCommit};
use carelog_schemas::values::{GranteeRole, Scope, Scopes};
use carelog_schemas::{ConsentEvent, ConsentId, EventPayload, PartyId, Timestamp};

use super::{apply_commit, fold_live_events};

/// One consent as it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentGrant {
    pub consent_id: ConsentId,
    pub grantee_id: PartyId,
    pub grantee_role: GranteeRole,
    pub scopes: Scopes,
    pub expires_at: Option<Timestamp>,
    pub revoked: bool,
}

impl ConsentGrant {
    /// Neither revoked nor expired at `at` (an expired consent is treated as revoked at its
    /// expiry time, domain §5).
    pub fn is_open(&self, at: Timestamp) -> bool {
        !self.revoked && self.expires_at.is_none_or(|expiry| at < expiry)
    }
}

impl Fold for ConsentState {
    fn from_history(history: &AggregateHistory) -> Self {
        ConsentState::from_history(history)
    }

    fn apply(&mut self, stored: &StoredCommit) -> bool {
        apply_commit(self, stored, ConsentState::apply_event)
    }
}

/// A patient's consents.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsentState {
    grants: BTreeMap<ConsentId, ConsentGrant>,
}

impl ConsentState {
    pub fn from_history(history: &AggregateHistory) -> Self {
        fold_live_events(history, ConsentState::apply_event)
    }

    fn apply_event(&mut self, payload: &EventPayload) {
        match payload {
            EventPayload::Consent(ConsentEvent::ConsentGranted(granted)) => {
                self.grants.insert(
                    granted.consent_id,
                    ConsentGrant {
                        consent_id: granted.consent_id,
                        grantee_id: granted.grantee_id,
                        grantee_role: granted.grantee_role,
                        scopes: granted.scopes.clone(),
                        expires_at: granted.expires_at,
                        revoked: false,
                    },
                );
            }
            EventPayload::Consent(ConsentEvent::ConsentRevoked(revoked)) => {
                if let Some(grant) = self.grants.get_mut(&revoked.consent_id) {
                    grant.revoked = true;
                }
            }
            _ => {}
        }
    }

    pub fn grant(&self, consent_id: ConsentId) -> Option<&ConsentGrant> {
        self.grants.get(&consent_id)
    }

    /// An open consent naming `grantee` in `role` that covers `scope` (any scope when `None`).
    pub fn open_grant_to(
        &self,
        grantee: PartyId,
        role: GranteeRole,
        scope: Option<Scope>,
        at: Timestamp,
    ) -> Option<&ConsentGrant> {
        self.grants.values().find(|grant| {
            grant.grantee_id == grantee
                && grant.grantee_role == role
                && grant.is_open(at)
                && scope.is_none_or(|scope| grant.scopes.contains(scope))
        })
    }
}

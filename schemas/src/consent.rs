//! The consent family (patient): who may see which slices of the record, and until when
//! (domain §3, §5). "Only the patient grants or revokes" and "expiry in the future" are the
//! consent service's rules; these types guarantee a grant names one grantee and at least one
//! scope.

use serde::{Deserialize, Serialize};

pub use crate::correction::EntryCorrected;
use crate::ids::{ConsentId, PartyId};
use crate::timestamp::Timestamp;
use crate::values::{FreeText, GranteeRole, Scopes};

event_family! {
    /// Events of the consent family. Variant order is the wire tag: append only.
    pub enum ConsentEvent {
        ConsentGranted => "consent_granted", version 1,
        ConsentRevoked => "consent_revoked", version 1,
        EntryCorrected => "entry_corrected", version 1,
    }
}

impl From<ConsentEvent> for crate::event::EventPayload {
    fn from(event: ConsentEvent) -> Self {
        crate::event::EventPayload::Consent(event)
    }
}

/// The patient lets one grantee see some scopes of their record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentGranted {
    pub consent_id: ConsentId,
    pub grantee_id: PartyId,
    pub grantee_role: GranteeRole,
    pub scopes: Scopes,
    /// Why the data is shared, as shown in an accounting of disclosures.
    pub purpose: FreeText,
    /// Treated as revoked from this instant on (domain §5).
    pub expires_at: Option<Timestamp>,
}

/// The patient withdraws a consent: access ends at once, for past entries too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentRevoked {
    pub consent_id: ConsentId,
    pub reason: Option<FreeText>,
}

//! Who did something: a role and the party acting in it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::PartyId;

/// The four roles of the care team (domain §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Patient,
    Clinic,
    Therapist,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Patient, Role::Clinic, Role::Therapist, Role::Auditor];

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Clinic => "clinic",
            Role::Therapist => "therapist",
            Role::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The party behind a command and the role it acted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    pub role: Role,
    pub party_id: PartyId,
}

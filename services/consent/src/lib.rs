//! The consent service: the patient grants and revokes consents (domain §3 consent family,
//! §4 consent rules, §5: only the patient writes here). Commands arrive on
//! `care.cmd.consent.<command>`; see the command runtime (`carelog-commands`) for the envelope,
//! replies and retries.

mod commands;

use carelog_schemas::Family;

pub use commands::ConsentCommand;

carelog_commands::command_service! {
    /// The consent service's rules.
    ConsentService {
        name: "consent",
        family: Family::Consent,
        command: ConsentCommand,
        module: commands,
    }
}

//! The target service: CBT targets, their practice and notches, and skills sessions (domain §3
//! target family), with the "one behaviour and one thought exercise" and "notch after three
//! easy practices" rules of §4 and the write side of §5 (the patient, or a therapist holding
//! the patient's consent). Commands arrive on `care.cmd.target.<command>`; see the command
//! runtime (`carelog-commands`) for the envelope, replies and retries.

mod commands;
mod state;

use carelog_schemas::Family;

pub use commands::TargetCommand;

carelog_commands::command_service! {
    /// The target service's rules.
    TargetService {
        name: "target",
        family: Family::Target,
        command: TargetCommand,
        module: commands,
    }
}

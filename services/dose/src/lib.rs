//! The dose service: the clinic's courses, doses, pre-dose checks, vitals, side effects and
//! discharges (domain §3 dose family), with the dosing rules of domain §2/§4 and the write side
//! of §5 (only the clinic of a course writes to it). Commands arrive on
//! `care.cmd.dose.<command>`; see the command runtime (`carelog-commands`) for the envelope,
//! replies and retries.

mod commands;

use carelog_schemas::Family;

pub use commands::{Administer, DoseCommand, PreDoseCheck, Vitals};

carelog_commands::command_service! {
    /// The dose service's rules.
    DoseService {
        name: "dose",
        family: Family::Dose,
        command: DoseCommand,
        module: commands,
    }
}

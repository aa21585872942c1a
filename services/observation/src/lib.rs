//! The observation service: ratings, notes, symptoms and scored questionnaires (domain §3
//! observation family), with the safety flags of §4 (PHQ-9 item 9 above 0; a red-flag symptom
//! within 72 h of a dose) and the write side of §5 (the patient, a therapist holding the
//! patient's consent, or the clinic of an active course). Commands arrive on
//! `care.cmd.observation.<command>`; see the command runtime (`carelog-commands`) for the
//! envelope, replies and retries.

mod commands;

use carelog_schemas::Family;

pub use commands::{ObservationCommand, Record, Score};

carelog_commands::command_service! {
    /// The observation service's rules.
    ObservationService {
        name: "observation",
        family: Family::Observation,
        command: ObservationCommand,
        module: commands,
    }
}

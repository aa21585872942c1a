//! The write side of domain §5, as helpers the services combine: which role may issue a
//! command, a patient acting only for themselves, the clinic of a course, a therapist with
//! consent.
//!
//! Until an HTTP gateway authenticates callers, the actor is taken from the command. A patient
//! acts under their own patient id as party id (`actor.party_id == patient_id`).

use carelog_schemas::values::{GranteeRole, Scope};
use carelog_schemas::{Actor, ConsentId, PartyId, PatientId, Role, Timestamp};

use crate::error::CommandError;
use crate::state::{ConsentState, Course, DoseState};

/// The party id a patient acts under: the same UUID as their patient id.
pub fn patient_party(patient_id: PatientId) -> PartyId {
    // A patient id is never nil, so neither is the party id made from it.
    PartyId::try_from(*patient_id.as_uuid()).unwrap_or_else(|_| PartyId::new_random())
}

/// Whether the actor is the patient themselves.
pub fn is_patient_self(actor: Actor, patient_id: PatientId) -> bool {
    actor.role == Role::Patient && actor.party_id == patient_party(patient_id)
}

/// The actor's role must be one of `allowed` for `command`.
pub fn require_role(actor: Actor, allowed: &[Role], command: &str) -> Result<(), CommandError> {
    if allowed.contains(&actor.role) {
        return Ok(());
    }
    let allowed: Vec<&str> = allowed.iter().map(Role::as_str).collect();
    Err(CommandError::forbidden(
        "role_may_issue",
        format!(
            "{} {} may not issue {command}; it is for: {}",
            if actor.role == Role::Auditor {
                "an"
            } else {
                "a"
            },
            actor.role,
            allowed.join(", ")
        ),
    )
    .at("actor.role"))
}

/// A patient may act only for themselves.
pub fn require_patient_self(actor: Actor, patient_id: PatientId) -> Result<(), CommandError> {
    if actor.role == Role::Patient && !is_patient_self(actor, patient_id) {
        return Err(CommandError::forbidden(
            "patient_self",
            "a patient may act only on their own record (actor.party_id must be the patient id)",
        )
        .at("actor.party_id"));
    }
    Ok(())
}

/// The actor must be the clinic of `course` (domain §5: "clinic of the course").
pub fn require_clinic_of_course(actor: Actor, course: &Course) -> Result<(), CommandError> {
    if actor.role == Role::Clinic && actor.party_id == course.clinic_id {
        return Ok(());
    }
    Err(CommandError::forbidden(
        "clinic_of_course",
        "only the clinic treating the patient in this course may write to it",
    )
    .at("actor.party_id"))
}

/// The clinic must treat the patient in a course that has not ended.
pub fn require_clinic_with_active_course(
    actor: Actor,
    doses: &DoseState,
) -> Result<(), CommandError> {
    if actor.role == Role::Clinic && doses.has_active_course_with(actor.party_id) {
        return Ok(());
    }
    Err(CommandError::forbidden(
        "clinic_of_course",
        "this clinic has no active course with the patient, so it may not write to their record",
    )
    .at("actor.party_id"))
}

/// The therapist must hold an open consent from the patient covering `scope`; returns it.
pub fn require_therapist_consent(
    actor: Actor,
    consents: &ConsentState,
    scope: Scope,
    at: Timestamp,
) -> Result<ConsentId, CommandError> {
    if actor.role == Role::Therapist {
        if let Some(grant) =
            consents.open_grant_to(actor.party_id, GranteeRole::Therapist, Some(scope), at)
        {
            return Ok(grant.consent_id);
        }
    }
    Err(CommandError::forbidden(
        "therapist_consent",
        format!(
            "this therapist has no open consent from the patient covering {scope}; the patient \
             must grant it first"
        ),
    )
    .at("actor.party_id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_role_is_named_with_its_article_and_the_roles_the_command_is_for() {
        let refused = |role| {
            let actor = Actor {
                role,
                party_id: PartyId::new_random(),
            };
            require_role(actor, &[Role::Clinic], "record")
                .err()
                .map(|error| error.message)
        };
        assert_eq!(
            refused(Role::Auditor).as_deref(),
            Some("an auditor may not issue record; it is for: clinic")
        );
        assert_eq!(
            refused(Role::Patient).as_deref(),
            Some("a patient may not issue record; it is for: clinic")
        );
        assert_eq!(refused(Role::Clinic), None);
    }
}

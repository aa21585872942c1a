//! `start_course`: a clinic enrols the patient on a treatment path.

use carelog_commands::state::DoseState;
use carelog_commands::{CommandError, NewEvent, Request};
use carelog_eventlog::AggregateHistory;
use carelog_schemas::dose::{CourseStarted, DoseEvent};
use carelog_schemas::EventPayload;

use super::DoseCommand;

pub(super) fn decide(
    state: &DoseState,
    history: &AggregateHistory,
    request: &Request<DoseCommand>,
    command: &CourseStarted,
) -> Result<Vec<NewEvent>, CommandError> {
    // A clinic enrols patients with itself only; it becomes "the clinic of the course".
    if command.clinic_id != request.actor().party_id {
        return Err(CommandError::forbidden(
            "clinic_of_course",
            "a clinic may start a course only with itself as the course's clinic",
        )
        .at("data.clinic_id"));
    }
    if state.course(command.course_id).is_some() {
        return Err(CommandError::invalid(
            "id_unique",
            format!(
                "course {} already exists; choose a new course id",
                command.course_id
            ),
        )
        .at("data.course_id"));
    }
    // A course whose start was corrected may be started again under its id (the amended
    // start keeps its doses, and an ended course stays ended), but only by its own clinic:
    // another clinic would inherit the first clinic's doses of it.
    let started_by_another = history
        .commits()
        .iter()
        .flat_map(|stored| stored.commit.events())
        .any(|record| match &record.payload {
            EventPayload::Dose(DoseEvent::CourseStarted(earlier)) => {
                earlier.course_id == command.course_id && earlier.clinic_id != command.clinic_id
            }
            _ => false,
        });
    if started_by_another {
        return Err(CommandError::forbidden(
            "clinic_of_course",
            format!(
                "course {} was started by another clinic; choose a new course id",
                command.course_id
            ),
        )
        .at("data.course_id"));
    }
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        DoseEvent::CourseStarted(command.clone()),
    )])
}

//! `schedule`: a dose is planned in a course.

use carelog_commands::state::DoseState;
use carelog_commands::{CommandError, NewEvent, Request};
use carelog_schemas::dose::{DoseEvent, DoseScheduled};

use super::{course_of_clinic, require_course_active, DoseCommand};

pub(super) fn decide(
    state: &DoseState,
    request: &Request<DoseCommand>,
    command: &DoseScheduled,
) -> Result<Vec<NewEvent>, CommandError> {
    let course = course_of_clinic(state, request.actor(), command.course_id)?;
    require_course_active(course)?;
    if state.dose(command.dose_id).is_some() {
        return Err(CommandError::invalid(
            "id_unique",
            format!(
                "dose {} already exists; choose a new dose id",
                command.dose_id
            ),
        )
        .at("data.dose_id"));
    }
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        DoseEvent::DoseScheduled(command.clone()),
    )])
}

//! `end_course`: a course is over; no more doses belong to it.

use carelog_commands::state::DoseState;
use carelog_commands::{CommandError, NewEvent, Request};
use carelog_schemas::dose::{CourseEnded, DoseEvent};

use super::{course_of_clinic, require_course_active, DoseCommand};

pub(super) fn decide(
    state: &DoseState,
    request: &Request<DoseCommand>,
    command: &CourseEnded,
) -> Result<Vec<NewEvent>, CommandError> {
    let course = course_of_clinic(state, request.actor(), command.course_id)?;
    require_course_active(course)?;
    Ok(vec![NewEvent::new(
        request.occurred_at(),
        DoseEvent::CourseEnded(command.clone()),
    )])
}

//! The dose commands, one file each, dispatched through [`DoseCommand`]. Commands whose event
//! carries no flags take the event's own JSON form as `data`; the others take the same fields
//! without `flags`, which the service computes.

mod administer;
mod cancel;
mod correct;
mod discharge;
mod end_course;
mod pre_dose_check;
mod schedule;
mod side_effect;
mod start_course;
mod vitals;

use carelog_commands::authorize::{require_clinic_of_course, require_role};
use carelog_commands::state::{Course, Dose, DoseState};
use carelog_commands::{parse_data, CommandData, CommandError, Context, NewEvent, Request};
use carelog_schemas::dose::{
    CourseEnded, CourseStarted, DoseCancelled, DoseScheduled, EntryCorrected, PatientDischarged,
    SideEffectRecorded,
};
use carelog_schemas::{Actor, CourseId, DoseId, Role, Timestamp};

pub use administer::Administer;
pub use pre_dose_check::PreDoseCheck;
pub use vitals::Vitals;

/// Command names, the last token of `care.cmd.dose.<name>`.
pub(crate) const NAMES: &[&str] = &[
    "start_course",
    "schedule",
    "record_pre_dose_check",
    "record_vitals",
    "administer",
    "record_side_effect",
    "discharge",
    "cancel",
    "end_course",
    "correct",
];

/// A dose command.
#[derive(Debug, Clone, PartialEq)]
pub enum DoseCommand {
    StartCourse(CourseStarted),
    Schedule(DoseScheduled),
    RecordPreDoseCheck(PreDoseCheck),
    RecordVitals(Vitals),
    Administer(Administer),
    RecordSideEffect(SideEffectRecorded),
    Discharge(PatientDischarged),
    Cancel(DoseCancelled),
    EndCourse(CourseEnded),
    Correct(EntryCorrected),
}

impl DoseCommand {
    pub(crate) fn parse(name: &str, data: CommandData<'_>) -> Result<Self, CommandError> {
        Ok(match name {
            "start_course" => DoseCommand::StartCourse(parse_data(data)?),
            "schedule" => DoseCommand::Schedule(parse_data(data)?),
            "record_pre_dose_check" => DoseCommand::RecordPreDoseCheck(parse_data(data)?),
            "record_vitals" => DoseCommand::RecordVitals(parse_data(data)?),
            "administer" => DoseCommand::Administer(parse_data(data)?),
            "record_side_effect" => DoseCommand::RecordSideEffect(parse_data(data)?),
            "discharge" => DoseCommand::Discharge(parse_data(data)?),
            "cancel" => DoseCommand::Cancel(parse_data(data)?),
            "end_course" => DoseCommand::EndCourse(parse_data(data)?),
            "correct" => DoseCommand::Correct(parse_data(data)?),
            other => {
                return Err(CommandError::invalid(
                    "known_command",
                    format!("unknown dose command {other:?}"),
                ))
            }
        })
    }
}

pub(crate) async fn decide(
    context: &Context<'_>,
    request: &Request<DoseCommand>,
) -> Result<Vec<NewEvent>, CommandError> {
    // Domain §5: the dose family is the clinic's.
    require_role(request.actor(), &[Role::Clinic], request.name)?;
    let state = context.doses().await?;
    match &request.command {
        DoseCommand::StartCourse(command) => {
            start_course::decide(&state, context.own(), request, command)
        }
        DoseCommand::Schedule(command) => schedule::decide(&state, request, command),
        DoseCommand::RecordPreDoseCheck(command) => {
            pre_dose_check::decide(&state, request, command)
        }
        DoseCommand::RecordVitals(command) => vitals::decide(&state, request, command),
        DoseCommand::Administer(command) => administer::decide(&state, request, command),
        DoseCommand::RecordSideEffect(command) => side_effect::decide(&state, request, command),
        DoseCommand::Discharge(command) => discharge::decide(&state, request, command),
        DoseCommand::Cancel(command) => cancel::decide(&state, request, command),
        DoseCommand::EndCourse(command) => end_course::decide(&state, request, command),
        DoseCommand::Correct(command) => correct::decide(context, request, command),
    }
}

/// The course, if it exists for this patient and the actor is its clinic.
fn course_of_clinic(
    state: &DoseState,
    actor: Actor,
    course_id: CourseId,
) -> Result<&Course, CommandError> {
    let course = state.course(course_id).ok_or_else(|| {
        CommandError::not_found(
            "course_exists",
            format!("this patient has no course {course_id}"),
        )
        .at("data.course_id")
    })?;
    require_clinic_of_course(actor, course)?;
    Ok(course)
}

/// The dose and its course, if the dose exists for this patient and the actor is the clinic of
/// its course.
fn dose_of_clinic(
    state: &DoseState,
    actor: Actor,
    dose_id: DoseId,
) -> Result<(&Dose, &Course), CommandError> {
    let not_found = || {
        CommandError::not_found("dose_exists", format!("this patient has no dose {dose_id}"))
            .at("data.dose_id")
    };
    let dose = state.dose(dose_id).ok_or_else(not_found)?;
    let course = state.course(dose.course_id).ok_or_else(not_found)?;
    require_clinic_of_course(actor, course)?;
    Ok((dose, course))
}

/// A dose that was cancelled takes nothing more.
fn require_not_cancelled(dose: &Dose) -> Result<(), CommandError> {
    if dose.cancelled {
        return Err(CommandError::violated(
            "dose_open",
            format!("dose {} was cancelled", dose.dose_id),
        )
        .at("data.dose_id"));
    }
    Ok(())
}

/// What comes before a dose (its pre-dose check, its pre-dose vitals) may be recorded after
/// it — late, or as the new record of one corrected as amended — only when it was taken at or
/// before the dose (`taken_at`: the command's `occurred_at`, by default the time it was
/// received). The dose's flags stay as they were decided when it was administered.
fn require_taken_before_dose(
    dose: &Dose,
    taken_at: Timestamp,
    what: &str,
    field: &'static str,
) -> Result<(), CommandError> {
    match dose.administration {
        Some(given) if taken_at > given.administered_at => Err(CommandError::violated(
            "pre_dose_before_administration",
            format!(
                "dose {} was administered at {}; {what} is taken before it (one taken before, \
                 recorded late, gives its occurred_at)",
                dose.dose_id, given.administered_at
            ),
        )
        .at(field)),
        _ => Ok(()),
    }
}

/// No new doses in a course that has ended.
fn require_course_active(course: &Course) -> Result<(), CommandError> {
    if course.ended {
        return Err(CommandError::violated(
            "course_active",
            format!("course {} has ended", course.course_id),
        )
        .at("data.course_id"));
    }
    Ok(())
}

//! Dose rules (domain §2, §4) and who may write doses (§5: the clinic of the course), each
//! shown accepting and rejecting, in one table run in order on one patient.

use std::collections::HashMap;

use anyhow::{Context as _, Result};
use serde_json::{json, Value};

use crate::support::{check, flags, new_id, rejected, Cast, Expect, Harness, OK};

fn course(course_id: &str, clinic_id: &str, path: &str, age_65_or_older: bool) -> Value {
    json!({
        "course_id": course_id, "clinic_id": clinic_id, "path": path,
        "prescriber_id": "2f1a4c9d-8e7b-4a5f-8e3d-2c1b5b0c3f5e",
        "age_65_or_older": age_65_or_older,
    })
}

fn schedule(dose_id: &str, course_id: &str) -> Value {
    json!({ "dose_id": dose_id, "course_id": course_id, "planned_at": "2026-03-03T09:30:00Z" })
}

fn vitals(dose_id: Option<&str>, phase: &str, systolic: u16, diastolic: u16) -> Value {
    json!({
        "dose_id": dose_id, "phase": phase,
        "blood_pressure": { "systolic": systolic, "diastolic": diastolic },
        "heart_rate": 72, "spo2": 98,
    })
}

fn spravato(dose_id: &str, amount_mg: u32, devices: Option<u8>) -> Value {
    json!({
        "dose_id": dose_id, "drug": "esketamine", "route": "intranasal", "amount_mg": amount_mg,
        "weight_kg": null, "devices": devices, "lot": "KXA2B14",
        "administered_at": "2026-03-03T09:45:00Z",
    })
}

fn with(mut data: Value, field: &str, value: Value) -> Value {
    data[field] = value;
    data
}

fn discharge(dose_id: &str, minutes: u16, ride: bool, stable: bool) -> Value {
    json!({
        "dose_id": dose_id, "observed_minutes": minutes,
        "ride_home_confirmed": ride, "clinically_stable": stable,
    })
}

fn check_data(dose_id: &str, solids: f64, benzo: bool, stimulant: bool, ride: bool) -> Value {
    json!({
        "dose_id": dose_id, "solid_food_fasted_hours": solids,
        "clear_liquids_fasted_hours": 2, "benzodiazepine_last_24h": benzo,
        "stimulant_last_24h": stimulant, "ride_home_arranged": ride,
    })
}

#[tokio::test]
async fn dose_rules_accept_and_reject() -> Result<()> {
    let harness = Harness::start().await?;
    let cast = Cast::new();
    let other_patient = Cast::new();
    let (spr, spr65, ket) = (new_id(), new_id(), new_id());
    let (d1, d2, d3, d4, d5, d6) = (new_id(), new_id(), new_id(), new_id(), new_id(), new_id());
    let foreign_dose = new_id();
    let invalid = Expect::Rejected("invalid", None);
    let clinic = cast.clinic_id.as_str();

    // Another patient's course and dose, to reference from this patient's record.
    let foreign_course = new_id();
    check(
        &harness,
        "other patient's course",
        "dose.start_course",
        other_patient.command(
            &other_patient.clinic,
            course(&foreign_course, &other_patient.clinic_id, "spravato", false),
        ),
        OK,
    )
    .await?;
    check(
        &harness,
        "other patient's dose",
        "dose.schedule",
        other_patient.command(
            &other_patient.clinic,
            schedule(&foreign_dose, &foreign_course),
        ),
        OK,
    )
    .await?;

    let rows: Vec<(&str, &str, &Value, Value, Expect)> = vec![
        // §5: only clinics write doses, and only to their own courses.
        (
            "an auditor cannot start a course",
            "dose.start_course",
            &cast.auditor,
            course(&spr, clinic, "spravato", false),
            rejected("forbidden", "role_may_issue"),
        ),
        (
            "a therapist cannot start a course",
            "dose.start_course",
            &cast.therapist,
            course(&spr, clinic, "spravato", false),
            rejected("forbidden", "role_may_issue"),
        ),
        (
            "a patient cannot start a course",
            "dose.start_course",
            &cast.patient,
            course(&spr, clinic, "spravato", false),
            rejected("forbidden", "role_may_issue"),
        ),
        (
            "a clinic starts courses only with itself",
            "dose.start_course",
            &cast.clinic,
            course(&spr, &new_id(), "spravato", false),
            rejected("forbidden", "clinic_of_course"),
        ),
        (
            "a Spravato course",
            "dose.start_course",
            &cast.clinic,
            course(&spr, clinic, "spravato", false),
            OK,
        ),
        (
            "a course id is used once",
            "dose.start_course",
            &cast.clinic,
            course(&spr, clinic, "ketamine", false),
            rejected("invalid", "id_unique"),
        ),
        (
            "a Spravato course at 65 or older",
            "dose.start_course",
            &cast.clinic,
            course(&spr65, clinic, "spravato", true),
            OK,
        ),
        (
            "a ketamine course",
            "dose.start_course",
            &cast.clinic,
            course(&ket, clinic, "ketamine", false),
            OK,
        ),
        (
            "a dose needs a course of this patient",
            "dose.schedule",
            &cast.clinic,
            schedule(&d1, &foreign_course),
            rejected("not_found", "course_exists"),
        ),
        (
            "another clinic cannot write to this course",
            "dose.schedule",
            &cast.other_clinic,
            schedule(&d1, &spr),
            rejected("forbidden", "clinic_of_course"),
        ),
        (
            "schedule d1",
            "dose.schedule",
            &cast.clinic,
            schedule(&d1, &spr),
            OK,
        ),
        (
            "a dose id is used once",
            "dose.schedule",
            &cast.clinic,
            schedule(&d1, &ket),
            rejected("invalid", "id_unique"),
        ),
        (
            "schedule d2",
            "dose.schedule",
            &cast.clinic,
            schedule(&d2, &spr65),
            OK,
        ),
        (
            "schedule d3",
            "dose.schedule",
            &cast.clinic,
            schedule(&d3, &ket),
            OK,
        ),
        (
            "schedule d4",
            "dose.schedule",
            &cast.clinic,
            schedule(&d4, &spr),
            OK,
        ),
        // Pre-dose check flags.
        (
            "a clean pre-dose check",
            "dose.record_pre_dose_check",
            &cast.clinic,
            check_data(&d1, 4.0, false, false, true),
            flags(&[]),
        ),
        (
            "a pre-dose check with every problem",
            "dose.record_pre_dose_check",
            &cast.clinic,
            check_data(&d4, 1.5, true, true, false),
            flags(&[
                "solid_food_fasted_under_2h",
                "benzodiazepine_last_24h",
                "stimulant_last_24h",
                "no_ride_home_arranged",
            ]),
        ),
        (
            "solids 2 h before is not flagged",
            "dose.record_pre_dose_check",
            &cast.clinic,
            check_data(&d2, 2.0, false, false, true),
            flags(&[]),
        ),
        (
            "a dose of another patient is not found",
            "dose.record_pre_dose_check",
            &cast.clinic,
            check_data(&foreign_dose, 4.0, false, false, true),
            rejected("not_found", "dose_exists"),
        ),
        // Spravato needs pre-dose vitals first.
        (
            "Spravato without pre-dose vitals",
            "dose.administer",
            &cast.clinic,
            spravato(&d1, 56, Some(2)),
            rejected("rule_violated", "spravato_pre_dose_vitals"),
        ),
        // Vitals and their flags.
        (
            "pre-dose vitals belong to a dose",
            "dose.record_vitals",
            &cast.clinic,
            vitals(None, "pre_dose", 120, 80),
            rejected("invalid", "vitals_dose_for_phase"),
        ),
        (
            "an implausible blood pressure",
            "dose.record_vitals",
            &cast.clinic,
            vitals(Some(&d1), "pre_dose", 400, 80),
            invalid,
        ),
        (
            "another clinic's dose",
            "dose.record_vitals",
            &cast.other_clinic,
            vitals(Some(&d1), "pre_dose", 120, 80),
            rejected("forbidden", "clinic_of_course"),
        ),
        (
            "pre-dose above 140/90",
            "dose.record_vitals",
            &cast.clinic,
            vitals(Some(&d1), "pre_dose", 150, 95),
            flags(&["bp_above_140_90"]),
        ),
        (
            "pre-dose at 140/90 is not above",
            "dose.record_vitals",
            &cast.clinic,
            vitals(Some(&d2), "pre_dose", 140, 90),
            flags(&[]),
        ),
        (
            "pre-dose diastolic alone above 90",
            "dose.record_vitals",
            &cast.clinic,
            vitals(Some(&d4), "pre_dose", 130, 91),
            flags(&["bp_above_140_90"]),
        ),
        (
            "at or above 180/110 is a crisis",
            "dose.record_vitals",
            &cast.clinic,
            vitals(Some(&d3), "pre_dose", 180, 100),
            flags(&["bp_above_140_90", "bp_crisis"]),
        ),
        (
            "a crisis at any phase",
            "dose.record_vitals",
            &cast.clinic,
            vitals(None, "other", 150, 110),
            flags(&["bp_crisis"]),
        ),
        (
            "above 140/90 only counts before a dose",
            "dose.record_vitals",
            &cast.clinic,
            vitals(None, "other", 150, 95),
            flags(&[]),
        ),
        (
            "another clinic has no course here",
            "dose.record_vitals",
            &cast.other_clinic,
            vitals(None, "other", 120, 80),
            rejected("forbidden", "clinic_of_course"),
        ),
        // Spravato amounts, devices, route, drug.
        (
            "Spravato 70 mg",
            "dose.administer",
            &cast.clinic,
            spravato(&d1, 70, Some(2)),
            rejected("invalid", "spravato_amount"),
        ),
        (
            "Spravato 28 mg under 65",
            "dose.administer",
            &cast.clinic,
            spravato(&d1, 28, Some(1)),
            rejected("invalid", "spravato_amount"),
        ),
        (
            "Spravato 56 mg with 3 devices",
            "dose.administer",
            &cast.clinic,
            spravato(&d1, 56, Some(3)),
            rejected("invalid", "spravato_devices"),
        ),
        (
            "Spravato without a device count",
            "dose.administer",
            &cast.clinic,
            spravato(&d1, 56, None),
            rejected("invalid", "spravato_devices"),
        ),
        (
            "Spravato by IV",
            "dose.administer",
            &cast.clinic,
            with(spravato(&d1, 56, Some(2)), "route", json!("iv")),
            rejected("invalid", "spravato_route"),
        ),
        (
            "ketamine in a Spravato course",
            "dose.administer",
            &cast.clinic,
            with(spravato(&d1, 56, Some(2)), "drug", json!("ketamine")),
            rejected("invalid", "drug_matches_path"),
        ),
        (
            "callers do not set flags",
            "dose.administer",
            &cast.clinic,
            with(spravato(&d1, 56, Some(2)), "flags", json!([])),
            invalid,
        ),
        (
            "Spravato 56 mg, flagged from its pre-dose vitals",
            "dose.administer",
            &cast.clinic,
            spravato(&d1, 56, Some(2)),
            flags(&["bp_above_140_90"]),
        ),
        (
            "a dose is administered once",
            "dose.administer",
            &cast.clinic,
            spravato(&d1, 56, Some(2)),
            rejected("rule_violated", "administer_once"),
        ),
        (
            "pre-dose vitals come before the dose",
            "dose.record_vitals",
            &cast.clinic,
            vitals(Some(&d1), "pre_dose", 120, 80),
            rejected("rule_violated", "pre_dose_before_administration"),
        ),
        (
            "Spravato 28 mg as a first dose at 65",
            "dose.administer",
            &cast.clinic,
            spravato(&d2, 28, Some(1)),
            flags(&[]),
        ),
        (
            "schedule d5",
            "dose.schedule",
            &cast.clinic,
            schedule(&d5, &spr65),
            OK,
        ),
        (
            "d5 pre-dose vitals",
            "dose.record_vitals",
            &cast.clinic,
            vitals(Some(&d5), "pre_dose", 120, 80),
            OK,
        ),
        (
            "Spravato 28 mg only as the first dose",
            "dose.administer",
            &cast.clinic,
            spravato(&d5, 28, Some(1)),
            rejected("invalid", "spravato_amount"),
        ),
        (
            "Spravato 84 mg",
            "dose.administer",
            &cast.clinic,
            spravato(&d5, 84, Some(3)),
            flags(&[]),
        ),
        // Off-label ketamine.
        (
            "ketamine intranasal",
            "dose.administer",
            &cast.clinic,
            with(
                with(spravato(&d3, 36, None), "drug", json!("ketamine")),
                "route",
                json!("intranasal"),
            ),
            rejected("invalid", "ketamine_route"),
        ),
        (
            "esketamine in a ketamine course",
            "dose.administer",
            &cast.clinic,
            with(spravato(&d3, 36, None), "route", json!("iv")),
            rejected("invalid", "drug_matches_path"),
        ),
        (
            "ketamine with nasal devices",
            "dose.administer",
            &cast.clinic,
            with(
                with(spravato(&d3, 36, Some(1)), "drug", json!("ketamine")),
                "route",
                json!("im"),
            ),
            rejected("invalid", "devices_only_for_spravato"),
        ),
        (
            "ketamine 0.5 mg/kg IV, flagged from its vitals",
            "dose.administer",
            &cast.clinic,
            json!({ "dose_id": d3, "drug": "ketamine", "route": "iv", "amount_mg": 36.75, "weight_kg": 73.5,
                    "devices": null, "lot": null, "administered_at": "2026-03-03T10:00:00Z" }),
            flags(&["bp_above_140_90", "bp_crisis"]),
        ),
        // Discharge.
        (
            "discharge before the dose",
            "dose.discharge",
            &cast.clinic,
            discharge(&d4, 120, true, true),
            rejected("rule_violated", "discharge_after_administration"),
        ),
        (
            "Spravato discharge after 90 minutes",
            "dose.discharge",
            &cast.clinic,
            discharge(&d1, 90, true, true),
            rejected("rule_violated", "spravato_discharge"),
        ),
        (
            "Spravato discharge without a ride",
            "dose.discharge",
            &cast.clinic,
            discharge(&d1, 150, false, true),
            rejected("rule_violated", "spravato_discharge"),
        ),
        (
            "Spravato discharge while unstable",
            "dose.discharge",
            &cast.clinic,
            discharge(&d1, 150, true, false),
            rejected("rule_violated", "spravato_discharge"),
        ),
        (
            "Spravato discharge at 120 minutes",
            "dose.discharge",
            &cast.clinic,
            discharge(&d1, 120, true, true),
            OK,
        ),
        (
            "a discharge is recorded once",
            "dose.discharge",
            &cast.clinic,
            discharge(&d1, 130, true, true),
            rejected("rule_violated", "discharge_once"),
        ),
        (
            "ketamine discharge has no Spravato minimum",
            "dose.discharge",
            &cast.clinic,
            discharge(&d3, 60, true, true),
            OK,
        ),
        // Side effects, cancellation, end of course.
        (
            "another clinic's side effect",
            "dose.record_side_effect",
            &cast.other_clinic,
            json!({ "dose_id": d1, "effect": "nausea", "severity": "mild", "note": null }),
            rejected("forbidden", "clinic_of_course"),
        ),
        (
            "a side effect",
            "dose.record_side_effect",
            &cast.clinic,
            json!({ "dose_id": d1, "effect": "nausea", "severity": "mild", "note": null }),
            OK,
        ),
        (
            "an administered dose cannot be cancelled",
            "dose.cancel",
            &cast.clinic,
            json!({ "dose_id": d1, "reason": "x" }),
            rejected("rule_violated", "dose_open"),
        ),
        (
            "cancel d4",
            "dose.cancel",
            &cast.clinic,
            json!({ "dose_id": d4, "reason": "patient unwell" }),
            OK,
        ),
        (
            "a cancelled dose stays cancelled",
            "dose.cancel",
            &cast.clinic,
            json!({ "dose_id": d4, "reason": "again" }),
            rejected("rule_violated", "dose_open"),
        ),
        (
            "a cancelled dose is not given",
            "dose.administer",
            &cast.clinic,
            spravato(&d4, 56, Some(2)),
            rejected("rule_violated", "dose_open"),
        ),
        (
            "another clinic cannot end the course",
            "dose.end_course",
            &cast.other_clinic,
            json!({ "course_id": ket, "reason": "done" }),
            rejected("forbidden", "clinic_of_course"),
        ),
        (
            "end the ketamine course",
            "dose.end_course",
            &cast.clinic,
            json!({ "course_id": ket, "reason": "induction complete" }),
            OK,
        ),
        (
            "no doses in an ended course",
            "dose.schedule",
            &cast.clinic,
            schedule(&d6, &ket),
            rejected("rule_violated", "course_active"),
        ),
        (
            "a course ends once",
            "dose.end_course",
            &cast.clinic,
            json!({ "course_id": ket, "reason": "again" }),
            rejected("rule_violated", "course_active"),
        ),
    ];
    let mut replies = HashMap::new();
    for (what, command, actor, data, expect) in rows {
        let reply = check(&harness, what, command, cast.command(actor, data), expect).await?;
        replies.insert(what, reply);
    }
    let event_of = |what: &str| replies[what].event_id();
    let (cancellation, course_end) = (event_of("cancel d4")?, event_of("end the ketamine course")?);

    // Corrections: by the recorder only, once, of an event of this aggregate.
    let side_effect = check(
        &harness,
        "a second side effect",
        "dose.record_side_effect",
        cast.command(
            &cast.clinic,
            json!({ "dose_id": d5, "effect": "dizziness", "severity": "mild", "note": null }),
        ),
        OK,
    )
    .await?;
    let event_id = side_effect.event_id()?;
    let correct = |corrects: &str| json!({ "corrects": corrects, "kind": "entered_in_error", "reason": "wrong dose" });
    let unknown_event = uuid::Uuid::now_v7().to_string();
    let rows: Vec<(&str, &Value, Value, Expect)> = vec![
        (
            "a correction names an event of this record",
            &cast.clinic,
            correct(&unknown_event),
            rejected("not_found", "event_exists"),
        ),
        (
            "only the recorder corrects",
            &cast.other_clinic,
            correct(&event_id),
            rejected("forbidden", "corrector_is_recorder"),
        ),
        (
            "the clinic corrects its entry",
            &cast.clinic,
            correct(&event_id),
            OK,
        ),
        (
            "an entry is corrected once",
            &cast.clinic,
            correct(&event_id),
            rejected("rule_violated", "correct_once"),
        ),
        // A correction does not reopen what was closed: the rules would not be checked again.
        (
            "a correction does not reopen a cancelled dose",
            &cast.clinic,
            correct(&cancellation),
            rejected("rule_violated", "correction_reopens"),
        ),
        (
            "an amendment does not reopen a cancelled dose either",
            &cast.clinic,
            json!({ "corrects": cancellation, "kind": "amended", "reason": "wrong dose" }),
            rejected("rule_violated", "correction_reopens"),
        ),
        (
            "a correction does not reopen an ended course",
            &cast.clinic,
            correct(&course_end),
            rejected("rule_violated", "correction_reopens"),
        ),
    ];
    for (what, actor, data, expect) in rows {
        check(
            &harness,
            what,
            "dose.correct",
            cast.command(actor, data),
            expect,
        )
        .await?;
    }
    harness.stop().await
}

/// The clinic of `cast` starts a ketamine course `course_id`; the id of its `course_started`.
async fn start_ketamine_course(harness: &Harness, cast: &Cast, course_id: &str) -> Result<String> {
    let data = course(course_id, &cast.clinic_id, "ketamine", false);
    let envelope = cast.command(&cast.clinic, data);
    check(harness, "start a course", "dose.start_course", envelope, OK)
        .await?
        .event_id()
}

#[tokio::test]
async fn a_course_start_corrected_takes_the_course_away_until_it_is_started_again() -> Result<()> {
    let harness = Harness::start().await?;
    let cast = Cast::new();
    let (course_id, dose_id) = (new_id(), new_id());
    let start_event = start_ketamine_course(&harness, &cast, &course_id).await?;
    let other_clinic_id = cast.other_clinic["party_id"]
        .as_str()
        .context("the other clinic's id")?
        .to_owned();
    let rows: Vec<(&str, &str, &Value, Value, Expect)> = vec![
        (
            "amend the start",
            "dose.correct",
            &cast.clinic,
            json!({ "corrects": start_event, "kind": "amended", "reason": "wrong path" }),
            OK,
        ),
        (
            "the corrected course takes no doses",
            "dose.schedule",
            &cast.clinic,
            schedule(&dose_id, &course_id),
            rejected("not_found", "course_exists"),
        ),
        // Another clinic may not take the course id over (nor the first clinic's doses).
        (
            "another clinic cannot start it again",
            "dose.start_course",
            &cast.other_clinic,
            course(&course_id, &other_clinic_id, "spravato", false),
            rejected("forbidden", "clinic_of_course"),
        ),
        // The amended start keeps the course's id (the projections open the course anew).
        (
            "its clinic starts it again under the same id",
            "dose.start_course",
            &cast.clinic,
            course(&course_id, &cast.clinic_id, "spravato", false),
            OK,
        ),
        (
            "the course started again takes doses",
            "dose.schedule",
            &cast.clinic,
            schedule(&dose_id, &course_id),
            OK,
        ),
    ];
    for (what, command, actor, data, expect) in rows {
        check(&harness, what, command, cast.command(actor, data), expect).await?;
    }
    harness.stop().await
}

#[tokio::test]
async fn an_ended_course_is_not_reopened_by_correcting_its_start() -> Result<()> {
    // An ended course's start amended (a wrong prescriber, say) and recorded again under its
    // id: the course keeps its end, and takes no doses.
    let harness = Harness::start().await?;
    let cast = Cast::new();
    let (course_id, dose_id) = (new_id(), new_id());
    let start_event = start_ketamine_course(&harness, &cast, &course_id).await?;
    let running = &harness;
    let send = |what, command, data| {
        let envelope = cast.command(&cast.clinic, data);
        async move { check(running, what, command, envelope, OK).await }
    };
    let refused = |what, command, data| {
        let envelope = cast.command(&cast.clinic, data);
        let expect = rejected("rule_violated", "course_active");
        async move { check(running, what, command, envelope, expect).await }
    };
    let end = json!({ "course_id": course_id, "reason": "series complete" });
    send("end it", "dose.end_course", end.clone()).await?;
    let mut corrected = start_event;
    // Amended, then the amended start entered in error and recorded a third time: each start
    // recorded again finds the course ended.
    for kind in ["amended", "entered_in_error"] {
        let correction = json!({ "corrects": corrected, "kind": kind, "reason": "wrong date" });
        send("correct its start", "dose.correct", correction).await?;
        let again = course(&course_id, &cast.clinic_id, "ketamine", false);
        let restarted = send("its start, recorded again", "dose.start_course", again).await?;
        corrected = restarted.event_id()?;
        let dose = schedule(&dose_id, &course_id);
        refused("it is still ended: no doses", "dose.schedule", dose).await?;
        refused("nor a second end", "dose.end_course", end.clone()).await?;
    }
    let other = course(&new_id(), &cast.clinic_id, "ketamine", false);
    send("a new course takes doses", "dose.start_course", other).await?;
    harness.stop().await
}

#[tokio::test]
async fn what_is_recorded_after_a_dose_is_judged_by_when_it_happened() -> Result<()> {
    // A reading mistyped, administered on, then amended: the right reading is recorded after
    // the dose with the time it was taken. A reading taken after the dose is not pre-dose, and
    // a discharge cannot claim more observation than passed since the dose.
    let harness = Harness::start().await?;
    let cast = Cast::new();
    let (course_id, dose_id) = (new_id(), new_id());
    let send = |what, command, data, occurred_at: Option<&str>, expect| {
        let mut envelope = cast.command(&cast.clinic, data);
        if let Some(occurred_at) = occurred_at {
            envelope["occurred_at"] = json!(occurred_at);
        }
        check(&harness, what, command, envelope, expect)
    };
    let course = course(&course_id, &cast.clinic_id, "spravato", false);
    send("start", "dose.start_course", course, None, OK).await?;
    let schedule = schedule(&dose_id, &course_id);
    send("schedule", "dose.schedule", schedule, None, OK).await?;
    let mistyped = vitals(Some(&dose_id), "pre_dose", 150, 95);
    let taken = Some("2026-03-03T09:30:00Z");
    let reading = send(
        "the mistyped reading",
        "dose.record_vitals",
        mistyped,
        taken,
        OK,
    )
    .await?;
    let reading_id = reading.event_id()?;
    let administer = spravato(&dose_id, 56, Some(2));
    let flagged = flags(&["bp_above_140_90"]);
    send(
        "administered on it",
        "dose.administer",
        administer,
        None,
        flagged,
    )
    .await?;
    let amend = json!({ "corrects": reading_id, "kind": "amended", "reason": "was 125/80" });
    send("amended", "dose.correct", amend, None, OK).await?;
    let rows = [
        (
            None,
            rejected("rule_violated", "pre_dose_before_administration"),
        ),
        (
            Some("2026-03-03T09:45:01Z"),
            rejected("rule_violated", "pre_dose_before_administration"),
        ),
        // Taken at the moment of the dose, at the latest.
        (Some("2026-03-03T09:45:00Z"), OK),
        (Some("2026-03-03T09:30:00Z"), OK),
    ];
    for (taken, expect) in rows {
        let right = vitals(Some(&dose_id), "pre_dose", 125, 80);
        send(
            "the right reading",
            "dose.record_vitals",
            right,
            taken,
            expect,
        )
        .await?;
    }
    // The pre-dose check, the same.
    let rows = [
        (
            None,
            rejected("rule_violated", "pre_dose_before_administration"),
        ),
        (Some("2026-03-03T09:40:00Z"), OK),
    ];
    for (taken, expect) in rows {
        let data = check_data(&dose_id, 4.0, false, false, true);
        send(
            "the check",
            "dose.record_pre_dose_check",
            data,
            taken,
            expect,
        )
        .await?;
    }
    // Given at 09:45: 120 minutes of observation end at 11:45, give or take the minute
    // charts are kept to.
    let rows = [
        (
            "2026-03-03T11:43:59Z",
            rejected("rule_violated", "observed_since_dose"),
        ),
        ("2026-03-03T11:44:00Z", OK),
    ];
    for (at, expect) in rows {
        let data = discharge(&dose_id, 120, true, true);
        send("discharge", "dose.discharge", data, Some(at), expect).await?;
    }
    harness.stop().await
}

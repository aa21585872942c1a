//! The two-week Spravato example of seed 000, run as the commands a clinic, a therapist and a
//! patient would send: doses Tuesday and Thursday with observation and rides home, a
//! behavioural-activation step and a cognitive exercise practised between doses, a skills
//! session on Fridays, and one small notch in week 2 once the behaviour is consistently easy.

use std::collections::BTreeMap;

use anyhow::{ensure, Result};
use carelog_eventlog::AggregateKey;
use carelog_schemas::Family;
use serde_json::{json, Value};

use crate::support::{check, new_id, rejected, Cast, Harness, OK};

/// Counts the event types of one aggregate.
async fn event_types(
    harness: &Harness,
    cast: &Cast,
    family: Family,
) -> Result<BTreeMap<String, usize>> {
    let history = harness
        .log
        .load_aggregate(AggregateKey::new(cast.patient_id(), family))
        .await?;
    let mut counts = BTreeMap::new();
    for stored in history.commits() {
        for event in stored.commit.recorded_events(stored.position) {
            *counts.entry(event.envelope.event_type.clone()).or_insert(0) += 1;
        }
    }
    Ok(counts)
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs
        .iter()
        .map(|(name, count)| ((*name).to_owned(), *count))
        .collect()
}

#[tokio::test]
async fn the_two_week_spravato_example_of_seed_000() -> Result<()> {
    let harness = Harness::start().await?;
    let cast = Cast::new();
    let course = new_id();
    let (walk, thought_trap) = (new_id(), new_id());
    let send = |actor: &Value, command: &'static str, occurred_at: &str, data: Value| {
        let mut envelope = cast.command(actor, data);
        envelope["occurred_at"] = json!(occurred_at);
        (command, envelope)
    };

    // Before dosing: enrolment, consent for the therapist, one behaviour and one thought
    // exercise chosen from the menus.
    let setup = vec![
        send(
            &cast.clinic,
            "dose.start_course",
            "2026-03-02T10:00:00Z",
            json!({
            "course_id": course, "clinic_id": cast.clinic_id, "path": "spravato",
            "prescriber_id": new_id(), "age_65_or_older": false }),
        ),
        send(
            &cast.patient,
            "consent.grant",
            "2026-03-02T11:00:00Z",
            json!({
            "consent_id": new_id(), "grantee_id": cast.therapist_id, "grantee_role": "therapist",
            "scopes": ["doses", "targets", "sessions"], "purpose": "CBT in the window after doses",
            "expires_at": null }),
        ),
        send(
            &cast.therapist,
            "target.set",
            "2026-03-02T16:00:00Z",
            json!({
            "target_id": walk, "category": "behavioral_activation",
            "menu_item": "walk_outside_with_support_call", "description": "walk and call a friend",
            "plan": "15 minutes, Wednesday and Sunday" }),
        ),
        send(
            &cast.patient,
            "target.set",
            "2026-03-02T16:05:00Z",
            json!({
            "target_id": thought_trap, "category": "cognitive", "menu_item": "name_the_thought_trap",
            "description": "name the trap", "plan": "once on Wednesday" }),
        ),
    ];
    for (command, envelope) in setup {
        check(&harness, command, command, envelope, OK).await?;
    }

    for (week, (tuesday, wednesday, thursday, friday, sunday)) in [
        (
            "2026-03-03",
            "2026-03-04",
            "2026-03-05",
            "2026-03-06",
            "2026-03-08",
        ),
        (
            "2026-03-10",
            "2026-03-11",
            "2026-03-12",
            "2026-03-13",
            "2026-03-15",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        // Tuesday and Thursday: Spravato dose and observation, ride home, quiet evening.
        for (day, amount, devices) in [(tuesday, 56, 2), (thursday, 84, 3)] {
            let dose = new_id();
            let steps = vec![
                send(
                    &cast.clinic,
                    "dose.schedule",
                    &format!("{day}T08:00:00Z"),
                    json!({
                    "dose_id": dose, "course_id": course, "planned_at": format!("{day}T09:30:00Z") }),
                ),
                send(
                    &cast.clinic,
                    "dose.record_pre_dose_check",
                    &format!("{day}T09:20:00Z"),
                    json!({
                    "dose_id": dose, "solid_food_fasted_hours": 3, "clear_liquids_fasted_hours": 1,
                    "benzodiazepine_last_24h": false, "stimulant_last_24h": false, "ride_home_arranged": true }),
                ),
                send(
                    &cast.clinic,
                    "dose.record_vitals",
                    &format!("{day}T09:25:00Z"),
                    json!({
                    "dose_id": dose, "phase": "pre_dose", "blood_pressure": { "systolic": 128, "diastolic": 82 },
                    "heart_rate": 74, "spo2": 98 }),
                ),
                send(
                    &cast.clinic,
                    "dose.administer",
                    &format!("{day}T09:30:00Z"),
                    json!({
                    "dose_id": dose, "drug": "esketamine", "route": "intranasal", "amount_mg": amount,
                    "weight_kg": null, "devices": devices, "lot": "KXA2B14",
                    "administered_at": format!("{day}T09:30:00Z") }),
                ),
                send(
                    &cast.clinic,
                    "dose.record_vitals",
                    &format!("{day}T10:10:00Z"),
                    json!({
                    "dose_id": dose, "phase": "t40", "blood_pressure": { "systolic": 136, "diastolic": 86 },
                    "heart_rate": 78, "spo2": 97 }),
                ),
                send(
                    &cast.clinic,
                    "dose.discharge",
                    &format!("{day}T11:35:00Z"),
                    json!({
                    "dose_id": dose, "observed_minutes": 125, "ride_home_confirmed": true,
                    "clinically_stable": true }),
                ),
            ];
            for (command, envelope) in steps {
                let reply = check(&harness, command, command, envelope, OK).await?;
                if let Some(flags) = reply.last_data().get("flags") {
                    ensure!(
                        *flags == json!([]),
                        "week {week} {command}: unexpected flags {flags}"
                    );
                }
            }
        }

        // Wednesday: behavioural-activation step and one brief cognitive exercise. Sunday:
        // behavioural-activation step. Friday (24–72 h after Thursday's dose): a skills
        // session reviewing one practice, one barrier, one next step.
        let session = new_id();
        let cognitive_ease = if week == 0 { "ok" } else { "hard" };
        let mut steps = vec![
            send(
                &cast.patient,
                "target.practice",
                &format!("{wednesday}T18:00:00Z"),
                json!({
                "target_id": walk, "on": wednesday, "outcome": "done", "ease": "easy", "note": null }),
            ),
            send(
                &cast.patient,
                "target.practice",
                &format!("{wednesday}T20:00:00Z"),
                json!({
                "target_id": thought_trap, "on": wednesday, "outcome": "done", "ease": cognitive_ease,
                "note": null }),
            ),
            send(
                &cast.therapist,
                "target.schedule_session",
                &format!("{thursday}T12:00:00Z"),
                json!({
                "session_id": session, "therapist_id": cast.therapist_id,
                "at": format!("{friday}T15:00:00Z") }),
            ),
            send(
                &cast.therapist,
                "target.hold_session",
                &format!("{friday}T15:50:00Z"),
                json!({
                "session_id": session, "practice": "the walk", "barrier": "low energy in the morning",
                "next_step": "walk after lunch" }),
            ),
        ];
        if week == 1 {
            // Three done-and-easy walks in a row: keep targets the same, add one notch only.
            steps.push(send(
                &cast.therapist,
                "target.notch_up",
                &format!("{friday}T15:55:00Z"),
                json!({
                "target_id": walk, "description": "walk 20 minutes and call a friend" }),
            ));
        }
        steps.push(send(
            &cast.patient,
            "target.practice",
            &format!("{sunday}T11:00:00Z"),
            json!({
            "target_id": walk, "on": sunday, "outcome": "done", "ease": "easy", "note": null }),
        ));
        for (command, envelope) in steps {
            check(&harness, command, command, envelope, OK).await?;
        }
    }

    // One notch only; the thought exercise was not consistently easy.
    for (what, target_id) in [
        ("no second notch", &walk),
        ("the thought exercise stays", &thought_trap),
    ] {
        let (command, envelope) = send(
            &cast.therapist,
            "target.notch_up",
            "2026-03-15T12:00:00Z",
            json!({ "target_id": target_id, "description": "more" }),
        );
        check(
            &harness,
            what,
            command,
            envelope,
            rejected("rule_violated", "notch_after_three_easy"),
        )
        .await?;
    }

    ensure!(
        event_types(&harness, &cast, Family::Dose).await?
            == counts(&[
                ("course_started", 1),
                ("dose_scheduled", 4),
                ("pre_dose_check_recorded", 4),
                ("vitals_recorded", 8),
                ("dose_administered", 4),
                ("patient_discharged", 4),
            ]),
        "dose family"
    );
    ensure!(
        event_types(&harness, &cast, Family::Target).await?
            == counts(&[
                ("target_set", 2),
                ("target_practiced", 6),
                ("target_notched_up", 1),
                ("session_scheduled", 2),
                ("session_held", 2),
            ]),
        "target family"
    );
    ensure!(
        event_types(&harness, &cast, Family::Consent).await? == counts(&[("consent_granted", 1)]),
        "consent family"
    );
    ensure!(
        harness.log.verify_log().await?.first_break.is_none(),
        "the log verifies"
    );
    harness.stop().await
}

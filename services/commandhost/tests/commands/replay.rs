//! Permanent idempotency: a retried command (same command id) appends once and gets the same
//! answer, found by its command id in the aggregate's history.

use anyhow::{ensure, Result};
use carelog_schemas::Family;
use serde_json::json;

use crate::support::{check, new_id, Cast, Harness, OK};

#[tokio::test]
async fn a_retried_command_appends_once_and_answers_the_same() -> Result<()> {
    let harness = Harness::start().await?;
    let cast = Cast::new();
    let (course, dose) = (new_id(), new_id());
    for (what, command, data) in [
        (
            "course",
            "dose.start_course",
            json!({ "course_id": course, "clinic_id": cast.clinic_id, "path": "spravato", "prescriber_id": new_id(), "age_65_or_older": false }),
        ),
        (
            "dose",
            "dose.schedule",
            json!({ "dose_id": dose, "course_id": course, "planned_at": "2026-03-03T09:30:00Z" }),
        ),
        (
            "vitals",
            "dose.record_vitals",
            json!({ "dose_id": dose, "phase": "pre_dose", "blood_pressure": { "systolic": 150, "diastolic": 95 }, "heart_rate": 70, "spo2": null }),
        ),
    ] {
        check(
            &harness,
            what,
            command,
            cast.command(&cast.clinic, data),
            OK,
        )
        .await?;
    }
    let administer = cast.command(
        &cast.clinic,
        json!({ "dose_id": dose, "drug": "esketamine", "route": "intranasal", "amount_mg": 56,
                "weight_kg": null, "devices": 2, "lot": null, "administered_at": "2026-03-03T09:45:00Z" }),
    );
    let first = harness.send("dose.administer", &administer).await?;
    ensure!(first.ok() && !first.replayed, "first: {}", first.json);
    let commits = harness.commits(cast.patient_id(), Family::Dose).await?;
    let position = harness.log.last_position().await?;

    // Deciding this command again would now break "a dose is administered once": the same
    // answer can only come from the command id found in the log, not from a new decision nor
    // from JetStream's duplicate window (which never sees a second publish).
    for _ in 0..2 {
        let retry = harness.send("dose.administer", &administer).await?;
        ensure!(
            retry.replayed,
            "a retry is answered from the log: {}",
            retry.json
        );
        ensure!(
            retry.body == first.body,
            "a retry gets the first answer byte for byte"
        );
    }
    ensure!(
        harness.commits(cast.patient_id(), Family::Dose).await? == commits,
        "appended twice"
    );
    ensure!(
        harness.log.last_position().await? == position,
        "the log moved"
    );

    // A new command id is a new command, refused by the rule.
    let mut again = administer.clone();
    again["command_id"] = json!(new_id());
    let reply = harness.send("dose.administer", &again).await?;
    ensure!(reply.rule() == Some("administer_once"), "{}", reply.json);

    // The same command id from another actor is not a retry.
    let mut stolen = administer.clone();
    stolen["actor"] = cast.other_clinic.clone();
    let reply = harness.send("dose.administer", &stolen).await?;
    ensure!(
        reply.code() == Some("conflict") && reply.rule() == Some("command_id_unique"),
        "{}",
        reply.json
    );
    harness.stop().await
}

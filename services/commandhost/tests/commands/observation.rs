//! Observation rules (domain §4: scale shape, PHQ-9 item 9, red-flag symptoms within 72 h of a
//! dose) and who may write observations (§5).

use anyhow::Result;
use serde_json::{json, Value};

use crate::support::{check, flags, new_id, rejected, Cast, Expect, Harness, OK};

fn symptom(symptom: &str) -> Value {
    json!({ "observation_id": new_id(), "value": { "symptom": { "symptom": symptom, "detail": null } } })
}

fn phq9(items: [u8; 9]) -> Value {
    let total: u16 = items.iter().map(|&item| u16::from(item)).sum();
    json!({ "score": { "instrument": "phq9", "items": items, "total": total } })
}

/// A command at an instant, with `occurred_at` set in the envelope.
fn at(mut envelope: Value, occurred_at: &str) -> Value {
    envelope["occurred_at"] = json!(occurred_at);
    envelope
}

#[tokio::test]
async fn observation_rules_accept_and_reject() -> Result<()> {
    let harness = Harness::start().await?;
    let cast = Cast::new();
    let (course, dose) = (new_id(), new_id());
    let scale = Expect::Rejected("invalid", Some("scale_shape"));
    let therapist_consent = json!({
        "consent_id": new_id(), "grantee_id": cast.therapist_id, "grantee_role": "therapist",
        "scopes": ["observations"], "purpose": "CBT", "expires_at": null,
    });
    let mood = json!({ "observation_id": new_id(), "value": { "mood": 6 } });

    let before_any_dose = [
        (
            "a clinic without a course cannot write",
            "observation.record",
            &cast.clinic,
            mood.clone(),
            rejected("forbidden", "clinic_of_course"),
        ),
        (
            "a therapist without consent cannot write",
            "observation.record",
            &cast.therapist,
            mood.clone(),
            rejected("forbidden", "therapist_consent"),
        ),
        (
            "an auditor cannot write",
            "observation.record",
            &cast.auditor,
            mood.clone(),
            rejected("forbidden", "role_may_issue"),
        ),
        (
            "the patient records a mood",
            "observation.record",
            &cast.patient,
            mood.clone(),
            flags(&[]),
        ),
        (
            "an observation id is used once",
            "observation.record",
            &cast.patient,
            mood.clone(),
            rejected("invalid", "id_unique"),
        ),
        (
            "a mood out of range",
            "observation.record",
            &cast.patient,
            json!({ "observation_id": new_id(), "value": { "mood": 11 } }),
            Expect::Rejected("invalid", None),
        ),
        (
            "chest pain before any dose is not flagged",
            "observation.record",
            &cast.patient,
            symptom("chest_pain"),
            flags(&[]),
        ),
        (
            "consent for observations",
            "consent.grant",
            &cast.patient,
            therapist_consent,
            OK,
        ),
        (
            "the consented therapist records",
            "observation.record",
            &cast.therapist,
            json!({ "observation_id": new_id(), "value": { "shift": "starting tasks felt easier" } }),
            OK,
        ),
        (
            "an observations consent does not cover scores",
            "observation.score",
            &cast.therapist,
            phq9([0; 9]),
            rejected("forbidden", "therapist_consent"),
        ),
        // Scale shape.
        (
            "PHQ-9 with eight items",
            "observation.score",
            &cast.patient,
            json!({ "score": { "instrument": "phq9", "items": [0, 0, 0, 0, 0, 0, 0, 0], "total": 0 } }),
            scale,
        ),
        (
            "PHQ-9 item out of range",
            "observation.score",
            &cast.patient,
            json!({ "score": { "instrument": "phq9", "items": [4, 0, 0, 0, 0, 0, 0, 0, 0], "total": 4 } }),
            scale,
        ),
        (
            "PHQ-9 total not the sum",
            "observation.score",
            &cast.patient,
            json!({ "score": { "instrument": "phq9", "items": [1, 1, 0, 0, 0, 0, 0, 0, 0], "total": 3 } }),
            scale,
        ),
        (
            "GAD-7",
            "observation.score",
            &cast.patient,
            json!({ "score": { "instrument": "gad7", "items": [1, 2, 1, 0, 0, 1, 2], "total": 7 } }),
            flags(&[]),
        ),
        // PHQ-9 item 9.
        (
            "PHQ-9 with item 9 at 0",
            "observation.score",
            &cast.patient,
            phq9([2, 2, 1, 1, 0, 1, 1, 0, 0]),
            flags(&[]),
        ),
        (
            "PHQ-9 with item 9 above 0",
            "observation.score",
            &cast.patient,
            phq9([2, 2, 1, 1, 0, 1, 1, 0, 1]),
            flags(&["phq9_item9_positive"]),
        ),
    ];
    for (what, command, actor, data, expect) in before_any_dose {
        check(&harness, what, command, cast.command(actor, data), expect).await?;
    }

    // A dose given at 09:45 on 3 March; symptoms are judged by when they occurred.
    let setup = [
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
            json!({ "dose_id": dose, "phase": "pre_dose", "blood_pressure": { "systolic": 120, "diastolic": 80 }, "heart_rate": 70, "spo2": null }),
        ),
        (
            "administer",
            "dose.administer",
            json!({ "dose_id": dose, "drug": "esketamine", "route": "intranasal", "amount_mg": 56, "weight_kg": null, "devices": 2, "lot": null, "administered_at": "2026-03-03T09:45:00Z" }),
        ),
    ];
    for (what, command, data) in setup {
        check(
            &harness,
            what,
            command,
            cast.command(&cast.clinic, data),
            OK,
        )
        .await?;
    }
    let red_flag = [flags(&["red_flag_symptom_within_72h"]), flags(&[])];
    let after_dose = [
        (
            "severe headache the next day",
            "severe_headache",
            "2026-03-04T08:00:00Z",
            red_flag[0],
        ),
        (
            "persistent vomiting at 72 h",
            "persistent_vomiting",
            "2026-03-06T09:45:00Z",
            red_flag[0],
        ),
        (
            "feeling worse within 72 h",
            "feeling_worse",
            "2026-03-05T20:00:00Z",
            red_flag[0],
        ),
        (
            "chest pain within 72 h",
            "chest_pain",
            "2026-03-03T12:00:00Z",
            red_flag[0],
        ),
        (
            "chest pain after 72 h",
            "chest_pain",
            "2026-03-06T10:00:00Z",
            red_flag[1],
        ),
        (
            "chest pain before the dose",
            "chest_pain",
            "2026-03-03T08:00:00Z",
            red_flag[1],
        ),
        (
            "an other symptom within 72 h",
            "other",
            "2026-03-04T08:00:00Z",
            red_flag[1],
        ),
    ];
    for (what, name, occurred_at, expect) in after_dose {
        let envelope = at(cast.command(&cast.patient, symptom(name)), occurred_at);
        check(&harness, what, "observation.record", envelope, expect).await?;
    }
    check(
        &harness,
        "the clinic of the course records",
        "observation.record",
        cast.command(
            &cast.clinic,
            json!({ "observation_id": new_id(), "value": { "sleep_hours": 6.5 } }),
        ),
        OK,
    )
    .await?;
    check(&harness, "clinician-rated MADRS", "observation.score",
        cast.command(&cast.clinic, json!({ "score": { "instrument": "madrs", "items": [3, 3, 2, 2, 2, 1, 2, 2, 1, 0], "total": 18 } })), OK).await?;
    harness.stop().await
}

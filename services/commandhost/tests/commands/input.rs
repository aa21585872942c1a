//! Bad input gets an `invalid` reply naming the field, and nothing is appended.

use anyhow::{ensure, Result};
use serde_json::json;

use crate::support::{Cast, Harness};

/// What is sent, where, and the field and rule the error must name.
type Case = (
    &'static str,
    &'static str,
    Vec<u8>,
    Option<&'static str>,
    Option<&'static str>,
);

#[tokio::test]
async fn malformed_commands_are_invalid_and_name_the_field() -> Result<()> {
    let harness = Harness::start().await?;
    let cast = Cast::new();
    let good = cast.command(
        &cast.clinic,
        json!({ "dose_id": "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f", "phase": "other",
                "blood_pressure": { "systolic": 120, "diastolic": 80 }, "heart_rate": 72, "spo2": null }),
    );
    let edit = |path: &[&str], value: serde_json::Value| {
        let mut envelope = good.clone();
        let mut cursor = &mut envelope;
        for key in &path[..path.len() - 1] {
            cursor = &mut cursor[*key];
        }
        cursor[path[path.len() - 1]] = value;
        envelope.to_string().into_bytes()
    };
    let mut without_actor = good.clone();
    without_actor.as_object_mut().map(|map| map.remove("actor"));
    let cases: Vec<Case> = vec![
        (
            "not JSON",
            "dose.record_vitals",
            b"{\"command_id\": ".to_vec(),
            None,
            None,
        ),
        (
            "not an object",
            "dose.record_vitals",
            b"[]".to_vec(),
            None,
            None,
        ),
        (
            "an unknown command",
            "dose.teleport",
            good.to_string().into_bytes(),
            None,
            Some("known_command"),
        ),
        (
            "a missing actor",
            "dose.record_vitals",
            without_actor.to_string().into_bytes(),
            Some("actor"),
            None,
        ),
        (
            "an unknown role",
            "dose.record_vitals",
            edit(&["actor", "role"], json!("janitor")),
            Some("actor.role"),
            None,
        ),
        (
            "a patient id that is not a UUID",
            "dose.record_vitals",
            edit(&["patient_id"], json!("p-17")),
            Some("patient_id"),
            None,
        ),
        (
            "a wrong type",
            "dose.record_vitals",
            edit(&["data", "heart_rate"], json!("72")),
            Some("data.heart_rate"),
            None,
        ),
        (
            "an out-of-range value",
            "dose.record_vitals",
            edit(&["data", "heart_rate"], json!(400)),
            Some("data.heart_rate"),
            None,
        ),
        (
            "an unknown field",
            "dose.record_vitals",
            edit(&["data", "pulse"], json!(72)),
            Some("data.pulse"),
            None,
        ),
        (
            "an unknown envelope field",
            "dose.record_vitals",
            edit(&["priority"], json!("high")),
            Some("priority"),
            None,
        ),
        (
            "an unknown phase",
            "dose.record_vitals",
            edit(&["data", "phase"], json!("after")),
            Some("data.phase"),
            None,
        ),
        (
            "a missing field",
            "dose.record_vitals",
            {
                let mut envelope = good.clone();
                envelope["data"]
                    .as_object_mut()
                    .map(|map| map.remove("phase"));
                envelope.to_string().into_bytes()
            },
            Some("data.phase"),
            None,
        ),
        (
            "a bad timestamp",
            "dose.record_vitals",
            edit(&["occurred_at"], json!("yesterday")),
            Some("occurred_at"),
            None,
        ),
    ];
    let before = harness.log.last_position().await?;
    for (what, command, body, field, rule) in cases {
        let reply = harness.send_raw(command, body).await?;
        ensure!(
            !reply.ok() && reply.code() == Some("invalid"),
            "{what}: {}",
            reply.json
        );
        ensure!(
            reply.field() == field,
            "{what}: field {:?} in {}",
            field,
            reply.json
        );
        if rule.is_some() {
            ensure!(
                reply.rule() == rule,
                "{what}: rule {:?} in {}",
                rule,
                reply.json
            );
        }
        ensure!(
            reply.json["error"]["message"]
                .as_str()
                .is_some_and(|m| m.len() > 10),
            "{what}: no readable message in {}",
            reply.json
        );
    }
    ensure!(
        harness.log.last_position().await? == before,
        "bad input appended"
    );
    harness.stop().await
}

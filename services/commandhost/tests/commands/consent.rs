//! Consent rules (domain §4) and who may write consents (§5): only the patient, for
//! themselves.

use anyhow::Result;
use serde_json::{json, Value};

use crate::support::{check, new_id, rejected, Cast, Harness, OK};

fn grant(cast: &Cast, consent_id: &str, scopes: Value, expires_at: Value) -> Value {
    json!({
        "consent_id": consent_id,
        "grantee_id": cast.therapist_id,
        "grantee_role": "therapist",
        "scopes": scopes,
        "purpose": "CBT between doses",
        "expires_at": expires_at,
    })
}

#[tokio::test]
async fn consent_rules_accept_and_reject() -> Result<()> {
    let harness = Harness::start().await?;
    let cast = Cast::new();
    let consent = new_id();
    let good = grant(
        &cast,
        &consent,
        json!(["targets", "sessions"]),
        json!("2099-01-01T00:00:00Z"),
    );
    let someone_else = json!({ "role": "patient", "party_id": new_id() });
    let mut two_grantees = good.clone();
    two_grantees["grantee_id"] = json!([cast.therapist_id, cast.clinic_id]);
    let rows = [
        (
            "a therapist cannot grant",
            "consent.grant",
            &cast.therapist,
            good.clone(),
            rejected("forbidden", "role_may_issue"),
        ),
        (
            "a clinic cannot grant",
            "consent.grant",
            &cast.clinic,
            good.clone(),
            rejected("forbidden", "role_may_issue"),
        ),
        (
            "an auditor cannot grant",
            "consent.grant",
            &cast.auditor,
            good.clone(),
            rejected("forbidden", "role_may_issue"),
        ),
        (
            "a patient grants only for themselves",
            "consent.grant",
            &someone_else,
            good.clone(),
            rejected("forbidden", "patient_self"),
        ),
        (
            "scopes are not empty",
            "consent.grant",
            &cast.patient,
            grant(&cast, &consent, json!([]), json!(null)),
            crate::support::Expect::Rejected("invalid", None),
        ),
        (
            "a consent names one grantee",
            "consent.grant",
            &cast.patient,
            two_grantees,
            crate::support::Expect::Rejected("invalid", None),
        ),
        (
            "expiry is in the future",
            "consent.grant",
            &cast.patient,
            grant(
                &cast,
                &consent,
                json!(["targets"]),
                json!("2020-01-01T00:00:00Z"),
            ),
            rejected("rule_violated", "consent_expiry_in_future"),
        ),
        (
            "the patient grants",
            "consent.grant",
            &cast.patient,
            good.clone(),
            OK,
        ),
        (
            "a consent id is used once",
            "consent.grant",
            &cast.patient,
            good.clone(),
            rejected("invalid", "id_unique"),
        ),
        (
            "revoking an unknown consent",
            "consent.revoke",
            &cast.patient,
            json!({ "consent_id": new_id(), "reason": null }),
            rejected("not_found", "consent_exists"),
        ),
        (
            "the therapist cannot revoke",
            "consent.revoke",
            &cast.therapist,
            json!({ "consent_id": consent, "reason": null }),
            rejected("forbidden", "role_may_issue"),
        ),
        (
            "the patient revokes",
            "consent.revoke",
            &cast.patient,
            json!({ "consent_id": consent, "reason": "changing therapist" }),
            OK,
        ),
        (
            "a revoked consent is not open",
            "consent.revoke",
            &cast.patient,
            json!({ "consent_id": consent }),
            rejected("rule_violated", "consent_open"),
        ),
    ];
    for (what, command, actor, data, expect) in rows {
        check(&harness, what, command, cast.command(actor, data), expect).await?;
    }
    harness.stop().await
}

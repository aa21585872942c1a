//! Target rules (domain §4: one behaviour and one thought exercise, a notch after three easy
//! practices) and who may write targets (§5: the patient, or a therapist with consent).

use std::collections::HashMap;

use anyhow::Result;
use serde_json::{json, Value};

use crate::support::{check, new_id, rejected, Cast, Expect, Harness, OK};

fn target(target_id: &str, category: &str, menu_item: Option<&str>) -> Value {
    json!({
        "target_id": target_id, "category": category, "menu_item": menu_item,
        "description": "a small step", "plan": "two minutes, three days this week",
    })
}

fn practice(target_id: &str, on: &str, outcome: &str, ease: &str) -> Value {
    json!({ "target_id": target_id, "on": on, "outcome": outcome, "ease": ease, "note": null })
}

fn notch(target_id: &str) -> Value {
    json!({ "target_id": target_id, "description": "three minutes" })
}

fn consent(cast: &Cast, consent_id: &str, scopes: Value) -> Value {
    json!({
        "consent_id": consent_id, "grantee_id": cast.therapist_id, "grantee_role": "therapist",
        "scopes": scopes, "purpose": "CBT", "expires_at": null,
    })
}

#[tokio::test]
async fn target_rules_accept_and_reject() -> Result<()> {
    let harness = Harness::start().await?;
    let cast = Cast::new();
    let (walk, reframe, sleep, exposure) = (new_id(), new_id(), new_id(), new_id());
    let (sessions_only, targets_consent) = (new_id(), new_id());
    let session = new_id();
    let invalid = Expect::Rejected("invalid", None);
    let therapist_id = cast.therapist_id.as_str();
    let rows: Vec<(&str, &str, &Value, Value, Expect)> = vec![
        // §5: a therapist without consent cannot write for the patient at all.
        (
            "a therapist without consent cannot set a target",
            "target.set",
            &cast.therapist,
            target(&walk, "behavioral_activation", None),
            rejected("forbidden", "therapist_consent"),
        ),
        (
            "a clinic does not set targets",
            "target.set",
            &cast.clinic,
            target(&walk, "behavioral_activation", None),
            rejected("forbidden", "role_may_issue"),
        ),
        (
            "an auditor does not set targets",
            "target.set",
            &cast.auditor,
            target(&walk, "behavioral_activation", None),
            rejected("forbidden", "role_may_issue"),
        ),
        (
            "consent for sessions only",
            "consent.grant",
            &cast.patient,
            consent(&cast, &sessions_only, json!(["sessions"])),
            OK,
        ),
        (
            "a sessions consent does not cover targets",
            "target.set",
            &cast.therapist,
            target(&walk, "behavioral_activation", None),
            rejected("forbidden", "therapist_consent"),
        ),
        (
            "consent for targets",
            "consent.grant",
            &cast.patient,
            consent(&cast, &targets_consent, json!(["targets", "doses"])),
            OK,
        ),
        (
            "a menu item from another menu",
            "target.set",
            &cast.therapist,
            target(&walk, "behavioral_activation", Some("fixed_wake_time")),
            invalid,
        ),
        (
            "the consented therapist sets a behaviour",
            "target.set",
            &cast.therapist,
            target(
                &walk,
                "behavioral_activation",
                Some("walk_outside_with_support_call"),
            ),
            OK,
        ),
        (
            "another therapist still cannot",
            "target.set",
            &cast.other_therapist,
            target(&reframe, "cognitive", None),
            rejected("forbidden", "therapist_consent"),
        ),
        (
            "a second behaviour is too many goals",
            "target.set",
            &cast.patient,
            target(&sleep, "sleep", Some("fixed_wake_time")),
            rejected("rule_violated", "too_many_goals"),
        ),
        (
            "exposure is a behaviour too",
            "target.set",
            &cast.patient,
            target(&exposure, "exposure", None),
            rejected("rule_violated", "too_many_goals"),
        ),
        (
            "the patient sets a thought exercise",
            "target.set",
            &cast.patient,
            target(&reframe, "cognitive", Some("name_the_thought_trap")),
            OK,
        ),
        (
            "a second thought exercise is too many goals",
            "target.set",
            &cast.patient,
            target(&sleep, "cognitive", None),
            rejected("rule_violated", "too_many_goals"),
        ),
        // Notch after three done-and-easy practices.
        (
            "practice an unknown target",
            "target.practice",
            &cast.patient,
            practice(&new_id(), "2026-03-04", "done", "easy"),
            rejected("not_found", "target_exists"),
        ),
        (
            "practice 1 done easy",
            "target.practice",
            &cast.patient,
            practice(&walk, "2026-03-04", "done", "easy"),
            OK,
        ),
        (
            "practice 2 done easy",
            "target.practice",
            &cast.patient,
            practice(&walk, "2026-03-06", "done", "easy"),
            OK,
        ),
        (
            "a notch after two practices",
            "target.notch_up",
            &cast.therapist,
            notch(&walk),
            rejected("rule_violated", "notch_after_three_easy"),
        ),
        (
            "practice 3 done ok",
            "target.practice",
            &cast.patient,
            practice(&walk, "2026-03-08", "done", "ok"),
            OK,
        ),
        (
            "a notch when one was not easy",
            "target.notch_up",
            &cast.therapist,
            notch(&walk),
            rejected("rule_violated", "notch_after_three_easy"),
        ),
        (
            "practice 4 done easy",
            "target.practice",
            &cast.patient,
            practice(&walk, "2026-03-10", "done", "easy"),
            OK,
        ),
        (
            "practice 5 done easy",
            "target.practice",
            &cast.patient,
            practice(&walk, "2026-03-11", "done", "easy"),
            OK,
        ),
        (
            "practice 6 done easy",
            "target.practice",
            &cast.patient,
            practice(&walk, "2026-03-12", "done", "easy"),
            OK,
        ),
        (
            "a notch after three easy in a row",
            "target.notch_up",
            &cast.therapist,
            notch(&walk),
            OK,
        ),
        (
            "the count starts again after a notch",
            "target.notch_up",
            &cast.therapist,
            notch(&walk),
            rejected("rule_violated", "notch_after_three_easy"),
        ),
        // Retiring frees the slot.
        (
            "retire the behaviour",
            "target.retire",
            &cast.patient,
            json!({ "target_id": walk, "reason": "achieved" }),
            OK,
        ),
        (
            "a retired target is not practised",
            "target.practice",
            &cast.patient,
            practice(&walk, "2026-03-13", "done", "easy"),
            rejected("rule_violated", "target_active"),
        ),
        (
            "a new behaviour after retiring",
            "target.set",
            &cast.patient,
            target(&sleep, "sleep", Some("fixed_wake_time")),
            OK,
        ),
        // Sessions.
        (
            "a therapist schedules only with themselves",
            "target.schedule_session",
            &cast.therapist,
            json!({ "session_id": session, "therapist_id": new_id(), "at": "2026-03-05T15:00:00Z" }),
            rejected("forbidden", "session_therapist"),
        ),
        (
            "the patient schedules with an unconsented therapist",
            "target.schedule_session",
            &cast.patient,
            json!({ "session_id": session, "therapist_id": new_id(), "at": "2026-03-05T15:00:00Z" }),
            rejected("forbidden", "therapist_consent"),
        ),
        (
            "schedule a session",
            "target.schedule_session",
            &cast.therapist,
            json!({ "session_id": session, "therapist_id": therapist_id, "at": "2026-03-05T15:00:00Z" }),
            OK,
        ),
        (
            "the patient does not record a session as held",
            "target.hold_session",
            &cast.patient,
            json!({ "session_id": session, "practice": "walk", "barrier": "rain", "next_step": "umbrella" }),
            rejected("forbidden", "role_may_issue"),
        ),
        (
            "the therapist holds the session",
            "target.hold_session",
            &cast.therapist,
            json!({ "session_id": session, "practice": "walk", "barrier": "rain", "next_step": "umbrella" }),
            OK,
        ),
        (
            "a held session cannot be cancelled",
            "target.cancel_session",
            &cast.patient,
            json!({ "session_id": session }),
            rejected("rule_violated", "session_open"),
        ),
        // Revoking the consent ends the therapist's access at once.
        (
            "the patient revokes the targets consent",
            "consent.revoke",
            &cast.patient,
            json!({ "consent_id": targets_consent, "reason": null }),
            OK,
        ),
        (
            "a revoked therapist cannot practise for the patient",
            "target.practice",
            &cast.therapist,
            practice(&reframe, "2026-03-12", "done", "easy"),
            rejected("forbidden", "therapist_consent"),
        ),
    ];
    let mut replies = HashMap::new();
    for (what, command, actor, data, expect) in rows {
        let reply = check(&harness, what, command, cast.command(actor, data), expect).await?;
        replies.insert(what, reply);
    }

    // A correction does not reopen a retired target: the behaviour slot is taken by `sleep`
    // now, and "too many goals" would not be checked again.
    let retirement = replies["retire the behaviour"].event_id()?;
    for kind in ["entered_in_error", "amended"] {
        check(
            &harness,
            "a correction does not reopen a retired target",
            "target.correct",
            cast.command(
                &cast.patient,
                json!({ "corrects": retirement, "kind": kind, "reason": "retired by mistake" }),
            ),
            rejected("rule_violated", "correction_reopens"),
        )
        .await?;
    }
    check(
        &harness,
        "the retired target is still not practised",
        "target.practice",
        cast.command(&cast.patient, practice(&walk, "2026-03-14", "done", "easy")),
        rejected("rule_violated", "target_active"),
    )
    .await?;
    harness.stop().await
}

#[tokio::test]
async fn a_therapists_correction_needs_the_scope_of_the_entry_it_corrects() -> Result<()> {
    // Domain §5: a consent's scopes bound what a therapist may write. Correcting an entry is
    // writing to its scope: a session's correction needs `sessions`, a score's `scores`,
    // whatever family default the other commands of the service have.
    let harness = Harness::start().await?;
    let cast = Cast::new();
    let therapist = &cast.therapist;
    let correct = |corrects: &str| json!({ "corrects": corrects, "kind": "entered_in_error", "reason": "wrong patient" });
    let send = |what: &'static str, command: &'static str, actor: &Value, data, expect| {
        check(&harness, what, command, cast.command(actor, data), expect)
    };
    let (first, second) = (new_id(), new_id());
    send(
        "consent for sessions and scores",
        "consent.grant",
        &cast.patient,
        consent(&cast, &first, json!(["sessions", "scores"])),
        OK,
    )
    .await?;
    let (session_a, session_b) = (new_id(), new_id());
    let mut sessions = Vec::new();
    for session in [&session_a, &session_b] {
        let data = json!({
            "session_id": session, "therapist_id": cast.therapist_id, "at": "2026-03-05T15:00:00Z",
        });
        let reply = send("schedule", "target.schedule_session", therapist, data, OK).await?;
        sessions.push(reply.event_id()?);
    }
    let phq9 = json!({ "score": { "instrument": "phq9", "items": [1, 1, 1, 1, 1, 1, 1, 1, 1], "total": 9 } });
    let mut scores = Vec::new();
    for _ in 0..2 {
        let reply = send("score", "observation.score", therapist, phq9.clone(), OK).await?;
        scores.push(reply.event_id()?);
    }
    // Without `targets` or `observations`, the entries of the scopes held are corrected.
    send(
        "a sessions consent covers a session's correction",
        "target.correct",
        therapist,
        correct(&sessions[0]),
        OK,
    )
    .await?;
    send(
        "a scores consent covers a score's correction",
        "observation.correct",
        therapist,
        correct(&scores[0]),
        OK,
    )
    .await?;
    // The consent swapped for one without those scopes: their entries are out of reach.
    send(
        "revoke",
        "consent.revoke",
        &cast.patient,
        json!({ "consent_id": first, "reason": null }),
        OK,
    )
    .await?;
    send(
        "consent for targets and observations",
        "consent.grant",
        &cast.patient,
        consent(&cast, &second, json!(["targets", "observations"])),
        OK,
    )
    .await?;
    send(
        "a targets consent does not cover a session's correction",
        "target.correct",
        therapist,
        correct(&sessions[1]),
        rejected("forbidden", "therapist_consent"),
    )
    .await?;
    send(
        "an observations consent does not cover a score's correction",
        "observation.correct",
        therapist,
        correct(&scores[1]),
        rejected("forbidden", "therapist_consent"),
    )
    .await?;
    // An id that names no entry of the patient's is not found, to a therapist with consent.
    send(
        "a correction of no entry",
        "target.correct",
        therapist,
        correct(&uuid::Uuid::now_v7().to_string()),
        rejected("not_found", "event_exists"),
    )
    .await?;
    harness.stop().await
}

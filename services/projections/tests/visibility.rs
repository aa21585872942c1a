//! Domain §5 "who sees what", row by row, for each role: without consent, after a grant
//! (past entries backfilled, later ones live), after a revocation (past entries gone too),
//! after an expiry (at read time, then swept), and the treatment-safety exception.

mod support;

use anyhow::{Context, Result};
use carelog_projections::Reader;
use carelog_schemas::{Family, PartyId, PatientId, Role};
use serde_json::json;
use support::{actor, at, course_started, event, kinds, patient_actor, Harness};
use uuid::Uuid;

/// The parties around one patient: the clinic of the course, another clinic, two therapists.
struct Care {
    patient: PatientId,
    clinic: PartyId,
    other_clinic: PartyId,
    therapist: PartyId,
    other_therapist: PartyId,
    course_id: Uuid,
}

impl Care {
    fn new() -> Care {
        Care {
            patient: PatientId::new_random(),
            clinic: PartyId::new_random(),
            other_clinic: PartyId::new_random(),
            therapist: PartyId::new_random(),
            other_therapist: PartyId::new_random(),
            course_id: Uuid::new_v4(),
        }
    }
}

/// A first week of treatment: one of each kind of entry the table distinguishes.
async fn first_week(harness: &mut Harness, care: &Care) -> Result<()> {
    let clinic = actor(Role::Clinic, care.clinic);
    let therapist = actor(Role::Therapist, care.therapist);
    let patient = patient_actor(care.patient);
    let dose_id = Uuid::new_v4();
    let p = care.patient;
    harness
        .append(
            p,
            clinic,
            at("2026-03-02T09:00:00Z"),
            course_started(care.course_id, care.clinic, "spravato"),
        )
        .await?;
    harness
        .append(p, clinic, at("2026-03-02T09:05:00Z"), event(Family::Dose, "dose_scheduled", json!({
            "dose_id": dose_id, "course_id": care.course_id, "planned_at": "2026-03-03T09:30:00Z",
        })))
        .await?;
    harness
        .append(p, therapist, at("2026-03-02T15:00:00Z"), event(Family::Target, "target_set", json!({
            "target_id": Uuid::new_v4(), "category": "behavioral_activation",
            "menu_item": "walk_outside_with_support_call", "description": "walk and call my sister",
            "plan": "three days this week",
        })))
        .await?;
    harness
        .append(p, patient, at("2026-03-02T16:00:00Z"), event(Family::Target, "session_scheduled", json!({
            "session_id": Uuid::new_v4(), "therapist_id": care.therapist, "at": "2026-03-05T15:00:00Z",
        })))
        .await?;
    harness
        .append(p, clinic, at("2026-03-03T09:20:00Z"), event(Family::Dose, "vitals_recorded", json!({
            "dose_id": dose_id, "phase": "pre_dose",
            "blood_pressure": {"systolic": 150, "diastolic": 95}, "heart_rate": 80, "spo2": null,
            "flags": ["bp_above_140_90"],
        })))
        .await?;
    harness
        .append(p, clinic, at("2026-03-03T09:30:00Z"), event(Family::Dose, "dose_administered", json!({
            "dose_id": dose_id, "drug": "esketamine", "route": "intranasal", "amount_mg": 56,
            "weight_kg": null, "devices": 2, "lot": null,
            "administered_at": "2026-03-03T09:30:00Z", "flags": [],
        })))
        .await?;
    harness
        .append(
            p,
            clinic,
            at("2026-03-03T10:00:00Z"),
            event(
                Family::Dose,
                "side_effect_recorded",
                json!({
                    "dose_id": dose_id, "effect": "nausea", "severity": "mild", "note": null,
                }),
            ),
        )
        .await?;
    harness
        .append(
            p,
            patient,
            at("2026-03-04T08:00:00Z"),
            event(
                Family::Observation,
                "observation_recorded",
                json!({
                    "observation_id": Uuid::new_v4(), "value": {"mood": 6}, "flags": [],
                }),
            ),
        )
        .await?;
    harness
        .append(p, patient, at("2026-03-04T12:00:00Z"), event(Family::Observation, "observation_recorded", json!({
            "observation_id": Uuid::new_v4(),
            "value": {"symptom": {"symptom": "severe_headache", "detail": "since noon, very private"}},
            "flags": ["red_flag_symptom_within_72h"],
        })))
        .await?;
    harness
        .append(p, patient, at("2026-03-04T13:00:00Z"), event(Family::Observation, "scale_scored", json!({
            "score": {"instrument": "phq9", "items": [2, 1, 2, 1, 0, 1, 1, 0, 0], "total": 8},
            "flags": [],
        })))
        .await?;
    Ok(())
}

async fn grant(
    harness: &mut Harness,
    care: &Care,
    occurred_at: &str,
    grantee: PartyId,
    role: &str,
    scopes: &[&str],
    expires_at: Option<String>,
) -> Result<Uuid> {
    let consent_id = Uuid::new_v4();
    harness
        .append(
            care.patient,
            patient_actor(care.patient),
            at(occurred_at),
            event(
                Family::Consent,
                "consent_granted",
                json!({
                    "consent_id": consent_id, "grantee_id": grantee, "grantee_role": role,
                    "scopes": scopes, "purpose": "coordinate care", "expires_at": expires_at,
                }),
            ),
        )
        .await?;
    Ok(consent_id)
}

async fn revoke(
    harness: &mut Harness,
    care: &Care,
    occurred_at: &str,
    consent_id: Uuid,
) -> Result<()> {
    harness
        .append(
            care.patient,
            patient_actor(care.patient),
            at(occurred_at),
            event(
                Family::Consent,
                "consent_revoked",
                json!({
                    "consent_id": consent_id, "reason": null,
                }),
            ),
        )
        .await?;
    Ok(())
}

/// The one assertion of this file: what `reader` sees of the patient, in timeline order.
async fn check(harness: &Harness, reader: Reader, care: &Care, expected: &[&str]) -> Result<()> {
    let entries = harness.timeline(reader, care.patient).await?;
    assert_eq!(kinds(&entries), expected, "{reader:?}");
    Ok(())
}

const PATIENT_FIRST_WEEK: &[&str] = &[
    "course_started",
    "dose_scheduled",
    "target_set",
    "session_scheduled",
    "vitals_recorded",
    "dose_administered",
    "safety_reminder",
    "side_effect_recorded",
    "observation_recorded",
    "integration_window",
    "observation_recorded",
    "scale_scored",
    "next_dose_due",
    "missed_dose",
];

const AUDITOR_FIRST_WEEK: &[&str] = &[
    "course_started",
    "dose_scheduled",
    "target_set",
    "session_scheduled",
    "vitals_recorded",
    "alert:bp_above_140_90",
    "dose_administered",
    "safety_reminder",
    "side_effect_recorded",
    "observation_recorded",
    "integration_window",
    "observation_recorded",
    "safety_alert:red_flag_symptom_within_72h",
    "scale_scored",
    "next_dose_due",
    "missed_dose",
];

/// The clinic of the course: its dose family, its alerts, and the safety exception.
const COURSE_CLINIC_FIRST_WEEK: &[&str] = &[
    "course_started",
    "dose_scheduled",
    "vitals_recorded",
    "alert:bp_above_140_90",
    "dose_administered",
    "side_effect_recorded",
    "integration_window",
    "safety_alert:red_flag_symptom_within_72h",
    "next_dose_due",
    "missed_dose",
];

#[tokio::test]
async fn without_consent_each_role_sees_its_default() -> Result<()> {
    let mut harness = Harness::running().await?;
    let care = Care::new();
    first_week(&mut harness, &care).await?;
    harness.caught_up().await?;

    check(
        &harness,
        Reader::Patient(care.patient),
        &care,
        PATIENT_FIRST_WEEK,
    )
    .await?;
    check(&harness, Reader::Auditor, &care, AUDITOR_FIRST_WEEK).await?;
    check(
        &harness,
        Reader::Clinic(care.clinic),
        &care,
        COURSE_CLINIC_FIRST_WEEK,
    )
    .await?;
    check(&harness, Reader::Clinic(care.other_clinic), &care, &[]).await?;
    // Not even the session naming it, nor the target it set: no consent, no access at all.
    check(&harness, Reader::Therapist(care.therapist), &care, &[]).await?;
    check(
        &harness,
        Reader::Therapist(care.other_therapist),
        &care,
        &[],
    )
    .await?;
    // Another patient sees nothing of this one.
    check(
        &harness,
        Reader::Patient(PatientId::new_random()),
        &care,
        &[],
    )
    .await?;

    // The safety exception carries what to act on, never the note text.
    let clinic_view = harness
        .timeline(Reader::Clinic(care.clinic), care.patient)
        .await?;
    let alert = clinic_view
        .iter()
        .find(|entry| entry.kind.starts_with("safety_alert"))
        .expect("safety alert");
    assert_eq!(alert.basis, "safety_exception");
    assert_eq!(alert.detail["symptom"], "severe_headache");
    assert!(
        !alert.detail.to_string().contains("private"),
        "{}",
        alert.detail
    );
    assert!(!alert.summary.contains("private"));
    Ok(())
}

#[tokio::test]
async fn a_grant_backfills_past_entries_and_opens_later_ones() -> Result<()> {
    let mut harness = Harness::running().await?;
    let care = Care::new();
    first_week(&mut harness, &care).await?;
    grant(
        &mut harness,
        &care,
        "2026-03-05T08:00:00Z",
        care.therapist,
        "therapist",
        &["doses", "targets"],
        None,
    )
    .await?;
    grant(
        &mut harness,
        &care,
        "2026-03-05T08:05:00Z",
        care.other_clinic,
        "clinic",
        &["observations", "scores"],
        None,
    )
    .await?;
    harness.caught_up().await?;

    check(
        &harness,
        Reader::Therapist(care.therapist),
        &care,
        &[
            "course_started",
            "dose_scheduled",
            "target_set",
            "session_scheduled",
            "dose_administered",
            "integration_window",
            "consent_granted",
            "next_dose_due",
            "missed_dose",
        ],
    )
    .await?;
    check(
        &harness,
        Reader::Clinic(care.other_clinic),
        &care,
        &[
            "observation_recorded",
            "observation_recorded",
            "scale_scored",
            "consent_granted",
        ],
    )
    .await?;
    // A grant to someone else changes nothing for the course clinic or the other therapist.
    check(
        &harness,
        Reader::Clinic(care.clinic),
        &care,
        COURSE_CLINIC_FIRST_WEEK,
    )
    .await?;
    check(
        &harness,
        Reader::Therapist(care.other_therapist),
        &care,
        &[],
    )
    .await?;
    let therapist_view = harness
        .timeline(Reader::Therapist(care.therapist), care.patient)
        .await?;
    let bases: Vec<&str> = therapist_view
        .iter()
        .map(|entry| entry.basis.as_str())
        .collect();
    assert_eq!(
        bases,
        ["consent", "consent", "own", "own", "consent", "consent", "grant", "consent", "consent"]
    );

    // Later entries arrive live, each only where a scope covers it.
    harness
        .append(care.patient, actor(Role::Clinic, care.clinic), at("2026-03-05T09:00:00Z"), event(Family::Dose, "vitals_recorded", json!({
            "dose_id": null, "phase": "other",
            "blood_pressure": {"systolic": 120, "diastolic": 80}, "heart_rate": 70, "spo2": 98,
            "flags": [],
        })))
        .await?;
    harness
        .append(
            care.patient,
            patient_actor(care.patient),
            at("2026-03-05T10:00:00Z"),
            event(
                Family::Observation,
                "observation_recorded",
                json!({
                    "observation_id": Uuid::new_v4(), "value": {"note": "a good day"}, "flags": [],
                }),
            ),
        )
        .await?;
    harness.caught_up().await?;
    check(
        &harness,
        Reader::Therapist(care.therapist),
        &care,
        &[
            "course_started",
            "dose_scheduled",
            "target_set",
            "session_scheduled",
            "dose_administered",
            "integration_window",
            "consent_granted",
            "next_dose_due",
            "missed_dose",
        ],
    )
    .await?;
    check(
        &harness,
        Reader::Clinic(care.other_clinic),
        &care,
        &[
            "observation_recorded",
            "observation_recorded",
            "scale_scored",
            "consent_granted",
            "observation_recorded",
        ],
    )
    .await?;
    // Vitals outside a visit belong to the open course: its clinic sees them.
    let clinic_view = kinds(
        &harness
            .timeline(Reader::Clinic(care.clinic), care.patient)
            .await?,
    );
    assert_eq!(
        clinic_view
            .iter()
            .filter(|kind| *kind == "vitals_recorded")
            .count(),
        2,
        "{clinic_view:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_revocation_removes_past_entries_of_the_revoked_scopes() -> Result<()> {
    let mut harness = Harness::running().await?;
    let care = Care::new();
    first_week(&mut harness, &care).await?;
    let doses = grant(
        &mut harness,
        &care,
        "2026-03-05T08:00:00Z",
        care.therapist,
        "therapist",
        &["doses"],
        None,
    )
    .await?;
    let targets = grant(
        &mut harness,
        &care,
        "2026-03-05T08:01:00Z",
        care.therapist,
        "therapist",
        &["targets", "vitals"],
        None,
    )
    .await?;
    let clinic_grant = grant(
        &mut harness,
        &care,
        "2026-03-05T08:02:00Z",
        care.clinic,
        "clinic",
        &["doses", "observations"],
        None,
    )
    .await?;
    harness.caught_up().await?;
    check(
        &harness,
        Reader::Therapist(care.therapist),
        &care,
        &[
            "course_started",
            "dose_scheduled",
            "target_set",
            "session_scheduled",
            "vitals_recorded",
            "dose_administered",
            "integration_window",
            "consent_granted",
            "consent_granted",
            "next_dose_due",
            "missed_dose",
        ],
    )
    .await?;

    // One of two consents revoked: its scope goes, the other's and the own entries stay.
    revoke(&mut harness, &care, "2026-03-06T08:00:00Z", doses).await?;
    harness.caught_up().await?;
    check(
        &harness,
        Reader::Therapist(care.therapist),
        &care,
        &[
            "target_set",
            "session_scheduled",
            "vitals_recorded",
            "consent_granted",
            "consent_granted",
            "consent_revoked",
        ],
    )
    .await?;

    // The last one revoked: nothing about the patient is left but the consents themselves.
    revoke(&mut harness, &care, "2026-03-06T08:01:00Z", targets).await?;
    harness.caught_up().await?;
    check(
        &harness,
        Reader::Therapist(care.therapist),
        &care,
        &[
            "consent_granted",
            "consent_granted",
            "consent_revoked",
            "consent_revoked",
        ],
    )
    .await?;

    // The course clinic's own right to its dose family outlives its revoked consent; what only
    // the consent opened (observations) goes. While both hold, each entry shows once.
    let clinic_timeline = harness
        .timeline(Reader::Clinic(care.clinic), care.patient)
        .await?;
    let mut seen = std::collections::BTreeSet::new();
    for entry in &clinic_timeline {
        assert!(
            seen.insert((entry.position, entry.event_index, entry.item.clone())),
            "{} shown twice to the course clinic",
            entry.kind
        );
    }
    assert!(clinic_timeline
        .iter()
        .any(|entry| entry.kind == "dose_administered" && entry.basis == "course"));
    let with_consent = kinds(&clinic_timeline);
    assert_eq!(
        with_consent
            .iter()
            .filter(|kind| *kind == "observation_recorded")
            .count(),
        2
    );
    revoke(&mut harness, &care, "2026-03-06T08:02:00Z", clinic_grant).await?;
    harness.caught_up().await?;
    // The schedule's hints come last in the first week; the consent events land among them.
    let mut expected: Vec<&str> = COURSE_CLINIC_FIRST_WEEK.to_vec();
    expected.truncate(expected.len() - 2);
    expected.extend([
        "consent_granted",
        "next_dose_due",
        "consent_revoked",
        "missed_dose",
    ]);
    check(&harness, Reader::Clinic(care.clinic), &care, &expected).await?;

    // A later grant brings them back.
    grant(
        &mut harness,
        &care,
        "2026-03-07T08:00:00Z",
        care.therapist,
        "therapist",
        &["targets"],
        None,
    )
    .await?;
    harness.caught_up().await?;
    check(
        &harness,
        Reader::Therapist(care.therapist),
        &care,
        &[
            "target_set",
            "session_scheduled",
            "consent_granted",
            "consent_granted",
            "consent_revoked",
            "consent_revoked",
            "consent_granted",
        ],
    )
    .await?;
    // The patient and the auditor keep the whole story.
    let patient_view = kinds(
        &harness
            .timeline(Reader::Patient(care.patient), care.patient)
            .await?,
    );
    assert_eq!(patient_view.len(), PATIENT_FIRST_WEEK.len() + 7);
    Ok(())
}

#[tokio::test]
async fn an_expired_consent_shows_nothing_after_its_expiry_even_without_an_event() -> Result<()> {
    let mut harness = Harness::running().await?;
    let care = Care::new();
    first_week(&mut harness, &care).await?;
    let now = time::OffsetDateTime::now_utc();
    let in_an_hour = now + time::Duration::hours(1);
    let expiry = in_an_hour.format(&time::format_description::well_known::Rfc3339)?;
    grant(
        &mut harness,
        &care,
        "2026-03-05T08:00:00Z",
        care.other_therapist,
        "therapist",
        &["vitals", "side_effects"],
        Some(expiry),
    )
    .await?;
    harness.caught_up().await?;

    let before = harness
        .timeline_at(Reader::Therapist(care.other_therapist), care.patient, now)
        .await?;
    assert_eq!(
        kinds(&before),
        ["vitals_recorded", "side_effect_recorded", "consent_granted"]
    );
    let after = harness
        .timeline_at(
            Reader::Therapist(care.other_therapist),
            care.patient,
            in_an_hour + time::Duration::seconds(1),
        )
        .await?;
    assert_eq!(kinds(&after), ["consent_granted"]);
    Ok(())
}

#[tokio::test]
async fn the_sweep_deletes_rows_of_expired_consents() -> Result<()> {
    let mut harness = Harness::running().await?;
    let care = Care::new();
    first_week(&mut harness, &care).await?;
    // An hour ahead of the wall clock, so the live projector's own sweep never races the
    // test; the sweep and the read are then run at explicit instants around the expiry.
    let now = time::OffsetDateTime::now_utc();
    let expires_at = now + time::Duration::hours(1);
    let expiry = expires_at.format(&time::format_description::well_known::Rfc3339)?;
    grant(
        &mut harness,
        &care,
        "2026-03-05T08:00:00Z",
        care.other_therapist,
        "therapist",
        &["vitals"],
        Some(expiry),
    )
    .await?;
    harness.caught_up().await?;
    let rows = || async {
        let (count,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM entry_readers WHERE viewer_id = $1 AND basis = 'consent'",
        )
        .bind(care.other_therapist.as_uuid())
        .fetch_one(&harness.pool)
        .await?;
        anyhow::Ok(count)
    };
    assert_eq!(rows().await?, 1, "the vitals row before expiry");
    let sweep = |at| carelog_projections::sweep::sweep_expired(&harness.pool, at);
    assert_eq!(sweep(expires_at - time::Duration::seconds(1)).await?, 0);
    assert_eq!(rows().await?, 1, "a sweep before the expiry keeps the row");
    let after_expiry = expires_at + time::Duration::seconds(1);
    assert_eq!(sweep(after_expiry).await?, 1);
    assert_eq!(rows().await?, 0, "a sweep after the expiry removes the row");
    let after = harness
        .timeline_at(
            Reader::Therapist(care.other_therapist),
            care.patient,
            after_expiry,
        )
        .await?;
    assert_eq!(kinds(&after), ["consent_granted"]);
    Ok(())
}

#[tokio::test]
async fn vitals_outside_a_visit_reach_only_the_recording_clinic() -> Result<()> {
    let mut harness = Harness::running().await?;
    let care = Care::new();
    let other_course = Uuid::new_v4();
    // Two clinics each treat the patient in an open course.
    for (clinic, course_id, occurred_at) in [
        (care.clinic, care.course_id, "2026-03-02T09:00:00Z"),
        (care.other_clinic, other_course, "2026-03-02T10:00:00Z"),
    ] {
        harness
            .append(
                care.patient,
                actor(Role::Clinic, clinic),
                at(occurred_at),
                course_started(course_id, clinic, "ketamine"),
            )
            .await?;
    }
    // The first clinic takes vitals outside a dosing visit, in crisis range.
    harness
        .append(care.patient, actor(Role::Clinic, care.clinic), at("2026-03-03T09:00:00Z"), event(Family::Dose, "vitals_recorded", json!({
            "dose_id": null, "phase": "other",
            "blood_pressure": {"systolic": 185, "diastolic": 115}, "heart_rate": 90, "spo2": 97,
            "flags": ["bp_crisis"],
        })))
        .await?;
    harness.caught_up().await?;

    let recording = harness
        .timeline(Reader::Clinic(care.clinic), care.patient)
        .await?;
    let recording_kinds = kinds(&recording);
    assert!(
        ["vitals_recorded", "alert:bp_crisis"]
            .iter()
            .all(|kind| recording_kinds.iter().any(|found| found == kind)),
        "the recording clinic sees its vitals and the alert: {recording_kinds:?}"
    );
    let vitals = recording
        .iter()
        .find(|entry| entry.kind == "vitals_recorded")
        .map(|entry| entry.basis.as_str());
    assert_eq!(vitals, Some("course"));
    // The other clinic sees its own course and nothing of the first clinic's record.
    check(
        &harness,
        Reader::Clinic(care.other_clinic),
        &care,
        &["course_started"],
    )
    .await?;
    Ok(())
}

/// Ids are chosen by callers and unique per patient only: another patient's course, dose and
/// consent with the very same ids are projected each in its own place, nothing parked, each
/// clinic and therapist seeing only its own patient.
#[tokio::test]
async fn the_same_ids_used_by_two_patients_stay_apart() -> Result<()> {
    let mut harness = Harness::running().await?;
    let (course_id, dose_id, consent_id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let patients = [PatientId::new_random(), PatientId::new_random()];
    let clinics = [PartyId::new_random(), PartyId::new_random()];
    let therapists = [PartyId::new_random(), PartyId::new_random()];
    for ((patient, clinic), therapist) in patients.iter().zip(&clinics).zip(&therapists) {
        harness
            .append(
                *patient,
                actor(Role::Clinic, *clinic),
                at("2026-03-02T09:00:00Z"),
                course_started(course_id, *clinic, "ketamine"),
            )
            .await?;
        harness
            .append(*patient, actor(Role::Clinic, *clinic), at("2026-03-02T09:05:00Z"), event(
                Family::Dose,
                "dose_scheduled",
                json!({"dose_id": dose_id, "course_id": course_id, "planned_at": "2026-03-03T09:00:00Z"}),
            ))
            .await?;
        harness
            .append(*patient, patient_actor(*patient), at("2026-03-02T09:10:00Z"), event(
                Family::Consent,
                "consent_granted",
                json!({
                    "consent_id": consent_id, "grantee_id": therapist, "grantee_role": "therapist",
                    "scopes": ["doses"], "purpose": "CBT between doses", "expires_at": null,
                }),
            ))
            .await?;
    }
    harness.caught_up().await?;

    let parked: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(&harness.pool)
        .await?;
    assert_eq!(parked, 0, "nothing is parked");
    for index in 0..2 {
        let other = 1 - index;
        let clinic_view = harness
            .timeline(Reader::Clinic(clinics[index]), patients[index])
            .await?;
        assert!(
            kinds(&clinic_view)
                .iter()
                .any(|kind| kind == "dose_scheduled"),
            "clinic {index} sees its patient's dose: {:?}",
            kinds(&clinic_view)
        );
        let therapist_view = harness
            .timeline(Reader::Therapist(therapists[index]), patients[index])
            .await?;
        assert!(
            kinds(&therapist_view)
                .iter()
                .any(|kind| kind == "dose_scheduled"),
            "therapist {index} sees its consented patient's dose: {:?}",
            kinds(&therapist_view)
        );
        for reader in [
            Reader::Clinic(clinics[other]),
            Reader::Therapist(therapists[other]),
        ] {
            let foreign = harness.timeline(reader, patients[index]).await?;
            assert!(
                foreign.is_empty(),
                "{reader:?} sees nothing of patient {index}"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_course_end_entered_in_error_gives_its_clinic_the_safety_alerts_again() -> Result<()> {
    let mut harness = Harness::running().await?;
    let care = Care::new();
    let clinic = actor(Role::Clinic, care.clinic);
    harness
        .append(
            care.patient,
            clinic,
            at("2026-03-02T09:00:00Z"),
            course_started(care.course_id, care.clinic, "ketamine"),
        )
        .await?;
    harness
        .append(
            care.patient,
            clinic,
            at("2026-03-03T09:00:00Z"),
            event(
                Family::Dose,
                "course_ended",
                json!({
                    "course_id": care.course_id, "reason": "completed",
                }),
            ),
        )
        .await?;
    let ended = harness.last_event_id.context("the course end's event id")?;
    let (alerts, seen) =
        clinic_alerts_after_item9(&mut harness, &care, "2026-03-04T13:00:00Z").await?;
    assert_eq!(
        alerts, 0,
        "the course has ended: no treating clinic: {seen:?}"
    );

    harness
        .append(care.patient, clinic, at("2026-03-05T09:00:00Z"), event(Family::Dose, "entry_corrected", json!({
            "corrects": ended, "kind": "entered_in_error", "reason": "ended the wrong course",
        })))
        .await?;
    let (alerts, seen) =
        clinic_alerts_after_item9(&mut harness, &care, "2026-03-06T13:00:00Z").await?;
    assert_eq!(alerts, 1, "the course is open again: {seen:?}");
    Ok(())
}

#[tokio::test]
async fn a_red_flag_symptom_after_a_dose_reaches_its_clinic_though_the_course_has_ended(
) -> Result<()> {
    // Domain §4: a red-flag symptom within 72 h of a dose tells the clinic to contact the
    // patient; the clinic that gave the dose must hear of it though the course ended since.
    let mut harness = Harness::running().await?;
    let care = Care::new();
    let clinic = actor(Role::Clinic, care.clinic);
    let dose_id = Uuid::new_v4();
    let events = [
        (
            "2026-03-02T09:00:00Z",
            course_started(care.course_id, care.clinic, "ketamine"),
        ),
        (
            "2026-03-02T09:00:00Z",
            event(
                Family::Dose,
                "dose_scheduled",
                json!({
                    "dose_id": dose_id, "course_id": care.course_id, "planned_at": "2026-03-02T10:00:00Z",
                }),
            ),
        ),
        (
            "2026-03-02T10:00:00Z",
            event(
                Family::Dose,
                "dose_administered",
                json!({
                    "dose_id": dose_id, "drug": "ketamine", "route": "iv", "amount_mg": 35,
                    "weight_kg": null, "devices": null, "lot": null,
                    "administered_at": "2026-03-02T10:00:00Z", "flags": [],
                }),
            ),
        ),
        (
            "2026-03-02T11:00:00Z",
            event(
                Family::Dose,
                "course_ended",
                json!({
                    "course_id": care.course_id, "reason": "final infusion of the series",
                }),
            ),
        ),
    ];
    let mut given = None;
    for (when, payload) in events {
        let administered = payload.event_type() == "dose_administered";
        harness
            .append(care.patient, clinic, at(when), payload)
            .await?;
        if administered {
            given = harness.last_event_id;
        }
    }
    let given = given.context("the dose's event id")?;
    // Each symptom flagged (as the service would for some dose), and the clinic's alerts after;
    // `true`: the dose is marked entered in error first.
    let symptoms = [
        // 72 h after the dose, to the microsecond: still in the window.
        (
            "2026-03-05T10:00:00Z",
            false,
            1,
            "the dosing clinic is told",
        ),
        // Flagged for a dose this clinic did not give (outside its window): not its alert.
        ("2026-03-05T10:00:01Z", false, 1, "past its window"),
        // Recorded late, before the dose: flagged for an earlier one, not this clinic's.
        ("2026-03-02T09:59:59Z", false, 1, "before its dose"),
        // In its window, but the dose was entered in error: no dose of this clinic's.
        (
            "2026-03-03T10:00:00Z",
            true,
            1,
            "after a dose entered in error",
        ),
    ];
    for (when, correct_dose_first, alerts, what) in symptoms {
        if correct_dose_first {
            let void =
                json!({ "corrects": given, "kind": "entered_in_error", "reason": "wrong patient" });
            let correction = event(Family::Dose, "entry_corrected", void);
            harness
                .append(care.patient, clinic, at("2026-03-03T09:00:00Z"), correction)
                .await?;
        }
        let payload = event(
            Family::Observation,
            "observation_recorded",
            json!({
                "observation_id": Uuid::new_v4(),
                "value": {"symptom": {"symptom": "chest_pain", "detail": null}},
                "flags": ["red_flag_symptom_within_72h"],
            }),
        );
        harness
            .append(care.patient, patient_actor(care.patient), at(when), payload)
            .await?;
        harness.caught_up().await?;
        let seen = harness
            .timeline(Reader::Clinic(care.clinic), care.patient)
            .await?;
        assert_eq!(safety_alerts(&seen), alerts, "{what}: {:?}", kinds(&seen));
    }
    // A rebuild sends the alerts where live application did.
    harness.assert_rebuild_equals_live(3).await?;
    Ok(())
}

#[tokio::test]
async fn an_ended_course_started_again_after_its_start_was_amended_stays_ended() -> Result<()> {
    // The dose service keeps such a course ended: its clinic does not treat the patient again.
    let mut harness = Harness::running().await?;
    let care = Care::new();
    let clinic = actor(Role::Clinic, care.clinic);
    let start = || course_started(care.course_id, care.clinic, "ketamine");
    harness
        .append(care.patient, clinic, at("2026-03-02T09:00:00Z"), start())
        .await?;
    let started = harness.last_event_id.context("the start's event id")?;
    let end = json!({ "course_id": care.course_id, "reason": "series complete" });
    let amended = json!({ "corrects": started, "kind": "amended", "reason": "wrong prescriber" });
    let events = [
        (
            "2026-03-03T09:00:00Z",
            event(Family::Dose, "course_ended", end),
        ),
        (
            "2026-03-04T09:00:00Z",
            event(Family::Dose, "entry_corrected", amended),
        ),
        ("2026-03-04T09:05:00Z", start()),
    ];
    for (when, payload) in events {
        harness
            .append(care.patient, clinic, at(when), payload)
            .await?;
    }
    let restarted = harness.last_event_id.context("the restart's event id")?;
    let (alerts, seen) =
        clinic_alerts_after_item9(&mut harness, &care, "2026-03-05T13:00:00Z").await?;
    assert_eq!(alerts, 0, "the course is still ended: {seen:?}");
    // The start recorded again is itself entered in error, and recorded a third time.
    let void = json!({ "corrects": restarted, "kind": "entered_in_error", "reason": "typo" });
    let events = [
        (
            "2026-03-06T09:00:00Z",
            event(Family::Dose, "entry_corrected", void),
        ),
        ("2026-03-06T09:05:00Z", start()),
    ];
    for (when, payload) in events {
        harness
            .append(care.patient, clinic, at(when), payload)
            .await?;
    }
    let (alerts, seen) =
        clinic_alerts_after_item9(&mut harness, &care, "2026-03-07T13:00:00Z").await?;
    assert_eq!(alerts, 0, "started a third time, still ended: {seen:?}");
    let parked = carelog_projections::dead_letter::list(&harness.pool).await?;
    assert!(
        parked.is_empty(),
        "the amended start is applied: {parked:?}"
    );
    harness.assert_rebuild_equals_live(3).await?;
    Ok(())
}

/// The patient scores a PHQ-9 with item 9 above 0 at `when`; once applied, the safety alerts
/// the clinic of `care` sees, and the kinds of its timeline (for messages).
async fn clinic_alerts_after_item9(
    harness: &mut Harness,
    care: &Care,
    when: &str,
) -> Result<(usize, Vec<String>)> {
    harness
        .append(care.patient, patient_actor(care.patient), at(when), item9())
        .await?;
    harness.caught_up().await?;
    let seen = harness
        .timeline(Reader::Clinic(care.clinic), care.patient)
        .await?;
    Ok((safety_alerts(&seen), kinds(&seen)))
}

/// A PHQ-9 with item 9 above 0, as the observation service flags it: a safety alert.
fn item9() -> carelog_schemas::EventPayload {
    event(
        Family::Observation,
        "scale_scored",
        json!({
            "score": {"instrument": "phq9", "items": [2, 1, 2, 1, 0, 1, 1, 0, 1], "total": 9},
            "flags": ["phq9_item9_positive"],
        }),
    )
}

fn safety_alerts(entries: &[carelog_projections::TimelineEntry]) -> usize {
    entries
        .iter()
        .filter(|entry| entry.kind.starts_with("safety_alert"))
        .count()
}

#[tokio::test]
async fn a_course_start_corrected_ends_its_clinics_treatment_until_it_is_started_again(
) -> Result<()> {
    let mut harness = Harness::running().await?;
    let care = Care::new();
    let clinic = actor(Role::Clinic, care.clinic);
    let start = |path| course_started(care.course_id, care.clinic, path);
    harness
        .append(
            care.patient,
            clinic,
            at("2026-03-02T09:00:00Z"),
            start("ketamine"),
        )
        .await?;
    let started = harness
        .last_event_id
        .context("the course start's event id")?;
    let (alerts, seen) =
        clinic_alerts_after_item9(&mut harness, &care, "2026-03-03T13:00:00Z").await?;
    assert_eq!(
        alerts, 1,
        "the clinic of the course treats the patient: {seen:?}"
    );

    // The start was a mistake (the wrong path): the dose service no longer counts the course,
    // and neither may the projections count its clinic as treating the patient.
    let amended = json!({ "corrects": started, "kind": "amended", "reason": "wrong path" });
    harness
        .append(
            care.patient,
            clinic,
            at("2026-03-04T09:00:00Z"),
            event(Family::Dose, "entry_corrected", amended),
        )
        .await?;
    let (alerts, seen) =
        clinic_alerts_after_item9(&mut harness, &care, "2026-03-05T13:00:00Z").await?;
    assert_eq!(
        alerts, 1,
        "only the alert raised while the course stood: {seen:?}"
    );

    // Another clinic starting the course id again (the dose service refuses it) is parked:
    // it must not become the clinic of the first clinic's doses.
    let other_clinic = actor(Role::Clinic, care.other_clinic);
    let stolen = course_started(care.course_id, care.other_clinic, "spravato");
    harness
        .append(
            care.patient,
            other_clinic,
            at("2026-03-05T18:00:00Z"),
            stolen,
        )
        .await?;
    harness.caught_up().await?;
    let parked = carelog_projections::dead_letter::list(&harness.pool).await?;
    assert_eq!(parked.len(), 1, "{parked:?}");
    let other = harness
        .timeline(Reader::Clinic(care.other_clinic), care.patient)
        .await?;
    assert!(other.is_empty(), "{:?}", kinds(&other));

    // The amended start, under the same course id as the dose service allows: applied, not
    // parked, and the clinic treats the patient again.
    harness
        .append(
            care.patient,
            clinic,
            at("2026-03-06T09:00:00Z"),
            start("spravato"),
        )
        .await?;
    let (alerts, seen) =
        clinic_alerts_after_item9(&mut harness, &care, "2026-03-07T13:00:00Z").await?;
    assert_eq!(alerts, 2, "the course started again: {seen:?}");
    let parked = carelog_projections::dead_letter::list(&harness.pool).await?;
    assert_eq!(parked.len(), 1, "only the other clinic's start: {parked:?}");
    let starts: Vec<Option<String>> = harness
        .timeline(Reader::Clinic(care.clinic), care.patient)
        .await?
        .into_iter()
        .filter(|entry| entry.kind == "course_started")
        .map(|entry| entry.correction)
        .collect();
    assert_eq!(starts, [Some("amended".to_owned()), None]);

    // A rebuild gives the same read models.
    harness.assert_rebuild_equals_live(3).await?;
    Ok(())
}

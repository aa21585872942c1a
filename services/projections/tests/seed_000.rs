//! Seed 000 (`shared/seeds/000_*.txt`): two weeks of Spravato induction on Tuesday and Thursday,
//! a behavioural-activation step on Wednesday and Sunday, therapy on Friday, with the patient's
//! consent to the therapist. Snapshots of the patient's, the clinic's and the therapist's
//! timelines as they stand on the last Sunday evening (`UPDATE_EXPECT=1` rewrites them).

mod support;

use anyhow::Result;
use carelog_projections::{Reader, TimelineEntry};
use carelog_schemas::{Family, PartyId, PatientId, Role};
use expect_test::{expect, Expect};
use serde_json::json;
use support::{actor, at, course_started, event, patient_actor, Harness};
use uuid::Uuid;

/// One line per entry: when, what, and the summary the reader sees.
fn render(entries: &[TimelineEntry]) -> String {
    entries
        .iter()
        .map(|entry| {
            format!(
                "{} {:<31} {}\n",
                entry.occurred_at.date(),
                entry.kind,
                entry.summary
            )
        })
        .collect()
}

async fn check(
    harness: &Harness,
    reader: Reader,
    patient: PatientId,
    expected: Expect,
) -> Result<()> {
    let entries = harness
        .timeline_at(reader, patient, at("2026-03-15T21:00:00Z").to_datetime())
        .await?;
    expected.assert_eq(&render(&entries));
    Ok(())
}

#[tokio::test]
async fn seed_000_two_weeks_of_induction_as_each_role_sees_them() -> Result<()> {
    let mut harness = Harness::running().await?;
    let patient = PatientId::new_random();
    let me = patient_actor(patient);
    let clinic_id = PartyId::new_random();
    let clinic = actor(Role::Clinic, clinic_id);
    let therapist_id = PartyId::new_random();
    let therapist = actor(Role::Therapist, therapist_id);
    let course_id = Uuid::new_v4();
    let target_id = Uuid::new_v4();

    // Monday 2 March: the course, the consent, the target.
    harness
        .append(
            patient,
            clinic,
            at("2026-03-02T09:00:00Z"),
            course_started(course_id, clinic_id, "spravato"),
        )
        .await?;
    harness
        .append(patient, me, at("2026-03-02T10:00:00Z"), event(Family::Consent, "consent_granted", json!({
            "consent_id": Uuid::new_v4(), "grantee_id": therapist_id, "grantee_role": "therapist",
            "scopes": ["doses", "targets", "sessions", "observations"],
            "purpose": "coordinate care in the integration window", "expires_at": null,
        })))
        .await?;
    harness
        .append(
            patient,
            therapist,
            at("2026-03-02T15:00:00Z"),
            event(
                Family::Target,
                "target_set",
                json!({
                    "target_id": target_id, "category": "behavioral_activation",
                    "menu_item": "walk_outside_with_support_call",
                    "description": "walk outside for 15 minutes while calling my sister",
                    "plan": "Wednesday and Sunday",
                }),
            ),
        )
        .await?;

    for (week, monday) in [(1, 2), (2, 9)] {
        let day = |offset: u32, time: &str| format!("2026-03-{:02}T{time}:00Z", monday + offset);
        let session_id = Uuid::new_v4();
        harness
            .append(patient, me, at(&day(0, "16:00")), event(Family::Target, "session_scheduled", json!({
                "session_id": session_id, "therapist_id": therapist_id, "at": day(4, "15:00"),
            })))
            .await?;
        for dose_day in [1, 3] {
            let dose_id = Uuid::new_v4();
            harness
                .append(patient, clinic, at(&day(dose_day - 1, "17:00")), event(Family::Dose, "dose_scheduled", json!({
                    "dose_id": dose_id, "course_id": course_id, "planned_at": day(dose_day, "09:30"),
                })))
                .await?;
            harness
                .append(
                    patient,
                    clinic,
                    at(&day(dose_day, "09:30")),
                    event(
                        Family::Dose,
                        "dose_administered",
                        json!({
                            "dose_id": dose_id, "drug": "esketamine", "route": "intranasal",
                            "amount_mg": 56, "weight_kg": null, "devices": 2, "lot": null,
                            "administered_at": day(dose_day, "09:30"), "flags": [],
                        }),
                    ),
                )
                .await?;
            harness
                .append(patient, clinic, at(&day(dose_day, "11:30")), event(Family::Dose, "patient_discharged", json!({
                    "dose_id": dose_id, "observed_minutes": 120, "ride_home_confirmed": true,
                    "clinically_stable": true,
                })))
                .await?;
        }
        // The behavioural step: "ok" the first Wednesday, easy after that.
        for (practice_day, ease) in [(2, if week == 1 { "ok" } else { "easy" }), (6, "easy")] {
            harness
                .append(
                    patient,
                    me,
                    at(&day(practice_day, "18:00")),
                    event(
                        Family::Target,
                        "target_practiced",
                        json!({
                            "target_id": target_id, "on": &day(practice_day, "00:00")[..10],
                            "outcome": "done", "ease": ease, "note": null,
                        }),
                    ),
                )
                .await?;
        }
        harness
            .append(
                patient,
                therapist,
                at(&day(4, "16:00")),
                event(
                    Family::Target,
                    "session_held",
                    json!({
                        "session_id": session_id, "practice": "walk and call",
                        "barrier": "rain", "next_step": "keep the walk short",
                    }),
                ),
            )
            .await?;
        harness
            .append(
                patient,
                me,
                at(&day(5, "20:00")),
                event(
                    Family::Observation,
                    "observation_recorded",
                    json!({
                        "observation_id": Uuid::new_v4(), "value": {"mood": 5 + week}, "flags": [],
                    }),
                ),
            )
            .await?;
    }
    harness.caught_up().await?;

    check(&harness, Reader::Patient(patient), patient, expect![[r#"
        2026-03-02 course_started                  Course started (spravato)
        2026-03-02 consent_granted                 Consent granted to a therapist: doses, targets, sessions, observations
        2026-03-02 target_set                      Target set (behavioral_activation)
        2026-03-02 session_scheduled               Session scheduled for 2026-03-06T15:00:00Z
        2026-03-02 dose_scheduled                  Dose scheduled for 2026-03-03T09:30:00Z
        2026-03-03 dose_administered               Dose administered: esketamine 56 mg intranasal
        2026-03-03 safety_reminder                 After your dose: no driving or machinery until after a full night's sleep; keep the rest of the day light; call the clinic for persistent vomiting, severe headache or chest pain.
        2026-03-03 patient_discharged              Discharged after 120 minutes of observation
        2026-03-04 integration_window              Integration window: 2026-03-04T09:30:00Z to 2026-03-06T09:30:00Z
        2026-03-04 dose_scheduled                  Dose scheduled for 2026-03-05T09:30:00Z
        2026-03-04 target_practiced                Practice on 2026-03-04: done, ok
        2026-03-05 next_dose_due                   Next dose due by 2026-03-08 (course week 1)
        2026-03-05 dose_administered               Dose administered: esketamine 56 mg intranasal
        2026-03-05 safety_reminder                 After your dose: no driving or machinery until after a full night's sleep; keep the rest of the day light; call the clinic for persistent vomiting, severe headache or chest pain.
        2026-03-05 patient_discharged              Discharged after 120 minutes of observation
        2026-03-06 integration_window              Integration window: 2026-03-06T09:30:00Z to 2026-03-08T09:30:00Z
        2026-03-06 session_held                    Session held
        2026-03-07 next_dose_due                   Next dose due by 2026-03-10 (course week 1)
        2026-03-07 observation_recorded            Mood 6/10
        2026-03-08 target_practiced                Practice on 2026-03-08: done, easy
        2026-03-09 session_scheduled               Session scheduled for 2026-03-13T15:00:00Z
        2026-03-09 dose_scheduled                  Dose scheduled for 2026-03-10T09:30:00Z
        2026-03-10 dose_administered               Dose administered: esketamine 56 mg intranasal
        2026-03-10 safety_reminder                 After your dose: no driving or machinery until after a full night's sleep; keep the rest of the day light; call the clinic for persistent vomiting, severe headache or chest pain.
        2026-03-10 patient_discharged              Discharged after 120 minutes of observation
        2026-03-11 integration_window              Integration window: 2026-03-11T09:30:00Z to 2026-03-13T09:30:00Z
        2026-03-11 dose_scheduled                  Dose scheduled for 2026-03-12T09:30:00Z
        2026-03-11 target_practiced                Practice on 2026-03-11: done, easy
        2026-03-12 next_dose_due                   Next dose due by 2026-03-15 (course week 2)
        2026-03-12 dose_administered               Dose administered: esketamine 56 mg intranasal
        2026-03-12 safety_reminder                 After your dose: no driving or machinery until after a full night's sleep; keep the rest of the day light; call the clinic for persistent vomiting, severe headache or chest pain.
        2026-03-12 patient_discharged              Discharged after 120 minutes of observation
        2026-03-13 integration_window              Integration window: 2026-03-13T09:30:00Z to 2026-03-15T09:30:00Z
        2026-03-13 session_held                    Session held
        2026-03-14 next_dose_due                   Next dose due by 2026-03-17 (course week 2)
        2026-03-14 observation_recorded            Mood 7/10
        2026-03-15 target_practiced                Practice on 2026-03-15: done, easy
    "#]]).await?;
    check(&harness, Reader::Clinic(clinic_id), patient, expect![[r#"
        2026-03-02 course_started                  Course started (spravato)
        2026-03-02 dose_scheduled                  Dose scheduled for 2026-03-03T09:30:00Z
        2026-03-03 dose_administered               Dose administered: esketamine 56 mg intranasal
        2026-03-03 patient_discharged              Discharged after 120 minutes of observation
        2026-03-04 integration_window              Integration window: 2026-03-04T09:30:00Z to 2026-03-06T09:30:00Z
        2026-03-04 dose_scheduled                  Dose scheduled for 2026-03-05T09:30:00Z
        2026-03-05 next_dose_due                   Next dose due by 2026-03-08 (course week 1)
        2026-03-05 dose_administered               Dose administered: esketamine 56 mg intranasal
        2026-03-05 patient_discharged              Discharged after 120 minutes of observation
        2026-03-06 integration_window              Integration window: 2026-03-06T09:30:00Z to 2026-03-08T09:30:00Z
        2026-03-07 next_dose_due                   Next dose due by 2026-03-10 (course week 1)
        2026-03-09 dose_scheduled                  Dose scheduled for 2026-03-10T09:30:00Z
        2026-03-10 dose_administered               Dose administered: esketamine 56 mg intranasal
        2026-03-10 patient_discharged              Discharged after 120 minutes of observation
        2026-03-11 integration_window              Integration window: 2026-03-11T09:30:00Z to 2026-03-13T09:30:00Z
        2026-03-11 dose_scheduled                  Dose scheduled for 2026-03-12T09:30:00Z
        2026-03-12 next_dose_due                   Next dose due by 2026-03-15 (course week 2)
        2026-03-12 dose_administered               Dose administered: esketamine 56 mg intranasal
        2026-03-12 patient_discharged              Discharged after 120 minutes of observation
        2026-03-13 integration_window              Integration window: 2026-03-13T09:30:00Z to 2026-03-15T09:30:00Z
        2026-03-14 next_dose_due                   Next dose due by 2026-03-17 (course week 2)
    "#]]).await?;
    check(
        &harness,
        Reader::Therapist(therapist_id),
        patient,
        expect![[r#"
            2026-03-02 course_started                  Course started (spravato)
            2026-03-02 consent_granted                 Consent granted to a therapist: doses, targets, sessions, observations
            2026-03-02 target_set                      Target set (behavioral_activation)
            2026-03-02 session_scheduled               Session scheduled for 2026-03-06T15:00:00Z
            2026-03-02 dose_scheduled                  Dose scheduled for 2026-03-03T09:30:00Z
            2026-03-03 dose_administered               Dose administered: esketamine 56 mg intranasal
            2026-03-03 patient_discharged              Discharged after 120 minutes of observation
            2026-03-04 integration_window              Integration window: 2026-03-04T09:30:00Z to 2026-03-06T09:30:00Z
            2026-03-04 suggestion:window_no_session    Integration window open until 2026-03-06T09:30:00Z, no session scheduled
            2026-03-04 dose_scheduled                  Dose scheduled for 2026-03-05T09:30:00Z
            2026-03-04 target_practiced                Practice on 2026-03-04: done, ok
            2026-03-05 next_dose_due                   Next dose due by 2026-03-08 (course week 1)
            2026-03-05 dose_administered               Dose administered: esketamine 56 mg intranasal
            2026-03-05 patient_discharged              Discharged after 120 minutes of observation
            2026-03-06 integration_window              Integration window: 2026-03-06T09:30:00Z to 2026-03-08T09:30:00Z
            2026-03-06 session_held                    Session held
            2026-03-07 next_dose_due                   Next dose due by 2026-03-10 (course week 1)
            2026-03-07 observation_recorded            Mood 6/10
            2026-03-08 target_practiced                Practice on 2026-03-08: done, easy
            2026-03-09 session_scheduled               Session scheduled for 2026-03-13T15:00:00Z
            2026-03-09 dose_scheduled                  Dose scheduled for 2026-03-10T09:30:00Z
            2026-03-10 dose_administered               Dose administered: esketamine 56 mg intranasal
            2026-03-10 patient_discharged              Discharged after 120 minutes of observation
            2026-03-11 integration_window              Integration window: 2026-03-11T09:30:00Z to 2026-03-13T09:30:00Z
            2026-03-11 suggestion:window_no_session    Integration window open until 2026-03-13T09:30:00Z, no session scheduled
            2026-03-11 dose_scheduled                  Dose scheduled for 2026-03-12T09:30:00Z
            2026-03-11 target_practiced                Practice on 2026-03-11: done, easy
            2026-03-12 next_dose_due                   Next dose due by 2026-03-15 (course week 2)
            2026-03-12 dose_administered               Dose administered: esketamine 56 mg intranasal
            2026-03-12 patient_discharged              Discharged after 120 minutes of observation
            2026-03-13 integration_window              Integration window: 2026-03-13T09:30:00Z to 2026-03-15T09:30:00Z
            2026-03-13 session_held                    Session held
            2026-03-14 next_dose_due                   Next dose due by 2026-03-17 (course week 2)
            2026-03-14 observation_recorded            Mood 7/10
            2026-03-15 target_practiced                Practice on 2026-03-15: done, easy
            2026-03-15 suggestion:notch                Notch suggested: the last three practices were done and easy
        "#]],
    )
    .await?;
    Ok(())
}

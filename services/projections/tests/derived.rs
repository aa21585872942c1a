//! The derived items of domain §6 beyond the recorded events: "window open, no session
//! scheduled" and "notch suggested" on a consented therapist's caseload, and the next-dose-due
//! and missed-dose hints from the path's schedule.

mod support;

use anyhow::{Context, Result};
use carelog_projections::{Reader, TimelineEntry};
use carelog_schemas::{Actor, Family, PartyId, PatientId, Role};
use serde_json::{json, Value};
use support::{actor, at, course_started, event, kinds, patient_actor, Harness};
use uuid::Uuid;

/// One patient in one clinic, with a therapist and a second therapist without consent.
struct Care {
    patient: PatientId,
    clinic: PartyId,
    therapist: PartyId,
    unconsented_therapist: PartyId,
    course_id: Uuid,
}

impl Care {
    async fn start(harness: &mut Harness, path: &str) -> Result<Care> {
        let care = Care {
            patient: PatientId::new_random(),
            clinic: PartyId::new_random(),
            therapist: PartyId::new_random(),
            unconsented_therapist: PartyId::new_random(),
            course_id: Uuid::new_v4(),
        };
        harness
            .append(
                care.patient,
                care.clinic_actor(),
                at("2026-03-02T09:00:00Z"),
                course_started(care.course_id, care.clinic, path),
            )
            .await?;
        Ok(care)
    }

    fn clinic_actor(&self) -> Actor {
        actor(Role::Clinic, self.clinic)
    }

    async fn grant(&self, harness: &mut Harness, scopes: &[&str]) -> Result<()> {
        harness
            .append(
                self.patient,
                patient_actor(self.patient),
                at("2026-03-02T10:00:00Z"),
                event(
                    Family::Consent,
                    "consent_granted",
                    json!({
                        "consent_id": Uuid::new_v4(), "grantee_id": self.therapist,
                        "grantee_role": "therapist", "scopes": scopes,
                        "purpose": "coordinate care", "expires_at": null,
                    }),
                ),
            )
            .await?;
        Ok(())
    }

    async fn schedule(&self, harness: &mut Harness, planned_at: &str) -> Result<Uuid> {
        let dose_id = Uuid::new_v4();
        harness
            .append(
                self.patient,
                self.clinic_actor(),
                at("2026-03-02T09:05:00Z"),
                event(
                    Family::Dose,
                    "dose_scheduled",
                    json!({
                        "dose_id": dose_id, "course_id": self.course_id, "planned_at": planned_at,
                    }),
                ),
            )
            .await?;
        Ok(dose_id)
    }

    /// Schedules and gives a Spravato dose at `given_at`.
    async fn dose(&self, harness: &mut Harness, given_at: &str) -> Result<Uuid> {
        let dose_id = self.schedule(harness, given_at).await?;
        harness
            .append(
                self.patient,
                self.clinic_actor(),
                at(given_at),
                event(
                    Family::Dose,
                    "dose_administered",
                    json!({
                        "dose_id": dose_id, "drug": "esketamine", "route": "intranasal",
                        "amount_mg": 56, "weight_kg": null, "devices": 2, "lot": null,
                        "administered_at": given_at, "flags": [],
                    }),
                ),
            )
            .await?;
        Ok(dose_id)
    }

    /// Schedules a session; returns its id and the scheduling event's id.
    async fn session(&self, harness: &mut Harness, session_at: &str) -> Result<(Uuid, Uuid)> {
        let session_id = Uuid::new_v4();
        harness
            .append(
                self.patient,
                patient_actor(self.patient),
                at("2026-03-02T11:00:00Z"),
                event(
                    Family::Target,
                    "session_scheduled",
                    json!({
                        "session_id": session_id, "therapist_id": self.therapist,
                        "at": session_at,
                    }),
                ),
            )
            .await?;
        let scheduled = harness.last_event_id.context("the scheduling's event id")?;
        Ok((session_id, scheduled))
    }

    /// The therapist sets a behavioural target; returns its id.
    async fn set_target(&self, harness: &mut Harness) -> Result<Uuid> {
        let target_id = Uuid::new_v4();
        self.set_target_as(harness, target_id).await?;
        Ok(target_id)
    }

    async fn set_target_as(&self, harness: &mut Harness, target_id: Uuid) -> Result<()> {
        harness
            .append(
                self.patient,
                actor(Role::Therapist, self.therapist),
                at("2026-03-02T15:00:00Z"),
                event(
                    Family::Target,
                    "target_set",
                    json!({
                        "target_id": target_id, "category": "behavioral_activation",
                        "menu_item": null, "description": "walk outside for 15 minutes",
                        "plan": "Wednesday and Sunday",
                    }),
                ),
            )
            .await?;
        Ok(())
    }

    /// A target-family event by the therapist (a cancellation, a correction).
    async fn by_patient(&self, harness: &mut Harness, kind: &str, data: Value) -> Result<()> {
        harness
            .append(
                self.patient,
                patient_actor(self.patient),
                at("2026-03-10T20:00:00Z"),
                event(Family::Target, kind, data),
            )
            .await?;
        Ok(())
    }

    async fn by_therapist(&self, harness: &mut Harness, kind: &str, data: Value) -> Result<()> {
        harness
            .append(
                self.patient,
                actor(Role::Therapist, self.therapist),
                at("2026-03-06T12:00:00Z"),
                event(Family::Target, kind, data),
            )
            .await?;
        Ok(())
    }

    async fn practice(
        &self,
        harness: &mut Harness,
        target_id: Uuid,
        day: u32,
        ease: &str,
    ) -> Result<()> {
        harness
            .append(
                self.patient,
                patient_actor(self.patient),
                at(&format!("2026-03-{day:02}T18:00:00Z")),
                event(
                    Family::Target,
                    "target_practiced",
                    json!({
                        "target_id": target_id, "on": format!("2026-03-{day:02}"),
                        "outcome": "done", "ease": ease, "note": null,
                    }),
                ),
            )
            .await?;
        Ok(())
    }
}

/// A patient on a Spravato course who consented `targets` to the therapist, and a target.
async fn practicing() -> Result<(Harness, Care, Uuid)> {
    let mut harness = Harness::running().await?;
    let care = Care::start(&mut harness, "spravato").await?;
    care.grant(&mut harness, &["targets"]).await?;
    let target_id = care.set_target(&mut harness).await?;
    Ok((harness, care, target_id))
}

/// Logs practices of one target in log order, `(day, ease, notches)`, checking after each the
/// notch suggestions the consented therapist sees.
async fn practice_expecting_notches(steps: &[(u32, &str, usize)]) -> Result<(Harness, Care, Uuid)> {
    let (mut harness, care, target_id) = practicing().await?;
    for &(day, ease, expected) in steps {
        let seen = care
            .notches_after(&mut harness, target_id, day, ease)
            .await?;
        assert_eq!(seen, expected, "after the {ease} practice of the {day}th");
    }
    Ok((harness, care, target_id))
}

impl Care {
    /// Logs a practice done on `day` with `ease`, and returns the notch suggestions the
    /// therapist sees once it is applied.
    async fn notches_after(
        &self,
        harness: &mut Harness,
        target_id: Uuid,
        day: u32,
        ease: &str,
    ) -> Result<usize> {
        self.practice(harness, target_id, day, ease).await?;
        harness.caught_up().await?;
        count(harness, Reader::Therapist(self.therapist), self, NOTCH).await
    }
}

fn items<'a>(entries: &'a [TimelineEntry], item: &str) -> Vec<&'a TimelineEntry> {
    entries.iter().filter(|entry| entry.item == item).collect()
}

async fn count(harness: &Harness, reader: Reader, care: &Care, item: &str) -> Result<usize> {
    let entries = harness.timeline(reader, care.patient).await?;
    Ok(items(&entries, item).len())
}

const WINDOW: &str = "suggestion:window_no_session";
const NOTCH: &str = "suggestion:notch";

#[tokio::test]
async fn an_open_window_without_a_session_is_suggested_to_consented_therapists() -> Result<()> {
    let mut harness = Harness::running().await?;
    let care = Care::start(&mut harness, "spravato").await?;
    care.grant(&mut harness, &["doses", "sessions"]).await?;
    // A session already in the first dose's window: nothing to suggest for it.
    care.session(&mut harness, "2026-03-04T15:00:00Z").await?;
    care.dose(&mut harness, "2026-03-03T09:30:00Z").await?;
    // The second dose's window (03-06 09:30 to 03-08 09:30) has no session.
    care.dose(&mut harness, "2026-03-05T09:30:00Z").await?;
    harness.caught_up().await?;

    let therapist_view = harness
        .timeline(Reader::Therapist(care.therapist), care.patient)
        .await?;
    let suggestions = items(&therapist_view, WINDOW);
    assert_eq!(suggestions.len(), 1, "{:?}", kinds(&therapist_view));
    assert_eq!(
        suggestions[0].occurred_at,
        at("2026-03-06T09:30:00Z").to_datetime()
    );
    assert_eq!(suggestions[0].detail["closes_at"], "2026-03-08T09:30:00Z");
    assert_eq!(suggestions[0].basis, "consent");
    assert_eq!(count(&harness, Reader::Auditor, &care, WINDOW).await?, 1);
    // Not the patient's, not the clinic's, not an unconsented therapist's.
    assert_eq!(
        count(&harness, Reader::Patient(care.patient), &care, WINDOW).await?,
        0
    );
    assert_eq!(
        count(&harness, Reader::Clinic(care.clinic), &care, WINDOW).await?,
        0
    );
    let other = Reader::Therapist(care.unconsented_therapist);
    assert_eq!(count(&harness, other, &care, WINDOW).await?, 0);

    // A session outside the window changes nothing; one inside takes the suggestion away.
    care.session(&mut harness, "2026-03-09T15:00:00Z").await?;
    harness.caught_up().await?;
    assert_eq!(
        count(&harness, Reader::Therapist(care.therapist), &care, WINDOW).await?,
        1
    );
    care.session(&mut harness, "2026-03-07T15:00:00Z").await?;
    harness.caught_up().await?;
    assert_eq!(
        count(&harness, Reader::Therapist(care.therapist), &care, WINDOW).await?,
        0
    );
    assert_eq!(count(&harness, Reader::Auditor, &care, WINDOW).await?, 0);
    Ok(())
}

#[tokio::test]
async fn a_session_cancelled_or_entered_in_error_brings_the_window_suggestion_back_and_a_voided_cancellation_takes_it_away(
) -> Result<()> {
    let mut harness = Harness::running().await?;
    let care = Care::start(&mut harness, "spravato").await?;
    care.grant(&mut harness, &["doses", "sessions"]).await?;
    // The window runs 03-04 09:30 to 03-06 09:30; two sessions in it.
    care.dose(&mut harness, "2026-03-03T09:30:00Z").await?;
    let (first, _) = care.session(&mut harness, "2026-03-04T15:00:00Z").await?;
    let (_, second_scheduled) = care.session(&mut harness, "2026-03-05T15:00:00Z").await?;
    harness.caught_up().await?;
    let therapist = Reader::Therapist(care.therapist);
    assert_eq!(count(&harness, therapist, &care, WINDOW).await?, 0);

    // One of the two cancelled: the other still counts.
    care.by_therapist(
        &mut harness,
        "session_cancelled",
        json!({ "session_id": first }),
    )
    .await?;
    harness.caught_up().await?;
    assert_eq!(count(&harness, therapist, &care, WINDOW).await?, 0);

    // The other entered in error: nothing is scheduled in the window any more.
    care.by_therapist(
        &mut harness,
        "entry_corrected",
        json!({ "corrects": second_scheduled, "kind": "entered_in_error", "reason": "typo" }),
    )
    .await?;
    harness.caught_up().await?;
    let therapist_view = harness.timeline(therapist, care.patient).await?;
    let suggestions = items(&therapist_view, WINDOW);
    assert_eq!(suggestions.len(), 1, "{:?}", kinds(&therapist_view));
    assert_eq!(
        suggestions[0].occurred_at,
        at("2026-03-04T09:30:00Z").to_datetime()
    );
    assert_eq!(suggestions[0].detail["closes_at"], "2026-03-06T09:30:00Z");
    assert_eq!(suggestions[0].basis, "consent");
    assert_eq!(count(&harness, Reader::Auditor, &care, WINDOW).await?, 1);
    let other = Reader::Therapist(care.unconsented_therapist);
    assert_eq!(count(&harness, other, &care, WINDOW).await?, 0);

    // A new session in the window takes it away again; cancelling that one brings it back.
    let (third, _) = care.session(&mut harness, "2026-03-05T16:00:00Z").await?;
    harness.caught_up().await?;
    assert_eq!(count(&harness, therapist, &care, WINDOW).await?, 0);
    care.by_therapist(
        &mut harness,
        "session_cancelled",
        json!({ "session_id": third }),
    )
    .await?;
    harness.caught_up().await?;
    assert_eq!(count(&harness, therapist, &care, WINDOW).await?, 1);

    // That cancellation entered in error: the session stands again, the suggestion goes.
    let cancellation = harness
        .last_event_id
        .context("the cancellation's event id")?;
    care.by_therapist(
        &mut harness,
        "entry_corrected",
        json!({ "corrects": cancellation, "kind": "entered_in_error", "reason": "wrong one" }),
    )
    .await?;
    harness.caught_up().await?;
    assert_eq!(count(&harness, therapist, &care, WINDOW).await?, 0);
    assert_eq!(count(&harness, Reader::Auditor, &care, WINDOW).await?, 0);

    // The rebuilt read models say the same.
    harness.assert_rebuild_equals_live(2).await?;
    Ok(())
}

#[tokio::test]
async fn three_done_and_easy_practices_in_a_row_suggest_one_notch() -> Result<()> {
    let mut harness = Harness::running().await?;
    let care = Care::start(&mut harness, "spravato").await?;
    care.grant(&mut harness, &["targets"]).await?;
    let target_id = care.set_target(&mut harness).await?;
    let therapist = Reader::Therapist(care.therapist);
    for (day, ease) in [(4, "easy"), (5, "hard"), (6, "easy"), (7, "easy")] {
        care.practice(&mut harness, target_id, day, ease).await?;
    }
    harness.caught_up().await?;
    assert_eq!(
        count(&harness, therapist, &care, NOTCH).await?,
        0,
        "two easy in a row"
    );

    care.practice(&mut harness, target_id, 8, "easy").await?;
    care.practice(&mut harness, target_id, 9, "easy").await?;
    harness.caught_up().await?;
    let view = harness.timeline(therapist, care.patient).await?;
    let notches = items(&view, NOTCH);
    assert_eq!(
        notches.len(),
        1,
        "one suggestion per streak: {:?}",
        kinds(&view)
    );
    assert_eq!(
        notches[0].occurred_at,
        at("2026-03-08T18:00:00Z").to_datetime()
    );
    assert_eq!(notches[0].detail["target_id"], json!(target_id));
    assert_eq!(
        count(&harness, Reader::Patient(care.patient), &care, NOTCH).await?,
        0
    );
    assert_eq!(
        count(&harness, Reader::Clinic(care.clinic), &care, NOTCH).await?,
        0
    );
    assert_eq!(count(&harness, Reader::Auditor, &care, NOTCH).await?, 1);

    // After the notch, a new streak of three suggests again.
    harness
        .append(
            care.patient,
            actor(Role::Therapist, care.therapist),
            at("2026-03-10T15:00:00Z"),
            event(
                Family::Target,
                "target_notched_up",
                json!({
                    "target_id": target_id, "description": "walk outside for 20 minutes",
                }),
            ),
        )
        .await?;
    for day in [11, 12] {
        care.practice(&mut harness, target_id, day, "easy").await?;
    }
    harness.caught_up().await?;
    assert_eq!(count(&harness, therapist, &care, NOTCH).await?, 1);
    care.practice(&mut harness, target_id, 13, "easy").await?;
    harness.caught_up().await?;
    assert_eq!(count(&harness, therapist, &care, NOTCH).await?, 2);
    Ok(())
}

#[tokio::test]
async fn practices_count_by_the_day_they_were_done_as_the_notch_rule_does() -> Result<()> {
    practice_expecting_notches(&[
        (7, "easy", 0),
        (8, "easy", 0),
        // The hard one of the 5th, logged late.
        (5, "hard", 0),
        // By day: the 7th, 8th and 9th done and easy, the 5th before them hard: a streak (in
        // log order the late hard one would sit among the last three).
        (9, "easy", 1),
        // A late easy practice before the streak changes nothing: no second suggestion.
        (3, "easy", 1),
    ])
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_late_hard_practice_among_the_last_three_takes_the_notch_suggestion_back() -> Result<()> {
    let (mut harness, care, target_id) = practice_expecting_notches(&[
        (7, "easy", 0),
        (8, "easy", 0),
        (9, "easy", 1),
        // A hard practice before the streak, logged late, leaves it standing.
        (2, "hard", 1),
        // One of the 8th, logged late (after the easy one of that day, so last of the two):
        // the last three are no longer all easy, and the suggestion goes.
        (8, "hard", 0),
    ])
    .await?;
    // Gone for every reader.
    assert_eq!(count(&harness, Reader::Auditor, &care, NOTCH).await?, 0);
    // The 10th: the 9th, the 10th and the hard 8th, still no streak; the 11th makes one.
    assert_eq!(
        care.notches_after(&mut harness, target_id, 10, "easy")
            .await?,
        0
    );
    assert_eq!(
        care.notches_after(&mut harness, target_id, 11, "easy")
            .await?,
        1
    );
    let view = harness
        .timeline(Reader::Therapist(care.therapist), care.patient)
        .await?;
    let notches = items(&view, NOTCH);
    assert_eq!(
        notches[0].occurred_at,
        at("2026-03-11T18:00:00Z").to_datetime()
    );

    // The rebuilt read models say the same.
    harness.assert_rebuild_equals_live(2).await?;
    Ok(())
}

#[tokio::test]
async fn a_practice_of_the_streak_corrected_takes_the_notch_suggestion_back() -> Result<()> {
    let (mut harness, care, _) =
        practice_expecting_notches(&[(7, "easy", 0), (8, "easy", 0), (9, "easy", 1)]).await?;
    let ninth = harness.last_event_id.context("the 9th's event id")?;
    let corrects = json!({ "corrects": ninth, "kind": "entered_in_error", "reason": "not today" });
    care.by_patient(&mut harness, "entry_corrected", corrects)
        .await?;
    harness.caught_up().await?;
    assert_eq!(
        count(&harness, Reader::Therapist(care.therapist), &care, NOTCH).await?,
        0
    );
    assert_eq!(count(&harness, Reader::Auditor, &care, NOTCH).await?, 0);
    Ok(())
}

#[tokio::test]
async fn a_notch_suggestion_follows_corrections_notches_and_retirement() -> Result<()> {
    let (mut harness, care, target_id) = practice_expecting_notches(&[
        (7, "easy", 0),
        (8, "easy", 0),
        (9, "easy", 1),
        // Logged hard by mistake: the streak is broken, the suggestion goes.
        (10, "hard", 0),
    ])
    .await?;
    let therapist = Reader::Therapist(care.therapist);
    let mistake = harness.last_event_id.context("the 10th's event id")?;
    let corrects = |event_id: Uuid| json!({ "corrects": event_id, "kind": "entered_in_error", "reason": "mistake" });
    // Corrected: the three before it hold again, and the suggestion comes back.
    care.by_patient(&mut harness, "entry_corrected", corrects(mistake))
        .await?;
    harness.caught_up().await?;
    assert_eq!(count(&harness, therapist, &care, NOTCH).await?, 1);
    // The 10th logged again, easy: still the one suggestion.
    assert_eq!(
        care.notches_after(&mut harness, target_id, 10, "easy")
            .await?,
        1
    );

    // A notch, then two easy practices: the suggestion before the notch stays, none new.
    let notch = json!({ "target_id": target_id, "description": "walk for 20 minutes" });
    care.by_therapist(&mut harness, "target_notched_up", notch)
        .await?;
    let notched = harness.last_event_id.context("the notch's event id")?;
    for day in [11, 12] {
        assert_eq!(
            care.notches_after(&mut harness, target_id, day, "easy")
                .await?,
            1
        );
    }
    // The notch entered in error: the streak runs on from before it, the same suggestion.
    care.by_therapist(&mut harness, "entry_corrected", corrects(notched))
        .await?;
    harness.caught_up().await?;
    assert_eq!(count(&harness, therapist, &care, NOTCH).await?, 1);

    // Retired: no notch to suggest.
    let retired = json!({ "target_id": target_id, "reason": "achieved" });
    care.by_therapist(&mut harness, "target_retired", retired)
        .await?;
    harness.caught_up().await?;
    assert_eq!(count(&harness, therapist, &care, NOTCH).await?, 0);
    assert_eq!(count(&harness, Reader::Auditor, &care, NOTCH).await?, 0);

    // The rebuilt read models say the same.
    harness.assert_rebuild_equals_live(3).await?;
    Ok(())
}

#[tokio::test]
async fn a_target_set_in_error_takes_its_suggestion_and_a_new_setting_counts_afresh() -> Result<()>
{
    let (mut harness, care, target_id) =
        practice_expecting_notches(&[(7, "easy", 0), (8, "easy", 0), (9, "easy", 1)]).await?;
    let set = first_event_of(&harness, &care, "target_set").await?;
    let corrects =
        json!({ "corrects": set, "kind": "entered_in_error", "reason": "wrong patient" });
    care.by_therapist(&mut harness, "entry_corrected", corrects)
        .await?;
    harness.caught_up().await?;
    assert_eq!(count(&harness, Reader::Auditor, &care, NOTCH).await?, 0);
    // Set again under the same id: the practices before it no longer count.
    care.set_target_as(&mut harness, target_id).await?;
    for (day, expected) in [(10, 0), (11, 0), (12, 1)] {
        let seen = care
            .notches_after(&mut harness, target_id, day, "easy")
            .await?;
        assert_eq!(seen, expected, "after the practice of the {day}th");
    }
    Ok(())
}

/// The event id of the first entry of `kind` in the patient's full history.
async fn first_event_of(harness: &Harness, care: &Care, kind: &str) -> Result<Uuid> {
    harness
        .timeline(Reader::Auditor, care.patient)
        .await?
        .into_iter()
        .find(|entry| entry.kind == kind)
        .map(|entry| entry.event_id)
        .with_context(|| format!("no {kind} in the history"))
}

/// The next-dose-due hints of the patient's timeline read at `now`.
async fn hints(
    harness: &Harness,
    care: &Care,
    now: &str,
    item: &str,
) -> Result<Vec<(String, String)>> {
    let entries = harness
        .timeline_at(
            Reader::Patient(care.patient),
            care.patient,
            at(now).to_datetime(),
        )
        .await?;
    Ok(items(&entries, item)
        .into_iter()
        .map(|entry| {
            (
                entry.detail["due_from"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                entry.detail["due_by"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect())
}

#[tokio::test]
async fn spravato_next_dose_due_follows_induction_then_weekly_then_every_one_to_two_weeks(
) -> Result<()> {
    let mut harness = Harness::running().await?;
    let care = Care::start(&mut harness, "spravato").await?;
    care.dose(&mut harness, "2026-03-03T09:30:00Z").await?; // week 1
    care.dose(&mut harness, "2026-03-31T09:30:00Z").await?; // week 5
    care.dose(&mut harness, "2026-04-28T09:30:00Z").await?; // week 9
    harness.caught_up().await?;
    assert_eq!(
        hints(&harness, &care, "2026-03-04T00:00:00Z", "next_dose_due").await?,
        [
            (
                "2026-03-05T09:30:00Z".to_owned(),
                "2026-03-08T09:30:00Z".to_owned()
            ),
            (
                "2026-04-06T09:30:00Z".to_owned(),
                "2026-04-08T09:30:00Z".to_owned()
            ),
            (
                "2026-05-05T09:30:00Z".to_owned(),
                "2026-05-12T09:30:00Z".to_owned()
            ),
        ]
    );
    // The clinic of the course sees the hints too.
    let clinic_view = harness
        .timeline(Reader::Clinic(care.clinic), care.patient)
        .await?;
    assert_eq!(items(&clinic_view, "next_dose_due").len(), 3);
    Ok(())
}

#[tokio::test]
async fn a_dose_not_given_by_its_due_date_shows_as_missed_from_then_on() -> Result<()> {
    let mut harness = Harness::running().await?;
    let care = Care::start(&mut harness, "spravato").await?;
    care.dose(&mut harness, "2026-03-03T09:30:00Z").await?; // due by 03-08 09:30
    care.dose(&mut harness, "2026-03-05T09:30:00Z").await?; // on time; due by 03-10 09:30
    harness.caught_up().await?;
    let missed = |now| hints(&harness, &care, now, "missed_dose");
    assert!(missed("2026-03-10T09:00:00Z").await?.is_empty());
    assert_eq!(
        missed("2026-03-10T10:00:00Z").await?,
        [(
            "2026-03-07T09:30:00Z".to_owned(),
            "2026-03-10T09:30:00Z".to_owned()
        )]
    );
    let entries = harness
        .timeline_at(
            Reader::Patient(care.patient),
            care.patient,
            at("2026-03-12T00:00:00Z").to_datetime(),
        )
        .await?;
    let hint = items(&entries, "missed_dose")[0];
    assert_eq!(hint.occurred_at, at("2026-03-10T09:30:00Z").to_datetime());
    assert!(hint.summary.starts_with("Missed dose"), "{}", hint.summary);

    // Given late: the miss stays in the history, and the late dose raises its own hint.
    care.dose(&mut harness, "2026-03-11T09:30:00Z").await?;
    harness.caught_up().await?;
    assert_eq!(
        hints(&harness, &care, "2026-03-12T00:00:00Z", "missed_dose")
            .await?
            .len(),
        1
    );
    assert_eq!(
        hints(&harness, &care, "2026-03-12T00:00:00Z", "next_dose_due")
            .await?
            .len(),
        3
    );
    Ok(())
}

#[tokio::test]
async fn ketamine_doses_are_due_when_the_clinic_scheduled_them() -> Result<()> {
    let mut harness = Harness::running().await?;
    let care = Care::start(&mut harness, "ketamine").await?;
    let cancelled = care.schedule(&mut harness, "2026-03-04T10:00:00Z").await?;
    care.schedule(&mut harness, "2026-03-06T10:00:00Z").await?;
    harness
        .append(
            care.patient,
            care.clinic_actor(),
            at("2026-03-03T10:00:00Z"),
            event(
                Family::Dose,
                "dose_cancelled",
                json!({ "dose_id": cancelled, "reason": "unwell" }),
            ),
        )
        .await?;
    harness.caught_up().await?;
    assert_eq!(
        hints(&harness, &care, "2026-03-02T12:00:00Z", "next_dose_due").await?,
        [
            (
                "2026-03-04T10:00:00Z".to_owned(),
                "2026-03-05T10:00:00Z".to_owned()
            ),
            (
                "2026-03-06T10:00:00Z".to_owned(),
                "2026-03-07T10:00:00Z".to_owned()
            ),
        ]
    );
    // The cancelled dose is never missed; the other one is, once a day past its plan.
    assert!(
        hints(&harness, &care, "2026-03-07T09:00:00Z", "missed_dose")
            .await?
            .is_empty()
    );
    assert_eq!(
        hints(&harness, &care, "2026-03-07T11:00:00Z", "missed_dose")
            .await?
            .len(),
        1
    );
    Ok(())
}

#[tokio::test]
async fn a_dose_recorded_late_counts_the_course_weeks_from_the_real_first_dose() -> Result<()> {
    let mut harness = Harness::running().await?;
    let care = Care::start(&mut harness, "spravato").await?;
    care.dose(&mut harness, "2026-03-31T09:30:00Z").await?;
    // The course's real first dose, four weeks before, recorded after it.
    care.dose(&mut harness, "2026-03-03T09:30:00Z").await?;
    harness.caught_up().await?;
    assert_eq!(
        hints(&harness, &care, "2026-03-04T00:00:00Z", "next_dose_due").await?,
        [
            (
                "2026-03-05T09:30:00Z".to_owned(),
                "2026-03-08T09:30:00Z".to_owned()
            ),
            // Week 5, weekly: not the twice-a-week hint of a first dose.
            (
                "2026-04-06T09:30:00Z".to_owned(),
                "2026-04-08T09:30:00Z".to_owned()
            ),
        ]
    );
    Ok(())
}

#[tokio::test]
async fn a_dose_entered_in_error_shows_its_hint_corrected_and_is_never_missed() -> Result<()> {
    let mut harness = Harness::running().await?;
    let care = Care::start(&mut harness, "spravato").await?;
    care.dose(&mut harness, "2026-03-03T09:30:00Z").await?; // due by 03-08
    let given = harness.last_event_id.context("the dose's event id")?;
    care.dose(&mut harness, "2026-03-10T09:30:00Z").await?; // due by 03-15
    harness
        .append(
            care.patient,
            care.clinic_actor(),
            at("2026-03-10T10:00:00Z"),
            event(
                Family::Dose,
                "entry_corrected",
                json!({ "corrects": given, "kind": "entered_in_error", "reason": "wrong chart" }),
            ),
        )
        .await?;
    harness.caught_up().await?;
    let entries = harness
        .timeline_at(
            Reader::Patient(care.patient),
            care.patient,
            at("2026-03-20T00:00:00Z").to_datetime(),
        )
        .await?;
    let corrections: Vec<Option<&str>> = items(&entries, "next_dose_due")
        .into_iter()
        .map(|hint| hint.correction.as_deref())
        .collect();
    assert_eq!(corrections, [Some("entered_in_error"), None]);
    // Only the real dose's hint turned into a missed dose.
    assert_eq!(
        hints(&harness, &care, "2026-03-20T00:00:00Z", "missed_dose").await?,
        [(
            "2026-03-12T09:30:00Z".to_owned(),
            "2026-03-15T09:30:00Z".to_owned()
        )]
    );
    Ok(())
}

#[tokio::test]
async fn hints_stored_by_an_earlier_release_are_not_shown_twice() -> Result<()> {
    let mut harness = Harness::running().await?;
    let care = Care::start(&mut harness, "spravato").await?;
    care.dose(&mut harness, "2026-03-03T09:30:00Z").await?;
    harness.caught_up().await?;
    // What a projector of the release before migration 0006 writes beside the dose.
    sqlx::query(
        "INSERT INTO entries (patient_id, position, event_index, item, event_id, family, kind,
             scope, reach, course_id, clinic_id, actor_role, actor_id, related_party,
             occurred_at, recorded_at, summary, detail, correction)
         SELECT patient_id, position, event_index, 'next_dose_due', event_id, family,
             'next_dose_due', scope, reach, course_id, clinic_id, actor_role, actor_id,
             related_party, occurred_at + interval '2 days', recorded_at, 'stored', detail,
             correction
         FROM entries WHERE patient_id = $1 AND kind = 'dose_administered'",
    )
    .bind(care.patient.as_uuid())
    .execute(&harness.pool)
    .await?;
    let entries = harness
        .timeline_at(
            Reader::Patient(care.patient),
            care.patient,
            at("2026-03-04T00:00:00Z").to_datetime(),
        )
        .await?;
    let shown: Vec<&str> = items(&entries, "next_dose_due")
        .into_iter()
        .map(|hint| hint.summary.as_str())
        .collect();
    assert_eq!(shown, ["Next dose due by 2026-03-08 (course week 1)"]);
    Ok(())
}

#[tokio::test]
async fn a_course_ended_by_the_due_date_leaves_no_missed_dose() -> Result<()> {
    let mut harness = Harness::running().await?;
    let care = Care::start(&mut harness, "spravato").await?;
    care.dose(&mut harness, "2026-03-03T09:30:00Z").await?; // due by 03-08
    harness
        .append(
            care.patient,
            care.clinic_actor(),
            at("2026-03-06T09:00:00Z"),
            event(
                Family::Dose,
                "course_ended",
                json!({ "course_id": care.course_id, "reason": "completed" }),
            ),
        )
        .await?;
    harness.caught_up().await?;
    assert!(
        hints(&harness, &care, "2026-03-20T00:00:00Z", "missed_dose")
            .await?
            .is_empty()
    );
    assert_eq!(
        hints(&harness, &care, "2026-03-20T00:00:00Z", "next_dose_due")
            .await?
            .len(),
        1
    );
    Ok(())
}

#[tokio::test]
async fn a_course_withdrawn_leaves_no_missed_dose_until_it_is_started_again() -> Result<()> {
    let mut harness = Harness::running().await?;
    let care = Care::start(&mut harness, "spravato").await?;
    let started = harness
        .last_event_id
        .context("the course start's event id")?;
    care.dose(&mut harness, "2026-03-03T09:30:00Z").await?; // due by 03-08
    let in_error =
        json!({ "corrects": started, "kind": "entered_in_error", "reason": "no course" });
    harness
        .append(
            care.patient,
            care.clinic_actor(),
            at("2026-03-04T09:00:00Z"),
            event(Family::Dose, "entry_corrected", in_error),
        )
        .await?;
    harness.caught_up().await?;
    let later = "2026-03-20T00:00:00Z";
    assert!(hints(&harness, &care, later, "missed_dose")
        .await?
        .is_empty());
    // Started again: the course stands, and its dose's hint counts again.
    harness
        .append(
            care.patient,
            care.clinic_actor(),
            at("2026-03-04T09:05:00Z"),
            course_started(care.course_id, care.clinic, "spravato"),
        )
        .await?;
    harness.caught_up().await?;
    assert_eq!(hints(&harness, &care, later, "missed_dose").await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_course_started_again_on_the_other_path_gives_its_doses_that_paths_hints() -> Result<()> {
    let mut harness = Harness::running().await?;
    let care = Care::start(&mut harness, "spravato").await?;
    let started = harness
        .last_event_id
        .context("the course start's event id")?;
    care.dose(&mut harness, "2026-03-03T09:30:00Z").await?;
    harness.caught_up().await?;
    assert_eq!(
        hints(&harness, &care, "2026-03-04T00:00:00Z", "next_dose_due").await?,
        [(
            "2026-03-05T09:30:00Z".to_owned(),
            "2026-03-08T09:30:00Z".to_owned()
        )]
    );
    // The path was wrong: the start amended, the course started again on the ketamine path.
    let amended = json!({ "corrects": started, "kind": "amended", "reason": "wrong path" });
    harness
        .append(
            care.patient,
            care.clinic_actor(),
            at("2026-03-04T09:00:00Z"),
            event(Family::Dose, "entry_corrected", amended),
        )
        .await?;
    harness
        .append(
            care.patient,
            care.clinic_actor(),
            at("2026-03-04T09:05:00Z"),
            course_started(care.course_id, care.clinic, "ketamine"),
        )
        .await?;
    harness.caught_up().await?;
    // The dose as scheduled is the hint now (given on its day: not missed).
    assert_eq!(
        hints(&harness, &care, "2026-03-20T00:00:00Z", "next_dose_due").await?,
        [(
            "2026-03-03T09:30:00Z".to_owned(),
            "2026-03-04T09:30:00Z".to_owned()
        )]
    );
    assert!(
        hints(&harness, &care, "2026-03-20T00:00:00Z", "missed_dose")
            .await?
            .is_empty()
    );
    Ok(())
}

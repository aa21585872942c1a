//! Property tests of the contract's central promise: every valid event decodes to exactly what
//! was encoded, through the log's postcard frame and through the JSON form of APIs and exports;
//! and no input, however broken, makes decoding panic.

use proptest::collection::{btree_set, vec};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;
use serde::Serialize;
use uuid::Uuid;

use carelog_schemas::consent::{ConsentGranted, ConsentRevoked};
use carelog_schemas::dose::{
    CourseEnded, CourseStarted, DoseAdministered, DoseCancelled, DoseScheduled, PatientDischarged,
    PreDoseCheckRecorded, SideEffectRecorded, VitalsRecorded,
};
use carelog_schemas::observation::{ObservationRecorded, ScaleScored};
use carelog_schemas::target::{
    SessionCancelled, SessionHeld, SessionScheduled, TargetNotchedUp, TargetPracticed,
    TargetRetired, TargetSet,
};
use carelog_schemas::values::{
    BloodPressure, CalendarDate, DeviceCount, Drug, Ease, FastingHours, Flag, Flags, FreeText,
    GranteeRole, HeartRate, Instrument, LotNumber, MenuItem, Milligrams, Mood, ObservationValue,
    ObservedMinutes, Path, PracticeOutcome, RetireReason, Route, ScaleScore, Scope, Scopes,
    Severity, SideEffectKind, SleepHours, SpO2, Symptom, SymptomReport, TargetCategory,
    VitalsPhase, WeightKg,
};
use carelog_schemas::{
    Actor, Commit, CommitDraft, CommitHash, ConsentEvent, CorrectionKind, DoseEvent,
    EntryCorrected, EventId, EventPayload, EventRecord, Family, ObservationEvent, RecordedEvent,
    Role, TargetEvent, Timestamp,
};

// ---- values ----

fn any_id<T: TryFrom<Uuid> + std::fmt::Debug>() -> impl Strategy<Value = T> {
    any::<u128>().prop_filter_map("the nil UUID is not an id", |bits| {
        T::try_from(Uuid::from_u128(bits)).ok()
    })
}

fn any_event_id() -> impl Strategy<Value = EventId> {
    (0_u64..(1 << 48), any::<[u8; 10]>()).prop_map(|(millis, random)| {
        let uuid = uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid();
        EventId::try_from(uuid).expect("a v7 UUID is an event id")
    })
}

fn any_timestamp() -> impl Strategy<Value = Timestamp> {
    // 2000-01-01 ..< 2200-01-01 in microseconds.
    (946_684_800_000_000_i64..7_258_118_400_000_000)
        .prop_map(|micros| Timestamp::from_unix_micros(micros).expect("in range"))
}

fn any_date() -> impl Strategy<Value = CalendarDate> {
    (10_957_i32..84_006)
        .prop_map(|days| CalendarDate::from_days_since_epoch(days).expect("in range"))
}

fn any_text() -> impl Strategy<Value = FreeText> {
    prop_oneof![
        "(\\PC|\n|\t){1,80}",
        "[a-z ]{1,20}",
        Just("x".repeat(carelog_schemas::values::MAX_FREE_TEXT_CHARS)),
    ]
    .prop_filter_map("blank text is not free text", |text| {
        FreeText::new(text).ok()
    })
}

fn any_lot() -> impl Strategy<Value = LotNumber> {
    "[A-Za-z0-9./-]{1,40}".prop_map(|text| LotNumber::new(text).expect("valid lot"))
}

fn any_flags() -> impl Strategy<Value = Flags> {
    btree_set(select(Flag::ALL), 0..4).prop_map(|set| set.into_iter().collect())
}

fn any_scopes() -> impl Strategy<Value = Scopes> {
    btree_set(select(Scope::ALL), 1..=Scope::ALL.len())
        .prop_map(|set| Scopes::new(set).expect("non-empty"))
}

fn any_milligrams() -> impl Strategy<Value = Milligrams> {
    (1_u32..=1_000_000)
        .prop_map(|micrograms| Milligrams::from_micrograms(micrograms).expect("in range"))
}

fn any_weight() -> impl Strategy<Value = WeightKg> {
    (200_u16..=4000).prop_map(|tenths| WeightKg::from_units(tenths).expect("in range"))
}

fn any_fasting() -> impl Strategy<Value = FastingHours> {
    (0_u16..=720).prop_map(|tenths| FastingHours::from_units(tenths).expect("in range"))
}

fn any_blood_pressure() -> impl Strategy<Value = BloodPressure> {
    (50_u16..=300, 20_u16..=200)
        .prop_filter_map("systolic above diastolic", |(systolic, diastolic)| {
            BloodPressure::new(systolic, diastolic).ok()
        })
}

fn any_scale_score() -> impl Strategy<Value = ScaleScore> {
    select(Instrument::ALL).prop_flat_map(|instrument| {
        vec(0..=instrument.item_max(), instrument.item_count())
            .prop_map(move |items| ScaleScore::new(instrument, items).expect("well formed"))
    })
}

fn any_observation_value() -> impl Strategy<Value = ObservationValue> {
    prop_oneof![
        (0_u8..=10).prop_map(|rating| ObservationValue::Mood(Mood::new(rating).expect("mood"))),
        (0_u16..=240).prop_map(|tenths| {
            ObservationValue::SleepHours(SleepHours::from_units(tenths).expect("sleep"))
        }),
        any_text().prop_map(ObservationValue::Shift),
        (select(Symptom::ALL), proptest::option::of(any_text())).prop_map(|(symptom, detail)| {
            ObservationValue::Symptom(SymptomReport { symptom, detail })
        }),
        any_text().prop_map(ObservationValue::Note),
    ]
}

fn any_correction() -> impl Strategy<Value = EntryCorrected> {
    (any_event_id(), select(CorrectionKind::ALL), any_text()).prop_map(
        |(corrects, kind, reason)| EntryCorrected {
            corrects,
            kind,
            reason,
        },
    )
}

// ---- events, one strategy per family covering every event type ----

fn any_dose_event() -> impl Strategy<Value = DoseEvent> {
    Union::new(vec![
        (
            any_id(),
            any_id(),
            select(Path::ALL),
            any_id(),
            any::<bool>(),
        )
            .prop_map(
                |(course_id, clinic_id, path, prescriber_id, age_65_or_older)| {
                    DoseEvent::CourseStarted(CourseStarted {
                        course_id,
                        clinic_id,
                        path,
                        prescriber_id,
                        age_65_or_older,
                    })
                },
            )
            .boxed(),
        (any_id(), any_id(), any_timestamp())
            .prop_map(|(dose_id, course_id, planned_at)| {
                DoseEvent::DoseScheduled(DoseScheduled {
                    dose_id,
                    course_id,
                    planned_at,
                })
            })
            .boxed(),
        (
            any_id(),
            any_fasting(),
            any_fasting(),
            any::<[bool; 3]>(),
            any_flags(),
        )
            .prop_map(
                |(dose_id, solids, liquids, [benzo, stimulant, ride], flags)| {
                    DoseEvent::PreDoseCheckRecorded(PreDoseCheckRecorded {
                        dose_id,
                        solid_food_fasted_hours: solids,
                        clear_liquids_fasted_hours: liquids,
                        benzodiazepine_last_24h: benzo,
                        stimulant_last_24h: stimulant,
                        ride_home_arranged: ride,
                        flags,
                    })
                },
            )
            .boxed(),
        (
            any_id(),
            select(Drug::ALL),
            select(Route::ALL),
            any_milligrams(),
            proptest::option::of(any_weight()),
            proptest::option::of((1_u8..=3).prop_map(|n| DeviceCount::new(n).expect("devices"))),
            proptest::option::of(any_lot()),
            any_timestamp(),
            any_flags(),
        )
            .prop_map(
                |(
                    dose_id,
                    drug,
                    route,
                    amount_mg,
                    weight_kg,
                    devices,
                    lot,
                    administered_at,
                    flags,
                )| {
                    DoseEvent::DoseAdministered(DoseAdministered {
                        dose_id,
                        drug,
                        route,
                        amount_mg,
                        weight_kg,
                        devices,
                        lot,
                        administered_at,
                        flags,
                    })
                },
            )
            .boxed(),
        (
            proptest::option::of(any_id()),
            select(VitalsPhase::ALL),
            any_blood_pressure(),
            (20_u16..=250).prop_map(|bpm| HeartRate::new(bpm).expect("heart rate")),
            proptest::option::of(
                (50_u8..=100).prop_map(|percent| SpO2::new(percent).expect("spo2")),
            ),
            any_flags(),
        )
            .prop_map(
                |(dose_id, phase, blood_pressure, heart_rate, spo2, flags)| {
                    DoseEvent::VitalsRecorded(VitalsRecorded {
                        dose_id,
                        phase,
                        blood_pressure,
                        heart_rate,
                        spo2,
                        flags,
                    })
                },
            )
            .boxed(),
        (
            any_id(),
            select(SideEffectKind::ALL),
            select(Severity::ALL),
            proptest::option::of(any_text()),
        )
            .prop_map(|(dose_id, effect, severity, note)| {
                DoseEvent::SideEffectRecorded(SideEffectRecorded {
                    dose_id,
                    effect,
                    severity,
                    note,
                })
            })
            .boxed(),
        (any_id(), 0_u16..=1440, any::<bool>(), any::<bool>())
            .prop_map(|(dose_id, minutes, ride, stable)| {
                DoseEvent::PatientDischarged(PatientDischarged {
                    dose_id,
                    observed_minutes: ObservedMinutes::new(minutes).expect("minutes"),
                    ride_home_confirmed: ride,
                    clinically_stable: stable,
                })
            })
            .boxed(),
        (any_id(), any_text())
            .prop_map(|(dose_id, reason)| {
                DoseEvent::DoseCancelled(DoseCancelled { dose_id, reason })
            })
            .boxed(),
        (any_id(), any_text())
            .prop_map(|(course_id, reason)| {
                DoseEvent::CourseEnded(CourseEnded { course_id, reason })
            })
            .boxed(),
        any_correction().prop_map(DoseEvent::EntryCorrected).boxed(),
    ])
}

fn any_consent_event() -> impl Strategy<Value = ConsentEvent> {
    Union::new(vec![
        (
            any_id(),
            any_id(),
            select(GranteeRole::ALL),
            any_scopes(),
            any_text(),
            proptest::option::of(any_timestamp()),
        )
            .prop_map(
                |(consent_id, grantee_id, grantee_role, scopes, purpose, expires_at)| {
                    ConsentEvent::ConsentGranted(ConsentGranted {
                        consent_id,
                        grantee_id,
                        grantee_role,
                        scopes,
                        purpose,
                        expires_at,
                    })
                },
            )
            .boxed(),
        (any_id(), proptest::option::of(any_text()))
            .prop_map(|(consent_id, reason)| {
                ConsentEvent::ConsentRevoked(ConsentRevoked { consent_id, reason })
            })
            .boxed(),
        any_correction()
            .prop_map(ConsentEvent::EntryCorrected)
            .boxed(),
    ])
}

fn any_target_set() -> impl Strategy<Value = TargetSet> {
    let category_and_item = prop_oneof![
        select(TargetCategory::ALL).prop_map(|category| (category, None)),
        select(MenuItem::ALL).prop_map(|item| (item.category(), Some(item))),
    ];
    (any_id(), category_and_item, any_text(), any_text()).prop_map(
        |(target_id, (category, menu_item), description, plan)| {
            TargetSet::new(target_id, category, menu_item, description, plan)
                .expect("item from its own menu")
        },
    )
}

fn any_target_event() -> impl Strategy<Value = TargetEvent> {
    Union::new(vec![
        any_target_set().prop_map(TargetEvent::TargetSet).boxed(),
        (
            any_id(),
            any_date(),
            select(PracticeOutcome::ALL),
            select(Ease::ALL),
            proptest::option::of(any_text()),
        )
            .prop_map(|(target_id, on, outcome, ease, note)| {
                TargetEvent::TargetPracticed(TargetPracticed {
                    target_id,
                    on,
                    outcome,
                    ease,
                    note,
                })
            })
            .boxed(),
        (any_id(), any_text())
            .prop_map(|(target_id, description)| {
                TargetEvent::TargetNotchedUp(TargetNotchedUp {
                    target_id,
                    description,
                })
            })
            .boxed(),
        (any_id(), select(RetireReason::ALL))
            .prop_map(|(target_id, reason)| {
                TargetEvent::TargetRetired(TargetRetired { target_id, reason })
            })
            .boxed(),
        (any_id(), any_id(), any_timestamp())
            .prop_map(|(session_id, therapist_id, at)| {
                TargetEvent::SessionScheduled(SessionScheduled {
                    session_id,
                    therapist_id,
                    at,
                })
            })
            .boxed(),
        (any_id(), any_text(), any_text(), any_text())
            .prop_map(|(session_id, practice, barrier, next_step)| {
                TargetEvent::SessionHeld(SessionHeld {
                    session_id,
                    practice,
                    barrier,
                    next_step,
                })
            })
            .boxed(),
        any_id()
            .prop_map(|session_id| TargetEvent::SessionCancelled(SessionCancelled { session_id }))
            .boxed(),
        any_correction()
            .prop_map(TargetEvent::EntryCorrected)
            .boxed(),
    ])
}

fn any_observation_event() -> impl Strategy<Value = ObservationEvent> {
    Union::new(vec![
        (any_id(), any_observation_value(), any_flags())
            .prop_map(|(observation_id, value, flags)| {
                ObservationEvent::ObservationRecorded(ObservationRecorded {
                    observation_id,
                    value,
                    flags,
                })
            })
            .boxed(),
        (any_scale_score(), any_flags())
            .prop_map(|(score, flags)| ObservationEvent::ScaleScored(ScaleScored { score, flags }))
            .boxed(),
        any_correction()
            .prop_map(ObservationEvent::EntryCorrected)
            .boxed(),
    ])
}

fn any_payload_of(family: Family) -> BoxedStrategy<EventPayload> {
    match family {
        Family::Dose => any_dose_event().prop_map(EventPayload::Dose).boxed(),
        Family::Consent => any_consent_event().prop_map(EventPayload::Consent).boxed(),
        Family::Target => any_target_event().prop_map(EventPayload::Target).boxed(),
        Family::Observation => any_observation_event()
            .prop_map(EventPayload::Observation)
            .boxed(),
    }
}

fn any_record_of(family: Family) -> impl Strategy<Value = EventRecord> {
    (any_event_id(), any_timestamp(), any_payload_of(family)).prop_map(
        |(event_id, occurred_at, payload)| EventRecord {
            event_id,
            occurred_at,
            payload,
        },
    )
}

/// A draft of one to four events of one family, with distinct event ids.
fn any_draft() -> impl Strategy<Value = CommitDraft> {
    select(Family::ALL.as_slice())
        .prop_flat_map(|family| {
            (
                Just(family),
                vec(any_record_of(family), 1..=4),
                any_id(),
                any_id(),
                any_id(),
                any_id(),
                select(Role::ALL.as_slice()),
                any_id(),
            )
        })
        .prop_filter("event ids in one commit are distinct", |(_, events, ..)| {
            let ids: std::collections::BTreeSet<_> =
                events.iter().map(|event| event.event_id).collect();
            ids.len() == events.len()
        })
        .prop_map(
            |(
                family,
                events,
                commit_id,
                command_id,
                correlation_id,
                patient_id,
                role,
                party_id,
            )| {
                CommitDraft {
                    commit_id,
                    command_id,
                    correlation_id,
                    patient_id,
                    family,
                    actor: Actor { role, party_id },
                    events,
                }
            },
        )
}

fn any_sealed() -> impl Strategy<Value = (Commit, Vec<u8>, CommitHash)> {
    (
        any_draft(),
        any_timestamp(),
        any::<u64>(),
        any::<[u8; 32]>(),
    )
        .prop_map(|(draft, recorded_at, appended_after, previous_hash)| {
            let (commit, sealed) = Commit::seal(
                draft,
                recorded_at,
                appended_after,
                CommitHash(previous_hash),
            )
            .expect("a well-shaped draft seals");
            (commit, sealed.bytes, sealed.hash)
        })
}

/// The frame layout of a sealed commit, so a test can seal arbitrary body bytes with a valid
/// hash and reach the body decoder.
#[derive(Serialize)]
struct Frame<'a> {
    format: u16,
    #[serde(with = "serde_bytes")]
    body: &'a [u8],
    hash: CommitHash,
}

fn frame_around(body: &[u8]) -> Vec<u8> {
    postcard::to_allocvec(&Frame {
        format: 1,
        body,
        hash: CommitHash::of_body(body),
    })
    .expect("encode frame")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_commit_round_trips_through_postcard((commit, bytes, hash) in any_sealed()) {
        let (decoded, decoded_hash) = Commit::decode(&bytes).expect("a sealed commit decodes");
        prop_assert_eq!(&decoded, &commit);
        prop_assert_eq!(decoded_hash, hash);
        // Encoding is deterministic: the decoded commit re-encodes to the same bytes.
        prop_assert_eq!(decoded.encode().bytes, bytes);
    }

    #[test]
    fn the_written_json_array_is_the_printed_json_forms((commit, _bytes, _hash) in any_sealed(), position in 1_u64..u64::MAX) {
        let printed = serde_json::to_vec(&serde_json::Value::Array(
            commit.recorded_events(position).iter().map(RecordedEvent::to_json).collect(),
        ))
        .expect("print JSON");
        let mut written = Vec::new();
        RecordedEvent::write_json_array(&commit, position, &mut written).expect("write JSON");
        prop_assert_eq!(String::from_utf8_lossy(&written), String::from_utf8_lossy(&printed));
    }

    #[test]
    fn the_written_data_json_is_the_data_value((commit, _bytes, _hash) in any_sealed()) {
        for record in commit.events() {
            let mut written = b"[".to_vec();
            record.payload.write_data_json(&mut written).expect("write data JSON");
            let read: serde_json::Value =
                serde_json::from_slice(&written[1..]).expect("the written data is JSON");
            prop_assert_eq!(&read, &record.payload.data_to_json());
            prop_assert!(read.is_object());
            prop_assert_eq!(written[0], b'[', "what was in the buffer before stays");
        }
    }

    #[test]
    fn every_event_round_trips_through_json((commit, _bytes, _hash) in any_sealed(), position in 1_u64..u64::MAX) {
        for event in commit.recorded_events(position) {
            let json = event.to_json();
            prop_assert_eq!(&json["type"], &serde_json::Value::from(event.payload.event_type()));
            prop_assert!(json["data"].is_object());
            let read_back = RecordedEvent::from_json(json.clone()).expect("JSON form reads back");
            prop_assert_eq!(&read_back, &event);
            // Through text as well, the way an API client sees it: decimals must survive printing.
            let text = serde_json::to_string(&json).expect("print JSON");
            let reparsed: serde_json::Value = serde_json::from_str(&text).expect("parse JSON");
            let read_back = RecordedEvent::from_json(reparsed).expect("printed JSON reads back");
            prop_assert_eq!(&read_back, &event);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in vec(any::<u8>(), 0..600)) {
        // The property is that this returns at all: an error or a commit, never a panic.
        let _ = Commit::decode(&bytes);
    }

    #[test]
    fn arbitrary_bodies_with_a_valid_hash_never_panic_the_decoder(body in vec(any::<u8>(), 0..600)) {
        // The property is that this returns at all: an error or a commit, never a panic.
        let _ = Commit::decode(&frame_around(&body));
    }

    #[test]
    fn mutated_bodies_with_a_valid_hash_never_panic_the_decoder(
        (commit, _bytes, _hash) in any_sealed(),
        mutations in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut body = postcard::to_allocvec(&commit).expect("encode body");
        for (index, value) in mutations {
            let position = index.index(body.len());
            body[position] = value;
        }
        if let Some(cut) = cut {
            body.truncate(cut.index(body.len()));
        }
        // Either an error or a commit that passes every check: whatever decodes is valid and
        // re-encodes to a commit that decodes to itself.
        if let Ok((decoded, _)) = Commit::decode(&frame_around(&body)) {
            let again = Commit::decode(&decoded.encode().bytes).expect("re-encoded commit decodes");
            prop_assert_eq!(again.0, decoded);
        }
    }
}

/// Each family's generator reaches every event type of the family (so "every event type
/// round-trips" is not silently "some event types").
#[test]
fn generators_cover_every_event_type() {
    use std::collections::BTreeSet;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for family in Family::ALL {
        let expected: BTreeSet<&str> = match family {
            Family::Dose => DoseEvent::EVENT_TYPES,
            Family::Consent => ConsentEvent::EVENT_TYPES,
            Family::Target => TargetEvent::EVENT_TYPES,
            Family::Observation => ObservationEvent::EVENT_TYPES,
        }
        .iter()
        .copied()
        .collect();
        let strategy = any_payload_of(family);
        let mut seen = BTreeSet::new();
        for _ in 0..2000 {
            let payload = strategy.new_tree(&mut runner).expect("generate").current();
            seen.insert(payload.event_type());
            if seen == expected {
                break;
            }
        }
        assert_eq!(seen, expected, "{family}");
    }
}

/// `EventPayload::write_data_json` strips the type tag at its first `":`: event type names must
/// stay plain snake case.
#[test]
fn event_type_names_are_plain_snake_case() {
    for names in [
        DoseEvent::EVENT_TYPES,
        ConsentEvent::EVENT_TYPES,
        TargetEvent::EVENT_TYPES,
        ObservationEvent::EVENT_TYPES,
    ] {
        for name in names {
            assert!(
                !name.is_empty()
                    && name.bytes().all(|byte| byte.is_ascii_lowercase()
                        || byte.is_ascii_digit()
                        || byte == b'_'),
                "{name:?}"
            );
        }
    }
}

//! Golden vectors: the committed bytes of one sealed commit per event example must decode,
//! forever, to the value built here. They freeze the postcard wire format of every event type.
//!
//! Files: `schemas/golden/<family>.<event_type>[.<variant>].v<schema_version>.bin`, each the
//! full bytes of a sealed commit (`Commit::seal(…).1.bytes`) holding that one event.
//!
//! A new example has no file yet; write it with
//! `CARELOG_BLESS_GOLDEN=1 cargo test -p carelog-schemas --test golden`.
//! Blessing only creates missing files. An existing file is never rewritten: old bytes are in
//! the log and must keep decoding, so a change that breaks one is a new schema version, not a
//! new golden file. (On the very first blessing, the tests that read a specific golden file
//! may fail because they ran before it was written; the next run passes.)

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

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
    ObservedMinutes, Path as TreatmentPath, PracticeOutcome, RetireReason, Route, ScaleScore,
    Scope, Scopes, Severity, SideEffectKind, SleepHours, SpO2, Symptom, SymptomReport,
    TargetCategory, VitalsPhase, WeightKg,
};
use carelog_schemas::{
    Actor, Commit, CommitDraft, CommitHash, ConsentEvent, CorrectionKind, DecodeError, DoseEvent,
    EntryCorrected, EventId, EventPayload, EventRecord, Family, ObservationEvent, RecordedEvent,
    Role, TargetEvent, Timestamp,
};
use serde::Serialize;
use uuid::Uuid;

const BLESS_VARIABLE: &str = "CARELOG_BLESS_GOLDEN";
const BLESS_COMMAND: &str = "CARELOG_BLESS_GOLDEN=1 cargo test -p carelog-schemas --test golden";

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden")
}

/// A fixed identifier of any kind: the same every run, distinct per `n`.
fn id<T: TryFrom<Uuid>>(n: u128) -> T
where
    T::Error: std::fmt::Debug,
{
    T::try_from(Uuid::from_u128(
        0x5eed_0000_0000_4000_8000_0000_0000_0000 | n,
    ))
    .expect("fixed id")
}

/// A fixed UUIDv7 event id.
fn event_id(n: u128) -> EventId {
    let uuid = Uuid::parse_str(&format!("01958f6e-2c00-7000-8000-{n:012x}")).expect("uuid");
    EventId::try_from(uuid).expect("fixed v7 id")
}

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).expect("fixed timestamp")
}

fn text(words: &str) -> FreeText {
    FreeText::new(words).expect("fixed text")
}

fn flags(list: &[Flag]) -> Flags {
    list.iter().copied().collect()
}

/// One golden example: its file stem and its event.
struct Example {
    /// `<family>.<event_type>` or `<family>.<event_type>.<variant>`.
    name: String,
    payload: EventPayload,
}

fn example(variant: Option<&str>, payload: impl Into<EventPayload>) -> Example {
    let payload = payload.into();
    let mut name = format!("{}.{}", payload.family(), payload.event_type());
    if let Some(variant) = variant {
        name.push('.');
        name.push_str(variant);
    }
    Example { name, payload }
}

/// Every golden example: at least one per event type, in family and wire order, plus extra
/// variants where an event has shapes worth freezing separately (each observation kind, the two
/// drugs, each questionnaire).
fn all_examples() -> Vec<Example> {
    let course_id = id(0x10);
    let dose_id = id(0x11);
    let clinic_id = id(0x12);
    let prescriber_id = id(0x13);
    let therapist_id = id(0x14);
    let consent_id = id(0x15);
    let target_id = id(0x16);
    let session_id = id(0x17);
    vec![
        // dose
        example(
            None,
            DoseEvent::CourseStarted(CourseStarted {
                course_id,
                clinic_id,
                path: TreatmentPath::Spravato,
                prescriber_id,
                age_65_or_older: false,
            }),
        ),
        example(
            None,
            DoseEvent::DoseScheduled(DoseScheduled {
                dose_id,
                course_id,
                planned_at: at("2026-03-03T09:00:00Z"),
            }),
        ),
        example(
            None,
            DoseEvent::PreDoseCheckRecorded(PreDoseCheckRecorded {
                dose_id,
                solid_food_fasted_hours: FastingHours::from_decimal(1.5).expect("hours"),
                clear_liquids_fasted_hours: FastingHours::from_decimal(0.5).expect("hours"),
                benzodiazepine_last_24h: true,
                stimulant_last_24h: false,
                ride_home_arranged: false,
                flags: flags(&[
                    Flag::SolidFoodFastedUnder2h,
                    Flag::BenzodiazepineLast24h,
                    Flag::NoRideHomeArranged,
                ]),
            }),
        ),
        example(
            Some("spravato"),
            DoseEvent::DoseAdministered(DoseAdministered {
                dose_id,
                drug: Drug::Esketamine,
                route: Route::Intranasal,
                amount_mg: Milligrams::from_whole_milligrams(56).expect("amount"),
                weight_kg: None,
                devices: Some(DeviceCount::new(2).expect("devices")),
                lot: Some(LotNumber::new("KXA2B14").expect("lot")),
                administered_at: at("2026-03-03T09:20:00Z"),
                flags: flags(&[Flag::BpAbove140Over90]),
            }),
        ),
        example(
            Some("ketamine_iv"),
            DoseEvent::DoseAdministered(DoseAdministered {
                dose_id,
                drug: Drug::Ketamine,
                route: Route::Iv,
                amount_mg: Milligrams::from_decimal(36.75).expect("amount"),
                weight_kg: Some(WeightKg::from_decimal(73.5).expect("weight")),
                devices: None,
                lot: None,
                administered_at: at("2026-03-03T09:20:00.5Z"),
                flags: Flags::none(),
            }),
        ),
        example(
            None,
            DoseEvent::VitalsRecorded(VitalsRecorded {
                dose_id: Some(dose_id),
                phase: VitalsPhase::PreDose,
                blood_pressure: BloodPressure::new(150, 95).expect("bp"),
                heart_rate: HeartRate::new(88).expect("hr"),
                spo2: Some(SpO2::new(97).expect("spo2")),
                flags: flags(&[Flag::BpAbove140Over90]),
            }),
        ),
        example(
            Some("crisis_without_dose"),
            DoseEvent::VitalsRecorded(VitalsRecorded {
                dose_id: None,
                phase: VitalsPhase::Other,
                blood_pressure: BloodPressure::new(185, 112).expect("bp"),
                heart_rate: HeartRate::new(102).expect("hr"),
                spo2: None,
                flags: flags(&[Flag::BpCrisis]),
            }),
        ),
        example(
            None,
            DoseEvent::SideEffectRecorded(SideEffectRecorded {
                dose_id,
                effect: SideEffectKind::Dissociation,
                severity: Severity::Moderate,
                note: Some(text("resolved by 90 minutes")),
            }),
        ),
        example(
            None,
            DoseEvent::PatientDischarged(PatientDischarged {
                dose_id,
                observed_minutes: ObservedMinutes::new(125).expect("minutes"),
                ride_home_confirmed: true,
                clinically_stable: true,
            }),
        ),
        example(
            None,
            DoseEvent::DoseCancelled(DoseCancelled {
                dose_id,
                reason: text("patient unwell; rescheduled"),
            }),
        ),
        example(
            None,
            DoseEvent::CourseEnded(CourseEnded {
                course_id,
                reason: text("induction complete"),
            }),
        ),
        example(
            None,
            DoseEvent::EntryCorrected(EntryCorrected {
                corrects: event_id(0xd05e),
                kind: CorrectionKind::Amended,
                reason: text("vitals entered against the wrong dose"),
            }),
        ),
        // consent
        example(
            None,
            ConsentEvent::ConsentGranted(ConsentGranted {
                consent_id,
                grantee_id: therapist_id,
                grantee_role: GranteeRole::Therapist,
                scopes: Scopes::new([Scope::Doses, Scope::Targets, Scope::Sessions, Scope::Scores])
                    .expect("scopes"),
                purpose: text("coordinate skills sessions with dosing days"),
                expires_at: Some(at("2026-09-01T00:00:00Z")),
            }),
        ),
        example(
            None,
            ConsentEvent::ConsentRevoked(ConsentRevoked {
                consent_id,
                reason: Some(text("changed therapist")),
            }),
        ),
        example(
            None,
            ConsentEvent::EntryCorrected(EntryCorrected {
                corrects: event_id(0xc0),
                kind: CorrectionKind::EnteredInError,
                reason: text("granted to the wrong therapist"),
            }),
        ),
        // target
        example(
            None,
            TargetEvent::TargetSet(
                TargetSet::new(
                    target_id,
                    TargetCategory::BehavioralActivation,
                    Some(MenuItem::WalkOutsideWithSupportCall),
                    text("walk outside while calling my sister"),
                    text("15 minutes, three days this week"),
                )
                .expect("target"),
            ),
        ),
        example(
            None,
            TargetEvent::TargetPracticed(TargetPracticed {
                target_id,
                on: CalendarDate::parse_iso("2026-03-04").expect("date"),
                outcome: PracticeOutcome::Done,
                ease: Ease::Easy,
                note: Some(text("sunny, felt lighter")),
            }),
        ),
        example(
            None,
            TargetEvent::TargetNotchedUp(TargetNotchedUp {
                target_id,
                description: text("20 minutes outside while calling my sister"),
            }),
        ),
        example(
            None,
            TargetEvent::TargetRetired(TargetRetired {
                target_id,
                reason: RetireReason::Achieved,
            }),
        ),
        example(
            None,
            TargetEvent::SessionScheduled(SessionScheduled {
                session_id,
                therapist_id,
                at: at("2026-03-05T15:00:00Z"),
            }),
        ),
        example(
            None,
            TargetEvent::SessionHeld(SessionHeld {
                session_id,
                practice: text("walk with call, done twice"),
                barrier: text("rain on Thursday"),
                next_step: text("indoor option: stairs while calling"),
            }),
        ),
        example(
            None,
            TargetEvent::SessionCancelled(SessionCancelled { session_id }),
        ),
        example(
            None,
            TargetEvent::EntryCorrected(EntryCorrected {
                corrects: event_id(0x7a),
                kind: CorrectionKind::Amended,
                reason: text("practice logged on the wrong day"),
            }),
        ),
        // observation
        example(
            Some("mood"),
            ObservationEvent::ObservationRecorded(ObservationRecorded {
                observation_id: id(0x20),
                value: ObservationValue::Mood(Mood::new(7).expect("mood")),
                flags: Flags::none(),
            }),
        ),
        example(
            Some("sleep_hours"),
            ObservationEvent::ObservationRecorded(ObservationRecorded {
                observation_id: id(0x21),
                value: ObservationValue::SleepHours(SleepHours::from_decimal(6.5).expect("sleep")),
                flags: Flags::none(),
            }),
        ),
        example(
            Some("shift"),
            ObservationEvent::ObservationRecorded(ObservationRecorded {
                observation_id: id(0x22),
                value: ObservationValue::Shift(text("starting tasks felt easier")),
                flags: Flags::none(),
            }),
        ),
        example(
            Some("symptom"),
            ObservationEvent::ObservationRecorded(ObservationRecorded {
                observation_id: id(0x23),
                value: ObservationValue::Symptom(SymptomReport {
                    symptom: Symptom::SevereHeadache,
                    detail: Some(text("since this morning")),
                }),
                flags: flags(&[Flag::RedFlagSymptomWithin72h]),
            }),
        ),
        example(
            Some("note"),
            ObservationEvent::ObservationRecorded(ObservationRecorded {
                observation_id: id(0x24),
                value: ObservationValue::Note(text("quiet evening as planned")),
                flags: Flags::none(),
            }),
        ),
        example(
            Some("phq9"),
            ObservationEvent::ScaleScored(ScaleScored {
                score: ScaleScore::new(Instrument::Phq9, vec![2, 1, 2, 1, 0, 1, 1, 0, 1])
                    .expect("phq9"),
                flags: flags(&[Flag::Phq9Item9Positive]),
            }),
        ),
        example(
            Some("gad7"),
            ObservationEvent::ScaleScored(ScaleScored {
                score: ScaleScore::new(Instrument::Gad7, vec![1, 1, 0, 2, 0, 1, 0]).expect("gad7"),
                flags: Flags::none(),
            }),
        ),
        example(
            Some("madrs"),
            ObservationEvent::ScaleScored(ScaleScored {
                score: ScaleScore::new(Instrument::Madrs, vec![3, 2, 4, 3, 1, 2, 3, 2, 2, 0])
                    .expect("madrs"),
                flags: Flags::none(),
            }),
        ),
        example(
            Some("cadss"),
            ObservationEvent::ScaleScored(ScaleScored {
                score: ScaleScore::new(
                    Instrument::Cadss,
                    vec![
                        1, 0, 2, 0, 0, 1, 0, 0, 0, 3, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 1, 4,
                    ],
                )
                .expect("cadss"),
                flags: Flags::none(),
            }),
        ),
        example(
            None,
            ObservationEvent::EntryCorrected(EntryCorrected {
                corrects: event_id(0x0b5),
                kind: CorrectionKind::EnteredInError,
                reason: text("recorded for the wrong patient"),
            }),
        ),
    ]
}

/// The role that writes each family, for realistic envelopes.
fn writer_role(family: Family) -> Role {
    match family {
        Family::Dose => Role::Clinic,
        Family::Consent | Family::Observation => Role::Patient,
        Family::Target => Role::Therapist,
    }
}

/// A number that identifies an example by its name, so its ids do not depend on where it sits
/// in `all_examples` (FNV-1a, 48 bits: stable across platforms and releases).
fn name_number(name: &str) -> u128 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    u128::from(hash & 0xffff_ffff_ffff)
}

/// The full commit around one example, with fixed ids, times and chain position.
fn commit_for(example: &Example) -> (Commit, Vec<u8>) {
    let payload = &example.payload;
    let family = payload.family();
    let number = name_number(&example.name);
    let draft = CommitDraft {
        commit_id: id(0x1_0000_0000_0000 | number),
        command_id: id(0x2_0000_0000_0000 | number),
        correlation_id: id(0x3_0000_0000_0000 | number),
        patient_id: id(0x1),
        family,
        actor: Actor {
            role: writer_role(family),
            party_id: id(0x2),
        },
        events: vec![EventRecord {
            event_id: event_id(number),
            occurred_at: at("2026-03-03T09:15:00.123456Z"),
            payload: payload.clone(),
        }],
    };
    let (commit, sealed) = Commit::seal(
        draft,
        at("2026-03-03T09:30:00Z"),
        41,
        CommitHash([0xa5; 32]),
    )
    .expect("one event of the commit's family");
    (commit, sealed.bytes)
}

fn file_name(example: &Example) -> String {
    format!("{}.v{}.bin", example.name, example.payload.schema_version())
}

#[test]
fn every_golden_file_decodes_to_its_example() {
    let blessing = std::env::var_os(BLESS_VARIABLE).is_some_and(|value| value == "1");
    let mut problems = Vec::new();
    let mut missing = Vec::new();
    let mut written = Vec::new();
    for example in &all_examples() {
        let path = golden_dir().join(file_name(example));
        let (expected, fresh_bytes) = commit_for(example);
        let stored = match fs::read(&path) {
            Ok(stored) => stored,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if blessing {
                    write_new_golden(&path, &fresh_bytes);
                    written.push(file_name(example));
                } else {
                    missing.push(file_name(example));
                }
                continue;
            }
            Err(error) => panic!("read {}: {error}", path.display()),
        };
        match Commit::decode(&stored) {
            Err(error) => {
                problems.push(format!("{}: does not decode: {error}", file_name(example)))
            }
            Ok((decoded, hash)) => {
                if decoded != expected {
                    problems.push(format!(
                        "{}: decodes to a different commit\n  decoded:  {decoded:?}\n  expected: {expected:?}",
                        file_name(example)
                    ));
                }
                if hash != CommitHash::of_body(&commit_body(&expected)) {
                    problems.push(format!(
                        "{}: today's encoder writes different bytes for the same commit (stored \
                         hash {hash}); old bytes still decode, but a change of encoding needs a \
                         new commit format, not a silent change",
                        file_name(example)
                    ));
                }
            }
        }
    }
    if !written.is_empty() {
        eprintln!("wrote new golden files: {}", written.join(", "));
    }
    assert!(
        missing.is_empty(),
        "golden files missing in {}: {}\nreview the examples, then write them with: {BLESS_COMMAND}",
        golden_dir().display(),
        missing.join(", ")
    );
    assert!(
        problems.is_empty(),
        "golden files no longer decode as committed (never rewrite one; add a new schema \
         version instead):\n{}",
        problems.join("\n")
    );
}

/// Creates a golden file that does not exist yet; refuses to replace one that does.
fn write_new_golden(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    fs::create_dir_all(golden_dir()).expect("create the golden directory");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .unwrap_or_else(|error| panic!("create {} (never overwritten): {error}", path.display()));
    file.write_all(bytes)
        .unwrap_or_else(|error| panic!("write {}: {error}", path.display()));
}

/// The body bytes of a commit as today's encoder writes them (what the hash covers).
fn commit_body(commit: &Commit) -> Vec<u8> {
    postcard::to_allocvec(commit).expect("encode commit body")
}

#[test]
fn every_event_type_has_a_golden_example() {
    let covered: BTreeSet<(Family, &str)> = all_examples()
        .iter()
        .map(|example| (example.payload.family(), example.payload.event_type()))
        .collect();
    let mut uncovered = Vec::new();
    for (family, event_types) in [
        (Family::Dose, DoseEvent::EVENT_TYPES),
        (Family::Consent, ConsentEvent::EVENT_TYPES),
        (Family::Target, TargetEvent::EVENT_TYPES),
        (Family::Observation, ObservationEvent::EVENT_TYPES),
    ] {
        for event_type in event_types {
            if !covered.contains(&(family, *event_type)) {
                uncovered.push(format!("{family}.{event_type}"));
            }
        }
    }
    assert!(
        uncovered.is_empty(),
        "event types without a golden example (add one to all_examples, then run \
         {BLESS_COMMAND}): {}",
        uncovered.join(", ")
    );
}

#[test]
fn every_golden_file_belongs_to_an_example() {
    let known: BTreeSet<String> = all_examples().iter().map(file_name).collect();
    let Ok(entries) = fs::read_dir(golden_dir()) else {
        panic!(
            "no golden directory at {}; run {BLESS_COMMAND}",
            golden_dir().display()
        );
    };
    let orphans: Vec<String> = entries
        .map(|entry| {
            entry
                .expect("list golden directory")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".bin") && !known.contains(name))
        .collect();
    assert!(
        orphans.is_empty(),
        "golden files no example checks (an example was renamed or removed; restore it, since \
         those bytes must keep decoding): {}",
        orphans.join(", ")
    );
}

#[test]
fn examples_agree_with_the_type_tables() {
    for example in all_examples() {
        let payload = &example.payload;
        let family_version = match payload {
            EventPayload::Dose(_) => DoseEvent::schema_version_of(payload.event_type()),
            EventPayload::Consent(_) => ConsentEvent::schema_version_of(payload.event_type()),
            EventPayload::Target(_) => TargetEvent::schema_version_of(payload.event_type()),
            EventPayload::Observation(_) => {
                ObservationEvent::schema_version_of(payload.event_type())
            }
        };
        assert_eq!(
            family_version,
            Some(payload.schema_version()),
            "{}",
            example.name
        );
        // The serde tag of the family enum is the envelope's event type.
        let tagged = match payload {
            EventPayload::Dose(event) => serde_json::to_value(event),
            EventPayload::Consent(event) => serde_json::to_value(event),
            EventPayload::Target(event) => serde_json::to_value(event),
            EventPayload::Observation(event) => serde_json::to_value(event),
        }
        .expect("json");
        let tag = tagged
            .as_object()
            .and_then(|object| object.keys().next())
            .cloned();
        assert_eq!(
            tag.as_deref(),
            Some(payload.event_type()),
            "{}",
            example.name
        );
    }
}

fn golden_bytes(stem: &str) -> Vec<u8> {
    let path = golden_dir().join(format!("{stem}.v1.bin"));
    fs::read(&path)
        .unwrap_or_else(|error| panic!("read {}: {error}; run {BLESS_COMMAND}", path.display()))
}

#[test]
fn a_flipped_byte_is_a_hash_mismatch() {
    let stored = golden_bytes("dose.dose_administered.spravato");
    assert!(Commit::decode(&stored).is_ok());
    // The frame ends with the 32-byte hash; every byte before it back to the body's length
    // prefix is body. Flip one in the middle of the body and one in the hash.
    let body_byte = stored.len() - 32 - 20;
    let hash_byte = stored.len() - 1;
    for index in [body_byte, stored.len() - 33, hash_byte] {
        let mut tampered = stored.clone();
        tampered[index] ^= 0x01;
        match Commit::decode(&tampered) {
            Err(DecodeError::HashMismatch { .. }) => {}
            other => panic!("byte {index} flipped: expected a hash mismatch, got {other:?}"),
        }
    }
    // Cut short or padded: a frame error or trailing bytes, never a panic.
    assert!(matches!(
        Commit::decode(&stored[..stored.len() - 1]),
        Err(DecodeError::Frame(_))
    ));
    let mut padded = stored.clone();
    padded.push(0);
    assert!(matches!(
        Commit::decode(&padded),
        Err(DecodeError::TrailingBytes(1))
    ));
}

/// The frame layout of a sealed commit, rebuilt here so a test can seal a forged body.
#[derive(Serialize)]
struct ForgedFrame<'a> {
    format: u16,
    #[serde(with = "serde_bytes")]
    body: &'a [u8],
    hash: CommitHash,
}

fn seal_forged_body(body: &[u8]) -> Vec<u8> {
    postcard::to_allocvec(&ForgedFrame {
        format: 1,
        body,
        hash: CommitHash::of_body(body),
    })
    .expect("encode forged frame")
}

/// Replaces the one occurrence of `from` in `bytes` with `to` (same length).
fn replace_once(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let positions: Vec<usize> = bytes
        .windows(from.len())
        .enumerate()
        .filter(|(_, window)| *window == from)
        .map(|(position, _)| position)
        .collect();
    assert_eq!(positions.len(), 1, "{from:02x?} must occur exactly once");
    let mut replaced = bytes.to_vec();
    replaced[positions[0]..positions[0] + to.len()].copy_from_slice(to);
    replaced
}

#[test]
fn a_correctly_hashed_commit_breaking_a_value_rule_is_a_decode_error() {
    let stored = golden_bytes("dose.vitals_recorded");
    let (commit, _) = Commit::decode(&stored).expect("golden decodes");
    let body = commit_body(&commit);
    // The forged frame of the untouched body decodes: the forgery machinery is faithful.
    assert_eq!(
        Commit::decode(&seal_forged_body(&body))
            .expect("faithful")
            .0,
        commit
    );

    // Blood pressure 150/95 is the varints 96 01 5f; 400/95 is 90 03 5f, the same length.
    let systolic_400 = replace_once(&body, &[0x96, 0x01, 0x5f], &[0x90, 0x03, 0x5f]);
    match Commit::decode(&seal_forged_body(&systolic_400)) {
        Err(DecodeError::Body(message)) => assert!(!message.is_empty()),
        other => panic!("systolic 400 must not decode, got {other:?}"),
    }

    // A PHQ-9 whose stated total (9) is not the sum of its items, sealed with a valid hash.
    let stored = golden_bytes("observation.scale_scored.phq9");
    let (commit, _) = Commit::decode(&stored).expect("golden decodes");
    let body = commit_body(&commit);
    let items_and_total = [9, 2, 1, 2, 1, 0, 1, 1, 0, 1, 9];
    let mut wrong_total = items_and_total;
    wrong_total[10] = 10;
    let forged = replace_once(&body, &items_and_total, &wrong_total);
    match Commit::decode(&seal_forged_body(&forged)) {
        Err(DecodeError::Body(message)) => assert!(!message.is_empty()),
        other => panic!("a wrong PHQ-9 total must not decode, got {other:?}"),
    }
}

#[test]
fn a_value_breaking_a_rule_in_json_is_a_data_error() {
    let stored = golden_bytes("dose.vitals_recorded");
    let (commit, _) = Commit::decode(&stored).expect("golden decodes");
    let event = commit.recorded_events(42).remove(0);
    let json = event.to_json();
    assert_eq!(
        RecordedEvent::from_json(json.clone()).expect("untouched JSON reads back"),
        event
    );
    fn check(mut json: serde_json::Value, pointer: &str, value: serde_json::Value, message: &str) {
        *json.pointer_mut(pointer).expect(pointer) = value;
        let error = RecordedEvent::from_json(json).expect_err(pointer);
        assert!(
            error.to_string().contains(message),
            "{pointer}: {error} should mention {message:?}"
        );
    }
    check(
        json.clone(),
        "/data/blood_pressure/systolic",
        400.into(),
        "systolic blood pressure 400 mmHg is outside",
    );
    check(
        json.clone(),
        "/data/heart_rate",
        7.into(),
        "heart rate 7 bpm is outside",
    );
    check(
        json.clone(),
        "/data/flags",
        serde_json::json!(["bp_crisis", "bp_crisis"]),
        "listed twice",
    );
    check(json.clone(), "/data/phase", "t90".into(), "unknown variant");
    check(
        json.clone(),
        "/type",
        "vitals_taken".into(),
        "unknown event type",
    );
    check(json, "/schema_version", 2.into(), "schema version 2");
}

/// The names of every closed vocabulary, in wire order. The postcard tag of a value is its
/// position here, so this list may only grow at the end.
#[test]
fn vocabularies_are_append_only() {
    fn check<T: Copy + std::fmt::Display>(all: &[T], expected: &[&str]) {
        let names: Vec<String> = all.iter().map(ToString::to_string).collect();
        assert_eq!(names, expected);
    }
    check(TreatmentPath::ALL, &["spravato", "ketamine"]);
    check(Drug::ALL, &["esketamine", "ketamine"]);
    check(
        Route::ALL,
        &[
            "intranasal",
            "iv",
            "im",
            "subcutaneous",
            "sublingual",
            "oral",
        ],
    );
    check(VitalsPhase::ALL, &["pre_dose", "t40", "discharge", "other"]);
    check(
        SideEffectKind::ALL,
        &[
            "nausea",
            "vomiting",
            "dizziness",
            "sedation",
            "dissociation",
            "headache",
            "elevated_blood_pressure",
            "other",
        ],
    );
    check(Severity::ALL, &["mild", "moderate", "severe"]);
    check(GranteeRole::ALL, &["therapist", "clinic"]);
    check(
        Scope::ALL,
        &[
            "doses",
            "vitals",
            "side_effects",
            "targets",
            "sessions",
            "observations",
            "scores",
        ],
    );
    check(
        Flag::ALL,
        &[
            "bp_above_140_90",
            "bp_crisis",
            "solid_food_fasted_under_2h",
            "benzodiazepine_last_24h",
            "stimulant_last_24h",
            "no_ride_home_arranged",
            "phq9_item9_positive",
            "red_flag_symptom_within_72h",
        ],
    );
    check(
        TargetCategory::ALL,
        &["behavioral_activation", "cognitive", "exposure", "sleep"],
    );
    check(
        MenuItem::ALL,
        &[
            "walk_outside_with_support_call",
            "simple_meal_at_table",
            "postponed_admin_task",
            "value_aligned_activity",
            "balanced_alternative_thought",
            "facts_versus_predictions",
            "name_the_thought_trap",
            "self_directed_thought_alternatives",
            "send_avoided_message",
            "mild_trigger_with_paced_breathing",
            "low_stakes_social_space",
            "fixed_wake_time",
            "screens_off_wind_down",
            "bed_for_sleep_only",
        ],
    );
    check(PracticeOutcome::ALL, &["done", "partial", "skipped"]);
    check(Ease::ALL, &["easy", "ok", "hard"]);
    check(RetireReason::ALL, &["achieved", "replaced", "paused"]);
    check(
        Symptom::ALL,
        &[
            "persistent_vomiting",
            "severe_headache",
            "chest_pain",
            "feeling_worse",
            "other",
        ],
    );
    check(
        carelog_schemas::values::ObservationKind::ALL,
        &["mood", "sleep_hours", "shift", "symptom", "note"],
    );
    check(Instrument::ALL, &["phq9", "gad7", "madrs", "cadss"]);
    check(CorrectionKind::ALL, &["amended", "entered_in_error"]);
    let event_types: Vec<&str> = [
        DoseEvent::EVENT_TYPES,
        ConsentEvent::EVENT_TYPES,
        TargetEvent::EVENT_TYPES,
        ObservationEvent::EVENT_TYPES,
    ]
    .concat();
    assert_eq!(
        event_types,
        [
            "course_started",
            "dose_scheduled",
            "pre_dose_check_recorded",
            "dose_administered",
            "vitals_recorded",
            "side_effect_recorded",
            "patient_discharged",
            "dose_cancelled",
            "course_ended",
            "entry_corrected",
            "consent_granted",
            "consent_revoked",
            "entry_corrected",
            "target_set",
            "target_practiced",
            "target_notched_up",
            "target_retired",
            "session_scheduled",
            "session_held",
            "session_cancelled",
            "entry_corrected",
            "observation_recorded",
            "scale_scored",
            "entry_corrected",
        ]
    );
}

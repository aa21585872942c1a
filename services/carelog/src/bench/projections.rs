//! `carelog bench --only projections` (issue 4): rebuilding the read models from the log beside
//! a raw baseline (the same messages read with an ordered consumer and the same number of rows
//! `COPY`ed into a plain table), the live projector's lag at a steady append rate, and the
//! projector's peak memory during the rebuild.
//!
//! "The same number of rows" is measured both ways it can be read: as many rows as the rebuild
//! wrote into the read models (the target is judged against this one: the raw cost of reading
//! what the rebuild reads and writing as many rows as it writes), and one row per message (the
//! stricter figure, printed beside it).
//!
//! Runs on a private nats-server of its own (the other parts' commits would otherwise be part
//! of the log) and a fresh PostgreSQL database on the server at `DATABASE_URL`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use carelog_eventlog::{AggregateHead, AppendOutcome, CareLog, CareLogConfig};
use carelog_projections::{ProjectionConfig, Projector, RebuildSettings, LIVE_SCHEMA};
use carelog_schemas::{
    Actor, CommandId, CommitDraft, CommitId, CorrelationId, EventId, EventPayload, EventRecord,
    Family, PartyId, PatientId, Role, Timestamp,
};
use futures::StreamExt;
use serde_json::{json, Value};
use sqlx::Connection as _;
use uuid::Uuid;

use super::{per_second, report};

/// The projections part's settings.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ProjectionBenchArgs {
    /// Events in the log the rebuild reads (one event per commit), spread evenly over
    /// `--projection-patients`.
    #[arg(long, default_value_t = 1_000_000)]
    projection_events: usize,
    /// Patients the events are spread over.
    #[arg(long, default_value_t = 10_000)]
    projection_patients: usize,
    /// Messages applied per transaction by the rebuild (as `carelog projections rebuild`).
    #[arg(long, default_value_t = carelog_projections::REBUILD_BATCH_SIZE)]
    projection_batch_size: usize,
    /// Workers of the rebuild (as `carelog projections rebuild --workers`) [default: two per
    /// core, at most 8].
    #[arg(long)]
    projection_workers: Option<usize>,
    /// Appends per second while the live lag is measured.
    #[arg(long, default_value_t = 2_000)]
    lag_rate: u64,
    /// Seconds of steady appends while the live lag is measured.
    #[arg(long, default_value_t = 10)]
    lag_seconds: u64,
    /// Measure the live lag right after the rebuild, without flushing its written pages to disk
    /// first (shows the writeback stalls of BENCHMARKS.md, "the lag after a rebuild").
    #[arg(long)]
    lag_without_flush: bool,
}

/// Rebuild throughput must reach this many events per second...
const REBUILD_TARGET: f64 = 50_000.0;
/// ... and this share of the raw baseline.
const REBUILD_RATIO_TARGET: f64 = 0.3;
/// Live lag p99 at a steady 2,000 events/s.
const LAG_P99_TARGET: Duration = Duration::from_millis(100);
/// Peak memory of the projector during the rebuild.
const MEMORY_TARGET_MB: f64 = 300.0;
/// Acknowledgements in flight while the log is filled.
const FILL_IN_FLIGHT: usize = 1_024;
/// How often the lag measurement reads the checkpoint.
const LAG_POLL: Duration = Duration::from_millis(2);

/// Aggregates of a patient the benchmark writes to.
const CONSENT: usize = 0;
const DOSE: usize = 1;
const OBSERVATION: usize = 2;

/// One patient of the benchmark and what it has so far.
struct Patient {
    id: PatientId,
    clinic: PartyId,
    therapist: PartyId,
    course: Uuid,
    dose: Uuid,
    heads: [AggregateHead; 3],
}

pub(crate) async fn run(args: &ProjectionBenchArgs) -> Result<()> {
    let server = carelog_testkit::NatsServer::start()
        .await
        .context("start a private nats-server for the projections benchmark")?;
    let database = carelog_testkit::TestDatabase::create()
        .await
        .context("create a fresh PostgreSQL database (DATABASE_URL)")?;
    let care_log = CareLog::connect(server.client().await?, CareLogConfig::default()).await?;

    let patients_count = args.projection_patients.max(1);
    let per_patient = (args.projection_events / patients_count).max(3);
    let clinics: Vec<PartyId> = (0..20).map(|_| PartyId::new_random()).collect();
    let therapists: Vec<PartyId> = (0..200).map(|_| PartyId::new_random()).collect();
    let mut patients: Vec<Patient> = (0..patients_count)
        .map(|index| Patient {
            id: PatientId::new_random(),
            clinic: clinics[index % clinics.len()],
            therapist: therapists[index % therapists.len()],
            course: Uuid::new_v4(),
            dose: Uuid::new_v4(),
            heads: [AggregateHead::EMPTY; 3],
        })
        .collect();

    println!(
        "projections: filling the log with {} events over {} patients (untimed)...",
        per_patient * patients_count,
        patients_count
    );
    let fill_started = Instant::now();
    for step in 0..per_patient {
        let batch: Vec<(CommitDraft, AggregateHead)> = patients
            .iter_mut()
            .map(|patient| {
                let (draft, slot) = fill_event(patient, step)?;
                Ok((draft, patient.heads[slot]))
            })
            .collect::<Result<_>>()?;
        let slots: Vec<usize> = (0..patients.len()).map(|_| slot_of_step(step)).collect();
        let outcomes = care_log.append_pipelined(batch, FILL_IN_FLIGHT).await;
        for ((patient, slot), outcome) in patients.iter_mut().zip(slots).zip(outcomes) {
            match outcome? {
                AppendOutcome::Appended(appended) => patient.heads[slot] = appended.head(),
                AppendOutcome::Duplicate { .. } => {
                    anyhow::bail!("a fresh commit was reported as a duplicate")
                }
            }
        }
    }
    let log_position = care_log.last_position().await?;
    println!(
        "    {log_position} commits in {:.1} s\n",
        fill_started.elapsed().as_secs_f64()
    );

    // A raw baseline first: it warms the server's page cache for the rebuild, not the other
    // way round (the rebuild is the system under test; the baseline is the ceiling).
    let per_message = raw_baseline(&care_log, database.url(), log_position, log_position).await?;

    let hwm_before = memory_kb("VmHWM:")?;
    let rss_before = memory_kb("VmRSS:")?;
    let mut peak_rss = rss_before;
    let mut rebuild_settings = RebuildSettings::new(args.projection_batch_size);
    rebuild_settings.workers = args.projection_workers.unwrap_or(rebuild_settings.workers);
    let started = Instant::now();
    let outcome = carelog_projections::rebuild(
        database.url(),
        LIVE_SCHEMA,
        &care_log,
        rebuild_settings,
        |_| {
            if let Ok(rss) = memory_kb("VmRSS:") {
                peak_rss = peak_rss.max(rss);
            }
        },
    )
    .await?;
    let elapsed = started.elapsed();
    let hwm_after = memory_kb("VmHWM:")?;
    let rebuild_rate = per_second(outcome.events as usize, elapsed);
    anyhow::ensure!(
        outcome.parked == 0,
        "the rebuild parked {} messages",
        outcome.parked
    );
    // The second baseline needs the rebuild's row count, so it runs after it.
    let rows_written = read_model_rows(database.url()).await?;
    let same_rows = raw_baseline(&care_log, database.url(), log_position, rows_written).await?;

    println!(
        "{:<44} {:>14} {:>14} {:>7} {:>8}",
        "projections", "carelog", "raw baseline", "ratio", "target"
    );
    report(
        &format!("(e) rebuild, events/s ({} events)", outcome.events),
        rebuild_rate,
        same_rows,
        REBUILD_RATIO_TARGET,
    );
    report(
        "    stricter: baseline of one row per message",
        rebuild_rate,
        per_message,
        REBUILD_RATIO_TARGET,
    );
    println!(
        "{:<44} {rebuild_rate:>14.0} {:>14} {:>7} {:>8} {}",
        "    rebuild against the absolute target",
        "",
        "",
        format!(">={REBUILD_TARGET:.0}"),
        verdict(rebuild_rate >= REBUILD_TARGET)
    );
    println!(
        "    rebuild took {:.1} s with {} workers, {} commits per transaction, and wrote {} rows \
         ({:.2} per event); each baseline read the {} messages, one COPYed {} rows, the other {}",
        elapsed.as_secs_f64(),
        rebuild_settings.workers,
        rebuild_settings.batch_size,
        rows_written,
        rows_written as f64 / outcome.events.max(1) as f64,
        log_position,
        rows_written,
        log_position
    );
    let hwm_mb = hwm_after as f64 / 1024.0;
    println!(
        "{:<44} {:>14} {:>14} {:>7} {:>8} {}",
        "(f) peak memory, whole process (VmHWM)",
        format!("{hwm_mb:.0} MB"),
        "",
        "",
        format!("<{MEMORY_TARGET_MB:.0} MB"),
        verdict(hwm_mb < MEMORY_TARGET_MB)
    );
    println!(
        "    VmHWM {:.0} MB before the rebuild (after the fill), {:.0} MB after (+{:.0} MB); \
         VmRSS sampled after every batch: {:.0} MB before, peak {:.0} MB (+{:.0} MB)",
        hwm_before as f64 / 1024.0,
        hwm_mb,
        hwm_after.saturating_sub(hwm_before) as f64 / 1024.0,
        rss_before as f64 / 1024.0,
        peak_rss as f64 / 1024.0,
        peak_rss.saturating_sub(rss_before) as f64 / 1024.0,
    );

    if args.lag_without_flush {
        println!("    lag run right after the rebuild, its written file pages not flushed");
    } else {
        let flushed = flush_to_disk()?;
        println!(
            "    before the lag run (untimed): the rebuild's written file pages flushed to disk \
             (`sync`, {:.1} s), so that the kernel's writeback of them does not stall it",
            flushed.as_secs_f64()
        );
    }
    let lag = live_lag(&server, &care_log, database.url(), &mut patients, args).await?;
    let p99 = Duration::from_micros(lag.value_at_quantile(0.99));
    println!(
        "{:<44} {:>14} {:>14} {:>7} {:>8} {}",
        format!("(g) live lag p99 at {} events/s", args.lag_rate),
        format!("{:.1} ms", p99.as_secs_f64() * 1000.0),
        "",
        "",
        format!("<{} ms", LAG_P99_TARGET.as_millis()),
        verdict(p99 < LAG_P99_TARGET)
    );
    println!(
        "    lag over {} appends: p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms (checkpoint polled \
         every {} ms)",
        lag.len(),
        lag.value_at_quantile(0.50) as f64 / 1000.0,
        lag.value_at_quantile(0.90) as f64 / 1000.0,
        lag.max() as f64 / 1000.0,
        LAG_POLL.as_millis()
    );
    Ok(())
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

/// The aggregate (index into `Patient::heads`) a step of the fill writes to.
fn slot_of_step(step: usize) -> usize {
    match step {
        0 => CONSENT,
        1 => DOSE,
        _ => match (step - 2) % 4 {
            3 => OBSERVATION,
            _ => DOSE,
        },
    }
}

/// The fill's `step`th event of a patient: a consent to its therapist (every scope), a course,
/// then cycles of a dose scheduled, the dose administered, vitals after it, and a mood.
fn fill_event(patient: &mut Patient, step: usize) -> Result<(CommitDraft, usize)> {
    let when = "2026-03-02T08:00:00Z";
    let clinic = Actor {
        role: Role::Clinic,
        party_id: patient.clinic,
    };
    let (family, actor, event_type, data): (Family, Actor, &str, Value) = match step {
        0 => (
            Family::Consent,
            patient_actor(patient.id),
            "consent_granted",
            json!({
                "consent_id": Uuid::new_v4(), "grantee_id": patient.therapist,
                "grantee_role": "therapist",
                "scopes": ["doses", "vitals", "side_effects", "targets", "sessions", "observations"],
                "purpose": "coordinate care", "expires_at": null,
            }),
        ),
        1 => (
            Family::Dose,
            clinic,
            "course_started",
            json!({
                "course_id": patient.course, "clinic_id": patient.clinic, "path": "spravato",
                "prescriber_id": Uuid::new_v4(), "age_65_or_older": false,
            }),
        ),
        _ => match (step - 2) % 4 {
            0 => {
                patient.dose = Uuid::new_v4();
                (
                    Family::Dose,
                    clinic,
                    "dose_scheduled",
                    json!({ "dose_id": patient.dose, "course_id": patient.course, "planned_at": when }),
                )
            }
            1 => (
                Family::Dose,
                clinic,
                "dose_administered",
                json!({
                    "dose_id": patient.dose, "drug": "esketamine", "route": "intranasal",
                    "amount_mg": 56, "weight_kg": null, "devices": 2, "lot": null,
                    "administered_at": when, "flags": [],
                }),
            ),
            2 => (
                Family::Dose,
                clinic,
                "vitals_recorded",
                json!({
                    "dose_id": patient.dose, "phase": "t40",
                    "blood_pressure": {"systolic": 128, "diastolic": 82}, "heart_rate": 76,
                    "spo2": 98, "flags": [],
                }),
            ),
            _ => return Ok((mood(patient.id)?, OBSERVATION)),
        },
    };
    let slot = slot_of_step(step);
    let payload = EventPayload::from_json_parts(family, event_type, 1, data)
        .map_err(|error| anyhow::anyhow!("benchmark event {event_type}: {error}"))?;
    Ok((draft(patient.id, actor, payload), slot))
}

fn mood(patient: PatientId) -> Result<CommitDraft> {
    let payload = EventPayload::from_json_parts(
        Family::Observation,
        "observation_recorded",
        1,
        json!({ "observation_id": Uuid::new_v4(), "value": {"mood": 6}, "flags": [] }),
    )
    .map_err(|error| anyhow::anyhow!("benchmark event observation_recorded: {error}"))?;
    Ok(draft(patient, patient_actor(patient), payload))
}

fn patient_actor(patient: PatientId) -> Actor {
    Actor {
        role: Role::Patient,
        party_id: PartyId::try_from(*patient.as_uuid()).unwrap_or_else(|_| PartyId::new_random()),
    }
}

fn draft(patient_id: PatientId, actor: Actor, payload: EventPayload) -> CommitDraft {
    CommitDraft {
        commit_id: CommitId::new_random(),
        command_id: CommandId::new_random(),
        correlation_id: CorrelationId::new_random(),
        patient_id,
        family: payload.family(),
        actor,
        events: vec![EventRecord {
            event_id: EventId::now_v7(),
            occurred_at: Timestamp::now(),
            payload,
        }],
    }
}

/// A line of `/proc/self/status` in kB (`VmHWM:`, `VmRSS:`).
fn memory_kb(field: &str) -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("read /proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("{field} in /proc/self/status"))
}

/// Rows in the read models the rebuild writes (the live schema, after the swap).
async fn read_model_rows(database_url: &str) -> Result<u64> {
    let mut connection = sqlx::PgConnection::connect(database_url)
        .await
        .context("connect to count the read models' rows")?;
    let mut rows = 0u64;
    for table in [
        "entries",
        "entry_readers",
        "consents",
        "courses",
        "doses",
        "sessions",
    ] {
        let (count,): (i64,) =
            sqlx::query_as(&format!("SELECT count(*) FROM {LIVE_SCHEMA}.{table}"))
                .fetch_one(&mut connection)
                .await
                .with_context(|| format!("count the rows of {LIVE_SCHEMA}.{table}"))?;
        rows += u64::try_from(count).unwrap_or(0);
    }
    let _ = connection.close().await;
    Ok(rows)
}

/// The raw ceiling: every message of the care stream up to `until` read with one ordered
/// consumer, and `rows` rows `(position, subject, payload)` of them `COPY`ed (binary) into a
/// plain table in one statement, spread evenly over the messages (with `rows` = `until`, one
/// per message). Returns messages per second, the unit of the rebuild's figure.
async fn raw_baseline(
    care_log: &CareLog,
    database_url: &str,
    until: u64,
    rows: u64,
) -> Result<f64> {
    let mut connection = sqlx::PgConnection::connect(database_url)
        .await
        .context("connect for the raw baseline")?;
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS raw_baseline; \
         CREATE TABLE raw_baseline (position bigint NOT NULL, subject text NOT NULL, \
         payload bytea NOT NULL)",
    )
    .execute(&mut connection)
    .await?;
    let stream = care_log
        .jetstream()
        .get_stream(&care_log.config().stream_name)
        .await?;

    let started = Instant::now();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
            deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    let mut copy = connection
        .copy_in_raw("COPY raw_baseline (position, subject, payload) FROM STDIN (FORMAT binary)")
        .await?;
    let mut buffer: Vec<u8> = Vec::with_capacity(1 << 20);
    buffer.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    buffer.extend_from_slice(&0i32.to_be_bytes()); // flags
    buffer.extend_from_slice(&0i32.to_be_bytes()); // header extension
    let mut read = 0u64;
    while read < until {
        let message = messages
            .next()
            .await
            .context("the care stream ended early")??;
        let position = message.info().map_err(anyhow::Error::msg)?.stream_sequence;
        // Rows due by this message: ⌊position·rows/until⌋ in all.
        let due = u128::from(position) * u128::from(rows) / u128::from(until.max(1));
        let previous = u128::from(read) * u128::from(rows) / u128::from(until.max(1));
        for _ in previous..due {
            buffer.extend_from_slice(&3i16.to_be_bytes());
            buffer.extend_from_slice(&8i32.to_be_bytes());
            buffer.extend_from_slice(&(position as i64).to_be_bytes());
            let subject = message.subject.as_bytes();
            buffer.extend_from_slice(&(subject.len() as i32).to_be_bytes());
            buffer.extend_from_slice(subject);
            buffer.extend_from_slice(&(message.payload.len() as i32).to_be_bytes());
            buffer.extend_from_slice(&message.payload);
        }
        read = position;
        if buffer.len() >= 1 << 20 {
            copy.send(std::mem::take(&mut buffer)).await?;
            buffer.reserve(1 << 20);
        }
    }
    buffer.extend_from_slice(&(-1i16).to_be_bytes());
    copy.send(buffer).await?;
    let copied = copy.finish().await?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        copied == rows,
        "the baseline copied {copied} rows, expected {rows}"
    );
    let _ = connection.close().await;
    Ok(per_second(until as usize, elapsed))
}

/// Starts the live projector on a runtime of its own.
fn start_projector(nats_url: String, database_url: String) -> Result<super::Background> {
    super::Background::spawn("live projector", None, move |stopped| async move {
        let client = async_nats::connect(nats_url)
            .await
            .context("connect the projector")?;
        let log = CareLog::connect(client, CareLogConfig::default()).await?;
        Projector::connect(ProjectionConfig::new(database_url), log)
            .await?
            .run(stopped)
            .await?;
        Ok(())
    })
}

/// Flushes the machine's written file pages to disk (`sync`). PostgreSQL 15 extends a table or
/// index by writing a zero-filled page; a million-event rebuild leaves about 1.5 GB of them in
/// the page cache, which the kernel writes back some 30 s later (`vm.dirty_expire_centisecs`),
/// and while it does, the live projector's `COPY`s wait on their own file extensions (measured:
/// 30–80 ms for a batch of 100 entries instead of about 1 ms; BENCHMARKS.md). That is the
/// aftermath of the bulk load, not the live projector's steady state the lag target is about.
fn flush_to_disk() -> Result<Duration> {
    let started = Instant::now();
    let status = std::process::Command::new("sync")
        .status()
        .context("run `sync` (coreutils) to flush the rebuild's writes")?;
    anyhow::ensure!(status.success(), "`sync` failed: {status}");
    Ok(started.elapsed())
}

/// Appends moods at a steady `--lag-rate` for `--lag-seconds` while the live projector runs,
/// and measures for each append the time from its send until the checkpoint reaches its
/// position (microseconds).
async fn live_lag(
    server: &carelog_testkit::NatsServer,
    care_log: &CareLog,
    database_url: &str,
    patients: &mut [Patient],
    args: &ProjectionBenchArgs,
) -> Result<hdrhistogram::Histogram<u64>> {
    let projector = start_projector(server.url(), database_url.to_owned())?;
    let pool = carelog_projections::database::connect(database_url, LIVE_SCHEMA, 1).await?;
    // Caught up with the rebuilt read models first.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if carelog_projections::lag(&pool, care_log).await?.behind() == 0 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the live projector did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let total = (args.lag_rate * args.lag_seconds) as usize;
    let interval = Duration::from_secs(1) / args.lag_rate.max(1) as u32;
    let pending: RefCell<VecDeque<(u64, Instant)>> = RefCell::new(VecDeque::new());
    let appended_all = std::cell::Cell::new(false);
    let mut latencies = hdrhistogram::Histogram::<u64>::new(3)?;

    let appender = async {
        let started = tokio::time::Instant::now();
        for index in 0..total {
            tokio::time::sleep_until(started + interval * index as u32).await;
            let patient = &mut patients[index % patients.len()];
            let draft = mood(patient.id)?;
            let sent = Instant::now();
            match care_log.append(draft, patient.heads[OBSERVATION]).await? {
                AppendOutcome::Appended(appended) => {
                    patient.heads[OBSERVATION] = appended.head();
                    pending.borrow_mut().push_back((appended.position, sent));
                }
                AppendOutcome::Duplicate { .. } => {
                    anyhow::bail!("a fresh commit was reported as a duplicate")
                }
            }
        }
        appended_all.set(true);
        anyhow::Ok(started.elapsed())
    };
    let poller = async {
        let mut connection = pool.acquire().await?;
        let deadline_after_appends = Duration::from_secs(30);
        let mut appends_done: Option<Instant> = None;
        loop {
            let checkpoint = carelog_projections::checkpoint::read(&mut connection).await?;
            let now = Instant::now();
            {
                let mut pending = pending.borrow_mut();
                while let Some(&(position, sent)) = pending.front() {
                    if position > checkpoint {
                        break;
                    }
                    latencies.record(now.duration_since(sent).as_micros() as u64)?;
                    pending.pop_front();
                }
                if appended_all.get() {
                    if pending.is_empty() {
                        return anyhow::Ok(());
                    }
                    let done = *appends_done.get_or_insert(now);
                    anyhow::ensure!(
                        now.duration_since(done) < deadline_after_appends,
                        "the live projector fell behind: {} appends not applied",
                        pending.len()
                    );
                }
            }
            tokio::time::sleep(LAG_POLL).await;
        }
    };
    let (appended, polled) = futures::join!(appender, poller);
    let appending = appended?;
    polled?;
    println!(
        "    live: {total} appends in {:.1} s ({:.0} /s)",
        appending.as_secs_f64(),
        per_second(total, appending)
    );
    pool.close().await;
    projector.stop().await?;
    Ok(latencies)
}

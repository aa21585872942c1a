//! `carelog bench`: the care log's appends beside raw JetStream publishes of payloads of the
//! same size, in the same mode, on one private nats-server, in one run; then commands over
//! NATS request-reply against the four command services (`commands.rs`); the projections'
//! rebuild and live lag (`projections.rs`), last, on a private nats-server of its own.

mod commands;
mod projections;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use async_nats::jetstream;
use carelog_eventlog::{AggregateHead, AppendOutcome, CareLog, CareLogConfig};
use carelog_schemas::dose::{DoseEvent, DoseScheduled};
use carelog_schemas::{
    Actor, CommandId, Commit, CommitDraft, CommitHash, CommitId, CorrelationId, CourseId, DoseId,
    EventId, EventPayload, EventRecord, Family, PartyId, PatientId, Role, Timestamp,
};
use futures::stream::{FuturesOrdered, StreamExt};

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct BenchArgs {
    /// Appends measured one at a time, in each repeat.
    #[arg(long, default_value_t = 3_000)]
    sequential: usize,
    /// Patients the pipelined appends are spread over.
    #[arg(long, default_value_t = 10_000)]
    patients: usize,
    /// Commits per patient in the pipelined run, in each repeat.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Acknowledgements outstanding at once in the pipelined runs.
    #[arg(long, default_value_t = 1_024)]
    in_flight: usize,
    /// Repeats of each measurement (raw and carelog alternating); the median is reported.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Run only one part (default: all three, `projections` last). `commands` still measures
    /// the raw pipelined publishes it is compared with.
    #[arg(long, value_enum)]
    only: Option<Part>,
    #[command(flatten)]
    commands: commands::CommandBenchArgs,
    #[command(flatten)]
    projections: projections::ProjectionBenchArgs,
}

/// The parts of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Part {
    /// The care log's appends (issue 2).
    Log,
    /// Commands over NATS request-reply (issue 3).
    Commands,
    /// Rebuild of the read models and the live projector's lag (issue 4; needs PostgreSQL at
    /// `DATABASE_URL`).
    Projections,
}

/// Publishes each side of (a) makes before the next takes its turn.
const SEQUENTIAL_SLICE: usize = 100;

struct Bench {
    care_log: CareLog,
    raw: jetstream::Context,
    party: PartyId,
    course: CourseId,
    payload_size: usize,
}

/// Runs the benchmark on a single-threaded runtime of its own thread: the client then uses
/// about one core and leaves the other to nats-server, for carelog and the raw baseline alike,
/// which makes the figures far less noisy on a two-core machine than a work-stealing runtime
/// competing with the server for both cores.
pub(crate) async fn run(args: BenchArgs) -> Result<()> {
    let bench_thread = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("build the benchmark's runtime")?
            .block_on(run_on_this_thread(args))
    });
    tokio::task::spawn_blocking(move || bench_thread.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the benchmark thread panicked"))?
}

async fn run_on_this_thread(args: BenchArgs) -> Result<()> {
    if args.only == Some(Part::Projections) {
        return projections::run(&args.projections).await;
    }
    let server = carelog_testkit::NatsServer::start()
        .await
        .context("start a private nats-server for the benchmark")?;
    let client = server.client().await?;
    let server_version = client.server_info().version;
    let care_log = CareLog::connect(client.clone(), CareLogConfig::default()).await?;
    // The raw baseline gets a stream with the very same settings, on other subjects.
    let mut raw_config = care_log
        .jetstream()
        .get_stream(&care_log.config().stream_name)
        .await?
        .get_info()
        .await?
        .config;
    raw_config.name = "RAW".to_owned();
    raw_config.subjects = vec!["raw.>".to_owned()];
    let raw = jetstream::new(client);
    raw.create_stream(raw_config)
        .await
        .context("create the raw baseline stream")?;

    let mut bench = Bench {
        care_log,
        raw,
        party: PartyId::new_random(),
        course: CourseId::new_random(),
        payload_size: 0,
    };
    let sample = bench.draft(PatientId::new_random());
    let (_, sealed) = Commit::seal(sample, Timestamp::now(), 1, CommitHash::GENESIS)?;
    bench.payload_size = sealed.bytes.len();

    println!(
        "carelog bench: nats-server {} (private, file storage), {} cores",
        server_version,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "commit size {} bytes (one DoseScheduled event); median of {} repeats\n",
        bench.payload_size, args.repeats
    );

    println!(
        "{:<44} {:>14} {:>14} {:>7} {:>8}",
        "mode", "carelog /s", "raw /s", "ratio", "target"
    );
    let raw_pipelined = if args.only == Some(Part::Commands) {
        bench.raw_pipelined(&args).await?; // warm-up, unmeasured
        let mut raw_pipelined = Vec::new();
        let before = commands::CpuTime::now(server.pid());
        for _ in 0..args.repeats {
            raw_pipelined.push(bench.raw_pipelined(&args).await?);
        }
        let cpu = commands::CpuTime::now(server.pid()).minus(before);
        let publishes = (args.repeats * args.patients * args.rounds).max(1) as f64;
        let raw_pipelined = median(&mut raw_pipelined);
        println!(
            "{:<44} {:>14} {raw_pipelined:>14.0}",
            format!("(b) raw pipelined only, {} patients", args.patients),
            ""
        );
        println!(
            "    CPU per raw publish: client {:.1} µs, nats-server {:.1} µs",
            cpu.load_generator as f64 / 1000.0 / publishes,
            cpu.nats_server as f64 / 1000.0 / publishes,
        );
        raw_pipelined
    } else {
        log_benchmarks(&bench, &args).await?
    };
    if args.only != Some(Part::Log) {
        println!();
        commands::run(&server, &args.commands, raw_pipelined).await?;
    }

    println!();
    let verify_started = Instant::now();
    let report = bench.care_log.verify_log().await?;
    println!(
        "verify of the whole benchmark log: {} commits in {:.2} s, intact: {}",
        report.commits_checked,
        verify_started.elapsed().as_secs_f64(),
        report.is_intact()
    );
    anyhow::ensure!(
        report.is_intact(),
        "the benchmark log does not verify: {:?}",
        report.first_break
    );
    if args.only.is_none() {
        // On a private nats-server of its own: the log it rebuilds holds only its own fill.
        println!();
        projections::run(&args.projections).await?;
    }
    Ok(())
}

/// The care log's appends beside raw publishes (issue 2): prints its rows and returns the raw
/// pipelined publish rate (the commands part's baseline).
async fn log_benchmarks(bench: &Bench, args: &BenchArgs) -> Result<f64> {
    // Warm up every path once, unmeasured.
    let mut latencies = hdrhistogram::Histogram::<u64>::new(3)?;
    bench.sequential_repeat(200, &mut latencies).await?;

    let mut raw_sequential = Vec::new();
    let mut raw_sequential_checked = Vec::new();
    let mut ours_sequential = Vec::new();
    let mut latencies = hdrhistogram::Histogram::<u64>::new(3)?;
    for _ in 0..args.repeats {
        let [raw, checked, ours] = bench
            .sequential_repeat(args.sequential, &mut latencies)
            .await?;
        raw_sequential.push(raw);
        raw_sequential_checked.push(checked);
        ours_sequential.push(ours);
    }
    let mut raw_pipelined = Vec::new();
    let mut raw_checked = Vec::new();
    let mut ours_pipelined = Vec::new();
    for repeat in 0..args.repeats {
        // Alternate the order, so neither side always runs on a fresher server.
        if repeat % 2 == 0 {
            raw_pipelined.push(bench.raw_pipelined(args).await?);
            raw_checked.push(bench.raw_pipelined_with_checks(args).await?);
            ours_pipelined.push(bench.ours_pipelined(args).await?);
        } else {
            ours_pipelined.push(bench.ours_pipelined(args).await?);
            raw_checked.push(bench.raw_pipelined_with_checks(args).await?);
            raw_pipelined.push(bench.raw_pipelined(args).await?);
        }
    }

    report(
        "(a) acknowledged appends, one at a time",
        median(&mut ours_sequential),
        median(&mut raw_sequential),
        0.9,
    );
    println!(
        "    raw publishes with an append's two headers (the server's own checks): {:.0} /s",
        median(&mut raw_sequential_checked)
    );
    let raw_pipelined = median(&mut raw_pipelined);
    report(
        &format!("(b) pipelined, {} patients", args.patients),
        median(&mut ours_pipelined),
        raw_pipelined,
        0.7,
    );
    println!(
        "    raw publishes with an append's two headers (the server's own checks): {:.0} /s",
        median(&mut raw_checked)
    );
    println!(
        "\n(a) carelog append latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.value_at_quantile(0.50) as f64 / 1000.0,
        latencies.value_at_quantile(0.99) as f64 / 1000.0,
        latencies.max() as f64 / 1000.0
    );
    Ok(raw_pipelined)
}

fn report(mode: &str, ours: f64, raw: f64, target: f64) {
    let ratio = ours / raw;
    let verdict = if ratio >= target { "met" } else { "MISSED" };
    println!(
        "{mode:<44} {ours:>14.0} {raw:>14.0} {ratio:>7.2} {:>5} {verdict}",
        format!(">={target}")
    );
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

impl Bench {
    fn draft(&self, patient_id: PatientId) -> CommitDraft {
        let now = Timestamp::now();
        CommitDraft {
            commit_id: CommitId::new_random(),
            command_id: CommandId::new_random(),
            correlation_id: CorrelationId::new_random(),
            patient_id,
            family: Family::Dose,
            actor: Actor {
                role: Role::Clinic,
                party_id: self.party,
            },
            events: vec![EventRecord {
                event_id: EventId::now_v7(),
                occurred_at: now,
                payload: EventPayload::Dose(DoseEvent::DoseScheduled(DoseScheduled {
                    dose_id: DoseId::new_random(),
                    course_id: self.course,
                    planned_at: now,
                })),
            }],
        }
    }

    fn raw_payload(&self) -> bytes::Bytes {
        bytes::Bytes::from(vec![0x5a; self.payload_size])
    }

    /// One repeat of (a): `count` acknowledged publishes one at a time on each of three sides
    /// — raw, raw with an append's two headers, carelog's appends — over 100 aggregates each,
    /// in slices of `SEQUENTIAL_SLICE` taking turns (the order rotating every slice), so that
    /// the machine's changes of speed during the repeat reach the three alike. Returns each
    /// side's rate (its publishes over its summed time) in that order; carelog's latencies go
    /// into `latencies`.
    async fn sequential_repeat(
        &self,
        count: usize,
        latencies: &mut hdrhistogram::Histogram<u64>,
    ) -> Result<[f64; 3]> {
        const AGGREGATES: usize = 100;
        let subjects = || -> Vec<String> {
            (0..AGGREGATES)
                .map(|_| format!("raw.dose.{}", PatientId::new_random()))
                .collect()
        };
        let (raw_subjects, checked_subjects) = (subjects(), subjects());
        let mut last_sequences = vec![0u64; AGGREGATES];
        let payload = self.raw_payload();
        // The events are the workload, not the log's work: build them before the clock starts,
        // as the raw baseline's payloads are.
        let patients: Vec<PatientId> = (0..AGGREGATES).map(|_| PatientId::new_random()).collect();
        let mut drafts = (0..count)
            .map(|index| self.draft(patients[index % AGGREGATES]))
            .collect::<Vec<_>>()
            .into_iter();
        let mut heads: HashMap<PatientId, AggregateHead> = HashMap::new();
        let mut elapsed = [Duration::ZERO; 3];
        let mut done = 0;
        let mut turn = 0;
        while done < count {
            let slice = done..count.min(done + SEQUENTIAL_SLICE);
            for side in (0..3).map(|side| (side + turn) % 3) {
                let started = Instant::now();
                match side {
                    0 => {
                        for index in slice.clone() {
                            let subject = raw_subjects[index % AGGREGATES].clone();
                            self.raw.publish(subject, payload.clone()).await?.await?;
                        }
                    }
                    1 => {
                        for index in slice.clone() {
                            let slot = index % AGGREGATES;
                            let mut headers = async_nats::HeaderMap::new();
                            headers
                                .insert("Nats-Msg-Id", uuid::Uuid::new_v4().to_string().as_str());
                            headers.insert(
                                "Nats-Expected-Last-Subject-Sequence",
                                last_sequences[slot].to_string().as_str(),
                            );
                            let ack = self
                                .raw
                                .publish_with_headers(
                                    checked_subjects[slot].clone(),
                                    headers,
                                    payload.clone(),
                                )
                                .await?
                                .await?;
                            last_sequences[slot] = ack.sequence;
                        }
                    }
                    _ => {
                        for draft in drafts.by_ref().take(slice.len()) {
                            let patient = draft.patient_id;
                            let head = heads.get(&patient).copied().unwrap_or(AggregateHead::EMPTY);
                            let sent = Instant::now();
                            let outcome = self.care_log.append(draft, head).await?;
                            latencies.record(sent.elapsed().as_micros() as u64)?;
                            let AppendOutcome::Appended(appended) = outcome else {
                                anyhow::bail!("a fresh commit was reported as a duplicate");
                            };
                            heads.insert(patient, appended.head());
                        }
                    }
                }
                elapsed[side] += started.elapsed();
            }
            done = slice.end;
            turn += 1;
        }
        Ok(elapsed.map(|spent| per_second(count, spent)))
    }

    async fn raw_pipelined(&self, args: &BenchArgs) -> Result<f64> {
        let patients: Vec<PatientId> = (0..args.patients)
            .map(|_| PatientId::new_random())
            .collect();
        let subjects: Vec<String> = patients.iter().map(|p| format!("raw.dose.{p}")).collect();
        let payload = self.raw_payload();
        let started = Instant::now();
        let mut in_flight = FuturesOrdered::new();
        for _ in 0..args.rounds {
            for subject in &subjects {
                if in_flight.len() >= args.in_flight {
                    if let Some(ack) = in_flight.next().await {
                        let _: jetstream::publish::PublishAck = ack?;
                    }
                }
                let ack = self.raw.publish(subject.clone(), payload.clone()).await?;
                in_flight.push_back(std::future::IntoFuture::into_future(ack));
            }
        }
        while let Some(ack) = in_flight.next().await {
            ack?;
        }
        Ok(per_second(args.patients * args.rounds, started.elapsed()))
    }

    /// Raw publishes carrying the two headers an append carries (message id and expected last
    /// subject sequence), in rounds like the appends, each naming the sequence its subject's
    /// previous publish got (acknowledged long before, with more patients than publishes in
    /// flight): what the server's checks cost by themselves.
    async fn raw_pipelined_with_checks(&self, args: &BenchArgs) -> Result<f64> {
        let subjects: Vec<String> = (0..args.patients)
            .map(|_| format!("raw.dose.{}", PatientId::new_random()))
            .collect();
        anyhow::ensure!(
            args.patients > args.in_flight,
            "the pipelined runs need more patients than publishes in flight"
        );
        let payload = self.raw_payload();
        let mut last_sequences = vec![0u64; subjects.len()];
        // The subject (index) of each publish in flight, in order, beside its acknowledgement.
        let mut waiting = std::collections::VecDeque::new();
        let mut in_flight = FuturesOrdered::new();
        let started = Instant::now();
        for _ in 0..args.rounds {
            for (position, subject) in subjects.iter().enumerate() {
                if in_flight.len() >= args.in_flight {
                    if let (Some(ack), Some(settled)) =
                        (in_flight.next().await, waiting.pop_front())
                    {
                        let ack: jetstream::publish::PublishAck = ack?;
                        last_sequences[settled] = ack.sequence;
                    }
                }
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Nats-Msg-Id", uuid::Uuid::new_v4().to_string().as_str());
                headers.insert(
                    "Nats-Expected-Last-Subject-Sequence",
                    last_sequences[position].to_string().as_str(),
                );
                let ack = self
                    .raw
                    .publish_with_headers(subject.clone(), headers, payload.clone())
                    .await?;
                in_flight.push_back(std::future::IntoFuture::into_future(ack));
                waiting.push_back(position);
            }
        }
        while let (Some(ack), Some(_)) = (in_flight.next().await, waiting.pop_front()) {
            ack?;
        }
        Ok(per_second(args.patients * args.rounds, started.elapsed()))
    }

    /// The appends, all rounds in one pipeline (`append_chained`): each patient's next commit
    /// is appended after the one before it.
    async fn ours_pipelined(&self, args: &BenchArgs) -> Result<f64> {
        let patients: Vec<PatientId> = (0..args.patients)
            .map(|_| PatientId::new_random())
            .collect();
        let mut heads = std::collections::HashMap::with_capacity(patients.len());
        let started = Instant::now();
        // Each commit is built as it is sent, as a service would (its ids cost tens of
        // nanoseconds); building them all up front costs more in cache misses than that.
        let drafts = (0..args.rounds)
            .flat_map(|_| patients.iter())
            .map(|patient| self.draft(*patient));
        let outcomes = self
            .care_log
            .append_chained(drafts, &mut heads, args.in_flight)
            .await;
        let elapsed = started.elapsed();
        for outcome in outcomes {
            if let AppendOutcome::Duplicate { .. } = outcome? {
                anyhow::bail!("a fresh commit was reported as a duplicate")
            }
        }
        Ok(per_second(args.patients * args.rounds, elapsed))
    }
}

/// A part of the system under test running on a multi-thread runtime of its own thread (so it
/// does not share the load generator's single thread), until [`Background::stop`] or drop.
pub(crate) struct Background {
    what: &'static str,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Background {
    /// Runs `run(stopped)` on `worker_threads` workers (the runtime's default when `None`);
    /// `stopped` completes when the background part is asked to stop or is dropped.
    pub(crate) fn spawn<F, Fut>(
        what: &'static str,
        worker_threads: Option<usize>,
        run: F,
    ) -> Result<Self>
    where
        F: FnOnce(futures::future::BoxFuture<'static, ()>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name(what.to_owned())
            .spawn(move || {
                let mut builder = tokio::runtime::Builder::new_multi_thread();
                if let Some(threads) = worker_threads {
                    builder.worker_threads(threads);
                }
                // Named after the part, so its CPU time can be told apart (`/proc/self/task`).
                builder.thread_name(what);
                let runtime = builder
                    .enable_all()
                    .build()
                    .with_context(|| format!("build the runtime of the {what}"))?;
                // An error means the sender is gone: stop too.
                let stopped = Box::pin(async move {
                    let _ = stopped.await;
                });
                runtime.block_on(run(stopped))
            });
        let thread = spawned.with_context(|| format!("start the thread of the {what}"))?;
        Ok(Background {
            what,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Asks the background part to stop (it finishes what it received) and waits for it.
    pub(crate) async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let what = self.what;
            tokio::task::spawn_blocking(move || thread.join())
                .await?
                .map_err(|_| anyhow::anyhow!("the thread of the {what} panicked"))??;
        }
        Ok(())
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // On an early return: dropping the sender stops it; the thread is left to end alone.
        self.stop.take();
    }
}

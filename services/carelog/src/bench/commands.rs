//! `carelog bench`, commands part (issue 3): JSON commands over NATS request-reply against the
//! four command services, started in this process on the benchmark's private nats-server.
//!
//! The services are the system under test and run as `carelog run` runs them: on a
//! multi-thread runtime of their own thread (as many workers as cores), on their own
//! connection. The load generator stays on the benchmark's single-threaded runtime, on another
//! connection, so it never shares a thread with the services; both still share the machine's
//! cores with nats-server.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use async_nats::Subject;
use bytes::Bytes;
use carelog_commands::RuntimeOptions;
use carelog_eventlog::{CareLog, CareLogConfig};
use futures::stream::{FuturesUnordered, StreamExt};
use hdrhistogram::Histogram;
use uuid::Uuid;

use super::{median, per_second, report};

/// The commands part's settings.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CommandBenchArgs {
    /// Patients the commands are spread over.
    #[arg(long, default_value_t = 1_000)]
    command_patients: usize,
    /// Commands sent one at a time (concurrency 1), in each repeat: the latency figures.
    #[arg(long, default_value_t = 1_000)]
    command_sequential: usize,
    /// Commands sent with `--command-concurrency` in flight, in each repeat: the throughput.
    #[arg(long, default_value_t = 2_000)]
    command_throughput: usize,
    /// Requests in flight at once in the throughput run.
    #[arg(long, default_value_t = 64)]
    command_concurrency: usize,
    /// Repeats of the commands part; the throughput is their median, the latencies are
    /// pooled.
    #[arg(long, default_value_t = 3)]
    command_repeats: usize,
    /// Worker threads of the services' runtime (default: one per core, as `carelog run`).
    #[arg(long)]
    service_threads: Option<usize>,
}

/// p99 latency at concurrency 1 must stay under this (issue 3).
const P99_TARGET: Duration = Duration::from_millis(10);
/// Throughput at concurrency 64 must be at least this share of raw pipelined publishes.
const THROUGHPUT_TARGET: f64 = 0.4;
/// The measured command: a patient records their mood (one `observation_recorded` event).
const MEASURED_SUBJECT: &str = "care.cmd.observation.record";
const START_COURSE_SUBJECT: &str = "care.cmd.dose.start_course";

/// The name of the services' threads (what Linux keeps of it: 15 bytes), by which their CPU
/// time is told apart from the load generator's.
const SERVICES: &str = "command services";
/// The name of the bare responder's threads (counted as the services' CPU time).
const BARE: &str = "bare responder";
/// The bare responder's subjects: requests on `bench.bare.<patient index>`, its publishes on
/// `raw.bare.<patient index>` (the raw baseline's stream).
const BARE_REQUESTS: &str = "bench.bare";

/// Starts the four command services on a runtime of their own (connected from it, so the
/// connection's own tasks run there too).
fn start_services(url: String, threads: usize) -> Result<super::Background> {
    super::Background::spawn(SERVICES, Some(threads), move |stopped| async move {
        let client = async_nats::connect(url)
            .await
            .context("connect the services")?;
        let log = CareLog::connect(client.clone(), CareLogConfig::default()).await?;
        carelog_commandhost::serve_all(client, log, RuntimeOptions::default(), stopped).await?;
        Ok(())
    })
}

/// The floor under any command service, measured beside ours: a responder that does nothing
/// but what every accepted command needs from the server. For each request it publishes one
/// raw message of the commit's size, with the two headers an append carries (message id and
/// the expected last sequence of its subject), to its patient's own subject; waits for the
/// acknowledgement; and replies with as many bytes as a carelog reply. It decides nothing,
/// loads nothing and encodes nothing. It is built like the services (one subscription, the
/// requests in progress polled together on a runtime of its own), so what it reaches is the
/// most any command service can reach here.
fn start_bare_responder(
    url: String,
    threads: usize,
    commit_bytes: usize,
    reply_bytes: usize,
) -> Result<super::Background> {
    super::Background::spawn(BARE, Some(threads), move |stopped| async move {
        let client = async_nats::connect(url)
            .await
            .context("connect the bare responder")?;
        let raw = async_nats::jetstream::new(client.clone());
        let mut requests = client
            .queue_subscribe(format!("{BARE_REQUESTS}.*"), BARE_REQUESTS.to_owned())
            .await?;
        let commit = Bytes::from(vec![0x5a; commit_bytes]);
        let reply = Bytes::from(format!(
            r#"{{"ok":true{}}}"#,
            " ".repeat(reply_bytes.saturating_sub(11))
        ));
        // The requests in progress are polled by this one task: a `RefCell` is enough.
        let last_sequences = std::cell::RefCell::new(std::collections::HashMap::new());
        let respond = |request: async_nats::Message| {
            let (raw, client, commit, reply) = (&raw, &client, commit.clone(), reply.clone());
            let last_sequences = &last_sequences;
            async move {
                let patient = request
                    .subject
                    .as_str()
                    .rsplit('.')
                    .next()
                    .unwrap_or_default();
                let subject = format!("raw.bare.{patient}");
                let expected = last_sequences.borrow().get(&subject).copied().unwrap_or(0);
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Nats-Msg-Id", Uuid::new_v4().to_string().as_str());
                headers.insert(
                    "Nats-Expected-Last-Subject-Sequence",
                    expected.to_string().as_str(),
                );
                let ack = raw
                    .publish_with_headers(subject.clone(), headers, commit)
                    .await?
                    .await?;
                last_sequences.borrow_mut().insert(subject, ack.sequence);
                let reply_to = request
                    .reply
                    .context("a bare request without a reply subject")?;
                client.publish(reply_to, reply).await?;
                anyhow::Ok(())
            }
        };
        let mut running = FuturesUnordered::new();
        let mut stopped = std::pin::pin!(stopped);
        loop {
            tokio::select! {
                () = &mut stopped => break,
                request = requests.next() => {
                    let Some(request) = request else { break };
                    running.push(respond(request));
                }
                Some(done) = running.next(), if !running.is_empty() => done?,
            }
        }
        while let Some(done) = running.next().await {
            done?;
        }
        Ok(())
    })
}

/// Runs the commands part and prints its rows; `raw_pipelined` is the raw pipelined publish
/// rate measured in the same run.
pub(crate) async fn run(
    server: &carelog_testkit::NatsServer,
    args: &CommandBenchArgs,
    raw_pipelined: f64,
) -> Result<()> {
    let threads = args
        .service_threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let services = start_services(server.url(), threads)?;
    let client = server.client().await?;
    wait_until_serving(&client).await?;
    let care_log = CareLog::connect(client.clone(), CareLogConfig::default()).await?;
    let log_commits = care_log.last_position().await?;

    let patients: Vec<Uuid> = (0..args.command_patients.max(1))
        .map(|_| Uuid::new_v4())
        .collect();
    // Untimed set-up: one course per patient (so each patient has a dose record, as a patient
    // recording their mood between doses has), which also warms the services up.
    let clinic = Uuid::new_v4();
    let courses: Vec<(Subject, Bytes)> = patients
        .iter()
        .map(|patient| {
            let subject = Subject::from_static(START_COURSE_SUBJECT);
            (subject, start_course(*patient, clinic))
        })
        .collect();
    send_all(&client, courses, args.command_concurrency).await?;
    // Warm-up of the measured command, unmeasured.
    send_all(
        &client,
        observations(&patients, 0, 200, MOOD),
        args.command_concurrency.min(8),
    )
    .await?;
    // The bare responder mirrors one measured command: its reply's size and its commit's.
    let (subject, body) = observations(&patients, 0, 1, MOOD).remove(0);
    let reply_bytes = client.request(subject, body).await?.payload.len();
    let commit_bytes = care_log
        .jetstream()
        .get_stream(&care_log.config().stream_name)
        .await?
        .get_last_raw_message_by_subject(&format!("care.observation.{}", patients[0]))
        .await?
        .payload
        .len();
    // The bare responder names each publish's expected sequence from its own last ack. Its
    // acks come back in publish order (one stream), so with round-robin over more patients
    // than requests in flight a patient's previous publish is acknowledged before the load
    // generator, which sends its next request only as earlier ones are answered, gets to it;
    // were it not, the publish would fail as a conflict and stop the benchmark, saying so.
    anyhow::ensure!(
        patients.len() > args.command_concurrency,
        "the commands part needs more patients than requests in flight"
    );
    let bare_responder = start_bare_responder(server.url(), threads, commit_bytes, reply_bytes)?;

    let mut latencies = Histogram::<u64>::new(3)?;
    let (mut mood, mut symptom, mut bare) = Default::default();
    let pid = server.pid();
    let concurrency = args.command_concurrency;
    let mut next = 200;
    for repeat in 0..args.command_repeats.max(1) {
        // Bodies are the workload, built before the clock starts (as raw payloads are).
        let requests = observations(&patients, next, args.command_sequential, MOOD);
        next += args.command_sequential;
        let (_, histogram) = send_all(&client, requests, 1).await?;
        latencies.add(histogram)?;
        // The bare responder's run and the measured command's take turns at going first.
        let mut bare_run = Some(bare_requests(&patients, args.command_throughput));
        if let Some(requests) = bare_run.take_if(|_| repeat % 2 == 1) {
            Throughput::measure(&mut bare, &client, pid, requests, concurrency).await?;
        }
        let requests = observations(&patients, next, args.command_throughput, MOOD);
        next += args.command_throughput;
        Throughput::measure(&mut mood, &client, pid, requests, concurrency).await?;
        if let Some(requests) = bare_run {
            Throughput::measure(&mut bare, &client, pid, requests, concurrency).await?;
        }
        // The same with a red-flag symptom, whose decision reads the dose family too.
        let requests = observations(&patients, next, args.command_throughput, SYMPTOM);
        next += args.command_throughput;
        Throughput::measure(&mut symptom, &client, pid, requests, concurrency).await?;
    }
    // Each command loads its aggregate through an ephemeral consumer; how many the server
    // still keeps says what every append and consumer creation is checked against.
    let consumers = care_log
        .jetstream()
        .get_stream(&care_log.config().stream_name)
        .await?
        .get_info()
        .await?
        .state
        .consumer_count;
    services.stop().await?;
    bare_responder.stop().await?;

    let p50 = latencies.value_at_quantile(0.50) as f64 / 1000.0;
    let p99 = latencies.value_at_quantile(0.99) as f64 / 1000.0;
    let p99_target = P99_TARGET.as_secs_f64() * 1000.0;
    let verdict = if p99 < p99_target { "met" } else { "MISSED" };
    println!(
        "{:<44} {:>14} {:>14} {:>7} {:>5} {verdict}",
        "(c) commands, concurrency 1: p99 latency",
        format!("{p99:.2} ms"),
        "",
        "",
        format!("<{p99_target:.0}ms"),
    );
    println!(
        "    p50 {p50:.2} ms, p99 {p99:.2} ms, max {:.2} ms ({} commands over {} patients; \
         {} service threads; the log held {log_commits} commits before)",
        latencies.max() as f64 / 1000.0,
        latencies.len(),
        patients.len(),
        threads,
    );
    report(
        &format!("(d) commands, concurrency {concurrency}"),
        mood.rate(),
        raw_pipelined,
        THROUGHPUT_TARGET,
    );
    println!(
        "    carelog: {MEASURED_SUBJECT} {{\"mood\": 6}} by the patient, reply received; \
         raw: pipelined JetStream publishes of (b)"
    );
    mood.print_cpu(concurrency);
    println!(
        "{:<44} {:>14.0} {:>14.0} {:>7.2}",
        format!("    beside a bare responder, concurrency {concurrency}"),
        mood.rate(),
        bare.rate(),
        mood.rate() / bare.rate(),
    );
    println!(
        "    bare: one raw publish of the commit's {commit_bytes} bytes with an append's two \
         headers, its ack awaited, a {reply_bytes}-byte reply, no decision: it reaches {:.2} of \
         raw pipelined publishes, the most a command answered after its append can reach here",
        bare.rate() / raw_pipelined,
    );
    bare.print_cpu(concurrency);
    report(
        "(d) same, a red-flag symptom (reads doses)",
        symptom.rate(),
        raw_pipelined,
        THROUGHPUT_TARGET,
    );
    symptom.print_cpu(concurrency);
    println!("    consumers alive on the care stream right after the last command: {consumers}");
    Ok(())
}

/// Waits until every service answers (a request before its subscription has no responders);
/// an unknown command's rejection is an answer.
async fn wait_until_serving(client: &async_nats::Client) -> Result<()> {
    tokio::time::timeout(Duration::from_secs(10), async {
        for service in ["dose", "consent", "target", "observation"] {
            let subject = format!("care.cmd.{service}.ping");
            while client.request(subject.clone(), "{}".into()).await.is_err() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    })
    .await
    .context("the command services did not come up")
}

/// Sends `requests` with at most `concurrency` in flight and checks every reply is an
/// acceptance; returns the time it took and each request's latency (µs, from send to reply).
async fn send_all(
    client: &async_nats::Client,
    requests: Vec<(Subject, Bytes)>,
    concurrency: usize,
) -> Result<(Duration, Histogram<u64>)> {
    let mut latencies = Histogram::<u64>::new(3)?;
    let mut requests = requests.into_iter();
    let mut in_flight = FuturesUnordered::new();
    let started = Instant::now();
    loop {
        while in_flight.len() < concurrency.max(1) {
            let Some((subject, body)) = requests.next() else {
                break;
            };
            let sent = Instant::now();
            in_flight.push(async move {
                let reply = client.request(subject, body).await;
                (sent.elapsed(), reply)
            });
        }
        let Some((latency, reply)) = in_flight.next().await else {
            break;
        };
        let reply = reply.context("a command request failed")?;
        // Replies are compact JSON (`{"command_id":…,"ok":true,…}`); finding the flag is
        // enough, and costs the load generator less than parsing the events.
        if !reply
            .payload
            .windows(9)
            .any(|window| window == b"\"ok\":true")
        {
            anyhow::bail!(
                "a benchmark command was rejected: {}",
                String::from_utf8_lossy(&reply.payload)
            );
        }
        latencies.record(latency.as_micros() as u64)?;
    }
    Ok((started.elapsed(), latencies))
}

/// The throughput runs of one kind of request: their rates and the CPU time they took.
#[derive(Debug, Default)]
struct Throughput {
    rates: Vec<f64>,
    cpu: CpuTime,
    requests: usize,
}

impl Throughput {
    /// Sends `requests` with `concurrency` in flight, checking each reply is an acceptance,
    /// and adds the run's rate and CPU time (nats-server's is read at `nats_server`).
    async fn measure(
        &mut self,
        client: &async_nats::Client,
        nats_server: Option<u32>,
        requests: Vec<(Subject, Bytes)>,
        concurrency: usize,
    ) -> Result<()> {
        let count = requests.len();
        let before = CpuTime::now(nats_server);
        let (elapsed, _) = send_all(client, requests, concurrency).await?;
        self.cpu = self.cpu.plus(CpuTime::now(nats_server).minus(before));
        self.rates.push(per_second(count, elapsed));
        self.requests += count;
        Ok(())
    }

    /// The median rate of the runs.
    fn rate(&self) -> f64 {
        median(&mut self.rates.clone())
    }

    /// Prints the CPU time per request the runs took.
    fn print_cpu(&self, concurrency: usize) {
        let per_request = |nanos: u64| nanos as f64 / 1000.0 / self.requests.max(1) as f64;
        let cpu = self.cpu;
        let total = per_request(cpu.services + cpu.load_generator + cpu.nats_server);
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        println!(
            "    CPU per command at concurrency {concurrency}: services {:.0} µs, load \
             generator {:.0} µs, nats-server {:.0} µs; in all {total:.0} µs, so at most {:.0} \
             commands/s on {cores} cores",
            per_request(cpu.services),
            per_request(cpu.load_generator),
            per_request(cpu.nats_server),
            1e6 * cores as f64 / total.max(f64::MIN_POSITIVE),
        );
    }
}

/// The measured observation: a mood, which the service decides on the patient's observations
/// alone.
const MOOD: &str = r#"{"mood":6}"#;
/// A red-flag symptom: the service reads the patient's doses too (flagged within 72 h of a
/// dose; the benchmark's patients have none yet, so it is not flagged).
const SYMPTOM: &str = r#"{"symptom":{"symptom":"severe_headache","detail":null}}"#;

/// `count` requests to the bare responder, round-robin over the patients, each as long as a
/// measured command.
fn bare_requests(patients: &[Uuid], count: usize) -> Vec<(Subject, Bytes)> {
    observations(patients, 0, count, MOOD)
        .into_iter()
        .enumerate()
        .map(|(index, (_, body))| {
            let subject = format!("{BARE_REQUESTS}.{}", index % patients.len());
            (Subject::from(subject), body)
        })
        .collect()
}

/// `count` observations of `value` by the patient, round-robin over the patients starting at
/// `first`.
fn observations(
    patients: &[Uuid],
    first: usize,
    count: usize,
    value: &str,
) -> Vec<(Subject, Bytes)> {
    (first..first + count)
        .map(|index| {
            let patient = patients[index % patients.len()];
            let body = format!(
                r#"{{"command_id":"{}","patient_id":"{patient}","actor":{{"role":"patient","party_id":"{patient}"}},"data":{{"observation_id":"{}","value":{value}}}}}"#,
                Uuid::new_v4(),
                Uuid::new_v4(),
            );
            (Subject::from_static(MEASURED_SUBJECT), Bytes::from(body))
        })
        .collect()
}

fn start_course(patient: Uuid, clinic: Uuid) -> Bytes {
    Bytes::from(format!(
        r#"{{"command_id":"{}","patient_id":"{patient}","actor":{{"role":"clinic","party_id":"{clinic}"}},"data":{{"course_id":"{}","clinic_id":"{clinic}","path":"spravato","prescriber_id":"{}","age_65_or_older":false}}}}"#,
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    ))
}

/// CPU time (ns, from `/proc/<pid>/task/*/schedstat`) of the services' threads, of the rest of
/// this process (the load generator and its connection), and of nats-server. Zero where `/proc`
/// cannot be read: the figure is then missing, not wrong.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct CpuTime {
    pub(super) services: u64,
    pub(super) load_generator: u64,
    pub(super) nats_server: u64,
}

impl CpuTime {
    pub(super) fn now(nats_server: Option<u32>) -> CpuTime {
        let short = |name: &'static str| &name.as_bytes()[..name.len().min(15)];
        let mut time = CpuTime::default();
        for (name, nanos) in thread_cpu_nanos("self") {
            if [short(SERVICES), short(BARE)].contains(&name.as_bytes()) {
                time.services += nanos;
            } else {
                time.load_generator += nanos;
            }
        }
        if let Some(pid) = nats_server {
            time.nats_server = thread_cpu_nanos(&pid.to_string())
                .into_iter()
                .map(|(_, nanos)| nanos)
                .sum();
        }
        time
    }

    pub(super) fn minus(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            services: self.services.saturating_sub(earlier.services),
            load_generator: self.load_generator.saturating_sub(earlier.load_generator),
            nats_server: self.nats_server.saturating_sub(earlier.nats_server),
        }
    }

    fn plus(self, other: CpuTime) -> CpuTime {
        CpuTime {
            services: self.services + other.services,
            load_generator: self.load_generator + other.load_generator,
            nats_server: self.nats_server + other.nats_server,
        }
    }
}

/// Each thread of a process (`self` or a pid): its name and the CPU time it has used (ns).
fn thread_cpu_nanos(process: &str) -> Vec<(String, u64)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{process}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| {
            let path = task.ok()?.path();
            let name = std::fs::read_to_string(path.join("comm")).ok()?;
            let schedstat = std::fs::read_to_string(path.join("schedstat")).ok()?;
            let nanos = schedstat.split_whitespace().next()?.parse().ok()?;
            Some((name.trim_end().to_owned(), nanos))
        })
        .collect()
}

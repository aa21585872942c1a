//! The test harness: a private nats-server, the care log, the four services served over NATS,
//! and a client that sends commands as JSON and reads JSON replies, as a clinic integration
//! would.

use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use carelog_commands::{RuntimeOptions, REPLAYED_HEADER};
use carelog_eventlog::{AggregateKey, CareLog, CareLogConfig};
use carelog_schemas::{Family, PatientId};
use carelog_testkit::NatsServer;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// How long a test waits for a reply or for the services to come up.
const WAIT: Duration = Duration::from_secs(10);

pub(crate) struct Harness {
    pub(crate) log: CareLog,
    pub(crate) client: async_nats::Client,
    stop: watch::Sender<bool>,
    instances: Vec<JoinHandle<Result<(), carelog_commands::ServeError>>>,
    // Last, so the server outlives the connections when dropped.
    _server: NatsServer,
}

impl Harness {
    /// A server and one instance of each service.
    pub(crate) async fn start() -> Result<Harness> {
        Harness::start_instances(1).await
    }

    /// A server and `count` instances of each service, each on its own connection, sharing the
    /// queue groups.
    pub(crate) async fn start_instances(count: usize) -> Result<Harness> {
        let server = NatsServer::start().await?;
        let client = server.client().await?;
        let log = CareLog::connect(client.clone(), CareLogConfig::default())
            .await
            .context("set up the care stream")?;
        let (stop, stopped) = watch::channel(false);
        let mut instances = Vec::new();
        for _ in 0..count {
            let instance_client = server.client().await?;
            let instance_log = CareLog::connect(instance_client.clone(), CareLogConfig::default())
                .await
                .context("set up the care stream for an instance")?;
            let mut stopped = stopped.clone();
            instances.push(tokio::spawn(carelog_commandhost::serve_all(
                instance_client,
                instance_log,
                RuntimeOptions::default(),
                async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                },
            )));
        }
        let harness = Harness {
            log,
            client,
            stop,
            instances,
            _server: server,
        };
        harness.wait_until_serving(count).await?;
        Ok(harness)
    }

    /// Waits until every service answers (a request before its subscription has no
    /// responders).
    async fn wait_until_serving(&self, count: usize) -> Result<()> {
        tokio::time::timeout(WAIT, async {
            for service in ["dose", "consent", "target", "observation"] {
                loop {
                    let subject = format!("care.cmd.{service}.ping");
                    match self.client.request(subject, "{}".into()).await {
                        Ok(_) => break,
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
            }
            // With several instances, the others subscribe at about the same time; a short
            // flush round trip per instance orders their subscriptions before the test's
            // requests.
            for _ in 0..count {
                let _ = self.client.flush().await;
            }
        })
        .await
        .context("the command services did not come up")
    }

    /// Sends raw bytes to `care.cmd.<command>` (e.g. `dose.administer`) and returns the reply.
    pub(crate) async fn send_raw(&self, command: &str, body: Vec<u8>) -> Result<Reply> {
        let subject = format!("care.cmd.{command}");
        let message = tokio::time::timeout(WAIT, self.client.request(subject, body.into()))
            .await
            .context("no reply in time")?
            .context("request failed")?;
        let json: Value = serde_json::from_slice(&message.payload).context("reply is not JSON")?;
        let replayed = message
            .headers
            .as_ref()
            .and_then(|headers| headers.get(REPLAYED_HEADER))
            .is_some_and(|value| value.as_str() == "true");
        Ok(Reply {
            json,
            replayed,
            body: message.payload.to_vec(),
        })
    }

    /// Sends a command envelope.
    pub(crate) async fn send(&self, command: &str, envelope: &Value) -> Result<Reply> {
        self.send_raw(command, envelope.to_string().into_bytes())
            .await
    }

    /// Stops the services gracefully and waits for them.
    pub(crate) async fn stop(mut self) -> Result<()> {
        let _ = self.stop.send(true);
        for instance in self.instances.drain(..) {
            instance.await.context("join a service instance")??;
        }
        Ok(())
    }

    /// The number of commits on one aggregate.
    pub(crate) async fn commits(&self, patient_id: PatientId, family: Family) -> Result<usize> {
        Ok(self
            .log
            .load_aggregate(AggregateKey::new(patient_id, family))
            .await?
            .commits()
            .len())
    }
}

/// A reply: its JSON, its raw body, and whether it was answered from the log.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) json: Value,
    pub(crate) body: Vec<u8>,
    pub(crate) replayed: bool,
}

impl Reply {
    pub(crate) fn ok(&self) -> bool {
        self.json["ok"] == json!(true)
    }

    pub(crate) fn code(&self) -> Option<&str> {
        self.json["error"]["code"].as_str()
    }

    pub(crate) fn rule(&self) -> Option<&str> {
        self.json["error"]["rule"].as_str()
    }

    pub(crate) fn field(&self) -> Option<&str> {
        self.json["error"]["field"].as_str()
    }

    /// The data of the last event of an accepted command.
    pub(crate) fn last_data(&self) -> &Value {
        self.json["events"]
            .as_array()
            .and_then(|events| events.last())
            .map_or(&Value::Null, |event| &event["data"])
    }

    /// The id of an accepted command's first event.
    pub(crate) fn event_id(&self) -> anyhow::Result<String> {
        self.json["events"][0]["event_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no event id in {}", self.json))
    }

    pub(crate) fn position(&self) -> u64 {
        self.json["position"].as_u64().unwrap_or(0)
    }
}

/// The parties of one test patient.
#[derive(Debug, Clone)]
pub(crate) struct Cast {
    pub(crate) patient_id: String,
    pub(crate) patient: Value,
    pub(crate) clinic_id: String,
    pub(crate) clinic: Value,
    pub(crate) other_clinic: Value,
    pub(crate) therapist_id: String,
    pub(crate) therapist: Value,
    pub(crate) other_therapist: Value,
    pub(crate) auditor: Value,
}

pub(crate) fn new_id() -> String {
    Uuid::new_v4().to_string()
}

fn actor(role: &str, party_id: &str) -> Value {
    json!({ "role": role, "party_id": party_id })
}

impl Cast {
    pub(crate) fn new() -> Cast {
        let patient_id = new_id();
        let clinic_id = new_id();
        let therapist_id = new_id();
        Cast {
            patient: actor("patient", &patient_id),
            clinic: actor("clinic", &clinic_id),
            other_clinic: actor("clinic", &new_id()),
            therapist: actor("therapist", &therapist_id),
            other_therapist: actor("therapist", &new_id()),
            auditor: actor("auditor", &new_id()),
            patient_id,
            clinic_id,
            therapist_id,
        }
    }

    pub(crate) fn patient_id(&self) -> PatientId {
        self.patient_id
            .parse()
            .unwrap_or_else(|_| PatientId::new_random())
    }

    /// A command envelope with a fresh command id.
    pub(crate) fn command(&self, actor: &Value, data: Value) -> Value {
        json!({
            "command_id": new_id(),
            "patient_id": self.patient_id,
            "actor": actor,
            "data": data,
        })
    }
}

/// What a check expects: accepted with these flags on its last event (`None`: do not look), or
/// rejected with a code and a rule.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expect {
    Accepted(Option<&'static [&'static str]>),
    Rejected(&'static str, Option<&'static str>),
}

pub(crate) const OK: Expect = Expect::Accepted(None);

pub(crate) const fn flags(flags: &'static [&'static str]) -> Expect {
    Expect::Accepted(Some(flags))
}

pub(crate) const fn rejected(code: &'static str, rule: &'static str) -> Expect {
    Expect::Rejected(code, Some(rule))
}

/// Sends one command and checks its reply; a rejected command must leave the log as it was.
pub(crate) async fn check(
    harness: &Harness,
    what: &str,
    command: &str,
    envelope: Value,
    expect: Expect,
) -> Result<Reply> {
    let before = harness.log.last_position().await?;
    let reply = harness.send(command, &envelope).await?;
    let after = harness.log.last_position().await?;
    match expect {
        Expect::Accepted(expected_flags) => {
            if !reply.ok() {
                bail!("{what}: expected acceptance, got {}", reply.json);
            }
            if after != before + 1 || reply.position() != after {
                bail!("{what}: expected one commit at {after}, log went {before} -> {after}");
            }
            if let Some(expected_flags) = expected_flags {
                let found = &reply.last_data()["flags"];
                if *found != json!(expected_flags) {
                    bail!("{what}: expected flags {expected_flags:?}, got {found}");
                }
            }
        }
        Expect::Rejected(code, rule) => {
            if reply.ok() || reply.code() != Some(code) || (rule.is_some() && reply.rule() != rule)
            {
                bail!("{what}: expected {code} {rule:?}, got {}", reply.json);
            }
            if reply.json["error"]["message"]
                .as_str()
                .is_none_or(str::is_empty)
            {
                bail!("{what}: the error has no message: {}", reply.json);
            }
            if after != before {
                bail!("{what}: a rejected command appended ({before} -> {after})");
            }
        }
    }
    Ok(reply)
}

//! Deciding and appending one command: load the patient's aggregate, answer a retry from the
//! log, let the service decide on fresh state, append at the head it decided on, and on a
//! conflict start over, a bounded number of times.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use carelog_eventlog::{
    AggregateHistory, AggregateKey, AppendError, AppendOutcome, CareLog, Fold, ReadError,
    StoredCommit,
};
use carelog_schemas::{
    Actor, CommandId, Commit, CommitDraft, CommitId, EventId, EventPayload, EventRecord, Family,
    PatientId, RecordedEvent, Timestamp,
};
use sha2::{Digest, Sha256};

use crate::envelope::{parse_envelope, CommandData, CommandMeta};
use crate::error::{CommandError, ErrorCode};
use crate::state::{ConsentState, DoseState};

/// How hard the runtime tries before giving up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// How many times a command is decided and appended when the aggregate keeps moving.
    pub conflict_attempts: u32,
    /// How many commands one service instance works on at once.
    pub max_in_flight: usize,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            conflict_attempts: 8,
            max_in_flight: 64,
        }
    }
}

/// One event a command produces, before the log places it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub occurred_at: Timestamp,
    pub payload: EventPayload,
}

impl NewEvent {
    pub fn new(occurred_at: Timestamp, payload: impl Into<EventPayload>) -> Self {
        NewEvent {
            occurred_at,
            payload: payload.into(),
        }
    }
}

/// A command with its envelope, as a service decides on it.
#[derive(Debug, Clone)]
pub struct Request<C> {
    pub meta: CommandMeta,
    /// The last token of the subject it came on, e.g. `administer`.
    pub name: &'static str,
    /// When this service received it: the clock for "expiry in the future" and the default
    /// `occurred_at`.
    pub received_at: Timestamp,
    pub command: C,
}

impl<C> Request<C> {
    pub fn actor(&self) -> Actor {
        self.meta.actor
    }

    /// When the recorded thing happened: as the caller says, else when it was received.
    pub fn occurred_at(&self) -> Timestamp {
        self.meta.occurred_at.unwrap_or(self.received_at)
    }
}

/// One command service: the family it writes, the commands it takes, and its rules.
pub trait Service: Send + Sync + 'static {
    /// The service's name: the third token of its subjects (`care.cmd.<name>.<command>`).
    const NAME: &'static str;
    /// The family (aggregate) this service appends to.
    const FAMILY: Family;
    /// The names of its commands, the last token of their subjects.
    const COMMANDS: &'static [&'static str];
    type Command: Send + Sync + 'static;

    /// Reads a command's `data`; `name` is one of [`Service::COMMANDS`].
    fn parse(&self, name: &str, data: CommandData<'_>) -> Result<Self::Command, CommandError>;

    /// Checks the command against the rules on the state in `context` and returns the events
    /// to append (at least one), or why not.
    fn decide(
        &self,
        context: &Context<'_>,
        request: &Request<Self::Command>,
    ) -> impl Future<Output = Result<Vec<NewEvent>, CommandError>> + Send;
}

/// What a service can read while deciding: its own aggregate as this attempt sees it (the
/// cached history on a first attempt, possibly behind: the append guards it), and the
/// patient's other families (read fresh).
#[derive(Debug)]
pub struct Context<'a> {
    log: &'a CareLog,
    own: &'a AggregateHistory,
}

impl<'a> Context<'a> {
    /// The aggregate the command appends to, as this attempt sees it (cached or loaded).
    pub fn own(&self) -> &'a AggregateHistory {
        self.own
    }

    pub fn patient_id(&self) -> PatientId {
        self.own.key.patient_id
    }

    /// Another family of the same patient. Reads of other families are not guarded by the
    /// append: they are as fresh as this attempt.
    pub async fn load(&self, family: Family) -> Result<Arc<AggregateHistory>, CommandError> {
        load(self.log, AggregateKey::new(self.patient_id(), family)).await
    }

    /// The state `F` of the patient's `family`: the own aggregate's as this attempt sees it,
    /// another's as loaded now. Folded only over the commits it was not folded over before.
    pub async fn folded<F: Fold>(&self, family: Family) -> Result<Arc<F>, CommandError> {
        if family == self.own.key.family {
            return Ok(self.own.folded());
        }
        Ok(self.load(family).await?.folded())
    }

    /// The patient's consents.
    pub async fn consents(&self) -> Result<Arc<ConsentState>, CommandError> {
        self.folded(Family::Consent).await
    }

    /// The patient's courses and doses.
    pub async fn doses(&self) -> Result<Arc<DoseState>, CommandError> {
        self.folded(Family::Dose).await
    }
}

async fn load(log: &CareLog, key: AggregateKey) -> Result<Arc<AggregateHistory>, CommandError> {
    log.load_aggregate(key).await.map_err(|error| {
        tracing::error!(aggregate = %key, %error, "could not load an aggregate");
        read_unavailable(&error)
    })
}

fn read_unavailable(error: &ReadError) -> CommandError {
    match error {
        ReadError::Transport { .. } => {
            CommandError::unavailable("the care log could not be read; send the same command again")
        }
        _ => CommandError::unavailable(
            "the patient's record could not be read completely; nothing was decided",
        ),
    }
}

/// How a command ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Its events are in the log at `position`. `replayed` when they were appended by an
    /// earlier delivery of the same command id.
    Accepted {
        command_id: CommandId,
        position: u64,
        /// The commit holding its events (one reply, not one copy of the events per reply).
        commit: Arc<Commit>,
        replayed: bool,
    },
    /// Refused; nothing was appended.
    Rejected {
        command_id: Option<CommandId>,
        error: CommandError,
    },
}

impl Outcome {
    /// The events of an accepted command, each with its full envelope; none for a rejection.
    pub fn events(&self) -> Vec<RecordedEvent> {
        match self {
            Outcome::Accepted {
                position, commit, ..
            } => commit.recorded_events(*position),
            Outcome::Rejected { .. } => Vec::new(),
        }
    }

    /// The reply body as it is sent: the bytes of [`Outcome::to_json`] printed, an acceptance
    /// written straight from its commit. A replay's body is byte-for-byte the first answer's;
    /// only the `Carelog-Replayed` header tells them apart.
    pub fn reply_body(&self) -> Vec<u8> {
        let Outcome::Accepted {
            command_id,
            position,
            commit,
            ..
        } = self
        else {
            return self.to_json().to_string().into_bytes();
        };
        // The keys in the order the printed `serde_json::Value` has them (sorted).
        let mut body = Vec::with_capacity(REPLY_CAPACITY);
        body.extend_from_slice(b"{\"command_id\":\"");
        body.extend_from_slice(
            command_id
                .as_uuid()
                .hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer())
                .as_bytes(),
        );
        body.extend_from_slice(b"\",\"events\":");
        if let Err(error) = RecordedEvent::write_json_array(commit, *position, &mut body) {
            // Printing our own events cannot fail; should it, the slower form says the same.
            tracing::error!(%error, "could not write a reply's events");
            return self.to_json().to_string().into_bytes();
        }
        body.extend_from_slice(b",\"ok\":true,\"position\":");
        body.extend_from_slice(position.to_string().as_bytes());
        body.push(b'}');
        body
    }

    /// The reply body as a JSON value (see README.md beside this crate).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Outcome::Accepted {
                command_id,
                position,
                ..
            } => serde_json::json!({
                "ok": true,
                "command_id": command_id,
                "position": position,
                "events": self.events().iter().map(RecordedEvent::to_json).collect::<Vec<_>>(),
            }),
            Outcome::Rejected { command_id, error } => serde_json::json!({
                "ok": false,
                "command_id": command_id,
                "error": error,
            }),
        }
    }
}

/// Room for a typical reply (one event), so writing it rarely reallocates.
const REPLY_CAPACITY: usize = 1024;

/// The commit id of a command's commit on an aggregate: a UUIDv8 made of SHA-256 over the
/// command id and the aggregate, so every delivery of the command produces the same
/// `Nats-Msg-Id` (JetStream's own dedupe applies within its window), while one command id used on
/// two aggregates never collides.
pub fn commit_id_for(command_id: CommandId, key: AggregateKey) -> CommitId {
    let mut hasher = Sha256::new();
    hasher.update(b"carelog.commit-id.v1\0");
    hasher.update(command_id.as_uuid().as_bytes());
    hasher.update(key.family.as_str().as_bytes());
    hasher.update(b"\0");
    hasher.update(key.patient_id.as_uuid().as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0_u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    let uuid = uuid::Builder::from_custom_bytes(bytes).into_uuid();
    // Version and variant bits are set, so the UUID is never nil.
    CommitId::try_from(uuid).unwrap_or_else(|_| CommitId::new_random())
}

fn replay(stored: &StoredCommit, actor: Actor) -> Outcome {
    let command_id = stored.commit.command_id();
    if stored.commit.actor() != actor {
        return Outcome::Rejected {
            command_id: Some(command_id),
            error: CommandError::rule(
                ErrorCode::Conflict,
                "command_id_unique",
                "this command id was already used by another actor; choose a new command id",
            )
            .at("command_id"),
        };
    }
    Outcome::Accepted {
        command_id,
        position: stored.position,
        commit: stored.commit.clone(),
        replayed: true,
    }
}

/// Runs one command from the bytes of its request to its outcome. `name` is the last token of
/// the subject it came on.
pub async fn execute<S: Service>(
    service: &S,
    log: &CareLog,
    options: RuntimeOptions,
    name: &str,
    payload: &[u8],
) -> Outcome {
    let raw = match parse_envelope(payload) {
        Ok(raw) => raw,
        Err((command_id, error)) => return Outcome::Rejected { command_id, error },
    };
    let command_id = raw.meta.command_id;
    let rejected = |error| Outcome::Rejected {
        command_id: Some(command_id),
        error,
    };
    let Some(name) = S::COMMANDS.iter().copied().find(|known| *known == name) else {
        return rejected(CommandError::invalid(
            "known_command",
            format!(
                "the {} service has no command {name:?}; it takes: {}",
                S::NAME,
                S::COMMANDS.join(", ")
            ),
        ));
    };
    let command = match service.parse(name, raw.data) {
        Ok(command) => command,
        Err(error) => return rejected(error),
    };
    let request = Request {
        meta: raw.meta,
        name,
        received_at: Timestamp::now(),
        command,
    };
    match decide_and_append(service, log, options, &request).await {
        Ok(outcome) => outcome,
        Err(error) => rejected(error),
    }
}

async fn decide_and_append<S: Service>(
    service: &S,
    log: &CareLog,
    options: RuntimeOptions,
    request: &Request<S::Command>,
) -> Result<Outcome, CommandError> {
    let key = AggregateKey::new(request.meta.patient_id, S::FAMILY);
    // First on the aggregate as this process last saw it (usually up to date: its own appends
    // keep it so), without reading the head: the append names the head it was decided on, so a
    // stale history can only end in a conflict, never in a wrong append. What the append does
    // not guard (a refusal) is decided again on a fresh load.
    if let Some(cached) = log.cached_aggregate(key) {
        match attempt(service, log, request, key, cached, Freshness::Cached).await? {
            Attempt::Done(outcome) => return Ok(outcome),
            Attempt::Again => {
                tracing::debug!(
                    "the cached aggregate was behind, or refused the command; deciding on a fresh load"
                );
            }
        }
    }
    let attempts = options.conflict_attempts.max(1);
    for number in 1..=attempts {
        let history = load(log, key).await?;
        match attempt(service, log, request, key, history, Freshness::Loaded).await? {
            Attempt::Done(outcome) => return Ok(outcome),
            Attempt::Again => {
                tracing::debug!(
                    attempt = number,
                    "aggregate moved while deciding; deciding again"
                );
                tokio::time::sleep(conflict_backoff(number)).await;
            }
        }
    }
    tracing::warn!(attempts, "gave up after repeated conflicts");
    Err(CommandError::rule(
        ErrorCode::Conflict,
        "concurrent_writers",
        format!(
            "the patient's {} record kept changing while this command was decided ({attempts} \
             attempts); send the same command again",
            S::FAMILY
        ),
    ))
}

/// Where the own aggregate of an attempt came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freshness {
    /// From this process's cache, without asking the log: possibly behind.
    Cached,
    /// Loaded for this attempt (head read from the stream leader).
    Loaded,
}

/// How one attempt ended.
enum Attempt {
    Done(Outcome),
    /// The aggregate moved (or, on a cached history, the decision was a refusal): decide again
    /// on a fresh load.
    Again,
}

/// Decides on `history` and appends at its head. The history is let go before the append, so
/// that the append can extend the cached history in place.
async fn attempt<S: Service>(
    service: &S,
    log: &CareLog,
    request: &Request<S::Command>,
    key: AggregateKey,
    history: Arc<AggregateHistory>,
    freshness: Freshness,
) -> Result<Attempt, CommandError> {
    // The log is immutable: a command id found in any prefix of the history is really there.
    if let Some(stored) = history.find_command(request.meta.command_id) {
        return Ok(Attempt::Done(replay(stored, request.actor())));
    }
    let context = Context { log, own: &history };
    let decided = service.decide(&context, request).await;
    let head = history.head;
    drop(history);
    let events = match decided {
        Ok(events) => events,
        // A refusal is not checked by any append: only a fresh history may refuse.
        Err(_) if freshness == Freshness::Cached => return Ok(Attempt::Again),
        Err(error) => return Err(error),
    };
    let draft = CommitDraft {
        commit_id: commit_id_for(request.meta.command_id, key),
        command_id: request.meta.command_id,
        correlation_id: request.meta.correlation_id,
        patient_id: request.meta.patient_id,
        family: S::FAMILY,
        actor: request.actor(),
        events: events
            .into_iter()
            .map(|event| EventRecord {
                event_id: EventId::now_v7(),
                occurred_at: event.occurred_at,
                payload: event.payload,
            })
            .collect(),
    };
    match log.append(draft, head).await {
        Ok(AppendOutcome::Appended(appended)) => {
            tracing::info!(position = appended.position, ?freshness, "command appended");
            Ok(Attempt::Done(Outcome::Accepted {
                command_id: request.meta.command_id,
                position: appended.position,
                commit: appended.commit,
                replayed: false,
            }))
        }
        Ok(AppendOutcome::Duplicate { position }) => {
            // Another delivery of this command landed first (the same commit id): answer
            // with what it appended.
            let history = load(log, key).await?;
            match history.find_command(request.meta.command_id) {
                Some(stored) => Ok(Attempt::Done(replay(stored, request.actor()))),
                None => {
                    tracing::error!(position, "commit id taken by another command");
                    Err(CommandError::rule(
                        ErrorCode::Conflict,
                        "command_id_unique",
                        "this command id collides with an earlier commit; choose a new command id",
                    )
                    .at("command_id"))
                }
            }
        }
        Err(AppendError::Conflict { .. }) => Ok(Attempt::Again),
        Err(error @ AppendError::Shape(_)) => {
            tracing::error!(%error, "a service produced a malformed commit");
            Err(CommandError::invalid(
                "commit_shape",
                "the command would produce a malformed commit",
            ))
        }
        Err(error) => {
            tracing::error!(%error, "append failed");
            Err(CommandError::unavailable(
                "the care log did not acknowledge the command; send the same command again",
            ))
        }
    }
}

/// A short, growing, randomised pause, so racing writers do not meet again at once.
fn conflict_backoff(attempt: u32) -> Duration {
    let jitter = uuid::Uuid::new_v4().as_u128() % 10;
    let jitter = u64::try_from(jitter).unwrap_or(0);
    Duration::from_millis((jitter + 1) * u64::from(attempt.min(8)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_ids_are_deterministic_per_command_and_aggregate() {
        let command = CommandId::new_random();
        let patient = PatientId::new_random();
        let dose = AggregateKey::new(patient, Family::Dose);
        let target = AggregateKey::new(patient, Family::Target);
        assert_eq!(commit_id_for(command, dose), commit_id_for(command, dose));
        assert_ne!(commit_id_for(command, dose), commit_id_for(command, target));
        assert_ne!(
            commit_id_for(command, dose),
            commit_id_for(CommandId::new_random(), dose)
        );
        assert_eq!(commit_id_for(command, dose).as_uuid().get_version_num(), 8);
    }

    #[test]
    fn a_reply_is_written_as_its_json_value_prints() {
        let command_id = CommandId::new_random();
        let patient_id = PatientId::new_random();
        let event = |data: serde_json::Value| EventRecord {
            event_id: EventId::now_v7(),
            occurred_at: Timestamp::now(),
            payload: EventPayload::from_json_parts(
                Family::Observation,
                "observation_recorded",
                1,
                data,
            )
            .expect("valid observation"),
        };
        let draft = CommitDraft {
            commit_id: commit_id_for(command_id, AggregateKey::new(patient_id, Family::Dose)),
            command_id,
            correlation_id: carelog_schemas::CorrelationId::new_random(),
            patient_id,
            family: Family::Observation,
            actor: Actor {
                role: carelog_schemas::Role::Patient,
                party_id: crate::authorize::patient_party(patient_id),
            },
            events: vec![
                event(serde_json::json!({
                    "observation_id": uuid::Uuid::new_v4(), "value": { "mood": 6 }, "flags": []
                })),
                event(serde_json::json!({
                    "observation_id": uuid::Uuid::new_v4(),
                    "value": { "note": "slept \"well\" \u{e9}\n" },
                    "flags": ["red_flag_symptom_within_72h"]
                })),
            ],
        };
        let (commit, _) = Commit::seal(
            draft,
            Timestamp::now(),
            17,
            carelog_schemas::CommitHash::GENESIS,
        )
        .expect("seal");
        let outcomes = [
            Outcome::Accepted {
                command_id,
                position: 18,
                commit: Arc::new(commit),
                replayed: false,
            },
            Outcome::Rejected {
                command_id: Some(command_id),
                error: CommandError::violated("a_rule", "refused").at("data.x"),
            },
            Outcome::Rejected {
                command_id: None,
                error: CommandError::new(ErrorCode::Invalid, "not JSON"),
            },
        ];
        for outcome in outcomes {
            assert_eq!(
                String::from_utf8(outcome.reply_body()).expect("UTF-8"),
                outcome.to_json().to_string()
            );
        }
    }
}

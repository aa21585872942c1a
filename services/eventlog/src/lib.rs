//! The care log client: every service appends to and reads from the care log through this
//! crate. It owns the JetStream stream settings, the subject scheme, optimistic concurrency
//! per aggregate, deduplication, the per-subject hash chain and its verification.

mod append;
mod cache;
mod config;
mod history;
mod read;
mod subject;
mod verify;

pub use append::{AppendError, AppendOutcome, Appended, PendingAppend};
pub use config::{CareLogConfig, ConfigError, MIN_DUPLICATE_WINDOW};
pub use history::{AggregateHistory, Fold};
pub use read::{CommitStream, ReadError, StoredCommit};
pub use subject::{AggregateKey, SubjectError, CARE_SUBJECT_PREFIX};
pub use verify::{BreakKind, ChainBreak, VerifyReport};

use async_nats::jetstream;
use carelog_schemas::CommitHash;

/// Where an aggregate stands in the log: the position and hash of its last commit. An append
/// names the head it was decided on; the log refuses it if the aggregate has moved since.
///
/// Heads come only from the log (`head`, `load_aggregate`, an append's outcome) or are
/// [`AggregateHead::EMPTY`]: JetStream checks the position, and the hash that goes with it must
/// be the real one, or the chain would break where nobody checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggregateHead {
    position: u64,
    hash: CommitHash,
}

impl AggregateHead {
    /// The head of an aggregate with no commits yet.
    pub const EMPTY: AggregateHead = AggregateHead {
        position: 0,
        hash: CommitHash::GENESIS,
    };

    pub(crate) fn new(position: u64, hash: CommitHash) -> Self {
        AggregateHead { position, hash }
    }

    /// Log position (stream sequence) of the aggregate's last commit; 0 if it has none.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Hash of that commit; [`CommitHash::GENESIS`] if it has none.
    pub fn hash(&self) -> CommitHash {
        self.hash
    }
}

/// Why the care stream could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("invalid care log configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("create or update the JetStream stream {stream}: {reason}")]
    Stream { stream: String, reason: String },
    #[error("open the JetStream stream {stream}: {reason}")]
    Open { stream: String, reason: String },
    #[error(
        "the JetStream stream {stream} does not exist: set it up first with `carelog setup` \
         (or `carelog run`), as a NATS user allowed to manage it (`carelog` in \
         infra/nats/authorization.conf)"
    )]
    Missing { stream: String },
    #[error(
        "the JetStream stream {stream} does not keep the care log's history safely ({problems}); \
         `carelog setup` restores the settings the server lets it change (storage, retention and \
         a seal are fixed once set: such a stream has to be replaced by hand)"
    )]
    Settings { stream: String, problems: String },
    #[error(
        "the JetStream stream {stream} has {live} replicas and the configuration says \
         {configured}: set CARELOG_REPLICAS={live} (fewer replicas are set by hand, never by \
         set-up)"
    )]
    FewerReplicas {
        stream: String,
        live: usize,
        configured: usize,
    },
}

/// The JetStream context for `config`, once its settings are checked.
fn context(
    client: async_nats::Client,
    config: &CareLogConfig,
) -> Result<jetstream::Context, SetupError> {
    config.validate()?;
    let mut jetstream = jetstream::new(client);
    jetstream.set_timeout(config.ack_timeout);
    Ok(jetstream)
}

/// Attempts of `CareLog::connect` at creating or updating the stream.
const STREAM_SETUP_ATTEMPTS: u32 = 3;

/// Whether a failed create-or-update may pass when sent again: it timed out, or it lost a race
/// with another process creating the stream.
fn setup_may_pass_again(error: &jetstream::context::CreateStreamError) -> bool {
    match error.kind() {
        jetstream::context::CreateStreamErrorKind::TimedOut => true,
        jetstream::context::CreateStreamErrorKind::JetStream(inner) => {
            inner.error_code() == jetstream::ErrorCode::STREAM_NAME_EXIST
        }
        _ => false,
    }
}

/// The care stream with its info; [`SetupError::Missing`] when there is none.
async fn open_stream(
    jetstream: &jetstream::Context,
    config: &CareLogConfig,
) -> Result<jetstream::stream::Stream, SetupError> {
    jetstream
        .get_stream(&config.stream_name)
        .await
        .map_err(|error| match error.kind() {
            jetstream::context::GetStreamErrorKind::JetStream(inner)
                if inner.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
            {
                SetupError::Missing {
                    stream: config.stream_name.clone(),
                }
            }
            _ => SetupError::Open {
                stream: config.stream_name.clone(),
                reason: error.to_string(),
            },
        })
}

/// A handle on the care log. Cheap to clone; clones share the connection.
#[derive(Debug, Clone)]
pub struct CareLog {
    jetstream: jetstream::Context,
    /// Handle on the care stream (no server round trip to obtain it again).
    stream: jetstream::stream::Stream<()>,
    config: CareLogConfig,
    /// Aggregates loaded recently, shared by clones (`load_aggregate`).
    cache: std::sync::Arc<cache::AggregateCache>,
}

impl CareLog {
    /// Creates or updates the care stream with the settings of `config` (idempotent), and
    /// returns a handle on it.
    pub async fn connect(
        client: async_nats::Client,
        config: CareLogConfig,
    ) -> Result<CareLog, SetupError> {
        let jetstream = context(client, &config)?;
        // Never fewer replicas than the stream has: a set-up run with the single-machine
        // default against a cluster's stream would otherwise drop its copies.
        match open_stream(&jetstream, &config).await {
            Ok(stream) => {
                let live = stream.cached_info().config.num_replicas;
                if live > config.replicas {
                    return Err(SetupError::FewerReplicas {
                        stream: config.stream_name.clone(),
                        live,
                        configured: config.replicas,
                    });
                }
            }
            Err(SetupError::Missing { .. }) => {}
            Err(error) => return Err(error),
        }
        // Idempotent, so tried again when it may have lost a race with another set-up (two
        // processes creating the stream at once: "name already in use") or waited behind one
        // on a slow disk (a timeout). A user without the right is refused by a timeout too,
        // so the attempts are few.
        let mut attempt = 1;
        loop {
            match jetstream
                .create_or_update_stream(config.stream_config())
                .await
            {
                Ok(_) => break,
                Err(error) if attempt < STREAM_SETUP_ATTEMPTS && setup_may_pass_again(&error) => {
                    tracing::debug!(attempt, %error, "setting the care stream up again");
                    attempt += 1;
                }
                Err(error) => {
                    return Err(SetupError::Stream {
                        stream: config.stream_name.clone(),
                        reason: error.to_string(),
                    })
                }
            }
        }
        tracing::debug!(stream = %config.stream_name, replicas = config.replicas, "care stream ready");
        CareLog::on_stream(jetstream, config).await
    }

    /// A handle on the care stream as it is, without creating or changing it: for readers
    /// whose NATS user may not manage streams (an auditor's `carelog verify`). Fails when the
    /// stream does not exist. Appending through it works only where the user may publish.
    pub async fn open(
        client: async_nats::Client,
        config: CareLogConfig,
    ) -> Result<CareLog, SetupError> {
        let jetstream = context(client, &config)?;
        // Asks for the stream's info: a missing stream is an error here (`Missing`, saying how
        // to create it), not at the first read.
        open_stream(&jetstream, &config).await?;
        CareLog::on_stream(jetstream, config).await
    }

    /// A handle on the care stream for a process whose NATS user may use the stream but not
    /// manage it (a command service, the projections): opens it as it is, like [`open`], and
    /// refuses a stream whose settings would lose history, allow deletes or shorten the
    /// deduplication (set up by hand, or changed since), naming each problem. A missing stream
    /// is [`SetupError::Missing`], which says how to create it.
    ///
    /// [`open`]: CareLog::open
    pub async fn open_checked(
        client: async_nats::Client,
        config: CareLogConfig,
    ) -> Result<CareLog, SetupError> {
        let jetstream = context(client, &config)?;
        let stream = open_stream(&jetstream, &config).await?;
        let problems = config::settings_problems(&config, &stream.cached_info().config);
        if !problems.is_empty() {
            return Err(SetupError::Settings {
                stream: config.stream_name.clone(),
                problems: problems.join("; "),
            });
        }
        CareLog::on_stream(jetstream, config).await
    }

    /// The handle on a stream known to exist.
    async fn on_stream(
        jetstream: jetstream::Context,
        config: CareLogConfig,
    ) -> Result<CareLog, SetupError> {
        let stream = jetstream
            .get_stream_no_info(&config.stream_name)
            .await
            .map_err(|error| SetupError::Open {
                stream: config.stream_name.clone(),
                reason: error.to_string(),
            })?;
        Ok(CareLog {
            jetstream,
            stream,
            config,
            cache: std::sync::Arc::default(),
        })
    }

    pub fn config(&self) -> &CareLogConfig {
        &self.config
    }

    /// The JetStream context, for tools and benchmarks that measure the raw log.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// The last log position (stream sequence) written so far; 0 for an empty log.
    pub async fn last_position(&self) -> Result<u64, ReadError> {
        let info = self
            .stream
            .get_info()
            .await
            .map_err(ReadError::transport("read the care stream's state"))?;
        Ok(info.state.last_sequence)
    }
}

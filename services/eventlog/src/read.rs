//! Reading the log: one aggregate's history in order, or the whole log from a position (an
//! ordered consumer), for replays and projections. An undecodable message is a typed error
//! carrying its position, never a panic and never silently skipped.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::stream::{
    DirectGetErrorKind, LastRawMessageErrorKind, Stream as JetStream,
};
use bytes::Bytes;
use carelog_schemas::{Commit, CommitHash, DecodeError};
use futures::{Stream, StreamExt};

use crate::history::AggregateHistory;
use crate::subject::{AggregateKey, SubjectError};
use crate::{AggregateHead, CareLog};

/// A commit as read from the log, with where it is.
#[derive(Debug, Clone)]
pub struct StoredCommit {
    /// Log position (stream sequence).
    pub position: u64,
    pub key: AggregateKey,
    /// The commit's own hash (checked against its body when it was decoded).
    pub hash: CommitHash,
    /// Shared: cached histories are handed out on every command, and a clone of a history
    /// should not copy every event of it.
    pub commit: Arc<Commit>,
}

impl StoredCommit {
    /// The aggregate's head right after this commit.
    pub fn head(&self) -> AggregateHead {
        AggregateHead::new(self.position, self.hash)
    }

    /// Decodes one message of the care stream that the caller read with a consumer of its own
    /// (a projection's durable consumer), with the same checks as every read of this crate:
    /// subject scheme, frame, hash, shape, and the commit filed under its own subject.
    pub fn decode(position: u64, subject: &str, payload: Bytes) -> Result<StoredCommit, ReadError> {
        RawEntry {
            position,
            subject: subject.to_owned(),
            payload,
        }
        .decode()
    }
}

/// How many commits behind a cached aggregate may be and still be caught up one request per
/// commit; further behind, it is read again whole.
const MAX_CACHED_CATCH_UP: usize = 16;

/// Why something could not be read from the log.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("message at log position {position} on {subject} is not a valid commit: {source}")]
    Undecodable {
        position: u64,
        subject: String,
        #[source]
        source: DecodeError,
    },
    #[error("message at log position {position} is on a subject outside the scheme: {source}")]
    ForeignSubject {
        position: u64,
        #[source]
        source: SubjectError,
    },
    #[error(
        "commit at log position {position} on {subject} belongs to {found}, not to its subject"
    )]
    MisfiledCommit {
        position: u64,
        subject: String,
        found: AggregateKey,
    },
    #[error("{action}: {reason}")]
    Transport {
        action: &'static str,
        reason: String,
    },
    /// A bounded read got no message for a long while before reaching its end: the server is
    /// unreachable, or the positions it was waiting for are gone from the log.
    #[error("no message after log position {after} for {waited:?}, before the end of the read")]
    Stalled { after: u64, waited: Duration },
}

impl ReadError {
    pub(crate) fn transport<E: std::fmt::Display>(
        action: &'static str,
    ) -> impl FnOnce(E) -> ReadError {
        move |error| ReadError::Transport {
            action,
            reason: error.to_string(),
        }
    }

    /// The log position the error is about, when it is about one message.
    pub fn position(&self) -> Option<u64> {
        match self {
            ReadError::Undecodable { position, .. }
            | ReadError::ForeignSubject { position, .. }
            | ReadError::MisfiledCommit { position, .. } => Some(*position),
            ReadError::Transport { .. } | ReadError::Stalled { .. } => None,
        }
    }
}

/// Commits in log order; an item is an error for a message that cannot be read, and the
/// stream goes on after it.
pub type CommitStream = Pin<Box<dyn Stream<Item = Result<StoredCommit, ReadError>> + Send>>;

/// A message as stored, before decoding.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    pub(crate) position: u64,
    pub(crate) subject: String,
    pub(crate) payload: Bytes,
}

impl From<async_nats::jetstream::message::StreamMessage> for RawEntry {
    /// A message read by position or as a subject's last (a stream get, direct or not).
    fn from(message: async_nats::jetstream::message::StreamMessage) -> RawEntry {
        RawEntry {
            position: message.sequence,
            subject: message.subject.to_string(),
            payload: message.payload,
        }
    }
}

pub(crate) type RawStream = Pin<Box<dyn Stream<Item = Result<RawEntry, ReadError>> + Send>>;

impl RawEntry {
    pub(crate) fn decode(&self) -> Result<StoredCommit, ReadError> {
        let key = AggregateKey::from_subject(&self.subject).map_err(|source| {
            ReadError::ForeignSubject {
                position: self.position,
                source,
            }
        })?;
        let (commit, hash) =
            Commit::decode(&self.payload).map_err(|source| ReadError::Undecodable {
                position: self.position,
                subject: self.subject.clone(),
                source,
            })?;
        let found = AggregateKey::new(commit.patient_id(), commit.family());
        if found != key {
            return Err(ReadError::MisfiledCommit {
                position: self.position,
                subject: self.subject.clone(),
                found,
            });
        }
        Ok(StoredCommit {
            position: self.position,
            key,
            hash,
            commit: Arc::new(commit),
        })
    }
}

impl CareLog {
    /// How long a bounded read waits for its next message before giving up.
    pub(crate) fn idle_timeout(&self) -> Duration {
        self.config.ack_timeout * 4
    }

    fn stream_handle(&self) -> &JetStream<()> {
        &self.stream
    }

    /// The head of one aggregate (position and hash of its last commit) in one round trip.
    pub async fn head(&self, key: AggregateKey) -> Result<AggregateHead, ReadError> {
        Ok(self
            .last_entry(key)
            .await?
            .map(|entry| entry.decode())
            .transpose()?
            .map_or(AggregateHead::EMPTY, |stored| stored.head()))
    }

    /// The last message of an aggregate's subject, asked of the stream leader. A transport
    /// failure is retried a bounded number of times (as appends are): on a cluster, the stream
    /// has no leader for a few seconds after a node goes down.
    ///
    /// On a single replica it is a direct get (`$JS.API.DIRECT.GET`): the only server holding
    /// the stream answers it, with the raw message, so nats-server skips the JSON API layer and
    /// the payload's base64 (about a fifth of its CPU per command: BENCHMARKS.md, "Commands").
    /// With more replicas every replica answers direct gets, a follower possibly behind the
    /// leader, so the head is asked of the leader through `$JS.API.STREAM.MSG.GET`.
    async fn last_entry(&self, key: AggregateKey) -> Result<Option<RawEntry>, ReadError> {
        let subject = key.subject();
        let mut attempt = 1;
        loop {
            let answer = if self.config.replicas == 1 {
                self.direct_last_entry(&subject).await
            } else {
                self.leader_last_entry(&subject).await
            };
            match answer {
                Ok(entry) => return Ok(entry),
                Err(error) if attempt < self.config.append_attempts => {
                    tracing::warn!(subject = %subject, attempt, %error, "could not read an aggregate's head; asking again");
                    tokio::time::sleep(crate::append::retry_backoff(attempt)).await;
                    attempt += 1;
                }
                Err(error) => {
                    return Err(ReadError::Transport {
                        action: "read the last commit of an aggregate",
                        reason: error,
                    })
                }
            }
        }
    }

    async fn leader_last_entry(&self, subject: &str) -> Result<Option<RawEntry>, String> {
        match self
            .stream_handle()
            .get_last_raw_message_by_subject(subject)
            .await
        {
            Ok(message) => Ok(Some(message.into())),
            Err(error) if error.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(error) => Err(error.to_string()),
        }
    }

    async fn direct_last_entry(&self, subject: &str) -> Result<Option<RawEntry>, String> {
        // A direct get waits for the connection's request timeout, not the JetStream
        // context's: bound it like every other request of this crate.
        let answer = tokio::time::timeout(
            self.config.ack_timeout,
            self.stream_handle().direct_get_last_for_subject(subject),
        )
        .await
        .map_err(|_| format!("no answer within {:?}", self.config.ack_timeout))?;
        match answer {
            Ok(message) => Ok(Some(message.into())),
            Err(error) if error.kind() == DirectGetErrorKind::NotFound => Ok(None),
            Err(error) => Err(error.to_string()),
        }
    }

    /// Loads one aggregate's history in log order. Any commit that cannot be read makes the
    /// whole load fail: a decision must never be taken on a partial history.
    ///
    /// Recently loaded (or appended) aggregates are cached: one that has not moved costs one
    /// request (its head), one that moved by a few commits a request per new commit but the last.
    pub async fn load_aggregate(
        &self,
        key: AggregateKey,
    ) -> Result<Arc<AggregateHistory>, ReadError> {
        let Some(last) = self.last_entry(key).await? else {
            if let Some(cached) = self
                .cache
                .get(key)
                .filter(|cached| cached.commits().is_empty())
            {
                return Ok(cached);
            }
            // Cached too, so that the first append to it extends the cache.
            let history = Arc::new(AggregateHistory::empty(key));
            self.cache.put(&history);
            return Ok(history);
        };
        if let Some(cached) = self.cache.get(key) {
            if cached.head.position() == last.position {
                return Ok(cached);
            }
            if cached.head.position() < last.position {
                if let Some(history) = self.catch_up(cached, last.clone()).await? {
                    let history = Arc::new(history);
                    self.cache.put(&history);
                    return Ok(history);
                }
            }
        }
        let mut entries = self.raw_aggregate_until(key, last.position).await?;
        let mut commits = Vec::new();
        while let Some(entry) = entries.next().await {
            commits.push(entry?.decode()?);
        }
        let history = Arc::new(AggregateHistory::from_commits(key, commits));
        self.cache.put(&history);
        Ok(history)
    }

    /// The aggregate as this handle (or a clone) last appended to it, without asking the log;
    /// `None` unless it is cached and the last commit this process knows of is one it appended
    /// (after a load that found another writer's commits, the next command should load again).
    /// It may be behind the log: deciding on it is safe only because an append names the head
    /// it was decided on, so a decision on a stale history is refused as a conflict. Anything
    /// not guarded that way (a refusal, a read of another aggregate) must use
    /// [`CareLog::load_aggregate`].
    pub fn cached_aggregate(&self, key: AggregateKey) -> Option<Arc<AggregateHistory>> {
        self.cache.get_own(key)
    }

    /// Extends a cached history up to `last` by following the hash chain backwards: each
    /// commit names the position of the one before it on its subject (`appended_after`, which
    /// JetStream checked on append), read by position in one request each; when only `last` is
    /// new (the usual case), no request at all. `None` when more than [`MAX_CACHED_CATCH_UP`]
    /// commits are missing, or the chain does not lead back to the cached head (reading the
    /// aggregate whole is then the answer).
    ///
    /// Reading by position, not "next message of the subject after the cached head": nats-server
    /// (2.9) answers the latter by scanning every message of the stream after that position, so
    /// with many patients interleaved its cost grows with the log (BENCHMARKS.md, "Commands").
    async fn catch_up(
        &self,
        cached: Arc<AggregateHistory>,
        last: RawEntry,
    ) -> Result<Option<AggregateHistory>, ReadError> {
        let history = &cached;
        let last = last.decode()?;
        // The link the oldest commit read so far names: the position and hash before it.
        let (mut previous, mut previous_hash) =
            (last.commit.appended_after(), last.commit.previous_hash());
        let mut newer = vec![last];
        while previous != history.head.position() {
            if previous < history.head.position() || newer.len() >= MAX_CACHED_CATCH_UP {
                return Ok(None);
            }
            let stored = RawEntry::from(
                self.stream_handle()
                    .get_raw_message(previous)
                    .await
                    .map_err(ReadError::transport(
                        "read an earlier commit of an aggregate",
                    ))?,
            )
            .decode()?;
            if stored.key != history.key || stored.hash != previous_hash {
                return Ok(None);
            }
            (previous, previous_hash) = (
                stored.commit.appended_after(),
                stored.commit.previous_hash(),
            );
            newer.push(stored);
        }
        if previous_hash != history.head.hash() {
            return Ok(None);
        }
        let mut history = Arc::unwrap_or_clone(cached);
        while let Some(stored) = newer.pop() {
            history.push(stored);
        }
        Ok(Some(history))
    }

    /// The raw messages of one aggregate's subject, up to its last message at call time.
    ///
    /// Read with one pull of a short-lived consumer filtered on the subject, deleted as soon as
    /// the pull is done: command services load aggregates on every command, and consumers left
    /// to expire on their own (an ordered consumer lingers 30 s) pile up in the server and slow
    /// every later command (BENCHMARKS.md, "Commands").
    pub(crate) async fn raw_aggregate(&self, key: AggregateKey) -> Result<RawStream, ReadError> {
        let Some(last) = self.last_entry(key).await? else {
            return Ok(Box::pin(futures::stream::empty()));
        };
        self.raw_aggregate_until(key, last.position).await
    }

    /// The raw messages of one aggregate's subject up to the one at `last_position`.
    async fn raw_aggregate_until(
        &self,
        key: AggregateKey,
        last_position: u64,
    ) -> Result<RawStream, ReadError> {
        let consumer = self
            .stream_handle()
            .create_consumer(pull::Config {
                name: Some(ephemeral_consumer_name()),
                filter_subject: key.subject(),
                deliver_policy: DeliverPolicy::All,
                ack_policy: AckPolicy::None,
                memory_storage: true,
                num_replicas: 1,
                // A safety net only: the consumer is deleted right after the pull.
                inactive_threshold: Duration::from_secs(10),
                ..Default::default()
            })
            .await
            .map_err(ReadError::transport(
                "create a consumer on an aggregate's subject",
            ))?;
        let name = consumer.cached_info().name.clone();
        let expected = usize::try_from(consumer.cached_info().num_pending)
            .unwrap_or(usize::MAX)
            .max(1);
        let pulled = self.pull_until(&consumer, expected, last_position).await;
        let stream = self.stream.clone();
        tokio::spawn(async move {
            if let Err(error) = stream.delete_consumer(&name).await {
                tracing::debug!(%error, "delete an aggregate's consumer");
            }
        });
        let entries = pulled?;
        Ok(Box::pin(futures::stream::iter(entries.into_iter().map(Ok))))
    }

    /// Pulls messages until the one at `until`, `expected` at a time. The consumer's count of
    /// what it holds can lag the leader's `until` on a cluster (the consumer may sit on a
    /// replica still catching up), so a pull that ends short is followed by another, until a
    /// whole `idle_timeout` brings nothing.
    async fn pull_until(
        &self,
        consumer: &async_nats::jetstream::consumer::PullConsumer,
        expected: usize,
        until: u64,
    ) -> Result<Vec<RawEntry>, ReadError> {
        let mut entries = Vec::with_capacity(expected);
        let mut last_seen = 0;
        loop {
            let wanted = expected.saturating_sub(entries.len()).max(1);
            let mut messages = consumer
                .batch()
                .max_messages(wanted)
                .expires(self.idle_timeout())
                .messages()
                .await
                .map_err(ReadError::transport("pull an aggregate's messages"))?;
            let mut pulled_any = false;
            while let Some(message) = messages.next().await {
                let message =
                    message.map_err(ReadError::transport("receive an aggregate's message"))?;
                let info = message
                    .info()
                    .map_err(ReadError::transport("read a message's log position"))?;
                pulled_any = true;
                last_seen = info.stream_sequence;
                entries.push(RawEntry {
                    position: info.stream_sequence,
                    subject: message.subject.to_string(),
                    payload: message.payload.clone(),
                });
                if last_seen >= until {
                    return Ok(entries);
                }
            }
            if !pulled_any {
                return Err(ReadError::Stalled {
                    after: last_seen,
                    waited: self.idle_timeout(),
                });
            }
        }
    }

    /// Every commit from `position` on (1 is the first), following the log live: the stream
    /// does not end when it catches up.
    pub async fn read_from(&self, position: u64) -> Result<CommitStream, ReadError> {
        let entries = self.raw_entries(None, position).await?;
        Ok(Box::pin(
            entries.map(|entry| entry.and_then(|entry| entry.decode())),
        ))
    }

    /// Every commit from `from` up to and including `until` (or the end of the log, if that
    /// comes first), then the stream ends. For replays: `until` is usually
    /// [`CareLog::last_position`] taken before the replay starts.
    pub async fn read_range(&self, from: u64, until: u64) -> Result<CommitStream, ReadError> {
        let until = until.min(self.last_position().await?);
        if until == 0 || from > until {
            return Ok(Box::pin(futures::stream::empty()));
        }
        let entries = until_position(
            self.raw_entries(None, from).await?,
            until,
            self.idle_timeout(),
        );
        Ok(Box::pin(
            entries.map(|entry| entry.and_then(|entry| entry.decode())),
        ))
    }

    /// An ordered consumer over the stream (or one subject of it) from a position on.
    pub(crate) async fn raw_entries(
        &self,
        filter_subject: Option<String>,
        from: u64,
    ) -> Result<RawStream, ReadError> {
        let deliver_policy = if from <= 1 {
            DeliverPolicy::All
        } else {
            DeliverPolicy::ByStartSequence {
                start_sequence: from,
            }
        };
        let consumer = self
            .stream_handle()
            .create_consumer(pull::OrderedConfig {
                name: Some(ephemeral_consumer_name()),
                filter_subject: filter_subject.unwrap_or_default(),
                deliver_policy,
                ..Default::default()
            })
            .await
            .map_err(ReadError::transport(
                "create an ordered consumer on the care stream",
            ))?;
        let messages = consumer
            .messages()
            .await
            .map_err(ReadError::transport("read from the care stream"))?;
        Ok(Box::pin(messages.map(|message| {
            let message = message.map_err(ReadError::transport(
                "receive a message from the care stream",
            ))?;
            let info = message
                .info()
                .map_err(ReadError::transport("read a message's log position"))?;
            Ok(RawEntry {
                position: info.stream_sequence,
                subject: message.subject.to_string(),
                payload: message.payload.clone(),
            })
        })))
    }
}

/// Ends `entries` right after the entry at `until` (or the first past it), without waiting for
/// a message that may never come, and keeps answering "ended" if polled again. `until` must be a position the stream holds (a subject's last
/// message, or at most the stream's last sequence). A read that hears nothing for
/// `idle_timeout` before its end yields [`ReadError::Stalled`] and ends, rather than hanging.
///
/// The consumer's own "nothing pending" count is not an end: on a cluster, the consumer can lag
/// behind the stream leader that told us `until`.
pub(crate) fn until_position(entries: RawStream, until: u64, idle_timeout: Duration) -> RawStream {
    Box::pin(
        futures::stream::unfold(Some((entries, 0u64)), move |state| async move {
            let (mut entries, last_seen) = state?;
            let item = match tokio::time::timeout(idle_timeout, entries.next()).await {
                Ok(item) => item?,
                Err(_) => {
                    let error = ReadError::Stalled {
                        after: last_seen,
                        waited: idle_timeout,
                    };
                    return Some((Err(error), None));
                }
            };
            let (done, last_seen) = match &item {
                Ok(entry) => (entry.position >= until, entry.position),
                Err(_) => (false, last_seen),
            };
            Some((
                item,
                if done {
                    None
                } else {
                    Some((entries, last_seen))
                },
            ))
        })
        // Fused: a caller that reads in batches may poll once more after the end.
        .fuse(),
    )
}

/// A fresh name for a short-lived consumer. Named, it is created on
/// `$JS.API.CONSUMER.CREATE.<stream>.<name>[.<filter>]`, so the NATS users that read the log
/// need no right to the nameless `$JS.API.CONSUMER.CREATE.<stream>`, through which a request
/// naming the projector's durable consumer in its body could change that consumer.
fn ephemeral_consumer_name() -> String {
    format!("carelog-read-{}", uuid::Uuid::new_v4().simple())
}

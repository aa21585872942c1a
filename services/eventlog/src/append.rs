//! Appending commits: optimistic concurrency per aggregate, deduplication by commit id, safe
//! retries on transport failure, and many appends in flight at once.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::publish::PublishAck;
use async_nats::{HeaderMap, Subject};
use bytes::Bytes;
use carelog_schemas::{Commit, CommitDraft, CommitHash, CommitShapeError, Timestamp};
use futures::stream::{FuturesOrdered, StreamExt};
use futures::TryFutureExt;

use crate::read::StoredCommit;
use crate::subject::AggregateKey;
use crate::{AggregateHead, CareLog};

/// A commit the log accepted just now.
#[derive(Debug, Clone)]
pub struct Appended {
    /// Its log position (stream sequence).
    pub position: u64,
    /// Its hash: the `previous_hash` of the aggregate's next commit.
    pub hash: CommitHash,
    /// Shared with the cached history it extended, if any.
    pub commit: Arc<Commit>,
}

impl Appended {
    /// The aggregate's head after this commit.
    pub fn head(&self) -> AggregateHead {
        AggregateHead::new(self.position, self.hash)
    }
}

/// What the log did with an append.
#[derive(Debug, Clone)]
pub enum AppendOutcome {
    /// Stored at a new position.
    Appended(Appended),
    /// A commit with the same commit id was already stored (within the duplicate window); it
    /// was not stored again. `position` is where the original is.
    Duplicate { position: u64 },
}

impl AppendOutcome {
    pub fn position(&self) -> u64 {
        match self {
            AppendOutcome::Appended(appended) => appended.position,
            AppendOutcome::Duplicate { position } => *position,
        }
    }
}

/// Why an append was not stored.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The aggregate moved since the head the caller decided on: reload and decide again.
    #[error("conflict on {subject}: it is no longer at position {expected_position}")]
    Conflict {
        subject: String,
        expected_position: u64,
    },
    /// The commit itself is malformed; nothing was sent.
    #[error("the commit is malformed: {0}")]
    Shape(#[from] CommitShapeError),
    /// The log could not be reached or did not answer after every attempt. The commit may or
    /// may not be stored; sending the same commit again is safe (its id deduplicates it).
    #[error("the care log did not acknowledge the commit after {attempts} attempts: {reason}")]
    Transport { attempts: u32, reason: String },
    /// The log refused the commit for a reason retrying will not change.
    #[error("the care log refused the commit: {0}")]
    Refused(String),
    /// Not sent: an earlier commit of the same aggregate in the same pipeline was not
    /// appended, and this one was decided as if it had been ([`CareLog::append_chained`]).
    #[error("not sent: an earlier commit on {subject} in the same pipeline was not appended")]
    NotSent { subject: String },
}

/// An append sent to the log whose acknowledgement has not been awaited yet.
pub struct PendingAppend<'log> {
    sent: SentCommit<'log>,
    ack: AckFuture,
}

impl std::fmt::Debug for PendingAppend<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PendingAppend")
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

/// What it takes to settle a sent commit: recognise its answer, or send it again.
#[derive(Debug)]
struct SentCommit<'log> {
    log: &'log CareLog,
    subject: Subject,
    commit: Commit,
    /// The sealed bytes, sent as they are on every attempt (a cheap, shared buffer).
    payload: Bytes,
    hash: CommitHash,
    expected_position: u64,
}

/// Why an attempt got no acknowledgement.
#[derive(Debug)]
enum AckFailure {
    /// The log answered with an error, or the answer did not come in time.
    Publish(PublishError),
    /// The message could not even be handed to the connection.
    Send(String),
}

type AckAnswer = Result<PublishAck, AckFailure>;

/// The answer to one attempt. Kept as small as the raw client's own ack future, because a
/// pipeline holds thousands of them at once; the commit itself waits beside it.
type AckFuture = futures::future::Either<
    futures::future::MapErr<
        std::pin::Pin<Box<dyn Future<Output = Result<PublishAck, PublishError>> + Send>>,
        fn(PublishError) -> AckFailure,
    >,
    std::future::Ready<AckAnswer>,
>;

impl CareLog {
    /// Appends one commit after `expected` (the aggregate's head the caller decided on) and
    /// waits for the log's acknowledgement.
    pub async fn append(
        &self,
        draft: CommitDraft,
        expected: AggregateHead,
    ) -> Result<AppendOutcome, AppendError> {
        self.start_append(draft, expected).await?.finish().await
    }

    /// Seals and sends a commit without waiting for its acknowledgement. Await
    /// [`PendingAppend::finish`] later; many can be in flight at once (for independent
    /// aggregates: two in flight on one aggregate cannot both name the same head and win).
    pub async fn start_append(
        &self,
        draft: CommitDraft,
        expected: AggregateHead,
    ) -> Result<PendingAppend<'_>, AppendError> {
        let subject = Subject::from(AggregateKey::new(draft.patient_id, draft.family).subject());
        let (commit, sealed) = Commit::seal(
            draft,
            Timestamp::now(),
            expected.position(),
            expected.hash(),
        )?;
        let sent = SentCommit {
            log: self,
            subject,
            commit,
            payload: Bytes::from(sealed.bytes),
            hash: sealed.hash,
            expected_position: expected.position(),
        };
        let ack = sent.send().await;
        Ok(PendingAppend { sent, ack })
    }

    /// Appends many commits with up to `max_in_flight` acknowledgements outstanding, and
    /// returns their outcomes in input order. Each commit must be for a different aggregate,
    /// or name the head its predecessor in the batch will produce (which only the first can
    /// know): in practice, one commit per aggregate per call. For several commits on one
    /// aggregate, use [`CareLog::append_chained`].
    pub async fn append_pipelined(
        &self,
        commits: Vec<(CommitDraft, AggregateHead)>,
        max_in_flight: usize,
    ) -> Vec<Result<AppendOutcome, AppendError>> {
        let mut pipeline = Pipeline::new(max_in_flight, commits.len());
        for (draft, expected) in commits {
            pipeline.make_room().await;
            let key = AggregateKey::new(draft.patient_id, draft.family);
            pipeline.push(key, self.start_append(draft, expected).await);
        }
        pipeline.finish().await;
        pipeline.outcomes
    }

    /// Appends many commits in order, with up to `max_in_flight` acknowledgements outstanding,
    /// where several may be on one aggregate (a bulk import of clinic history, say): the first
    /// commit of an aggregate is appended after its head in `heads` (an aggregate not there is
    /// new: [`AggregateHead::EMPTY`]), each later one after the commit before it, whose
    /// acknowledgement it waits for only if that is still outstanding. So with more aggregates
    /// than commits in flight the pipeline never drains between one aggregate's commits, as it
    /// would between calls of [`CareLog::append_pipelined`], and every append still names the
    /// position it follows.
    ///
    /// Returns the outcomes in input order, and leaves in `heads` each aggregate's head after
    /// its last commit that was appended. Once a commit of an aggregate is not appended (a
    /// conflict, a duplicate, a failure), the aggregate's later commits of the batch are not
    /// sent ([`AppendError::NotSent`]): they were decided on a history that did not happen.
    pub async fn append_chained(
        &self,
        drafts: impl IntoIterator<Item = CommitDraft>,
        heads: &mut HashMap<AggregateKey, AggregateHead>,
        max_in_flight: usize,
    ) -> Vec<Result<AppendOutcome, AppendError>> {
        let drafts = drafts.into_iter();
        let mut pipeline = Pipeline::new(max_in_flight, drafts.size_hint().0);
        // Each aggregate's last commit sent (its input index), and the aggregates whose chain
        // broke in this batch.
        let mut last_sent: HashMap<AggregateKey, usize> = HashMap::new();
        let mut broken: HashSet<AggregateKey> = HashSet::new();
        for draft in drafts {
            let key = AggregateKey::new(draft.patient_id, draft.family);
            let previous = last_sent.get(&key).copied();
            while previous.is_some_and(|previous| pipeline.outcomes.len() <= previous)
                || pipeline.acks.len() >= pipeline.max_in_flight
            {
                match pipeline.settle_next().await {
                    Some((settled, Some(head))) => {
                        heads.insert(settled, head);
                    }
                    Some((settled, None)) => {
                        broken.insert(settled);
                    }
                    None => break,
                }
            }
            if broken.contains(&key) {
                let subject = key.subject();
                pipeline.push(key, Err(AppendError::NotSent { subject }));
                continue;
            }
            last_sent.insert(key, pipeline.outcomes.len() + pipeline.waiting.len());
            let expected = heads.get(&key).copied().unwrap_or(AggregateHead::EMPTY);
            pipeline.push(key, self.start_append(draft, expected).await);
        }
        while let Some((settled, head)) = pipeline.settle_next().await {
            if let Some(head) = head {
                heads.insert(settled, head);
            }
        }
        pipeline.outcomes
    }
}

/// Commits sent and waiting, in order, beside their acknowledgements, which arrive in order
/// too; and the outcomes settled so far, in input order.
struct Pipeline<'log> {
    max_in_flight: usize,
    waiting: VecDeque<(AggregateKey, Result<SentCommit<'log>, AppendError>)>,
    acks: FuturesOrdered<AckFuture>,
    outcomes: Vec<Result<AppendOutcome, AppendError>>,
}

impl<'log> Pipeline<'log> {
    fn new(max_in_flight: usize, expected_len: usize) -> Self {
        Pipeline {
            max_in_flight: max_in_flight.max(1),
            waiting: VecDeque::new(),
            acks: FuturesOrdered::new(),
            outcomes: Vec::with_capacity(expected_len),
        }
    }

    /// Queues a commit just sent, or one that could not be (its error waits for its turn).
    fn push(&mut self, key: AggregateKey, started: Result<PendingAppend<'log>, AppendError>) {
        match started {
            Ok(PendingAppend { sent, ack }) => {
                self.waiting.push_back((key, Ok(sent)));
                self.acks.push_back(ack);
            }
            Err(error) => {
                self.waiting.push_back((key, Err(error)));
                self.acks
                    .push_back(futures::future::Either::Right(std::future::ready(Err(
                        AckFailure::Send(String::new()),
                    ))));
            }
        }
    }

    /// Settles the oldest commits until there is room for one more in flight.
    async fn make_room(&mut self) {
        while self.acks.len() >= self.max_in_flight {
            self.settle_next().await;
        }
    }

    /// Settles every commit still in flight.
    async fn finish(&mut self) {
        while !self.acks.is_empty() {
            self.settle_next().await;
        }
    }

    /// Settles the oldest commit once its acknowledgement has come. Returns its aggregate and,
    /// if it was appended, the aggregate's new head.
    async fn settle_next(&mut self) -> Option<(AggregateKey, Option<AggregateHead>)> {
        let (Some(answer), Some((key, sent))) = (self.acks.next().await, self.waiting.pop_front())
        else {
            return None;
        };
        let outcome = match sent {
            Ok(sent) => sent.settle(answer).await,
            Err(error) => Err(error),
        };
        let head = match &outcome {
            Ok(AppendOutcome::Appended(appended)) => Some(appended.head()),
            _ => None,
        };
        self.outcomes.push(outcome);
        Some((key, head))
    }
}

impl SentCommit<'_> {
    /// Sends the commit once: message id = commit id, so JetStream stores a resent commit once
    /// (within its duplicate window); expected last subject sequence = the head the commit was
    /// decided on.
    async fn send(&self) -> AckFuture {
        let mut headers = HeaderMap::new();
        headers.insert(
            "Nats-Msg-Id",
            self.commit
                .commit_id()
                .as_uuid()
                .hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer()) as &str,
        );
        headers.insert(
            "Nats-Expected-Last-Subject-Sequence",
            self.expected_position.to_string().as_str(),
        );
        let published = self
            .log
            .jetstream
            .publish_with_headers(self.subject.clone(), headers, self.payload.clone())
            .await;
        match published {
            Ok(ack) => futures::future::Either::Left(TryFutureExt::map_err(
                std::future::IntoFuture::into_future(ack),
                AckFailure::Publish as fn(PublishError) -> AckFailure,
            )),
            Err(error) => futures::future::Either::Right(std::future::ready(Err(
                AckFailure::Send(error.to_string()),
            ))),
        }
    }

    /// Turns the answer to the first attempt into an outcome, sending the same bytes under the
    /// same message id again when the transport failed, a bounded number of times.
    async fn settle(self, mut answer: AckAnswer) -> Result<AppendOutcome, AppendError> {
        let attempts = self.log.config.append_attempts;
        let mut attempt = 1;
        loop {
            let failure = match answer {
                Ok(ack) if ack.duplicate && attempt > 1 => {
                    // Our own earlier attempt may be what landed (its ack was lost): if the
                    // stored bytes are ours, this append succeeded.
                    return Ok(self.outcome_of_resend(ack.sequence).await);
                }
                Ok(ack) if ack.duplicate => {
                    return Ok(AppendOutcome::Duplicate {
                        position: ack.sequence,
                    })
                }
                Ok(ack) => {
                    tracing::debug!(subject = %self.subject, position = ack.sequence, "commit appended");
                    return Ok(AppendOutcome::Appended(self.appended(ack.sequence)));
                }
                Err(AckFailure::Publish(error)) => match error.kind() {
                    PublishErrorKind::WrongLastSequence => {
                        return Err(AppendError::Conflict {
                            subject: self.subject.to_string(),
                            expected_position: self.expected_position,
                        })
                    }
                    // No responders: the stream is not (yet) there, e.g. JetStream is still
                    // recovering after a server restart. Worth another attempt.
                    PublishErrorKind::TimedOut
                    | PublishErrorKind::BrokenPipe
                    | PublishErrorKind::StreamNotFound => error.to_string(),
                    PublishErrorKind::WrongLastMessageId | PublishErrorKind::Other => {
                        return Err(AppendError::Refused(error.to_string()))
                    }
                },
                Err(AckFailure::Send(reason)) => reason,
            };
            if attempt >= attempts {
                return Err(AppendError::Transport {
                    attempts,
                    reason: failure,
                });
            }
            tracing::warn!(subject = %self.subject, attempt, reason = %failure, "append not acknowledged; sending again");
            tokio::time::sleep(retry_backoff(attempt)).await;
            attempt += 1;
            answer = self.send().await.await;
        }
    }

    /// The commit, stored at `position`. A cached history of its aggregate that ends where the
    /// commit was appended after is extended with it, so this process's next command on the
    /// aggregate needs no read to know its state.
    fn appended(self, position: u64) -> Appended {
        let key = AggregateKey::new(self.commit.patient_id(), self.commit.family());
        let commit = Arc::new(self.commit);
        self.log.cache.extend(
            key,
            self.expected_position,
            StoredCommit {
                position,
                key,
                hash: self.hash,
                commit: commit.clone(),
            },
        );
        Appended {
            position,
            hash: self.hash,
            commit,
        }
    }

    /// A resent commit was answered as a duplicate of the one at `position`: it is ours if
    /// the stored bytes are the bytes we sent (a commit is sealed once, so a lost ack and a
    /// resend leave identical bytes); otherwise another writer used the same commit id first.
    async fn outcome_of_resend(self, position: u64) -> AppendOutcome {
        match self.log.stream.get_raw_message(position).await {
            Ok(stored) if stored.payload == self.payload => {
                AppendOutcome::Appended(self.appended(position))
            }
            Ok(_) => AppendOutcome::Duplicate { position },
            Err(error) => {
                // Cannot tell; "duplicate" is the safe answer: the caller reloads the aggregate.
                tracing::warn!(position, %error, "could not read back a deduplicated resend");
                AppendOutcome::Duplicate { position }
            }
        }
    }
}

impl PendingAppend<'_> {
    /// Waits for the log's answer, resending the same bytes under the same message id when the
    /// transport fails, a bounded number of times.
    pub async fn finish(self) -> Result<AppendOutcome, AppendError> {
        let answer = self.ack.await;
        self.sent.settle(answer).await
    }
}

pub(crate) fn retry_backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(5)))
}

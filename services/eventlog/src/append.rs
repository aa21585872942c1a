//! Appending commits: optimistic concurrency per aggregate, deduplication by commit id, safe
//! retries on transport failure, and many appends in flight at once.

use std::time::Duration;

use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::HeaderMap;
use carelog_schemas::{Commit, CommitDraft, CommitHash, CommitShapeError, SealedBytes, Timestamp};
use futures::stream::{FuturesOrdered, StreamExt};

use crate::subject::AggregateKey;
use crate::{AggregateHead, CareLog};

/// A commit the log accepted just now.
#[derive(Debug, Clone)]
pub struct Appended {
    /// Its log position (stream sequence).
    pub position: u64,
    /// Its hash: the `previous_hash` of the aggregate's next commit.
    pub hash: CommitHash,
    pub commit: Commit,
}

impl Appended {
    /// The aggregate's head after this commit.
    pub fn head(&self) -> AggregateHead {
        AggregateHead {
            position: self.position,
            hash: self.hash,
        }
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
}

/// An append sent to the log whose acknowledgement has not been awaited yet.
#[derive(Debug)]
pub struct PendingAppend {
    log: CareLog,
    subject: String,
    headers: HeaderMap,
    commit: Commit,
    sealed: SealedBytes,
    expected_position: u64,
    ack: Result<PublishAckFuture, String>,
}

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
    ) -> Result<PendingAppend, AppendError> {
        let subject = AggregateKey::new(draft.patient_id, draft.family).subject();
        let (commit, sealed) =
            Commit::seal(draft, Timestamp::now(), expected.position, expected.hash)?;
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", commit.commit_id().to_string().as_str());
        headers.insert(
            "Nats-Expected-Last-Subject-Sequence",
            expected.position.to_string().as_str(),
        );
        let ack = self.send(&subject, &headers, &sealed).await;
        Ok(PendingAppend {
            log: self.clone(),
            subject,
            headers,
            commit,
            sealed,
            expected_position: expected.position,
            ack,
        })
    }

    /// Appends many commits with up to `max_in_flight` acknowledgements outstanding, and
    /// returns their outcomes in input order. Each commit must be for a different aggregate,
    /// or name the head its predecessor in the batch will produce (which only the first can
    /// know): in practice, one commit per aggregate per call.
    pub async fn append_pipelined(
        &self,
        commits: Vec<(CommitDraft, AggregateHead)>,
        max_in_flight: usize,
    ) -> Vec<Result<AppendOutcome, AppendError>> {
        let max_in_flight = max_in_flight.max(1);
        let mut outcomes = Vec::with_capacity(commits.len());
        let mut in_flight = FuturesOrdered::new();
        for (draft, expected) in commits {
            if in_flight.len() >= max_in_flight {
                if let Some(outcome) = in_flight.next().await {
                    outcomes.push(outcome);
                }
            }
            match self.start_append(draft, expected).await {
                Ok(pending) => in_flight.push_back(futures::future::Either::Left(pending.finish())),
                Err(error) => in_flight.push_back(futures::future::Either::Right(
                    std::future::ready(Err(error)),
                )),
            }
        }
        while let Some(outcome) = in_flight.next().await {
            outcomes.push(outcome);
        }
        outcomes
    }

    async fn send(
        &self,
        subject: &str,
        headers: &HeaderMap,
        sealed: &SealedBytes,
    ) -> Result<PublishAckFuture, String> {
        self.jetstream
            .publish_with_headers(
                subject.to_owned(),
                headers.clone(),
                sealed.bytes.clone().into(),
            )
            .await
            .map_err(|error| error.to_string())
    }
}

impl PendingAppend {
    /// Waits for the log's answer, resending the same bytes under the same message id when the
    /// transport fails, a bounded number of times.
    pub async fn finish(self) -> Result<AppendOutcome, AppendError> {
        let PendingAppend {
            log,
            subject,
            headers,
            commit,
            sealed,
            expected_position,
            mut ack,
        } = self;
        let attempts = log.config.append_attempts;
        let mut attempt = 1;
        loop {
            let failure = match ack {
                Ok(future) => match future.await {
                    Ok(ack) if ack.duplicate => {
                        return Ok(AppendOutcome::Duplicate {
                            position: ack.sequence,
                        })
                    }
                    Ok(ack) => {
                        tracing::debug!(subject = %subject, position = ack.sequence, "commit appended");
                        return Ok(AppendOutcome::Appended(Appended {
                            position: ack.sequence,
                            hash: sealed.hash,
                            commit,
                        }));
                    }
                    Err(error) => match error.kind() {
                        PublishErrorKind::WrongLastSequence => {
                            return Err(AppendError::Conflict {
                                subject,
                                expected_position,
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
                },
                Err(reason) => reason,
            };
            if attempt >= attempts {
                return Err(AppendError::Transport {
                    attempts,
                    reason: failure,
                });
            }
            tracing::warn!(subject = %subject, attempt, reason = %failure, "append not acknowledged; sending again");
            tokio::time::sleep(retry_backoff(attempt)).await;
            attempt += 1;
            ack = log.send(&subject, &headers, &sealed).await;
        }
    }
}

fn retry_backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(5)))
}

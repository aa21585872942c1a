//! Tamper evidence: walk a subject or the whole log and check that every commit decodes, that
//! its body matches its hash, that it names the hash and position of the commit before it on
//! its subject, and (for the whole log) that no position is missing.

use std::collections::HashMap;

use carelog_schemas::{CommitHash, DecodeError};
use futures::StreamExt;

use crate::read::{RawEntry, RawStream, ReadError};
use crate::subject::AggregateKey;
use crate::{AggregateHead, CareLog};

/// What a verification walked and the first break it found, if any.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub commits_checked: u64,
    pub subjects_checked: usize,
    /// The last log position walked.
    pub last_position: u64,
    /// The first break in log order; `None` means the walked log is complete and unaltered.
    pub first_break: Option<ChainBreak>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }
}

/// Where the chain broke and how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("log position {position} ({subject}): {kind}")]
pub struct ChainBreak {
    pub position: u64,
    pub subject: String,
    pub kind: BreakKind,
}

/// The ways a log can be found altered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BreakKind {
    #[error("the message is not a valid commit: {0}")]
    Undecodable(DecodeError),
    #[error("the message is on a subject outside the scheme or its commit is for another aggregate: {0}")]
    Misfiled(String),
    #[error("it names previous hash {found}, but the commit before it on its subject has hash {expected}")]
    PreviousHashMismatch {
        expected: CommitHash,
        found: CommitHash,
    },
    #[error("it says it follows position {found}, but the commit before it on its subject is at {expected}")]
    PreviousPositionMismatch { expected: u64, found: u64 },
    #[error("positions {from}..={to} are missing from the log")]
    MissingPositions { from: u64, to: u64 },
}

#[derive(Default)]
struct ChainWalker {
    heads: HashMap<String, AggregateHead>,
    commits_checked: u64,
    last_position: u64,
    check_gaps: bool,
    /// The last position the stream says it holds, when the walk covers the whole log.
    expected_last: u64,
}

impl ChainWalker {
    fn check(&mut self, entry: &RawEntry) -> Result<(), ChainBreak> {
        let chain_break = |kind| ChainBreak {
            position: entry.position,
            subject: entry.subject.clone(),
            kind,
        };
        if self.check_gaps && entry.position != self.last_position + 1 {
            return Err(chain_break(BreakKind::MissingPositions {
                from: self.last_position + 1,
                to: entry.position.saturating_sub(1),
            }));
        }
        self.last_position = entry.position;
        let stored = entry.decode().map_err(|error| match error {
            ReadError::Undecodable { source, .. } => chain_break(BreakKind::Undecodable(source)),
            other => chain_break(BreakKind::Misfiled(other.to_string())),
        })?;
        let previous = self
            .heads
            .get(&entry.subject)
            .copied()
            .unwrap_or(AggregateHead::EMPTY);
        if stored.commit.previous_hash() != previous.hash() {
            return Err(chain_break(BreakKind::PreviousHashMismatch {
                expected: previous.hash(),
                found: stored.commit.previous_hash(),
            }));
        }
        if stored.commit.appended_after() != previous.position() {
            return Err(chain_break(BreakKind::PreviousPositionMismatch {
                expected: previous.position(),
                found: stored.commit.appended_after(),
            }));
        }
        self.heads.insert(entry.subject.clone(), stored.head());
        self.commits_checked += 1;
        Ok(())
    }

    async fn walk(mut self, mut entries: RawStream) -> Result<VerifyReport, ReadError> {
        let mut first_break = None;
        while let Some(entry) = entries.next().await {
            let entry = match entry {
                Ok(entry) => entry,
                // The stream says it holds more, but nothing more comes: its tail is gone.
                Err(ReadError::Stalled { after, .. }) if self.check_gaps => {
                    first_break = Some(ChainBreak {
                        position: after + 1,
                        subject: String::new(),
                        kind: BreakKind::MissingPositions {
                            from: after + 1,
                            to: self.expected_last,
                        },
                    });
                    break;
                }
                Err(error) => return Err(error),
            };
            if let Err(found) = self.check(&entry) {
                first_break = Some(found);
                break;
            }
        }
        Ok(VerifyReport {
            commits_checked: self.commits_checked,
            subjects_checked: self.heads.len(),
            last_position: self.last_position,
            first_break,
        })
    }
}

impl CareLog {
    /// Verifies one aggregate's chain, from its first commit to its last.
    pub async fn verify_aggregate(&self, key: AggregateKey) -> Result<VerifyReport, ReadError> {
        let entries = self.raw_aggregate(key).await?;
        ChainWalker::default().walk(entries).await
    }

    /// Verifies the whole log from position 1 to the last position at call time: every
    /// chain, and that no position is missing.
    pub async fn verify_log(&self) -> Result<VerifyReport, ReadError> {
        let last = self.last_position().await?;
        let walker = ChainWalker {
            check_gaps: true,
            expected_last: last,
            ..ChainWalker::default()
        };
        if last == 0 {
            return walker.walk(Box::pin(futures::stream::empty())).await;
        }
        let entries = crate::read::until_position(
            self.raw_entries(None, 1).await?,
            last,
            self.idle_timeout(),
        );
        walker.walk(entries).await
    }
}

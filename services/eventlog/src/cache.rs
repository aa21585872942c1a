//! Recently loaded or appended aggregates, kept so that loading an aggregate that has not moved
//! costs one request (its head), and one that moved by a few commits costs a request per new
//! commit. The log is immutable, so a cached prefix never goes stale; the head check keeps it
//! fresh, and the expected position on append is what guards correctness anyway.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::read::{AggregateHistory, StoredCommit};
use crate::subject::AggregateKey;

/// At most this many aggregates are kept; past it the cache starts over (simple, and bounded).
const CAPACITY: usize = 10_000;

#[derive(Debug, Default)]
pub(crate) struct AggregateCache {
    histories: Mutex<HashMap<AggregateKey, AggregateHistory>>,
}

impl AggregateCache {
    pub(crate) fn get(&self, key: AggregateKey) -> Option<AggregateHistory> {
        self.histories
            .lock()
            .ok()
            .and_then(|histories| histories.get(&key).cloned())
    }

    pub(crate) fn put(&self, history: &AggregateHistory) {
        if let Ok(mut histories) = self.histories.lock() {
            let known = histories
                .get(&history.key)
                .map_or(0, |cached| cached.head.position());
            // Never replace a longer history by a shorter one (two loads racing).
            if history.head.position() < known {
                return;
            }
            if histories.len() >= CAPACITY && !histories.contains_key(&history.key) {
                histories.clear();
            }
            histories.insert(history.key, history.clone());
        }
    }

    /// Extends a cached aggregate with a commit this process just appended, if the cache holds
    /// it at exactly the head the commit was appended after (JetStream checked that this was the
    /// aggregate's last position, so the extended history is the whole history).
    pub(crate) fn extend(&self, key: AggregateKey, appended_after: u64, stored: StoredCommit) {
        if let Ok(mut histories) = self.histories.lock() {
            if let Some(history) = histories.get_mut(&key) {
                if history.head.position() == appended_after {
                    history.head = stored.head();
                    history.commits.push(stored);
                }
            }
        }
    }
}

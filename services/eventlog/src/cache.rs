//! Recently loaded or appended aggregates, kept so that loading an aggregate that has not moved
//! costs one request (its head), and one that moved by a few commits costs a request per new
//! commit. The log is immutable, so a cached prefix never goes stale; the head check keeps it
//! fresh, and the expected position on append is what guards correctness anyway.
//!
//! Histories are handed out shared (`Arc`), so a command's look-up copies nothing; an append
//! extends the cached history in place when no command holds it any more, else a copy of it.
//! When full, the cache evicts by "second chance" (clock): an aggregate used since the hand
//! last passed it is kept once more, so the active ones stay while idle ones go.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::history::AggregateHistory;
use crate::read::StoredCommit;
use crate::subject::AggregateKey;

/// At most this many aggregates are kept.
const CAPACITY: usize = 10_000;

#[derive(Debug)]
pub(crate) struct AggregateCache {
    capacity: usize,
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    by_key: HashMap<AggregateKey, Entry>,
    /// Every cached key once, in the order the clock hand visits them.
    clock: VecDeque<AggregateKey>,
}

#[derive(Debug)]
struct Entry {
    history: Arc<AggregateHistory>,
    /// This process appended the aggregate's last known commit.
    own_last_commit: bool,
    /// Used since the clock hand last passed.
    used: bool,
}

impl Default for AggregateCache {
    fn default() -> Self {
        AggregateCache::with_capacity(CAPACITY)
    }
}

impl AggregateCache {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        AggregateCache {
            capacity: capacity.max(1),
            entries: Mutex::default(),
        }
    }

    /// The cached history, whoever wrote its last commit.
    pub(crate) fn get(&self, key: AggregateKey) -> Option<Arc<AggregateHistory>> {
        self.get_if(key, |_| true)
    }

    /// The cached history, if this process appended its last known commit.
    pub(crate) fn get_own(&self, key: AggregateKey) -> Option<Arc<AggregateHistory>> {
        self.get_if(key, |entry| entry.own_last_commit)
    }

    fn get_if(
        &self,
        key: AggregateKey,
        wanted: impl FnOnce(&Entry) -> bool,
    ) -> Option<Arc<AggregateHistory>> {
        let mut entries = self.entries.lock().ok()?;
        let entry = entries.by_key.get_mut(&key).filter(|entry| wanted(entry))?;
        entry.used = true;
        Some(entry.history.clone())
    }

    /// Caches a history read from the log (its last commit may be anyone's).
    pub(crate) fn put(&self, history: &Arc<AggregateHistory>) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if let Some(entry) = entries.by_key.get_mut(&history.key) {
            // Never replace a longer history by a shorter one (two loads racing).
            if history.head.position() >= entry.history.head.position() {
                entry.history = history.clone();
                entry.own_last_commit = false;
                entry.used = true;
            }
            return;
        }
        while entries.by_key.len() >= self.capacity {
            entries.evict_one();
        }
        entries.clock.push_back(history.key);
        entries.by_key.insert(
            history.key,
            Entry {
                history: history.clone(),
                own_last_commit: false,
                used: false,
            },
        );
    }

    /// Extends a cached aggregate with a commit this process just appended, if the cache holds
    /// it at exactly the head the commit was appended after (JetStream checked that this was the
    /// aggregate's last position, so the extended history is the whole history).
    pub(crate) fn extend(&self, key: AggregateKey, appended_after: u64, stored: StoredCommit) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if let Some(entry) = entries.by_key.get_mut(&key) {
            if entry.history.head.position() == appended_after {
                // In place when no command holds the history any more; else on a copy.
                Arc::make_mut(&mut entry.history).push(stored);
                entry.own_last_commit = true;
            }
        }
    }
}

impl Entries {
    /// Evicts the first aggregate the clock hand finds unused since it last passed.
    fn evict_one(&mut self) {
        while let Some(key) = self.clock.pop_front() {
            match self.by_key.get_mut(&key) {
                Some(entry) if entry.used => {
                    entry.used = false;
                    self.clock.push_back(key);
                }
                Some(_) => {
                    self.by_key.remove(&key);
                    return;
                }
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use carelog_schemas::{Family, PatientId};

    use super::*;

    #[test]
    fn evicts_the_aggregates_not_used_since_the_hand_passed() {
        let cache = AggregateCache::with_capacity(3);
        let keys: Vec<AggregateKey> = (0..5)
            .map(|_| AggregateKey::new(PatientId::new_random(), Family::Dose))
            .collect();
        let put = |key: AggregateKey| cache.put(&Arc::new(AggregateHistory::empty(key)));
        let cached = |index: usize| cache.get(keys[index]).is_some();
        for key in &keys[..3] {
            put(*key);
        }
        // Key 0 is in use; key 3 takes the place of key 1, the first unused one.
        assert!(cached(0));
        put(keys[3]);
        assert_eq!(
            (0..4).map(cached).collect::<Vec<_>>(),
            [true, false, true, true]
        );
        // Every one was used since: the hand clears each once, then evicts the first it meets
        // again (key 2, passed over before key 0).
        put(keys[4]);
        assert_eq!(
            (0..5).map(cached).collect::<Vec<_>>(),
            [true, false, false, true, true]
        );
    }
}

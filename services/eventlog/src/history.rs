//! One aggregate's history as a command service decides on it: its commits in log order, its
//! head, an index of the command ids its commits record, and the states folded from it so far.
//! Histories are shared (`Arc`) between the cache and the commands deciding on them, and
//! extended in place when nobody else holds them, so per-command work does not grow with the
//! length of a patient's record: the command id is looked up in the index, and a state is
//! folded only over the commits it has not seen yet.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use carelog_schemas::CommandId;

use crate::read::StoredCommit;
use crate::subject::AggregateKey;
use crate::AggregateHead;

/// A state folded from an aggregate's commits in log order, which an [`AggregateHistory`]
/// keeps beside itself so that the next fold starts where the last one ended (in place, when
/// no command holds the state any more). In debug builds (the tests) every fold that started
/// from a kept state is checked against a whole fold.
pub trait Fold: Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    /// The state of a whole history.
    fn from_history(history: &AggregateHistory) -> Self;

    /// Applies one more commit. `false` when it cannot be applied on top (a correction, which
    /// takes an earlier event back): the state is then dropped and folded again from the whole
    /// history.
    fn apply(&mut self, stored: &StoredCommit) -> bool;
}

/// One aggregate's commits in log order, and its head.
#[derive(Debug)]
pub struct AggregateHistory {
    pub key: AggregateKey,
    pub head: AggregateHead,
    commits: Vec<StoredCommit>,
    /// Command id → index in `commits` of the commit recording it.
    commands: HashMap<CommandId, usize>,
    /// Per state type: how many commits it was folded over, and the state.
    folds: Mutex<Vec<FoldedState>>,
}

#[derive(Debug, Clone)]
struct FoldedState {
    kind: TypeId,
    commits: usize,
    state: Arc<dyn Any + Send + Sync>,
}

impl AggregateHistory {
    /// An aggregate with no commits.
    pub(crate) fn empty(key: AggregateKey) -> Self {
        AggregateHistory {
            key,
            head: AggregateHead::EMPTY,
            commits: Vec::new(),
            commands: HashMap::new(),
            folds: Mutex::default(),
        }
    }

    /// A history read whole, in log order.
    pub(crate) fn from_commits(key: AggregateKey, commits: Vec<StoredCommit>) -> Self {
        let mut history = AggregateHistory::empty(key);
        history.commits.reserve(commits.len());
        for stored in commits {
            history.push(stored);
        }
        history
    }

    /// Appends the next commit (the caller checked that it follows the head).
    pub(crate) fn push(&mut self, stored: StoredCommit) {
        self.head = stored.head();
        self.commands
            .entry(stored.commit.command_id())
            .or_insert(self.commits.len());
        self.commits.push(stored);
    }

    /// The commits, in log order.
    pub fn commits(&self) -> &[StoredCommit] {
        &self.commits
    }

    /// The first commit recording `command_id`, if any: a retried command's first result.
    pub fn find_command(&self, command_id: CommandId) -> Option<&StoredCommit> {
        self.commands
            .get(&command_id)
            .and_then(|index| self.commits.get(*index))
    }

    /// The state `F` folded over the whole history: from where it was last folded on this
    /// history (or a history it was extended from), else from the first commit.
    pub fn folded<F: Fold>(&self) -> Arc<F> {
        let Ok(mut folds) = self.folds.lock() else {
            return Arc::new(F::from_history(self));
        };
        let kind = TypeId::of::<F>();
        let kept = folds
            .iter()
            .position(|folded| folded.kind == kind)
            .map(|index| folds.swap_remove(index))
            .and_then(|folded| Some((folded.commits, folded.state.downcast::<F>().ok()?)));
        let state = match kept {
            Some((commits, state)) if commits == self.commits.len() => state,
            Some((commits, mut state)) if commits < self.commits.len() => {
                // In place when the last command that read it has let it go.
                let folding = Arc::make_mut(&mut state);
                if self.commits[commits..]
                    .iter()
                    .all(|stored| folding.apply(stored))
                {
                    debug_assert_eq!(*state, F::from_history(self), "{}", self.key);
                    state
                } else {
                    Arc::new(F::from_history(self))
                }
            }
            _ => Arc::new(F::from_history(self)),
        };
        folds.push(FoldedState {
            kind,
            commits: self.commits.len(),
            state: state.clone(),
        });
        state
    }
}

impl Clone for AggregateHistory {
    fn clone(&self) -> Self {
        AggregateHistory {
            key: self.key,
            head: self.head,
            commits: self.commits.clone(),
            commands: self.commands.clone(),
            folds: Mutex::new(self.folds.lock().map(|f| f.clone()).unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use carelog_schemas::dose::DoseScheduled;
    use carelog_schemas::{
        Actor, Commit, CommitDraft, CommitHash, CommitId, CorrelationId, CourseId, DoseEvent,
        DoseId, EventId, EventPayload, EventRecord, Family, PartyId, PatientId, Role, Timestamp,
    };

    use super::*;

    static APPLIED: AtomicUsize = AtomicUsize::new(0);

    /// The positions of the commits folded; the commit at position 5 cannot be
    /// applied on top (as a correction cannot).
    #[derive(Debug, Clone, PartialEq)]
    struct Positions(Vec<u64>);

    impl Fold for Positions {
        fn from_history(history: &AggregateHistory) -> Self {
            Positions(history.commits().iter().map(|c| c.position).collect())
        }

        fn apply(&mut self, stored: &StoredCommit) -> bool {
            APPLIED.fetch_add(1, Ordering::SeqCst);
            self.0.push(stored.position);
            stored.position != 5
        }
    }

    fn stored(key: AggregateKey, position: u64) -> StoredCommit {
        let command_id = carelog_schemas::CommandId::new_random();
        let draft = CommitDraft {
            commit_id: CommitId::new_random(),
            command_id,
            correlation_id: CorrelationId::new_random(),
            patient_id: key.patient_id,
            family: key.family,
            actor: Actor {
                role: Role::Clinic,
                party_id: PartyId::new_random(),
            },
            events: vec![EventRecord {
                event_id: EventId::now_v7(),
                occurred_at: Timestamp::now(),
                payload: EventPayload::Dose(DoseEvent::DoseScheduled(DoseScheduled {
                    dose_id: DoseId::new_random(),
                    course_id: CourseId::new_random(),
                    planned_at: Timestamp::now(),
                })),
            }],
        };
        let (commit, sealed) =
            Commit::seal(draft, Timestamp::now(), 0, CommitHash::GENESIS).expect("seal");
        StoredCommit {
            position,
            key,
            hash: sealed.hash,
            commit: Arc::new(commit),
        }
    }

    #[test]
    fn folds_only_what_is_new_and_finds_commands() {
        let key = AggregateKey::new(PatientId::new_random(), Family::Dose);
        let mut history = AggregateHistory::from_commits(key, vec![stored(key, 1)]);
        // The state is whole, and `applied` commits were applied on top of a kept one.
        let check = |history: &AggregateHistory, applied: usize| {
            let state = history.folded::<Positions>();
            let expected: Vec<u64> = history.commits().iter().map(|c| c.position).collect();
            assert_eq!(state.0, expected);
            assert_eq!(
                APPLIED.load(Ordering::SeqCst),
                applied,
                "after {expected:?}"
            );
        };
        check(&history, 0);
        check(&history, 0);
        history.push(stored(key, 2));
        history.push(stored(key, 3));
        check(&history, 2);
        // A copy of the history keeps the state; one a command still holds is not changed.
        let held = history.folded::<Positions>();
        let mut copy = history.clone();
        copy.push(stored(key, 4));
        check(&copy, 3);
        assert_eq!(held.0, vec![1, 2, 3]);
        // A commit that cannot be applied on top: folded again whole, and kept so.
        copy.push(stored(key, 5));
        check(&copy, 4);
        copy.push(stored(key, 6));
        check(&copy, 5);

        let first = &copy.commits()[0];
        let found = copy.find_command(first.commit.command_id());
        assert_eq!(found.map(|c| c.position), Some(1));
        assert!(copy
            .find_command(carelog_schemas::CommandId::new_random())
            .is_none());
    }
}

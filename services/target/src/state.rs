//! The target family folded: targets with their practice since the last notch, and sessions.

use std::collections::BTreeMap;

use carelog_commands::state::{apply_commit, fold_live_events};
use carelog_eventlog::{AggregateHistory, Fold, StoredCommit};
use carelog_schemas::values::{CalendarDate, Ease, PracticeOutcome, TargetCategory};
use carelog_schemas::{EventPayload, PartyId, SessionId, TargetEvent, TargetId};

/// One practice of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Practice {
    pub(crate) on: CalendarDate,
    pub(crate) outcome: PracticeOutcome,
    pub(crate) ease: Ease,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Target {
    pub(crate) target_id: TargetId,
    pub(crate) category: TargetCategory,
    pub(crate) active: bool,
    /// Practices since the target was set or last notched up, in log order.
    pub(crate) practices_since_notch: Vec<Practice>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Session {
    pub(crate) therapist_id: PartyId,
    pub(crate) held: bool,
    pub(crate) cancelled: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TargetState {
    pub(crate) targets: BTreeMap<TargetId, Target>,
    pub(crate) sessions: BTreeMap<SessionId, Session>,
}

impl TargetState {
    fn apply_event(&mut self, payload: &EventPayload) {
        let EventPayload::Target(event) = payload else {
            return;
        };
        match event {
            TargetEvent::TargetSet(set) => {
                self.targets.insert(
                    set.target_id(),
                    Target {
                        target_id: set.target_id(),
                        category: set.category(),
                        active: true,
                        practices_since_notch: Vec::new(),
                    },
                );
            }
            TargetEvent::TargetPracticed(practiced) => {
                if let Some(target) = self.targets.get_mut(&practiced.target_id) {
                    target.practices_since_notch.push(Practice {
                        on: practiced.on,
                        outcome: practiced.outcome,
                        ease: practiced.ease,
                    });
                }
            }
            TargetEvent::TargetNotchedUp(notched) => {
                if let Some(target) = self.targets.get_mut(&notched.target_id) {
                    target.practices_since_notch.clear();
                }
            }
            TargetEvent::TargetRetired(retired) => {
                if let Some(target) = self.targets.get_mut(&retired.target_id) {
                    target.active = false;
                }
            }
            TargetEvent::SessionScheduled(scheduled) => {
                self.sessions.insert(
                    scheduled.session_id,
                    Session {
                        therapist_id: scheduled.therapist_id,
                        held: false,
                        cancelled: false,
                    },
                );
            }
            TargetEvent::SessionHeld(held) => {
                if let Some(session) = self.sessions.get_mut(&held.session_id) {
                    session.held = true;
                }
            }
            TargetEvent::SessionCancelled(cancelled) => {
                if let Some(session) = self.sessions.get_mut(&cancelled.session_id) {
                    session.cancelled = true;
                }
            }
            TargetEvent::EntryCorrected(_) => {}
        }
    }

    /// The active targets, in id order.
    pub(crate) fn active_targets(&self) -> impl Iterator<Item = &Target> {
        self.targets.values().filter(|target| target.active)
    }
}

impl Fold for TargetState {
    fn from_history(history: &AggregateHistory) -> Self {
        fold_live_events(history, TargetState::apply_event)
    }

    fn apply(&mut self, stored: &StoredCommit) -> bool {
        apply_commit(self, stored, TargetState::apply_event)
    }
}

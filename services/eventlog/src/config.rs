//! Settings of the care stream, with the defaults a single machine wants.

use std::time::Duration;

use async_nats::jetstream::stream;

use crate::subject::AggregateKey;

/// Retries within this window are stored once by JetStream itself; beyond it, the commit's
/// command id in the log makes retries idempotent (the command services look it up).
pub const MIN_DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Settings of the care stream and of appends.
#[derive(Debug, Clone)]
pub struct CareLogConfig {
    /// JetStream stream name.
    pub stream_name: String,
    /// 1 on one machine, 3 on a cluster.
    pub replicas: usize,
    /// JetStream's deduplication window for `Nats-Msg-Id`; at least ten minutes.
    pub duplicate_window: Duration,
    /// How long to wait for the log to acknowledge one append attempt.
    pub ack_timeout: Duration,
    /// How many times an append is sent when the transport fails (same bytes, same message
    /// id, so a retry of a commit that did land is answered as a duplicate).
    pub append_attempts: u32,
}

impl Default for CareLogConfig {
    fn default() -> Self {
        CareLogConfig {
            stream_name: "CARE".to_owned(),
            replicas: 1,
            duplicate_window: MIN_DUPLICATE_WINDOW,
            ack_timeout: Duration::from_secs(5),
            append_attempts: 5,
        }
    }
}

/// A setting outside what the care log allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("replicas must be 1, 3 or 5 (JetStream wants an odd count), got {0}")]
    Replicas(usize),
    #[error("the duplicate window must be at least 10 minutes, got {0:?}")]
    DuplicateWindow(Duration),
    #[error("the stream name must be non-empty, without spaces, dots, '*' or '>': {0:?}")]
    StreamName(String),
    #[error("append attempts must be at least 1")]
    AppendAttempts,
}

impl CareLogConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if ![1, 3, 5].contains(&self.replicas) {
            return Err(ConfigError::Replicas(self.replicas));
        }
        if self.duplicate_window < MIN_DUPLICATE_WINDOW {
            return Err(ConfigError::DuplicateWindow(self.duplicate_window));
        }
        let name_ok = !self.stream_name.is_empty()
            && !self
                .stream_name
                .contains(|c: char| c.is_whitespace() || ".*>".contains(c));
        if !name_ok {
            return Err(ConfigError::StreamName(self.stream_name.clone()));
        }
        if self.append_attempts == 0 {
            return Err(ConfigError::AppendAttempts);
        }
        Ok(())
    }

    /// The stream's settings, all explicit: clinical history is kept at least six years, so
    /// nothing ages out, nothing is capped, and the API refuses deletes and purges.
    pub(crate) fn stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.stream_name.clone(),
            description: Some("carelog: the care log, the single source of truth".to_owned()),
            subjects: AggregateKey::stream_subjects(),
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            num_replicas: self.replicas,
            max_age: Duration::ZERO,
            max_bytes: -1,
            max_messages: -1,
            max_messages_per_subject: -1,
            max_message_size: 1024 * 1024,
            discard: stream::DiscardPolicy::New,
            duplicate_window: self.duplicate_window,
            deny_delete: true,
            deny_purge: true,
            allow_rollup: false,
            allow_direct: true,
            ..Default::default()
        }
    }
}

/// What in a live stream's settings breaks the care log's promises (`stream_config`): each a
/// sentence naming the setting. Empty when the stream keeps the history, refuses deletes and
/// purges, takes appends (not sealed), copies nothing elsewhere, and deduplicates for at least
/// `config`'s window. Replicas and the description are not checked (a cluster may have grown;
/// they lose nothing). Settings of nats-server 2.11 and later (per-message TTLs) are not seen:
/// the client is built for 2.9.
pub(crate) fn settings_problems(config: &CareLogConfig, live: &stream::Config) -> Vec<String> {
    let mut problems = Vec::new();
    let mut problem = |broken: bool, what: String| {
        if broken {
            problems.push(what);
        }
    };
    problem(
        live.retention != stream::RetentionPolicy::Limits,
        format!(
            "retention is {:?}, not Limits (messages would be removed once consumed)",
            live.retention
        ),
    );
    problem(
        live.storage != stream::StorageType::File,
        format!("storage is {:?}, not File", live.storage),
    );
    problem(
        !live.max_age.is_zero(),
        format!("max_age is {:?}: history would age out", live.max_age),
    );
    problem(
        live.max_bytes != -1 || live.max_messages != -1 || live.max_messages_per_subject != -1,
        format!(
            "a size limit is set (max_bytes {}, max_messages {}, max_messages_per_subject {}): \
             history would be dropped",
            live.max_bytes, live.max_messages, live.max_messages_per_subject
        ),
    );
    problem(
        !live.deny_delete || !live.deny_purge || live.allow_rollup,
        "deletes, purges or roll-ups are allowed".to_owned(),
    );
    problem(
        live.duplicate_window < config.duplicate_window,
        format!(
            "the duplicate window is {:?}, shorter than {:?}",
            live.duplicate_window, config.duplicate_window
        ),
    );
    problem(
        live.sealed || live.republish.is_some() || live.mirror.is_some() || live.sources.is_some(),
        "it is sealed, republishes its messages, or mirrors or sources another stream".to_owned(),
    );
    problem(
        !live.allow_direct,
        "direct gets are not allowed (aggregate heads are read with them)".to_owned(),
    );
    let wanted = AggregateKey::stream_subjects();
    problem(
        !wanted.iter().all(|subject| live.subjects.contains(subject)),
        format!(
            "its subjects {:?} do not include {:?}",
            live.subjects, wanted
        ),
    );
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_set_up_by_connect_has_no_problems_and_each_weakening_is_named() {
        let config = CareLogConfig::default();
        assert!(settings_problems(&config, &config.stream_config()).is_empty());
        type Weaken = fn(&mut stream::Config);
        let weakened: [(&str, Weaken); 7] = [
            ("max_age", |c| c.max_age = Duration::from_secs(86_400)),
            ("size limit", |c| c.max_messages_per_subject = 10),
            ("purges", |c| c.deny_purge = false),
            ("duplicate window", |c| {
                c.duplicate_window = Duration::from_secs(60)
            }),
            ("retention", |c| {
                c.retention = stream::RetentionPolicy::WorkQueue
            }),
            ("direct gets", |c| c.allow_direct = false),
            ("sealed", |c| c.sealed = true),
        ];
        for (named, weaken) in weakened {
            let mut live = config.stream_config();
            weaken(&mut live);
            let problems = settings_problems(&config, &live);
            assert_eq!(problems.len(), 1, "{named}: {problems:?}");
            assert!(problems[0].contains(named), "{named}: {problems:?}");
        }
    }

    #[test]
    fn rejects_settings_that_would_lose_history_or_dedupe() {
        let check = |config: CareLogConfig, expected: Result<(), ConfigError>| {
            assert_eq!(config.validate(), expected);
        };
        check(CareLogConfig::default(), Ok(()));
        check(
            CareLogConfig {
                replicas: 2,
                ..CareLogConfig::default()
            },
            Err(ConfigError::Replicas(2)),
        );
        check(
            CareLogConfig {
                duplicate_window: Duration::from_secs(60),
                ..CareLogConfig::default()
            },
            Err(ConfigError::DuplicateWindow(Duration::from_secs(60))),
        );
        check(
            CareLogConfig {
                stream_name: "care.log".to_owned(),
                ..CareLogConfig::default()
            },
            Err(ConfigError::StreamName("care.log".to_owned())),
        );
    }

    #[test]
    fn stream_keeps_everything() {
        let config = CareLogConfig::default().stream_config();
        assert_eq!(config.max_age, Duration::ZERO);
        assert_eq!(config.max_bytes, -1);
        assert_eq!(config.max_messages, -1);
        assert_eq!(config.storage, stream::StorageType::File);
        assert!(config.duplicate_window >= MIN_DUPLICATE_WINDOW);
        assert!(config.deny_delete && config.deny_purge);
    }
}

//! The typed error a command can end in: a stable code a program branches on, the rule or field
//! it concerns, and a message a person understands. Whatever the error, nothing was appended.

use std::fmt;

use serde::Serialize;

/// What kind of refusal an error is. The names are part of the command API: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The command is malformed: bad JSON, a missing, unknown or mistyped field, a value out of
    /// range, or a value a rule of domain §4 refuses as invalid (a Spravato amount of 70 mg).
    Invalid,
    /// The actor's role or party may not issue this command for this patient (domain §5).
    Forbidden,
    /// A referenced id (course, dose, consent, target, session, event) does not exist for this
    /// patient.
    NotFound,
    /// The patient's record kept moving while the command was decided, after every retry; or the
    /// command id was already used by another actor. Sending the same command again is safe.
    Conflict,
    /// The command is well formed but a rule of domain §4 refuses it on the current record.
    RuleViolated,
    /// The care log could not be read or did not acknowledge the append. Sending the same
    /// command (same command id) again is safe: it is applied at most once.
    Unavailable,
}

impl ErrorCode {
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorCode::Invalid => "invalid",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::RuleViolated => "rule_violated",
            ErrorCode::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Why a command was refused. `rule` names the rule (stable, snake case, e.g.
/// `spravato_amount`); `field` the JSON path of the offending input (e.g. `data.amount_mg`).
///
/// The message may quote the caller's own input back to them; it is never logged, because input
/// can hold health information.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct CommandError {
    pub code: ErrorCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl CommandError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        CommandError {
            code,
            rule: None,
            field: None,
            message: message.into(),
        }
    }

    /// Malformed input at a field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        CommandError::new(ErrorCode::Invalid, message).at(field)
    }

    /// A rule of domain §4 or §5 refused the command.
    pub fn rule(code: ErrorCode, rule: &'static str, message: impl Into<String>) -> Self {
        CommandError {
            code,
            rule: Some(rule),
            field: None,
            message: message.into(),
        }
    }

    pub fn forbidden(rule: &'static str, message: impl Into<String>) -> Self {
        CommandError::rule(ErrorCode::Forbidden, rule, message)
    }

    pub fn not_found(rule: &'static str, message: impl Into<String>) -> Self {
        CommandError::rule(ErrorCode::NotFound, rule, message)
    }

    pub fn violated(rule: &'static str, message: impl Into<String>) -> Self {
        CommandError::rule(ErrorCode::RuleViolated, rule, message)
    }

    pub fn invalid(rule: &'static str, message: impl Into<String>) -> Self {
        CommandError::rule(ErrorCode::Invalid, rule, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        CommandError::new(ErrorCode::Unavailable, message)
    }

    /// The same error, about the input at `field`.
    #[must_use]
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

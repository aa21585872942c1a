//! The JSON command envelope every service takes, and parsing with errors that name the field:
//!
//! ```json
//! { "command_id": "…", "patient_id": "…", "actor": { "role": "clinic", "party_id": "…" },
//!   "correlation_id": "…", "occurred_at": "2026-03-03T09:30:00Z", "data": { … } }
//! ```
//!
//! `correlation_id` (defaults to the command id) and `occurred_at` (defaults to what the command
//! says, else the time the service received it) are optional; everything else is required and
//! unknown fields are refused, so a typo is an error rather than a silently ignored field.
//!
//! A well-formed command is read straight into its types, `data` kept as raw JSON text until
//! the command's type reads it. Anything the direct read refuses is read again through a
//! `serde_json::Value`, which decides exactly as before and names the offending field; so the
//! direct read only ever accepts what that path accepts.

use carelog_schemas::{Actor, CommandId, CorrelationId, PartyId, PatientId, Role, Timestamp};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::CommandError;

/// Who sent a command, what it is about, and how to tell it from a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandMeta {
    /// The caller's idempotency key: a retry carries the same one and gets the first answer.
    pub command_id: CommandId,
    pub patient_id: PatientId,
    /// The actor as the command states it (until an HTTP gateway authenticates callers).
    pub actor: Actor,
    pub correlation_id: CorrelationId,
    /// When the recorded thing happened, if the caller says.
    pub occurred_at: Option<Timestamp>,
}

/// A parsed envelope whose `data` has not been read yet: its shape depends on the command.
#[derive(Debug, Clone)]
pub struct RawCommand<'a> {
    pub meta: CommandMeta,
    pub data: CommandData<'a>,
}

/// A command's `data`, not read yet: the JSON text of the request, or (when the request was
/// read through a `Value`) that value.
#[derive(Debug, Clone)]
pub enum CommandData<'a> {
    Text(&'a RawValue),
    Value(serde_json::Value),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeFields<Data> {
    command_id: CommandId,
    patient_id: PatientId,
    actor: ActorFields,
    correlation_id: Option<CorrelationId>,
    occurred_at: Option<Timestamp>,
    data: Data,
}

impl<Data> EnvelopeFields<Data> {
    fn into_raw<'a>(self, data: impl FnOnce(Data) -> CommandData<'a>) -> RawCommand<'a> {
        RawCommand {
            meta: CommandMeta {
                command_id: self.command_id,
                patient_id: self.patient_id,
                actor: Actor {
                    role: self.actor.role,
                    party_id: self.actor.party_id,
                },
                correlation_id: self
                    .correlation_id
                    .unwrap_or_else(|| same_uuid(self.command_id)),
                occurred_at: self.occurred_at,
            },
            data: data(self.data),
        }
    }
}

/// The actor as sent: refuses unknown fields (the schema's `Actor` is lenient, being a
/// decoding type for the log).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActorFields {
    role: Role,
    party_id: PartyId,
}

/// Reads a command envelope from the bytes of a request. On failure, the command id is
/// returned beside the error when it could be read, so the reply can name it.
pub fn parse_envelope(bytes: &[u8]) -> Result<RawCommand<'_>, (Option<CommandId>, CommandError)> {
    // serde reads a struct from a JSON array too; the envelope must be an object.
    if starts_object(bytes) {
        if let Ok(fields) = serde_json::from_slice::<EnvelopeFields<&RawValue>>(bytes) {
            return Ok(fields.into_raw(CommandData::Text));
        }
    }
    parse_envelope_value(bytes)
}

/// Whether the first byte that is not JSON whitespace opens an object.
fn starts_object(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .find(|byte| !matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|byte| *byte == b'{')
}

/// The envelope read through a `Value`: the path of every refusal, with its precise error.
fn parse_envelope_value(bytes: &[u8]) -> Result<RawCommand<'_>, (Option<CommandId>, CommandError)> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|error| {
        let message = format!("the request is not valid JSON: {error}");
        (None, CommandError::new(crate::ErrorCode::Invalid, message))
    })?;
    let command_id = value
        .get("command_id")
        .and_then(serde_json::Value::as_str)
        .and_then(|text| text.parse::<CommandId>().ok());
    if !value.is_object() {
        let error = CommandError::new(
            crate::ErrorCode::Invalid,
            "a command must be a JSON object with command_id, patient_id, actor and data",
        );
        return Err((command_id, error));
    }
    let fields: EnvelopeFields<serde_json::Value> =
        from_value(value, "").map_err(|error| (command_id, error))?;
    Ok(fields.into_raw(CommandData::Value))
}

fn same_uuid(command_id: CommandId) -> CorrelationId {
    // A command id is never nil, so neither is the correlation id made from it.
    CorrelationId::try_from(*command_id.as_uuid()).unwrap_or_else(|_| CorrelationId::new_random())
}

/// Reads a command's `data` into its type; errors name the field as `data.<path>`.
pub fn parse_data<T: DeserializeOwned>(data: CommandData<'_>) -> Result<T, CommandError> {
    let data = match data {
        CommandData::Text(text) => {
            if starts_object(text.get().as_bytes()) {
                if let Ok(parsed) = serde_json::from_str(text.get()) {
                    return Ok(parsed);
                }
            }
            match serde_json::from_str(text.get()) {
                Ok(value) => value,
                // Only where the direct read skipped what a `Value` refuses (a number out of
                // range, nesting too deep): the same refusal as reading the request whole.
                Err(error) => {
                    return Err(CommandError::new(
                        crate::ErrorCode::Invalid,
                        format!("the request is not valid JSON: {error}"),
                    ))
                }
            }
        }
        CommandData::Value(value) => value,
    };
    if !data.is_object() {
        return Err(CommandError::invalid_field(
            "data",
            "data must be a JSON object holding the command's fields",
        ));
    }
    from_value(data, "data")
}

/// Deserializes `value`, turning a serde error into `invalid` with the JSON path of the field
/// it is about under `prefix`.
fn from_value<T: DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, CommandError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let mut path = join_path(prefix, &error.path().to_string());
        let message = error.inner().to_string();
        // serde reports a missing field at the object that lacks it: name the field itself.
        if let Some(missing) = quoted_name(&message, "missing field `") {
            path = join_path(&path, missing);
        }
        let message = if path.is_empty() {
            message
        } else {
            format!("{path}: {message}")
        };
        let error = CommandError::new(crate::ErrorCode::Invalid, message);
        if path.is_empty() {
            error
        } else {
            error.at(path)
        }
    })
}

fn join_path(prefix: &str, path: &str) -> String {
    let path = if path == "." { "" } else { path };
    match (prefix.is_empty(), path.is_empty()) {
        (_, true) => prefix.to_owned(),
        (true, false) => path.to_owned(),
        (false, false) if path.starts_with('[') => format!("{prefix}{path}"),
        (false, false) => format!("{prefix}.{path}"),
    }
}

/// The name after `opening` up to the next backtick, e.g. the field of "missing field `x`".
fn quoted_name<'a>(message: &'a str, opening: &str) -> Option<&'a str> {
    let start = message.find(opening)? + opening.len();
    let rest = &message[start..];
    rest.find('`').map(|end| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Example {
        amount_mg: carelog_schemas::values::Milligrams,
        phase: carelog_schemas::values::VitalsPhase,
        blood_pressure: carelog_schemas::values::BloodPressure,
    }

    fn envelope(data: serde_json::Value) -> Vec<u8> {
        serde_json::json!({
            "command_id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
            "patient_id": "5b0c3f5e-2f1a-4c9d-8e7b-6a5f4e3d2c1b",
            "actor": { "role": "clinic", "party_id": "8f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2918" },
            "data": data,
        })
        .to_string()
        .into_bytes()
    }

    /// Parses `bytes` as an envelope whose data is an `Example`; the outcome is `Ok(())` or
    /// the field and a piece of the message.
    fn check(bytes: &[u8], expected: Result<(), (Option<&str>, &str)>) {
        let outcome = parse_envelope(bytes)
            .map_err(|(_, error)| error)
            .and_then(|raw| parse_data::<Example>(raw.data))
            .map(|_| ());
        match (outcome, expected) {
            (Ok(()), Ok(())) => {}
            (Err(error), Err((field, message))) => {
                assert_eq!(error.field.as_deref(), field, "{error:?}");
                assert!(
                    error.message.contains(message),
                    "{error:?} lacks {message:?}"
                );
                assert_eq!(error.code, crate::ErrorCode::Invalid);
            }
            (outcome, expected) => panic!("got {outcome:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        let good = serde_json::json!({
            "amount_mg": 56, "phase": "pre_dose",
            "blood_pressure": { "systolic": 120, "diastolic": 80 }
        });
        check(&envelope(good.clone()), Ok(()));
        check(b"{not json", Err((None, "not valid JSON")));
        check(b"[1,2]", Err((None, "must be a JSON object")));
        // serde would read a struct from an array: neither the envelope nor its data may be one.
        check(
            br#"["1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "5b0c3f5e-2f1a-4c9d-8e7b-6a5f4e3d2c1b",
                {"role": "clinic", "party_id": "8f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2918"},
                null, null, {}]"#,
            Err((None, "must be a JSON object")),
        );
        check(
            &envelope(serde_json::json!([56, "pre_dose", { "systolic": 120, "diastolic": 80 }])),
            Err((Some("data"), "must be a JSON object")),
        );
        // A repeated key: the last one counts, as it always did.
        let repeated = String::from_utf8(envelope(good.clone()))
            .expect("UTF-8")
            .replacen("\"amount_mg\":56", "\"amount_mg\":0,\"amount_mg\":56", 1);
        assert!(repeated.contains("\"amount_mg\":0,"), "{repeated}");
        check(repeated.as_bytes(), Ok(()));
        let mut edited = good.clone();
        edited["amount_mg"] = serde_json::json!("56");
        check(
            &envelope(edited),
            Err((Some("data.amount_mg"), "invalid type")),
        );
        let mut edited = good.clone();
        edited["amount_mg"] = serde_json::json!(0);
        check(
            &envelope(edited),
            Err((Some("data.amount_mg"), "outside 0.001..=1000 mg")),
        );
        let mut edited = good.clone();
        edited["phase"] = serde_json::json!("after");
        check(
            &envelope(edited),
            Err((Some("data.phase"), "unknown variant")),
        );
        let mut edited = good.clone();
        edited["blood_pressure"] = serde_json::json!({ "systolic": 80, "diastolic": 120 });
        check(
            &envelope(edited),
            Err((Some("data.blood_pressure"), "systolic must be above")),
        );
        let mut edited = good.clone();
        edited.as_object_mut().map(|map| map.remove("phase"));
        check(
            &envelope(edited),
            Err((Some("data.phase"), "missing field `phase`")),
        );
        let mut edited = good.clone();
        edited["flags"] = serde_json::json!([]);
        check(
            &envelope(edited),
            Err((Some("data.flags"), "unknown field `flags`")),
        );
        check(
            &envelope(serde_json::json!(5)),
            Err((Some("data"), "must be a JSON object")),
        );

        let mut whole: serde_json::Value =
            serde_json::from_slice(&envelope(good.clone())).expect("json");
        whole["actor"]["role"] = serde_json::json!("janitor");
        check(
            whole.to_string().as_bytes(),
            Err((Some("actor.role"), "unknown variant")),
        );
        whole["actor"] = serde_json::json!({ "role": "clinic" });
        check(
            whole.to_string().as_bytes(),
            Err((Some("actor.party_id"), "missing field")),
        );
        let mut whole: serde_json::Value =
            serde_json::from_slice(&envelope(good.clone())).expect("json");
        whole["patient_id"] = serde_json::json!("patient-7");
        check(
            whole.to_string().as_bytes(),
            Err((Some("patient_id"), "UUID parsing failed")),
        );
        whole.as_object_mut().map(|map| map.remove("patient_id"));
        check(
            whole.to_string().as_bytes(),
            Err((Some("patient_id"), "missing field")),
        );
        let mut whole: serde_json::Value = serde_json::from_slice(&envelope(good)).expect("json");
        whole["extra"] = serde_json::json!(1);
        check(
            whole.to_string().as_bytes(),
            Err((Some("extra"), "unknown field `extra`")),
        );
    }

    #[test]
    fn the_command_id_survives_a_bad_envelope_and_names_the_correlation() {
        let mut whole: serde_json::Value =
            serde_json::from_slice(&envelope(serde_json::json!({}))).expect("json");
        whole["actor"] = serde_json::json!(null);
        let (command_id, _) = parse_envelope(whole.to_string().as_bytes()).expect_err("no actor");
        assert_eq!(
            command_id.map(|id| id.to_string()).as_deref(),
            Some("1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d")
        );
        let bytes = envelope(serde_json::json!({}));
        let raw = parse_envelope(&bytes).expect("valid");
        assert_eq!(
            raw.meta.correlation_id.as_uuid(),
            raw.meta.command_id.as_uuid()
        );
    }
}

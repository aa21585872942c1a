//! Bounded free text (notes, reasons, descriptions, plans) and lot numbers: never empty, never
//! padded, never unbounded, never carrying control characters that break logs and exports.

use serde::{Deserialize, Serialize};

use super::ValueError;

/// The most characters a free-text field may hold: enough for a clinical note, small enough
/// that one event stays a few kilobytes.
pub const MAX_FREE_TEXT_CHARS: usize = 2000;

/// The most characters of a medication lot number.
pub const MAX_LOT_NUMBER_CHARS: usize = 40;

/// Free text written by a person: trimmed, 1..=2000 characters, no control characters except
/// line breaks and tabs. Building one trims the input, so `"  late  "` becomes `"late"`.
///
/// Free text may hold health information: never log it (conventions, tracing).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FreeText(String);

impl FreeText {
    pub fn new(text: impl Into<String>) -> Result<Self, ValueError> {
        let text = text.into();
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(ValueError::TextEmpty);
        }
        let chars = trimmed.chars().count();
        if chars > MAX_FREE_TEXT_CHARS {
            return Err(ValueError::TextTooLong {
                chars,
                max: MAX_FREE_TEXT_CHARS,
            });
        }
        if let Some(control) = trimmed
            .chars()
            .find(|character| character.is_control() && !matches!(character, '\n' | '\r' | '\t'))
        {
            return Err(ValueError::TextControlCharacter(u32::from(control)));
        }
        // Keep the allocation when there was nothing to trim.
        if trimmed.len() == text.len() {
            Ok(Self(text))
        } else {
            Ok(Self(trimmed.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for FreeText {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Free text may be PHI. A Debug print (a panic message, a stray `?event` in a log line)
        // must not leak it, so Debug shows only the length; read the text with `as_str`.
        write!(formatter, "FreeText(<{} chars>)", self.0.chars().count())
    }
}

impl TryFrom<String> for FreeText {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, ValueError> {
        Self::new(value)
    }
}

impl From<FreeText> for String {
    fn from(value: FreeText) -> String {
        value.0
    }
}

/// A manufacturer's lot (batch) number: 1..=40 ASCII letters, digits, `-`, `.` or `/`, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LotNumber(String);

impl LotNumber {
    pub fn new(text: impl Into<String>) -> Result<Self, ValueError> {
        let text = text.into();
        let trimmed = text.trim();
        let chars = trimmed.chars().count();
        if chars == 0 || chars > MAX_LOT_NUMBER_CHARS {
            return Err(ValueError::LotNumberLength {
                chars,
                max: MAX_LOT_NUMBER_CHARS,
            });
        }
        if let Some(bad) = trimmed.chars().find(|character| {
            !(character.is_ascii_alphanumeric() || matches!(character, '-' | '.' | '/'))
        }) {
            return Err(ValueError::LotNumberCharacter(bad));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LotNumber {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, ValueError> {
        Self::new(value)
    }
}

impl From<LotNumber> for String {
    fn from(value: LotNumber) -> String {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_is_trimmed_bounded_and_printable() {
        fn check(input: &str, expected: Result<&str, ValueError>) {
            assert_eq!(
                FreeText::new(input).as_ref().map(FreeText::as_str),
                expected.as_deref(),
                "{input:?}"
            );
            // The decoders apply the same rule.
            let json = serde_json::to_string(input).expect("json string");
            assert_eq!(
                serde_json::from_str::<FreeText>(&json).is_ok(),
                expected.is_ok(),
                "{input:?} from JSON"
            );
            let wire = postcard::to_allocvec(input).expect("postcard string");
            assert_eq!(
                postcard::from_bytes::<FreeText>(&wire).is_ok(),
                expected.is_ok(),
                "{input:?} from postcard"
            );
        }
        check(
            "starting tasks felt easier",
            Ok("starting tasks felt easier"),
        );
        check("  late  \n", Ok("late"));
        check(
            "line one\nline two\ttabbed",
            Ok("line one\nline two\ttabbed"),
        );
        check("é ✓ 漢字", Ok("é ✓ 漢字"));
        check("", Err(ValueError::TextEmpty));
        check(" \n\t ", Err(ValueError::TextEmpty));
        check("bell\u{7}", Err(ValueError::TextControlCharacter(7)));
        check("nul\0byte", Err(ValueError::TextControlCharacter(0)));
        let longest = "é".repeat(MAX_FREE_TEXT_CHARS);
        check(&longest, Ok(&longest));
        check(
            &"a".repeat(MAX_FREE_TEXT_CHARS + 1),
            Err(ValueError::TextTooLong {
                chars: MAX_FREE_TEXT_CHARS + 1,
                max: MAX_FREE_TEXT_CHARS,
            }),
        );
    }

    #[test]
    fn lot_numbers() {
        fn check(input: &str, expected: Result<&str, ValueError>) {
            assert_eq!(
                LotNumber::new(input).as_ref().map(LotNumber::as_str),
                expected.as_deref(),
                "{input:?}"
            );
        }
        check("KXA2B14", Ok("KXA2B14"));
        check(" 24-0318/B.2 ", Ok("24-0318/B.2"));
        check(
            "",
            Err(ValueError::LotNumberLength {
                chars: 0,
                max: MAX_LOT_NUMBER_CHARS,
            }),
        );
        check(
            &"9".repeat(41),
            Err(ValueError::LotNumberLength {
                chars: 41,
                max: MAX_LOT_NUMBER_CHARS,
            }),
        );
        check("KX A2", Err(ValueError::LotNumberCharacter(' ')));
        check("lot;drop", Err(ValueError::LotNumberCharacter(';')));
        assert!(serde_json::from_str::<LotNumber>("\"a b\"").is_err());
    }
}

//! Rows in PostgreSQL's binary `COPY` format, for the batch's timeline rows: the cheapest way
//! to hand many rows to the server (no statement to parse, no arrays to unpack).
//!
//! Format (PostgreSQL manual, "COPY", binary format): a header, then per row the number of
//! fields (int16) and each field as its length (int32, -1 for NULL) and its bytes in the
//! type's binary form; then -1 (int16).

use time::OffsetDateTime;
use uuid::Uuid;

/// 2000-01-01T00:00:00Z, where PostgreSQL's timestamps count from.
const PG_EPOCH: OffsetDateTime = time::macros::datetime!(2000-01-01 00:00:00 UTC);

/// A binary `COPY` body being written.
pub(crate) struct BinaryCopy {
    buffer: Vec<u8>,
}

impl BinaryCopy {
    pub(crate) fn with_capacity(bytes: usize) -> BinaryCopy {
        let mut buffer = Vec::with_capacity(bytes + 32);
        buffer.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buffer.extend_from_slice(&0i32.to_be_bytes()); // flags
        buffer.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        BinaryCopy { buffer }
    }

    /// Starts a row of `fields` fields.
    pub(crate) fn row(&mut self, fields: i16) {
        self.buffer.extend_from_slice(&fields.to_be_bytes());
    }

    fn field(&mut self, bytes: &[u8]) {
        // A field is at most a few kilobytes here (text the schemas bound, a JSON detail).
        let length = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
        self.buffer.extend_from_slice(&length.to_be_bytes());
        self.buffer.extend_from_slice(bytes);
    }

    pub(crate) fn null(&mut self) {
        self.buffer.extend_from_slice(&(-1i32).to_be_bytes());
    }

    pub(crate) fn text(&mut self, value: &str) {
        self.field(value.as_bytes());
    }

    pub(crate) fn optional_text(&mut self, value: Option<&str>) {
        match value {
            Some(value) => self.text(value),
            None => self.null(),
        }
    }

    pub(crate) fn uuid(&mut self, value: Uuid) {
        self.field(value.as_bytes());
    }

    pub(crate) fn optional_uuid(&mut self, value: Option<Uuid>) {
        match value {
            Some(value) => self.uuid(value),
            None => self.null(),
        }
    }

    pub(crate) fn int8(&mut self, value: i64) {
        self.field(&value.to_be_bytes());
    }

    pub(crate) fn int4(&mut self, value: i32) {
        self.field(&value.to_be_bytes());
    }

    /// Microseconds since 2000-01-01 UTC, truncated as sqlx's own encoding does.
    pub(crate) fn timestamptz(&mut self, value: OffsetDateTime) {
        let micros = (value - PG_EPOCH).whole_microseconds();
        self.int8(i64::try_from(micros).unwrap_or(i64::MAX));
    }

    /// `jsonb`'s binary form: version 1, then the JSON text (which the server checks).
    pub(crate) fn jsonb(&mut self, json_text: &[u8]) {
        let length = i32::try_from(json_text.len() + 1).unwrap_or(i32::MAX);
        self.buffer.extend_from_slice(&length.to_be_bytes());
        self.buffer.push(1);
        self.buffer.extend_from_slice(json_text);
    }

    /// The finished body, trailer included.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.buffer.extend_from_slice(&(-1i16).to_be_bytes());
        self.buffer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_laid_out_as_postgresql_reads_it() {
        let mut copy = BinaryCopy::with_capacity(0);
        copy.row(3);
        copy.int4(7);
        copy.null();
        copy.timestamptz(PG_EPOCH + time::Duration::microseconds(1));
        let bytes = copy.finish();
        assert_eq!(&bytes[..11], b"PGCOPY\n\xff\r\n\0");
        assert_eq!(
            &bytes[19..],
            [
                0, 3, // fields
                0, 0, 0, 4, 0, 0, 0, 7, // int4 7
                255, 255, 255, 255, // NULL
                0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1, // one microsecond after the epoch
                255, 255 // trailer
            ]
        );
    }

    #[test]
    fn jsonb_is_its_version_then_the_text_with_the_length_before_both() {
        let mut copy = BinaryCopy::with_capacity(0);
        copy.jsonb(br#"{"a":1}"#);
        let bytes = copy.finish();
        assert_eq!(&bytes[19..], b"\0\0\0\x08\x01{\"a\":1}\xff\xff");
    }
}

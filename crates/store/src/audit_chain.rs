//! The audit trail's hash chain (R-AUD-04), defined here rather than in any database so that
//! every storage adapter writes and verifies the same hashes. Pure computation, no I/O.
//!
//! # Hash versions
//! Each row records the formula that produced its hash ([`HashVersion`]):
//! - **1** — `sha256(prev_hash || audit_payload(row))`, computed by PostgreSQL over the text of
//!   a `jsonb` array (`crates/store/migrations/20250101000000_initial.sql`). Rows written
//!   before migration `20261201000100` carry it; only the PostgreSQL adapter can recompute it.
//! - **2** — `sha256(prev_hash || canonical(row))` with the canonical form below, computed in
//!   Rust. Every row appended now is version 2.
//!
//! # Canonical form, version 2
//! `prev_hash` is the previous row's hash as stored (an app's first row uses
//! [`GENESIS_HASH`]). `canonical(row)` is the concatenation of:
//!
//! | field         | encoding                                                            |
//! |---------------|---------------------------------------------------------------------|
//! | tag           | the 18 ASCII bytes `alter.audit.row.v2`, then one `0x00` byte      |
//! | `app_id`      | the UUID's 16 bytes (RFC 9562 order)                                |
//! | `seq`         | signed 64-bit, big-endian                                           |
//! | `event_id`    | 16 bytes                                                            |
//! | `kind`        | *text*                                                              |
//! | `source`      | *text*: `jwt`, `webhook`, `directory_sync` or `admin`               |
//! | `user_id`     | `0x00` when absent; `0x01` then the 16 bytes when present           |
//! | `occurred_at` | microseconds since 1970-01-01T00:00:00Z, signed 64-bit, big-endian  |
//! | `recorded_at` | the same                                                            |
//! | `detail`      | *text* holding the canonical JSON of the detail                     |
//!
//! *text* is the byte length as an unsigned 32-bit big-endian integer, then the UTF-8 bytes.
//! Times are truncated to whole microseconds (towards the past) before they are stored and
//! hashed, so the stored value is exactly the hashed one. Every stored column is covered but
//! `hash` itself and `hash_version`, which the tag covers.
//!
//! **Canonical JSON**: no whitespace; `null`, `true`, `false`; arrays in order; object members
//! sorted by the bytes of their UTF-8 keys; strings in double quotes with `"` and `\` escaped
//! as `\"` and `\\`, U+0008, U+0009, U+000A, U+000C, U+000D as `\b \t \n \f \r`, other
//! characters below U+0020 as `\u00xx` (lowercase hex), and everything else as its own UTF-8
//! bytes; numbers as their exact decimal value in plain notation — an optional `-`, the
//! integer digits without leading zeros, and only when there is a fractional part a `.` and
//! its digits without trailing zeros (`1.0` → `1`, `1e3` → `1000`, `2.50` → `2.5`,
//! `1e-7` → `0.0000001`, `-0` → `0`). Numbers that are not 64-bit integers are IEEE-754
//! doubles, taken at the shortest decimal that reads back as the same double. The form
//! therefore survives a round trip through any store that keeps JSON values (PostgreSQL's
//! `jsonb` rewrites number text and reorders keys, and that changes nothing here).

use alter_core::{AppId, EventId, EventSource, UserId};
use chrono::{DateTime, Utc};
use serde_json::{Number, Value};
use sha2::{Digest, Sha256};

use crate::audit::{AuditEvent, ChainVerification, GENESIS_HASH, NewAuditEvent};

/// A SHA-256 chain hash.
pub type ChainHash = [u8; 32];

/// Domain separation and version tag at the start of every version-2 canonical form.
const TAG_V2: &[u8] = b"alter.audit.row.v2\0";

/// Which formula a row's hash was computed with; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashVersion {
    /// PostgreSQL's `sha256(prev_hash || audit_payload(row))` over `jsonb` text (legacy rows).
    V1,
    /// `sha256(prev_hash || canonical(row))`, computed in Rust.
    V2,
}

impl HashVersion {
    /// The version every new row is written with.
    pub const CURRENT: Self = Self::V2;

    /// The number stored in the `hash_version` column.
    pub const fn number(self) -> i16 {
        match self {
            Self::V1 => 1,
            Self::V2 => 2,
        }
    }

    /// The version stored as `number`, if this release knows it.
    pub const fn from_number(number: i16) -> Option<Self> {
        match number {
            1 => Some(Self::V1),
            2 => Some(Self::V2),
            _ => None,
        }
    }
}

/// The fields of one trail row that its hash covers, borrowed from whichever type holds them.
#[derive(Clone, Copy, Debug)]
pub struct ChainedFields<'a> {
    pub app_id: AppId,
    pub seq: i64,
    pub event_id: EventId,
    pub kind: &'a str,
    pub source: EventSource,
    pub user_id: Option<UserId>,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub detail: &'a Value,
}

impl<'a> From<&'a AuditEvent> for ChainedFields<'a> {
    fn from(row: &'a AuditEvent) -> Self {
        Self {
            app_id: row.app_id,
            seq: row.seq,
            event_id: row.event_id,
            kind: &row.kind,
            source: row.source,
            user_id: row.user_id,
            occurred_at: row.occurred_at,
            recorded_at: row.recorded_at,
            detail: &row.detail,
        }
    }
}

impl ChainedFields<'_> {
    /// The version-2 canonical bytes of the row (see the module docs).
    pub fn canonical(&self) -> Vec<u8> {
        let mut detail = Vec::with_capacity(128);
        write_canonical_json(self.detail, &mut detail);
        let mut out = Vec::with_capacity(TAG_V2.len() + 100 + self.kind.len() + detail.len());
        out.extend_from_slice(TAG_V2);
        out.extend_from_slice(self.app_id.as_uuid().as_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(self.event_id.as_uuid().as_bytes());
        write_text(self.kind.as_bytes(), &mut out);
        write_text(self.source.as_str().as_bytes(), &mut out);
        match self.user_id {
            None => out.push(0),
            Some(user) => {
                out.push(1);
                out.extend_from_slice(user.as_uuid().as_bytes());
            }
        }
        out.extend_from_slice(&self.occurred_at.timestamp_micros().to_be_bytes());
        out.extend_from_slice(&self.recorded_at.timestamp_micros().to_be_bytes());
        write_text(&detail, &mut out);
        out
    }

    /// `sha256(prev_hash || canonical(row))`: the row's version-2 hash.
    pub fn hash(&self, prev_hash: &[u8]) -> ChainHash {
        let mut hasher = Sha256::new();
        hasher.update(prev_hash);
        hasher.update(self.canonical());
        hasher.finalize().into()
    }
}

/// `time` truncated to whole microseconds (towards the past): what the trail stores and hashes.
pub fn to_stored_precision(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(time.timestamp_micros()).unwrap_or(time)
}

/// Where an app's chain ends: the last row's `seq` and `hash`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: Vec<u8>,
}

impl ChainHead {
    /// The head of an empty trail: `seq` 0 and [`GENESIS_HASH`].
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS_HASH.to_vec(),
        }
    }
}

/// Numbers, links and hashes `events` as the rows following `head` in `app`'s trail, all
/// recorded at `recorded_at`. The adapter stores the returned rows as they are (in one
/// statement or transaction, holding the app's chain lock); they are version 2.
pub fn chain_rows(
    app: AppId,
    head: &ChainHead,
    recorded_at: DateTime<Utc>,
    events: &[&NewAuditEvent],
) -> Vec<AuditEvent> {
    let recorded_at = to_stored_precision(recorded_at);
    let mut prev_hash = head.hash.clone();
    let mut rows = Vec::with_capacity(events.len());
    for (seq, event) in (head.seq + 1..).zip(events) {
        let mut row = AuditEvent {
            app_id: app,
            seq,
            event_id: event.event_id,
            kind: event.kind.clone(),
            source: event.source,
            user_id: event.user_id,
            occurred_at: to_stored_precision(event.occurred_at),
            recorded_at,
            detail: event.detail.clone(),
            prev_hash,
            hash: Vec::new(),
            hash_version: HashVersion::CURRENT,
        };
        let hash = ChainedFields::from(&row).hash(&row.prev_hash);
        row.hash = hash.to_vec();
        prev_hash = row.hash.clone();
        rows.push(row);
    }
    rows
}

/// Walks an app's trail in `seq` order and names the first row that does not match: a row
/// missing before it, a `prev_hash` that is not the previous row's hash, or a hash that is not
/// the hash of the row's content.
#[derive(Debug)]
pub struct ChainVerifier {
    rows: u64,
    last_seq: i64,
    last_hash: Vec<u8>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    /// A verifier at the start of a trail.
    pub fn new() -> Self {
        Self {
            rows: 0,
            last_seq: 0,
            last_hash: GENESIS_HASH.to_vec(),
        }
    }

    /// Checks the next row. A version-1 row needs `v1_hash`, its hash recomputed by the
    /// adapter that holds the legacy formula (`None` if it cannot). Returns the break when
    /// this row is the first one that does not match; stop there.
    pub fn check(&mut self, row: &AuditEvent, v1_hash: Option<&[u8]>) -> Option<ChainVerification> {
        let seq = row.seq;
        let broken = |reason: String| Some(ChainVerification::Broken { seq, reason });
        if seq != self.last_seq + 1 {
            return broken(format!(
                "row {seq} does not follow its predecessor: rows before it were removed"
            ));
        }
        if row.prev_hash != self.last_hash {
            return broken(format!(
                "row {seq}'s prev_hash is not the hash of the row before it"
            ));
        }
        let matches = match row.hash_version {
            HashVersion::V2 => ChainedFields::from(row).hash(&row.prev_hash) == row.hash.as_slice(),
            HashVersion::V1 => match v1_hash {
                Some(recomputed) => recomputed == row.hash.as_slice(),
                None => {
                    return broken(format!(
                        "row {seq} has hash version 1, which only the PostgreSQL store can recompute"
                    ));
                }
            },
        };
        if !matches {
            return broken(format!(
                "row {seq}'s hash does not match its content: the row was changed"
            ));
        }
        self.rows += 1;
        self.last_seq = seq;
        self.last_hash.clone_from(&row.hash);
        None
    }

    /// The verdict once every row passed [`check`](Self::check).
    pub fn intact(&self) -> ChainVerification {
        ChainVerification::Intact { rows: self.rows }
    }
}

/// Appends `bytes` as *text*: a 32-bit big-endian length, then the bytes.
fn write_text(bytes: &[u8], out: &mut Vec<u8>) {
    // A longer field cannot reach here: a row that large is refused by every store first.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Appends the canonical JSON of `value` (see the module docs).
pub fn write_canonical_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => write_number(number, out),
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical_json(item, out);
            }
            out.push(b']');
        }
        Value::Object(members) => {
            let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
            sorted.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_canonical_json(item, out);
            }
            out.push(b'}');
        }
    }
}

fn write_string(text: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &byte in text.as_bytes() {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x09 => out.extend_from_slice(b"\\t"),
            0x0a => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x0d => out.extend_from_slice(b"\\r"),
            0x00..=0x1f => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0x0f)],
            ]),
            // Multi-byte UTF-8 sequences never contain bytes below 0x80, so copying byte by
            // byte keeps every other character as its own UTF-8.
            _ => out.push(byte),
        }
    }
    out.push(b'"');
}

fn write_number(number: &Number, out: &mut Vec<u8>) {
    if let Some(n) = number.as_u64() {
        out.extend_from_slice(n.to_string().as_bytes());
    } else if let Some(n) = number.as_i64() {
        out.extend_from_slice(n.to_string().as_bytes());
    } else {
        // A double: serde_json writes its shortest round-trip digits (e.g. `1e15`, `2.5`).
        write_plain_decimal(&number.to_string(), out);
    }
}

/// Rewrites a JSON number (`-?digits(.digits)?([eE][+-]?digits)?`) as its exact value in plain
/// notation: no exponent, no leading zeros, no trailing fractional zeros, zero as `0`.
fn write_plain_decimal(text: &str, out: &mut Vec<u8>) {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, exponent.parse::<i64>().ok()),
        None => (unsigned, Some(0)),
    };
    let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let Some(mut exponent) = exponent.and_then(|e| e.checked_sub(fraction.len() as i64)) else {
        // Not JSON number text; unreachable for serde_json numbers. Kept as written.
        out.extend_from_slice(text.as_bytes());
        return;
    };
    // value = digits × 10^exponent
    let all: String = integer.chars().chain(fraction.chars()).collect();
    let trimmed = all.trim_start_matches('0');
    let digits = trimmed.trim_end_matches('0');
    if digits.is_empty() {
        out.push(b'0');
        return;
    }
    exponent += (trimmed.len() - digits.len()) as i64;
    if negative {
        out.push(b'-');
    }
    let len = digits.len() as i64;
    if exponent >= 0 {
        out.extend_from_slice(digits.as_bytes());
        out.extend(std::iter::repeat_n(b'0', exponent as usize));
    } else if len + exponent > 0 {
        let point = (len + exponent) as usize;
        out.extend_from_slice(&digits.as_bytes()[..point]);
        out.push(b'.');
        out.extend_from_slice(&digits.as_bytes()[point..]);
    } else {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-(len + exponent)) as usize));
        out.extend_from_slice(digits.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canonical(value: &Value) -> String {
        let mut out = Vec::new();
        write_canonical_json(value, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn canonical_json_sorts_keys_by_bytes_and_drops_whitespace() {
        let value: Value =
            serde_json::from_str(r#"{ "b": 1, "a": { "z": [true, null], "é": "x", "Z": false } }"#)
                .unwrap();
        assert_eq!(
            canonical(&value),
            r#"{"a":{"Z":false,"z":[true,null],"é":"x"},"b":1}"#
        );
    }

    #[test]
    fn canonical_json_escapes_only_quote_backslash_and_control_characters() {
        let value = json!("q\"b\\s/ü😀\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f}\u{7f}");
        assert_eq!(
            canonical(&value),
            "\"q\\\"b\\\\s/ü😀\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\u{7f}\""
        );
    }

    #[test]
    fn numbers_are_written_as_their_exact_value_in_plain_notation() {
        let cases = [
            ("0", "0"),
            ("-0", "0"),
            ("-0.0", "0"),
            ("1.0", "1"),
            ("1e3", "1000"),
            ("1E+3", "1000"),
            ("2.50", "2.5"),
            ("0.1", "0.1"),
            ("-12.5e-3", "-0.0125"),
            ("1e-7", "0.0000001"),
            ("1e15", "1000000000000000"),
            ("18446744073709551615", "18446744073709551615"),
            ("-9223372036854775808", "-9223372036854775808"),
            ("18446744073709551616", "18446744073709552000"),
            ("123.456", "123.456"),
        ];
        for (input, expected) in cases {
            let value: Value = serde_json::from_str(input).unwrap();
            assert_eq!(canonical(&value), expected, "{input}");
        }
        let huge: Value = serde_json::from_str("1.5e300").unwrap();
        assert_eq!(canonical(&huge), format!("15{}", "0".repeat(299)));
    }

    #[test]
    fn an_integral_double_and_the_integer_it_equals_are_the_same_number() {
        // jsonb prints 1e15 as 1000000000000000, which reads back as an integer.
        assert_eq!(
            canonical(&json!(1e15)),
            canonical(&json!(1_000_000_000_000_000u64))
        );
        assert_eq!(canonical(&json!(-3.0)), canonical(&json!(-3)));
    }

    #[test]
    fn times_are_truncated_towards_the_past_to_microseconds() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        assert_eq!(to_stored_precision(t).timestamp_subsec_nanos(), 123_456_000);
        let before_epoch = DateTime::from_timestamp(-1, 999_999_999).unwrap();
        assert_eq!(to_stored_precision(before_epoch).timestamp_micros(), -1);
    }

    #[test]
    fn hash_versions_round_trip_through_their_column_number() {
        for version in [HashVersion::V1, HashVersion::V2] {
            assert_eq!(HashVersion::from_number(version.number()), Some(version));
        }
        assert_eq!(HashVersion::from_number(3), None);
        assert_eq!(HashVersion::CURRENT, HashVersion::V2);
    }
}

//! Splitting a body or file into individual SLP entries.
//!
//! LiteLLM's generic logger sends a JSON array, NDJSON, or one object, and
//! files on disk come in the same three shapes. The shape is told from the
//! bytes, not from a content type, and one broken entry never hides the rest.

use std::fmt;

use serde::de::IgnoredAny;
use thiserror::Error;

use super::scan::{self, Facts};
use super::{Payload, PayloadError};

/// Where an entry sits in its body, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryLocation {
    /// The body is one JSON value.
    Whole,
    /// 1-based line of an NDJSON body.
    Line(usize),
    /// 1-based position in a JSON array.
    Index(usize),
}

impl fmt::Display for EntryLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryLocation::Whole => f.write_str("body"),
            EntryLocation::Line(n) => write!(f, "line {n}"),
            EntryLocation::Index(n) => write!(f, "entry {n}"),
        }
    }
}

/// One entry's bytes, not yet parsed.
#[derive(Debug, Clone, Copy)]
pub struct BodyEntry<'a> {
    /// Where it came from.
    pub location: EntryLocation,
    /// Its JSON text, as it arrived (`NaN` literals included).
    pub bytes: &'a [u8],
    /// What splitting an array learned about the entry; scanned at parse
    /// time otherwise.
    facts: Option<Facts>,
}

impl<'a> BodyEntry<'a> {
    fn new(location: EntryLocation, bytes: &'a [u8], facts: Option<Facts>) -> Self {
        Self {
            location,
            bytes,
            facts,
        }
    }

    /// LiteLLM batches may contain `null`; those are skipped, not errors.
    pub fn is_null(&self) -> bool {
        self.bytes.trim_ascii() == b"null"
    }

    /// Parses the entry: [`Payload::from_slice`] without scanning again what
    /// splitting the body already scanned.
    pub fn parse(&self) -> Result<Payload, PayloadError> {
        if self.bytes.is_empty() {
            return Err(PayloadError::Syntax {
                message: "empty entry (a trailing or doubled comma)".into(),
            });
        }
        match self.facts {
            Some(facts) => Payload::from_scanned(self.bytes, facts),
            None => Payload::from_slice(self.bytes),
        }
    }
}

/// The body as a whole could not be split (for example a truncated array).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("body is not a JSON array, NDJSON or a JSON object: {0}")]
pub struct BodyError(pub String);

/// Splits `bytes` into entries: a JSON array, one JSON value (pretty-printed or not), or NDJSON.
///
/// A bad entry is still an entry (its [`BodyEntry::parse`] says what is
/// wrong with it); only a body whose structure is broken is an error. To
/// keep the entries that precede such a break, use [`split_body_partial`].
pub fn split_body(bytes: &[u8]) -> Result<Vec<BodyEntry<'_>>, BodyError> {
    match split_body_partial(bytes) {
        (entries, None) => Ok(entries),
        (_, Some(broken)) => Err(broken),
    }
}

/// Like [`split_body`], but a broken body still gives every entry that was
/// complete before the break, with the break as the second value.
///
/// Only an array can break part-way (a string or a bracket left open, so the
/// scan runs off the end): its complete entries precede the break. A broken
/// single document gives no entries.
pub fn split_body_partial(bytes: &[u8]) -> (Vec<BodyEntry<'_>>, Option<BodyError>) {
    let trimmed = bytes.trim_ascii();
    match trimmed.first() {
        None => (Vec::new(), None),
        Some(b'[') => split_array(trimmed),
        Some(b'{') => {
            let scan = scan::scan(trimmed);
            match scan.first_end {
                Some(end) if end == trimmed.len() => (
                    vec![BodyEntry::new(
                        EntryLocation::Whole,
                        trimmed,
                        Some(scan.facts),
                    )],
                    None,
                ),
                _ => ndjson_or_broken(bytes),
            }
        }
        Some(_) => match serde_json::from_slice::<IgnoredAny>(trimmed) {
            Ok(_) => (
                vec![BodyEntry::new(EntryLocation::Whole, trimmed, None)],
                None,
            ),
            Err(_) => ndjson_or_broken(bytes),
        },
    }
}

/// A body that is not one document: NDJSON, unless it is a pretty-printed
/// object cut short, which split into lines would be reported once per line.
fn ndjson_or_broken(bytes: &[u8]) -> (Vec<BodyEntry<'_>>, Option<BodyError>) {
    let lines = ndjson_lines(bytes);
    if lines.first().is_some_and(|l| l.bytes == b"{") {
        let why = match serde_json::from_slice::<IgnoredAny>(bytes) {
            Err(e) => e.to_string(),
            Ok(_) => "more than one pretty-printed document".into(),
        };
        return (Vec::new(), Some(BodyError(why)));
    }
    (lines, None)
}

/// Splits an array entry by entry without parsing any of them.
///
/// The rules: strings are skipped whole (escapes included), so nothing in
/// them counts; `{`/`[` open and `}`/`]` close a level whichever their kind
/// (serde rejects a mismatch within its entry); at the array's own level a
/// `,` ends an entry and only a `]` that ends the body closes the array; any
/// other stray closer there belongs to the entry it sits in. So a broken
/// entry can only take its neighbours with it by leaving a string or a
/// bracket open, and then the scan runs off the end: the body's break.
fn split_array(body: &[u8]) -> (Vec<BodyEntry<'_>>, Option<BodyError>) {
    let mut entries = Vec::new();
    let mut start: Option<usize> = None;
    let mut facts = Facts::default();
    let mut depth = 0usize;
    let mut i = 1;
    while i < body.len() {
        match body[i] {
            b'"' => {
                start.get_or_insert(i);
                match scan::skip_string(body, i + 1) {
                    Some(j) => {
                        i = j;
                        continue;
                    }
                    None => break,
                }
            }
            b'{' | b'[' => {
                start.get_or_insert(i);
                depth += 1;
                facts.depth = facts.depth.max(depth);
            }
            b'}' | b']' if depth > 0 => depth -= 1,
            b']' if i + 1 == body.len() => {
                if start.is_some() || !entries.is_empty() {
                    push_entry(&mut entries, body, start, i, facts);
                }
                return (entries, None);
            }
            b',' if depth == 0 => {
                push_entry(&mut entries, body, start, i, facts);
                start = None;
                facts = Facts::default();
            }
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'N' | b'I' => {
                start.get_or_insert(i);
                facts.nonfinite = true;
            }
            _ => {
                start.get_or_insert(i);
            }
        }
        i += 1;
    }
    let n = entries.len();
    let why = format!(
        "the array is cut off or unbalanced: entry {} never ends (a string or bracket left open; \
         {n} complete entries before it)",
        n + 1
    );
    (entries, Some(BodyError(why)))
}

/// Adds the array entry running from `start` (its first non-blank byte, if
/// any) to its separator at `end`.
fn push_entry<'a>(
    entries: &mut Vec<BodyEntry<'a>>,
    body: &'a [u8],
    start: Option<usize>,
    end: usize,
    facts: Facts,
) {
    let bytes = start.map_or(&b""[..], |s| body[s..end].trim_ascii_end());
    let location = EntryLocation::Index(entries.len() + 1);
    entries.push(BodyEntry::new(location, bytes, Some(facts)));
}

fn ndjson_lines(bytes: &[u8]) -> Vec<BodyEntry<'_>> {
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter_map(|(i, line)| {
            let line = line.trim_ascii();
            (!line.is_empty()).then(|| BodyEntry::new(EntryLocation::Line(i + 1), line, None))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shapes(body: &str) -> Vec<(EntryLocation, String)> {
        split_body(body.as_bytes())
            .unwrap()
            .into_iter()
            .map(|e| (e.location, String::from_utf8_lossy(e.bytes).into_owned()))
            .collect()
    }

    #[test]
    fn arrays_ndjson_and_single_objects_are_told_apart_by_shape() {
        assert_eq!(
            shapes(r#"[{"a":1}, null]"#),
            vec![
                (EntryLocation::Index(1), r#"{"a":1}"#.into()),
                (EntryLocation::Index(2), "null".into())
            ]
        );
        assert_eq!(
            shapes("{\"a\":1}\n\n{\"b\":2}\n"),
            vec![
                (EntryLocation::Line(1), r#"{"a":1}"#.into()),
                (EntryLocation::Line(3), r#"{"b":2}"#.into())
            ]
        );
        assert_eq!(
            shapes("{\n  \"a\": 1\n}\n"),
            vec![(EntryLocation::Whole, "{\n  \"a\": 1\n}".into())]
        );
        assert!(shapes("  \n").is_empty());
    }

    #[test]
    fn a_bad_ndjson_line_does_not_hide_the_others() {
        let got = shapes("{\"a\":1}\nnot json\n{\"b\":2}");
        assert_eq!(got.len(), 3);
        assert_eq!(got[1], (EntryLocation::Line(2), "not json".into()));
    }

    #[test]
    fn broken_documents_are_one_error() {
        assert!(split_body(b"[{\"a\":1},").is_err());
        assert!(split_body(b"{\n  \"a\": \n").is_err());
    }
}

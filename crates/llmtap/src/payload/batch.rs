//! Splitting a body or file into individual SLP entries.
//!
//! LiteLLM's generic logger sends a JSON array, NDJSON, or one object, and
//! files on disk come in the same three shapes. The shape is told from the
//! bytes, not from a content type, and one broken entry never hides the rest.

use std::fmt;

use serde_json::value::RawValue;
use thiserror::Error;

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
    /// Its JSON text.
    pub bytes: &'a [u8],
}

impl BodyEntry<'_> {
    /// LiteLLM batches may contain `null`; those are skipped, not errors.
    pub fn is_null(&self) -> bool {
        self.bytes.trim_ascii() == b"null"
    }
}

/// The body as a whole could not be split (for example a truncated array).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("body is not a JSON array, NDJSON or a JSON object: {0}")]
pub struct BodyError(pub String);

/// Splits `bytes` into entries: a JSON array, one JSON value (pretty-printed or not), or NDJSON.
pub fn split_body(bytes: &[u8]) -> Result<Vec<BodyEntry<'_>>, BodyError> {
    let trimmed = bytes.trim_ascii();
    match trimmed.first() {
        None => Ok(Vec::new()),
        Some(b'[') => {
            let items: Vec<&RawValue> =
                serde_json::from_slice(trimmed).map_err(|e| BodyError(e.to_string()))?;
            Ok(items
                .into_iter()
                .enumerate()
                .map(|(i, raw)| BodyEntry {
                    location: EntryLocation::Index(i + 1),
                    bytes: raw.get().as_bytes(),
                })
                .collect())
        }
        Some(_) => match serde_json::from_slice::<&RawValue>(trimmed) {
            Ok(_) => Ok(vec![BodyEntry {
                location: EntryLocation::Whole,
                bytes: trimmed,
            }]),
            Err(whole) => {
                let lines = ndjson_lines(bytes);
                // A pretty-printed object split into lines would be reported
                // once per line; report it once, as the broken document it is.
                if lines.first().is_some_and(|l| l.bytes.trim_ascii() == b"{") {
                    return Err(BodyError(whole.to_string()));
                }
                Ok(lines)
            }
        },
    }
}

fn ndjson_lines(bytes: &[u8]) -> Vec<BodyEntry<'_>> {
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.trim_ascii().is_empty())
        .map(|(i, line)| BodyEntry {
            location: EntryLocation::Line(i + 1),
            bytes: line.trim_ascii(),
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

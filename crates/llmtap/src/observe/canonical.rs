//! Canonical JSON, written straight into a hash.
//!
//! The prefix id must not change when a client reorders keys, reformats its
//! JSON or spells a number or a character differently, so what is hashed is
//! a canonical form: object keys sorted by their UTF-8 bytes, no whitespace,
//! strings unescaped and re-escaped one way, numbers written one way. It is
//! fed to the hasher as it is produced: no string of the whole prefix is
//! ever built.

use std::fmt::{self, Write as _};

use serde_json::{Map, Value};

/// Where canonical bytes go (a SHA-256 or an HMAC state).
pub(crate) trait Sink {
    /// Appends bytes.
    fn put(&mut self, bytes: &[u8]);
}

/// A buffer, for canonical bytes that are compared before they are hashed.
impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Writes canonical JSON into a [`Sink`].
pub(crate) struct Canonical<'s, S: Sink> {
    sink: &'s mut S,
}

impl<'s, S: Sink> Canonical<'s, S> {
    pub(crate) fn new(sink: &'s mut S) -> Self {
        Canonical { sink }
    }

    pub(crate) fn raw(&mut self, bytes: &[u8]) {
        self.sink.put(bytes);
    }

    /// Any value, recursively.
    pub(crate) fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.raw(b"null"),
            Value::Bool(true) => self.raw(b"true"),
            Value::Bool(false) => self.raw(b"false"),
            Value::Number(n) => self.number(n),
            Value::String(s) => self.string(s),
            Value::Array(items) => {
                self.raw(b"[");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.raw(b",");
                    }
                    self.value(item);
                }
                self.raw(b"]");
            }
            Value::Object(map) => self.object(map, |_| false, |w, _, v| w.value(v)),
        }
    }

    /// An object with its keys sorted, leaving out the keys `skip` names and
    /// writing each value with `write` (so a caller can treat one key, such
    /// as a message's `content`, specially).
    pub(crate) fn object(
        &mut self,
        map: &Map<String, Value>,
        skip: impl Fn(&str) -> bool,
        mut write: impl FnMut(&mut Self, &str, &Value),
    ) {
        self.raw(b"{");
        let mut first = true;
        let mut entry = |w: &mut Self, k: &str, v: &Value| {
            if skip(k) {
                return;
            }
            if !first {
                w.raw(b",");
            }
            first = false;
            w.string(k);
            w.raw(b":");
            write(w, k, v);
        };
        // serde_json's map is sorted already unless its `preserve_order`
        // feature is on somewhere in the build; sort only when it is not.
        let sorted = map
            .keys()
            .zip(map.keys().skip(1))
            .all(|(a, b)| a.as_bytes() < b.as_bytes());
        if sorted {
            for (k, v) in map {
                entry(self, k, v);
            }
        } else {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            for (k, v) in entries {
                entry(self, k, v);
            }
        }
        self.raw(b"}");
    }

    /// A string, escaped one way: `"` and `\` and the control characters,
    /// with the short escapes where JSON has them; everything else as UTF-8.
    pub(crate) fn string(&mut self, s: &str) {
        self.raw(b"\"");
        let bytes = s.as_bytes();
        // Prose rarely needs an escape: chunks are tested with a branch-free
        // fold the compiler vectorizes, runs of clean ones passed on in one
        // piece, and only a chunk with an escape walked byte by byte.
        const CHUNK: usize = 32;
        let needs_escape = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
        let (mut start, mut clean_from) = (0, 0);
        while start < bytes.len() {
            let end = (start + CHUNK).min(bytes.len());
            let chunk = &bytes[start..end];
            if chunk.iter().fold(false, |acc, &b| acc | needs_escape(b)) {
                self.raw(&bytes[clean_from..start]);
                self.escaped(chunk);
                clean_from = end;
            }
            start = end;
        }
        self.raw(&bytes[clean_from..]);
        self.raw(b"\"");
    }

    /// Bytes with escapes in them, one at a time.
    fn escaped(&mut self, bytes: &[u8]) {
        let mut run = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let short: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x08 => b"\\b",
                0x0c => b"\\f",
                0..=0x1f => b"",
                _ => continue,
            };
            self.raw(&bytes[run..i]);
            if short.is_empty() {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                self.raw(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xf)],
                ]);
            } else {
                self.raw(short);
            }
            run = i + 1;
        }
        self.raw(&bytes[run..]);
    }

    /// A number: integers as integers, a float with an integral value (`1.0`,
    /// `1e3`) as the integer it equals, other floats in Rust's shortest
    /// round-trip form, so each value has exactly one spelling.
    fn number(&mut self, n: &serde_json::Number) {
        if let Some(u) = n.as_u64() {
            let _ = write!(self, "{u}");
        } else if let Some(i) = n.as_i64() {
            let _ = write!(self, "{i}");
        } else if let Some(f) = n.as_f64() {
            // 2^53: beyond it not every integer is a float, so keep the float.
            if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
                let _ = write!(self, "{}", f as i64);
            } else {
                let _ = write!(self, "{f}");
            }
        }
    }
}

impl<S: Sink> fmt::Write for Canonical<'_, S> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.raw(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn canonical(json: &str) -> String {
        let v: Value = serde_json::from_str(json).unwrap();
        let mut out = Vec::new();
        Canonical::new(&mut out).value(&v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn keys_sorted_and_whitespace_gone() {
        assert_eq!(
            canonical(r#"{ "b": [1, 2, {"z": null, "a": true}], "a": "x" }"#),
            r#"{"a":"x","b":[1,2,{"a":true,"z":null}]}"#
        );
    }

    #[test]
    fn strings_have_one_spelling() {
        assert_eq!(canonical(r#""caf\u00e9""#), canonical(r#""café""#));
        assert_eq!(canonical(r#""\/""#), r#""/""#);
        assert_eq!(
            canonical(r#""a\"b\\c\nd\u0001\t""#),
            r#""a\"b\\c\nd\u0001\t""#
        );
        // The canonical form is JSON that reads back as the same value.
        let s = canonical(r#""x\u001f\b\f\r😀""#);
        assert_eq!(
            serde_json::from_str::<String>(&s).unwrap(),
            "x\u{1f}\u{8}\u{c}\r😀"
        );
    }

    #[test]
    fn numbers_have_one_spelling() {
        assert_eq!(canonical("1.0"), "1");
        assert_eq!(canonical("1e3"), "1000");
        assert_eq!(canonical("-0.0"), "0");
        assert_eq!(canonical("-7"), "-7");
        assert_eq!(canonical("0.5"), canonical("5e-1"));
        assert_eq!(canonical("0.1"), "0.1");
        assert_eq!(canonical("18446744073709551615"), "18446744073709551615");
        assert_eq!(canonical("1e300"), canonical("1.0e300"));
    }

    #[test]
    fn unsorted_maps_are_sorted_too() {
        let mut map = Map::new();
        map.insert("b".into(), Value::from(1));
        map.insert("a".into(), Value::from(2));
        let mut out = Vec::new();
        Canonical::new(&mut out).object(&map, |k| k == "zz", |w, _, v| w.value(v));
        assert_eq!(out, br#"{"a":2,"b":1}"#);
    }
}

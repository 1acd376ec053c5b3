//! A structural scan of JSON bytes: strings, brackets and Python's
//! non-finite literals, nothing else.
//!
//! It does not validate (serde does that, with better messages); it finds
//! where entries end, how deep they nest and whether they hold `NaN` or
//! `Infinity`, at a fraction of a parse's cost: string bodies, the bulk of
//! an SLP, are skipped with `memchr`.

use super::PayloadError;

/// Deepest nesting an entry may have. PostHog's capture parser refuses more
/// than 128 levels and its envelope (`batch`, the event, `properties`) adds a
/// few, so deeper input could only be refused downstream, after being queued.
pub const MAX_DEPTH: usize = 100;

/// What a scan learned about one JSON value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    /// Deepest bracket nesting (`{}` is 1).
    pub(crate) depth: usize,
    /// An `N` or `I` outside strings: a `NaN` / `Infinity` literal (or garbage).
    pub(crate) nonfinite: bool,
}

impl Facts {
    /// Rejects what must never be parsed.
    pub(crate) fn check(self) -> Result<(), PayloadError> {
        if self.depth > MAX_DEPTH {
            return Err(PayloadError::TooDeep {
                depth: self.depth,
                limit: MAX_DEPTH,
            });
        }
        Ok(())
    }
}

/// A scan of a whole buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scan {
    /// Depth and literals over what was scanned.
    pub(crate) facts: Facts,
    /// When the first byte opens a container: the index just past the
    /// bracket that closes it, if any does.
    pub(crate) first_end: Option<usize>,
}

/// Returns the index just past the `"` closing a string whose body starts at
/// `i`, or `None` when the buffer ends first.
#[inline]
pub(crate) fn skip_string(bytes: &[u8], mut i: usize) -> Option<usize> {
    // Most strings are keys and short labels: a plain loop beats setting up
    // memchr for them; long prose goes to memchr after the first bytes.
    let short_end = bytes.len().min(i + 16);
    while i < short_end {
        match bytes[i] {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    loop {
        let j = i + memchr::memchr2(b'"', b'\\', bytes.get(i..)?)?;
        if bytes[j] == b'"' {
            return Some(j + 1);
        }
        // An escape: whatever follows the backslash cannot end the string.
        i = j + 2;
    }
}

/// Scans `bytes`: all of it, or up to the end of its first value when that
/// is a container. Closers without an opener are ignored; an unterminated
/// string ends the scan.
pub(crate) fn scan(bytes: &[u8]) -> Scan {
    let mut facts = Facts::default();
    let mut first_end = None;
    let opens = matches!(bytes.first(), Some(b'{' | b'['));
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => match skip_string(bytes, i + 1) {
                Some(j) => {
                    i = j;
                    continue;
                }
                None => break,
            },
            b'{' | b'[' => {
                depth += 1;
                facts.depth = facts.depth.max(depth);
            }
            b'}' | b']' if depth > 0 => {
                depth -= 1;
                if depth == 0 && opens {
                    // Past the first container only trailing bytes remain,
                    // which serde refuses without reading into them.
                    first_end = Some(i + 1);
                    break;
                }
            }
            b'N' | b'I' => facts.nonfinite = true,
            _ => {}
        }
        i += 1;
    }
    Scan { facts, first_end }
}

/// The top-level elements of a JSON array, as text, one at a time.
///
/// For JSON already known to be valid (a [`serde_json::value::RawValue`]),
/// so a reader that needs only the first elements of a long array (the
/// leading system messages of a conversation) never parses the rest; the
/// elements it does not ask for are not even scanned.
pub(crate) fn array_elements(json: &str) -> ArrayElements<'_> {
    let bytes = json.as_bytes();
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let pos = match start {
        Some(i) if bytes[i] == b'[' => i + 1,
        _ => bytes.len(),
    };
    ArrayElements { json, pos }
}

/// See [`array_elements`].
#[derive(Debug, Clone)]
pub(crate) struct ArrayElements<'a> {
    json: &'a str,
    pos: usize,
}

impl<'a> Iterator for ArrayElements<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let bytes = self.json.as_bytes();
        let mut i = self.pos;
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b',') {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] == b']' {
            self.pos = bytes.len();
            return None;
        }
        let start = i;
        let mut depth = 0usize;
        while i < bytes.len() {
            match bytes[i] {
                b'"' => {
                    i = skip_string(bytes, i + 1).unwrap_or(bytes.len());
                    if depth == 0 {
                        break;
                    }
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' if depth == 0 => break,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                }
                b',' if depth == 0 => break,
                _ => {}
            }
            i += 1;
        }
        self.pos = i;
        // Every cut is at an ASCII byte, so it is a char boundary.
        Some(self.json.get(start..i)?.trim_end())
    }
}

/// The value of a top-level member of a JSON object when it is a string
/// without escapes (a message's `role`), found without parsing the object:
/// other members are skipped as text, and the scan stops at the member.
/// `None` when the object has no such member, or it is not such a string.
/// For JSON already known to be valid.
pub(crate) fn top_level_str<'a>(object: &'a str, name: &str) -> Option<&'a str> {
    let b = object.as_bytes();
    let mut i = b.iter().position(|c| !c.is_ascii_whitespace())?;
    if b[i] != b'{' {
        return None;
    }
    i += 1;
    let (mut depth, mut expect_key) = (1usize, true);
    while i < b.len() {
        match b[i] {
            b'"' => {
                let end = skip_string(b, i + 1)?;
                if depth == 1 && expect_key {
                    let key = object.get(i + 1..end - 1)?;
                    let mut j = end;
                    while j < b.len() && (b[j].is_ascii_whitespace() || b[j] == b':') {
                        j += 1;
                    }
                    if key == name {
                        if b.get(j) != Some(&b'"') {
                            return None;
                        }
                        let value = object.get(j + 1..skip_string(b, j + 1)? - 1)?;
                        return (!value.contains('\\')).then_some(value);
                    }
                    expect_key = false;
                    i = j;
                } else {
                    i = end;
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return None;
                }
            }
            b',' if depth == 1 => expect_key = true,
            _ => {}
        }
        i += 1;
    }
    None
}

/// What Python's non-finite literals become before parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replace {
    /// `null`: what every JSON encoder that refuses `NaN` writes instead.
    Null,
    /// The literal as a JSON string (`"NaN"`, `"-Infinity"`): kept visible
    /// for the fields where a missing value would be a lie (token counts).
    Quoted,
}

/// Rewrites `NaN`, `Infinity` and `-Infinity` outside strings; everything
/// else, garbage included, is copied as it is for serde to judge.
pub(crate) fn rewrite_nonfinite(bytes: &[u8], to: Replace) -> Vec<u8> {
    const LITERALS: [&[u8]; 3] = [b"-Infinity", b"Infinity", b"NaN"];
    let mut out = Vec::with_capacity(bytes.len() + 16);
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => match skip_string(bytes, i + 1) {
                Some(j) => {
                    i = j;
                    continue;
                }
                None => break,
            },
            b'N' | b'I' | b'-' => {
                if let Some(lit) = LITERALS.iter().find(|l| bytes[i..].starts_with(l)) {
                    out.extend_from_slice(&bytes[copied..i]);
                    match to {
                        Replace::Null => out.extend_from_slice(b"null"),
                        Replace::Quoted => {
                            out.push(b'"');
                            out.extend_from_slice(lit);
                            out.push(b'"');
                        }
                    }
                    i += lit.len();
                    copied = i;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_hide_brackets_quotes_and_literals() {
        let s = scan(br#"{"a": "[{NaN \"Infinity\\", "b": [1]}"#);
        assert_eq!(s.facts.depth, 2);
        assert!(!s.facts.nonfinite);
        assert_eq!(s.first_end, Some(37));
        let s = scan(br#"{"a": [NaN, -Infinity]} trailing [[[NaN]]]"#);
        assert!(s.facts.nonfinite);
        assert_eq!(s.facts.depth, 2);
        assert_eq!(s.first_end, Some(23));
        assert_eq!(scan(br#"{"a": "unterminated}"#).first_end, None);
        assert_eq!(scan(b"\"x\" {}").first_end, None);
    }

    #[test]
    fn escapes_at_the_end_of_the_buffer_do_not_panic() {
        assert_eq!(skip_string(b"\"abc\\", 1), None);
        assert_eq!(skip_string(b"\"abc\\\"", 1), None);
        assert_eq!(skip_string(b"\"a\\\\\"", 1), Some(5));
        assert_eq!(skip_string(b"\"", 1), None);
    }

    #[test]
    fn array_elements_are_cut_at_top_level_commas() {
        let json = r#" [ {"a": [1, "]", {"b": ","}]}, "x\"]", 12.5e3 ,null,[[]] , true ] "#;
        let got: Vec<&str> = array_elements(json).collect();
        assert_eq!(
            got,
            [
                r#"{"a": [1, "]", {"b": ","}]}"#,
                r#""x\"]""#,
                "12.5e3",
                "null",
                "[[]]",
                "true"
            ]
        );
        for v in &got {
            serde_json::from_str::<serde_json::Value>(v).unwrap();
        }
        assert_eq!(array_elements("[]").count(), 0);
        assert_eq!(array_elements(" [ ] ").count(), 0);
        assert_eq!(array_elements(r#""not an array""#).count(), 0);
        assert_eq!(array_elements(r#"{"a": 1}"#).count(), 0);
    }

    #[test]
    fn top_level_strings_are_found_without_parsing() {
        let m = r#"{"content": "a \"role\": \"x\"", "meta": {"role": "inner"}, "role" : "system"}"#;
        assert_eq!(top_level_str(m, "role"), Some("system"));
        assert_eq!(
            top_level_str(r#"{"role":"user","content":"q"}"#, "role"),
            Some("user")
        );
        assert_eq!(
            top_level_str(r#"{"content": [{"role": "system"}]}"#, "role"),
            None
        );
        assert_eq!(top_level_str(r#"{"role": 3}"#, "role"), None);
        assert_eq!(top_level_str(r#"{"role": "sys\u0074em"}"#, "role"), None);
        assert_eq!(top_level_str(r#"["role", "system"]"#, "role"), None);
        assert_eq!(top_level_str(r#"{"roles": "system"}"#, "role"), None);
        assert_eq!(
            top_level_str(r#"{"a": "role", "b": "system"}"#, "role"),
            None
        );
    }

    #[test]
    fn literals_are_rewritten_outside_strings_only() {
        let input =
            br#"{"NaN": NaN, "x": "-Infinity", "y": [Infinity,-Infinity], "z": -1, "g": Nope}"#;
        assert_eq!(
            String::from_utf8(rewrite_nonfinite(input, Replace::Null)).unwrap(),
            r#"{"NaN": null, "x": "-Infinity", "y": [null,null], "z": -1, "g": Nope}"#
        );
        assert_eq!(
            String::from_utf8(rewrite_nonfinite(input, Replace::Quoted)).unwrap(),
            r#"{"NaN": "NaN", "x": "-Infinity", "y": ["Infinity","-Infinity"], "z": -1, "g": Nope}"#
        );
        assert_eq!(
            rewrite_nonfinite(b"[NaN, \"cut", Replace::Null),
            b"[null, \"cut"
        );
    }
}

//! `replay`'s input, entry by entry, in memory bounded by the largest entry.
//!
//! Files can be far larger than memory, so the shape is told from the first
//! non-blank byte (after a UTF-8 byte order mark), never from the whole input:
//!
//! - `[` opens a JSON array, streamed element by element. A structural scan
//!   (strings, escapes, bracket depth; no parsing) finds each `,` or `]` at
//!   the array's own level, and the element between is one entry, so a
//!   broken element is reported on its own and its neighbours still go out.
//! - Anything else is read as lines (JSONL). A line that opens more brackets
//!   than it closes continues on the next lines until they balance, so a
//!   pretty-printed object, or a LiteLLM `kwargs` dump pasted from a log, is
//!   one entry too.
//!
//! An entry longer than the cap is not buffered beyond it: the rest of it is
//! scanned and dropped, and it comes out as [`Entry::TooLong`] for the caller
//! to report. The reader then carries on with the next entry.

use std::io::{self, Read};
use std::ops::Range;

use llmtap::EntryLocation;

/// The default cap on one line or array element: 64 MiB, far above any real
/// payload (a few KB to a few MB, with base64 images) and small enough that a
/// file without newlines cannot take the machine's memory.
pub const DEFAULT_MAX_LINE_BYTES: usize = 64 << 20;

/// How much is read at once; also the buffer's smallest size.
const CHUNK: usize = 1 << 20;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One entry of the input.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry<'a> {
    /// Its JSON text, trimmed, not yet parsed (empty for an array's doubled
    /// or trailing comma).
    Json(&'a [u8]),
    /// Longer than the cap: this many bytes between its separators (blanks
    /// included, the final newline or `,` not), none of them kept.
    TooLong(u64),
}

/// Reads entries from `R`; see the module docs for the shapes.
pub struct Entries<R> {
    reader: R,
    /// `buf[head..filled]` is read but not yet handed out; the entry being
    /// assembled always starts at `head`, so offsets into it survive refills.
    buf: Vec<u8>,
    head: usize,
    filled: usize,
    eof: bool,
    /// Bytes taken from `reader`, for progress.
    read: u64,
    max: usize,
    /// Lines taken so far (those of an entry still open included): the
    /// next line read is line `lines + 1`.
    lines: usize,
    /// Array elements handed out so far, counted across arrays when several
    /// follow each other (`cat a.json b.json`), so each location is unique.
    index: usize,
    /// Elements of the current array, to tell `[]` from a trailing comma.
    in_array: usize,
    shape: Shape,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// At the start, or after an array: the next non-blank byte decides.
    Unknown,
    Lines,
    Array,
    Done,
}

/// What the shape-specific readers found, as offsets so the borrow of the
/// buffer starts only when the entry is handed out.
enum Found {
    Json(EntryLocation, Range<usize>),
    TooLong(EntryLocation, u64),
}

/// Where the line that starts at a given offset ends.
enum LineEnd {
    /// Its newline (or the input's end) is at this offset from `head`.
    At(usize),
    /// The input ended where the line would start.
    Eof,
    /// The entry runs past the cap before the line ends.
    TooLong,
}

impl<R: Read> Entries<R> {
    /// Reads `reader`, refusing entries longer than `max` bytes.
    pub fn new(reader: R, max: usize) -> Self {
        Self {
            reader,
            buf: vec![0; CHUNK],
            head: 0,
            filled: 0,
            eof: false,
            read: 0,
            max,
            lines: 0,
            index: 0,
            in_array: 0,
            shape: Shape::Unknown,
        }
    }

    /// Bytes read from the input so far (a little ahead of the entries handed out).
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// The next entry and where it is, or `None` at the end of the input.
    pub fn next_entry(&mut self) -> io::Result<Option<(EntryLocation, Entry<'_>)>> {
        loop {
            let found = match self.shape {
                Shape::Unknown => {
                    self.shape = self.detect()?;
                    continue;
                }
                Shape::Lines => self.next_line()?,
                Shape::Array => self.next_element()?,
                Shape::Done => return Ok(None),
            };
            match found {
                Some(Found::Json(at, range)) => {
                    return Ok(Some((at, Entry::Json(&self.buf[range]))))
                }
                Some(Found::TooLong(at, len)) => return Ok(Some((at, Entry::TooLong(len)))),
                None => continue,
            }
        }
    }

    /// Skips blanks (and, at the very start, a byte order mark) and tells
    /// an array from lines by the first byte that is not blank.
    fn detect(&mut self) -> io::Result<Shape> {
        if self.read == 0 {
            while self.filled < BOM.len() && !self.eof {
                self.fill()?;
            }
            if self.buf[..self.filled].starts_with(BOM) {
                self.head = BOM.len();
            }
        }
        loop {
            let rest = &self.buf[self.head..self.filled];
            match rest.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => {
                    self.lines += count_newlines(&rest[..i]);
                    self.head += i;
                    if self.buf[self.head] != b'[' {
                        return Ok(Shape::Lines);
                    }
                    self.head += 1;
                    self.in_array = 0;
                    return Ok(Shape::Array);
                }
                None => {
                    self.lines += count_newlines(rest);
                    self.head = self.filled;
                    if self.eof {
                        return Ok(Shape::Done);
                    }
                    self.fill()?;
                }
            }
        }
    }

    /// The next line, or the lines of one multi-line object; `None` at the end.
    ///
    /// A line is one entry unless it starts with `{`, does not end with `}`
    /// and leaves brackets open; then the lines that follow belong to it
    /// until the brackets balance. Complete JSONL lines, nearly all of any
    /// real input, pass the first test and are never scanned here.
    ///
    /// A broken line that leaves a bracket open must not swallow the lines
    /// after it, so a line that starts a new compact object in column 0
    /// (`{` first, `}` last) ends the open entry: in pretty-printed JSON,
    /// inner lines are indented. (JSON dumped without indentation, Python's
    /// `indent=0`, can put an empty `{}` in column 0 and would be split there.)
    fn next_line(&mut self) -> io::Result<Option<Found>> {
        // Offsets are from `head`, where the entry starts.
        let mut line_start = 0;
        let mut first_line = self.lines + 1;
        let mut open: Option<Nesting> = None;
        loop {
            let line_end = match self.find_line_end(line_start)? {
                LineEnd::At(end) => end,
                LineEnd::Eof => {
                    self.shape = Shape::Done;
                    // An object left open is handed out as it is: the parser
                    // says what is missing.
                    return Ok(open.map(|_| self.take(first_line, line_start, line_start)));
                }
                LineEnd::TooLong => {
                    let dropped = match open {
                        None => self.skip_line()?,
                        Some(mut nesting) => {
                            nesting.feed(&self.buf[self.head + line_start..self.filled]);
                            let kept = (self.filled - self.head) as u64;
                            self.head = self.filled;
                            kept + self.skip_nested(nesting)?
                        }
                    };
                    let at = EntryLocation::Line(first_line);
                    return Ok(Some(Found::TooLong(at, dropped)));
                }
            };
            // Past the newline, or at the end of the input.
            let next = (line_end + 1).min(self.filled - self.head);
            let line = &self.buf[self.head + line_start..self.head + line_end];
            let text = line.trim_ascii();
            let at = EntryLocation::Line(first_line);
            match &mut open {
                None if text.is_empty() => {
                    self.head += next;
                    self.lines += 1;
                    first_line = self.lines + 1;
                }
                None if line_end > self.max => {
                    self.head += next;
                    self.lines += 1;
                    return Ok(Some(Found::TooLong(at, line_end as u64)));
                }
                None => {
                    self.lines += 1;
                    if text.starts_with(b"{") && !text.ends_with(b"}") {
                        let mut nesting = Nesting::default();
                        nesting.feed_line(text);
                        if nesting.depth > 0 {
                            open = Some(nesting);
                            line_start = next;
                            continue;
                        }
                    }
                    return Ok(Some(self.take(first_line, line_end, next)));
                }
                Some(_) if line.starts_with(b"{") && text.ends_with(b"}") => {
                    // A new object: the open entry was broken. Hand it out
                    // as it is; this line comes next.
                    return Ok(Some(self.take(first_line, line_start, line_start)));
                }
                Some(nesting) => {
                    self.lines += 1;
                    nesting.feed_line(text);
                    if line_end > self.max {
                        let (nesting, balanced) = (*nesting, nesting.depth == 0);
                        self.head += next;
                        let dropped = match balanced {
                            true => line_end as u64,
                            false => next as u64 + self.skip_nested(nesting)?,
                        };
                        return Ok(Some(Found::TooLong(at, dropped)));
                    }
                    if nesting.depth == 0 {
                        return Ok(Some(self.take(first_line, line_end, next)));
                    }
                    line_start = next;
                }
            }
        }
    }

    /// Hands out the first `len` bytes from `head`, trimmed, as the entry
    /// starting on `first_line`; the input resumes at `resume`.
    fn take(&mut self, first_line: usize, len: usize, resume: usize) -> Found {
        let range = trim_range(&self.buf, self.head..self.head + len);
        self.head += resume;
        Found::Json(EntryLocation::Line(first_line), range)
    }

    /// Finds the end of the line that starts `from` bytes after `head`,
    /// reading more as needed, but never holding more than the cap.
    fn find_line_end(&mut self, from: usize) -> io::Result<LineEnd> {
        let mut searched = from;
        loop {
            if let Some(i) = find_newline(&self.buf[self.head + searched..self.filled]) {
                return Ok(LineEnd::At(searched + i));
            }
            searched = self.filled - self.head;
            if self.eof {
                return Ok(match searched > from {
                    true => LineEnd::At(searched),
                    false => LineEnd::Eof,
                });
            }
            if searched > self.max {
                return Ok(LineEnd::TooLong);
            }
            self.fill()?;
        }
    }

    /// Drops the line at `head`, read or not; returns its length.
    fn skip_line(&mut self) -> io::Result<u64> {
        let mut dropped = 0u64;
        loop {
            let rest = &self.buf[self.head..self.filled];
            if let Some(i) = find_newline(rest) {
                self.head += i + 1;
                self.lines += 1;
                return Ok(dropped + i as u64);
            }
            dropped += rest.len() as u64;
            self.head = self.filled;
            if self.eof {
                return Ok(dropped);
            }
            self.fill()?;
        }
    }

    /// Drops input until `nesting` balances at the end of a line; returns
    /// how many bytes that was, the final newline not counted.
    fn skip_nested(&mut self, mut nesting: Nesting) -> io::Result<u64> {
        let mut dropped = 0u64;
        loop {
            let rest = &self.buf[self.head..self.filled];
            let end = nesting.feed(rest);
            self.lines += std::mem::take(&mut nesting.newlines);
            if let Some(i) = end {
                self.head += i + 1;
                return Ok(dropped + i as u64);
            }
            dropped += rest.len() as u64;
            self.head = self.filled;
            if self.eof {
                return Ok(dropped);
            }
            self.fill()?;
        }
    }

    /// The next element of the array whose `[` or previous `,` is just
    /// before `head`; `None` when the array ends without one.
    fn next_element(&mut self) -> io::Result<Option<Found>> {
        let mut scan = ElementScan::default();
        // Set once the element is over the cap: the bytes dropped so far.
        let mut dropped: Option<u64> = None;
        loop {
            let end = scan.run(&self.buf[self.head..self.filled]);
            self.lines += std::mem::take(&mut scan.newlines);
            if let Some((end, closes)) = end {
                let blank = dropped.is_none()
                    && self.buf[self.head..self.head + end].trim_ascii().is_empty();
                if closes {
                    self.shape = Shape::Unknown;
                    if blank && self.in_array == 0 {
                        // `[]` has no element (but `[1,]` has an empty second one).
                        self.head += end + 1;
                        return Ok(None);
                    }
                }
                return Ok(Some(self.element(dropped, end, end + 1)));
            }
            if self.eof {
                self.shape = Shape::Done;
                tracing::warn!(
                    complete = self.index,
                    "The input ends inside a JSON array that never closes; it may be cut off."
                );
                let end = self.filled - self.head;
                if dropped.is_none() && self.buf[self.head..self.filled].trim_ascii().is_empty() {
                    return Ok(None);
                }
                return Ok(Some(self.element(dropped, end, end)));
            }
            match &mut dropped {
                Some(d) => {
                    *d += (self.filled - self.head) as u64;
                    self.head = self.filled;
                    scan.pos = 0;
                }
                None if self.filled - self.head > self.max => {
                    dropped = Some(0);
                    continue;
                }
                None => {}
            }
            self.fill()?;
        }
    }

    /// Hands out the element before `end` (its separator), or says it was
    /// too long; the input resumes at `resume`.
    fn element(&mut self, dropped: Option<u64>, end: usize, resume: usize) -> Found {
        self.index += 1;
        self.in_array += 1;
        let at = EntryLocation::Index(self.index);
        let start = self.head;
        self.head += resume;
        if let Some(dropped) = dropped {
            return Found::TooLong(at, dropped + end as u64);
        }
        if end > self.max {
            return Found::TooLong(at, end as u64);
        }
        Found::Json(at, trim_range(&self.buf, start..start + end))
    }

    /// Reads once into the free end of the buffer. Only when there is none
    /// left is what is not handed out yet moved to the front (so a pipe's
    /// small reads do not move a large entry again and again), and the
    /// buffer grows when that is still more than half of it, never past the
    /// cap: a full buffer at the cap holds more than `max` bytes of one
    /// entry, which the callers check before they ask for more.
    fn fill(&mut self) -> io::Result<()> {
        if self.filled == self.buf.len() {
            if self.head > 0 {
                self.buf.copy_within(self.head..self.filled, 0);
                self.filled -= self.head;
                self.head = 0;
            }
            if self.filled * 2 > self.buf.len() {
                let limit = self.max.saturating_add(1).max(CHUNK);
                let grown = self.buf.len().saturating_mul(2).min(limit);
                self.buf.resize(grown.max(self.buf.len()), 0);
            }
            if self.filled == self.buf.len() {
                return Ok(());
            }
        }
        loop {
            match self.reader.read(&mut self.buf[self.filled..]) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.filled += n;
                    self.read += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            return Ok(());
        }
    }
}

/// Bracket depth across the lines of one multi-line entry.
///
/// A JSON string cannot hold a raw newline, so each line starts outside any
/// string: a broken line cannot turn the lines after it into string content.
#[derive(Debug, Default, Clone, Copy)]
struct Nesting {
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// Newlines fed since the caller last took this count.
    newlines: usize,
}

impl Nesting {
    /// Feeds one whole line (without its newline).
    fn feed_line(&mut self, line: &[u8]) {
        self.feed(line);
        self.in_string = false;
        self.escaped = false;
    }

    /// Feeds bytes that may hold newlines; returns the offset of the first
    /// newline at which every bracket is closed.
    fn feed(&mut self, bytes: &[u8]) -> Option<usize> {
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\n' {
                self.newlines += 1;
                self.in_string = false;
                self.escaped = false;
                if self.depth == 0 {
                    return Some(i);
                }
            } else if self.escaped {
                self.escaped = false;
            } else if self.in_string {
                match b {
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    _ => {}
                }
            } else {
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    // A closer without its opener (a line cut at the front) is ignored.
                    b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                    _ => {}
                }
            }
        }
        None
    }
}

/// The scan of one array element, resumable across reads.
///
/// The rules are the library's body splitter's (`split_body`): strings are
/// skipped whole, escapes included; `{`/`[` open and `}`/`]` close a level
/// whatever their kind (the parser rejects a mismatch within its element);
/// at the array's own level a `,` ends the element and a `]` the array.
///
/// This is the one place where every byte of an array is looked at before
/// the parser does, so it is written for speed: string bodies (most of a
/// payload) are skipped a word or a block at a time, and the bytes between
/// strings go through one table lookup each.
#[derive(Debug, Default)]
struct ElementScan {
    /// Where to resume, from `head`.
    pos: usize,
    depth: usize,
    in_string: bool,
    /// The last byte scanned was a backslash inside a string.
    escaped: bool,
    /// Newlines outside strings since the caller last took this count.
    newlines: usize,
}

/// What a byte outside strings means to [`ElementScan`]; 0 for nothing.
const PLAIN: u8 = 0;
const QUOTE: u8 = 1;
const OPEN: u8 = 2;
const CLOSE: u8 = 3;
const COMMA: u8 = 4;
const NEWLINE: u8 = 5;

static CLASS: [u8; 256] = {
    let mut class = [PLAIN; 256];
    class[b'"' as usize] = QUOTE;
    class[b'{' as usize] = OPEN;
    class[b'[' as usize] = OPEN;
    class[b'}' as usize] = CLOSE;
    class[b']' as usize] = CLOSE;
    class[b',' as usize] = COMMA;
    class[b'\n' as usize] = NEWLINE;
    class
};

impl ElementScan {
    /// Scans `bytes` from `pos`; returns the offset of the `,` or `]` that
    /// ends the element, and whether it was the `]`.
    fn run(&mut self, bytes: &[u8]) -> Option<(usize, bool)> {
        let mut i = self.pos;
        let n = bytes.len();
        'scan: loop {
            if self.in_string {
                if self.escaped {
                    if i == n {
                        break;
                    }
                    self.escaped = false;
                    i += 1;
                }
                loop {
                    let Some(j) = find_in_string(&bytes[i..]) else {
                        i = n;
                        break 'scan;
                    };
                    i += j + 1;
                    if bytes[i - 1] == b'"' {
                        self.in_string = false;
                        break;
                    }
                    // A backslash: the byte after it cannot end the string.
                    if i == n {
                        self.escaped = true;
                        break 'scan;
                    }
                    i += 1;
                }
            }
            while i < n {
                let b = bytes[i];
                i += 1;
                match CLASS[b as usize] {
                    PLAIN => {}
                    QUOTE => {
                        self.in_string = true;
                        continue 'scan;
                    }
                    OPEN => self.depth += 1,
                    CLOSE if self.depth > 0 => self.depth -= 1,
                    CLOSE if b == b']' => return Some((i - 1, true)),
                    COMMA if self.depth == 0 => return Some((i - 1, false)),
                    NEWLINE => self.newlines += 1,
                    // A stray `}` or a nested `,`: part of the element.
                    _ => {}
                }
            }
            break;
        }
        self.pos = i;
        None
    }
}

/// The first `"` or `\` in `bytes`: where a string ends or an escape starts.
fn find_in_string(bytes: &[u8]) -> Option<usize> {
    memchr::memchr2(b'"', b'\\', bytes)
}

/// The first newline in `haystack`: JSONL's line ends.
fn find_newline(haystack: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', haystack)
}

fn count_newlines(bytes: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', bytes).count()
}

/// `range` of `buf` without its leading and trailing ASCII blanks.
fn trim_range(buf: &[u8], range: Range<usize>) -> Range<usize> {
    let bytes = &buf[range.clone()];
    let trimmed = bytes.trim_ascii();
    if trimmed.is_empty() {
        return range.start..range.start;
    }
    let lead = bytes.len() - bytes.trim_ascii_start().len();
    range.start + lead..range.start + lead + trimmed.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out at most `step` bytes per read, so every state of the
    /// scanners meets a read boundary somewhere.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Every entry as `(location, text)`, `text` being `TOO LONG n` for a
    /// skipped one; the same whatever the read size.
    fn entries(input: &str, max: usize) -> Vec<(String, String)> {
        let mut runs = [1, 3, 64, CHUNK].map(|step| {
            let reader = Trickle {
                data: input.as_bytes(),
                step,
            };
            let mut entries = Entries::new(reader, max);
            let mut got = Vec::new();
            while let Some((at, entry)) = entries.next_entry().unwrap() {
                let text = match entry {
                    Entry::Json(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
                    Entry::TooLong(n) => format!("TOO LONG {n}"),
                };
                got.push((at.to_string(), text));
            }
            assert_eq!(entries.bytes_read(), input.len() as u64);
            got
        });
        for (i, run) in runs.iter().enumerate().skip(1) {
            assert_eq!(run, &runs[0], "read size #{i} differs");
        }
        std::mem::take(&mut runs[0])
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    const MAX: usize = DEFAULT_MAX_LINE_BYTES;

    #[test]
    fn jsonl_lines_keep_their_numbers() {
        let got = entries("{\"a\":1}\n\n  \nnot json\r\n{\"b\":\"x\\\"}\"}", MAX);
        assert_eq!(
            got,
            pairs(&[
                ("line 1", r#"{"a":1}"#),
                ("line 4", "not json"),
                ("line 5", r#"{"b":"x\"}"}"#),
            ])
        );
    }

    #[test]
    fn pretty_printed_objects_are_one_entry_each() {
        let input =
            "{\n  \"a\": {\n    \"b\": \"}\"\n  }\n}\n{\"c\":1}\n{\n  \"d\": [\n  1\n ]\n}\nbad\n";
        assert_eq!(
            entries(input, MAX),
            pairs(&[
                ("line 1", "{\n  \"a\": {\n    \"b\": \"}\"\n  }\n}"),
                ("line 6", r#"{"c":1}"#),
                ("line 7", "{\n  \"d\": [\n  1\n ]\n}"),
                ("line 12", "bad"),
            ])
        );
    }

    #[test]
    fn a_line_left_open_does_not_swallow_the_lines_after_it() {
        let input = "{\"a\": [{\"role\": \"us\n{\"b\":1}\n  {\"c\": \"\n{\"d\":2}\n{\"e\": [";
        assert_eq!(
            entries(input, MAX),
            pairs(&[
                ("line 1", r#"{"a": [{"role": "us"#),
                ("line 2", r#"{"b":1}"#),
                ("line 3", "{\"c\": \""),
                ("line 4", r#"{"d":2}"#),
                ("line 5", r#"{"e": ["#),
            ])
        );
    }

    #[test]
    fn arrays_are_split_at_their_own_commas() {
        let input = "[{\"a\":\"x,]}\\\\\",\"b\":[1,2]}, null ,\n {\"c\":{}}\n]";
        assert_eq!(
            entries(input, MAX),
            pairs(&[
                ("entry 1", r#"{"a":"x,]}\\","b":[1,2]}"#),
                ("entry 2", "null"),
                ("entry 3", r#"{"c":{}}"#),
            ])
        );
    }

    #[test]
    fn empty_arrays_trailing_commas_and_arrays_in_a_row() {
        assert!(entries("[]", MAX).is_empty());
        assert!(entries(" [ \n ] ", MAX).is_empty());
        assert_eq!(
            entries("[1,]\n[2]\n{\"x\":1}", MAX),
            pairs(&[
                ("entry 1", "1"),
                ("entry 2", ""),
                ("entry 3", "2"),
                ("line 3", r#"{"x":1}"#),
            ])
        );
    }

    #[test]
    fn an_array_cut_off_gives_what_it_has() {
        assert_eq!(
            entries("[{\"a\":1}, {\"b\": \"x", MAX),
            pairs(&[("entry 1", r#"{"a":1}"#), ("entry 2", r#"{"b": "x"#)])
        );
        assert_eq!(
            entries("[{\"a\":1},  ", MAX),
            pairs(&[("entry 1", r#"{"a":1}"#)])
        );
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_input() {
        assert_eq!(
            entries("\u{feff}{\"a\":1}\n", MAX),
            pairs(&[("line 1", r#"{"a":1}"#)])
        );
        assert_eq!(
            entries("\u{feff}\n [{\"a\":1}]", MAX),
            pairs(&[("entry 1", r#"{"a":1}"#)])
        );
        assert!(entries("", MAX).is_empty());
        assert!(entries("\u{feff}", MAX).is_empty());
    }

    #[test]
    fn entries_over_the_cap_are_skipped_and_measured() {
        let long = format!("{{\"a\":\"{}\"}}", "x".repeat(30));
        let input = format!(
            "{{\"a\":1}}\n{long}\n{{\"b\":2}}\n{{\n  \"c\": \"{}\"\n}}\n{{\"d\":3}}",
            "y".repeat(30)
        );
        assert_eq!(
            entries(&input, 20),
            pairs(&[
                ("line 1", r#"{"a":1}"#),
                ("line 2", "TOO LONG 38"),
                ("line 3", r#"{"b":2}"#),
                ("line 4", "TOO LONG 43"),
                ("line 7", r#"{"d":3}"#),
            ])
        );
        let array = format!("[{{\"a\":1}}, {long},{{\"b\":\"}}\"}}]");
        assert_eq!(
            entries(&array, 20),
            pairs(&[
                ("entry 1", r#"{"a":1}"#),
                ("entry 2", "TOO LONG 39"),
                ("entry 3", r#"{"b":"}"}"#),
            ])
        );
    }

    #[test]
    fn the_buffer_grows_to_the_cap_and_no_further() {
        let big = format!("{{\"a\":\"{}\"}}", "z".repeat(3 * CHUNK));
        let input = format!("{big}\n{{\"b\":1}}\n");
        let mut entries = Entries::new(input.as_bytes(), 4 * CHUNK);
        let (_, first) = entries.next_entry().unwrap().unwrap();
        assert_eq!(first, Entry::Json(big.as_bytes()));
        let mut entries = Entries::new(input.as_bytes(), CHUNK);
        let (_, first) = entries.next_entry().unwrap().unwrap();
        assert_eq!(first, Entry::TooLong(big.len() as u64));
        assert!(entries.buf.len() <= CHUNK + 1, "no more of it was kept");
        let (at, next) = entries.next_entry().unwrap().unwrap();
        assert_eq!(
            (at, next),
            (EntryLocation::Line(2), Entry::Json(&b"{\"b\":1}"[..]))
        );
    }
}

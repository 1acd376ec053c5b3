//! Python objects to JSON bytes, as LiteLLM's own loggers write them.
//!
//! LiteLLM's `generic_api` logger sends `json.dumps(payload, default=str)`,
//! and the sidecar parses that; the in-process path must give the same
//! event from the same dict. So this walks the objects the way
//! `json.dumps(default=str)` does, writing JSON the llmtap parser reads as
//! it reads the sidecar's bodies:
//!
//! - `str`, `int`, `float`, `bool`, `None`, `dict`, `list` and `tuple`, and
//!   their subclasses (a `str` enum is its value, an `IntEnum` its number),
//!   checked in `json`'s order, so a `bool` is never taken for an `int`;
//! - non-finite floats as Python's `NaN`, `Infinity`, `-Infinity` literals,
//!   which the parser reads as `null` (and refuses in token counts);
//! - anything else as `str(obj)`: a `datetime` is `"2026-12-01 10:00:00"`,
//!   a pydantic model its `str()`, as `default=str` makes them;
//! - dict keys as `json` writes them (`true`, `null`, `1.5`), and a key
//!   `json.dumps` would refuse (a tuple) as its `str()` rather than losing
//!   the whole payload;
//! - a lone surrogate (which `json.dumps` escapes and no JSON parser takes)
//!   as U+FFFD.
//!
//! It is fast the way `orjson` is, within the abi3 API: the walk is on raw
//! `pyo3::ffi` pointers. A value's kind is a pointer comparison of its
//! type with the exact built-in types (a type-flag test for subclasses);
//! dicts are read with `PyDict_Next` and lists and tuples by index, so an
//! item is a borrowed reference, its reference count untouched; an `int`
//! is `PyLong_AsLongLongAndOverflow`, a `float` `PyFloat_AsDouble`, and a
//! `str` `PyUnicode_AsUTF8AndSize`, which points into the string (its
//! ASCII data, or the UTF-8 form it caches) instead of copying it into a
//! new `bytes`. Strings are escaped sixteen bytes at a time, stored
//! straight into the output buffer. Strong references are taken only where
//! Python code may run (see [`Writer`]).
//!
//! Walking the objects from Rust was measured against `json.dumps` and
//! `orjson.dumps` of the same ~15 KB payloads (`benches/python_logger.py
//! --crossing`): see BENCHMARKS.md. It also bounds what `json.dumps` does
//! not: nesting (a cycle is an error, not a `RecursionError`) and size.

use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyString};
use std::fmt;
use std::mem::MaybeUninit;

/// Deeper than this is an error: real payloads nest 20 to 50 levels, and
/// the parser refuses input deeper than its own limit anyway.
pub(crate) const MAX_DEPTH: usize = 256;

/// Why an object could not become JSON.
#[derive(Debug)]
pub(crate) enum WalkError {
    /// Nested deeper than [`MAX_DEPTH`] (a cycle ends here too).
    TooDeep,
    /// The JSON would exceed the byte limit.
    TooLarge(usize),
    /// `str()` of an object raised.
    Python(PyErr),
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkError::TooDeep => write!(f, "nested deeper than {MAX_DEPTH} levels (or circular)"),
            WalkError::TooLarge(limit) => write!(f, "larger than {limit} bytes as JSON"),
            WalkError::Python(e) => write!(f, "str() of a value raised: {e}"),
        }
    }
}

/// How non-finite floats are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonFinite {
    /// Python's `NaN` / `Infinity` literals, as `json.dumps` writes them:
    /// for payloads, which the llmtap parser reads as the sidecar's.
    Literal,
    /// `null`: strict JSON, for settings and finished events.
    Null,
}

/// `obj` as JSON, at most `max_bytes` long.
pub(crate) fn to_json(
    obj: &Bound<'_, PyAny>,
    max_bytes: usize,
    nonfinite: NonFinite,
) -> Result<Vec<u8>, WalkError> {
    let mut writer = Writer {
        py: obj.py(),
        out: Vec::with_capacity(16 * 1024),
        max_bytes,
        nonfinite,
    };
    writer.value(obj.as_borrowed(), 0)?;
    Ok(writer.out)
}

// `PyUnicode_AsUTF8AndSize` joined the limited API in 3.10, so pyo3-ffi
// leaves it out under `abi3-py39`; but CPython has exported it, with this
// signature, since 3.3, so every interpreter this abi3 wheel loads in has
// it (on Linux and macOS an extension's Python symbols resolve against the
// running interpreter). Windows links abi3 modules against `python3.dll`,
// whose 3.9 build does not export it: there strings take PyO3's copying
// path instead (see the other `utf8`).
#[cfg(not(windows))]
unsafe extern "C" {
    fn PyUnicode_AsUTF8AndSize(
        unicode: *mut ffi::PyObject,
        size: *mut ffi::Py_ssize_t,
    ) -> *const std::ffi::c_char;
}

/// What `json` makes of a value, in its order of checks.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Null,
    True,
    False,
    Int,
    Float,
    List,
    Tuple,
    Dict,
    Other,
}

fn kind(obj: Borrowed<'_, '_, PyAny>) -> Kind {
    let p = obj.as_ptr();
    // SAFETY: `p` is a live object (`obj` borrows it). These only compare
    // its address and its type's with the interpreter's statics, and read
    // its type's flags (or walk its MRO, for `float`): no Python code runs.
    unsafe {
        let ty = ffi::Py_TYPE(p);
        if ty == &raw mut ffi::PyUnicode_Type {
            Kind::Str
        } else if p == ffi::Py_None() {
            Kind::Null
        } else if ty == &raw mut ffi::PyDict_Type {
            Kind::Dict
        } else if ty == &raw mut ffi::PyLong_Type {
            Kind::Int
        } else if ty == &raw mut ffi::PyFloat_Type {
            Kind::Float
        } else if p == ffi::Py_True() {
            Kind::True
        } else if p == ffi::Py_False() {
            Kind::False
        } else if ty == &raw mut ffi::PyList_Type {
            Kind::List
        } else if ty == &raw mut ffi::PyTuple_Type {
            Kind::Tuple
        // Subclasses, in `json`'s order (`bool` cannot be subclassed, and
        // was taken above, so it is never an `int` here).
        } else if ffi::PyUnicode_Check(p) != 0 {
            Kind::Str
        } else if ffi::PyLong_Check(p) != 0 {
            Kind::Int
        } else if ffi::PyFloat_Check(p) != 0 {
            Kind::Float
        } else if ffi::PyList_Check(p) != 0 {
            Kind::List
        } else if ffi::PyTuple_Check(p) != 0 {
            Kind::Tuple
        } else if ffi::PyDict_Check(p) != 0 {
            Kind::Dict
        } else {
            Kind::Other
        }
    }
}

/// Whether writing something may have run Python code.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ran {
    Rust,
    Python,
}

/// The writer. Items are borrowed from their container (no reference count
/// touched), which is sound as long as no Python code runs while they are
/// in use: only Python code can change a container and so drop an item.
/// Python code can run in `str()` (`default=str`, and odd keys), in
/// `int.__repr__`'s call, and in any allocation of a tracked object (the
/// garbage collector may run finalizers), such as the exception a lone
/// surrogate raises from `PyUnicode_AsUTF8AndSize`. So a strong reference
/// is held on every container being walked, on a string while it is
/// converted, and on anything passed to Python; a container's items are
/// fetched afresh after each item (a list's bounds-checked, a dict entry's
/// value again after a key that ran Python code).
struct Writer<'py> {
    py: Python<'py>,
    out: Vec<u8>,
    max_bytes: usize,
    nonfinite: NonFinite,
}

impl<'py> Writer<'py> {
    /// Any value: the common exact types here, inlined into the loops,
    /// the rest in [`Writer::other`].
    #[inline(always)]
    fn value(&mut self, obj: Borrowed<'_, 'py, PyAny>, depth: usize) -> Result<(), WalkError> {
        if self.out.len() > self.max_bytes {
            return Err(WalkError::TooLarge(self.max_bytes));
        }
        let p = obj.as_ptr();
        // SAFETY: `p` is a live object (`obj` borrows it): this reads its
        // type, and compares it and `p` with the interpreter's statics.
        let (is_str, is_none, is_int) = unsafe {
            let ty = ffi::Py_TYPE(p);
            (
                ty == &raw mut ffi::PyUnicode_Type,
                p == ffi::Py_None(),
                ty == &raw mut ffi::PyLong_Type,
            )
        };
        if is_str {
            self.string(obj);
        } else if is_none {
            self.out.extend_from_slice(b"null");
        } else if is_int {
            self.int(obj)?;
        } else {
            return self.other(obj, depth);
        }
        Ok(())
    }

    /// What [`Writer::value`] leaves: containers, subclasses, `default=str`.
    #[inline(never)]
    fn other(&mut self, obj: Borrowed<'_, 'py, PyAny>, depth: usize) -> Result<(), WalkError> {
        match kind(obj) {
            Kind::Str => {
                self.string(obj);
            }
            Kind::Null => self.out.extend_from_slice(b"null"),
            Kind::True => self.out.extend_from_slice(b"true"),
            Kind::False => self.out.extend_from_slice(b"false"),
            Kind::Int => self.int(obj)?,
            Kind::Float => {
                // SAFETY: `obj` is a live `float` (or subclass): this reads
                // its value and cannot fail.
                let x = unsafe { ffi::PyFloat_AsDouble(obj.as_ptr()) };
                self.float(x);
            }
            Kind::List => {
                self.open(depth)?;
                self.list(&obj.to_owned(), depth)?;
            }
            Kind::Tuple => {
                self.open(depth)?;
                self.tuple(&obj.to_owned(), depth)?;
            }
            Kind::Dict => {
                self.open(depth)?;
                self.dict(&obj.to_owned(), depth)?;
            }
            Kind::Other => {
                // `default=str`.
                let text = obj.to_owned().str().map_err(WalkError::Python)?;
                self.string(text.as_any().as_borrowed());
            }
        }
        Ok(())
    }

    fn open(&self, depth: usize) -> Result<(), WalkError> {
        match depth >= MAX_DEPTH {
            true => Err(WalkError::TooDeep),
            false => Ok(()),
        }
    }

    /// A `dict` (or subclass) `d`, held by the caller.
    fn dict(&mut self, d: &Bound<'py, PyAny>, depth: usize) -> Result<(), WalkError> {
        self.out.push(b'{');
        let mut pos: ffi::Py_ssize_t = 0;
        let mut first = true;
        loop {
            let at = pos;
            let mut key: *mut ffi::PyObject = std::ptr::null_mut();
            let mut value: *mut ffi::PyObject = std::ptr::null_mut();
            // SAFETY: `d` is a live dict, held for the whole loop; only
            // `PyDict_Next` moves `pos` (from 0), and it bounds-checks it
            // even if the dict changed meanwhile.
            if unsafe { ffi::PyDict_Next(d.as_ptr(), &mut pos, &mut key, &mut value) } == 0 {
                break;
            }
            if !first {
                self.out.push(b',');
            }
            first = false;
            // SAFETY: `PyDict_Next` returned 1: a live key, borrowed from
            // `d`; `Writer::key` takes a strong reference to it before
            // anything that may run Python code.
            if self.key(unsafe { Borrowed::from_ptr(self.py, key) })? == Ran::Python {
                // It may have changed `d`, and dropped `value`: the entry
                // again, which must still be that key's.
                let mut again = at;
                let mut key_again: *mut ffi::PyObject = std::ptr::null_mut();
                // SAFETY: as above, `again` being a position `PyDict_Next`
                // gave.
                let found =
                    unsafe { ffi::PyDict_Next(d.as_ptr(), &mut again, &mut key_again, &mut value) };
                if found == 0 || key_again != key {
                    return Err(WalkError::Python(PyRuntimeError::new_err(
                        "dictionary changed during iteration",
                    )));
                }
            }
            self.out.push(b':');
            // SAFETY: a live value, borrowed from `d` (held), read after the
            // key's Python code if it ran any; `value` uses it only until
            // Python code may run, taking a strong reference first.
            self.value(unsafe { Borrowed::from_ptr(self.py, value) }, depth + 1)?;
        }
        self.out.push(b'}');
        Ok(())
    }

    /// A `list` (or subclass) `l`, held by the caller.
    fn list(&mut self, l: &Bound<'py, PyAny>, depth: usize) -> Result<(), WalkError> {
        self.out.push(b'[');
        // SAFETY: `l` is a live list: this reads its length.
        let len = || unsafe { ffi::PyList_Size(l.as_ptr()) };
        let mut n = len();
        let mut i: ffi::Py_ssize_t = 0;
        loop {
            // An item's `str()` may have grown the list, as `json` sees.
            if i >= n {
                n = len();
                if i >= n {
                    break;
                }
            }
            // SAFETY: `l` is a live list (held); `PyList_GetItem` bounds-
            // checks `i`, failing if an item's `str()` shrank the list.
            let item = unsafe { ffi::PyList_GetItem(l.as_ptr(), i) };
            if item.is_null() {
                // SAFETY: clears the `IndexError` just raised.
                unsafe { ffi::PyErr_Clear() };
                break;
            }
            if i > 0 {
                self.out.push(b',');
            }
            // SAFETY: a live item, borrowed from `l` (held); `value` uses it
            // only until Python code may run, taking a strong reference
            // first.
            self.value(unsafe { Borrowed::from_ptr(self.py, item) }, depth + 1)?;
            i += 1;
        }
        self.out.push(b']');
        Ok(())
    }

    /// A `tuple` (or subclass) `t`, held by the caller.
    fn tuple(&mut self, t: &Bound<'py, PyAny>, depth: usize) -> Result<(), WalkError> {
        self.out.push(b'[');
        // SAFETY: `t` is a live tuple; a tuple never changes length.
        let n = unsafe { ffi::PyTuple_Size(t.as_ptr()) };
        for i in 0..n {
            if i > 0 {
                self.out.push(b',');
            }
            // SAFETY: `0 <= i < len(t)`: a live item, held by `t` (held),
            // which nothing can change.
            let item = unsafe { Borrowed::from_ptr(self.py, ffi::PyTuple_GetItem(t.as_ptr(), i)) };
            self.value(item, depth + 1)?;
        }
        self.out.push(b']');
        Ok(())
    }

    /// Keys as `json` writes them: strings as they are, `True` as `"true"`,
    /// `None` as `"null"`, numbers as their JSON text.
    #[inline(always)]
    fn key(&mut self, key: Borrowed<'_, 'py, PyAny>) -> Result<Ran, WalkError> {
        // SAFETY: `key` is live: this compares its type with `str`'s.
        if unsafe { ffi::Py_TYPE(key.as_ptr()) } == &raw mut ffi::PyUnicode_Type {
            return Ok(self.string(key));
        }
        self.odd_key(key)
    }

    /// A key not of type `str`.
    #[inline(never)]
    fn odd_key(&mut self, key: Borrowed<'_, 'py, PyAny>) -> Result<Ran, WalkError> {
        let text: &[u8] = match kind(key) {
            Kind::Str => return Ok(self.string(key)),
            Kind::Null => b"\"null\"",
            Kind::True => b"\"true\"",
            Kind::False => b"\"false\"",
            Kind::Int | Kind::Float => {
                // Numbers need no escaping: their text, quoted. (A big
                // `int` calls `int.__repr__`.)
                self.out.push(b'"');
                self.value(key, 0)?;
                self.out.push(b'"');
                return Ok(Ran::Python);
            }
            Kind::List | Kind::Tuple | Kind::Dict | Kind::Other => {
                let key = key.to_owned();
                let text = key.str().map_err(WalkError::Python)?;
                write_escaped(&mut self.out, text.to_string_lossy().as_bytes());
                return Ok(Ran::Python);
            }
        };
        self.out.extend_from_slice(text);
        Ok(Ran::Rust)
    }

    /// A `str` (or subclass).
    #[inline(always)]
    fn string(&mut self, s: Borrowed<'_, 'py, PyAny>) -> Ran {
        // Held: a lone surrogate makes the conversion raise, and raising
        // allocates (see `Writer`).
        let s = s.to_owned();
        match utf8(&s) {
            Some(text) => {
                write_escaped(&mut self.out, text.as_bytes());
                Ran::Rust
            }
            None => self.lossy(&s),
        }
    }

    /// A `str` with a lone surrogate, which becomes U+FFFD.
    #[cold]
    #[inline(never)]
    fn lossy(&mut self, s: &Bound<'py, PyAny>) -> Ran {
        // SAFETY: `string` is only called on a `str` (or subclass).
        let s = unsafe { s.cast_unchecked::<PyString>() };
        write_escaped(&mut self.out, s.to_string_lossy().as_bytes());
        Ran::Python
    }

    /// An `int` (or subclass, such as an `IntEnum`).
    #[inline(always)]
    fn int(&mut self, i: Borrowed<'_, 'py, PyAny>) -> Result<(), WalkError> {
        let mut overflow: std::ffi::c_int = 0;
        // SAFETY: `i` is a live `int` (or subclass), so this reads its
        // value without calling `__index__`, and fails only by overflow,
        // which it reports in `overflow` without raising.
        let n = unsafe { ffi::PyLong_AsLongLongAndOverflow(i.as_ptr(), &mut overflow) };
        if overflow != 0 {
            return self.big_int(i);
        }
        write_i64(&mut self.out, n);
        Ok(())
    }

    /// An `int` past 64 bits: `int.__repr__`, digits the parser then
    /// refuses as a count, like any absurd number.
    #[cold]
    #[inline(never)]
    fn big_int(&mut self, i: Borrowed<'_, 'py, PyAny>) -> Result<(), WalkError> {
        let i = i.to_owned();
        let repr = self
            .py
            .get_type::<PyInt>()
            .call_method1("__repr__", (i,))
            .and_then(|r| r.str())
            .map_err(WalkError::Python)?;
        let text = repr.to_string_lossy();
        self.out.extend_from_slice(text.as_bytes());
        Ok(())
    }

    fn float(&mut self, x: f64) {
        let text: &[u8] = if !x.is_finite() && self.nonfinite == NonFinite::Null {
            b"null"
        } else if x.is_nan() {
            b"NaN"
        } else if x == f64::INFINITY {
            b"Infinity"
        } else if x == f64::NEG_INFINITY {
            b"-Infinity"
        } else {
            // Finite floats always serialize (shortest round-trip form).
            let _ = serde_json::to_writer(&mut self.out, &x);
            return;
        };
        self.out.extend_from_slice(text);
    }
}

/// A `str`'s UTF-8, borrowed from the string; `None` when it holds a lone
/// surrogate (which UTF-8 cannot encode).
#[cfg(not(windows))]
fn utf8<'a>(s: &'a Bound<'_, PyAny>) -> Option<&'a str> {
    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live `str` (or subclass), held by the caller. The
    // data is the string's own (ASCII) or its cached UTF-8 form, valid as
    // long as the string is; on failure an exception is set, cleared here.
    unsafe {
        let data = PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size);
        if data.is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), size as usize);
        // CPython's UTF-8 is valid UTF-8.
        Some(std::str::from_utf8_unchecked(bytes))
    }
}

/// Windows: see the `extern` block. PyO3's copy, through a `bytes`.
#[cfg(windows)]
fn utf8<'a>(s: &'a Bound<'_, PyAny>) -> Option<std::borrow::Cow<'a, str>> {
    // SAFETY: the caller found a `str` (or subclass).
    unsafe { s.cast_unchecked::<PyString>() }.to_cow().ok()
}

/// What each byte becomes in a JSON string: 0 itself, `u` a `\u00XX`
/// escape, anything else that letter after a backslash. (As serde_json.)
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// `bytes` (UTF-8) as a quoted JSON string.
///
/// Word-at-a-time (SWAR): sixteen bytes are tested at once for one that
/// needs an escape, and stored whole into the buffer's spare room; the
/// written length is kept in a local and committed once, at the end or
/// at an escape (rare in payloads), rather than pushed byte by byte.
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len();
    // Room for the text, its quotes, and one store's overshoot; after an
    // escape (which writes more than it reads), room again for the rest.
    out.reserve(n + 2 + 16);
    let mut room = Room::new(out);
    room.put_byte(b'"');
    let mut i = 0;
    loop {
        let escape_at = room.clean_run(bytes, &mut i);
        let written = room.at;
        // SAFETY: `Room` wrote every one of these `written` spare bytes.
        unsafe { out.set_len(out.len() + written) };
        let Some(at) = escape_at else { break };
        escape(out, bytes[at]);
        i = at + 1;
        out.reserve(n - i + 1 + 16);
        room = Room::new(out);
    }
    out.push(b'"');
}

/// A buffer's spare capacity, and how much of it is written.
struct Room<'a> {
    spare: &'a mut [MaybeUninit<u8>],
    at: usize,
}

impl<'a> Room<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        Room {
            spare: out.spare_capacity_mut(),
            at: 0,
        }
    }

    fn put_byte(&mut self, b: u8) {
        self.spare[self.at].write(b);
        self.at += 1;
    }

    /// Stores `N` bytes, keeping the first `len`. (A slice index, which
    /// `write_escaped`'s reserve keeps in bounds: a panic otherwise.)
    #[inline(always)]
    fn put<const N: usize>(&mut self, bytes: [u8; N], len: usize) {
        for (slot, b) in self.spare[self.at..self.at + N].iter_mut().zip(bytes) {
            slot.write(b);
        }
        self.at += len;
    }

    /// Copies `bytes[*i..]` up to the first byte that needs an escape,
    /// whose index it returns (`None`: all copied). Leaves `*i` at the
    /// end of what it copied.
    #[inline(always)]
    fn clean_run(&mut self, bytes: &[u8], i: &mut usize) -> Option<usize> {
        let n = bytes.len();
        while *i + 16 <= n {
            let (a, b) = (load8(&bytes[*i..]), load8(&bytes[*i + 8..]));
            let (fa, fb) = (flags(a), flags(b));
            let mut words = [0; 16];
            words[..8].copy_from_slice(&a.to_le_bytes());
            words[8..].copy_from_slice(&b.to_le_bytes());
            // A branch, not `*i += clean`, so the next loads do not wait
            // on this test.
            if fa | fb == 0 {
                self.put(words, 16);
                *i += 16;
            } else {
                let clean = match fa {
                    0 => 8 + first_flag(fb),
                    _ => first_flag(fa),
                };
                self.put(words, clean);
                *i += clean;
                return Some(*i);
            }
        }
        while *i < n {
            let rest = n - *i;
            let word = if rest >= 8 {
                load8(&bytes[*i..])
            } else {
                // The last 1 to 7 bytes, padded with spaces: from the last
                // eight if there are eight, shifted past those written.
                let tail = match n >= 8 {
                    true => load8(&bytes[n - 8..]) >> (8 * (8 - rest)),
                    false => load_short(&bytes[*i..]),
                };
                tail | (SPACES << (8 * rest))
            };
            let step = rest.min(8);
            let f = flags(word);
            if f != 0 && first_flag(f) < step {
                let clean = first_flag(f);
                self.put(word.to_le_bytes(), clean);
                *i += clean;
                return Some(*i);
            }
            self.put(word.to_le_bytes(), step);
            *i += step;
        }
        None
    }
}

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const SPACES: u64 = u64::from_ne_bytes([b' '; 8]);

/// The first eight of `bytes`, little-endian.
#[inline(always)]
fn load8(bytes: &[u8]) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(word)
}

/// Fewer than eight `bytes`, little-endian, zero above them: with loads
/// that overlap rather than a copy of variable length.
#[inline(always)]
fn load_short(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    if n >= 4 {
        let four = |at: usize| {
            let mut word = [0; 4];
            word.copy_from_slice(&bytes[at..at + 4]);
            u64::from(u32::from_le_bytes(word))
        };
        four(0) | (four(n - 4) << (8 * (n - 4)))
    } else if n > 0 {
        let byte = |at: usize| u64::from(bytes[at]) << (8 * at);
        byte(0) | byte(n / 2) | byte(n - 1)
    } else {
        0
    }
}

/// The high bit of each of eight bytes (little-endian) that needs an
/// escape: one < 0x20, a `"` or a `\`. Exact at the lowest such byte,
/// which is all the callers read: `(x - k) & !x` sets a byte's high bit
/// where that byte is below `k`, and a borrow only spreads upwards.
#[inline(always)]
fn flags(w: u64) -> u64 {
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let quote = w ^ (ONES * u64::from(b'"'));
    let backslash = w ^ (ONES * u64::from(b'\\'));
    ((w.wrapping_sub(ONES * 0x20) & !w)
        | (quote.wrapping_sub(ONES) & !quote)
        | (backslash.wrapping_sub(ONES) & !backslash))
        & HIGHS
}

/// The index of the lowest flagged byte of nonzero `flags`.
#[inline(always)]
fn first_flag(flags: u64) -> usize {
    (flags.trailing_zeros() / 8) as usize
}

/// The escape of byte `b`, one that needs it.
#[inline(never)]
fn escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match ESCAPE[usize::from(b)] {
        b'u' => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 0xf)],
        ]),
        letter => out.extend_from_slice(&[b'\\', letter]),
    }
}

/// `n` in decimal.
fn write_i64(out: &mut Vec<u8>, n: i64) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut m = n.unsigned_abs();
    loop {
        at -= 1;
        // A digit: `m % 10 < 10`.
        buf[at] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[at..]);
}

//! The cacheable prefix of a request, and its id.
//!
//! Providers cache a prompt by its beginning, so the part worth naming is
//! the part a cache can hold. With explicit breakpoints (Anthropic
//! `cache_control` on a tool, a system block or a message content block;
//! Bedrock `cachePoint` blocks) it is everything up to and including the last
//! marked block, in the order the provider reads it: the tools
//! (`model_parameters.tools`), then the system blocks, then the messages.
//! Without breakpoints (OpenAI, DeepSeek, xAI, Gemini cache implicitly) it is
//! the tools and the leading system/developer messages: what stays the same
//! from one call of an application to the next.
//!
//! The id is the first 16 hex digits of SHA-256 (HMAC-SHA256 with a
//! [`PrefixKey`]) over the prefix in canonical JSON (see `canonical.rs`):
//! `{"messages":[…],"system":[…],"tools":[…]}`. The breakpoint markers
//! themselves (`cache_control` keys, `cachePoint` blocks) are left out: they
//! say where a cache may cut, not what the prompt is, so moving a TTL from
//! 5 m to 1 h, or marking a system prompt that was cached implicitly before,
//! keeps its id. Neither model nor provider is hashed, so one prompt is
//! recognizable across models.

use std::borrow::Cow;
use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use memchr::memmem;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::canonical::{Canonical, Sink};
use super::memo::IdMemo;
use crate::payload::{array_elements, top_level_str, Payload};

/// What LiteLLM writes in place of every message when
/// `turn_off_message_logging` is on: `[{"role": "user", "content": "redacted-by-litellm"}]`.
const REDACTED: &str = "redacted-by-litellm";
/// Anthropic's breakpoint key (LiteLLM passes it through in OpenAI-shaped messages too).
const CACHE_CONTROL: &str = "cache_control";
/// Bedrock Converse's breakpoint block, `{"cachePoint": {"type": "default"}}`.
const CACHE_POINT: &str = "cachePoint";

/// A prefix id: 64 bits of SHA-256 (or HMAC-SHA256), shown as 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PrefixId([u8; 8]);

/// An id from a number, for tests elsewhere in the crate.
#[cfg(test)]
pub(crate) fn tests_id(n: u64) -> PrefixId {
    PrefixId(n.to_be_bytes())
}

impl PrefixId {
    /// The id's bytes (the first 8 of the digest).
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }

    /// The id its 16 hex digits name (what `Display` writes), for an id
    /// read back from storage; `None` for anything else.
    pub fn from_hex(hex: &str) -> Option<PrefixId> {
        if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(hex, 16)
            .ok()
            .map(|n| PrefixId(n.to_be_bytes()))
    }
}

impl fmt::Display for PrefixId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PrefixId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrefixId({self})")
    }
}

/// A secret that turns prefix ids into HMACs, for teams whose short prompts
/// could be guessed from a plain hash (hash "You are a helpful assistant."
/// and compare). Its `Debug` never shows the key.
#[derive(Clone)]
pub struct PrefixKey {
    /// Keyed once; each id clones this state rather than re-keying.
    mac: Hmac<Sha256>,
}

impl PrefixKey {
    /// A key from any bytes; `None` when they are empty, since an unset
    /// environment variable often arrives as `""` and a key nobody chose
    /// protects nothing.
    pub fn new(key: impl AsRef<[u8]>) -> Option<PrefixKey> {
        let key = key.as_ref();
        if key.is_empty() {
            return None;
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
        Some(PrefixKey { mac })
    }
}

impl fmt::Debug for PrefixKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrefixKey(**REDACTED**)")
    }
}

/// The id of a call's cacheable prefix, or `None` when it has none (no
/// tools, no system prompt, no breakpoint) or when LiteLLM redacted its
/// messages (`turn_off_message_logging`): a redacted prompt is the same
/// placeholder for every call, and naming it would merge unrelated prompts.
///
/// Reads only what the prefix needs: without a breakpoint in the messages'
/// text, only the leading system messages are parsed, and a long
/// conversation after them is not even scanned.
pub fn cache_prefix_id(payload: &Payload, key: Option<&PrefixKey>) -> Option<PrefixId> {
    prefix_id(payload, key, None)
}

/// As [`cache_prefix_id`], looking the prefix up in `memo` first: a cached
/// prompt is by nature one that comes back, and its id is then found by
/// comparing bytes instead of parsing and hashing them again.
pub(crate) fn prefix_id(
    payload: &Payload,
    key: Option<&PrefixKey>,
    memo: Option<&IdMemo>,
) -> Option<PrefixId> {
    let params = payload.model_parameters.as_ref().and_then(Value::as_object);
    let tools = params
        .and_then(|p| p.get("tools"))
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let system = system_blocks(params);
    let raw = payload
        .messages
        .as_deref()
        .map(|m| m.get())
        .filter(|m| *m != "null");

    if raw.is_some_and(is_redacted) {
        return None;
    }
    let marked = raw.is_some_and(may_hold_breakpoint);
    if marked {
        // A breakpoint may sit anywhere, so the whole array is read; the text
        // may also only mention the word, and then the implicit rule applies.
        let messages = raw
            .and_then(|m| serde_json::from_str::<Vec<Value>>(m).ok())
            .unwrap_or_default();
        let prefix = match find_cut(tools, &system, &messages) {
            Some(cut) => Prefix::cut(tools, &system, messages, cut),
            None => {
                let leading = messages.iter().take_while(|m| is_system_message(m)).count();
                Prefix::implicit(tools, &system, messages[..leading].to_vec())
            }
        };
        return prefix.id(key, memo);
    }
    if let Some(cut) = find_cut(tools, &system, &[]) {
        return Prefix::cut(tools, &system, Vec::new(), cut).id(key, memo);
    }
    // The common case: no breakpoint anywhere. The leading system messages
    // are found without parsing them, and parsed only if the memo does not
    // know their text.
    let leading = leading_system(raw);
    let parse = |leading: &[&str]| {
        let messages: Option<Vec<Value>> = leading
            .iter()
            .map(|m| serde_json::from_str(m).ok())
            .collect();
        Prefix::implicit(tools, &system, messages.unwrap_or_default())
    };
    let Some(memo) = memo else {
        return parse(&leading).id(key, None);
    };
    if blocks(tools) + blocks(&system) + leading.len() == 0 {
        return None;
    }
    // The tools and system parameters are parsed already, so they enter the
    // memo key canonically; the messages as the text they arrived as. 0xFF
    // separates the parts: it never occurs in UTF-8.
    let mut memo_key = Vec::with_capacity(1 + leading.iter().map(|m| m.len() + 1).sum::<usize>());
    memo_key.push(b'I');
    block_list(&mut Canonical::new(&mut memo_key), tools);
    memo_key.push(0xff);
    block_list(&mut Canonical::new(&mut memo_key), &system);
    for m in &leading {
        memo_key.push(0xff);
        memo_key.extend_from_slice(m.as_bytes());
    }
    if let Some(id) = memo.get(&memo_key) {
        return Some(id);
    }
    let id = parse(&leading).id(key, None)?;
    memo.put(memo_key, id);
    Some(id)
}

/// Whether the text has a `"cache_control"` or `"cachePoint"` key, by one
/// scan for what both begin with. A mention in prose only costs a parse.
fn may_hold_breakpoint(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    memmem::find_iter(bytes, b"\"cache").any(|at| {
        let rest = &bytes[at + 1..];
        [CACHE_CONTROL, CACHE_POINT]
            .iter()
            .any(|k| rest.starts_with(k.as_bytes()) && rest.get(k.len()) == Some(&b'"'))
    })
}

/// System blocks passed beside the messages: `system` in the Anthropic
/// Messages shape (`anthropic_messages` calls; some LiteLLM versions keep it
/// among the parameters), `instructions` in the Responses API. OpenAI-shaped
/// chat keeps its system prompt among the messages instead.
fn system_blocks(params: Option<&Map<String, Value>>) -> Cow<'_, [Value]> {
    let found = params.and_then(|p| p.get("system").or_else(|| p.get("instructions")));
    match found {
        Some(Value::Array(blocks)) => Cow::Borrowed(blocks.as_slice()),
        Some(text @ Value::String(s)) if !s.is_empty() => Cow::Owned(vec![text.clone()]),
        _ => Cow::Borrowed(&[]),
    }
}

/// Whether the messages are LiteLLM's redaction placeholder, which replaces
/// the whole array with one short message: only short messages are looked
/// at, so a real conversation costs a length check.
fn is_redacted(raw: &str) -> bool {
    if raw.len() > 256 || memmem::find(raw.as_bytes(), REDACTED.as_bytes()).is_none() {
        return false;
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::String(s)) => s == REDACTED,
        Ok(Value::Array(messages)) => messages.iter().any(is_redacted_message),
        _ => false,
    }
}

/// A message whose content is the placeholder: never part of a prefix, in
/// case some version redacts message by message.
fn is_redacted_message(m: &Value) -> bool {
    m.get("content").and_then(Value::as_str) == Some(REDACTED)
}

/// The messages before the first that is not a system or developer message,
/// as text: each is read only as far as its `role`, and the rest of the
/// array is never touched.
fn leading_system(raw: Option<&str>) -> Vec<&str> {
    raw.map(array_elements)
        .into_iter()
        .flatten()
        .take_while(|m| top_level_str(m, "role").is_some_and(is_system_role))
        .collect()
}

fn is_system_message(m: &Value) -> bool {
    m.get("role")
        .and_then(Value::as_str)
        .is_some_and(is_system_role)
}

fn is_system_role(role: &str) -> bool {
    role.eq_ignore_ascii_case("system") || role.eq_ignore_ascii_case("developer")
}

/// Where the prefix ends in the last part it reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Tools up to and including this one.
    Tool(usize),
    /// All tools, system blocks up to and including this one.
    System(usize),
    /// All tools and system blocks, messages before this one, and of this
    /// one its content blocks up to and including `block` (`None`: all of it).
    Message { index: usize, block: Option<usize> },
}

/// The parts of a prefix, before hashing.
struct Prefix<'a> {
    tools: &'a [Value],
    system: &'a [Value],
    messages: Vec<Value>,
    /// `None` for an implicit prefix: every part is taken whole.
    cut: Option<Cut>,
}

/// The last breakpoint, looking at the messages first (they come last).
fn find_cut(tools: &[Value], system: &[Value], messages: &[Value]) -> Option<Cut> {
    last_marked_message(messages)
        .map(|(index, block)| Cut::Message { index, block })
        .or_else(|| system.iter().rposition(is_marked_block).map(Cut::System))
        .or_else(|| tools.iter().rposition(is_marked_block).map(Cut::Tool))
}

impl<'a> Prefix<'a> {
    /// The prefix up to a breakpoint.
    fn cut(tools: &'a [Value], system: &'a [Value], messages: Vec<Value>, cut: Cut) -> Self {
        Prefix {
            tools,
            system,
            messages,
            cut: Some(cut),
        }
    }

    /// Tools, system blocks and the leading system messages, whole.
    fn implicit(tools: &'a [Value], system: &'a [Value], leading: Vec<Value>) -> Self {
        Prefix {
            tools,
            system,
            messages: leading,
            cut: None,
        }
    }

    /// The parts as they are hashed: `(tools, system, messages, content
    /// blocks kept of the last message)`.
    fn parts(&self) -> (&[Value], &[Value], &[Value], Option<usize>) {
        match self.cut {
            None => (self.tools, self.system, &self.messages, None),
            Some(Cut::Tool(i)) => (&self.tools[..=i], &[], &[], None),
            Some(Cut::System(i)) => (self.tools, &self.system[..=i], &[], None),
            Some(Cut::Message { index, block }) => (
                self.tools,
                self.system,
                &self.messages[..=index],
                block.map(|b| b + 1),
            ),
        }
    }

    /// True when nothing is in it, or a message of it is redacted.
    fn is_empty(&self) -> bool {
        let (tools, system, messages, _) = self.parts();
        blocks(tools) + blocks(system) + messages.len() == 0
            || messages.iter().any(is_redacted_message)
    }

    /// The canonical form: `{"messages":[…],"system":[…],"tools":[…]}`.
    fn write<S: Sink>(&self, w: &mut Canonical<'_, S>) {
        let (tools, system, messages, last_blocks) = self.parts();
        w.raw(b"{\"messages\":[");
        for (i, m) in messages.iter().enumerate() {
            if i > 0 {
                w.raw(b",");
            }
            let limit = if i + 1 == messages.len() {
                last_blocks
            } else {
                None
            };
            message(w, m, limit);
        }
        w.raw(b"],\"system\":");
        block_list(w, system);
        w.raw(b",\"tools\":");
        block_list(w, tools);
        w.raw(b"}");
    }

    /// The id; `None` when nothing is in the prefix. Without a memo the
    /// canonical form streams into the hasher; with one it is written out
    /// once, looked up, and hashed only when the memo does not know it.
    fn id(&self, key: Option<&PrefixKey>, memo: Option<&IdMemo>) -> Option<PrefixId> {
        if self.is_empty() {
            return None;
        }
        let mut hasher = Hasher::new(key);
        let Some(memo) = memo else {
            self.write(&mut Canonical::new(&mut hasher));
            return Some(hasher.finish());
        };
        let mut canonical = vec![b'E'];
        self.write(&mut Canonical::new(&mut canonical));
        if let Some(id) = memo.get(&canonical) {
            return Some(id);
        }
        hasher.put(&canonical[1..]);
        let id = hasher.finish();
        memo.put(canonical, id);
        Some(id)
    }
}

/// How many blocks a list holds besides `cachePoint` markers.
fn blocks(items: &[Value]) -> usize {
    items.iter().filter(|b| !is_cache_point(b)).count()
}

/// The last marked message and, when the mark is on one of its content
/// blocks rather than the message itself, that block.
fn last_marked_message(messages: &[Value]) -> Option<(usize, Option<usize>)> {
    messages.iter().enumerate().rev().find_map(|(i, m)| {
        if has_cache_control(m) {
            return Some((i, None));
        }
        let blocks = m.get("content")?.as_array()?;
        blocks
            .iter()
            .rposition(is_marked_block)
            .map(|b| (i, Some(b)))
    })
}

/// A block (tool, system block, content block) that carries a breakpoint.
fn is_marked_block(v: &Value) -> bool {
    has_cache_control(v) || is_cache_point(v)
}

fn has_cache_control(v: &Value) -> bool {
    v.get(CACHE_CONTROL).is_some_and(|c| !c.is_null())
}

fn is_cache_point(v: &Value) -> bool {
    v.get(CACHE_POINT).is_some()
}

/// Blocks without their markers: `cachePoint` blocks dropped, `cache_control` keys left out.
fn block_list<S: Sink>(w: &mut Canonical<'_, S>, items: &[Value]) {
    w.raw(b"[");
    let mut first = true;
    for item in items.iter().filter(|b| !is_cache_point(b)) {
        if !first {
            w.raw(b",");
        }
        first = false;
        block(w, item);
    }
    w.raw(b"]");
}

fn block<S: Sink>(w: &mut Canonical<'_, S>, v: &Value) {
    match v {
        Value::Object(map) => w.object(map, |k| k == CACHE_CONTROL, |w, _, v| w.value(v)),
        other => w.value(other),
    }
}

/// A message without its markers, its content cut to `limit` blocks.
fn message<S: Sink>(w: &mut Canonical<'_, S>, m: &Value, limit: Option<usize>) {
    let Value::Object(map) = m else {
        return w.value(m);
    };
    w.object(
        map,
        |k| k == CACHE_CONTROL,
        |w, k, v| match (k, v) {
            ("content", Value::Array(blocks)) => block_list(
                w,
                &blocks[..limit.unwrap_or(blocks.len()).min(blocks.len())],
            ),
            _ => w.value(v),
        },
    );
}

enum Hasher {
    Plain(Sha256),
    Keyed(Hmac<Sha256>),
}

impl Sink for Hasher {
    fn put(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Plain(h) => Digest::update(h, bytes),
            Hasher::Keyed(m) => Mac::update(m, bytes),
        }
    }
}

impl Hasher {
    fn new(key: Option<&PrefixKey>) -> Self {
        match key {
            Some(k) => Hasher::Keyed(k.mac.clone()),
            None => Hasher::Plain(Sha256::new()),
        }
    }

    fn finish(self) -> PrefixId {
        let mut id = [0u8; 8];
        match self {
            Hasher::Plain(h) => id.copy_from_slice(&h.finalize()[..8]),
            Hasher::Keyed(m) => id.copy_from_slice(&m.finalize().into_bytes()[..8]),
        }
        PrefixId(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(messages: Value, params: Value) -> Payload {
        Payload::from_value(&json!({
            "model": "claude-sonnet-4-5", "custom_llm_provider": "anthropic",
            "startTime": 1750000000.0, "messages": messages, "model_parameters": params,
        }))
        .unwrap()
    }

    fn id(messages: Value, params: Value) -> Option<String> {
        cache_prefix_id(&payload(messages, params), None).map(|p| p.to_string())
    }

    #[test]
    fn an_id_reads_back_from_its_hex_and_nothing_else_does() {
        let id = tests_id(0x0123_4567_89ab_cdef);
        assert_eq!(PrefixId::from_hex(&id.to_string()), Some(id));
        assert_eq!(PrefixId::from_hex("0123456789ABCDEF"), Some(id));
        for bad in [
            "",
            "0123456789abcde",
            "0123456789abcdef0",
            "+123456789abcdef",
            "0123456789abcdeg",
        ] {
            assert_eq!(PrefixId::from_hex(bad), None, "{bad:?}");
        }
    }

    /// The canonical text an id is computed over, for asserting what is in it.
    fn canonical_of(messages: Value, params: Value) -> String {
        struct Text(Vec<u8>);
        impl Sink for Text {
            fn put(&mut self, b: &[u8]) {
                self.0.extend_from_slice(b);
            }
        }
        let p = payload(messages, params);
        let obj = p.model_parameters.as_ref().and_then(Value::as_object);
        let tools = obj
            .and_then(|o| o.get("tools"))
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let system = system_blocks(obj);
        let raw = p.messages.as_deref().map(|m| m.get());
        let msgs: Vec<Value> = raw.and_then(|m| serde_json::from_str(m).ok()).unwrap();
        let prefix = match find_cut(tools, &system, &msgs) {
            Some(cut) => Prefix::cut(tools, &system, msgs, cut),
            None => {
                let leading = leading_system(raw);
                let parsed = leading.iter().map(|m| serde_json::from_str(m).unwrap());
                Prefix::implicit(tools, &system, parsed.collect())
            }
        };
        let (tools, system, messages, last) = prefix.parts();
        let mut out = Text(Vec::new());
        let mut w = Canonical::new(&mut out);
        for (i, m) in messages.iter().enumerate() {
            message(&mut w, m, if i + 1 == messages.len() { last } else { None });
        }
        block_list(&mut w, system);
        block_list(&mut w, tools);
        String::from_utf8(out.0).unwrap()
    }

    #[test]
    fn the_id_is_16_hex_digits_of_sha256() {
        let got = id(
            json!([{"role": "system", "content": "Be terse."}]),
            json!({}),
        )
        .unwrap();
        let canonical =
            r#"{"messages":[{"content":"Be terse.","role":"system"}],"system":[],"tools":[]}"#;
        let want: String = Sha256::digest(canonical.as_bytes())[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, want);
        assert_eq!(got.len(), 16);
    }

    #[test]
    fn a_key_makes_it_an_hmac() {
        let p = payload(
            json!([{"role": "system", "content": "Be terse."}]),
            json!({}),
        );
        let plain = cache_prefix_id(&p, None).unwrap();
        let k1 = PrefixKey::new("k1").unwrap();
        let keyed = cache_prefix_id(&p, Some(&k1)).unwrap();
        assert_ne!(plain, keyed);
        assert_eq!(keyed, cache_prefix_id(&p, Some(&k1)).unwrap());
        let k2 = PrefixKey::new(b"k2").unwrap();
        assert_ne!(keyed, cache_prefix_id(&p, Some(&k2)).unwrap());
        let canonical =
            r#"{"messages":[{"content":"Be terse.","role":"system"}],"system":[],"tools":[]}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"k1").unwrap();
        mac.update(canonical.as_bytes());
        assert_eq!(&keyed.as_bytes()[..], &mac.finalize().into_bytes()[..8]);
        assert!(PrefixKey::new("").is_none());
        assert_eq!(format!("{k1:?}"), "PrefixKey(**REDACTED**)");
    }

    #[test]
    fn implicit_prefix_is_tools_and_leading_system_messages() {
        let tools = json!({"tools": [{"type": "function", "function": {"name": "f"}}]});
        let text = canonical_of(
            json!([
                {"role": "system", "content": "A"},
                {"role": "developer", "content": "B"},
                {"role": "user", "content": "Q"},
                {"role": "system", "content": "late"}
            ]),
            tools.clone(),
        );
        assert!(text.contains(r#""content":"A""#) && text.contains(r#""content":"B""#));
        assert!(!text.contains("\"Q\"") && !text.contains("late"), "{text}");
        assert!(text.contains(r#""name":"f""#));
        // The conversation after the prefix does not change the id.
        let a = id(
            json!([{"role": "system", "content": "A"}, {"role": "user", "content": "Q1"}]),
            tools.clone(),
        );
        let b = id(
            json!([{"role": "system", "content": "A"}, {"role": "user", "content": "Q2"},
                   {"role": "assistant", "content": "x"}]),
            tools,
        );
        assert_eq!(a, b);
        assert!(a.is_some());
    }

    #[test]
    fn no_prefix_no_id() {
        assert_eq!(
            id(json!([{"role": "user", "content": "hi"}]), json!({})),
            None
        );
        assert_eq!(id(json!("a plain prompt"), json!({})), None);
        assert_eq!(id(json!([]), json!({})), None);
        assert_eq!(id(Value::Null, json!({"tools": []})), None);
        // Tools alone are a prefix.
        assert!(id(Value::Null, json!({"tools": [{"name": "f"}]})).is_some());
    }

    #[test]
    fn redacted_messages_have_no_id() {
        let redacted = json!([{"role": "user", "content": "redacted-by-litellm"}]);
        assert_eq!(
            id(redacted.clone(), json!({"tools": [{"name": "f"}]})),
            None
        );
        assert_eq!(id(json!("redacted-by-litellm"), json!({})), None);
        // Message by message: the redacted system prompt is no prefix.
        let each = json!([{"role": "system", "content": "redacted-by-litellm"},
                          {"role": "user", "content": "redacted-by-litellm"}]);
        assert_eq!(id(each.clone(), json!({})), None);
        assert_eq!(
            prefix_id(&payload(each, json!({})), None, Some(&IdMemo::default())),
            None
        );
        // Merely mentioning the marker inside a real prompt is not a redaction.
        assert!(id(
            json!([{"role": "system", "content": "never say redacted-by-litellm"}]),
            json!({})
        )
        .is_some());
    }

    #[test]
    fn explicit_prefix_ends_at_the_last_marked_block() {
        let messages = json!([
            {"role": "system", "content": [
                {"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": [
                {"type": "text", "text": "DOC", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
                {"type": "text", "text": "QUESTION"}]},
            {"role": "assistant", "content": "later"}
        ]);
        let text = canonical_of(messages.clone(), json!({}));
        assert!(text.contains("\"S\"") && text.contains("\"DOC\""), "{text}");
        assert!(
            !text.contains("QUESTION") && !text.contains("later"),
            "{text}"
        );
        assert!(
            !text.contains("cache_control"),
            "markers are not content: {text}"
        );
        // Changing the question after the breakpoint keeps the id; changing
        // the marked document changes it.
        let mut other_question = messages.clone();
        other_question[1]["content"][1]["text"] = json!("ANOTHER");
        assert_eq!(
            id(messages.clone(), json!({})),
            id(other_question, json!({}))
        );
        let mut other_doc = messages.clone();
        other_doc[1]["content"][0]["text"] = json!("DOC2");
        assert_ne!(id(messages.clone(), json!({})), id(other_doc, json!({})));
        // A TTL change is not a new prompt.
        let mut ttl = messages.clone();
        ttl[1]["content"][0]["cache_control"] = json!({"type": "ephemeral"});
        assert_eq!(id(messages, json!({})), id(ttl, json!({})));
    }

    #[test]
    fn a_message_level_mark_takes_the_whole_message() {
        let text = canonical_of(
            json!([
                {"role": "user", "content": [{"type": "text", "text": "one"},
                    {"type": "text", "text": "two"}], "cache_control": {"type": "ephemeral"}},
                {"role": "user", "content": "three"}
            ]),
            json!({}),
        );
        assert!(text.contains("one") && text.contains("two") && !text.contains("three"));
    }

    #[test]
    fn marked_tools_and_system_parameter() {
        let params = json!({
            "tools": [{"name": "a"}, {"name": "b", "cache_control": {"type": "ephemeral"}},
                      {"name": "c"}],
        });
        let text = canonical_of(json!([{"role": "user", "content": "q"}]), params);
        assert!(text.contains("\"a\"") && text.contains("\"b\"") && !text.contains("\"c\""));
        assert!(!text.contains("\"q\""));
        let params = json!({
            "tools": [{"name": "a"}],
            "system": [{"type": "text", "text": "S1", "cache_control": {"type": "ephemeral"}},
                       {"type": "text", "text": "S2"}],
        });
        let text = canonical_of(json!([{"role": "user", "content": "q"}]), params);
        assert!(text.contains("S1") && !text.contains("S2") && text.contains("\"a\""));
    }

    #[test]
    fn bedrock_cache_points_mark_what_precedes_them() {
        let messages = json!([
            {"role": "user", "content": [{"text": "DOC"}, {"cachePoint": {"type": "default"}},
                                         {"text": "QUESTION"}]}
        ]);
        let text = canonical_of(messages.clone(), json!({}));
        assert!(text.contains("DOC") && !text.contains("QUESTION") && !text.contains("cachePoint"));
        // The same document marked the Anthropic way has the same id.
        let anthropic = json!([
            {"role": "user", "content": [{"text": "DOC", "cache_control": {"type": "ephemeral"}},
                                         {"text": "QUESTION"}]}
        ]);
        assert_eq!(id(messages, json!({})), id(anthropic, json!({})));
    }

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let a = r#"[{"role":"system","content":[{"type":"text","text":"S","cache_control":{"type":"ephemeral"}}]},{"role":"user","content":"q"}]"#;
        let b = r#"[ { "content" : [ { "cache_control" : { "type" : "ephemeral" } ,
              "text" : "S" , "type" : "text" } ] , "role" : "system" } ,
              { "content" : "q", "role" : "user" } ]"#;
        let pa = Payload::from_slice(
            format!(r#"{{"model":"m","startTime":1750000000,"messages":{a}}}"#).as_bytes(),
        )
        .unwrap();
        let pb = Payload::from_slice(
            format!(r#"{{"model":"m","startTime":1750000000,"messages":{b}}}"#).as_bytes(),
        )
        .unwrap();
        assert_eq!(cache_prefix_id(&pa, None), cache_prefix_id(&pb, None));
        assert!(cache_prefix_id(&pa, None).is_some());
    }

    #[test]
    fn the_memo_gives_the_ids_it_saves_computing() {
        // One memo per key, as an observer keeps it.
        let (plain, keyed) = (IdMemo::default(), IdMemo::default());
        let key = PrefixKey::new("k").unwrap();
        let cases = [
            (
                json!([{"role": "system", "content": "A"}, {"role": "user", "content": "q"}]),
                json!({}),
            ),
            // The same prompt spelled another way: another memo key, the same id.
            (
                json!([{"content": "A", "role": "system"}, {"role": "user", "content": "r"}]),
                json!({}),
            ),
            (
                json!([{"role": "system", "content": "A"}]),
                json!({"tools": [{"name": "f"}], "system": "S"}),
            ),
            (
                json!([{"role": "user", "content": [{"type": "text", "text": "DOC",
                "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "Q"}]}]),
                json!({}),
            ),
            (
                json!([{"role": "user", "content": "q"}]),
                json!({"tools": [{"name": "f", "cache_control": {"type": "ephemeral"}}]}),
            ),
            (json!([{"role": "user", "content": "no prefix"}]), json!({})),
        ];
        for (messages, params) in cases {
            let p = payload(messages, params);
            for (k, memo) in [(None, &plain), (Some(&key), &keyed)] {
                let want = cache_prefix_id(&p, k);
                assert_eq!(prefix_id(&p, k, Some(memo)), want, "first sight");
                assert_eq!(prefix_id(&p, k, Some(memo)), want, "remembered");
            }
        }
    }

    #[test]
    fn the_word_alone_is_not_a_breakpoint() {
        let plain = id(
            json!([{"role": "system", "content": "A"}, {"role": "user", "content": "q"}]),
            json!({}),
        );
        let mention = id(
            json!([{"role": "system", "content": "A"},
                   {"role": "user", "content": "what is cache_control?"}]),
            json!({}),
        );
        assert_eq!(plain, mention);
    }
}

//! PostHog events from payloads: `$ai_generation` and `$ai_embedding`.
//!
//! Property names live in [`props`]; this module decides which to emit. The
//! rule that matters most: a cache or reasoning property is emitted only when
//! the provider reported it, and `$ai_cache_reporting_exclusive: false` goes
//! with every inclusive `$ai_input_tokens` so PostHog never bills cached
//! tokens twice.

mod content;
mod identity;
pub mod props;

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::{to_raw_value, RawValue};
use serde_json::{Map, Value};
use thiserror::Error;
use uuid::Uuid;

use crate::headers::{HeaderProperties, ProtectedProperties};
use crate::payload::{CallKind, Payload};
use crate::usage::{normalize, Usage};

/// Default per-event size limit: PostHog answers 413 above ~1 MB, SDKs keep under 900 KiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 800 * 1024;

/// One event in the exact shape of PostHog's capture API.
///
/// Serializes as `{"event", "distinct_id", "properties", "timestamp", "uuid"}`,
/// with [`Event::content`] written inside `properties`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    /// `$ai_generation` or `$ai_embedding`.
    pub event: String,
    /// The end user, or the trace id when there is none.
    pub distinct_id: String,
    /// The `$ai_*` properties and any custom ones, except the content.
    pub properties: Map<String, Value>,
    /// `$ai_input` and `$ai_output_choices`, kept as raw JSON.
    pub content: Content,
    /// When the call started, RFC 3339.
    pub timestamp: String,
    /// Deterministic per payload, so retries and replays deduplicate.
    pub uuid: Uuid,
}

/// Prompt and completion as raw JSON: forwarded byte for byte rather than
/// re-encoded, since they are most of an event's bytes.
#[derive(Debug, Clone, Default)]
pub struct Content {
    /// `$ai_input`: the request messages (or embedding input).
    pub input: Option<Box<RawValue>>,
    /// `$ai_output_choices`: what the model answered.
    pub output_choices: Option<Box<RawValue>>,
}

impl Content {
    /// `(property name, raw JSON)` for each part present.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &RawValue)> {
        [
            (props::INPUT, self.input.as_deref()),
            (props::OUTPUT_CHOICES, self.output_choices.as_deref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
    }

    /// A part parsed into a value, for inspection (`None` when absent).
    pub fn parsed(&self, property: &str) -> Option<Value> {
        let raw = self.iter().find(|(k, _)| *k == property)?.1;
        serde_json::from_str(raw.get()).ok()
    }

    fn slot(&mut self, property: &str) -> Option<&mut Option<Box<RawValue>>> {
        match property {
            props::INPUT => Some(&mut self.input),
            props::OUTPUT_CHOICES => Some(&mut self.output_choices),
            _ => None,
        }
    }
}

impl PartialEq for Content {
    fn eq(&self, other: &Self) -> bool {
        let raw = |v: &Option<Box<RawValue>>| v.as_ref().map(|r| r.get().to_owned());
        raw(&self.input) == raw(&other.input)
            && raw(&self.output_choices) == raw(&other.output_choices)
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Event", 5)?;
        st.serialize_field("event", &self.event)?;
        st.serialize_field("distinct_id", &self.distinct_id)?;
        st.serialize_field("properties", &PropertiesWithContent(self))?;
        st.serialize_field("timestamp", &self.timestamp)?;
        st.serialize_field("uuid", &self.uuid)?;
        st.end()
    }
}

struct PropertiesWithContent<'a>(&'a Event);

impl Serialize for PropertiesWithContent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Event {
            properties,
            content,
            ..
        } = self.0;
        let mut map = s.serialize_map(None)?;
        for (k, v) in properties {
            // The content slots win over a same-named plain property.
            if !matches!(k.as_str(), props::INPUT | props::OUTPUT_CHOICES)
                || content.iter().all(|(c, _)| c != k)
            {
                map.serialize_entry(k, v)?;
            }
        }
        for (k, raw) in content.iter() {
            map.serialize_entry(k, raw)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            event: String,
            distinct_id: String,
            properties: Map<String, Value>,
            timestamp: String,
            uuid: Uuid,
        }
        let mut w = Wire::deserialize(d)?;
        let mut content = Content::default();
        for key in [props::INPUT, props::OUTPUT_CHOICES] {
            if let (Some(v), Some(slot)) = (w.properties.remove(key), content.slot(key)) {
                *slot = Some(to_raw_value(&v).map_err(serde::de::Error::custom)?);
            }
        }
        Ok(Event {
            event: w.event,
            distinct_id: w.distinct_id,
            properties: w.properties,
            content,
            timestamp: w.timestamp,
            uuid: w.uuid,
        })
    }
}

impl Event {
    /// The serialized size in bytes, as it would travel in a batch.
    pub fn json_len(&self) -> usize {
        let mut counter = ByteCounter(0);
        // Serializing maps, strings and raw JSON to a counter cannot fail.
        let _ = serde_json::to_writer(&mut counter, self);
        counter.0
    }

    /// An upper bound of [`Event::json_len`] that needs no serialization: the
    /// common case, an event far under the limit, then costs a walk of the
    /// small properties instead of encoding the content twice.
    fn size_bound(&self) -> usize {
        const ENVELOPE: usize = 160; // keys, uuid, quotes and braces
        ENVELOPE
            + value_bound(&self.event)
            + value_bound(&self.distinct_id)
            + value_bound(&self.timestamp)
            + self
                .properties
                .iter()
                .map(|(k, v)| value_bound(k) + json_bound(v) + 2)
                .sum::<usize>()
            + self
                .content
                .iter()
                .map(|(k, raw)| k.len() + raw.get().len() + 4)
                .sum::<usize>()
    }

    /// A property by name, content included (parsed on demand).
    pub fn property(&self, name: &str) -> Option<Value> {
        self.content
            .parsed(name)
            .or_else(|| self.properties.get(name).cloned())
    }
}

struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Why no event could be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EventError {
    /// Even without its content the event exceeds the size limit (huge custom properties).
    #[error("event is {bytes} bytes even without content, over the {limit}-byte limit")]
    Oversized {
        /// Size after dropping content.
        bytes: usize,
        /// The configured limit.
        limit: usize,
    },
}

/// How events are built; `Default` is what most gateways want.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EventOptions {
    /// Leave out `$ai_input` and `$ai_output_choices` entirely.
    pub privacy_mode: bool,
    /// Replace data URLs and bare base64 in content with a size marker.
    pub replace_binary: bool,
    /// Content is truncated to keep each event under this many bytes.
    pub max_event_bytes: usize,
    /// Added to every event (below computed properties in precedence).
    pub extra_properties: Map<String, Value>,
    /// PostHog groups, sent as `$groups` (e.g. `{"company": "acme"}`).
    pub groups: Map<String, Value>,
    /// What header-passed and extra properties may not override.
    pub protected: ProtectedProperties,
}

impl Default for EventOptions {
    fn default() -> Self {
        EventOptions {
            privacy_mode: false,
            replace_binary: true,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            extra_properties: Map::new(),
            groups: Map::new(),
            protected: ProtectedProperties::default(),
        }
    }
}

impl EventOptions {
    /// Sets [`EventOptions::privacy_mode`].
    pub fn privacy_mode(mut self, on: bool) -> Self {
        self.privacy_mode = on;
        self
    }
    /// Sets [`EventOptions::max_event_bytes`].
    pub fn max_event_bytes(mut self, bytes: usize) -> Self {
        self.max_event_bytes = bytes;
        self
    }
    /// Adds one static property.
    pub fn extra_property(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra_properties.insert(key.into(), value.into());
        self
    }
    /// Adds one group.
    pub fn group(mut self, kind: impl Into<String>, key: impl Into<Value>) -> Self {
        self.groups.insert(kind.into(), key.into());
        self
    }
    /// Sets [`EventOptions::protected`].
    pub fn protected(mut self, protected: ProtectedProperties) -> Self {
        self.protected = protected;
        self
    }
}

/// Builds the event for one payload.
///
/// `headers` are the caller's headers; the payload's own
/// `requester_custom_headers` are read here and win over them.
pub fn build_event(
    payload: &Payload,
    headers: &HeaderProperties,
    options: &EventOptions,
) -> Result<Event, EventError> {
    build_event_with_usage(payload, &normalize(payload), headers, options)
}

/// As [`build_event`], for callers that already normalized the usage.
pub fn build_event_with_usage(
    payload: &Payload,
    usage: &Usage,
    headers: &HeaderProperties,
    options: &EventOptions,
) -> Result<Event, EventError> {
    let request_headers = HeaderProperties::from_payload(payload);
    let headers = if request_headers.is_empty() {
        headers.clone()
    } else {
        headers.clone().merged(&request_headers)
    };
    let kind = payload.kind();
    let name = match kind {
        CallKind::Embedding => props::AI_EMBEDDING,
        CallKind::Generation => props::AI_GENERATION,
    };
    let uuid = identity::event_uuid(payload, name);
    let trace_id = identity::trace_id(payload, &headers, &uuid);

    let mut p = Map::new();
    let mut set = |k: &str, v: Value| {
        p.insert(k.to_owned(), v);
    };
    set(props::MODEL, payload.model.clone().into());
    if !payload.provider().is_empty() {
        set(props::PROVIDER, payload.provider().into());
    }
    set(props::LIB, "llmtap".into());
    set(props::LIB_VERSION, env!("CARGO_PKG_VERSION").into());
    set(props::TRACE_ID, trace_id.clone().into());
    if let Some(span) =
        identity::non_empty(&payload.litellm_call_id).or(identity::non_empty(&payload.id))
    {
        set(props::SPAN_ID, span.into());
    }
    if let Some(tp) = headers.traceparent() {
        set(props::PARENT_ID, tp.parent_id.clone().into());
    }
    if let Some(session) = identity::non_empty(&payload.session_id) {
        set(props::SESSION_ID, session.into());
    }
    if let Some(base) = identity::non_empty(&payload.api_base) {
        set(props::BASE_URL, base.into());
    }
    let stream = payload.is_stream();
    set(props::STREAM, stream.into());
    if let Some(params) = payload.model_parameters.as_ref().filter(|v| has_content(v)) {
        set(props::MODEL_PARAMETERS, params.clone());
    }
    if let Some(end) = payload.end_time {
        set(
            props::LATENCY,
            non_negative(end.seconds_since(payload.start_time)).into(),
        );
    }
    if let (true, Some(first)) = (stream, payload.completion_start_time) {
        set(
            props::TIME_TO_FIRST_TOKEN,
            non_negative(first.seconds_since(payload.start_time)).into(),
        );
    }

    set_usage(&mut set, usage, kind);
    set_cost(&mut set, payload);
    set_outcome(&mut set, payload);

    let distinct_id = match identity::end_user(payload) {
        Some(user) => user.to_owned(),
        None => {
            set(props::PROCESS_PERSON_PROFILE, false.into());
            trace_id
        }
    };
    if !options.groups.is_empty() {
        set(props::GROUPS, Value::Object(options.groups.clone()));
    }

    let overrides = options
        .extra_properties
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .chain(headers.properties());
    for (k, v) in overrides {
        if !options.protected.contains(k) {
            p.insert(k.to_owned(), v.clone());
        }
    }

    let mut event = Event {
        event: name.to_owned(),
        distinct_id,
        properties: p,
        content: Content::default(),
        timestamp: payload.start_time.to_rfc3339(),
        uuid,
    };
    if !options.privacy_mode {
        add_content(&mut event, payload, kind, options)?;
    }
    Ok(event)
}

fn set_usage(set: &mut impl FnMut(&str, Value), usage: &Usage, kind: CallKind) {
    if let Some(input) = usage.input {
        set(props::INPUT_TOKENS, input.into());
        // llmtap's input always includes the cache; say so, or PostHog treats
        // Anthropic input as exclusive and bills the cached tokens twice.
        set(props::CACHE_REPORTING_EXCLUSIVE, false.into());
    }
    if kind == CallKind::Generation {
        if let Some(output) = usage.output {
            set(props::OUTPUT_TOKENS, output.into());
        }
        if let Some(r) = usage.reasoning {
            set(props::REASONING_TOKENS, r.into());
        }
    }
    if let Some(r) = usage.cache_read {
        set(props::CACHE_READ_INPUT_TOKENS, r.into());
    }
    if let Some(w) = usage.cache_write {
        set(props::CACHE_CREATION_INPUT_TOKENS, w.into());
    }
    if let (Some(m5), Some(h1)) = (usage.cache_write_5m, usage.cache_write_1h) {
        set(props::CACHE_CREATION_5M_INPUT_TOKENS, m5.into());
        set(props::CACHE_CREATION_1H_INPUT_TOKENS, h1.into());
    }
}

/// LiteLLM writes 0.0 when it could not price a call, so 0 means unknown here.
fn set_cost(set: &mut impl FnMut(&str, Value), payload: &Payload) {
    if let Some(total) = payload.response_cost.map(|a| a.0).filter(|&c| c > 0.0) {
        set(props::TOTAL_COST_USD, total.into());
        set(props::COST_PASSTHROUGH, true.into());
    }
    let breakdown = payload.cost_breakdown.as_ref();
    let input = breakdown.and_then(|b| b.input_cost).map(|a| a.0);
    let output = breakdown.and_then(|b| b.output_cost).map(|a| a.0);
    // PostHog keeps an input/output split only when both sides are non-zero.
    if let (Some(i), Some(o)) = (input, output) {
        if i > 0.0 && o > 0.0 {
            set(props::INPUT_COST_USD, i.into());
            set(props::OUTPUT_COST_USD, o.into());
        }
    }
}

fn set_outcome(set: &mut impl FnMut(&str, Value), payload: &Payload) {
    if !payload.is_failure() {
        set(props::HTTP_STATUS, 200.into());
        return;
    }
    set(props::IS_ERROR, true.into());
    let info = payload.error_information.as_ref();
    let status = info
        .and_then(|i| i.error_code.as_ref())
        .and_then(|c| match c {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
        .filter(|c| (100..600).contains(c));
    if let Some(status) = status {
        set(props::HTTP_STATUS, status.into());
    }
    let message = info
        .and_then(|i| i.error_message.clone())
        .filter(|m| !m.is_empty())
        .or_else(|| payload.error_str.clone())
        .unwrap_or_else(|| "unknown error".to_owned());
    set(props::ERROR, message.into());
}

/// Adds `$ai_input` / `$ai_output_choices`, shrinking them until the event fits.
fn add_content(
    event: &mut Event,
    payload: &Payload,
    kind: CallKind,
    options: &EventOptions,
) -> Result<(), EventError> {
    let copy = |raw: &RawValue| content::forwardable(raw, options.replace_binary);
    event.content.input = payload
        .messages
        .as_deref()
        .filter(|m| m.get() != "null")
        .map(copy);
    if kind == CallKind::Generation && !payload.is_failure() {
        event.content.output_choices = payload.output_choices.as_deref().map(copy);
    }
    event.fit_within(options.max_event_bytes)
}

impl Event {
    /// Shrinks `$ai_input` / `$ai_output_choices` until the event is at most
    /// `limit` bytes: long strings are cut first (halving the cap each round),
    /// then whole content is replaced by a marker. Fails only when the event
    /// is too large even without content.
    pub fn fit_within(&mut self, limit: usize) -> Result<(), EventError> {
        if self.size_bound() <= limit {
            return Ok(());
        }
        let mut size = self.json_len();
        if size <= limit {
            return Ok(());
        }
        let mut parts: Vec<(&'static str, Value)> = self
            .content
            .iter()
            .filter_map(|(k, raw)| Some((k, serde_json::from_str(raw.get()).ok()?)))
            .collect();
        let mut cap = parts
            .iter()
            .map(|(_, v)| content::longest_string(v))
            .max()
            .unwrap_or(0);
        while size > limit && cap > 64 {
            cap /= 2;
            for (key, value) in &mut parts {
                content::truncate_strings(value, cap);
                self.set_content(key, to_raw_value(value).ok());
            }
            size = self.json_len();
        }
        for key in [props::OUTPUT_CHOICES, props::INPUT] {
            if size > limit && self.content.iter().any(|(k, _)| k == key) {
                let marker = format!(
                    "[removed: {} bytes over the event size limit]",
                    size - limit
                );
                self.set_content(key, to_raw_value(&marker).ok());
                size = self.json_len();
            }
        }
        if size > limit {
            return Err(EventError::Oversized { bytes: size, limit });
        }
        Ok(())
    }

    fn set_content(&mut self, key: &str, raw: Option<Box<RawValue>>) {
        if let Some(slot) = self.content.slot(key) {
            *slot = raw;
        }
    }
}

/// Worst case: every character escaped as `\u00XX`.
fn value_bound(s: &str) -> usize {
    2 + 6 * s.len()
}

fn json_bound(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 24,
        Value::String(s) => value_bound(s),
        Value::Array(items) => 2 + items.iter().map(|i| json_bound(i) + 1).sum::<usize>(),
        Value::Object(map) => {
            2 + map
                .iter()
                .map(|(k, v)| value_bound(k) + json_bound(v) + 2)
                .sum::<usize>()
        }
    }
}

fn has_content(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Object(m) => !m.is_empty(),
        _ => true,
    }
}

fn non_negative(seconds: f64) -> f64 {
    seconds.max(0.0)
}

//! The event as PostHog's capture API takes it, and the rule that keeps it under a size.

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::{to_raw_value, RawValue};
use serde_json::{Map, Value};
use thiserror::Error;
use uuid::Uuid;

use super::{content, props};
use crate::payload::Timestamp;
use crate::usage::Usage;

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
    /// When the call started (else ended), sent as RFC 3339 in UTC; `None`
    /// lets PostHog use the time it received the event. Typed, so an event
    /// cannot carry a time PostHog would refuse.
    pub timestamp: Option<Timestamp>,
    /// Deterministic per payload, so retries and replays deduplicate.
    pub uuid: Uuid,
    /// The normalized usage the token properties were projected from (see
    /// `event::billing`), for a destination that records the truth rather
    /// than PostHog's projection (a SQL row). Never serialized: PostHog gets
    /// the properties. `None` for an event that is not a call's (an alert)
    /// or that was read back from JSON.
    pub usage: Option<Usage>,
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
        match &self.timestamp {
            Some(ts) => st.serialize_field("timestamp", ts)?,
            None => st.skip_field("timestamp")?,
        }
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
            #[serde(default)]
            timestamp: Option<Timestamp>,
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
            usage: None,
        })
    }
}

impl Event {
    /// The normalized usage of the call: [`Event::usage`], or for an event
    /// read back from JSON, its token properties with PostHog's billing
    /// rules undone (Gemini's reasoning added back to its output).
    pub fn normalized_usage(&self) -> Usage {
        self.usage.unwrap_or_else(|| {
            let model = self.properties.get(props::MODEL).and_then(Value::as_str);
            super::billing::usage_from_properties(&self.properties, model.unwrap_or(""))
        })
    }

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
        Measure::UpperBound.event(self)
    }

    /// A cheap estimate of [`Event::json_len`] (strings counted unescaped),
    /// for budgets that must not serialize each event to stay within them
    /// (an exporter's queue bound).
    pub fn approx_json_len(&self) -> usize {
        Measure::Typical.event(self)
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

/// How to size JSON without writing it.
#[derive(Clone, Copy)]
enum Measure {
    /// Never below the real size: every character escaped as `\u00XX`.
    UpperBound,
    /// Close to the real size for ordinary text.
    Typical,
}

/// `2026-11-23T10:00:00.250000Z`: what [`Timestamp::to_rfc3339`] writes.
const RFC3339_MICROS_LEN: usize = 27;

impl Measure {
    fn event(self, e: &Event) -> usize {
        const ENVELOPE: usize = 160; // keys, uuid, quotes and braces
        ENVELOPE
            + self.string(&e.event)
            + self.string(&e.distinct_id)
            + e.timestamp.map_or(0, |_| RFC3339_MICROS_LEN + 2)
            + self.map(&e.properties)
            + e.content
                .iter()
                .map(|(k, raw)| k.len() + raw.get().len() + 4)
                .sum::<usize>()
    }

    fn string(self, s: &str) -> usize {
        match self {
            Measure::UpperBound => 2 + 6 * s.len(),
            Measure::Typical => 2 + s.len(),
        }
    }

    fn map(self, m: &Map<String, Value>) -> usize {
        2 + m
            .iter()
            .map(|(k, v)| self.string(k) + self.value(v) + 2)
            .sum::<usize>()
    }

    fn value(self, v: &Value) -> usize {
        match v {
            Value::Null | Value::Bool(_) => 5,
            Value::Number(_) => 24,
            Value::String(s) => self.string(s),
            Value::Array(items) => 2 + items.iter().map(|i| self.value(i) + 1).sum::<usize>(),
            Value::Object(m) => self.map(m),
        }
    }
}

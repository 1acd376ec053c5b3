//! The serde model of LiteLLM's `StandardLoggingPayload` (SLP).
//!
//! Only the fields llmtap reads are modelled; everything else is skipped while
//! parsing, which keeps parsing near the cost of merely validating the JSON.
//! Each field tolerates the spellings real LiteLLM versions produce (see
//! [`TokenCount`], [`Timestamp`], [`Amount`], [`Flag`]); anything that cannot be a real value fails with a
//! [`PayloadError`] naming the field.

mod batch;
mod error;
mod model_map;
mod number;
mod response;
mod scan;
mod usage_object;

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

pub use batch::split_body_partial;
pub use batch::{split_body, BodyEntry, BodyError, EntryLocation};
pub use error::PayloadError;
pub use model_map::{ModelMapInformation, ModelPrices};
pub use number::{Amount, Flag, Timestamp, TokenCount};
use response::ResponseParts;
pub use response::{Answer, Choice};
pub use scan::MAX_DEPTH;
pub(crate) use scan::{array_elements, top_level_str};
pub use usage_object::{CacheWriteSplit, InputDetails, OutputDetails, RawUsage, ServerToolUse};

/// One LLM call as LiteLLM logged it.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct Payload {
    /// Provider response id (`chatcmpl-…`, `msg_…`) or LiteLLM's call id.
    #[serde(default)]
    pub id: Option<String>,
    /// LiteLLM's own id for this call; unique per attempt.
    #[serde(default)]
    pub litellm_call_id: Option<String>,
    /// Groups retries and fallbacks of one request (null in older versions).
    #[serde(default)]
    pub trace_id: Option<String>,
    /// Session id when the client sent one (`""` otherwise).
    #[serde(default)]
    pub session_id: Option<String>,
    /// `completion`, `acompletion`, `embedding`, `aresponses`, `anthropic_messages`, …
    #[serde(default)]
    pub call_type: Option<String>,
    /// `success` or `failure`; absent in old payloads.
    #[serde(default)]
    pub status: Option<String>,
    /// The provider LiteLLM routed to (`openai`, `anthropic`, `bedrock`, …).
    #[serde(default)]
    pub custom_llm_provider: Option<String>,
    /// The model as called.
    pub model: String,
    /// The proxy's model alias.
    #[serde(default)]
    pub model_group: Option<String>,
    /// Upstream base URL (`""` when unknown).
    #[serde(default)]
    pub api_base: Option<String>,
    /// LiteLLM's normalized copies of the usage counts; the last fallback.
    #[serde(default)]
    pub prompt_tokens: Option<TokenCount>,
    /// See [`Payload::prompt_tokens`].
    #[serde(default)]
    pub completion_tokens: Option<TokenCount>,
    /// See [`Payload::prompt_tokens`].
    #[serde(default)]
    pub total_tokens: Option<TokenCount>,
    /// When the call started; absent in some hand-built payloads, which still
    /// become events (timed from `endTime`, else by PostHog on receipt).
    #[serde(rename = "startTime", default)]
    pub start_time: Option<Timestamp>,
    /// When the call ended.
    #[serde(rename = "endTime", default)]
    pub end_time: Option<Timestamp>,
    /// When the first token arrived (equals `endTime` when not streaming).
    #[serde(rename = "completionStartTime", default)]
    pub completion_start_time: Option<Timestamp>,
    /// `true` when streamed; `null` rather than `false` otherwise.
    #[serde(default)]
    pub stream: Option<Flag>,
    /// USD computed by LiteLLM; 0.0 when it could not price the call. A
    /// negative, `NaN` or mistyped cost is dropped (the call still counts).
    #[serde(default, deserialize_with = "number::amount_or_none")]
    pub response_cost: Option<Amount>,
    /// LiteLLM's split of `response_cost` (newer versions).
    #[serde(default)]
    pub cost_breakdown: Option<CostBreakdown>,
    /// Proxy metadata, including `usage_object` and the client's custom headers.
    #[serde(default)]
    pub metadata: Option<Metadata>,
    /// Request messages (or embedding input), as sent. Kept as raw JSON: it is
    /// forwarded, not inspected, and re-encoding it would cost more than parsing.
    #[serde(default)]
    pub messages: Option<Box<RawValue>>,
    /// The response dump (OpenAI chat shape, Responses API shape, embedding list…), raw.
    #[serde(default)]
    pub response: Option<Box<RawValue>>,
    /// Request parameters such as temperature and max_tokens (and `tools`,
    /// part of the cacheable prefix).
    #[serde(default)]
    pub model_parameters: Option<Value>,
    /// LiteLLM's price-map entry for the model: the rates cache savings are
    /// computed with.
    #[serde(default, deserialize_with = "model_map::object_or_none")]
    pub model_map_information: Option<ModelMapInformation>,
    /// The end user the proxy attributed the call to.
    #[serde(default)]
    pub end_user: Option<String>,
    /// Exception text for failures.
    #[serde(default)]
    pub error_str: Option<String>,
    /// Structured failure details.
    #[serde(default)]
    pub error_information: Option<ErrorInformation>,
    /// What `response` holds besides its raw JSON (usage, answer, stop reason,
    /// served tier), read once after parsing because `response` stays raw.
    #[serde(skip)]
    pub(crate) response_parts: ResponseParts,
    /// Set when the object is a callback `kwargs` dump around the real SLP
    /// (which also has a `model`, so it would parse as one).
    #[serde(
        default,
        rename = "standard_logging_object",
        deserialize_with = "present"
    )]
    wraps_payload: bool,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

/// The parts of `metadata` llmtap reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Metadata {
    /// LiteLLM's `Usage` dump: the primary source of token counts.
    pub usage_object: Option<RawUsage>,
    /// The client's request headers that llmtap reads (`x-posthog-*`,
    /// `traceparent`). The proxy forwards every `x-*` header here, credentials
    /// such as `x-api-key` included; those are dropped while parsing so they
    /// never sit in a `Payload`, its `Debug` output or an error.
    #[serde(deserialize_with = "wanted_headers")]
    pub requester_custom_headers: Option<BTreeMap<String, Value>>,
    /// The end user resolved by the proxy from the API key or request.
    pub user_api_key_end_user_id: Option<String>,
}

fn wanted_headers<'de, D>(d: D) -> Result<Option<BTreeMap<String, Value>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let all: Option<BTreeMap<String, Value>> = Option::deserialize(d)?;
    Ok(all.map(|headers| {
        headers
            .into_iter()
            .filter(|(name, _)| crate::headers::is_wanted(name))
            .collect()
    }))
}

/// LiteLLM's cost split. In 1.106 `input_cost` includes the cache costs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct CostBreakdown {
    /// All input, cache reads and writes included.
    #[serde(deserialize_with = "number::amount_or_none")]
    pub input_cost: Option<Amount>,
    /// All output, reasoning included.
    #[serde(deserialize_with = "number::amount_or_none")]
    pub output_cost: Option<Amount>,
    /// Equal to `response_cost`.
    #[serde(deserialize_with = "number::amount_or_none")]
    pub total_cost: Option<Amount>,
}

/// Failure details from `error_information`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ErrorInformation {
    /// HTTP-ish status as a string (`"429"`), `""` on success; some versions send a number.
    pub error_code: Option<Value>,
    /// Exception class, e.g. `RateLimitError`.
    pub error_class: Option<String>,
    /// Human-readable message.
    pub error_message: Option<String>,
}

/// The kinds of call that become different PostHog events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// Chat, completion, Responses API, Anthropic messages, pass-through.
    Generation,
    /// `embedding` / `aembedding`.
    Embedding,
}

impl Payload {
    /// Parses one SLP from JSON bytes.
    ///
    /// Also accepts a LiteLLM callback `kwargs` dump and unwraps its
    /// `standard_logging_object`, since that is what people paste from logs,
    /// and Python's `NaN` / `Infinity` / `-Infinity` literals: those read as
    /// `null` (a non-finite cost is no cost, non-finite content is forwarded
    /// as `null`), except in token counts, where they are a field error.
    /// Input nested deeper than [`MAX_DEPTH`] is refused unparsed.
    ///
    /// The common case pays one parse and a bracket count: a payload with at
    /// most [`MAX_DEPTH`] opening brackets (a real SLP has 20 to 50) cannot
    /// nest deeper, so it is parsed at once, and only if serde refuses it is
    /// it scanned for non-finite literals. The full structural scan runs only
    /// for bracket-heavy input.
    pub fn from_slice(bytes: &[u8]) -> Result<Payload, PayloadError> {
        if memchr::memchr2_iter(b'{', b'[', bytes)
            .nth(MAX_DEPTH)
            .is_some()
        {
            return Self::from_scanned(bytes, scan::scan(bytes).facts);
        }
        Self::parse(bytes).or_else(|error| {
            let facts = scan::scan(bytes).facts;
            match facts.nonfinite {
                true => Self::from_scanned(bytes, facts),
                false => Err(error),
            }
        })
    }

    /// Parses bytes whose structural scan is already done (by the body splitter).
    ///
    /// Python's non-finite literals are not JSON, so they are rewritten
    /// first, and only when the scan saw one. They become `null`, which is
    /// what they mean nearly everywhere: a `NaN` cost is no cost, a `NaN`
    /// in forwarded content is sent as `null` (never as invalid JSON). The
    /// exception is token counts, where `null` would read as "not reported"
    /// and silently change the accounting; so a second rewrite spells the
    /// literals as strings (`"NaN"`), and the count fields alone (see
    /// [`check_counts`]) are read from it, where [`TokenCount`] rejects them
    /// as not finite, naming the field. Two rewrites and a small second
    /// parse, paid only by entries that hold such a literal.
    pub(crate) fn from_scanned(bytes: &[u8], facts: scan::Facts) -> Result<Payload, PayloadError> {
        facts.check()?;
        if !facts.nonfinite {
            return Self::parse(bytes);
        }
        let payload = Self::parse(&scan::rewrite_nonfinite(bytes, scan::Replace::Null))?;
        check_counts(&scan::rewrite_nonfinite(bytes, scan::Replace::Quoted))?;
        Ok(payload)
    }

    /// Parses JSON without non-finite literals.
    fn parse(bytes: &[u8]) -> Result<Payload, PayloadError> {
        match first_byte(bytes) {
            Some(b'{') => {}
            _ => return Err(not_an_object(bytes)),
        }
        // UTF-8 checked once for the whole payload is cheaper than per string.
        let Ok(text) = std::str::from_utf8(bytes) else {
            return Err(Self::explain(bytes));
        };
        // The fast path: no path bookkeeping unless something is wrong.
        match serde_json::from_str::<Payload>(text) {
            Ok(p) if !p.wraps_payload => p.finish(),
            _ => match serde_json::from_slice::<Kwargs>(bytes) {
                Ok(k) => Self::parse(k.standard_logging_object.get().as_bytes())
                    .map_err(|e| e.within("standard_logging_object")),
                Err(_) => Err(Self::explain(bytes)),
            },
        }
    }

    /// Parses one SLP from an already parsed JSON value.
    pub fn from_value(value: &Value) -> Result<Payload, PayloadError> {
        let bytes = serde_json::to_vec(value).map_err(|e| PayloadError::Syntax {
            message: e.to_string(),
        })?;
        Self::from_slice(&bytes)
    }

    /// Re-parses with path tracking to say which field is wrong.
    fn explain(bytes: &[u8]) -> PayloadError {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        match serde_path_to_error::deserialize::<_, Payload>(de) {
            Ok(_) => PayloadError::Syntax {
                message: "trailing characters after the object".into(),
            },
            Err(e) => PayloadError::from_path(e),
        }
    }

    /// Reads what `response` holds for usage and output, once.
    fn finish(mut self) -> Result<Payload, PayloadError> {
        if !self.has_slp_fields() {
            return Err(PayloadError::Field {
                field: "startTime".into(),
                message: "missing, as is every other field of a standard logging payload \
                          (endTime, call_type, status, custom_llm_provider, metadata, …): \
                          a provider response rather than an SLP?"
                    .into(),
            });
        }
        if let Some(response) = &self.response {
            self.response_parts = response::read(response)?;
        }
        Ok(self)
    }

    /// A provider response has a `model` too; an SLP also carries one of the
    /// fields only LiteLLM's logging adds (any one will do: none is required).
    fn has_slp_fields(&self) -> bool {
        self.start_time.is_some()
            || self.end_time.is_some()
            || self.completion_start_time.is_some()
            || self.call_type.is_some()
            || self.status.is_some()
            || self.custom_llm_provider.is_some()
            || self.litellm_call_id.is_some()
            || self.metadata.is_some()
            || self.messages.is_some()
            || self.response.is_some()
            || self.response_cost.is_some()
    }

    /// True for failed calls; old payloads without `status` count as failed when they carry an error.
    pub fn is_failure(&self) -> bool {
        match self.status.as_deref() {
            Some(s) => s.eq_ignore_ascii_case("failure"),
            None => self.error_str.as_deref().is_some_and(|e| !e.is_empty()),
        }
    }

    /// Whether the call streamed: either flag may be the only one set.
    pub fn is_stream(&self) -> bool {
        self.stream.map(|f| f.0).unwrap_or(false)
            || self
                .model_parameters
                .as_ref()
                .and_then(|p| p.get("stream"))
                .and_then(Value::as_bool)
                .unwrap_or(false)
    }

    /// Embedding calls become `$ai_embedding`; everything else is a generation.
    pub fn kind(&self) -> CallKind {
        match self.call_type.as_deref() {
            Some(t) if t.trim_start_matches('a') == "embedding" => CallKind::Embedding,
            _ => CallKind::Generation,
        }
    }

    /// `metadata.usage_object`, when present.
    pub fn usage_object(&self) -> Option<&RawUsage> {
        self.metadata.as_ref()?.usage_object.as_ref()
    }

    /// The client's own request headers that LiteLLM's proxy forwarded in
    /// `metadata.requester_custom_headers` (only those llmtap reads are kept).
    pub fn request_headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.metadata
            .as_ref()
            .and_then(|m| m.requester_custom_headers.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|(name, value)| Some((name.as_str(), value.as_str()?)))
    }

    /// What LiteLLM priced the call at, in USD; `None` when it could not
    /// (LiteLLM writes 0.0 then, so a 0 means unknown, not free).
    pub fn cost_usd(&self) -> Option<f64> {
        self.response_cost.map(|a| a.0).filter(|&c| c > 0.0)
    }

    /// `response.usage`, when the response carries one.
    pub fn response_usage(&self) -> Option<&RawUsage> {
        self.response_parts.usage.as_ref()
    }

    /// What the model answered, when the response says.
    pub fn answer(&self) -> Option<&Answer> {
        self.response_parts.answer.as_ref()
    }

    /// Why the model stopped: the first choice's `finish_reason` as LiteLLM
    /// maps it (`stop`, `length`, `tool_calls`, `content_filter`, …).
    pub fn finish_reason(&self) -> Option<&str> {
        self.response_parts.finish_reason.as_deref()
    }

    /// The rates LiteLLM priced the call with, when its price map had the model.
    pub fn model_prices(&self) -> Option<&ModelPrices> {
        self.model_map_information
            .as_ref()?
            .model_map_value
            .as_ref()
    }

    /// The provider name, lowercased by convention of LiteLLM (`""` when unknown).
    pub fn provider(&self) -> &str {
        self.custom_llm_provider.as_deref().unwrap_or("")
    }
}

/// The token counts of an SLP (or of the SLP inside a callback `kwargs`
/// dump), read from bytes where non-finite literals are spelled as strings:
/// the one check `null` would defeat. See [`Payload::from_scanned`].
#[expect(dead_code, reason = "the counts are parsed to be checked, never read")]
fn check_counts(json: &[u8]) -> Result<(), PayloadError> {
    /// Only the fields holding [`TokenCount`]s; everything else is skipped.
    #[derive(Deserialize)]
    struct Counts<'a> {
        #[serde(default)]
        prompt_tokens: Option<TokenCount>,
        #[serde(default)]
        completion_tokens: Option<TokenCount>,
        #[serde(default)]
        total_tokens: Option<TokenCount>,
        #[serde(default)]
        metadata: Option<MetadataCounts>,
        #[serde(default, borrow)]
        response: Option<&'a RawValue>,
        #[serde(default, borrow)]
        standard_logging_object: Option<&'a RawValue>,
    }
    #[derive(Deserialize)]
    struct MetadataCounts {
        #[serde(default)]
        usage_object: Option<RawUsage>,
    }
    #[derive(Deserialize)]
    struct ResponseCounts {
        #[serde(default)]
        usage: Option<RawUsage>,
    }
    let de = &mut serde_json::Deserializer::from_slice(json);
    let counts: Counts = serde_path_to_error::deserialize(de).map_err(PayloadError::from_path)?;
    if let Some(inner) = counts.standard_logging_object {
        return check_counts(inner.get().as_bytes())
            .map_err(|e| e.within("standard_logging_object"));
    }
    match counts.response {
        Some(r) if r.get().starts_with('{') => {
            let de = &mut serde_json::Deserializer::from_str(r.get());
            serde_path_to_error::deserialize::<_, ResponseCounts>(de)
                .map(drop)
                .map_err(|e| PayloadError::from_path(e).within("response"))
        }
        _ => Ok(()),
    }
}

/// A LiteLLM callback `kwargs` dump, which people paste from their logs.
#[derive(Deserialize)]
struct Kwargs<'a> {
    #[serde(borrow)]
    standard_logging_object: &'a RawValue,
}

fn first_byte(bytes: &[u8]) -> Option<u8> {
    bytes.iter().copied().find(|b| !b.is_ascii_whitespace())
}

fn not_an_object(bytes: &[u8]) -> PayloadError {
    match serde_json::from_slice::<IgnoredAny>(bytes) {
        Err(e) => PayloadError::Syntax {
            message: e.to_string(),
        },
        Ok(_) => PayloadError::NotAnObject {
            found: match first_byte(bytes) {
                Some(b'[') => "an array",
                Some(b'"') => "a string",
                Some(b'n') => "null",
                Some(b't' | b'f') => "a boolean",
                _ => "a number",
            },
        },
    }
}

//! An event as the rows it becomes: a call in `llm_calls`, an alert in
//! `llm_cache_alerts`. The token columns come from the usage the event was
//! projected from ([`Event::normalized_usage`]), not from PostHog's
//! projection of it.

use chrono::{DateTime, Utc};
use llmtap::{props, DropReason, Event};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::batcher::Weighed;

/// One row to insert.
#[derive(Debug, Clone)]
pub enum Row {
    /// An LLM call.
    Call(Box<CallRow>),
    /// A cache alert.
    Alert(AlertRow),
}

/// The columns of `llm_calls`.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs, reason = "the columns are documented in schema.sql")]
pub struct CallRow {
    pub uuid: Uuid,
    pub ts: DateTime<Utc>,
    pub trace_id: Option<String>,
    pub session_id: Option<String>,
    pub distinct_id: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub status: &'static str,
    pub http_status: Option<i32>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cache_read_tokens: Option<i64>,
    pub cache_write_tokens: Option<i64>,
    pub cache_write_5m_tokens: Option<i64>,
    pub cache_write_1h_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub cost_usd: Option<f64>,
    pub cache_savings_usd: Option<f64>,
    pub cache_prefix_id: Option<String>,
    pub cache_miss: Option<String>,
    pub latency_s: Option<f64>,
    pub ttft_s: Option<f64>,
    /// Every event property but the content, as JSON text (serialized once,
    /// here; the database parses it into `jsonb`).
    pub properties: String,
    bytes: usize,
}

/// The columns of `llm_cache_alerts`.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs, reason = "the columns are documented in schema.sql")]
pub struct AlertRow {
    pub uuid: Uuid,
    pub ts: DateTime<Utc>,
    pub kind: String,
    pub key: String,
    pub properties: String,
    bytes: usize,
}

impl Weighed for Row {
    fn bytes(&self) -> usize {
        match self {
            Row::Call(c) => c.bytes,
            Row::Alert(a) => a.bytes,
        }
    }
}

impl Row {
    /// The row of `event`; `received` stands in for a call without a time.
    pub fn from_event(event: &Event, received: DateTime<Utc>) -> Result<Row, DropReason> {
        let ts = event
            .timestamp
            .and_then(|t| DateTime::from_timestamp_micros(t.as_micros()))
            .unwrap_or(received);
        let p = &event.properties;
        // A map of JSON values always serializes.
        let properties = serde_json::to_string(p).unwrap_or_default();
        let bytes = properties.len() + 256;
        if event.event == props::CACHE_ALERT {
            return Ok(Row::Alert(AlertRow {
                uuid: event.uuid,
                ts,
                kind: text(p, props::ALERT_KIND).unwrap_or_default(),
                key: event.distinct_id.clone(),
                properties,
                bytes,
            }));
        }
        let usage = event.normalized_usage();
        let count = |n: Option<u64>| n.and_then(|n| i64::try_from(n).ok());
        let is_error = p.get(props::IS_ERROR).and_then(Value::as_bool) == Some(true);
        Ok(Row::Call(Box::new(CallRow {
            uuid: event.uuid,
            ts,
            trace_id: text(p, props::TRACE_ID),
            session_id: text(p, props::SESSION_ID),
            distinct_id: event.distinct_id.clone(),
            provider: text(p, props::PROVIDER),
            model: text(p, props::MODEL),
            status: if is_error { "failure" } else { "success" },
            http_status: p
                .get(props::HTTP_STATUS)
                .and_then(Value::as_i64)
                .and_then(|s| i32::try_from(s).ok()),
            input_tokens: count(usage.input),
            output_tokens: count(usage.output),
            cache_read_tokens: count(usage.cache_read),
            cache_write_tokens: count(usage.cache_write),
            cache_write_5m_tokens: count(usage.cache_write_5m),
            cache_write_1h_tokens: count(usage.cache_write_1h),
            reasoning_tokens: count(usage.reasoning),
            cost_usd: number(p, props::TOTAL_COST_USD),
            cache_savings_usd: number(p, props::CACHE_SAVINGS_USD),
            cache_prefix_id: text(p, props::CACHE_PREFIX_ID),
            cache_miss: text(p, props::CACHE_MISS),
            latency_s: number(p, props::LATENCY),
            ttft_s: number(p, props::TIME_TO_FIRST_TOKEN),
            properties,
            bytes,
        })))
    }
}

fn text(p: &Map<String, Value>, name: &str) -> Option<String> {
    match p.get(name)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number(p: &Map<String, Value>, name: &str) -> Option<f64> {
    p.get(name)
        .and_then(Value::as_f64)
        .filter(|x| x.is_finite())
}

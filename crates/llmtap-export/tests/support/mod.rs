//! Shared test helpers. Each test crate uses a different part of them.
#![allow(
    dead_code,
    unused_imports,
    reason = "each test crate uses a different subset"
)]

pub mod clock;
#[cfg(feature = "postgres")]
pub mod postgres;

pub use llmtap_testkit::{CaptureServer, Gate, Recorded, Reply, ServerOptions};

use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

pub use llmtap_testkit::PATIENCE;

/// A valid `$ai_generation` event with a predictable uuid.
pub fn event(i: u128) -> llmtap::Event {
    event_with(i, json!({}))
}

/// As [`event`], with `extra` merged into its properties. Built through
/// serde, as the wire shape is the stable part of `Event`.
pub fn event_with(i: u128, extra: Value) -> llmtap::Event {
    let mut properties = json!({
        "$ai_model": "gpt-4o-mini",
        "$ai_provider": "openai",
        "$ai_input_tokens": 100 + i as u64,
        "$ai_output_tokens": 7,
    });
    if let (Some(p), Value::Object(extra)) = (properties.as_object_mut(), extra) {
        p.extend(extra);
    }
    serde_json::from_value(json!({
        "event": "$ai_generation",
        "distinct_id": format!("user-{}", i % 7),
        "properties": properties,
        "timestamp": "2026-11-23T10:00:00.000Z",
        "uuid": Uuid::from_u128(i),
    }))
    .expect("a valid event")
}

/// The uuid strings of `ids`, as the server records them.
pub fn uuids(ids: impl IntoIterator<Item = u128>) -> Vec<String> {
    ids.into_iter()
        .map(|i| Uuid::from_u128(i).to_string())
        .collect()
}

/// Sorted copy, for set comparisons that also catch duplicates.
pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// A JSON string of `n` bytes, for bulky content.
pub fn filler(n: usize) -> Value {
    Value::String("x".repeat(n))
}

/// A client builder pointed at `server`. Batches close only by size, flush
/// or shutdown (the interval is an hour), so tests decide when requests go.
pub fn builder(server: &CaptureServer) -> llmtap_export::CaptureBuilder {
    llmtap_export::CaptureBuilder::new()
        .api_key(TEST_KEY)
        .host(server.url())
        .flush_interval(Duration::from_secs(3600))
        .request_timeout(PATIENCE)
}

/// The API key tests use; it must never show up in logs or Debug output.
pub const TEST_KEY: &str = "phc_TEST_secret_0123456789";

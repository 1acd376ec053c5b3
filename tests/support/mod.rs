//! Shared helpers of the binary's end-to-end tests.
//!
//! - [`Sidecar`]: `llmtap serve` on 127.0.0.1 (start, scrape, SIGTERM);
//! - [`Proc`] / [`Collected`]: any child process in its own process group,
//!   killed with its children on drop, and the text of its pipes;
//! - [`fixtures`] and [`fixture_json`]: the recorded payloads.
#![allow(
    dead_code,
    unused_imports,
    reason = "each test crate uses a different subset"
)]

mod process;
mod sidecar;

pub use llmtap_testkit::fixtures;
pub use llmtap_testkit::{CaptureServer, Gate, Recorded, Reply, ServerOptions, PATIENCE};
pub use process::{Collected, Proc};
pub use sidecar::Sidecar;

/// The API key tests use; it must never show up in logs or Debug output.
pub const TEST_KEY: &str = "phc_TEST_secret_0123456789";

/// One of the project's `.json` fixtures, parsed: `fixture_json("litellm-1.106", "openai_embedding")`.
pub fn fixture_json(set: &str, stem: &str) -> serde_json::Value {
    let path = fixtures::project_file(set, stem);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The recorded Anthropic call as call `n`, `n` minutes later, reading `read`
/// of its 23 427 input tokens from the cache, unpriced (so the cache rules
/// fire, not `cost_mismatch`): the calls of the alert tests.
pub fn anthropic_call(n: u64, read: u64) -> serde_json::Value {
    let mut v = fixture_json("litellm-1.106", "anthropic_cache_read_and_write_split");
    let start = v["startTime"].as_f64().unwrap() + 60.0 * n as f64;
    v["startTime"] = start.into();
    v["endTime"] = (start + 2.0).into();
    v["litellm_call_id"] = format!("call-{n}").into();
    v["response_cost"] = 0.0.into();
    for usage in ["/metadata/usage_object", "/response/usage"] {
        if let Some(u) = v.pointer_mut(usage).filter(|u| u.is_object()) {
            u["prompt_tokens_details"]["cached_tokens"] = read.into();
            u["prompt_tokens_details"]["text_tokens"] = (23427 - 5424 - read).into();
            u["cache_read_input_tokens"] = read.into();
        }
    }
    v
}

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

//! Shared helpers of the binary's end-to-end tests.
#![allow(
    dead_code,
    unused_imports,
    reason = "each test crate uses a different subset"
)]

pub use llmtap_testkit::fixtures;
pub use llmtap_testkit::{CaptureServer, Gate, Recorded, Reply, ServerOptions, PATIENCE};

/// The API key tests use; it must never show up in logs or Debug output.
pub const TEST_KEY: &str = "phc_TEST_secret_0123456789";

//! Test peers and fixtures for llmtap's own tests, shared by every crate of
//! the workspace so that there is one of each:
//!
//! - [`CaptureServer`]: a scriptable PostHog capture API on 127.0.0.1 (real
//!   HTTP, gzip, scripted replies, gates, slow and refusing modes);
//! - [`fixtures`]: where the recorded payloads live, and one walker over them.
//!
//! It depends on no llmtap crate, so any of them can use it as a
//! dev-dependency without a cycle.

pub mod capture_server;
pub mod fixtures;
pub mod postgres;

pub use capture_server::{CaptureServer, Gate, Recorded, Reply, ServerOptions};
pub use postgres::PostgresServer;

/// Generous bound for waits on real servers and threads. Never reached when
/// things work; it only turns a hang into a failure.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);

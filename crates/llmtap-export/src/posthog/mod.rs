//! PostHog's capture API as a destination: everything the generic machinery
//! must not know about it.
//!
//! - `config`: [`CaptureBuilder`] (key, host, HTTP client, headers, gzip,
//!   plus the shared [`Settings`](crate::Settings)), its defaults, the
//!   `POSTHOG_API_KEY`/`POSTHOG_HOST` environment, PostHog's 20 MiB limit.
//! - `exporter`: [`PostHog`], the [`Exporter`](crate::Exporter): one
//!   `POST {host}/batch/` per attempt, and what its answer means per event
//!   (2xx delivered, 413 and a 400 for several events split, the rest
//!   through `status`).
//! - `body`: the `/batch/` envelope around pre-serialized events, a fresh
//!   `sent_at` per attempt, gzip.
//! - `status`: which statuses and errors are transient, `Retry-After`.
//! - `validate`: the per-event checks the server would 400 a whole batch for.
//! - `secret`: [`ApiKey`], which never prints.

mod body;
mod config;
mod exporter;
mod secret;
mod status;
mod validate;

pub use config::{
    CaptureBuilder, DEFAULT_HOST, DEFAULT_REQUEST_TIMEOUT, ENV_API_KEY, ENV_HOST, MAX_BATCH_BYTES,
};
pub use exporter::PostHog;
pub use secret::ApiKey;

use crate::ExportClient;

/// Ships events to a PostHog capture API in batches, from a worker thread:
/// the generic [`ExportClient`] driving the [`PostHog`] exporter.
pub type CaptureClient = ExportClient<PostHog>;

impl ExportClient<PostHog> {
    /// A builder with defaults from `POSTHOG_API_KEY` and `POSTHOG_HOST`.
    pub fn builder() -> CaptureBuilder {
        CaptureBuilder::from_env()
    }
}

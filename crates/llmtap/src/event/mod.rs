//! PostHog events from payloads: `$ai_generation` and `$ai_embedding`.
//!
//! Property names live in [`props`]; this module decides which to emit. The
//! rules that matter most: a token property is emitted exactly when the
//! payload reports the count (a reported 0 included: a 0 cache read is a
//! miss), and the PostHog projection of the usage (`billing.rs`) makes
//! PostHog's ingestion bill every class once: `$ai_cache_reporting_exclusive:
//! false` with every inclusive `$ai_input_tokens`, and output without the
//! reasoning for the Gemini models PostHog adds it back to.

mod alert;
mod billing;
mod build;
mod content;
mod identity;
mod model;
mod options;
pub mod props;
mod redact;

pub use build::event_uuid;
pub(crate) use build::project;
pub use model::{Content, Event, EventError};
pub use options::{EventOptions, ProtectedProperties};

/// Default per-event size limit: PostHog answers 413 above ~1 MB, SDKs keep under 900 KiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 800 * 1024;

//! PostHog events from payloads: `$ai_generation` and `$ai_embedding`.
//!
//! Property names live in [`props`]; this module decides which to emit. The
//! rule that matters most: a cache or reasoning property is emitted only when
//! the provider reported it, and `$ai_cache_reporting_exclusive: false` goes
//! with every inclusive `$ai_input_tokens` so PostHog never bills cached
//! tokens twice.

mod build;
mod content;
mod identity;
mod model;
mod options;
pub mod props;

pub use build::{build_event, build_event_with_usage};
pub use model::{Content, Event, EventError};
pub use options::EventOptions;

/// Default per-event size limit: PostHog answers 413 above ~1 MB, SDKs keep under 900 KiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 800 * 1024;

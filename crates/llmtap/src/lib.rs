//! # llmtap
//!
//! LiteLLM standard logging payloads in, PostHog `$ai_generation` events with
//! token accounting you can trust out.
//!
//! The data flows one way, one module per stage:
//!
//! ```text
//! bytes ─► payload ─► usage ─► event ─► sink (JSONL, memory, capture)
//!            ▲                   ▲
//!         callback            headers
//! ```
//!
//! - [`payload`]: the serde model of LiteLLM's `StandardLoggingPayload`.
//! - [`usage`]: one normalizer for every provider's token counts, where
//!   "not reported" (`None`) and "reported zero" (`Some(0)`) stay different.
//! - [`event`]: PostHog properties, cache and reasoning ones only when reported.
//! - [`headers`]: `x-posthog-property-*` / `x-posthog-flag-*` headers.
//! - [`callback`]: the trait a gateway registers, and the PostHog callback.
//! - [`sink`]: where events go.
//!
//! This crate is pure: no tokio, no HTTP, no clock reads. Delivery over the
//! network (the batching PostHog exporter) is the `llmtap-export` crate; the
//! `llmtap` binary (replay, serve) is the workspace's root package.
//!
//! ```
//! use llmtap::{build_event, normalize, EventOptions, HeaderProperties, Payload};
//!
//! let payload = Payload::from_slice(br#"{
//!     "model": "claude-sonnet-4-5", "custom_llm_provider": "anthropic",
//!     "call_type": "acompletion", "status": "success", "startTime": 1750000000.0,
//!     "metadata": {"usage_object": {"prompt_tokens": 23427, "completion_tokens": 400,
//!         "prompt_tokens_details": {"cached_tokens": 18000, "cache_creation_tokens": 5424}}}
//! }"#).unwrap();
//! let usage = normalize(&payload);
//! assert_eq!(usage.cache_read, Some(18000));
//! assert_eq!(usage.reasoning, None); // never reported, so never emitted
//!
//! let event = build_event(&payload, &HeaderProperties::default(), &EventOptions::default()).unwrap();
//! assert_eq!(event.properties["$ai_cache_reporting_exclusive"], false);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod callback;
pub mod event;
pub mod headers;
pub mod payload;
pub mod sink;
pub mod usage;

// The public API in one screen.
pub use callback::{CallContext, Callback, CallbackError, CallbackRegistry, PostHogCallback};
pub use event::{build_event, build_event_with_usage, Event, EventError, EventOptions};
pub use headers::{HeaderProperties, ProtectedProperties};
pub use payload::{Payload, PayloadError};
pub use sink::{DropReason, JsonlSink, MemorySink, Sink, SinkError};
pub use usage::{normalize, Family, Usage, UsageContext};

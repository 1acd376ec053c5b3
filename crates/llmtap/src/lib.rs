//! # llmtap
//!
//! LiteLLM standard logging payloads in, PostHog `$ai_generation` events with
//! token accounting you can trust out.
//!
//! The data flows one way, one module per stage:
//!
//! ```text
//! bytes ─► payload ─► usage ─► observe ─► event ─► sink (JSONL, memory; llmtap-export: PostHog)
//!   ▲                   (prefix ids,   ▲
//! callback / pipeline    savings,    headers
//!                        misses)
//! ```
//!
//! - `payload` ([`Payload`]): the serde model of LiteLLM's `StandardLoggingPayload`,
//!   tolerant of every spelling LiteLLM versions produce, typed errors by field.
//! - `usage` ([`normalize`], [`Usage`]): one normalizer for every provider's
//!   token counts, where "not reported" (`None`) and "reported zero"
//!   (`Some(0)`, a cache miss) stay different. The only room that knows
//!   provider field names.
//! - `headers` ([`HeaderProperties`]): `x-posthog-property-*` /
//!   `x-posthog-flag-*` / `traceparent` header syntax; a leaf.
//! - `event` ([`Event`], [`props`]): the PostHog projection: property names,
//!   billing conventions (Gemini reasoning), identity, content and size limits.
//!   The only room that knows PostHog's vocabulary.
//! - `observe` ([`Observation`], [`cache_prefix_id`], [`Pricing`]): cache
//!   observability per call: the cacheable prefix's id, hit ratio, savings in
//!   USD, and why a call missed, against a bounded per-prefix state.
//! - `pipeline` ([`Pipeline`]): payload → usage → observe → event, written
//!   once, used by every entry point; it owns the per-prefix state.
//! - `sink` ([`Sink`], [`DropReason`]): where events go, and why one may not arrive.
//! - `callback` ([`Callback`], [`PostHogCallback`]): what a gateway registers.
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
#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

// The rooms, in the order data flows through them. Each is private: what a
// user needs is re-exported below, so this list is the whole public API.
mod callback;
mod event;
mod headers;
mod observe;
pub mod payload;
mod pipeline;
mod sink;
mod usage;

/// What a gateway registers.
pub use callback::{CallContext, Callback, CallbackError, CallbackRegistry, PostHogCallback};
/// PostHog events, their options, and PostHog's property names.
pub use event::{
    event_uuid, props, Content, Event, EventError, EventOptions, ProtectedProperties,
    DEFAULT_MAX_EVENT_BYTES,
};
/// Header-passed properties.
pub use headers::{HeaderKind, HeaderProperties, HeaderProperty, TraceParent};
/// Cache observability: prefix ids, savings, misses, alerts, and pricing files.
pub use observe::{
    cache_prefix_id, Alert, AlertKind, AlertRules, CacheMiss, CacheTtls, Observation, PrefixId,
    PrefixKey, Pricing, PricingError, Rates, DEFAULT_PREFIX_CAPACITY,
};
/// The SLP's serde model and body splitting (the types of `Payload`'s fields
/// live in [`payload`]).
pub use payload::{split_body, BodyEntry, BodyError, EntryLocation, Payload, PayloadError};
/// The one composition of the stages.
pub use pipeline::{build_event, Pipeline, PipelineError, Processed};
/// Where events go.
pub use sink::{Delivery, DropCounts, DropReason, JsonlSink, MemorySink, Sink, SinkError};
/// One truth about token usage.
pub use usage::{normalize, Usage};

//! The one way through the house: payload → usage → event → sink.
//!
//! Every entry point (the callback a gateway registers, `llmtap replay`,
//! `llmtap serve`, the benchmarks) composes the stages through [`Pipeline`],
//! so what a call becomes never depends on how it arrived.

use std::borrow::Cow;

use thiserror::Error;

use crate::event::{self, Event, EventError, EventOptions};
use crate::headers::HeaderProperties;
use crate::payload::{Payload, PayloadError};
use crate::sink::{Sink, SinkError};
use crate::usage::{normalize, Usage};

/// Turns payloads into events with one set of [`EventOptions`].
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    options: EventOptions,
}

/// One call through the pipeline: its event, and the usage it was built from
/// (for metrics and summaries, which count the normalized truth, not what a
/// destination's projection sends).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Processed {
    /// The PostHog event.
    pub event: Event,
    /// The normalized usage.
    pub usage: Usage,
}

/// Why bytes did not become an event.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The bytes are not a standard logging payload.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// No event could be built from the payload.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The sink refused the event.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

impl Pipeline {
    /// A pipeline building events with `options`.
    pub fn new(options: EventOptions) -> Self {
        Pipeline { options }
    }

    /// The options events are built with.
    pub fn options(&self) -> &EventOptions {
        &self.options
    }

    /// Normalizes the usage and builds the event. `headers` are the caller's
    /// (a gateway's request, the POST of LiteLLM's logger); the payload's own
    /// `metadata.requester_custom_headers` are laid over them, so a client's
    /// per-request header wins over a static one.
    pub fn process(
        &self,
        payload: &Payload,
        headers: &HeaderProperties,
    ) -> Result<Processed, EventError> {
        let usage = normalize(payload);
        let event = event::project(payload, &usage, &merged(payload, headers), &self.options)?;
        Ok(Processed { event, usage })
    }

    /// As [`Pipeline::process`], from the bytes of one payload.
    pub fn process_slice(
        &self,
        bytes: &[u8],
        headers: &HeaderProperties,
    ) -> Result<Processed, PipelineError> {
        let payload = Payload::from_slice(bytes)?;
        Ok(self.process(&payload, headers)?)
    }

    /// Processes one payload and hands its event to `sink`; the usage comes back.
    pub fn capture(
        &self,
        payload: &Payload,
        headers: &HeaderProperties,
        sink: &dyn Sink,
    ) -> Result<Usage, PipelineError> {
        let Processed { event, usage, .. } = self.process(payload, headers)?;
        sink.capture(event)?;
        Ok(usage)
    }
}

/// The event of one payload, as [`Pipeline::process`] builds it.
pub fn build_event(
    payload: &Payload,
    headers: &HeaderProperties,
    options: &EventOptions,
) -> Result<Event, EventError> {
    let usage = normalize(payload);
    event::project(payload, &usage, &merged(payload, headers), options)
}

/// The caller's headers with the payload's per-request ones over them;
/// borrowed in the common case where the payload has none.
fn merged<'a>(payload: &Payload, caller: &'a HeaderProperties) -> Cow<'a, HeaderProperties> {
    let request = HeaderProperties::from_pairs(payload.request_headers());
    if request.is_empty() {
        Cow::Borrowed(caller)
    } else {
        Cow::Owned(caller.clone().merged(&request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::MemorySink;

    const SLP: &[u8] = br#"{"model": "gpt-4o", "custom_llm_provider": "openai",
        "startTime": 1750000000.0, "litellm_call_id": "c1",
        "metadata": {"usage_object": {"prompt_tokens": 10, "completion_tokens": 2},
            "requester_custom_headers": {"x-posthog-property-team": "per-request"}}}"#;

    #[test]
    fn every_entry_point_gets_the_same_event() {
        let pipeline = Pipeline::default();
        let caller = HeaderProperties::from_pairs([
            ("x-posthog-property-team", "static"),
            ("x-posthog-property-env", "prod"),
        ]);
        let payload = Payload::from_slice(SLP).unwrap();
        let processed = pipeline.process_slice(SLP, &caller).unwrap();
        let direct = build_event(&payload, &caller, &EventOptions::default()).unwrap();
        assert_eq!(processed.event, direct);
        assert_eq!(processed.event.properties["team"], "per-request");
        assert_eq!(processed.event.properties["env"], "prod");
        assert_eq!(processed.usage, normalize(&payload));

        let sink = MemorySink::new();
        let usage = pipeline.capture(&payload, &caller, &sink).unwrap();
        assert_eq!(usage.input, Some(10));
        assert_eq!(sink.events(), vec![direct]);
    }

    #[test]
    fn bad_bytes_are_a_typed_error() {
        let err = Pipeline::default()
            .process_slice(b"{\"startTime\": 1}", &HeaderProperties::default())
            .unwrap_err();
        assert!(matches!(err, PipelineError::Payload(_)), "{err}");
    }
}

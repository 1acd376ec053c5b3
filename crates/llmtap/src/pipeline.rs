//! The one way through the house: payload → usage → observe → event → sink.
//!
//! Every entry point (the callback a gateway registers, `llmtap replay`,
//! `llmtap serve`, the benchmarks) composes the stages through [`Pipeline`],
//! so what a call becomes never depends on how it arrived. The pipeline
//! also owns the per-prefix cache state: one pipeline per stream of traffic
//! (a sidecar shares one across its request tasks; it is used through
//! `&self` and is `Sync`), so a miss is judged against every call before it.

use std::borrow::Cow;
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;

use thiserror::Error;

use crate::event::{self, Event, EventError, EventOptions};
use crate::headers::HeaderProperties;
use crate::observe::{
    self, Alert, AlertRules, CacheTtls, Observation, Observer, PrefixKey, Pricing,
};
use crate::payload::{Payload, PayloadError};
use crate::sink::{Sink, SinkError};
use crate::usage::{normalize, normalize_reporting, Usage};

/// Turns payloads into events with one set of [`EventOptions`], observing
/// the prompt cache of every call against the state it keeps.
///
/// ```
/// use std::num::NonZeroUsize;
/// use std::time::Duration;
/// use llmtap::{CacheTtls, EventOptions, Pipeline, PrefixKey, Pricing};
///
/// let pricing = Pricing::from_toml_str(r#"
///     [models."Qwen/*"]
///     input_cost_per_token = 2e-07
///     output_cost_per_token = 6e-07
/// "#).unwrap();
/// let pipeline = Pipeline::new(EventOptions::default())
///     .prefix_key(PrefixKey::new("a team secret").unwrap())
///     .pricing(pricing)
///     .cache_ttls(CacheTtls::new(Duration::from_secs(300), Duration::from_secs(3600)))
///     .prefix_capacity(NonZeroUsize::new(50_000).unwrap());
/// assert_eq!(pipeline.tracked_prefixes(), 0);
/// ```
///
/// Clones share the per-prefix state, as they share one gateway's traffic.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    options: EventOptions,
    observer: Observer,
    on_alert: Option<AlertHook>,
}

/// The callback of [`Pipeline::on_alert`]; shared by clones.
#[derive(Clone)]
struct AlertHook(Arc<dyn Fn(&Alert) + Send + Sync>);

impl fmt::Debug for AlertHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AlertHook(..)")
    }
}

/// One call through the pipeline: its event, and the usage and cache
/// observation it was built from (for metrics and summaries, which count
/// the normalized truth, not what a destination's projection sends).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Processed {
    /// The PostHog event.
    pub event: Event,
    /// The normalized usage.
    pub usage: Usage,
    /// What the prompt cache did: prefix id, hit ratio, savings, miss kind.
    pub observation: Observation,
    /// The alerts this call raised: almost always none (and then nothing is
    /// allocated). Each has its own event, [`Alert::to_event`].
    pub alerts: Vec<Alert>,
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
    /// A pipeline building events with `options`, plain prefix ids, LiteLLM's
    /// own rates, the default TTLs and [`crate::DEFAULT_PREFIX_CAPACITY`].
    pub fn new(options: EventOptions) -> Self {
        Pipeline {
            options,
            observer: Observer::default(),
            on_alert: None,
        }
    }

    /// Makes prefix ids HMACs under `key` (`--prefix-key`, `LLMTAP_PREFIX_KEY`).
    pub fn prefix_key(mut self, key: PrefixKey) -> Self {
        self.observer.set_key(key);
        self
    }

    /// Rates from a user's pricing file over LiteLLM's (`--pricing FILE`):
    /// they drive savings always, and a call's cost when LiteLLM had none.
    pub fn pricing(mut self, pricing: Pricing) -> Self {
        self.observer.set_pricing(pricing);
        self
    }

    /// How long a cache entry is taken to live, to tell `expired` from `silent`.
    pub fn cache_ttls(mut self, ttls: CacheTtls) -> Self {
        self.observer.set_ttls(ttls);
        self
    }

    /// The thresholds of the alert rules (see [`AlertRules`] for the defaults).
    pub fn alert_rules(mut self, rules: AlertRules) -> Self {
        self.observer.set_rules(rules);
        self
    }

    /// Calls `hook` with each alert as the call that raised it is processed,
    /// on the processing thread: it should hand the alert off (a channel, a
    /// counter), not do I/O. Replaces any earlier hook.
    pub fn on_alert(mut self, hook: impl Fn(&Alert) + Send + Sync + 'static) -> Self {
        self.on_alert = Some(AlertHook(Arc::new(hook)));
        self
    }

    /// How many prefixes the state remembers (least recently used evicted).
    /// Starts a fresh state: set it before the pipeline is used or cloned.
    pub fn prefix_capacity(mut self, capacity: NonZeroUsize) -> Self {
        self.observer.set_capacity(capacity);
        self
    }

    /// The options events are built with.
    pub fn options(&self) -> &EventOptions {
        &self.options
    }

    /// How many prefixes the state remembers now (at most the capacity): a
    /// gauge for metrics.
    pub fn tracked_prefixes(&self) -> usize {
        self.observer.tracked_prefixes()
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
        let (usage, reconciled) = normalize_reporting(payload);
        let (observation, alerts) = self.observer.observe(payload, &usage, reconciled);
        if let Some(AlertHook(hook)) = &self.on_alert {
            alerts.iter().for_each(|a| hook(a));
        }
        let event = event::project(
            payload,
            &usage,
            &observation,
            &merged(payload, headers),
            &self.options,
        )?;
        Ok(Processed {
            event,
            usage,
            observation,
            alerts,
        })
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

    /// Processes one payload and hands its event to `sink`, followed by the
    /// events of the alerts it raised (alerts go where the calls go); the
    /// usage comes back.
    pub fn capture(
        &self,
        payload: &Payload,
        headers: &HeaderProperties,
        sink: &dyn Sink,
    ) -> Result<Usage, PipelineError> {
        let Processed {
            event,
            usage,
            alerts,
            ..
        } = self.process(payload, headers)?;
        sink.capture(event)?;
        for alert in &alerts {
            sink.capture(alert.to_event())?;
        }
        Ok(usage)
    }
}

/// The event of one payload, as a fresh [`Pipeline::new`] builds it: with
/// no history, a call that missed its prefix's cache is at most `cold`.
pub fn build_event(
    payload: &Payload,
    headers: &HeaderProperties,
    options: &EventOptions,
) -> Result<Event, EventError> {
    let usage = normalize(payload);
    let (observation, _) = observe::observe(payload, &usage, None);
    event::project(
        payload,
        &usage,
        &observation,
        &merged(payload, headers),
        options,
    )
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

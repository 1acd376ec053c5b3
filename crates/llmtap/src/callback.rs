//! The callback a gateway registers, a registry to fan out to several, and the
//! PostHog callback that turns payloads into events for a [`Sink`].

use std::sync::Arc;

use async_trait::async_trait;
use thiserror::Error;

use crate::event::{EventError, EventOptions};
use crate::headers::HeaderProperties;
use crate::payload::Payload;
use crate::pipeline::{Pipeline, PipelineError};
use crate::sink::{Sink, SinkError};

/// What the gateway knows about a call besides the payload.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CallContext {
    /// Properties from the gateway's request headers (`x-posthog-property-*`, `traceparent`).
    pub headers: HeaderProperties,
}

impl CallContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// A context carrying the given request headers (other headers are ignored).
    pub fn with_headers<K, V, I>(pairs: I) -> Self
    where
        K: AsRef<str>,
        V: AsRef<str>,
        I: IntoIterator<Item = (K, V)>,
    {
        CallContext {
            headers: HeaderProperties::from_pairs(pairs),
        }
    }
}

/// Why a callback could not handle a payload.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// No event could be built.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The sink refused the event.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// A custom callback's own failure.
    #[error("{0}")]
    Other(String),
}

/// A gateway's success and failure callback; override only what you need.
#[async_trait]
pub trait Callback: Send + Sync {
    /// A call succeeded.
    async fn on_success(
        &self,
        _payload: &Payload,
        _ctx: &CallContext,
    ) -> Result<(), CallbackError> {
        Ok(())
    }

    /// A call failed (the payload has `status: "failure"`).
    async fn on_failure(
        &self,
        _payload: &Payload,
        _ctx: &CallContext,
    ) -> Result<(), CallbackError> {
        Ok(())
    }
}

/// Fans one payload out to every registered callback.
#[derive(Clone, Default)]
pub struct CallbackRegistry {
    callbacks: Vec<Arc<dyn Callback>>,
}

impl std::fmt::Debug for CallbackRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackRegistry")
            .field("callbacks", &self.callbacks.len())
            .finish()
    }
}

impl CallbackRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a callback.
    pub fn register(&mut self, callback: impl Callback + 'static) -> &mut Self {
        self.callbacks.push(Arc::new(callback));
        self
    }

    /// Adds a shared callback.
    pub fn register_shared(&mut self, callback: Arc<dyn Callback>) -> &mut Self {
        self.callbacks.push(callback);
        self
    }

    /// How many callbacks are registered.
    pub fn len(&self) -> usize {
        self.callbacks.len()
    }

    /// True when none is registered.
    pub fn is_empty(&self) -> bool {
        self.callbacks.is_empty()
    }

    /// Calls `on_success` or `on_failure` on every callback, by the payload's status.
    ///
    /// One callback's error never keeps the others from running; all errors are returned.
    pub async fn dispatch(&self, payload: &Payload, ctx: &CallContext) -> Vec<CallbackError> {
        let failure = payload.is_failure();
        let mut errors = Vec::new();
        for cb in &self.callbacks {
            let result = if failure {
                cb.on_failure(payload, ctx).await
            } else {
                cb.on_success(payload, ctx).await
            };
            if let Err(e) = result {
                errors.push(e);
            }
        }
        errors
    }
}

/// Builds a PostHog event for every call (through the [`Pipeline`]) and hands it to a sink.
pub struct PostHogCallback {
    sink: Arc<dyn Sink>,
    pipeline: Pipeline,
}

impl std::fmt::Debug for PostHogCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostHogCallback")
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}

impl PostHogCallback {
    /// Sends events built with default options to `sink`.
    pub fn new(sink: Arc<dyn Sink>) -> Self {
        Self::with_options(sink, EventOptions::default())
    }

    /// Sends events built with `options` to `sink`.
    pub fn with_options(sink: Arc<dyn Sink>, options: EventOptions) -> Self {
        PostHogCallback {
            sink,
            pipeline: Pipeline::new(options),
        }
    }

    /// Sends events built by `pipeline` to `sink`: a pipeline with a prefix
    /// key, a pricing file or other cache settings (see [`Pipeline`]).
    pub fn with_pipeline(sink: Arc<dyn Sink>, pipeline: Pipeline) -> Self {
        PostHogCallback { sink, pipeline }
    }

    /// The sink, to flush or shut it down.
    pub fn sink(&self) -> &Arc<dyn Sink> {
        &self.sink
    }

    fn send(&self, payload: &Payload, ctx: &CallContext) -> Result<(), CallbackError> {
        match self
            .pipeline
            .capture(payload, &ctx.headers, self.sink.as_ref())
        {
            Ok(_usage) => Ok(()),
            Err(PipelineError::Event(e)) => Err(e.into()),
            Err(PipelineError::Sink(e)) => Err(e.into()),
            Err(e) => Err(CallbackError::Other(e.to_string())),
        }
    }
}

#[async_trait]
impl Callback for PostHogCallback {
    async fn on_success(&self, payload: &Payload, ctx: &CallContext) -> Result<(), CallbackError> {
        self.send(payload, ctx)
    }

    async fn on_failure(&self, payload: &Payload, ctx: &CallContext) -> Result<(), CallbackError> {
        self.send(payload, ctx)
    }
}

//! Where events go: the [`Sink`] trait and the sinks that need no network.
//!
//! A sink's `capture` is on the caller's hot path (a gateway's response
//! callback), so it must never wait on the network: it validates, enqueues or
//! writes locally, and returns. Delivery is the business of `flush`/`shutdown`.

mod jsonl;
mod memory;

use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;

use crate::event::Event;

pub use jsonl::JsonlSink;
pub use memory::MemorySink;

/// A destination for events.
#[async_trait]
pub trait Sink: Send + Sync {
    /// Accepts one event without waiting on the network.
    fn capture(&self, event: Event) -> Result<(), SinkError>;

    /// Delivers everything accepted so far, or gives up after `timeout`.
    async fn flush(&self, _timeout: Duration) -> Result<(), SinkError> {
        Ok(())
    }

    /// Flushes, then refuses further events. Idempotent.
    async fn shutdown(&self, timeout: Duration) -> Result<(), SinkError> {
        self.flush(timeout).await
    }
}

/// Why a sink refused or could not deliver events.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The queue is full and the policy is to drop.
    #[error("queue full: event dropped")]
    QueueFull,
    /// The sink has been shut down.
    #[error("sink is shut down")]
    Closed,
    /// The event is larger than the sink accepts.
    #[error("event of {bytes} bytes exceeds the {limit}-byte limit")]
    Oversized {
        /// Event size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// Flush or shutdown ran out of time with events still pending.
    #[error("timed out with {pending} events not yet delivered")]
    Timeout {
        /// Events accepted but not delivered.
        pending: u64,
    },
    /// Some events could not be delivered and were dropped.
    #[error("{dropped} events dropped: {reason}")]
    Dropped {
        /// How many.
        dropped: u64,
        /// Why, as counted by the sink.
        reason: String,
    },
    /// Writing to a local file or stream failed.
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
}

#[async_trait]
impl<S: Sink + ?Sized> Sink for std::sync::Arc<S> {
    fn capture(&self, event: Event) -> Result<(), SinkError> {
        (**self).capture(event)
    }
    async fn flush(&self, timeout: Duration) -> Result<(), SinkError> {
        (**self).flush(timeout).await
    }
    async fn shutdown(&self, timeout: Duration) -> Result<(), SinkError> {
        (**self).shutdown(timeout).await
    }
}

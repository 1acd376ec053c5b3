//! The sidecar's destination: the capture exporter, or a local JSONL sink
//! when no capture endpoint is configured.

use std::sync::Arc;
use std::time::Duration;

use llmtap::capture::{CaptureClient, DeliveryReport, Stats};
use llmtap::{Event, JsonlSink, Sink, SinkError};

/// Where accepted events go.
pub enum Output {
    /// Batched to a PostHog capture API; `capacity` is the exporter queue's.
    Capture {
        /// The exporter.
        client: Arc<CaptureClient>,
        /// Its queue capacity, to refuse requests it could not hold.
        capacity: usize,
    },
    /// Written to a file or stdout, one event per line.
    Jsonl(Arc<JsonlSink>),
}

impl Output {
    /// Hands one event over without waiting on the network.
    pub fn capture(&self, event: Event) -> Result<(), SinkError> {
        match self {
            Output::Capture { client, .. } => client.capture(event),
            Output::Jsonl(sink) => sink.capture(event),
        }
    }

    /// Room left in the exporter queue (`None`: unbounded).
    pub fn room(&self) -> Option<usize> {
        match self {
            Output::Capture { client, capacity } => {
                Some(capacity.saturating_sub(client.stats().queue_len))
            }
            Output::Jsonl(_) => None,
        }
    }

    /// The exporter's counters, when there is an exporter.
    pub fn stats(&self) -> Option<Stats> {
        match self {
            Output::Capture { client, .. } => Some(client.stats()),
            Output::Jsonl(_) => None,
        }
    }

    /// Events written by the local sink.
    pub fn written_locally(&self) -> u64 {
        match self {
            Output::Capture { .. } => 0,
            Output::Jsonl(sink) => sink.written(),
        }
    }

    /// Flushes and stops; the report is `None` for the local sink, which
    /// cannot drop once written.
    pub async fn shutdown(&self, timeout: Duration) -> Result<Option<DeliveryReport>, SinkError> {
        match self {
            Output::Capture { client, .. } => {
                Ok(Some(CaptureClient::shutdown(client, timeout).await))
            }
            Output::Jsonl(sink) => Sink::shutdown(sink.as_ref(), timeout).await.map(|()| None),
        }
    }
}

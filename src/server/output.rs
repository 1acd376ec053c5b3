//! The sidecar's destination: the capture exporter, or a local JSONL sink
//! when no capture endpoint is configured.

use std::sync::Arc;
use std::time::Duration;

use llmtap::{Event, JsonlSink, Sink, SinkError};
use llmtap_export::{CaptureClient, DeliveryReport, Stats};

/// Where accepted events go.
pub enum Output {
    /// Batched to a PostHog capture API.
    Capture {
        /// The exporter.
        client: Arc<CaptureClient>,
    },
    /// Written to a file or stdout, one event per line.
    Jsonl(Arc<JsonlSink>),
}

impl Output {
    /// Hands a request's events over, all or none, without waiting on the
    /// network; `Err` gives them back when the exporter queue cannot hold them all.
    pub fn capture_all(&self, events: Vec<Event>) -> Result<usize, SinkError> {
        match self {
            Output::Capture { client, .. } => Sink::capture_all(client.as_ref(), events),
            Output::Jsonl(sink) => {
                let n = events.len();
                events.into_iter().try_for_each(|e| sink.capture(e))?;
                Ok(n)
            }
        }
    }

    /// The exporter's counters, when there is an exporter.
    pub fn stats(&self) -> Option<Stats> {
        match self {
            Output::Capture { client } => Some(client.stats()),
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

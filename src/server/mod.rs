//! The sidecar behind LiteLLM's generic API logger (`llmtap serve`).
//!
//! `POST /litellm` takes what the logger sends (a JSON array, NDJSON, or one
//! payload), answers as soon as the events are queued, and never accepts what
//! it would have to drop: when the exporter queue lacks room for a request's
//! events the whole request gets 503 with `Retry-After`.

mod dedup;
mod metrics;
mod output;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use llmtap::EventOptions;

pub use dedup::RecentEvents;
pub use metrics::Metrics;
pub use output::Output;

/// What every request handler shares.
pub struct AppState {
    /// Where events go.
    pub output: Output,
    /// How events are built.
    pub options: EventOptions,
    /// Counters behind `/metrics`.
    pub metrics: Metrics,
    /// Bearer token required on `POST /litellm`, if any.
    pub auth_token: Option<Secret>,
    /// Seconds suggested in `Retry-After` when the queue is full.
    pub retry_after_secs: u64,
    /// Uuids accepted recently, to drop LiteLLM's re-sends.
    pub recent: RecentEvents,
}

/// A value that must not reach logs: `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("**REDACTED**")
    }
}

/// The routes: `POST /litellm`, `GET /healthz`, `GET /metrics`.
pub fn router(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/litellm", post(routes::receive))
        .route("/healthz", get(routes::healthz))
        .route("/metrics", get(routes::metrics))
        .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

/// Whether listening on `addr` without a token would expose the receiver.
pub fn is_exposed(addr: &SocketAddr) -> bool {
    !addr.ip().is_loopback()
}

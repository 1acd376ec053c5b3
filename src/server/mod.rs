//! The sidecar behind LiteLLM's generic API logger (`llmtap serve`).
//!
//! `POST /litellm` takes what the logger sends (a JSON array, NDJSON, or one
//! payload), answers as soon as the events are queued, and never accepts what
//! it would have to drop: when the exporter queue lacks room for a request's
//! events the whole request gets 503 with `Retry-After`.

mod dedup;
mod metrics;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use llmtap::{Pipeline, Sink};
use llmtap_export::ApiKey;

pub use dedup::RecentEvents;
pub use metrics::Metrics;

/// What every request handler shares.
pub struct AppState {
    /// Where events go: the exporter, or a local JSONL sink.
    pub sink: Arc<dyn Sink>,
    /// How payloads become events.
    pub pipeline: Pipeline,
    /// Counters behind `/metrics`.
    pub metrics: Metrics,
    /// Bearer token required on `POST /litellm`, if any.
    pub auth_token: Option<AuthToken>,
    /// Seconds suggested in `Retry-After` when the queue is full.
    pub retry_after_secs: u64,
    /// Uuids accepted recently, to drop LiteLLM's re-sends.
    pub recent: RecentEvents,
}

/// The bearer token `POST /litellm` requires.
///
/// It is as secret as the PostHog key, so it is held the same way: in the
/// exporter's [`ApiKey`], whose `Debug` and `Display` print `**REDACTED**`.
/// There is one redaction for every secret of the binary. Never blank: an
/// empty token would still lift the refusal to listen beyond loopback
/// without one, while no client could send it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct AuthToken(ApiKey);

/// Why a token was refused; never holds the token.
#[derive(Debug)]
pub struct BlankToken;

impl std::fmt::Display for BlankToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the auth token must not be empty or blank")
    }
}

impl std::error::Error for BlankToken {}

impl AuthToken {
    /// The token without surrounding whitespace (clients' tokens are
    /// trimmed too), refused when nothing is left.
    pub fn new(token: &str) -> Result<Self, BlankToken> {
        match token.trim() {
            "" => Err(BlankToken),
            token => Ok(AuthToken(ApiKey::new(token))),
        }
    }

    /// The secret itself, for the constant-time comparison and nowhere else.
    pub fn expose_bytes(&self) -> &[u8] {
        self.0.expose().as_bytes()
    }
}

impl std::str::FromStr for AuthToken {
    type Err = BlankToken;

    fn from_str(s: &str) -> Result<Self, BlankToken> {
        AuthToken::new(s)
    }
}

impl TryFrom<String> for AuthToken {
    type Error = BlankToken;

    fn try_from(s: String) -> Result<Self, BlankToken> {
        AuthToken::new(&s)
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

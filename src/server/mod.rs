//! The sidecar behind LiteLLM's generic API logger (`llmtap serve`).
//!
//! `POST /litellm` takes what the logger sends (a JSON array, NDJSON, or one
//! payload), answers as soon as the events are queued, and never accepts what
//! it would have to drop: when the exporter queue lacks room for a request's
//! events the whole request gets 503 with `Retry-After`.

mod body;
mod dedup;
mod metrics;
mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use llmtap::{Pipeline, Sink};
use llmtap_export::ApiKey;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;

pub use dedup::RecentEvents;
pub use metrics::{Metrics, DEFAULT_MAX_MODEL_SERIES};

/// The shortest `--auth-token` accepted, in bytes: a token anyone can guess
/// in a few tries protects nothing.
pub const MIN_TOKEN_BYTES: usize = 16;

/// Longest value or message echoed in an error answer, in bytes.
pub const ECHOED_BYTES: usize = 300;

/// What every request handler shares.
pub struct AppState {
    /// Where events go: the exporter, its disk spool, or a local JSONL sink.
    pub sink: Arc<dyn Sink>,
    /// The sink is a disk spool: `capture_all` waits for an fsync, so every
    /// request is ingested on the blocking pool, and "full" means the spool.
    pub spooled: bool,
    /// How payloads become events.
    pub pipeline: Pipeline,
    /// Counters behind `/metrics`.
    pub metrics: Metrics,
    /// Bearer token required on `POST /litellm`, if any.
    pub auth_token: Option<AuthToken>,
    /// Whether `GET /metrics` requires the token too (listening beyond
    /// loopback without `--public-metrics`).
    pub metrics_need_token: bool,
    /// Seconds suggested in `Retry-After` when the queue is full.
    pub retry_after_secs: u64,
    /// Uuids accepted recently, to drop LiteLLM's re-sends.
    pub recent: RecentEvents,
    /// Limits on each request's body.
    pub limits: BodyLimits,
    /// Where cache alerts are posted, with `--alert-webhook`.
    pub webhook: Option<crate::webhook::Webhook>,
}

/// What one request may make the server read, decode and parse.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Largest body, counted after gzip decoding (so a gzip bomb is refused
    /// once this much came out of it, not once it is in memory).
    pub max_body_bytes: usize,
    /// Most entries (array items or NDJSON lines) in one body.
    pub max_entries: usize,
    /// Longest the whole body may take to arrive.
    pub body_timeout: Duration,
}

/// What the accept loop enforces on connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Longest a client may take to send a request's headers; the
    /// connection is closed then.
    pub header_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
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
#[non_exhaustive]
pub enum TokenError {
    /// Empty, or whitespace only.
    Blank,
    /// Fewer than [`MIN_TOKEN_BYTES`] bytes.
    TooShort,
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenError::Blank => f.write_str("the auth token must not be empty or blank"),
            TokenError::TooShort => write!(
                f,
                "the auth token must be at least {MIN_TOKEN_BYTES} bytes long"
            ),
        }
    }
}

impl std::error::Error for TokenError {}

impl AuthToken {
    /// The token without surrounding whitespace (clients' tokens are
    /// trimmed too), refused when nothing is left or it is shorter than
    /// [`MIN_TOKEN_BYTES`].
    pub fn new(token: &str) -> Result<Self, TokenError> {
        match token.trim() {
            "" => Err(TokenError::Blank),
            t if t.len() < MIN_TOKEN_BYTES => Err(TokenError::TooShort),
            token => Ok(AuthToken(ApiKey::new(token))),
        }
    }

    /// The secret itself, for the constant-time comparison and nowhere else.
    pub fn expose_bytes(&self) -> &[u8] {
        self.0.expose().as_bytes()
    }
}

impl std::str::FromStr for AuthToken {
    type Err = TokenError;

    fn from_str(s: &str) -> Result<Self, TokenError> {
        AuthToken::new(s)
    }
}

impl TryFrom<String> for AuthToken {
    type Error = TokenError;

    fn try_from(s: String) -> Result<Self, TokenError> {
        AuthToken::new(&s)
    }
}

/// The routes: `POST /litellm`, `GET /healthz`, `GET /metrics`.
///
/// The token is checked by a middleware, before the handler's body is read:
/// a client without it cannot make the server read, decode or parse anything.
/// Every error answer is JSON, the router's own 404 and 405 included.
pub fn router(state: Arc<AppState>) -> Router {
    let auth = || middleware::from_fn_with_state(state.clone(), routes::require_token);
    let mut metrics = get(routes::metrics);
    if state.metrics_need_token {
        metrics = metrics.route_layer(auth());
    }
    Router::new()
        .route("/litellm", post(routes::receive).route_layer(auth()))
        .route("/healthz", get(routes::healthz))
        .route("/metrics", metrics)
        .fallback(routes::not_found)
        .layer(middleware::map_response(routes::json_errors))
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains.
///
/// Each step is bounded: after `shutdown`, the listener is closed at once,
/// and in-flight requests get until the returned deadline (`drain` from
/// then) before their connections are abandoned. What is left of that
/// deadline is the flush's budget, so one `--shutdown-timeout-secs` bounds
/// the whole stop, however slow the clients.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) -> Instant {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "Accept failed.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let conn =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // Resets, timeouts and half-sent requests end here; nothing to report.
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    let deadline = Instant::now() + drain;
    if tokio::time::timeout_at(deadline, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("Connections still open at the shutdown timeout; closing them.");
    }
    deadline
}

/// `s` cut to at most `max` bytes on a character boundary.
pub fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `s` as echoed in an error answer: at most [`ECHOED_BYTES`], marked when cut.
pub fn echo(s: &str) -> String {
    let clipped = clip(s, ECHOED_BYTES);
    if clipped.len() == s.len() {
        s.to_owned()
    } else {
        format!("{clipped}…")
    }
}

/// Whether listening on `addr` without a token would expose the receiver.
pub fn is_exposed(addr: &SocketAddr) -> bool {
    !addr.ip().is_loopback()
}

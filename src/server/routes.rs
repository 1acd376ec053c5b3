//! Request handlers.

use std::fmt::Display;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use llmtap::split_body;
use llmtap::{
    Alert, DropReason, Event, HeaderProperties, Observation, Processed, SinkError, Usage,
};
use serde_json::json;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{body, echo, AppState};

/// Bodies below this are handled on the async thread; larger ones on the blocking pool.
const INLINE_BODY_BYTES: usize = 256 * 1024;

/// Errors listed in a response body, at most; the rest are only counted.
const LISTED_ERRORS: usize = 20;

/// What the metrics need of an accepted call.
struct Call {
    provider: String,
    model: String,
    usage: Usage,
    cost: Option<f64>,
    cache: Observation,
}

/// Checks the bearer token before anything reads the body.
pub async fn require_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(expected) = &state.auth_token {
        if !authorized(request.headers(), expected.expose_bytes()) {
            return json_response(
                StatusCode::UNAUTHORIZED,
                json!({"error": "missing or wrong bearer token"}),
            );
        }
    }
    next.run(request).await
}

/// `POST /litellm`: a JSON array, NDJSON or one payload.
pub async fn receive(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match body::read(body, &headers, &state.limits).await {
        Ok(body) => body,
        Err(refusal) => {
            state.metrics.received();
            state.metrics.rejected(refusal.reason);
            return json_response(refusal.status, json!({"error": refusal.message}));
        }
    };
    if body.len() < INLINE_BODY_BYTES && !state.spooled {
        return ingest(&state, &headers, &body);
    }
    // Parsing a full LiteLLM batch takes milliseconds of CPU: keep it off the
    // threads that answer /healthz, /metrics and other requests.
    tokio::task::spawn_blocking(move || ingest(&state, &headers, &body))
        .await
        .unwrap_or_else(|e| {
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": echo(&e.to_string())}),
            )
        })
}

/// Parses, builds and enqueues a request's events; never waits on the
/// network (with a spool, it waits for the events to be on disk).
fn ingest(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Response {
    let unreadable = |message: String| {
        state.metrics.received();
        state.metrics.rejected("unreadable_body");
        json_response(StatusCode::BAD_REQUEST, json!({"error": echo(&message)}))
    };
    // Whatever else the body is, it is not what the logger sends: say so
    // rather than answer 200 with nothing accepted.
    if !matches!(body.trim_ascii().first(), Some(b'[' | b'{')) {
        return unreadable("the body is neither a JSON array, NDJSON nor a JSON object".into());
    }
    let entries = match split_body(body) {
        Ok(entries) => entries,
        Err(e) => return unreadable(e.to_string()),
    };
    if entries.len() > state.limits.max_entries {
        state.metrics.received();
        state.metrics.rejected("too_many_entries");
        return json_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({
                "error": format!("{} entries, over the limit of {}", entries.len(), state.limits.max_entries),
                "accepted": 0,
            }),
        );
    }
    // The POST's own headers are the logger's static ones (GENERIC_LOGGER_HEADERS);
    // each payload's requester_custom_headers are merged per entry.
    let caller = HeaderProperties::from_pairs(
        headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
    );

    let mut errors = Vec::new();
    let mut rejected = 0usize;
    let mut reject = |location: &dyn Display, reason: &str, detail: &dyn Display| {
        state.metrics.rejected(reason);
        if errors.len() < LISTED_ERRORS {
            errors.push(echo(&format!("{location}: {detail}")));
        }
        rejected += 1;
    };
    let mut parsed = Vec::with_capacity(entries.len());
    for entry in &entries {
        state.metrics.received();
        if entry.is_null() {
            reject(&entry.location, "null_entry", &"null entry");
            continue;
        }
        match entry.parse() {
            Ok(payload) => parsed.push((entry, payload)),
            Err(e) => reject(&entry.location, "invalid_payload", &e),
        }
    }
    // LiteLLM's re-sends are dropped before the pipeline sees them: judged
    // twice, a miss would come back `silent` and skew the prefix's window.
    // (Checked again at capture, for a concurrent request with the same
    // payloads.)
    let (parsed, mut duplicates) = state
        .recent
        .lock()
        .fresh(parsed, |(_, payload)| llmtap::event_uuid(payload));
    let mut ready = Vec::with_capacity(parsed.len());
    let mut alerts: Vec<Alert> = Vec::new();
    for (entry, payload) in parsed {
        match state.pipeline.process(&payload, &caller) {
            Ok(Processed {
                event,
                usage,
                observation,
                alerts: raised,
                ..
            }) => {
                // Logged and counted when raised: the state has moved on,
                // whatever becomes of the request.
                for alert in raised {
                    tracing::warn!(
                        kind = %alert.kind,
                        provider = %alert.provider,
                        model = %alert.model,
                        prefix = ?alert.prefix_id.map(|id| id.to_string()),
                        "{alert}"
                    );
                    state.metrics.alert(alert.kind);
                    if let Some(hook) = &state.webhook {
                        hook.send(&alert);
                    }
                    alerts.push(alert);
                }
                ready.push((
                    event,
                    Call {
                        provider: payload.provider().to_owned(),
                        model: payload.model.clone(),
                        usage,
                        cost: payload.cost_usd(),
                        cache: observation,
                    },
                ))
            }
            Err(e) => reject(&entry.location, "event_error", &e),
        }
    }

    // All or nothing: LiteLLM does not retry, so refusing loudly beats
    // accepting and then dropping part of the request.
    let mut recent = state.recent.lock();
    let (ready, raced) = recent.fresh(ready, |(event, _)| event.uuid);
    duplicates += raced;
    for _ in 0..duplicates {
        state.metrics.rejected("duplicate");
    }
    let uuids: Vec<Uuid> = ready.iter().map(|(event, _)| event.uuid).collect();
    let (mut events, calls): (Vec<Event>, Vec<Call>) = ready.into_iter().unzip();
    // Alert events ride with the request's: delivered, or refused, together.
    events.extend(alerts.iter().map(Alert::to_event));
    let accepted = match state.sink.capture_all(events) {
        Ok(n) => n.saturating_sub(alerts.len()),
        Err(SinkError::Dropped { reason, .. }) => {
            state.metrics.refused();
            let error = match (reason, state.spooled) {
                (DropReason::Closed, _) => "shutting down",
                (_, true) => "spool is full",
                (_, false) => "exporter queue is full",
            };
            let mut response = json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": error, "accepted": 0, "refused": calls.len()}),
            );
            if let Ok(v) = state.retry_after_secs.to_string().parse() {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return response;
        }
        Err(e) => {
            return json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": echo(&e.to_string())}),
            )
        }
    };
    recent.remember(uuids);
    drop(recent);
    for c in &calls {
        state
            .metrics
            .accepted(&c.provider, &c.model, &c.usage, c.cost, &c.cache);
    }
    json_response(
        StatusCode::OK,
        json!({"accepted": accepted, "duplicates": duplicates, "rejected": rejected, "errors": errors}),
    )
}

/// `GET /healthz`.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /metrics`: Prometheus / OpenMetrics text.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let body = state.metrics.render(&state.sink.delivery());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Any route or method the router does not know: 404, as JSON.
pub async fn not_found() -> Response {
    json_response(StatusCode::NOT_FOUND, json!({"error": "no such route"}))
}

/// Makes every error answer JSON: the framework's own (405, a rejected
/// extractor) carry plain text otherwise.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let reason = status.canonical_reason().unwrap_or("error");
    let mut json = json_response(status, json!({"error": reason.to_ascii_lowercase()}));
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = response.headers().get(&name) {
            json.headers_mut().insert(name, v.clone());
        }
    }
    json
}

/// `Authorization: Bearer <token>`, the scheme in any case (RFC 7235).
fn authorized(headers: &HeaderMap, expected: &[u8]) -> bool {
    let Some((scheme, given)) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_start().split_once(' '))
    else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer") && given.trim().as_bytes().ct_eq(expected).into()
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

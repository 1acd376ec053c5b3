//! Request handlers.

use std::fmt::Display;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use llmtap::split_body;
use llmtap::{Event, HeaderProperties, Payload, Processed, SinkError, Usage};
use serde_json::json;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::AppState;

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
}

/// `POST /litellm`: a JSON array, NDJSON or one payload.
pub async fn receive(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(expected) = &state.auth_token {
        if !authorized(&headers, expected.expose_bytes()) {
            return json_response(
                StatusCode::UNAUTHORIZED,
                json!({"error": "missing or wrong bearer token"}),
            );
        }
    }
    if body.len() < INLINE_BODY_BYTES {
        return ingest(&state, &headers, &body);
    }
    // Parsing a full LiteLLM batch takes milliseconds of CPU: keep it off the
    // threads that answer /healthz, /metrics and other requests.
    tokio::task::spawn_blocking(move || ingest(&state, &headers, &body))
        .await
        .unwrap_or_else(|e| {
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": e.to_string()}),
            )
        })
}

/// Parses, builds and enqueues a request's events; CPU only, never waits.
fn ingest(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Response {
    let entries = match split_body(body) {
        Ok(entries) => entries,
        Err(e) => {
            state.metrics.received();
            state.metrics.rejected("unreadable_body");
            return json_response(StatusCode::BAD_REQUEST, json!({"error": e.to_string()}));
        }
    };
    // The POST's own headers are the logger's static ones (GENERIC_LOGGER_HEADERS);
    // each payload's requester_custom_headers are merged per entry.
    let caller = HeaderProperties::from_pairs(
        headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
    );

    let mut errors = Vec::new();
    let mut reject = |location: &dyn Display, reason: &str, detail: &dyn Display| {
        state.metrics.rejected(reason);
        errors.push(format!("{location}: {detail}"));
    };
    let mut ready = Vec::with_capacity(entries.len());
    for entry in &entries {
        state.metrics.received();
        if entry.is_null() {
            reject(&entry.location, "null_entry", &"null entry");
            continue;
        }
        let payload = match Payload::from_slice(entry.bytes) {
            Ok(p) => p,
            Err(e) => {
                reject(&entry.location, "invalid_payload", &e);
                continue;
            }
        };
        match state.pipeline.process(&payload, &caller) {
            Ok(Processed { event, usage, .. }) => ready.push((
                event,
                Call {
                    provider: payload.provider().to_owned(),
                    model: payload.model.clone(),
                    usage,
                    cost: payload.cost_usd(),
                },
            )),
            Err(e) => reject(&entry.location, "event_error", &e),
        }
    }

    // All or nothing: LiteLLM does not retry, so refusing loudly beats
    // accepting and then dropping part of the request.
    let mut recent = state.recent.lock();
    let (ready, duplicates) = recent.fresh(ready, |(event, _)| event.uuid);
    for _ in 0..duplicates {
        state.metrics.rejected("duplicate");
    }
    let uuids: Vec<Uuid> = ready.iter().map(|(event, _)| event.uuid).collect();
    let (events, calls): (Vec<Event>, Vec<Call>) = ready.into_iter().unzip();
    let accepted = match state.sink.capture_all(events) {
        Ok(n) => n,
        Err(SinkError::Dropped { .. }) => {
            state.metrics.refused();
            let mut response = json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "exporter queue is full", "accepted": 0, "refused": calls.len()}),
            );
            if let Ok(v) = state.retry_after_secs.to_string().parse() {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return response;
        }
        Err(e) => {
            return json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": e.to_string()}),
            )
        }
    };
    recent.remember(uuids);
    drop(recent);
    for c in &calls {
        state
            .metrics
            .accepted(&c.provider, &c.model, &c.usage, c.cost);
    }
    let rejected = errors.len();
    errors.truncate(LISTED_ERRORS);
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

fn authorized(headers: &HeaderMap, expected: &[u8]) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    given.trim().as_bytes().ct_eq(expected).into()
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

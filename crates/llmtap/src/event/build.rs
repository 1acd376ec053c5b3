//! From a payload and its normalized usage to an [`Event`].

use std::borrow::Cow;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::identity::DistinctId;
use super::{billing, content, identity, props, redact, Content, Event, EventError, EventOptions};
use crate::headers::{HeaderKind, HeaderProperties};
use crate::observe::Observation;
use crate::payload::{CallKind, Payload};
use crate::usage::{self, Usage};

/// Projects one payload and its normalized usage to a PostHog event.
///
/// `headers` are the already-merged header properties (the caller's, with
/// the payload's per-request ones over them: see [`crate::Pipeline`]);
/// `observation` is what the cache did for the call.
pub(crate) fn project(
    payload: &Payload,
    usage: &Usage,
    observation: &Observation,
    headers: &HeaderProperties,
    options: &EventOptions,
) -> Result<Event, EventError> {
    let kind = payload.kind();
    let name = event_name(kind);
    let uuid = identity::event_uuid(payload, name);
    let trace_id = identity::trace_id(payload, headers, &uuid);

    let mut p = Map::new();
    let mut set = |k: &str, v: Value| {
        p.insert(k.to_owned(), v);
    };
    set(props::MODEL, payload.model.clone().into());
    if !payload.provider().is_empty() {
        set(props::PROVIDER, payload.provider().into());
    }
    set(props::LIB, "llmtap".into());
    set(props::LIB_VERSION, env!("CARGO_PKG_VERSION").into());
    set(props::TRACE_ID, trace_id.clone().into());
    if let Some(span) =
        identity::non_empty(&payload.litellm_call_id).or(identity::non_empty(&payload.id))
    {
        set(props::SPAN_ID, span.into());
    }
    if let Some(tp) = headers.traceparent() {
        set(props::PARENT_ID, tp.parent_id.clone().into());
    }
    if let Some(session) = identity::non_empty(&payload.session_id) {
        set(props::SESSION_ID, session.into());
    }
    if let Some(base) = identity::non_empty(&payload.api_base) {
        set(props::BASE_URL, redact::base_url(base).into());
    }
    let stream = payload.is_stream();
    set(props::STREAM, stream.into());
    if let Some(params) = payload.model_parameters.as_ref().filter(|v| has_content(v)) {
        set(props::MODEL_PARAMETERS, params.clone());
    }
    if let (Some(start), Some(end)) = (payload.start_time, payload.end_time) {
        set(
            props::LATENCY,
            non_negative(end.seconds_since(start)).into(),
        );
    }
    if let (true, Some(start), Some(first)) =
        (stream, payload.start_time, payload.completion_start_time)
    {
        set(
            props::TIME_TO_FIRST_TOKEN,
            non_negative(first.seconds_since(start)).into(),
        );
    }

    for (name, value) in billing::token_properties(usage, &payload.model) {
        set(name, value);
    }
    if let Some(tier) = usage::service_tier(payload) {
        set(props::SERVICE_TIER, tier.into());
    }
    if let Some(reason) = payload.finish_reason() {
        set(props::STOP_REASON, reason.into());
    }
    set_cache(&mut set, observation);
    set_cost(&mut set, payload, observation);
    set_outcome(&mut set, payload);

    let distinct_id = match identity::distinct_id(payload, &uuid) {
        DistinctId::Person(user) => user,
        DistinctId::Anonymous(id) => {
            set(props::PROCESS_PERSON_PROFILE, false.into());
            id
        }
    };
    if !options.groups.is_empty() {
        set(props::GROUPS, Value::Object(options.groups.clone()));
    }

    for (k, v) in &options.extra_properties {
        if !options.protected.contains(k) {
            p.insert(k.clone(), v.clone());
        }
    }
    for h in headers.properties() {
        let name = match h.kind {
            HeaderKind::Property => Cow::Borrowed(h.key.as_str()),
            HeaderKind::Flag => Cow::Owned(format!("{}{}", props::FEATURE_PREFIX, h.key)),
        };
        if !options.protected.contains(&name) {
            p.insert(name.into_owned(), h.value.clone().into());
        }
    }

    let mut event = Event {
        event: name.to_owned(),
        distinct_id,
        properties: p,
        content: Content::default(),
        // Without a time PostHog stamps the event when it receives it.
        timestamp: payload.start_time.or(payload.end_time),
        uuid,
        usage: Some(*usage),
    };
    if !options.privacy_mode {
        add_content(&mut event, payload, kind, options)?;
    }
    Ok(event)
}

/// The cache figures, each only when known. The prefix id is metadata about
/// the prompt, not the prompt, so privacy mode keeps it.
fn set_cache(set: &mut impl FnMut(&str, Value), o: &Observation) {
    if let Some(id) = o.prefix_id {
        set(props::CACHE_PREFIX_ID, id.to_string().into());
    }
    if let Some(ratio) = o.hit_ratio {
        set(props::CACHE_HIT_RATIO, ratio.into());
    }
    if let Some(saved) = o.savings_usd {
        set(props::CACHE_SAVINGS_USD, saved.into());
    }
    if let Some(miss) = o.miss {
        set(props::CACHE_MISS, miss.as_str().into());
    }
}

/// LiteLLM's cost as passthrough; when it priced the call at 0 or not at
/// all, a pricing file's cost instead, so PostHog does not price a
/// self-hosted model at some hosted model's list price.
fn set_cost(set: &mut impl FnMut(&str, Value), payload: &Payload, o: &Observation) {
    if let Some(total) = payload.cost_usd().or(o.priced_cost_usd) {
        set(props::TOTAL_COST_USD, total.into());
        set(props::COST_PASSTHROUGH, true.into());
    }
    let breakdown = payload.cost_breakdown.as_ref();
    let input = breakdown.and_then(|b| b.input_cost).map(|a| a.0);
    let output = breakdown.and_then(|b| b.output_cost).map(|a| a.0);
    // PostHog keeps an input/output split only when both sides are non-zero.
    if let (Some(i), Some(o)) = (input, output) {
        if i > 0.0 && o > 0.0 {
            set(props::INPUT_COST_USD, i.into());
            set(props::OUTPUT_COST_USD, o.into());
        }
    }
}

fn set_outcome(set: &mut impl FnMut(&str, Value), payload: &Payload) {
    if !payload.is_failure() {
        set(props::HTTP_STATUS, 200.into());
        return;
    }
    set(props::IS_ERROR, true.into());
    let info = payload.error_information.as_ref();
    let status = info
        .and_then(|i| i.error_code.as_ref())
        .and_then(|c| match c {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
        .filter(|c| (100..600).contains(c));
    if let Some(status) = status {
        set(props::HTTP_STATUS, status.into());
    }
    let message = info
        .and_then(|i| i.error_message.as_deref())
        .filter(|m| !m.is_empty())
        .or(payload.error_str.as_deref())
        .unwrap_or("unknown error");
    set(
        props::ERROR,
        redact::urls_in_text(message).into_owned().into(),
    );
}

/// Adds `$ai_input` / `$ai_output_choices`, shrinking them until the event fits.
fn add_content(
    event: &mut Event,
    payload: &Payload,
    kind: CallKind,
    options: &EventOptions,
) -> Result<(), EventError> {
    let copy = |raw: &RawValue| content::forwardable(raw, options.replace_binary);
    event.content.input = payload
        .messages
        .as_deref()
        .filter(|m| m.get() != "null")
        .map(copy);
    if kind == CallKind::Generation && !payload.is_failure() {
        event.content.output_choices = payload
            .answer()
            .and_then(content::output_choices)
            .as_deref()
            .map(copy);
    }
    event.fit_within(options.max_event_bytes)
}

fn has_content(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Object(m) => !m.is_empty(),
        _ => true,
    }
}

fn non_negative(seconds: f64) -> f64 {
    seconds.max(0.0)
}

/// `$ai_generation` or `$ai_embedding`.
fn event_name(kind: CallKind) -> &'static str {
    match kind {
        CallKind::Embedding => props::AI_EMBEDDING,
        CallKind::Generation => props::AI_GENERATION,
    }
}

/// The `uuid` the event of `payload` gets, without building the event: for
/// a receiver that drops re-sent payloads before they reach the per-prefix
/// cache state (a re-sent miss would be judged again, now `silent`).
pub fn event_uuid(payload: &Payload) -> uuid::Uuid {
    identity::event_uuid(payload, event_name(payload.kind()))
}

//! `$ai_generation` / `$ai_embedding` properties built from payloads.

use llmtap::{
    build_event, normalize, Event, EventOptions, HeaderProperties, Payload, ProtectedProperties,
};
use serde_json::{json, Value};

fn fixture(name: &str) -> Payload {
    let path = llmtap_testkit::fixtures::project_file("litellm-1.106", name);
    Payload::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn event(p: &Payload) -> Event {
    build_event(p, &HeaderProperties::default(), &EventOptions::default()).unwrap()
}

fn props(e: &Event) -> &serde_json::Map<String, Value> {
    &e.properties
}

#[test]
fn anthropic_cache_properties_and_inclusive_flag() {
    let e = event(&fixture("anthropic_cache_read_and_write_split"));
    let p = props(&e);
    assert_eq!(e.event, "$ai_generation");
    assert_eq!(p["$ai_input_tokens"], 23427);
    assert_eq!(p["$ai_output_tokens"], 400);
    assert_eq!(p["$ai_cache_read_input_tokens"], 18000);
    assert_eq!(p["$ai_cache_creation_input_tokens"], 5424);
    assert_eq!(p["$ai_cache_creation_5m_input_tokens"], 1424);
    assert_eq!(p["$ai_cache_creation_1h_input_tokens"], 4000);
    assert_eq!(p["$ai_cache_reporting_exclusive"], false);
    // LiteLLM's zero-fill: carried, so reported as 0 (PostHog bills nothing for it).
    assert_eq!(p["$ai_reasoning_tokens"], 0);
    assert_eq!(p["$ai_service_tier"], "standard");
    assert_eq!(p["$ai_stop_reason"], "stop");
    assert_eq!(p["$ai_provider"], "anthropic");
    assert_eq!(p["$ai_total_cost_usd"], 0.040749);
    assert_eq!(p["$ai_cost_passthrough"], true);
    assert_eq!(p["$ai_input_cost_usd"], 0.034749);
    assert_eq!(p["$ai_output_cost_usd"], 0.006);
    assert_eq!(p["$ai_http_status"], 200);
    assert_eq!(
        e.property("$ai_output_choices").unwrap()[0]["content"],
        "The capital of France is Paris."
    );
    assert_eq!(
        e.property("$ai_input").unwrap()[1]["content"],
        "What is the capital of France?"
    );
}

#[test]
fn a_zero_cache_count_is_a_miss_not_unreported() {
    // The real Anthropic API sends both cache counts on every response.
    let e = event(&fixture("anthropic_plain_no_cache_fields"));
    let p = props(&e);
    assert_eq!(p["$ai_input_tokens"], 50);
    assert_eq!(p["$ai_cache_read_input_tokens"], 0);
    assert_eq!(p["$ai_cache_creation_input_tokens"], 0);
    assert!(
        !p.contains_key("$ai_cache_creation_5m_input_tokens"),
        "no split in the payload"
    );
}

#[test]
fn counts_no_source_carries_are_absent_not_zero() {
    let e = event(&fixture("openai_embedding"));
    for key in [
        "$ai_cache_read_input_tokens",
        "$ai_cache_creation_input_tokens",
        "$ai_reasoning_tokens",
        "$ai_audio_input_tokens",
        "$ai_web_search_count",
        "$ai_service_tier",
    ] {
        assert!(!e.properties.contains_key(key), "{key} must be absent");
    }
}

#[test]
fn openai_reasoning_and_cache_read() {
    let e = event(&fixture("openai_cache_read_and_reasoning"));
    assert_eq!(e.properties["$ai_reasoning_tokens"], 640);
    assert_eq!(e.properties["$ai_cache_read_input_tokens"], 3584);
    assert!(!e.properties.contains_key("$ai_cache_creation_input_tokens"));
}

#[test]
fn embeddings_are_their_own_event_with_their_reported_zero_output() {
    let e = event(&fixture("openai_embedding"));
    assert_eq!(e.event, "$ai_embedding");
    assert_eq!(e.properties["$ai_input_tokens"], 8);
    assert_eq!(e.properties["$ai_output_tokens"], 0);
    assert!(e.property("$ai_output_choices").is_none());
}

#[test]
fn failures_are_generations_with_error_details() {
    let e = event(&fixture("anthropic_fail_429"));
    let p = props(&e);
    assert_eq!(e.event, "$ai_generation");
    assert_eq!(p["$ai_is_error"], true);
    assert_eq!(p["$ai_http_status"], 429);
    assert!(p["$ai_error"].as_str().unwrap().contains("rate limit"));
    assert!(
        !p.contains_key("$ai_input_tokens"),
        "a failure reported no usage"
    );
    assert!(
        !p.contains_key("$ai_total_cost_usd"),
        "0.0 cost means unpriced"
    );
}

#[test]
fn identity_timestamp_and_latency() {
    let payload = fixture("openai_cache_read_and_reasoning");
    let e = event(&payload);
    assert_eq!(
        e.distinct_id, "4bc6bb76-ca76-4894-8cc1-a1293bbde184",
        "trace id stands in"
    );
    assert_eq!(e.properties["$process_person_profile"], false);
    assert_eq!(
        e.properties["$ai_trace_id"],
        "4bc6bb76-ca76-4894-8cc1-a1293bbde184"
    );
    assert_eq!(
        e.timestamp.map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-11-22T11:07:43.677182Z")
    );
    let latency = e.properties["$ai_latency"].as_f64().unwrap();
    assert!((latency - 0.01018).abs() < 1e-6, "{latency}");
    assert!(
        !e.properties.contains_key("$ai_time_to_first_token"),
        "not a stream"
    );
    assert_eq!(event(&payload).uuid, e.uuid, "deterministic per payload");
    assert_ne!(
        event(&fixture("anthropic_plain_no_cache_fields")).uuid,
        e.uuid
    );
}

fn minimal(extra: Value) -> Payload {
    let mut v = json!({"model": "gpt-4o", "custom_llm_provider": "openai", "call_type": "acompletion",
        "status": "success", "id": "chatcmpl-9", "litellm_call_id": "call-9",
        "startTime": 1750000000.0, "endTime": 1750000002.5, "completionStartTime": 1750000000.25,
        "metadata": {"usage_object": {"prompt_tokens": 10, "completion_tokens": 2}},
        "messages": [{"role": "user", "content": "hi"}],
        "response": {"choices": [{"message": {"role": "assistant", "content": "hello"}}]}});
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    Payload::from_value(&v).unwrap()
}

#[test]
fn streams_get_time_to_first_token_and_end_users_become_distinct_ids() {
    let e = event(&minimal(
        json!({"stream": true, "end_user": "user-42", "trace_id": "t 1/2"}),
    ));
    assert_eq!(e.properties["$ai_stream"], true);
    assert_eq!(e.properties["$ai_time_to_first_token"], 0.25);
    assert_eq!(e.properties["$ai_latency"], 2.5);
    assert_eq!(e.distinct_id, "user-42");
    assert!(!e.properties.contains_key("$process_person_profile"));
    assert_eq!(
        e.properties["$ai_trace_id"], "t_1_2",
        "trace ids are made URL-safe"
    );
    assert_eq!(e.properties["$ai_span_id"], "call-9");
}

#[test]
fn trace_precedence_header_then_traceparent_then_payload() {
    let p = minimal(json!({"trace_id": "from-slp"}));
    let tp = (
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    );
    let e = build_event(
        &p,
        &HeaderProperties::from_pairs([tp]),
        &EventOptions::default(),
    )
    .unwrap();
    assert_eq!(
        e.properties["$ai_trace_id"],
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(e.properties["$ai_parent_id"], "00f067aa0ba902b7");
    let h = HeaderProperties::from_pairs([tp, ("x-posthog-property-$ai_trace_id", "explicit")]);
    let e = build_event(&p, &h, &EventOptions::default()).unwrap();
    assert_eq!(e.properties["$ai_trace_id"], "explicit");
    assert_eq!(event(&p).properties["$ai_trace_id"], "from-slp");
}

#[test]
fn header_properties_from_both_sources_with_protection() {
    let p = minimal(json!({"metadata": {
        "usage_object": {"prompt_tokens": 10, "completion_tokens": 2},
        "requester_custom_headers": {"x-posthog-property-team": "per-request",
            "x-posthog-flag-beta": "on", "x-posthog-property-$ai_input_tokens": "0"}}}));
    let caller = HeaderProperties::from_pairs([
        ("X-PostHog-Property-Team", "static"),
        ("x-posthog-property-env", "prod"),
        ("x-posthog-property-$ai_total_cost_usd", "0"),
    ]);
    let e = build_event(&p, &caller, &EventOptions::default()).unwrap();
    assert_eq!(
        e.properties["team"], "per-request",
        "per-request headers win over static ones"
    );
    assert_eq!(e.properties["env"], "prod");
    assert_eq!(e.properties["$feature/beta"], "on");
    assert_eq!(
        e.properties["$ai_input_tokens"], 10,
        "token counts are protected"
    );
    assert!(!e.properties.contains_key("$ai_total_cost_usd"));

    let open = EventOptions::default().protected(ProtectedProperties::none());
    let e = build_event(&p, &caller, &open).unwrap();
    assert_eq!(
        e.properties["$ai_input_tokens"], "0",
        "protection is configurable"
    );
}

#[test]
fn privacy_mode_extra_properties_and_groups() {
    let opts = EventOptions::default()
        .privacy_mode(true)
        .extra_property("service", "checkout")
        .extra_property("$ai_input_tokens", 999)
        .group("company", "acme");
    let e = build_event(&minimal(json!({})), &HeaderProperties::default(), &opts).unwrap();
    assert!(e.property("$ai_input").is_none());
    assert!(e.property("$ai_output_choices").is_none());
    assert_eq!(e.properties["service"], "checkout");
    assert_eq!(e.properties["$ai_input_tokens"], 10);
    assert_eq!(e.properties["$groups"], json!({"company": "acme"}));
}

#[test]
fn binary_content_becomes_a_size_marker() {
    let img = format!("data:image/png;base64,{}", "A".repeat(4000));
    let p = minimal(json!({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": img}}, {"type": "text", "text": "what is this?"}]}]}));
    let e = event(&p);
    assert_eq!(
        e.property("$ai_input").unwrap()[0]["content"][0]["image_url"]["url"],
        "[binary image/png, 3000 bytes]"
    );
    assert_eq!(
        e.property("$ai_input").unwrap()[0]["content"][1]["text"],
        "what is this?"
    );
}

#[test]
fn oversized_events_are_truncated_under_the_limit() {
    let huge = "lorem ipsum ".repeat(200_000);
    let p = minimal(
        json!({"messages": [{"role": "system", "content": huge}, {"role": "user", "content": "short"}]}),
    );
    let limit = 64 * 1024;
    let e = build_event(
        &p,
        &HeaderProperties::default(),
        &EventOptions::default().max_event_bytes(limit),
    )
    .unwrap();
    assert!(e.json_len() <= limit, "{} > {limit}", e.json_len());
    assert_eq!(e.property("$ai_input").unwrap()[1]["content"], "short");
    assert!(e.property("$ai_input").unwrap()[0]["content"]
        .as_str()
        .unwrap()
        .contains("[truncated"));
    assert_eq!(
        e.properties["$ai_input_tokens"], 10,
        "accounting survives truncation"
    );

    let default = event(&p);
    assert!(default.json_len() <= llmtap::DEFAULT_MAX_EVENT_BYTES);
}

#[test]
fn capture_api_shape() {
    let e = event(&minimal(json!({})));
    let v = serde_json::to_value(&e).unwrap();
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys.len(), 5);
    for k in ["event", "distinct_id", "properties", "timestamp", "uuid"] {
        assert!(v.get(k).is_some(), "{k}");
    }
    let back: Event = serde_json::from_value(v).unwrap();
    assert!(
        e.usage.is_some(),
        "a call's event carries its normalized usage"
    );
    // What PostHog gets is all that comes back: the usage is not on the wire.
    assert_eq!(
        back,
        Event {
            usage: None,
            ..e.clone()
        }
    );
    assert_eq!(back.normalized_usage(), e.usage.unwrap());
}

#[test]
fn the_usage_read_back_from_an_event_undoes_posthogs_rules() {
    for path in llmtap_testkit::fixtures::json_files(&llmtap_testkit::fixtures::project_dir()) {
        let bytes = std::fs::read(&path).unwrap();
        let Ok(payload) = Payload::from_slice(&bytes) else {
            continue;
        };
        let Ok(e) = build_event(
            &payload,
            &HeaderProperties::default(),
            &EventOptions::default(),
        ) else {
            continue;
        };
        let back: Event = serde_json::from_value(serde_json::to_value(&e).unwrap()).unwrap();
        let mut want = normalize(&payload);
        if want.cache_write_5m.is_none() || want.cache_write_1h.is_none() {
            // The split is sent only as a pair.
            (want.cache_write_5m, want.cache_write_1h) = (None, None);
        }
        assert_eq!(back.normalized_usage(), want, "{}", path.display());
    }
}

#[test]
fn headers_set_the_trace_but_never_whose_event_it_is() {
    let p = minimal(json!({"trace_id": "slp-trace", "metadata": {
        "usage_object": {"prompt_tokens": 10, "completion_tokens": 2},
        "requester_custom_headers": {"x-posthog-property-$ai_trace_id": "per-request",
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}}));
    let caller = HeaderProperties::from_pairs([("x-posthog-property-$ai_trace_id", "static")]);
    let e = build_event(&p, &caller, &EventOptions::default()).unwrap();
    assert_eq!(e.properties["$ai_trace_id"], "per-request");
    assert_eq!(
        e.distinct_id, "slp-trace",
        "the payload decides the distinct id"
    );
    assert_eq!(e.properties["$process_person_profile"], false);

    // Without an SLP trace id: the call id, then the response id.
    let p = minimal(json!({}));
    let e = build_event(&p, &caller, &EventOptions::default()).unwrap();
    assert_eq!(e.distinct_id, "call-9");
    let p = minimal(json!({"litellm_call_id": null}));
    assert_eq!(event(&p).distinct_id, "chatcmpl-9");
    // The proxy's end user wins over every id.
    let p = minimal(json!({"metadata": {"user_api_key_end_user_id": "cust-7"}}));
    assert_eq!(event(&p).distinct_id, "cust-7");
}

#[test]
fn headers_may_not_refile_the_event() {
    let caller = HeaderProperties::from_pairs([
        ("x-posthog-property-$lib", "spoof"),
        ("x-posthog-property-$set", "{}"),
        ("x-posthog-property-$set_once", "{}"),
        ("x-posthog-property-$ip", "1.2.3.4"),
        ("x-posthog-property-$groups", "other"),
        ("x-posthog-property-$process_person_profile", "true"),
        ("x-posthog-property-$ai_model", "gpt-cheap"),
        ("x-posthog-property-$ai_provider", "nobody"),
        ("x-posthog-property-$ai_is_error", "true"),
        ("x-posthog-property-$ai_http_status", "500"),
        ("x-posthog-property-$ai_audio_input_tokens", "9"),
        ("x-posthog-property-$ai_text_input_tokens", "9"),
        ("x-posthog-property-$ai_web_search_count", "9"),
        ("x-posthog-property-team", "kept"),
    ]);
    let opts = EventOptions::default().group("company", "acme");
    let e = build_event(&minimal(json!({})), &caller, &opts).unwrap();
    let p = &e.properties;
    assert_eq!(p["$lib"], "llmtap");
    assert_eq!(p["$ai_model"], "gpt-4o");
    assert_eq!(p["$ai_provider"], "openai");
    assert_eq!(p["$ai_http_status"], 200);
    assert_eq!(p["$process_person_profile"], false);
    assert_eq!(p["$groups"], json!({"company": "acme"}));
    for absent in [
        "$set",
        "$set_once",
        "$ip",
        "$ai_is_error",
        "$ai_audio_input_tokens",
        "$ai_text_input_tokens",
        "$ai_web_search_count",
    ] {
        assert!(!p.contains_key(absent), "{absent}");
    }
    assert_eq!(p["team"], "kept");
}

#[test]
fn credentials_in_urls_never_reach_the_event() {
    let p = minimal(json!({
        "api_base": "https://user:hunter2@generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent?key=AIzaSECRET",
        "status": "failure",
        "error_str": "litellm.APIConnectionError: POST https://generativelanguage.googleapis.com/v1beta/models/x?key=AIzaSECRET failed",
        "error_information": {"error_code": "500", "error_message": ""},
    }));
    let e = event(&p);
    assert_eq!(
        e.properties["$ai_base_url"],
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent"
    );
    let error = e.properties["$ai_error"].as_str().unwrap();
    assert!(
        error.contains("https://generativelanguage.googleapis.com/v1beta/models/x?"),
        "{error}"
    );
    let json = serde_json::to_string(&e).unwrap();
    assert!(
        !json.contains("SECRET") && !json.contains("hunter2"),
        "{json}"
    );
}

#[test]
fn a_payload_without_start_time_is_an_event_with_a_stable_uuid() {
    let mut v: Value =
        serde_json::to_value(json!({"model": "gpt-4o", "custom_llm_provider": "openai",
        "id": "chatcmpl-1", "endTime": 1750000002.5,
        "metadata": {"usage_object": {"prompt_tokens": 10, "completion_tokens": 2}}}))
        .unwrap();
    let p = Payload::from_value(&v).unwrap();
    let e = event(&p);
    assert_eq!(
        e.timestamp.map(|t| t.to_rfc3339()).as_deref(),
        Some("2025-06-15T15:06:42.500000Z")
    );
    assert!(!e.properties.contains_key("$ai_latency"));
    assert_eq!(event(&Payload::from_value(&v).unwrap()).uuid, e.uuid);

    v.as_object_mut().unwrap().remove("endTime");
    let e = event(&Payload::from_value(&v).unwrap());
    assert_eq!(e.timestamp, None, "PostHog stamps it on receipt");
    let wire = serde_json::to_value(&e).unwrap();
    assert!(wire.get("timestamp").is_none(), "{wire}");
    assert_eq!(e.properties["$ai_input_tokens"], 10);
}

#[test]
fn a_bad_cost_drops_the_cost_not_the_event() {
    let e = event(&minimal(json!({"response_cost": -1.0,
        "cost_breakdown": {"input_cost": "NaN", "output_cost": 0.2}})));
    for key in [
        "$ai_total_cost_usd",
        "$ai_cost_passthrough",
        "$ai_input_cost_usd",
        "$ai_output_cost_usd",
    ] {
        assert!(!e.properties.contains_key(key), "{key}");
    }
    assert_eq!(e.properties["$ai_input_tokens"], 10);
}

#[test]
fn gemini_thinking_is_sent_the_way_posthog_bills_it() {
    // Normalized output 300 includes 250 thoughts; PostHog adds reasoning back
    // for gemini-2.5 models, so the event says 50 (candidatesTokenCount).
    let e = event(&fixture("gemini_cache_and_thoughts"));
    assert_eq!(e.properties["$ai_output_tokens"], 50);
    assert_eq!(e.properties["$ai_reasoning_tokens"], 250);
    assert_eq!(
        llmtap::normalize(&fixture("gemini_cache_and_thoughts")).output,
        Some(300),
        "the normalized usage stays inclusive"
    );
    // OpenAI reasoning is billed inside output: left as it is.
    let e = event(&fixture("openai_cache_read_and_reasoning"));
    assert_eq!(e.properties["$ai_output_tokens"], 900);
}

#[test]
fn stop_reason_and_served_tier() {
    let e = event(&fixture("openai_cache_read_and_reasoning"));
    assert_eq!(e.properties["$ai_stop_reason"], "stop");
    assert!(
        !e.properties.contains_key("$ai_service_tier"),
        "null: not served-tier data"
    );
    assert_eq!(e.properties["$ai_audio_input_tokens"], 0, "a reported 0");
    let e = event(&fixture("responses_cache_reasoning"));
    assert_eq!(e.properties["$ai_service_tier"], "default");
    let e = event(&fixture("anthropic_cache_read_and_write_split"));
    assert_eq!(e.properties["$ai_service_tier"], "standard");
    let e = event(&minimal(json!({"response": {"choices": [
        {"finish_reason": "tool_calls", "message": {"role": "assistant", "content": null}},
        {"finish_reason": "stop", "message": {"role": "assistant", "content": "x"}}]},
        "model_parameters": {"service_tier": "auto"}})));
    assert_eq!(
        e.properties["$ai_stop_reason"], "tool_calls",
        "the first choice's"
    );
    assert!(
        !e.properties.contains_key("$ai_service_tier"),
        "the requested tier is not the served one"
    );
}

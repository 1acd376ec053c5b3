//! Bad input gives a typed error naming the field, never a panic.

use llmtap::{Payload, PayloadError};
use serde_json::json;

fn base() -> serde_json::Value {
    json!({"model": "gpt-4o", "startTime": 1750000000.0, "call_type": "completion"})
}

fn field_error(v: serde_json::Value) -> (String, String) {
    match Payload::from_value(&v) {
        Err(PayloadError::Field { field, message }) => (field, message),
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn not_json() {
    let err = Payload::from_slice(b"{\"model\": ").unwrap_err();
    assert!(matches!(err, PayloadError::Syntax { .. }), "{err}");
    assert!(matches!(
        Payload::from_slice(b"hello").unwrap_err(),
        PayloadError::Syntax { .. }
    ));
}

#[test]
fn not_an_object() {
    for (body, found) in [
        ("[]", "an array"),
        ("null", "null"),
        ("\"x\"", "a string"),
        ("3", "a number"),
    ] {
        assert_eq!(
            Payload::from_slice(body.as_bytes()).unwrap_err(),
            PayloadError::NotAnObject { found }
        );
    }
}

#[test]
fn missing_required_field_is_named() {
    let (field, _) = field_error(json!({"startTime": 1750000000.0}));
    assert_eq!(field, "model");
}

#[test]
fn a_payload_without_start_time_is_still_a_call() {
    let p = Payload::from_value(&json!({"model": "gpt-4o", "endTime": 1750000001.0})).unwrap();
    assert_eq!(p.start_time, None);
    assert!(p.end_time.is_some());
}

#[test]
fn wrong_types_are_named_by_path() {
    let mut v = base();
    v["metadata"] = json!("{\"usage_object\": {}}"); // a SpendLogs row, not an SLP
    assert_eq!(field_error(v).0, "metadata");

    let mut v = base();
    v["stream"] = json!({"no": 1});
    assert_eq!(field_error(v).0, "stream");

    let mut v = base();
    v["startTime"] = json!("next tuesday");
    assert_eq!(field_error(v).0, "startTime");
}

#[test]
fn negative_fractional_and_absurd_token_counts() {
    for (bad, word) in [
        (json!(-5), "negative"),
        (json!(1.5), "whole"),
        (json!(1e15), "absurd"),
    ] {
        let mut v = base();
        v["metadata"] = json!({"usage_object": {"prompt_tokens_details": {"cached_tokens": bad}}});
        let (field, message) = field_error(v);
        assert_eq!(
            field,
            "metadata.usage_object.prompt_tokens_details.cached_tokens"
        );
        assert!(message.contains(word), "{message}");
    }
    let mut v = base();
    v["response"] = json!({"usage": {"completion_tokens": -1}});
    assert_eq!(field_error(v).0, "response.usage.completion_tokens");
}

#[test]
fn a_bad_cost_drops_the_cost_never_the_call() {
    for bad in [
        json!(-0.01),
        json!("NaN"),
        json!("-inf"),
        json!({"usd": 1}),
        json!(true),
    ] {
        let mut v = base();
        v["response_cost"] = bad.clone();
        v["cost_breakdown"] = json!({"input_cost": bad, "output_cost": 0.5});
        let p = Payload::from_value(&v).unwrap_or_else(|e| panic!("{bad}: {e}"));
        assert_eq!(p.response_cost, None, "{bad}");
        let breakdown = p.cost_breakdown.unwrap();
        assert_eq!(breakdown.input_cost, None, "{bad}");
        assert_eq!(breakdown.output_cost.map(|a| a.0), Some(0.5));
    }
    let mut v = base();
    v["response_cost"] = json!("0.25");
    assert_eq!(
        Payload::from_value(&v).unwrap().response_cost.map(|a| a.0),
        Some(0.25)
    );
}

#[test]
fn unknown_fields_nulls_and_string_timestamps_are_tolerated() {
    let mut v = base();
    v["some_future_field"] = json!({"deep": [1, 2, 3]});
    v["stream"] = json!(null);
    v["trace_id"] = json!(null);
    v["endTime"] = json!("2025-06-15 15:06:41.5");
    v["metadata"] = json!(null);
    let p = Payload::from_value(&v).unwrap();
    assert!(!p.is_stream());
    assert_eq!(
        p.end_time.unwrap().to_rfc3339(),
        "2025-06-15T15:06:41.500000Z"
    );
}

#[test]
fn callback_kwargs_dump_is_unwrapped() {
    let path = llmtap_testkit::fixtures::project_file("litellm", "captured_kwargs");
    let bytes = std::fs::read(path).unwrap();
    let p = Payload::from_slice(&bytes).unwrap();
    assert_eq!(p.provider(), "bedrock");
    assert!(p.is_stream());
}

#[test]
fn arbitrary_bytes_never_panic() {
    let samples: &[&[u8]] = &[
        b"",
        b"{",
        b"{}",
        b"{\"model\":1}",
        &[0xff, 0xfe, 0x00],
        b"{\"model\":\"m\",\"startTime\":1e308}",
    ];
    for s in samples {
        assert!(Payload::from_slice(s).is_err());
    }
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parser_never_panics_on_mutated_payloads(cut in 0usize..600, byte in any::<u8>()) {
            let mut bytes = serde_json::to_vec(&json!({
                "model": "m", "startTime": 1750000000.0, "custom_llm_provider": "anthropic",
                "metadata": {"usage_object": {"prompt_tokens": 10, "completion_tokens": 2,
                    "prompt_tokens_details": {"cached_tokens": 5}}},
                "response": {"usage": {"prompt_tokens": 10}}, "messages": [{"role": "user", "content": "hi"}]
            })).unwrap();
            let i = cut % bytes.len();
            bytes[i] = byte;
            if let Ok(p) = Payload::from_slice(&bytes) {
                let _ = llmtap::normalize(&p);
            }
        }
    }
}

#[test]
fn client_credentials_in_forwarded_headers_are_not_kept() {
    let mut v = base();
    v["metadata"] = json!({"requester_custom_headers": {
        "x-api-key": "sk-ant-secret", "x-posthog-property-team": "search"}});
    let p = Payload::from_value(&v).unwrap();
    let debug = format!("{p:?}");
    assert!(!debug.contains("sk-ant-secret"), "{debug}");
    assert!(debug.contains("x-posthog-property-team"));
}

#[test]
fn invalid_utf8_is_a_syntax_error() {
    let mut bytes = br#"{"model": "gpt-4o", "startTime": 1750000000.0, "id": "#.to_vec();
    bytes.extend_from_slice(&[b'"', 0xff, 0xfe, b'"', b'}']);
    let err = Payload::from_slice(&bytes).unwrap_err();
    assert!(matches!(err, PayloadError::Syntax { .. }), "{err:?}");
}

#[test]
fn python_literals_and_deep_nesting_are_typed() {
    let count = br#"{"model": "m", "startTime": 1750000000.0, "completion_tokens": -Infinity}"#;
    let err = Payload::from_slice(count).unwrap_err();
    assert_eq!(err.field(), Some("completion_tokens"), "{err}");
    let cost = br#"{"model": "m", "startTime": 1750000000.0, "response_cost": NaN}"#;
    assert_eq!(Payload::from_slice(cost).unwrap().response_cost, None);
    let deep = format!(
        r#"{{"model": "m", "x": {}{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    assert!(matches!(
        Payload::from_slice(deep.as_bytes()),
        Err(PayloadError::TooDeep {
            depth: 201,
            limit: 100
        })
    ));
}

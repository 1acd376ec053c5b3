//! Normalized usage of the payloads recorded from the real LiteLLM 1.106.2
//! against a fake provider, checked against the provider's raw usage
//! (ground truth from `fixtures/litellm-1.106/README.md` in the shared folder).

use llmtap::{normalize, Payload, Usage};

fn usage_of(name: &str) -> Usage {
    let path = llmtap_testkit::fixtures::project_file("litellm-1.106", name);
    let bytes = std::fs::read(&path).unwrap();
    normalize(&Payload::from_slice(&bytes).unwrap())
}

/// `(input, cache_read, cache_write, (5m, 1h), reasoning, output)`; `None` =
/// no source in the payload carries it. Where the ground truth says "not
/// reported" but LiteLLM zero-filled the field, the payload carries a 0 and a
/// carried count is a report: `Some(0)` (the ground truth allows it).
type Truth = (
    Option<u64>,
    Option<u64>,
    Option<u64>,
    Option<(u64, u64)>,
    Option<u64>,
    Option<u64>,
);

fn check(name: &str, truth: Truth) {
    let u = usage_of(name);
    let (input, read, write, split, reasoning, output) = truth;
    assert_eq!(u.input, input, "{name}: input");
    assert_eq!(u.cache_read, read, "{name}: cache read");
    assert_eq!(u.cache_write, write, "{name}: cache write");
    assert_eq!(
        u.cache_write_5m.zip(u.cache_write_1h),
        split,
        "{name}: 5m/1h split"
    );
    assert_eq!(u.reasoning, reasoning, "{name}: reasoning");
    assert_eq!(u.output, output, "{name}: output");
}

#[test]
fn openai_cache_read_and_reasoning() {
    check(
        "openai_cache_read_and_reasoning",
        (Some(4000), Some(3584), None, None, Some(640), Some(900)),
    );
}

#[test]
fn responses_api_cache_and_reasoning() {
    check(
        "responses_cache_reasoning",
        (Some(2500), Some(2048), None, None, Some(512), Some(700)),
    );
}

#[test]
fn anthropic_read_and_write_with_ttl_split() {
    check(
        "anthropic_cache_read_and_write_split",
        (
            Some(23427),
            Some(18000),
            Some(5424),
            Some((1424, 4000)),
            Some(0), // LiteLLM's zero-filled reasoning
            Some(400),
        ),
    );
}

#[test]
fn anthropic_zero_cache_fields_are_reported_zeros() {
    // Zero-filled by LiteLLM here, but the real API sends these on every
    // response: a 0 is a miss, and dropping a real one would hide it.
    check(
        "anthropic_plain_no_cache_fields",
        (Some(50), Some(0), Some(0), None, Some(0), Some(25)),
    );
}

#[test]
fn gemini_cache_and_thoughts() {
    check(
        "gemini_cache_and_thoughts",
        (Some(5000), Some(4096), None, None, Some(250), Some(300)),
    );
}

#[test]
fn bedrock_converse_read_and_write() {
    check(
        "bedrock_cache_read_write",
        (
            Some(98805),
            Some(66360),
            Some(32435),
            None,
            Some(0), // LiteLLM's zero-filled reasoning
            Some(5120),
        ),
    );
}

#[test]
fn openai_embedding_reports_input_and_zero_output() {
    check(
        "openai_embedding",
        (Some(8), None, None, None, None, Some(0)),
    );
}

#[test]
fn anthropic_failure_reports_nothing() {
    assert_eq!(usage_of("anthropic_fail_429"), Usage::default());
}

#[test]
fn uncached_input_is_input_minus_cache() {
    assert_eq!(
        usage_of("anthropic_cache_read_and_write_split").uncached_input(),
        Some(3)
    );
    assert_eq!(
        usage_of("bedrock_cache_read_write").uncached_input(),
        Some(10)
    );
    assert_eq!(
        usage_of("gemini_cache_and_thoughts").uncached_input(),
        Some(904)
    );
}

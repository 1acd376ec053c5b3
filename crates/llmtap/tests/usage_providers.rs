//! Usage normalization per provider and per case, on payloads shaped like the
//! ones each LiteLLM version produces. Each test would fail if the rule it
//! names were removed from the normalizer.

use llmtap::{normalize, Payload, Usage};
use serde_json::{json, Value};

/// A minimal SLP around a usage object.
fn slp(provider: &str, model: &str, usage_object: Value) -> Value {
    json!({
        "id": "chatcmpl-1", "call_type": "acompletion", "status": "success",
        "custom_llm_provider": provider, "model": model,
        "startTime": 1750000000.0, "endTime": 1750000001.0,
        "metadata": {"usage_object": usage_object},
    })
}

fn usage(v: Value) -> Usage {
    normalize(&Payload::from_value(&v).unwrap())
}

fn u() -> Usage {
    Usage::default()
}

#[test]
fn openai_without_cache_fields_reports_no_cache() {
    let got = usage(slp(
        "openai",
        "gpt-4o",
        json!({
        "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
        "prompt_tokens_details": null, "completion_tokens_details": null}),
    ));
    assert_eq!(got, u().with_input(10).with_output(5));
}

#[test]
fn openai_explicit_zeros_stay_zero() {
    let got = usage(slp(
        "openai",
        "o3-mini",
        json!({
        "prompt_tokens": 10, "completion_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0}}),
    ));
    assert_eq!(
        got,
        u().with_input(10)
            .with_output(5)
            .with_cache_read(0)
            .with_reasoning(0)
    );
}

#[test]
fn stream_reasoning_zero_is_a_report() {
    let mut v = slp(
        "openai",
        "gpt-4o",
        json!({
        "prompt_tokens": 10, "completion_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0}}),
    );
    v["stream"] = json!(true);
    let got = usage(v);
    assert_eq!(got.reasoning, Some(0), "carried, so reported");
    assert_eq!(got.cache_read, Some(0));
}

#[test]
fn openrouter_cache_write_tokens() {
    let got = usage(slp(
        "openrouter",
        "anthropic/claude-sonnet-4",
        json!({
        "prompt_tokens": 1000, "completion_tokens": 81,
        "prompt_tokens_details": {"cached_tokens": 600, "cache_write_tokens": 300},
        "completion_tokens_details": {"reasoning_tokens": 59}}),
    ));
    assert_eq!(
        got,
        u().with_input(1000)
            .with_output(81)
            .with_cache_read(600)
            .with_cache_write(300)
            .with_reasoning(59)
    );
}

#[test]
fn deepseek_cache_hit_lives_only_in_the_provider_extra() {
    let got = usage(slp(
        "deepseek",
        "deepseek-chat",
        json!({
        "prompt_tokens": 100, "completion_tokens": 10,
        "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 36,
        "prompt_tokens_details": null}),
    ));
    assert_eq!(got, u().with_input(100).with_output(10).with_cache_read(64));
}

#[test]
fn mistral_num_cached_tokens() {
    let got = usage(slp(
        "mistral",
        "mistral-large",
        json!({
        "prompt_tokens": 100, "completion_tokens": 10, "num_cached_tokens": 40}),
    ));
    assert_eq!(got.cache_read, Some(40));
}

#[test]
fn xai_reasoning_outside_completion_is_folded_in_by_the_total() {
    let got = usage(slp(
        "xai",
        "grok-3-mini",
        json!({
        "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 170,
        "completion_tokens_details": {"reasoning_tokens": 50}}),
    ));
    assert_eq!(got.output, Some(70));
    assert_eq!(got.reasoning, Some(50));
}

#[test]
fn reasoning_is_never_more_than_output() {
    let got = usage(slp(
        "xai",
        "grok-3-mini",
        json!({
        "prompt_tokens": 100, "completion_tokens": 20,
        "completion_tokens_details": {"reasoning_tokens": 50}}),
    ));
    assert_eq!(got.output, Some(70));
}

#[test]
fn anthropic_read_only() {
    let got = usage(slp(
        "anthropic",
        "claude-sonnet-4-5",
        json!({
        "prompt_tokens": 1050, "completion_tokens": 20,
        "prompt_tokens_details": {"cached_tokens": 1000, "cache_creation_tokens": 0, "text_tokens": 50},
        "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 0,
        "completion_tokens_details": {"reasoning_tokens": 0}}),
    ));
    // The write and reasoning zeros are carried, so reported: a write miss.
    assert_eq!(
        got,
        u().with_input(1050)
            .with_output(20)
            .with_cache_read(1000)
            .with_cache_write(0)
            .with_reasoning(0)
    );
}

#[test]
fn anthropic_write_only() {
    let got = usage(slp(
        "anthropic",
        "claude-sonnet-4-5",
        json!({
        "prompt_tokens": 2050, "completion_tokens": 20,
        "prompt_tokens_details": {"cached_tokens": 0, "cache_creation_tokens": 2000, "text_tokens": 50},
        "cache_read_input_tokens": 0, "cache_creation_input_tokens": 2000}),
    ));
    assert_eq!(
        got,
        u().with_input(2050)
            .with_output(20)
            .with_cache_write(2000)
            .with_cache_read(0)
    );
}

#[test]
fn anthropic_drift_1_65_to_1_74_write_outside_prompt_tokens() {
    // prompt_tokens = uncached 50 + read 1000; the write shows up only top-level.
    let got = usage(slp(
        "anthropic",
        "claude-3-7-sonnet",
        json!({
        "prompt_tokens": 1050, "completion_tokens": 20, "total_tokens": 1070,
        "prompt_tokens_details": {"cached_tokens": 1000},
        "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 2000}),
    ));
    assert_eq!(got.input, Some(3050));
    assert_eq!(got.uncached_input(), Some(50));
}

#[test]
fn bedrock_drift_raw_total_includes_the_write() {
    // Bedrock non-streaming ≤ 1.77: details carry the write, prompt_tokens does
    // not, total_tokens is the provider's raw total.
    let got = usage(slp(
        "bedrock",
        "anthropic.claude-3-7-sonnet",
        json!({
        "prompt_tokens": 1010, "completion_tokens": 20, "total_tokens": 3030,
        "prompt_tokens_details": {"cached_tokens": 1000, "cache_creation_tokens": 2000},
        "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 2000}),
    ));
    assert_eq!(got.input, Some(3010));
}

#[test]
fn bedrock_stream_drift_detected_by_text_tokens() {
    let mut v = slp(
        "bedrock",
        "anthropic.claude-3-7-sonnet",
        json!({
        "prompt_tokens": 1010, "completion_tokens": 20, "total_tokens": 1030,
        "prompt_tokens_details": {"cached_tokens": 1000, "cache_creation_tokens": 2000, "text_tokens": 10},
        "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 2000}),
    );
    v["stream"] = json!(true);
    assert_eq!(usage(v).input, Some(3010));
}

#[test]
fn anthropic_current_inclusive_prompt_tokens_are_trusted() {
    let got = usage(slp(
        "anthropic",
        "claude-sonnet-4-5",
        json!({
        "prompt_tokens": 3050, "completion_tokens": 20, "total_tokens": 3070,
        "prompt_tokens_details": {"cached_tokens": 1000, "cache_creation_tokens": 2000, "text_tokens": 50},
        "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 2000}),
    ));
    assert_eq!(got.input, Some(3050));
}

#[test]
fn anthropic_split_that_does_not_add_up_is_dropped() {
    let got = usage(slp(
        "anthropic",
        "claude-sonnet-4-5",
        json!({
        "prompt_tokens": 3050, "completion_tokens": 20,
        "prompt_tokens_details": {"cached_tokens": 1000, "cache_creation_tokens": 2000, "text_tokens": 50,
            "cache_creation_token_details": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}}}),
    ));
    assert_eq!(got.cache_write, Some(2000));
    assert_eq!((got.cache_write_5m, got.cache_write_1h), (None, None));
}

#[test]
fn vertex_claude_is_anthropic_family() {
    // The Anthropic drift check applies: the write outside prompt_tokens is added back.
    let got = usage(slp(
        "vertex_ai",
        "claude-sonnet-4@20250514",
        json!({
        "prompt_tokens": 1050, "completion_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 1000},
        "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 2000}),
    ));
    assert_eq!(got.input, Some(3050));
    // The same numbers from Gemini on Vertex are trusted as inclusive.
    let gemini = usage(slp(
        "vertex_ai",
        "gemini-2.5-pro",
        json!({
        "prompt_tokens": 1050, "completion_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 1000},
        "cache_read_input_tokens": 1000}),
    ));
    assert_eq!(gemini.input, Some(1050));
}

#[test]
fn anthropic_zero_cache_counts_are_misses_not_unreported() {
    // The real Anthropic API: a cache-write call reports a 0 read, the hit
    // after it a 0 write; both zeros are facts.
    let write_call = usage(slp(
        "anthropic",
        "claude-sonnet-4-5",
        json!({
        "prompt_tokens": 5427, "completion_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 0, "cache_creation_tokens": 5424, "text_tokens": 3},
        "cache_read_input_tokens": 0, "cache_creation_input_tokens": 5424}),
    ));
    assert_eq!(write_call.cache_read, Some(0));
    let plain = usage(slp(
        "bedrock",
        "anthropic.claude-3-7-sonnet",
        json!({
        "prompt_tokens": 50, "completion_tokens": 5,
        "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}),
    ));
    assert_eq!(
        plain,
        u().with_input(50)
            .with_output(5)
            .with_cache_read(0)
            .with_cache_write(0)
    );
}

#[test]
fn a_zero_zero_ttl_split_is_reported() {
    let got = usage(slp(
        "anthropic",
        "claude-sonnet-4-5",
        json!({
        "input_tokens": 40, "output_tokens": 5,
        "cache_read_input_tokens": 1000,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}}),
    ));
    assert_eq!(got.cache_write, Some(0));
    assert_eq!((got.cache_write_5m, got.cache_write_1h), (Some(0), Some(0)));
    assert_eq!(got.input, Some(1040));
}

#[test]
fn a_partial_usage_object_adds_its_counts_to_the_top_level_ones() {
    // Only cache counts in usage_object, totals at the SLP's top level.
    let mut v = slp(
        "anthropic",
        "claude-sonnet-4-5",
        json!({"cache_read_input_tokens": 800, "cache_creation_input_tokens": 0}),
    );
    v["prompt_tokens"] = json!(1000);
    v["completion_tokens"] = json!(20);
    assert_eq!(
        usage(v),
        u().with_input(1000)
            .with_output(20)
            .with_cache_read(800)
            .with_cache_write(0)
    );
    // Only reasoning.
    let mut v = slp(
        "openai",
        "o3",
        json!({"completion_tokens_details": {"reasoning_tokens": 64}}),
    );
    v["prompt_tokens"] = json!(10);
    v["completion_tokens"] = json!(100);
    assert_eq!(
        usage(v),
        u().with_input(10).with_output(100).with_reasoning(64)
    );
    // A partial 0 is kept too: a miss next to the totals.
    let mut v = slp(
        "anthropic",
        "claude-sonnet-4-5",
        json!({"cache_read_input_tokens": 0}),
    );
    v["prompt_tokens"] = json!(10);
    v["completion_tokens"] = json!(2);
    assert_eq!(usage(v).cache_read, Some(0));
}

#[test]
fn a_zero_filled_source_does_not_shadow_the_next_one() {
    // usage_object of a usage-less stream (all zeros), real counts in response.usage.
    let mut v = slp(
        "openai",
        "gpt-4o",
        json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0,
               "prompt_tokens_details": {"cached_tokens": 0}}),
    );
    v["response"] = json!({"usage": {"prompt_tokens": 30, "completion_tokens": 4,
                         "prompt_tokens_details": {"cached_tokens": 16}}});
    assert_eq!(
        usage(v),
        u().with_input(30).with_output(4).with_cache_read(16)
    );
}

#[test]
fn modality_token_classes_and_web_search() {
    let got = usage(slp(
        "openai",
        "gpt-4o-audio-preview",
        json!({
        "prompt_tokens": 500, "completion_tokens": 120,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 300, "image_tokens": 0,
                                  "text_tokens": 200, "web_search_requests": 2},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 100, "image_tokens": null}}),
    ));
    assert_eq!(got.audio_input, Some(300));
    assert_eq!(got.image_input, Some(0), "a reported 0");
    assert_eq!(got.audio_output, Some(100));
    assert_eq!(got.image_output, None, "null is not a report");
    assert_eq!(got.web_search_requests, Some(2));
    assert_eq!(got.input, Some(500), "classes are parts of the totals");

    let anthropic = usage(slp(
        "anthropic",
        "claude-sonnet-4-5",
        json!({"prompt_tokens": 20, "completion_tokens": 5,
               "server_tool_use": {"web_search_requests": 3}}),
    ));
    assert_eq!(anthropic.web_search_requests, Some(3));
    assert_eq!(anthropic.audio_input, None);
}

#[test]
fn openai_cache_writes_inside_the_input() {
    // GPT-5.6 and later: writes reported inside the (inclusive) input. Built
    // from the recorded OpenAI shape with a write added.
    let chat = usage(slp(
        "openai",
        "gpt-5.6",
        json!({
        "prompt_tokens": 4000, "completion_tokens": 900, "total_tokens": 4900,
        "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 1024, "cache_write_tokens": 2048},
        "completion_tokens_details": {"reasoning_tokens": 640}}),
    ));
    assert_eq!(chat.input, Some(4000), "inclusive: not added again");
    assert_eq!(chat.cache_write, Some(2048));
    assert_eq!(chat.uncached_input(), Some(928));
    let responses = usage(slp(
        "openai",
        "gpt-5.6",
        json!({
        "input_tokens": 2500, "output_tokens": 700,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 2048},
        "output_tokens_details": {"reasoning_tokens": 512}}),
    ));
    assert_eq!(responses.input, Some(2500));
    assert_eq!(responses.cache_write, Some(2048));
    assert_eq!(responses.cache_read, Some(0));
}

#[test]
fn raw_anthropic_thinking_tokens_are_reasoning_inside_output() {
    let got = usage(slp(
        "anthropic",
        "claude-opus-4-5",
        json!({"input_tokens": 10, "output_tokens": 400,
               "output_tokens_details": {"thinking_tokens": 300}}),
    ));
    assert_eq!(got.output, Some(400));
    assert_eq!(got.reasoning, Some(300));
}

#[test]
fn raw_anthropic_iterations_are_summed() {
    // Context compaction: a compaction iteration, then the message; the
    // top-level counts are the last iteration's only.
    let got = usage(slp(
        "anthropic",
        "claude-sonnet-4-5",
        json!({
        "input_tokens": 200, "output_tokens": 50,
        "cache_read_input_tokens": 5000, "cache_creation_input_tokens": 100,
        "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 0},
        "iterations": [
            {"type": "compaction", "input_tokens": 30000, "output_tokens": 2000,
             "cache_read_input_tokens": 0, "cache_creation_input_tokens": 400,
             "cache_creation": {"ephemeral_5m_input_tokens": 400, "ephemeral_1h_input_tokens": 0}},
            {"type": "message", "input_tokens": 200, "output_tokens": 50,
             "cache_read_input_tokens": 5000, "cache_creation_input_tokens": 100,
             "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 0}}
        ]}),
    ));
    assert_eq!(got.cache_read, Some(5000));
    assert_eq!(got.cache_write, Some(500));
    assert_eq!(
        (got.cache_write_5m, got.cache_write_1h),
        (Some(500), Some(0))
    );
    assert_eq!(got.input, Some(30200 + 5000 + 500));
    assert_eq!(got.output, Some(2050));
}

#[test]
fn raw_anthropic_usage_keeps_explicit_zeros_and_adds_cache() {
    let got = usage(slp(
        "anthropic",
        "claude-sonnet-4",
        json!({
        "input_tokens": 400, "output_tokens": 23,
        "cache_read_input_tokens": 0, "cache_creation_input_tokens": 100,
        "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 0}}),
    ));
    assert_eq!(
        got,
        u().with_input(500)
            .with_output(23)
            .with_cache_read(0)
            .with_cache_write(100)
            .with_cache_write_split(100, 0)
    );
}

#[test]
fn raw_bedrock_converse_usage() {
    let got = usage(slp(
        "bedrock",
        "converse/anthropic.claude-3-7-sonnet",
        json!({
        "inputTokens": 10, "outputTokens": 5120, "totalTokens": 103925,
        "cacheReadInputTokens": 66360, "cacheReadInputTokenCount": 66360,
        "cacheWriteInputTokens": 32435, "cacheWriteInputTokenCount": 32435}),
    ));
    assert_eq!(
        got,
        u().with_input(98805)
            .with_output(5120)
            .with_cache_read(66360)
            .with_cache_write(32435)
    );
}

#[test]
fn raw_gemini_usage_adds_thoughts_and_tool_use_prompt() {
    let got = usage(slp(
        "gemini",
        "gemini-2.5-pro",
        json!({
        "promptTokenCount": 5000, "candidatesTokenCount": 50, "thoughtsTokenCount": 250,
        "cachedContentTokenCount": 4096, "toolUsePromptTokenCount": 7, "totalTokenCount": 5307}),
    ));
    assert_eq!(
        got,
        u().with_input(5007)
            .with_output(300)
            .with_cache_read(4096)
            .with_reasoning(250)
    );
}

#[test]
fn raw_responses_api_usage_is_inclusive() {
    let got = usage(slp(
        "openai",
        "o3-mini",
        json!({
        "input_tokens": 2500, "output_tokens": 700,
        "input_tokens_details": {"cached_tokens": 2048},
        "output_tokens_details": {"reasoning_tokens": 512}}),
    ));
    assert_eq!(
        got,
        u().with_input(2500)
            .with_output(700)
            .with_cache_read(2048)
            .with_reasoning(512)
    );
}

#[test]
fn falls_back_to_response_usage_field_by_field() {
    // Older LiteLLM kept Responses-API cache/reasoning counts only in response.usage.
    let mut v = slp(
        "openai",
        "o3-mini",
        json!({"prompt_tokens": 2500, "completion_tokens": 700}),
    );
    v["response"] = json!({"usage": {"input_tokens": 2500, "output_tokens": 700,
        "input_tokens_details": {"cached_tokens": 2048}, "output_tokens_details": {"reasoning_tokens": 512}}});
    assert_eq!(
        usage(v),
        u().with_input(2500)
            .with_output(700)
            .with_cache_read(2048)
            .with_reasoning(512)
    );
}

#[test]
fn falls_back_to_top_level_counts() {
    let mut v = slp("openai", "gpt-4o", Value::Null);
    v["prompt_tokens"] = json!(10);
    v["completion_tokens"] = json!("20");
    assert_eq!(usage(v), u().with_input(10).with_output(20));
}

#[test]
fn zero_filled_failure_and_usage_less_stream_report_nothing() {
    let mut fail = slp(
        "anthropic",
        "claude",
        json!({"prompt_tokens": 0, "completion_tokens": 0,
        "cache_read_input_tokens": 0}),
    );
    fail["status"] = json!("failure");
    fail["prompt_tokens"] = json!(0);
    assert_eq!(usage(fail), u());
    let mut stream = slp(
        "openai",
        "gpt-4o",
        json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}),
    );
    stream["stream"] = json!(true);
    assert_eq!(usage(stream), u());
}

#[test]
fn numbers_as_strings_are_read() {
    let got = usage(slp(
        "openai",
        "gpt-4o",
        json!({
        "prompt_tokens": "4000", "completion_tokens": 900.0,
        "prompt_tokens_details": {"cached_tokens": "3584"}}),
    ));
    assert_eq!(
        got,
        u().with_input(4000).with_output(900).with_cache_read(3584)
    );
}

#[test]
fn cache_larger_than_claimed_inclusive_input_is_reconciled() {
    // An OpenAI-compatible server that (wrongly) reports exclusive input.
    let got = usage(slp(
        "hosted_vllm",
        "llama",
        json!({
        "prompt_tokens": 100, "completion_tokens": 1,
        "prompt_tokens_details": {"cached_tokens": 900}}),
    ));
    assert_eq!(got.input, Some(1000));
}

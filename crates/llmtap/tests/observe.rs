//! Cache observability through the one pipeline: prefix ids, hit ratio,
//! savings, miss kinds, pricing files, and the bounded per-prefix state.

use std::num::NonZeroUsize;
use std::time::Duration;

use llmtap::{
    build_event, cache_prefix_id, CacheMiss, CacheTtls, EventOptions, HeaderProperties, Payload,
    Pipeline, PrefixKey, Pricing, Processed,
};
use serde_json::{json, Value};

fn fixture_value(name: &str) -> Value {
    let path = llmtap_testkit::fixtures::project_file("litellm-1.106", name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn payload(v: &Value) -> Payload {
    Payload::from_value(v).unwrap()
}

fn process(pipeline: &Pipeline, v: &Value) -> Processed {
    pipeline
        .process(&payload(v), &HeaderProperties::default())
        .unwrap()
}

fn close(got: Option<f64>, want: f64) {
    let got = got.unwrap_or_else(|| panic!("expected {want}, got nothing"));
    assert!((got - want).abs() < 1e-12, "got {got}, want {want}");
}

fn prop_f64(p: &Processed, name: &str) -> Option<f64> {
    p.event.properties.get(name).and_then(Value::as_f64)
}

// ---------------------------------------------------------------- prefix ids

#[test]
fn prefix_ids_survive_key_order_and_whitespace() {
    let v = fixture_value("anthropic_cache_read_and_write_split");
    let original = payload(&v);
    // The same payload written another way: compact, and with every object's
    // keys reversed (serde_json's Value keeps them sorted, so write by hand).
    fn reversed(v: &Value) -> String {
        match v {
            Value::Object(m) => {
                let fields: Vec<String> = m
                    .iter()
                    .rev()
                    .map(|(k, v)| format!("{} :\n {}", Value::from(k.as_str()), reversed(v)))
                    .collect();
                format!("{{ {} }}", fields.join(" ,\t"))
            }
            Value::Array(a) => {
                let items: Vec<String> = a.iter().map(reversed).collect();
                format!("[ {} ]", items.join(" , "))
            }
            other => other.to_string(),
        }
    }
    let rewritten = Payload::from_slice(reversed(&v).as_bytes()).unwrap();
    let id = cache_prefix_id(&original, None).unwrap();
    assert_eq!(cache_prefix_id(&rewritten, None), Some(id));
    assert_eq!(id.to_string().len(), 16);
    assert!(id.to_string().bytes().all(|b| b.is_ascii_hexdigit()));
    // One prompt is one id across providers and models.
    let gemini = payload(&fixture_value("gemini_cache_and_thoughts"));
    assert_eq!(cache_prefix_id(&gemini, None), Some(id));
}

#[test]
fn prefix_ids_differ_when_the_marked_prefix_differs() {
    let mut v = fixture_value("anthropic_cache_read_and_write_split");
    let marked = |doc: &str, question: &str| {
        json!([
            {"role": "system", "content": [{"type": "text", "text": "You are terse."}]},
            {"role": "user", "content": [
                {"type": "text", "text": doc, "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": question}]}
        ])
    };
    let id_with = |v: &mut Value, messages: Value| {
        v["messages"] = messages;
        cache_prefix_id(&payload(v), None).unwrap()
    };
    let mut id_of = |messages: Value| id_with(&mut v, messages);
    let base = id_of(marked("the contract", "who signs?"));
    assert_eq!(base, id_of(marked("the contract", "when?")));
    assert_ne!(base, id_of(marked("the contract, v2", "who signs?")));
    // A timestamp appended to the system prompt: the regression cachebench warns of.
    let mut stamped = marked("the contract", "who signs?");
    stamped[0]["content"][0]["text"] = json!("You are terse. Now: 2026-11-22T11:07:49Z");
    assert_ne!(base, id_of(stamped));
    // Tools come first in the prefix.
    v["model_parameters"] =
        json!({"tools": [{"type": "function", "function": {"name": "search"}}]});
    assert_ne!(base, id_with(&mut v, marked("the contract", "who signs?")));
}

#[test]
fn keyed_ids_redaction_and_privacy_mode() {
    let v = fixture_value("openai_cache_read_and_reasoning");
    let plain = process(&Pipeline::default(), &v);
    let keyed = process(
        &Pipeline::default().prefix_key(PrefixKey::new("team secret").unwrap()),
        &v,
    );
    let id = |p: &Processed| p.event.properties["cache_prefix_id"].clone();
    assert_ne!(id(&plain), id(&keyed));
    assert_eq!(
        Value::from(keyed.observation.prefix_id.unwrap().to_string()),
        id(&keyed)
    );

    // A key set on a clone of a pipeline that already saw the prompt: the
    // ids it remembered were plain ones, and are not reused.
    let seen = Pipeline::default();
    process(&seen, &v);
    let rekeyed = seen
        .clone()
        .prefix_key(PrefixKey::new("team secret").unwrap());
    assert_eq!(id(&process(&rekeyed, &v)), id(&keyed));
    assert_eq!(id(&process(&seen, &v)), id(&plain));

    // Privacy mode drops the content, not the id.
    let private = Pipeline::new(EventOptions::default().privacy_mode(true));
    let p = process(&private, &v);
    assert!(p.event.property("$ai_input").is_none());
    assert_eq!(id(&p), id(&plain));

    // LiteLLM's `turn_off_message_logging` placeholder is no prompt.
    let mut redacted = v.clone();
    redacted["messages"] = json!([{"role": "user", "content": "redacted-by-litellm"}]);
    let p = process(&Pipeline::default(), &redacted);
    assert!(!p.event.properties.contains_key("cache_prefix_id"));
    assert_eq!(p.observation.prefix_id, None);
    assert_eq!(p.observation.miss, None);
    // The usage-based figures do not depend on the messages.
    close(p.observation.hit_ratio, 3584.0 / 4000.0);
}

// ------------------------------------------------------ hit ratio and savings

#[test]
fn anthropic_savings_with_the_5m_and_1h_split() {
    // Fixture: read 18000, write 5424 = 1424 (5m) + 4000 (1h); rates 3e-6
    // input, 3e-7 read, 3.75e-6 5m write, 6e-6 1h write.
    let v = fixture_value("anthropic_cache_read_and_write_split");
    let p = process(&Pipeline::default(), &v);
    // 18000 × 2.7e-6 − 1424 × 7.5e-7 − 4000 × 3e-6 = 0.0486 − 0.001068 − 0.012
    close(p.observation.savings_usd, 0.035532);
    close(prop_f64(&p, "cache_savings_usd"), 0.035532);
    // The ratio is over all 23 427 input tokens, not the 3 uncached ones.
    close(p.observation.hit_ratio, 18000.0 / 23427.0);
    close(prop_f64(&p, "cache_hit_ratio"), 18000.0 / 23427.0);
    assert_eq!(p.observation.miss, None, "a hit is no miss");

    // All of the write with the 1h TTL: 18000 × 2.7e-6 − 5424 × 3e-6.
    let mut h1 = v.clone();
    let details = &mut h1["metadata"]["usage_object"]["prompt_tokens_details"];
    details["cache_creation_token_details"] =
        json!({"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 5424});
    close(
        process(&Pipeline::default(), &h1).observation.savings_usd,
        0.032328,
    );
    // All of it with the 5m TTL: 18000 × 2.7e-6 − 5424 × 7.5e-7.
    let mut m5 = v.clone();
    let details = &mut m5["metadata"]["usage_object"]["prompt_tokens_details"];
    details["cache_creation_token_details"] =
        json!({"ephemeral_5m_input_tokens": 5424, "ephemeral_1h_input_tokens": 0});
    close(
        process(&Pipeline::default(), &m5).observation.savings_usd,
        0.044532,
    );
}

#[test]
fn openai_gemini_and_bedrock_savings() {
    // OpenAI: 3584 read of 4000 at 1.1e-6 input, 5.5e-7 read.
    let p = process(
        &Pipeline::default(),
        &fixture_value("openai_cache_read_and_reasoning"),
    );
    close(p.observation.savings_usd, 3584.0 * 5.5e-7);
    close(p.observation.hit_ratio, 0.896);
    // Gemini: 4096 read of 5000 at 1.25e-6 input, 1.25e-7 read.
    let p = process(
        &Pipeline::default(),
        &fixture_value("gemini_cache_and_thoughts"),
    );
    close(p.observation.savings_usd, 4096.0 * 1.125e-6);
    close(p.observation.hit_ratio, 0.8192);
    // Bedrock Converse: 66360 read, 32435 written (no split: the 5m rate), of 98805.
    let p = process(
        &Pipeline::default(),
        &fixture_value("bedrock_cache_read_write"),
    );
    close(
        p.observation.savings_usd,
        66360.0 * 2.7e-6 - 32435.0 * 7.5e-7,
    );
    close(p.observation.hit_ratio, 66360.0 / 98805.0);
}

#[test]
fn savings_are_absent_without_a_needed_rate() {
    let mut v = fixture_value("bedrock_cache_read_write");
    v["model_map_information"]["model_map_value"]["cache_creation_input_token_cost"] = Value::Null;
    let p = process(&Pipeline::default(), &v);
    assert_eq!(p.observation.savings_usd, None);
    assert!(!p.event.properties.contains_key("cache_savings_usd"));
    // The ratio needs no rate.
    close(p.observation.hit_ratio, 66360.0 / 98805.0);
    // A failure reports nothing: nothing computed, and no header can fill it in.
    let fail = fixture_value("anthropic_fail_429");
    let caller = HeaderProperties::from_pairs([
        ("x-posthog-property-cache_savings_usd", "1000"),
        ("x-posthog-property-cache_miss", "silent"),
        ("x-posthog-property-cache_prefix_id", "0000000000000000"),
        ("x-posthog-property-team", "search"),
    ]);
    let p = Pipeline::default()
        .process(&payload(&fail), &caller)
        .unwrap();
    let props = &p.event.properties;
    assert!(!props.contains_key("cache_savings_usd") && !props.contains_key("cache_miss"));
    assert_ne!(props["cache_prefix_id"], "0000000000000000");
    assert_eq!(props["team"], "search");
}

// --------------------------------------------------------------- miss kinds

/// An Anthropic call at `t` seconds with the given cache counts.
fn anthropic_call(system: &str, t: f64, read: u64, write_5m: u64, write_1h: u64) -> Value {
    let write = write_5m + write_1h;
    json!({
        "model": "claude-sonnet-4-5-20250929", "custom_llm_provider": "anthropic",
        "call_type": "acompletion", "status": "success",
        "startTime": 1795345669.0 + t, "endTime": 1795345670.0 + t,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": "q"}],
        "response_cost": 0.01,
        "metadata": {"usage_object": {
            "prompt_tokens": 3000 + read + write, "completion_tokens": 10,
            "prompt_tokens_details": {"cached_tokens": read, "cache_creation_tokens": write,
                "text_tokens": 3000, "cache_creation_token_details": {
                    "ephemeral_5m_input_tokens": write_5m, "ephemeral_1h_input_tokens": write_1h}},
            "cache_read_input_tokens": read, "cache_creation_input_tokens": write}},
        "model_map_information": {"model_map_value": {
            "input_cost_per_token": 3e-06, "cache_read_input_token_cost": 3e-07,
            "cache_creation_input_token_cost": 3.75e-06,
            "cache_creation_input_token_cost_above_1hr": 6e-06,
            "prompt_cache_min_tokens": 1024}}
    })
}

fn miss(p: &Processed) -> Option<String> {
    p.event
        .properties
        .get("cache_miss")
        .map(|v| v.as_str().unwrap().to_owned())
}

#[test]
fn each_miss_kind() {
    let pipeline = Pipeline::default();
    let s = "You are a support agent.";
    let at = |t, read, write| process(&pipeline, &anthropic_call(s, t, read, write, 0));
    // Neither read nor written by a provider that reports writes.
    assert_eq!(miss(&at(0.0, 0, 0)).as_deref(), Some("uncached"));
    // Written for the first time.
    let p = at(60.0, 0, 4000);
    assert_eq!(p.observation.miss, Some(CacheMiss::Cold));
    assert_eq!(miss(&p).as_deref(), Some("cold"));
    // Read back: a hit.
    assert_eq!(miss(&at(120.0, 4000, 0)), None);
    // Two minutes later, not read: the provider missed.
    assert_eq!(miss(&at(240.0, 0, 4000)).as_deref(), Some("silent"));
    // Fifteen minutes later: the 5-minute entry is gone.
    assert_eq!(miss(&at(1140.0, 0, 4000)).as_deref(), Some("expired"));
    assert_eq!(pipeline.tracked_prefixes(), 1);

    // A 1h write keeps the entry for an hour.
    let one_hour = "You answer from the handbook.";
    let p = process(&pipeline, &anthropic_call(one_hour, 0.0, 0, 0, 4000));
    assert_eq!(miss(&p).as_deref(), Some("cold"));
    let p = process(&pipeline, &anthropic_call(one_hour, 1800.0, 0, 0, 4000));
    assert_eq!(miss(&p).as_deref(), Some("silent"));
    let p = process(&pipeline, &anthropic_call(one_hour, 5700.0, 0, 0, 4000));
    assert_eq!(miss(&p).as_deref(), Some("expired"));

    // A prompt below the model's minimum cannot be cached (OpenAI-style: no writes reported).
    let mut short = fixture_value("openai_cache_read_and_reasoning");
    short["metadata"]["usage_object"] = json!({"prompt_tokens": 900, "completion_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 0}});
    short["model_map_information"]["model_map_value"]["prompt_cache_min_tokens"] = json!(1024);
    assert_eq!(
        miss(&process(&pipeline, &short)).as_deref(),
        Some("uncached")
    );
}

#[test]
fn ttls_are_configurable_and_time_never_goes_back() {
    let s = "Be brief.";
    let strict = Pipeline::default().cache_ttls(CacheTtls::new(
        Duration::from_secs(60),
        Duration::from_secs(600),
    ));
    process(&strict, &anthropic_call(s, 0.0, 0, 4000, 0));
    let p = process(&strict, &anthropic_call(s, 120.0, 0, 4000, 0));
    assert_eq!(miss(&p).as_deref(), Some("expired"), "60 s TTL");

    // Out of order: the call at 1000 s arrives before the one at 100 s. The
    // late one is judged at the prefix's clock (1000 s), where the entry
    // written at 1000 s is fresh, so the miss is silent, not cold.
    let pipeline = Pipeline::default();
    process(&pipeline, &anthropic_call(s, 1000.0, 0, 4000, 0));
    let late = process(&pipeline, &anthropic_call(s, 100.0, 0, 4000, 0));
    assert_eq!(miss(&late).as_deref(), Some("silent"));
    // And the clock did not move back: 1200 s is within 5 minutes of 1000 s.
    let p = process(&pipeline, &anthropic_call(s, 1200.0, 0, 4000, 0));
    assert_eq!(miss(&p).as_deref(), Some("silent"));
}

#[test]
fn state_is_per_provider_and_model() {
    let pipeline = Pipeline::default();
    let s = "Shared prompt.";
    process(&pipeline, &anthropic_call(s, 0.0, 0, 4000, 0));
    let mut other_model = anthropic_call(s, 10.0, 0, 4000, 0);
    other_model["model"] = json!("claude-haiku-4-5-20251001");
    let p = process(&pipeline, &other_model);
    // Same id (content only), separate state.
    assert_eq!(miss(&p).as_deref(), Some("cold"));
    assert_eq!(pipeline.tracked_prefixes(), 2);
    // build_event has no history: what a fresh pipeline says.
    let e = build_event(
        &payload(&anthropic_call(s, 20.0, 0, 4000, 0)),
        &HeaderProperties::default(),
        &EventOptions::default(),
    )
    .unwrap();
    assert_eq!(e.properties["cache_miss"], "cold");
}

#[test]
fn bounded_state_under_many_distinct_prefixes() {
    let capacity = 64;
    let pipeline = Pipeline::default().prefix_capacity(NonZeroUsize::new(capacity).unwrap());
    for n in 0..2000 {
        let p = process(
            &pipeline,
            &anthropic_call(&format!("prompt {n}"), n as f64, 0, 4000, 0),
        );
        assert_eq!(p.observation.miss, Some(CacheMiss::Cold));
        assert!(pipeline.tracked_prefixes() <= capacity);
    }
    assert_eq!(pipeline.tracked_prefixes(), capacity);
    // The oldest prefix was evicted: seen again, it is cold again.
    let p = process(&pipeline, &anthropic_call("prompt 0", 2001.0, 0, 4000, 0));
    assert_eq!(p.observation.miss, Some(CacheMiss::Cold));
    // A recent one is still known.
    let p = process(
        &pipeline,
        &anthropic_call("prompt 1999", 2002.0, 0, 4000, 0),
    );
    assert_eq!(p.observation.miss, Some(CacheMiss::Silent));
}

#[test]
fn one_pipeline_shared_across_threads() {
    let pipeline = Pipeline::default();
    let first = process(&pipeline, &anthropic_call("Shared.", 0.0, 0, 4000, 0));
    assert_eq!(first.observation.miss, Some(CacheMiss::Cold));
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let pipeline = &pipeline;
            scope.spawn(move || {
                for i in 0..50 {
                    let t = 1.0 + f64::from(thread * 50 + i);
                    let p = process(pipeline, &anthropic_call("Shared.", t, 0, 4000, 0));
                    // Every later call finds the entry written moments before.
                    assert_eq!(p.observation.miss, Some(CacheMiss::Silent));
                }
            });
        }
    });
    assert_eq!(pipeline.tracked_prefixes(), 1);
    // Clones share the state.
    let clone = pipeline.clone();
    let p = process(&clone, &anthropic_call("Shared.", 300.0, 0, 4000, 0));
    assert_eq!(p.observation.miss, Some(CacheMiss::Silent));
}

// -------------------------------------------------------------- pricing file

const PRICING: &str = r#"
[models."Qwen/*"]
input_cost_per_token = 1e-07
output_cost_per_token = 1e-07
cache_read_input_token_cost = 1e-08

[models."Qwen/Qwen3-*"]
input_cost_per_token = 2e-07
output_cost_per_token = 6e-07
cache_read_input_token_cost = 2e-08

[models."Qwen/Qwen3-8B"]
input_cost_per_token = 3e-07
output_cost_per_token = 9e-07
cache_read_input_token_cost = 3e-08

[models."claude-sonnet-4-5-20250929"]
cache_read_input_token_cost = 1.5e-07
"#;

/// A self-hosted call LiteLLM could not price: 1000 input (800 cached), 100 output.
fn vllm_call(model: &str) -> Value {
    json!({
        "model": model, "custom_llm_provider": "hosted_vllm", "call_type": "acompletion",
        "status": "success", "startTime": 1795345669.0, "response_cost": 0.0,
        "messages": [{"role": "system", "content": "You are terse."}],
        "metadata": {"usage_object": {"prompt_tokens": 1000, "completion_tokens": 100,
            "prompt_tokens_details": {"cached_tokens": 800}}},
        "model_map_information": {"model_map_key": "", "model_map_value": null}
    })
}

#[test]
fn pricing_file_precedence_exact_then_longest_glob() {
    let pipeline = Pipeline::default().pricing(Pricing::from_toml_str(PRICING).unwrap());
    for (model, input, output, read) in [
        ("Qwen/Qwen3-8B", 3e-7, 9e-7, 3e-8),
        ("Qwen/Qwen3-14B", 2e-7, 6e-7, 2e-8),
        ("Qwen/Qwen2.5-7B", 1e-7, 1e-7, 1e-8),
    ] {
        let p = process(&pipeline, &vllm_call(model));
        close(p.observation.savings_usd, 800.0 * (input - read));
        // LiteLLM priced it at 0: the file gives the cost, as passthrough.
        let cost = 200.0 * input + 800.0 * read + 100.0 * output;
        close(p.observation.priced_cost_usd, cost);
        close(prop_f64(&p, "$ai_total_cost_usd"), cost);
        assert_eq!(p.event.properties["$ai_cost_passthrough"], true, "{model}");
    }
    // A model the file does not name: no rates, no savings, no cost.
    let p = process(&pipeline, &vllm_call("mistral-7b"));
    assert_eq!(p.observation.savings_usd, None);
    assert!(!p.event.properties.contains_key("$ai_total_cost_usd"));
}

#[test]
fn pricing_file_replaces_rates_field_by_field_but_not_litellms_cost() {
    let pipeline = Pipeline::default().pricing(Pricing::from_toml_str(PRICING).unwrap());
    let p = process(
        &pipeline,
        &fixture_value("anthropic_cache_read_and_write_split"),
    );
    // Only the read rate is the file's: 18000 × (3e-6 − 1.5e-7) − 1424 × 7.5e-7 − 4000 × 3e-6.
    close(p.observation.savings_usd, 0.038232);
    // LiteLLM priced the call: its cost stands.
    assert_eq!(p.observation.priced_cost_usd, None);
    close(prop_f64(&p, "$ai_total_cost_usd"), 0.040749);
}

#[test]
fn a_pricing_file_can_supply_the_cache_minimum() {
    // o3-mini's map entry has no prompt_cache_min_tokens; OpenAI caches from 1024.
    let mut short = fixture_value("openai_cache_read_and_reasoning");
    short["metadata"]["usage_object"] = json!({"prompt_tokens": 600, "completion_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 0}});
    let plain = Pipeline::default();
    assert_eq!(
        process(&plain, &short).observation.miss,
        Some(CacheMiss::Cold)
    );
    assert_eq!(
        process(&plain, &short).observation.miss,
        Some(CacheMiss::Silent)
    );
    let pricing = Pricing::from_toml_str("[models.\"o3-*\"]\nprompt_cache_min_tokens = 1024\n");
    let informed = Pipeline::default().pricing(pricing.unwrap());
    for _ in 0..2 {
        assert_eq!(
            process(&informed, &short).observation.miss,
            Some(CacheMiss::Uncached)
        );
    }
}

//! Cache alerts through the one pipeline, from payloads derived from the
//! real LiteLLM 1.106 fixtures (times, cache counts and call ids varied).

use std::sync::{Arc, Mutex};

use llmtap::{props, Alert, AlertKind, AlertRules, HeaderProperties, Payload, Pipeline, Processed};
use serde_json::{json, Value};

const ANTHROPIC: &str = "anthropic_cache_read_and_write_split";
const OPENAI: &str = "openai_cache_read_and_reasoning";

fn fixture(name: &str) -> Value {
    let path = llmtap_testkit::fixtures::project_file("litellm-1.106", name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The fixture as call `n`, `n` minutes after its own start time.
fn call(base: &Value, n: u64) -> Value {
    let mut v = base.clone();
    let start = v["startTime"].as_f64().unwrap() + 60.0 * n as f64;
    v["startTime"] = json!(start);
    v["endTime"] = json!(start + 2.0);
    v["completionStartTime"] = json!(start + 1.0);
    v["litellm_call_id"] = json!(format!("call-{n}"));
    v["id"] = json!(format!("resp-{n}"));
    v
}

/// Applies `edit` to both places a fixture carries its usage: LiteLLM's
/// object and the response's own.
fn edit_usage(v: &mut Value, edit: impl Fn(&mut Value)) {
    edit(&mut v["metadata"]["usage_object"]);
    if v["response"]["usage"].is_object() {
        edit(&mut v["response"]["usage"]);
    }
}

/// The Anthropic fixture with `read` of its 23 427 input tokens read from the
/// cache (the write and the text tokens as the fixture has them otherwise),
/// priced by nobody, so only the cache rules can fire.
fn anthropic_reading(n: u64, read: u64) -> Value {
    let mut v = call(&fixture(ANTHROPIC), n);
    edit_usage(&mut v, |u| {
        u["prompt_tokens_details"]["cached_tokens"] = json!(read);
        u["prompt_tokens_details"]["text_tokens"] = json!(23427 - 5424 - read);
        u["cache_read_input_tokens"] = json!(read);
    });
    v["response_cost"] = json!(0.0);
    v
}

fn process(pipeline: &Pipeline, v: &Value) -> Processed {
    pipeline
        .process(
            &Payload::from_value(v).unwrap(),
            &HeaderProperties::default(),
        )
        .unwrap()
}

fn kinds(alerts: &[Alert]) -> Vec<AlertKind> {
    alerts.iter().map(|a| a.kind).collect()
}

/// Every alert a sequence of payloads raises in a fresh pipeline.
fn alerts_of(pipeline: &Pipeline, payloads: &[Value]) -> Vec<Alert> {
    payloads
        .iter()
        .flat_map(|v| process(pipeline, v).alerts)
        .collect()
}

/// Ten calls reading 18 000 of 23 427 (0.77), then fifteen reading nothing:
/// a deploy that broke the prefix.
fn regression() -> Vec<Value> {
    (0..25)
        .map(|n| anthropic_reading(n, if n < 10 { 18000 } else { 0 }))
        .collect()
}

#[test]
fn the_real_fixtures_raise_nothing() {
    // Each fixture's own counts and cost agree: no false alarm on real data.
    let any = llmtap_testkit::fixtures::project_file("litellm-1.106", ANTHROPIC);
    for path in llmtap_testkit::fixtures::json_files(any.parent().unwrap()) {
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let pipeline = Pipeline::default();
        let alerts = alerts_of(&pipeline, &[v.clone(), call(&v, 1), call(&v, 2)]);
        assert!(alerts.is_empty(), "{}: {alerts:?}", path.display());
    }
}

#[test]
fn a_broken_prefix_raises_one_hit_ratio_drop_with_its_event() {
    let pipeline = Pipeline::default();
    let alerts = alerts_of(&pipeline, &regression());
    let drops: Vec<_> = alerts
        .iter()
        .filter(|a| a.kind == AlertKind::HitRatioDrop)
        .collect();
    assert_eq!(drops.len(), 1, "{alerts:?}");
    let drop = drops[0];
    // 0.768 over ten calls; the ratio falls below 0.6 at the 13th call
    // (18 000 × 10 ÷ (23 427 × 13) = 0.591), 12 minutes after the first.
    assert_eq!(drop.calls, 13);
    assert!((drop.hit_ratio.unwrap() - 180_000.0 / (23427.0 * 13.0)).abs() < 1e-12);
    assert!((drop.previous_hit_ratio.unwrap() - 180_000.0 / (23427.0 * 12.0)).abs() < 1e-12);
    assert_eq!(drop.window_seconds, Some(720.0));
    assert_eq!(
        (drop.provider.as_str(), drop.model.as_str()),
        ("anthropic", "claude-sonnet-4-5-20250929")
    );

    let event = drop.to_event();
    let prefix = drop.prefix_id.unwrap().to_string();
    assert_eq!(event.event, props::CACHE_ALERT);
    assert_eq!(event.distinct_id, prefix);
    let p = &event.properties;
    assert_eq!(p[props::ALERT_KIND], "hit_ratio_drop");
    assert_eq!(p[props::CACHE_PREFIX_ID], prefix.as_str());
    assert_eq!(p[props::MODEL], "claude-sonnet-4-5-20250929");
    assert_eq!(p[props::PROVIDER], "anthropic");
    assert_eq!(p[props::ALERT_CALLS], 13);
    assert_eq!(p[props::ALERT_WINDOW_SECONDS], 720.0);
    assert_eq!(p[props::PROCESS_PERSON_PROFILE], false);
    assert_eq!(event.timestamp, Some(drop.at));

    // The prefix's calls also missed silently, within the 1-hour TTL of the
    // fixture's 1 h write: one burst, one alert, at the 4th silent miss.
    assert_eq!(
        kinds(&alerts),
        [AlertKind::HitRatioDrop, AlertKind::SilentMisses]
    );
    assert_eq!(alerts[1].calls, 4);
}

#[test]
fn alert_uuids_are_stable_across_runs_and_differ_by_time() {
    let first: Vec<_> = alerts_of(&Pipeline::default(), &regression())
        .iter()
        .map(|a| a.to_event().uuid)
        .collect();
    let second: Vec<_> = alerts_of(&Pipeline::default(), &regression())
        .iter()
        .map(|a| a.to_event().uuid)
        .collect();
    assert!(!first.is_empty());
    assert_eq!(first, second);
    // The same regression an hour later is another alert.
    let later: Vec<_> = regression()
        .iter()
        .map(|v| {
            let mut v = v.clone();
            v["startTime"] = json!(v["startTime"].as_f64().unwrap() + 3600.0);
            v
        })
        .collect();
    let third: Vec<_> = alerts_of(&Pipeline::default(), &later)
        .iter()
        .map(|a| a.to_event().uuid)
        .collect();
    assert_eq!(third.len(), first.len());
    assert!(third.iter().all(|u| !first.contains(u)));
}

#[test]
fn the_hook_sees_every_alert_and_rules_are_configurable() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let mut rules = AlertRules::default();
    // Stricter than the 0.77 the prefix had: it never was "above".
    rules.hit_ratio_threshold = 0.8;
    rules.silent_misses = 100;
    let pipeline = Pipeline::default()
        .alert_rules(rules)
        .on_alert(move |a| sink.lock().unwrap().push(a.kind));
    let alerts = alerts_of(&pipeline, &regression());
    assert!(alerts.is_empty(), "{alerts:?}");

    let pipeline = Pipeline::default().on_alert({
        let sink = Arc::clone(&seen);
        move |a| sink.lock().unwrap().push(a.kind)
    });
    let alerts = alerts_of(&pipeline, &regression());
    assert_eq!(*seen.lock().unwrap(), kinds(&alerts));
}

#[test]
fn cache_fields_that_stop_being_reported_raise_cache_fields_missing() {
    let pipeline = Pipeline::default();
    let mut payloads = vec![anthropic_reading(0, 18000)];
    // A LiteLLM upgrade drops every cache field; the calls still have their prefix.
    for n in 1..=12 {
        let mut v = call(&fixture(ANTHROPIC), n);
        edit_usage(&mut v, |u| {
            let u = u.as_object_mut().unwrap();
            for k in [
                "prompt_tokens_details",
                "cache_read_input_tokens",
                "cache_creation_input_tokens",
            ] {
                u.remove(k);
            }
        });
        v["response_cost"] = json!(0.0);
        payloads.push(v);
    }
    let alerts = alerts_of(&pipeline, &payloads);
    assert_eq!(
        kinds(&alerts),
        [AlertKind::CacheFieldsMissing],
        "{alerts:?}"
    );
    let a = &alerts[0];
    assert_eq!((a.calls, a.window_seconds), (10, Some(540.0)));
    assert_eq!(a.prefix_id, None);
    let event = a.to_event();
    assert_eq!(
        event.distinct_id, "claude-sonnet-4-5-20250929",
        "no prefix: the model"
    );
    assert!(!event.properties.contains_key(props::CACHE_PREFIX_ID));
}

#[test]
fn contradictory_counts_raise_inconsistent_usage_once_an_hour_and_still_send() {
    let pipeline = Pipeline::default();
    let bad = |n: u64| {
        let mut v = call(&fixture(OPENAI), n);
        // 5 000 cached of 4 000 prompt tokens.
        edit_usage(&mut v, |u| {
            u["prompt_tokens_details"]["cached_tokens"] = json!(5000)
        });
        v["response_cost"] = json!(0.0);
        v
    };
    let mut alerts = Vec::new();
    for n in 0..70 {
        let processed = process(&pipeline, &bad(n));
        // The event is still built, with the reconciled input.
        assert_eq!(processed.event.properties[props::INPUT_TOKENS], 9000);
        alerts.extend(processed.alerts);
    }
    assert_eq!(kinds(&alerts), [AlertKind::InconsistentUsage; 2]);
    assert_eq!(alerts[0].calls, 1);
    // The second, an hour later, counts the calls held back since the first.
    assert_eq!(
        (alerts[1].calls, alerts[1].window_seconds),
        (60, Some(3600.0))
    );
}

#[test]
fn a_cost_off_the_model_map_raises_cost_mismatch() {
    let pipeline = Pipeline::default();
    let mut alerts = Vec::new();
    for n in 0..5 {
        let mut v = call(&fixture(OPENAI), n);
        let cost = v["response_cost"].as_f64().unwrap();
        // Within 1 %: agreement; twice the price: a mismatch.
        v["response_cost"] = json!(if n == 0 { cost * 1.005 } else { cost * 2.0 });
        alerts.extend(process(&pipeline, &v).alerts);
    }
    assert_eq!(kinds(&alerts), [AlertKind::CostMismatch]);
    assert_eq!((alerts[0].calls, alerts[0].prefix_id), (1, None));
    // A call priced with web searches is not judged by the token rates.
    let mut v = call(&fixture(OPENAI), 200);
    edit_usage(&mut v, |u| {
        u["prompt_tokens_details"]["web_search_requests"] = json!(1)
    });
    v["response_cost"] = json!(1.0);
    assert!(process(&Pipeline::default(), &v).alerts.is_empty());
}

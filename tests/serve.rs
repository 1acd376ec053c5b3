//! `llmtap serve` end to end: the real binary on 127.0.0.1 with a test capture
//! server behind it, driven over HTTP the way LiteLLM's generic logger does.

mod support;

use std::process::Command;

use serde_json::{json, Value};
use support::{CaptureServer, Gate, Reply, Sidecar, PATIENCE, TEST_KEY};

fn fixture(name: &str) -> Value {
    support::fixture_json("litellm-1.106", name)
}

/// The fixture as another call of the same shape: a fresh call id is a fresh event.
fn another_call(name: &str, n: usize) -> Value {
    let mut v = fixture(name);
    v["litellm_call_id"] = Value::from(format!("call-{name}-{n}"));
    v
}

const FIXTURES: [&str; 3] = [
    "anthropic_cache_read_and_write_split",
    "openai_cache_read_and_reasoning",
    "gemini_cache_and_thoughts",
];

async fn post(
    sidecar: &Sidecar,
    body: String,
    headers: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = reqwest::Client::new()
        .post(sidecar.url("/litellm"))
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, body, headers)
}

fn events(capture: &CaptureServer) -> Vec<Value> {
    capture.accepted_events()
}

fn wait_for_events(capture: &CaptureServer, n: usize) -> Vec<Value> {
    assert!(
        capture.wait_for_events(n, PATIENCE),
        "{n} events did not arrive"
    );
    events(capture)
}

#[tokio::test]
async fn array_ndjson_and_single_bodies_all_arrive() {
    let capture = CaptureServer::start();
    let sidecar = Sidecar::start(&capture, &["--flush-interval-ms", "50"]);
    let calls = |n| -> Vec<Value> { FIXTURES.iter().map(|f| another_call(f, n)).collect() };

    let array = serde_json::to_string(&calls(1)).unwrap();
    let ndjson: String = calls(2).iter().map(|p| p.to_string() + "\n").collect();
    let single = serde_json::to_string_pretty(&calls(3)[0]).unwrap();
    for (body, n) in [(array, 3), (ndjson, 3), (single, 1)] {
        let (status, resp, _) = post(&sidecar, body, &[("content-type", "text/plain")]).await;
        assert_eq!(status, 200, "{resp}");
        assert_eq!(resp["accepted"], n);
        assert_eq!(resp["rejected"], 0);
    }
    let got = wait_for_events(&capture, 7);
    assert_eq!(got.len(), 7);
    let mut uuids: Vec<&str> = got.iter().map(|e| e["uuid"].as_str().unwrap()).collect();
    uuids.sort();
    uuids.dedup();
    assert_eq!(uuids.len(), 7, "no event twice");
    let anthropic = got
        .iter()
        .find(|e| e["properties"]["$ai_provider"] == "anthropic")
        .unwrap();
    assert_eq!(
        anthropic["properties"]["$ai_cache_read_input_tokens"],
        18000
    );
    assert_eq!(
        anthropic["properties"]["$ai_cache_creation_1h_input_tokens"],
        4000
    );
    let (status, _) = sidecar.terminate();
    assert!(status.is_some_and(|s| s.success()));
}

#[tokio::test]
async fn header_properties_from_the_post_and_from_each_payload() {
    let capture = CaptureServer::start();
    let sidecar = Sidecar::start(&capture, &["--flush-interval-ms", "50"]);
    let mut with_request_headers = fixture("openai_cache_read_and_reasoning");
    with_request_headers["metadata"]["requester_custom_headers"] = json!({
        "x-posthog-property-feature": "search", "x-posthog-flag-new-ui": "on",
        "x-posthog-property-env": "staging", "x-posthog-property-$ai_input_tokens": "1"});
    let plain = fixture("gemini_cache_and_thoughts");
    let body = serde_json::to_string(&[with_request_headers, plain]).unwrap();
    let static_headers = [
        ("x-posthog-property-env", "prod"),
        ("X-PostHog-Property-Team", "ml"),
    ];
    let (status, _, _) = post(&sidecar, body, &static_headers).await;
    assert_eq!(status, 200);
    let got = wait_for_events(&capture, 2);
    let openai = got
        .iter()
        .find(|e| e["properties"]["$ai_provider"] == "openai")
        .unwrap();
    let gemini = got
        .iter()
        .find(|e| e["properties"]["$ai_provider"] == "gemini")
        .unwrap();
    assert_eq!(openai["properties"]["feature"], "search");
    assert_eq!(openai["properties"]["$feature/new-ui"], "on");
    assert_eq!(
        openai["properties"]["env"], "staging",
        "per-request wins over static"
    );
    assert_eq!(openai["properties"]["team"], "ml");
    assert_eq!(openai["properties"]["$ai_input_tokens"], 4000, "protected");
    assert_eq!(gemini["properties"]["env"], "prod");
    assert!(gemini["properties"].get("feature").is_none());
}

#[tokio::test]
async fn bad_and_null_entries_are_counted_and_the_rest_accepted() {
    let capture = CaptureServer::start();
    let sidecar = Sidecar::start(&capture, &["--flush-interval-ms", "50"]);
    let body = format!(
        "[{}, null, {{\"model\": \"m\"}}, \"text\", {}]",
        fixture("openai_embedding"),
        fixture("bedrock_cache_read_write")
    );
    let (status, resp, _) = post(&sidecar, body, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(resp["accepted"], 2);
    assert_eq!(resp["rejected"], 3);
    let errors = resp["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e
            .as_str()
            .unwrap()
            .starts_with("entry 3: field `startTime`")),
        "{resp}"
    );
    wait_for_events(&capture, 2);

    let (status, resp, _) = post(&sidecar, "[{\"model\": ".into(), &[]).await;
    assert_eq!(status, 400, "{resp}");
    let metrics = sidecar.metrics().await;
    assert!(
        metrics.contains("llmtap_payloads_rejected_total{reason=\"null_entry\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("llmtap_payloads_rejected_total{reason=\"invalid_payload\"} 2"));
    assert!(metrics.contains("llmtap_payloads_rejected_total{reason=\"unreadable_body\"} 1"));
}

#[tokio::test]
async fn auth_token_is_required_when_set() {
    let capture = CaptureServer::start();
    let sidecar = Sidecar::start(&capture, &["--auth-token", "s3cret-token-0123456789"]);
    let body = fixture("openai_embedding").to_string();
    assert_eq!(post(&sidecar, body.clone(), &[]).await.0, 401);
    assert_eq!(
        post(&sidecar, body.clone(), &[("authorization", "Bearer wrong")])
            .await
            .0,
        401
    );
    assert_eq!(
        post(
            &sidecar,
            body,
            &[("authorization", "Bearer s3cret-token-0123456789")]
        )
        .await
        .0,
        200
    );
    let (_, stderr) = sidecar.terminate();
    assert!(
        !stderr.contains("s3cret-token-0123456789"),
        "the token never reaches logs"
    );
    assert!(!stderr.contains(TEST_KEY));
}

#[test]
fn refuses_a_non_loopback_address_without_a_token() {
    let err = Sidecar::spawn(&[], &["--listen", "0.0.0.0:0"])
        .err()
        .expect("refused");
    assert!(err.contains("without --auth-token"), "{err}");
    let ok = Sidecar::spawn(&[], &["--listen", "0.0.0.0:0", "--insecure"]);
    assert!(ok.is_ok());
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let capture = CaptureServer::start();
    let sidecar = Sidecar::start(&capture, &["--max-body-bytes", "4096"]);
    let (status, _, _) = post(&sidecar, fixture("openai_embedding").to_string(), &[]).await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after_and_accepts_nothing_of_that_request() {
    let capture = CaptureServer::start();
    let gate = Gate::new();
    capture.script([Reply::normal().gated(&gate)]);
    let sidecar = Sidecar::start(
        &capture,
        &[
            "--queue-capacity",
            "4",
            "--batch-size",
            "1",
            "--flush-interval-ms",
            "10",
            "--retry-after-secs",
            "7",
        ],
    );
    // One event goes in flight and stays there (the server holds its answer).
    let (status, _, _) = post(&sidecar, fixture("openai_embedding").to_string(), &[]).await;
    assert_eq!(status, 200);
    assert!(capture.wait_for_requests(1, PATIENCE));

    let five: Vec<Value> = (0..5)
        .map(|n| another_call("gemini_cache_and_thoughts", n))
        .collect();
    let (status, resp, headers) = post(&sidecar, serde_json::to_string(&five).unwrap(), &[]).await;
    assert_eq!(status, 503, "{resp}");
    assert_eq!(headers["retry-after"], "7");
    let four = serde_json::to_string(&five[..4]).unwrap();
    let (status, resp, _) = post(&sidecar, four, &[]).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["accepted"], 4);

    gate.open();
    wait_for_events(&capture, 5);
    let metrics = sidecar
        .metrics_with("llmtap_events_delivered_total 5")
        .await;
    assert!(
        metrics.contains("llmtap_requests_refused_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("llmtap_events_delivered_total 5"),
        "{metrics}"
    );
    assert!(
        metrics.contains("llmtap_events_dropped_total{reason=\"queue_full\"} 0"),
        "{metrics}"
    );
}

#[tokio::test]
async fn metrics_count_tokens_per_provider_and_model_from_normalized_usage() {
    let capture = CaptureServer::start();
    let sidecar = Sidecar::start(&capture, &["--flush-interval-ms", "50"]);
    let payloads: Vec<Value> = [
        "anthropic_cache_read_and_write_split",
        "anthropic_cache_read_and_write_split#2",
        "bedrock_cache_read_write",
        "openai_cache_read_and_reasoning",
        "anthropic_plain_no_cache_fields",
        "anthropic_fail_429",
    ]
    .iter()
    .enumerate()
    .map(|(n, f)| another_call(f.trim_end_matches("#2"), n))
    .collect();
    post(&sidecar, serde_json::to_string(&payloads).unwrap(), &[]).await;
    wait_for_events(&capture, 6);
    let metrics = sidecar
        .metrics_with("llmtap_events_delivered_total 6")
        .await;
    let sonnet = r#"{provider="anthropic",model="claude-sonnet-4-5-20250929"}"#;
    let bedrock =
        r#"{provider="bedrock",model="converse/anthropic.claude-3-7-sonnet-20250219-v1:0"}"#;
    let o3 = r#"{provider="openai",model="o3-mini"}"#;
    for line in [
        format!("llmtap_calls_total{sonnet} 3"),
        format!("llmtap_input_tokens_total{sonnet} 46854"),
        format!("llmtap_cache_read_tokens_total{sonnet} 36000"),
        format!("llmtap_cache_write_tokens_total{sonnet} 10848"),
        format!("llmtap_cache_write_5m_tokens_total{sonnet} 2848"),
        format!("llmtap_cache_write_1h_tokens_total{sonnet} 8000"),
        format!("llmtap_cache_read_tokens_total{bedrock} 66360"),
        format!("llmtap_cache_write_tokens_total{bedrock} 32435"),
        format!("llmtap_reasoning_tokens_total{o3} 640"),
        format!("llmtap_output_tokens_total{o3} 900"),
        "llmtap_events_accepted_total 6".to_owned(),
        "llmtap_events_delivered_total 6".to_owned(),
    ] {
        assert!(metrics.contains(&line), "missing `{line}` in\n{metrics}");
    }
    let haiku = r#"{provider="anthropic",model="claude-haiku-4-5-20251001"}"#;
    assert!(
        metrics.contains(&format!("llmtap_cache_read_tokens_total{haiku} 0")),
        "a reported 0 (a miss) is counted as 0\n{metrics}"
    );
    assert!(
        metrics.contains(&format!("llmtap_audio_input_tokens_total{o3} 0")),
        "{metrics}"
    );
    for unreported in [
        format!("llmtap_cache_write_tokens_total{o3}"),
        format!("llmtap_image_input_tokens_total{sonnet}"),
        format!("llmtap_web_search_requests_total{o3}"),
    ] {
        assert!(
            !metrics.contains(&unreported),
            "not reported, not counted: {unreported}\n{metrics}"
        );
    }
    let cost_line = metrics
        .lines()
        .find(|l| l.starts_with(&format!("llmtap_cost_usd_total{sonnet}")))
        .unwrap();
    let cost: f64 = cost_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((cost - 2.0 * 0.040749).abs() < 1e-9, "{cost_line}");
    let value = |prefix: String| -> f64 {
        let line = metrics.lines().find(|l| l.starts_with(&prefix));
        let line = line.unwrap_or_else(|| panic!("missing `{prefix}` in\n{metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let saved = value(format!("llmtap_cache_savings_usd{sonnet}"));
    assert!((saved - 2.0 * 0.035532).abs() < 1e-9, "{saved}");
    // The plain Anthropic call reports neither read nor write: nothing was cached.
    let uncached = r#"{provider="anthropic",model="claude-haiku-4-5-20251001",kind="uncached"}"#;
    assert_eq!(value(format!("llmtap_cache_misses_total{uncached}")), 1.0);
    // Per prefix: calls, and sum(read) / sum(input) over the calls reporting both,
    // as the events themselves tell it.
    let events = events(&capture);
    let mut by_prefix: std::collections::BTreeMap<&str, (u64, u64, u64)> = Default::default();
    for e in &events {
        let p = &e["properties"];
        let Some(id) = p["cache_prefix_id"].as_str() else {
            continue;
        };
        let row = by_prefix.entry(id).or_default();
        row.0 += 1;
        if let (Some(read), Some(input)) = (
            p["$ai_cache_read_input_tokens"].as_u64(),
            p["$ai_input_tokens"].as_u64(),
        ) {
            row.1 += read;
            row.2 += input;
        }
    }
    assert!(!by_prefix.is_empty());
    for (id, (calls, read, input)) in by_prefix {
        let labels = format!("{{prefix=\"{id}\"}}");
        assert_eq!(value(format!("llmtap_prefix_calls{labels}")), calls as f64);
        let ratio = value(format!("llmtap_prefix_cache_hit_ratio{labels}"));
        assert!(
            (ratio - read as f64 / input as f64).abs() < 1e-12,
            "{id}: {ratio}"
        );
    }
    assert_eq!(
        reqwest::get(sidecar.url("/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn sigterm_flushes_everything_accepted() {
    let capture = CaptureServer::start();
    // An hour-long interval: only shutdown can send this partial batch.
    let sidecar = Sidecar::start(&capture, &["--flush-interval-ms", "3600000"]);
    let payloads: Vec<Value> = FIXTURES.iter().map(|f| fixture(f)).collect();
    let (status, _, _) = post(&sidecar, serde_json::to_string(&payloads).unwrap(), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(capture.request_count(), 0);
    let (status, stderr) = sidecar.terminate();
    assert!(status.is_some_and(|s| s.success()), "{stderr}");
    assert_eq!(events(&capture).len(), 3);
    assert!(stderr.contains("3 events delivered, 0 dropped"), "{stderr}");
}

#[tokio::test]
async fn without_an_api_key_events_go_to_a_local_jsonl_file() {
    let out = tempfile::NamedTempFile::new().unwrap();
    let sidecar = Sidecar::spawn(&[], &["--output", out.path().to_str().unwrap()]).unwrap();
    let (status, resp, _) = post(&sidecar, fixture("openai_embedding").to_string(), &[]).await;
    assert_eq!((status, resp["accepted"].as_u64()), (200, Some(1)));
    let (status, _) = sidecar.terminate();
    assert!(status.is_some_and(|s| s.success()));
    let written = std::fs::read_to_string(out.path()).unwrap();
    assert_eq!(written.lines().count(), 1);
}

#[tokio::test]
async fn settings_come_from_a_toml_file_and_flags_win() {
    let capture = CaptureServer::start();
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        format!("posthog_host = \"{}\"\napi_key = \"{TEST_KEY}\"\nmax_body_bytes = 100\n[properties]\nregion = \"eu\"\n", capture.url()),
    )
    .unwrap();
    let sidecar = Sidecar::spawn(
        &[],
        &[
            "--config",
            config.path().to_str().unwrap(),
            "--max-body-bytes",
            "1000000",
            "--flush-interval-ms",
            "50",
        ],
    )
    .unwrap();
    let (status, _, _) = post(&sidecar, fixture("openai_embedding").to_string(), &[]).await;
    assert_eq!(status, 200, "the flag's body limit won over the file's");
    let got = wait_for_events(&capture, 1);
    assert_eq!(got[0]["properties"]["region"], "eu");

    std::fs::write(config.path(), "listen_on = \"typo\"\n").unwrap();
    let err = Sidecar::spawn(&[], &["--config", config.path().to_str().unwrap()])
        .err()
        .unwrap();
    assert!(err.contains("unknown field"), "{err}");
}

#[tokio::test]
async fn a_full_litellm_batch_is_accepted_and_delivered() {
    let capture = CaptureServer::start();
    let sidecar = Sidecar::start(&capture, &["--flush-interval-ms", "50"]);
    // LiteLLM's logger sends up to 512 payloads per request.
    let mut generator = llmtap_cli::generate::Generator::new(11);
    let batch: Vec<Value> = (0..512).map(|_| generator.next_value()).collect();
    let body = serde_json::to_string(&batch).unwrap();
    assert!(body.len() > 5_000_000, "{} bytes", body.len());
    let (status, resp, _) = post(&sidecar, body, &[]).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["accepted"], 512);
    let mut uuids: Vec<String> = wait_for_events(&capture, 512)
        .iter()
        .map(|e| e["uuid"].as_str().unwrap().to_owned())
        .collect();
    uuids.sort();
    uuids.dedup();
    assert_eq!(uuids.len(), 512);
}

#[tokio::test]
async fn litellms_re_sent_payloads_are_dropped_as_duplicates() {
    let capture = CaptureServer::start();
    let sidecar = Sidecar::start(&capture, &["--flush-interval-ms", "50"]);
    let payloads: Vec<Value> = FIXTURES.iter().map(|f| fixture(f)).collect();
    let body = serde_json::to_string(&payloads).unwrap();
    let (_, first, _) = post(&sidecar, body.clone(), &[]).await;
    assert_eq!(
        (first["accepted"].as_u64(), first["duplicates"].as_u64()),
        (Some(3), Some(0))
    );
    // LiteLLM 1.106 re-sends its whole queue when a POST is slow.
    let (status, again, _) = post(&sidecar, body, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(3))
    );
    let twice_in_one = serde_json::to_string(&[
        another_call("openai_embedding", 1),
        another_call("openai_embedding", 1),
    ])
    .unwrap();
    let (_, within, _) = post(&sidecar, twice_in_one, &[]).await;
    assert_eq!(
        (within["accepted"].as_u64(), within["duplicates"].as_u64()),
        (Some(1), Some(1))
    );

    wait_for_events(&capture, 4);
    let metrics = sidecar
        .metrics_with("llmtap_events_delivered_total 4")
        .await;
    assert!(
        metrics.contains("llmtap_payloads_rejected_total{reason=\"duplicate\"} 4"),
        "{metrics}"
    );
    let (status, _) = sidecar.terminate();
    assert!(status.is_some_and(|s| s.success()));
    assert_eq!(events(&capture).len(), 4, "each call reached PostHog once");
}

#[test]
fn help_documents_every_option_with_its_default() {
    let out = Command::new(env!("CARGO_BIN_EXE_llmtap"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for line in help.lines().filter(|l| l.trim_start().starts_with("--")) {
        if !line.contains("--help") {
            assert!(line.contains("[default: "), "no default in: {line}");
        }
    }
}

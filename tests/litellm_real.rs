//! The real LiteLLM in front of `llmtap serve`, end to end.
//!
//! LiteLLM (pinned in `tests/litellm/requirements.txt`, installed into a venv
//! by `tests/litellm/setup.sh`) makes calls against a fake provider on
//! 127.0.0.1 (`tests/litellm/fake_provider.py`); its own `generic_api` logger
//! POSTs the standard logging payloads to `llmtap serve`, which ships events
//! to the test capture server. After SIGTERM, the events the capture server
//! received must carry the provider's usage exactly (cache read and write
//! with the 5m/1h split, reasoning), nothing that was not reported, and the
//! failures as errors.
//!
//! When the venv is missing the test builds it (PyPI needed). If that fails
//! the test fails, unless `LLMTAP_SKIP_LITELLM=1`, when it says why and skips.
//! Nothing but pip leaves 127.0.0.1: the driver refuses any other address.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{fixtures, CaptureServer, Proc, Sidecar};

/// The version `tests/litellm/requirements.txt` pins.
const LITELLM_VERSION: &str = "1.106.2";
/// A first install downloads ~60 packages.
const SETUP_TIMEOUT: Duration = Duration::from_secs(600);
/// The driver imports LiteLLM (~5 s) and makes 9 calls (~10 s in all).
const DRIVER_TIMEOUT: Duration = Duration::from_secs(120);
/// The static header LiteLLM's logger sends with every POST (`GENERIC_LOGGER_HEADERS`).
const STATIC_HEADERS: &str = "x-posthog-property-e2e_suite=litellm-real";

/// Runs `tests/litellm/setup.sh` (a no-op when the venv is ready) and
/// returns the venv's python, or why it cannot be had.
fn litellm_python() -> Result<PathBuf, String> {
    let venv =
        std::env::var("LLMTAP_LITELLM_VENV").unwrap_or_else(|_| "target/litellm-venv".into());
    let venv = fixtures::at_root(&venv);
    let mut cmd = Command::new("bash");
    cmd.arg(fixtures::at_root("tests/litellm/setup.sh"))
        .current_dir(fixtures::workspace_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut setup = Proc::spawn("tests/litellm/setup.sh", &mut cmd);
    let out = setup.collect_stdout();
    let err = setup.collect_stderr();
    let status = setup.wait_for(SETUP_TIMEOUT);
    let log = format!("{}{}", out.finish(), err.finish());
    eprint!("{log}");
    match status {
        Some(s) if s.success() => Ok(venv.join("bin/python")),
        Some(s) => Err(format!("tests/litellm/setup.sh failed ({s}):\n{log}")),
        None => Err(format!(
            "tests/litellm/setup.sh took over {SETUP_TIMEOUT:?}:\n{log}"
        )),
    }
}

/// Runs the driver; returns its summary.
fn drive(python: &Path, endpoint: &str, work: &Path) -> Value {
    let summary = work.join("summary.json");
    let mut cmd = Command::new(python);
    cmd.arg(fixtures::at_root("tests/litellm/drive.py"))
        .arg("--endpoint")
        .arg(endpoint)
        .arg("--summary")
        .arg(&summary)
        .arg("--dump")
        .arg(work.join("posts"))
        .current_dir(work)
        .env("GENERIC_LOGGER_HEADERS", STATIC_HEADERS)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("GENERIC_LOGGER_ENDPOINT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut driver = Proc::spawn("tests/litellm/drive.py", &mut cmd);
    let stderr = driver.collect_stderr();
    let status = driver.wait_for(DRIVER_TIMEOUT);
    let stderr = stderr.finish();
    let summary: Value = std::fs::read(&summary)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| panic!("the driver wrote no summary ({status:?}):\n{stderr}"));
    assert!(
        status.is_some_and(|s| s.success()),
        "the driver failed ({status:?}): {:#}\n{stderr}",
        summary["problems"]
    );
    summary
}

/// The properties of every event the capture server accepted, by `$ai_trace_id`.
fn events_by_trace(capture: &CaptureServer) -> (usize, BTreeMap<String, Value>) {
    let mut count = 0;
    let mut by_trace = BTreeMap::new();
    for request in capture.requests().iter().filter(|r| r.accepted()) {
        let batch = request.body.as_ref().and_then(|b| b["batch"].as_array());
        for event in batch.into_iter().flatten() {
            count += 1;
            assert_eq!(event["event"], "$ai_generation", "{event:#}");
            let trace = event["properties"]["$ai_trace_id"]
                .as_str()
                .unwrap_or_else(|| panic!("no $ai_trace_id: {event:#}"))
                .to_owned();
            assert!(
                by_trace.insert(trace.clone(), event.clone()).is_none(),
                "two events for {trace}"
            );
        }
    }
    (count, by_trace)
}

/// Token properties an event must carry, and must not carry beyond them.
const TOKEN_PROPS: [&str; 8] = [
    "$ai_input_tokens",
    "$ai_output_tokens",
    "$ai_cache_read_input_tokens",
    "$ai_cache_creation_input_tokens",
    "$ai_cache_creation_5m_input_tokens",
    "$ai_cache_creation_1h_input_tokens",
    "$ai_reasoning_tokens",
    "$ai_cache_reporting_exclusive",
];

/// Asserts `event`'s token properties are exactly `expected` (absent ones absent).
fn assert_tokens(trace: &str, event: &Value, expected: Value) {
    let props = &event["properties"];
    for name in TOKEN_PROPS {
        assert_eq!(
            props.get(name),
            expected.get(name),
            "{trace}: {name}\nevent: {props:#}"
        );
    }
}

fn openai_cache_reasoning() -> Value {
    json!({
        "$ai_input_tokens": 4000, "$ai_output_tokens": 900,
        "$ai_cache_read_input_tokens": 3584, "$ai_reasoning_tokens": 640,
        "$ai_cache_reporting_exclusive": false,
    })
}

fn anthropic_cache_split() -> Value {
    json!({
        "$ai_input_tokens": 23427, "$ai_output_tokens": 400,
        "$ai_cache_read_input_tokens": 18000, "$ai_cache_creation_input_tokens": 5424,
        "$ai_cache_creation_5m_input_tokens": 1424, "$ai_cache_creation_1h_input_tokens": 4000,
        // LiteLLM zero-fills Anthropic's reasoning: carried, so reported.
        "$ai_reasoning_tokens": 0,
        "$ai_cache_reporting_exclusive": false,
    })
}

fn skip_or_fail(reason: &str) {
    if std::env::var("LLMTAP_SKIP_LITELLM").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED the real-LiteLLM test (LLMTAP_SKIP_LITELLM=1): {reason}");
        return;
    }
    panic!(
        "the real-LiteLLM test cannot run: {reason}\n\
         (set LLMTAP_SKIP_LITELLM=1 to skip it where PyPI is out of reach)"
    );
}

#[test]
fn real_litellm_generic_logger_through_serve_to_capture() {
    let started = Instant::now();
    let python = match litellm_python() {
        Ok(python) => python,
        Err(reason) => return skip_or_fail(&reason),
    };
    let work = tempfile::tempdir().expect("temp dir");
    let capture = CaptureServer::start();
    let sidecar = Sidecar::start(&capture, &[]);
    let endpoint = sidecar.url("/litellm");

    let summary = drive(&python, &endpoint, work.path());
    let (status, serve_log) = sidecar.terminate();
    assert!(
        status.is_some_and(|s| s.success()),
        "serve did not exit 0 after SIGTERM ({status:?}):\n{serve_log}"
    );

    // What LiteLLM did.
    assert_eq!(summary["litellm_version"], LITELLM_VERSION);
    assert_eq!(summary["blocked_network"], json!([]), "{summary:#}");
    assert_eq!(summary["logger"]["endpoint"], endpoint.as_str());
    let posts = summary["posts"].as_array().expect("posts");
    let shapes: Vec<(&str, u64)> = posts
        .iter()
        .map(|p| {
            (
                p["format"].as_str().unwrap(),
                p["entries"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shapes,
        [
            ("json_array", 5),
            ("ndjson", 2),
            ("single", 1),
            ("single", 1)
        ],
        "{posts:#?}"
    );
    for post in posts {
        assert_eq!(post["status"], 200, "serve refused a POST: {post:#}");
        let answer: Value = serde_json::from_str(post["response"].as_str().unwrap()).unwrap();
        assert_eq!(answer["accepted"], post["entries"], "{post:#}");
        assert_eq!(answer["rejected"], 0, "{post:#}");
    }

    // What reached PostHog.
    let (count, events) = events_by_trace(&capture);
    let traces: Vec<&str> = events.keys().map(String::as_str).collect();
    assert_eq!(count, 9, "events for {traces:?}\nserve:\n{serve_log}");
    for (trace, event) in &events {
        let props = &event["properties"];
        // The static header from GENERIC_LOGGER_HEADERS, on every event.
        assert_eq!(props["e2e_suite"], "litellm-real", "{trace}");
        let provider = if trace.contains("openai") {
            "openai"
        } else {
            "anthropic"
        };
        assert_eq!(props["$ai_provider"], provider, "{trace}");
        let streamed = trace.ends_with("-stream");
        assert_eq!(
            props["$ai_stream"] == json!(true),
            streamed,
            "{trace}: {props:#}"
        );
        assert_eq!(
            props.get("$ai_time_to_first_token").is_some(),
            streamed,
            "{trace}: {props:#}"
        );
        let failed = trace.contains("fail_429");
        assert_eq!(
            props["$ai_is_error"] == json!(true),
            failed,
            "{trace}: {props:#}"
        );
        if failed {
            assert_eq!(props["$ai_http_status"], 429, "{trace}: {props:#}");
            assert!(
                props["$ai_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("Rate limit")),
                "{trace}: {props:#}"
            );
            assert!(props.get("$ai_total_cost_usd").is_none(), "{trace}");
        } else {
            assert!(
                props.get("$ai_http_status").is_none_or(|s| s == 200),
                "{trace}"
            );
            assert!(
                props["$ai_total_cost_usd"]
                    .as_f64()
                    .is_some_and(|c| c > 0.0),
                "{trace}: LiteLLM priced it, so the event must carry the cost\n{props:#}"
            );
        }
    }

    let event = |trace: &str| {
        events
            .get(trace)
            .unwrap_or_else(|| panic!("no event for {trace}; got {traces:?}"))
    };
    // OpenAI: cached ⊂ prompt, reasoning ⊂ completion, non-streamed and streamed.
    for trace in [
        "e2e-0-openai_cache_reasoning",
        "e2e-5-openai_cache_reasoning-stream",
    ] {
        let e = event(trace);
        assert_tokens(trace, e, openai_cache_reasoning());
        assert_eq!(e["properties"]["$ai_model"], "o3-mini", "{trace}");
    }
    // OpenAI without details: no cache or reasoning properties at all.
    for trace in ["e2e-1-openai_plain", "e2e-8-openai_plain"] {
        assert_tokens(
            trace,
            event(trace),
            json!({"$ai_input_tokens": 12, "$ai_output_tokens": 5,
                   "$ai_cache_reporting_exclusive": false}),
        );
    }
    // Anthropic: input = 3 uncached + 18000 read + 5424 written (1424 5m + 4000 1h).
    for trace in [
        "e2e-2-anthropic_cache_split",
        "e2e-6-anthropic_cache_split-stream",
    ] {
        let e = event(trace);
        assert_tokens(trace, e, anthropic_cache_split());
        assert_eq!(
            e["properties"]["$ai_model"], "claude-sonnet-4-5-20250929",
            "{trace}"
        );
    }
    // Anthropic without cache fields: LiteLLM zero-fills them, which reads as
    // the misses the real API reports on every response (0 read, 0 write).
    assert_tokens(
        "e2e-3-anthropic_plain",
        event("e2e-3-anthropic_plain"),
        json!({"$ai_input_tokens": 50, "$ai_output_tokens": 25,
               "$ai_cache_read_input_tokens": 0, "$ai_cache_creation_input_tokens": 0,
               "$ai_reasoning_tokens": 0,
               "$ai_cache_reporting_exclusive": false}),
    );
    // Failures: no usage at all, not zeros.
    for trace in ["e2e-4-anthropic_fail_429", "e2e-7-openai_fail_429"] {
        assert_tokens(trace, event(trace), json!({}));
    }
    // Per-request headers (metadata.requester_custom_headers, filled by
    // litellm-enterprise from the proxy request): properties and flags, but
    // no overriding token counts.
    let props = &event("e2e-2-anthropic_cache_split")["properties"];
    assert_eq!(props["feature"], "checkout", "{props:#}");
    assert_eq!(props["$feature/new-ui"], "variant-b", "{props:#}");
    assert_eq!(props["$ai_input_tokens"], 23427, "{props:#}");
    assert!(event("e2e-6-anthropic_cache_split-stream")["properties"]
        .get("feature")
        .is_none());

    eprintln!(
        "real LiteLLM {LITELLM_VERSION}: 9 calls, 4 POSTs, 9 events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The payloads LiteLLM posted, kept in `tests/fixtures/litellm-real/`, give
/// the same events without Python (this runs everywhere).
#[test]
fn recorded_litellm_payloads_give_the_same_events() {
    use llmtap::{build_event, EventOptions, HeaderProperties, Payload};
    let dir = fixtures::project_dir().join("litellm-real");
    let cases = [
        (
            "anthropic_cache_split_5m_1h_headers.jsonl",
            anthropic_cache_split(),
        ),
        (
            "openai_stream_cache_reasoning.jsonl",
            openai_cache_reasoning(),
        ),
    ];
    for (file, expected) in cases {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let payload = Payload::from_slice(bytes.trim_ascii_end()).unwrap();
        let event = build_event(
            &payload,
            &HeaderProperties::default(),
            &EventOptions::default(),
        )
        .unwrap();
        let event = serde_json::to_value(&event).unwrap();
        assert_tokens(file, &event, expected);
        let props = &event["properties"];
        assert_eq!(props["$ai_is_error"], Value::Null, "{file}");
        assert_eq!(props["$ai_stream"] == json!(true), file.contains("stream"));
        if file.starts_with("anthropic") {
            assert_eq!(props["feature"], "checkout", "{props:#}");
            assert_eq!(props["$feature/new-ui"], "variant-b", "{props:#}");
        }
    }
}

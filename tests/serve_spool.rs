//! `llmtap serve --spool-dir`: what the sidecar acknowledged survives
//! `kill -9`, a restart re-sends only what was not delivered, a full spool
//! answers 503, and a stop with the capture API down is prompt and clean.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{CaptureServer, Sidecar, PATIENCE};

/// `n` distinct calls (distinct `litellm_call_id`s, so distinct uuids).
fn calls(from: usize, n: usize) -> Vec<Value> {
    let base = support::fixture_json("litellm-1.106", "openai_cache_read_and_reasoning");
    (from..from + n)
        .map(|i| {
            let mut v = base.clone();
            v["litellm_call_id"] = json!(format!("spool-call-{i}"));
            v["id"] = json!(format!("spool-call-{i}"));
            v
        })
        .collect()
}

async fn post(sidecar: &Sidecar, body: &[Value]) -> (u16, Value, Option<String>) {
    let resp = reqwest::Client::new()
        .post(sidecar.url("/litellm"))
        .body(serde_json::to_string(body).unwrap())
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, body, retry_after)
}

fn spooled(capture: &CaptureServer, dir: &std::path::Path, extra: &[&str]) -> Sidecar {
    let mut args = vec![
        "--spool-dir",
        dir.to_str().unwrap(),
        "--flush-interval-ms",
        "20",
        "--batch-size",
        "16",
    ];
    args.extend_from_slice(extra);
    Sidecar::start(capture, &args)
}

/// Every uuid the capture server took, checking none came twice.
fn delivered_once(capture: &CaptureServer) -> BTreeSet<String> {
    let uuids = capture.received_uuids();
    let set: BTreeSet<String> = uuids.iter().cloned().collect();
    assert_eq!(set.len(), uuids.len(), "an event was delivered twice");
    set
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_loses_no_acknowledged_event_and_a_restart_sends_each_once() {
    let capture = CaptureServer::start();
    let dir = tempfile::tempdir().unwrap();

    // Delivered before the crash: these must not be sent again.
    let sidecar = spooled(&capture, dir.path(), &[]);
    let (status, resp, _) = post(&sidecar, &calls(0, 40)).await;
    assert_eq!(
        (status, resp["accepted"].as_u64()),
        (200, Some(40)),
        "{resp}"
    );
    assert!(capture.wait_for_events(40, PATIENCE));
    // Removed from the spool once delivered.
    let metrics = sidecar.metrics_with("llmtap_queue_length 0").await;
    assert!(metrics.contains("llmtap_queue_length 0"), "{metrics}");

    // Acknowledged while the capture API refuses connections, then SIGKILL.
    capture.refuse_connections();
    let mut acknowledged = 0;
    for round in 0..5 {
        let (status, resp, _) = post(&sidecar, &calls(100 + round * 50, 50)).await;
        assert_eq!(status, 200, "{resp}");
        acknowledged += resp["accepted"].as_u64().unwrap();
    }
    assert_eq!(acknowledged, 250);
    let stderr = sidecar.kill();

    capture.accept_connections();
    let restarted = spooled(&capture, dir.path(), &[]);
    assert!(
        capture.wait_for_events(290, PATIENCE),
        "after the restart only {} of 290 events arrived; first run's stderr:\n{stderr}",
        capture.received_uuids().len()
    );
    // A moment for anything sent twice to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = delivered_once(&capture);
    assert_eq!(got.len(), 290);
    let (status, stderr) = restarted.terminate();
    assert!(status.is_some_and(|s| s.success()), "{stderr}");
    assert!(stderr.contains("0 stay spooled"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_with_the_api_down_exits_promptly_with_0_and_says_what_stays_spooled() {
    let capture = CaptureServer::start();
    capture.refuse_connections();
    let dir = tempfile::tempdir().unwrap();
    let sidecar = spooled(&capture, dir.path(), &["--shutdown-timeout-secs", "60"]);
    let (status, _, _) = post(&sidecar, &calls(0, 30)).await;
    assert_eq!(status, 200);
    let started = Instant::now();
    let (status, stderr) = sidecar.terminate();
    assert!(status.is_some_and(|s| s.success()), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?} of a 60 s timeout",
        started.elapsed()
    );
    assert!(stderr.contains("30 stay spooled"), "{stderr}");

    // The next start delivers them.
    capture.accept_connections();
    let sidecar = spooled(&capture, dir.path(), &[]);
    assert!(capture.wait_for_events(30, PATIENCE));
    assert_eq!(delivered_once(&capture).len(), 30);
    drop(sidecar);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_spool_answers_503_with_retry_after_and_keeps_what_it_took() {
    let capture = CaptureServer::start();
    capture.refuse_connections();
    let dir = tempfile::tempdir().unwrap();
    let sidecar = spooled(&capture, dir.path(), &["--spool-bytes", "100000"]);
    let mut accepted = 0;
    let mut refused = None;
    for round in 0..50 {
        let (status, resp, retry_after) = post(&sidecar, &calls(round * 10, 10)).await;
        match status {
            200 => accepted += resp["accepted"].as_u64().unwrap(),
            503 => {
                refused = Some((resp, retry_after));
                break;
            }
            other => panic!("unexpected {other}: {resp}"),
        }
    }
    let (resp, retry_after) = refused.expect("the spool filled up");
    assert_eq!(resp["error"], "spool is full");
    assert!(retry_after.is_some(), "503 without Retry-After");
    assert!(accepted > 0);

    capture.accept_connections();
    assert!(capture.wait_for_events(accepted as usize, PATIENCE));
    assert_eq!(delivered_once(&capture).len() as u64, accepted);
    drop(sidecar);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_signal_exits_at_once() {
    let capture = CaptureServer::start();
    capture.refuse_connections();
    // No spool: the first signal waits for delivery up to the timeout...
    let sidecar = Sidecar::start(&capture, &["--shutdown-timeout-secs", "60"]);
    let (status, _, _) = post(&sidecar, &calls(0, 3)).await;
    assert_eq!(status, 200);
    sidecar.signal("-TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ...and the second one does not.
    let started = Instant::now();
    sidecar.signal("-TERM");
    let (status, stderr) = sidecar.wait(PATIENCE);
    assert!(started.elapsed() < Duration::from_secs(5), "{stderr}");
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{stderr}");
    assert!(stderr.contains("second signal"), "{stderr}");
}

#[test]
fn a_spool_without_an_api_key_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let err = Sidecar::spawn(&[], &["--spool-dir", dir.path().to_str().unwrap()]).err();
    let err = err.expect("serve must refuse to start");
    assert!(err.contains("--spool-dir needs an API key"), "{err}");
}

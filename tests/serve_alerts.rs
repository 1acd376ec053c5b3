//! Cache alerts from `llmtap serve`: the alert's event reaches the capture
//! API with the calls', is counted in /metrics, and logged as a warning.

mod support;

use serde_json::Value;
use support::{anthropic_call, CaptureServer, Sidecar, PATIENCE};

/// POSTs `calls` as one LiteLLM batch; the answer, which must be 200.
async fn post(sidecar: &Sidecar, calls: Vec<Value>) -> Value {
    let resp = reqwest::Client::new()
        .post(sidecar.url("/litellm"))
        .body(Value::from(calls).to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    serde_json::from_str(&resp.text().await.unwrap()).unwrap()
}

/// Ten calls reading 18 000 of 23 427, then fifteen reading nothing.
fn regression() -> Vec<Value> {
    (0..25)
        .map(|n| anthropic_call(n, if n < 10 { 18000 } else { 0 }))
        .collect()
}

#[tokio::test]
async fn a_hit_ratio_drop_reaches_posthog_metrics_and_the_log() {
    let capture = CaptureServer::start();
    let sidecar = Sidecar::start(&capture, &["--flush-interval-ms", "50"]);
    let answer = post(&sidecar, regression()).await;
    assert_eq!(answer["accepted"], 25, "calls, not alerts: {answer}");

    // 25 calls, a hit_ratio_drop and a silent_misses alert.
    assert!(
        capture.wait_for_events(27, PATIENCE),
        "the alert events did not arrive"
    );
    let events = capture.accepted_events();
    let alerts: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "llmtap_cache_alert")
        .collect();
    let kinds: Vec<&str> = alerts
        .iter()
        .map(|e| e["properties"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["hit_ratio_drop", "silent_misses"]);
    let drop = alerts[0];
    assert_eq!(drop["properties"]["calls"], 13);
    assert_eq!(drop["distinct_id"], drop["properties"]["cache_prefix_id"]);

    let metrics = sidecar
        .metrics_with("llmtap_cache_alerts_total{kind=\"hit_ratio_drop\"} 1")
        .await;
    assert!(
        metrics.contains("llmtap_cache_alerts_total{kind=\"silent_misses\"} 1"),
        "{metrics}"
    );
    let log = sidecar.kill();
    assert!(log.contains("hit_ratio_drop"), "a warning per alert: {log}");
}

#[tokio::test]
async fn alerts_reach_the_webhook_whose_url_stays_secret() {
    let capture = CaptureServer::start();
    // The capture server records any POST to /batch/; the query is the "token".
    let hook = format!("{}/batch/?token=hook-secret-42", capture.url());
    let sidecar = Sidecar::start(
        &capture,
        &["--flush-interval-ms", "50", "--alert-webhook", &hook],
    );
    post(&sidecar, regression()).await;
    let posted = |r: &[support::Recorded]| -> Vec<String> {
        r.iter()
            .filter_map(|r| r.body.as_ref()?.get("text")?.as_str().map(str::to_owned))
            .collect()
    };
    assert!(
        capture.wait_until(PATIENCE, |r| posted(r).len() == 2),
        "the webhook got {:?}; serve said: {}",
        capture
            .requests()
            .iter()
            .map(|r| (r.path.clone(), r.status, r.body.clone()))
            .collect::<Vec<_>>(),
        sidecar.stderr()
    );
    let texts = posted(&capture.requests());
    assert!(
        texts[0].starts_with("llmtap cache alert hit_ratio_drop: "),
        "{texts:?}"
    );
    assert!(texts[1].contains("silent_misses"), "{texts:?}");
    let metrics = sidecar.metrics().await;
    let (status, log) = sidecar.terminate();
    assert!(status.is_some_and(|s| s.success()), "{log}");
    for place in [&log, &metrics] {
        assert!(!place.contains("hook-secret-42"), "the URL leaked: {place}");
    }
}

#[tokio::test]
async fn a_resent_miss_is_dropped_before_the_cache_state_judges_it_again() {
    let capture = CaptureServer::start();
    let sidecar = Sidecar::start(&capture, &["--flush-interval-ms", "50"]);
    // One call writes the prefix; the next, a minute later, reads nothing:
    // one silent miss. LiteLLM 1.106 re-sends its queue when a POST is slow:
    // the second call four more times. Judged each time, that would be five
    // silent misses and a `silent_misses` alert.
    post(&sidecar, vec![anthropic_call(0, 0)]).await;
    for _ in 0..5 {
        post(&sidecar, vec![anthropic_call(1, 0)]).await;
    }
    let dups = "llmtap_payloads_rejected_total{reason=\"duplicate\"} 4";
    let metrics = sidecar.metrics_with(dups).await;
    assert!(metrics.contains(dups), "{metrics}");
    let silent = r#"llmtap_cache_misses_total{provider="anthropic",model="claude-sonnet-4-5-20250929",kind="silent"} 1"#;
    assert!(metrics.contains(silent), "{metrics}");
    assert!(
        !metrics.contains("llmtap_cache_alerts_total{kind=\"silent_misses\"}"),
        "re-sends were judged again: {metrics}"
    );
}

//! `llmtap serve` against clients that are wrong, hostile or slow: the real
//! binary, small limits set by flag, a few connections at a time.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{CaptureServer, Sidecar, PATIENCE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "abuse-test-token-0123456789";

fn call(n: usize) -> Value {
    let mut v = support::fixture_json("litellm-1.106", "openai_embedding");
    v["litellm_call_id"] = Value::from(format!("abuse-{n}"));
    v
}

fn batch(n: usize) -> String {
    Value::from((0..n).map(call).collect::<Vec<_>>()).to_string()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Status, the body as JSON (`Null` when it is not JSON) and its raw text.
async fn send(req: reqwest::RequestBuilder) -> (u16, Value, String) {
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

fn post(sidecar: &Sidecar, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(sidecar.url("/litellm"))
        .body(body)
}

fn delivered(capture: &CaptureServer, n: usize) -> bool {
    capture.wait_for_events(n, PATIENCE)
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let capture = CaptureServer::start();
    let sidecar = Sidecar::start(&capture, &["--auth-token", TOKEN]);
    for (n, scheme) in ["bearer", "BEARER", "Bearer"].iter().enumerate() {
        let req = post(&sidecar, call(n).to_string())
            .header("authorization", format!("{scheme} {TOKEN}"));
        let (status, body, _) = send(req).await;
        assert_eq!(status, 200, "{scheme}: {body}");
    }
    let req = post(&sidecar, call(9).to_string()).header("authorization", format!("Basic {TOKEN}"));
    assert_eq!(send(req).await.0, 401, "another scheme");
}

#[test]
fn a_short_token_is_refused_at_start() {
    let err = Sidecar::spawn(&[], &["--auth-token", "short-token"])
        .err()
        .expect("refused");
    assert!(err.contains("at least 16 bytes"), "{err}");
}

#[tokio::test]
async fn a_wrong_token_is_answered_before_the_body_is_sent() {
    let capture = CaptureServer::start();
    let sidecar = Sidecar::start(&capture, &["--auth-token", TOKEN]);
    let mut stream = TcpStream::connect(sidecar.addr()).await.unwrap();
    // Headers only: a gigabyte announced, not a byte of it sent.
    let head =
        "POST /litellm HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong-token-0123456789\r\n\
                Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answered without the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("application/json"), "{answer}");
}

#[tokio::test]
async fn metrics_need_the_token_beyond_loopback_unless_public() {
    let capture = CaptureServer::start();
    let host = capture.url();
    let env = [
        ("POSTHOG_HOST", host.as_str()),
        ("POSTHOG_API_KEY", "phc_x"),
    ];
    let exposed = ["--listen", "0.0.0.0:0", "--auth-token", TOKEN];
    let sidecar = Sidecar::spawn(&env, &exposed).unwrap();
    let url = format!("http://127.0.0.1:{}/metrics", sidecar.addr().port());
    let client = reqwest::Client::new();
    assert_eq!(send(client.get(&url)).await.0, 401);
    let (status, _, text) = send(client.get(&url).bearer_auth(TOKEN)).await;
    assert_eq!(status, 200);
    assert!(text.contains("llmtap_events_accepted"));
    drop(sidecar);

    let public = Sidecar::spawn(&env, &[&exposed[..], &["--public-metrics"]].concat()).unwrap();
    let url = format!("http://127.0.0.1:{}/metrics", public.addr().port());
    assert_eq!(send(client.get(&url)).await.0, 200);
}

#[tokio::test]
async fn gzip_bodies_are_decoded_and_delivered_and_bombs_refused() {
    let capture = CaptureServer::start();
    let sidecar = Sidecar::start(
        &capture,
        &["--flush-interval-ms", "50", "--max-body-bytes", "1000000"],
    );
    let req = post(&sidecar, gzip(batch(3).as_bytes())).header("content-encoding", "gzip");
    let (status, body, _) = send(req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 3);
    assert!(delivered(&capture, 3), "the events arrive");

    // 64 MB of spaces in about 64 KB: refused once the cap is decoded.
    let bomb = gzip(&vec![b' '; 64 << 20]);
    assert!(bomb.len() < 1_000_000);
    let req = post(&sidecar, bomb).header("content-encoding", "gzip");
    let (status, body, _) = send(req).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].as_str().unwrap().contains("after decoding"));

    let req = post(&sidecar, b"not gzip at all".to_vec()).header("content-encoding", "gzip");
    let (status, body, _) = send(req).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn other_encodings_get_415() {
    let capture = CaptureServer::start();
    let sidecar = Sidecar::start(&capture, &[]);
    for encoding in ["br", "gzip, br", "deflate"] {
        let req = post(&sidecar, gzip(batch(1).as_bytes())).header("content-encoding", encoding);
        let (status, body, _) = send(req).await;
        assert_eq!(status, 415, "{encoding}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn a_bom_is_skipped_and_a_body_that_is_not_json_gets_400() {
    let capture = CaptureServer::start();
    let sidecar = Sidecar::start(&capture, &[]);
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend_from_slice(batch(2).as_bytes());
    let (status, body, _) = send(post(&sidecar, with_bom)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 2);

    for junk in ["hello", "42", "\"a string\""] {
        let (status, body, _) = send(post(&sidecar, junk)).await;
        assert_eq!(status, 400, "{junk}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn too_many_entries_get_413_and_nothing_is_accepted() {
    let capture = CaptureServer::start();
    let sidecar = Sidecar::start(&capture, &["--max-entries", "5"]);
    let (status, body, _) = send(post(&sidecar, batch(6))).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["accepted"], 0);
    let (status, _, _) = send(post(&sidecar, batch(5))).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn every_error_answer_is_json_and_short() {
    let capture = CaptureServer::start();
    let sidecar = Sidecar::start(&capture, &["--max-body-bytes", "100000"]);
    let client = reqwest::Client::new();
    for (req, expected) in [
        (client.get(sidecar.url("/nope")), 404),
        (client.get(sidecar.url("/litellm")), 405),
        (post(&sidecar, vec![b' '; 200_000]), 413),
    ] {
        let (status, body, text) = send(req).await;
        assert_eq!(status, expected, "{text}");
        assert!(body["error"].is_string(), "not JSON: {text}");
    }

    // Thirty long broken lines: twenty listed, each cut short.
    let line = format!("{{\"model\": \"{}\"\n", "x".repeat(2000));
    let (status, body, _) = send(post(&sidecar, line.repeat(30))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rejected"], 30);
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 20);
    assert!(
        errors.iter().all(|e| e.as_str().unwrap().len() <= 400),
        "{errors:?}"
    );
}

/// Sends `bytes` one a second until the server closes the connection;
/// returns how long that took.
async fn trickle(stream: TcpStream, bytes: &'static [u8]) -> Duration {
    let start = Instant::now();
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        for b in bytes {
            if write.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        std::future::pending::<()>().await;
    });
    let mut buf = [0; 1024];
    while let Ok(n) = read.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
    writer.abort();
    start.elapsed()
}

#[tokio::test]
async fn a_client_sending_headers_a_byte_a_second_is_cut_off() {
    let capture = CaptureServer::start();
    let sidecar = Sidecar::start(&capture, &["--header-timeout-ms", "1500"]);
    let stream = TcpStream::connect(sidecar.addr()).await.unwrap();
    let took = tokio::time::timeout(
        Duration::from_secs(10),
        trickle(stream, b"POST /litellm HTTP/1.1\r\nHost: slow.example\r\n"),
    )
    .await
    .expect("the header timeout closed the connection");
    assert!(took >= Duration::from_millis(1000), "{took:?}");
    // The server still answers everyone else.
    assert_eq!(
        send(reqwest::Client::new().get(sidecar.url("/healthz")))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn sigterm_with_slow_clients_open_exits_within_the_shutdown_timeout() {
    let capture = CaptureServer::start();
    // Timeouts longer than the test: only the shutdown timeout can end these clients.
    let sidecar = Sidecar::start(
        &capture,
        &[
            "--header-timeout-ms",
            "600000",
            "--body-timeout-ms",
            "600000",
            "--shutdown-timeout-secs",
            "2",
        ],
    );
    let mut clients = Vec::new();
    for _ in 0..4 {
        let stream = TcpStream::connect(sidecar.addr()).await.unwrap();
        clients.push(tokio::spawn(trickle(
            stream,
            b"POST /litellm HTTP/1.1\r\nHost: slow.example\r\n",
        )));
    }
    // And requests in flight: headers sent, the body a byte a second.
    for _ in 0..4 {
        let stream = TcpStream::connect(sidecar.addr()).await.unwrap();
        clients.push(tokio::spawn(trickle(
            stream,
            b"POST /litellm HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n[{\"a\": 1}",
        )));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let start = Instant::now();
    let (status, stderr) = sidecar.terminate();
    let took = start.elapsed();
    assert!(status.is_some(), "exited: {stderr}");
    assert!(took < Duration::from_secs(4), "took {took:?}: {stderr}");
    for client in clients {
        client.abort();
    }
}

#[tokio::test]
async fn model_series_are_capped_with_an_overflow_series() {
    let capture = CaptureServer::start();
    let sidecar = Sidecar::start(&capture, &["--flush-interval-ms", "50"]);
    let long = "m".repeat(300);
    let calls: Vec<Value> = (0..1500)
        .map(|n| {
            let mut v = call(n);
            v["model"] = json!(format!("model-{n}-{long}"));
            v
        })
        .collect();
    let (status, body, _) = send(post(&sidecar, Value::from(calls).to_string())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 1500);

    let metrics = sidecar.metrics().await;
    let series: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("llmtap_calls_total{"))
        .collect();
    let other: Vec<&&str> = series
        .iter()
        .filter(|l| l.contains("model=\"__other__\""))
        .collect();
    assert_eq!(series.len(), 1001, "1000 models and the overflow");
    assert_eq!(other.len(), 1);
    assert!(other[0].ends_with(" 500"), "{}", other[0]);
    assert!(metrics.contains("llmtap_metrics_folded_calls_total 500"));
    for line in &series {
        let model = line
            .split("model=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(model.len() <= 128, "{line}");
    }
}

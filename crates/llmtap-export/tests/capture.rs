//! The capture exporter against a real HTTP server on 127.0.0.1: delivery,
//! batching on the wire, retries and refusals. Each scenario checks the exact
//! set of uuids the server accepted.

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use llmtap::Sink;
use llmtap::SinkError;
use llmtap_export::DropReason;
use serde_json::json;
use support::clock::TestClock;
use support::{
    builder, event, event_with, filler, sorted, uuids, CaptureServer, Reply, ServerOptions,
    PATIENCE, TEST_KEY,
};

fn capture_all(client: &llmtap_export::CaptureClient, ids: std::ops::Range<u128>) {
    for i in ids {
        client.capture(event(i)).expect("accepted");
    }
}

#[tokio::test]
async fn delivers_every_event_once_in_order_gzipped() {
    let server = CaptureServer::start();
    // One batch at a time is the only way to promise order across batches.
    let client = builder(&server)
        .batch_size(100)
        .max_in_flight(1)
        .build()
        .unwrap();
    capture_all(&client, 0..250);
    let report = client.shutdown(PATIENCE).await;
    assert!(report.is_lossless(), "{report:?}");
    assert_eq!(report.delivered, 250);

    assert_eq!(server.received_uuids(), uuids(0..250), "exact, in order");
    let requests = server.requests();
    let sizes: Vec<usize> = requests.iter().map(|r| r.uuids.len()).collect();
    assert_eq!(sizes, [100, 100, 50]);
    for r in &requests {
        assert_eq!(r.path, "/batch/");
        assert!(r.gzip);
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let body = r.body.as_ref().unwrap();
        assert_eq!(body["api_key"], TEST_KEY);
        let sent_at = body["sent_at"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(sent_at).is_ok(),
            "{sent_at}"
        );
        assert_eq!(body["batch"][0]["event"], "$ai_generation");
    }
    let stats = client.stats();
    assert_eq!((stats.accepted, stats.sent, stats.pending), (250, 250, 0));
    assert_eq!((stats.batches, stats.requests, stats.retries), (3, 3, 0));
    assert!(stats.bytes_sent < stats.bytes_json, "{stats:?}");
    let wire: usize = requests.iter().map(|r| r.wire_bytes).sum();
    assert_eq!(stats.bytes_sent, wire as u64);
}

#[test]
fn gzip_can_be_switched_off_and_extra_headers_are_sent() {
    let server = CaptureServer::start();
    let client = builder(&server)
        .gzip(false)
        .header("x-proxy-token", "abc")
        .build()
        .unwrap();
    capture_all(&client, 0..3);
    assert!(client.shutdown_blocking(PATIENCE).is_lossless());
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert!(!requests[0].gzip);
    assert_eq!(requests[0].header("content-encoding"), None);
    assert_eq!(requests[0].header("x-proxy-token"), Some("abc"));
    let stats = client.stats();
    assert_eq!(stats.bytes_json, stats.bytes_sent);
    assert_eq!(sorted(server.received_uuids()), uuids(0..3));
}

#[tokio::test]
async fn a_user_supplied_http_client_is_used() {
    let server = CaptureServer::start();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-from-custom-client", "yes".parse().unwrap());
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let client = builder(&server).http_client(http).build().unwrap();
    capture_all(&client, 0..2);
    assert!(client.shutdown(PATIENCE).await.is_lossless());
    let requests = server.requests();
    assert_eq!(requests[0].header("x-from-custom-client"), Some("yes"));
    assert_eq!(sorted(server.received_uuids()), uuids(0..2));
}

#[tokio::test]
async fn batches_close_at_the_byte_budget() {
    let server = CaptureServer::start();
    // Each event is ~2.1 KB of JSON; 10 KB batches hold four of them.
    let client = builder(&server)
        .batch_bytes(10_000)
        .max_event_bytes(5_000)
        .max_in_flight(1)
        .build()
        .unwrap();
    for i in 0..10 {
        client
            .capture(event_with(i, json!({"$ai_input": filler(2_000)})))
            .unwrap();
    }
    assert!(client.shutdown(PATIENCE).await.is_lossless());
    let sizes: Vec<usize> = server.requests().iter().map(|r| r.uuids.len()).collect();
    assert_eq!(sizes, [4, 4, 2]);
    assert_eq!(sorted(server.received_uuids()), uuids(0..10));
}

#[tokio::test]
async fn retries_500_500_then_delivers_once() {
    let server = CaptureServer::start();
    server.script([Reply::status(500), Reply::status(500)]);
    let clock = TestClock::new();
    let client = builder(&server).clock(clock.clone()).build().unwrap();
    capture_all(&client, 0..10);
    let report = client.flush(PATIENCE).await;
    assert!(report.is_lossless(), "{report:?}");

    assert_eq!(sorted(server.received_uuids()), uuids(0..10));
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert_eq!(
            r.uuids,
            uuids(0..10),
            "same events, same uuids on every attempt"
        );
    }
    let statuses: Vec<_> = requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(500), Some(500), Some(200)]);
    assert_eq!(clock.sleeps().len(), 2);
    let stats = client.stats();
    assert_eq!((stats.requests, stats.retries, stats.batches), (3, 2, 1));
    assert_eq!(
        stats.dropped.total(),
        0,
        "a retry that succeeds is not a drop"
    );
}

#[tokio::test]
async fn honours_retry_after_seconds_and_http_date() {
    let server = CaptureServer::start();
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
    server.script([Reply::retry_after(429, "30"), Reply::retry_after(503, date)]);
    let clock = TestClock::new();
    let client = builder(&server)
        .clock(clock.clone())
        .max_backoff(Duration::from_secs(1))
        .retry_deadline(Duration::from_secs(600))
        .build()
        .unwrap();
    capture_all(&client, 0..5);
    assert!(client.flush(PATIENCE).await.is_lossless());

    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 2, "{sleeps:?}");
    assert!(sleeps[0] >= Duration::from_secs(30), "{sleeps:?}");
    // The date is whole seconds, so allow for the request's own time.
    assert!(sleeps[1] >= Duration::from_secs(110), "{sleeps:?}");
    assert_eq!(sorted(server.received_uuids()), uuids(0..5));
}

#[tokio::test]
async fn connection_refused_for_a_while_then_up() {
    let server = Arc::new(CaptureServer::start());
    server.refuse_connections();
    let clock = TestClock::new();
    let revive = server.clone();
    clock.on_sleep(move |n| {
        if n == 3 {
            revive.accept_connections();
        }
    });
    let client = builder(&server).clock(clock.clone()).build().unwrap();
    capture_all(&client, 0..20);
    let report = client.shutdown(PATIENCE).await;
    assert!(report.is_lossless(), "{report:?}");

    assert_eq!(sorted(server.received_uuids()), uuids(0..20));
    assert_eq!(
        server.request_count(),
        1,
        "refused attempts never reached it"
    );
    let stats = client.stats();
    assert_eq!((stats.requests, stats.retries), (4, 3));
}

#[tokio::test]
async fn a_slow_server_past_the_timeout_is_retried() {
    let server = CaptureServer::start();
    // The first answer would come long after the client's timeout.
    server.script([Reply::status(503).delayed(Duration::from_secs(30))]);
    let clock = TestClock::new();
    let client = builder(&server)
        .request_timeout(Duration::from_millis(200))
        .clock(clock.clone())
        .build()
        .unwrap();
    capture_all(&client, 0..4);
    let report = client.flush(PATIENCE).await;
    assert!(report.is_lossless(), "{report:?}");

    assert_eq!(sorted(server.received_uuids()), uuids(0..4));
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert!(!requests[0].accepted());
    assert_eq!(client.stats().retries, 1);
}

#[tokio::test]
async fn unauthorized_is_dropped_once_without_retry() {
    let server = CaptureServer::start_with(ServerOptions {
        api_key: Some("phc_the_right_key".into()),
        ..ServerOptions::default()
    });
    let clock = TestClock::new();
    let client = builder(&server).clock(clock.clone()).build().unwrap();
    capture_all(&client, 0..5);
    let report = client.flush(PATIENCE).await;
    assert!(report.is_complete());
    assert_eq!(report.delivered, 0);
    assert_eq!(report.dropped.get(DropReason::Rejected), 5);
    assert_eq!(report.dropped.total(), 5, "counted once, under one reason");

    assert_eq!(server.request_count(), 1, "401 is never retried");
    assert!(clock.sleeps().is_empty());
    assert!(server.received_uuids().is_empty());
    let rejection = client.stats().last_rejection.unwrap();
    assert_eq!((rejection.status, rejection.events), (Some(401), 5));
    assert!(
        rejection.message.contains("invalid API key"),
        "{rejection:?}"
    );
}

#[tokio::test]
async fn a_batch_refused_all_the_way_down_is_reported_with_the_servers_message() {
    let server = CaptureServer::start();
    // A 400 splits a batch until each event is alone: 7 events cost at most
    // 2 * 7 - 1 requests, all refused here.
    let refusal = Reply::status(400).body(json!({"detail": "mixed tokens in batch"}).to_string());
    server.script(std::iter::repeat_n(refusal, 13));
    let client = builder(&server).build().unwrap();
    capture_all(&client, 0..7);
    client.flush(PATIENCE).await;
    assert_eq!(server.request_count(), 13);
    capture_all(&client, 7..9);
    let report = client.shutdown(PATIENCE).await;

    assert_eq!(report.dropped.get(DropReason::Rejected), 7);
    assert_eq!(report.delivered, 2);
    assert_eq!(sorted(server.received_uuids()), uuids(7..9));
    let stats = client.stats();
    assert_eq!((stats.requests, stats.retries), (14, 0));
    let rejection = stats.last_rejection.unwrap();
    assert_eq!((rejection.status, rejection.events), (Some(400), 1));
    assert!(rejection.message.contains("mixed tokens"), "{rejection:?}");
    // Through the Sink trait a shutdown after drops is an error naming them.
    let err = Sink::shutdown(&client, PATIENCE).await.unwrap_err();
    assert!(
        matches!(
            err,
            SinkError::Dropped {
                count: 7,
                reason: DropReason::Rejected
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn invalid_events_are_refused_at_capture_and_never_fail_a_batch() {
    let server = CaptureServer::start();
    let client = builder(&server).build().unwrap();
    client.capture(event(0)).unwrap();
    let mut no_user = event(1);
    no_user.distinct_id = " ".into();
    assert!(client.capture(no_user).is_err());
    let mut blank_name = event(2);
    blank_name.event = "  ".into();
    assert!(client.capture(blank_name).is_err());
    let mut no_name = event(3);
    no_name.event.clear();
    assert!(client.capture(no_name).is_err());
    client.capture(event(4)).unwrap();

    let report = client.shutdown(PATIENCE).await;
    assert_eq!(report.dropped.get(DropReason::Invalid), 3);
    assert_eq!(report.delivered, 2);
    assert_eq!(sorted(server.received_uuids()), sorted(uuids([0, 4])));
    assert!(server.requests().iter().all(|r| r.status == Some(200)));
}

#[tokio::test]
async fn oversized_events_are_shrunk_or_dropped_never_sent_for_a_413() {
    let server = CaptureServer::start();
    let client = builder(&server).build().unwrap();
    let big_content = json!({"$ai_input": [{"role": "user", "content": filler(3_000_000)}]});
    client.capture(event_with(0, big_content)).unwrap();
    let big_custom = json!({"custom_blob": filler(3_000_000)});
    client.capture(event_with(1, big_custom)).unwrap();
    client.capture(event(2)).unwrap();

    let report = client.shutdown(PATIENCE).await;
    assert_eq!(report.delivered, 2);
    assert_eq!(report.dropped.get(DropReason::Oversized), 1);
    assert_eq!(sorted(server.received_uuids()), uuids([0, 2]));
    assert!(server.requests().iter().all(|r| r.status == Some(200)));
    let stats = client.stats();
    assert_eq!(stats.truncated, 1);
    let requests = server.requests();
    let sent = &requests[0].body.as_ref().unwrap()["batch"][0];
    assert!(sent.to_string().len() <= llmtap::DEFAULT_MAX_EVENT_BYTES);
}

#[tokio::test]
async fn a_413_splits_the_batch_and_drops_only_the_event_still_too_large() {
    let server = CaptureServer::start_with(ServerOptions {
        max_body_bytes: 2_000,
        max_event_bytes: 1_000,
        ..ServerOptions::default()
    });
    let clock = TestClock::new();
    let client = builder(&server)
        .clock(clock.clone())
        .max_in_flight(1)
        .build()
        .unwrap();
    for i in 0..20 {
        let e = if i == 13 {
            event_with(i, json!({"blob": filler(1_200)}))
        } else {
            event(i)
        };
        client.capture(e).unwrap();
    }
    let report = client.flush(PATIENCE).await;
    assert!(report.is_complete());
    assert_eq!(report.delivered, 19);
    assert_eq!(report.dropped.get(DropReason::Rejected), 1);

    let expected: Vec<u128> = (0..20).filter(|&i| i != 13).collect();
    assert_eq!(server.received_uuids(), uuids(expected), "order kept");
    let rejection = client.stats().last_rejection.unwrap();
    assert_eq!((rejection.status, rejection.events), (Some(413), 1));
    assert!(clock.sleeps().is_empty(), "a 413 is never retried as is");
    assert!(server
        .requests()
        .iter()
        .all(|r| r.status == Some(200) || r.status == Some(413)));
}

#[tokio::test]
async fn a_batch_still_failing_at_its_deadline_is_dropped_and_counted() {
    let server = CaptureServer::start();
    server.script(std::iter::repeat_with(|| Reply::status(502)).take(1000));
    let clock = TestClock::new();
    let client = builder(&server)
        .clock(clock.clone())
        .initial_backoff(Duration::from_secs(1))
        .max_backoff(Duration::from_secs(4))
        .retry_deadline(Duration::from_secs(20))
        .build()
        .unwrap();
    capture_all(&client, 0..6);
    let report = client.flush(PATIENCE).await;
    assert!(report.is_complete());
    assert_eq!(report.dropped.get(DropReason::RetriesExhausted), 6);
    assert!(server.received_uuids().is_empty());
    let waited: Duration = clock.sleeps().iter().sum();
    assert!(waited <= Duration::from_secs(20), "{waited:?}");
    assert_eq!(client.stats().requests, clock.sleeps().len() as u64 + 1);
}

#[test]
fn a_partial_batch_goes_out_after_the_flush_interval() {
    let server = CaptureServer::start();
    // The one test that lets the worker's real timer close a batch.
    let client = builder(&server)
        .flush_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    capture_all(&client, 0..3);
    assert!(server.wait_until(PATIENCE, |log| log.iter().any(|r| r.accepted())));
    assert_eq!(sorted(server.received_uuids()), uuids(0..3));
    assert!(client.shutdown_blocking(PATIENCE).is_lossless());
}

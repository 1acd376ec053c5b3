//! Several batches in flight at once, and a 400 that isolates the one bad
//! event, against a real HTTP server on 127.0.0.1. Order across batches is
//! not promised, so uuids are compared as sorted lists: every event exactly
//! once, no duplicates.

mod support;

use std::time::{Duration, Instant};

use llmtap_export::{CaptureClient, DropReason};
use support::clock::TestClock;
use support::{builder, event, sorted, uuids, CaptureServer, Gate, Reply, ServerOptions, PATIENCE};

/// Long enough for a request the client could send to reach the server.
const SETTLE: Duration = Duration::from_millis(300);

fn capture_all(client: &CaptureClient, ids: std::ops::Range<u128>) {
    for i in ids {
        client.capture(event(i)).expect("accepted");
    }
}

/// Requests the server holds (recorded, not answered yet).
fn held(server: &CaptureServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.status.is_none())
        .count()
}

#[test]
fn up_to_max_in_flight_batches_are_sent_at_once() {
    for max_in_flight in [1, 4] {
        let server = CaptureServer::start();
        let gate = Gate::new();
        server.script((0..10).map(|_| Reply::normal().gated(&gate)));
        let client = builder(&server)
            .batch_size(10)
            .max_in_flight(max_in_flight)
            .build()
            .unwrap();
        capture_all(&client, 0..100);

        assert!(server.wait_for_requests(max_in_flight, PATIENCE));
        // No more than the bound, however long they are held.
        assert!(!server.wait_for_requests(max_in_flight + 1, SETTLE));
        assert_eq!(
            held(&server),
            max_in_flight,
            "max_in_flight={max_in_flight}"
        );

        gate.open();
        let report = client.shutdown_blocking(PATIENCE);
        assert!(report.is_lossless(), "{report:?}");
        assert_eq!(report.delivered, 100);
        assert_eq!(sorted(server.received_uuids()), uuids(0..100));
        let stats = client.stats();
        assert_eq!((stats.requests, stats.batches, stats.retries), (10, 10, 0));
    }
}

#[test]
fn slow_batches_overlap_and_every_event_lands_once() {
    let server = CaptureServer::start();
    let slow = Duration::from_millis(100);
    server.script((0..20).map(|_| Reply::normal().delayed(slow)));
    let client = builder(&server).batch_size(10).build().unwrap();
    let started = Instant::now();
    capture_all(&client, 0..200);
    assert!(server.wait_until(PATIENCE, |log| log
        .iter()
        .filter(|r| r.status.is_none())
        .count()
        > 1));
    let report = client.shutdown_blocking(PATIENCE);
    assert!(report.is_lossless(), "{report:?}");
    assert_eq!(sorted(server.received_uuids()), uuids(0..200));
    // 20 requests of 100 ms, four at a time: well under the 2 s of one at a time.
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn retries_of_one_batch_do_not_hold_up_the_others_nor_duplicate() {
    let server = CaptureServer::start();
    let clock = TestClock::new();
    // Whichever batches draw these retry; each event still lands once.
    server.script([Reply::status(500), Reply::status(503), Reply::status(500)]);
    let client = builder(&server)
        .batch_size(5)
        .clock(clock.clone())
        .build()
        .unwrap();
    capture_all(&client, 0..50);
    let report = client.shutdown_blocking(PATIENCE);
    assert!(report.is_lossless(), "{report:?}");
    assert_eq!(sorted(server.received_uuids()), uuids(0..50));
    let stats = client.stats();
    assert_eq!((stats.requests, stats.retries), (13, 3));
    assert_eq!(clock.sleeps().len(), 3);
}

#[tokio::test]
async fn a_400_isolates_the_invalid_event_and_delivers_the_rest() {
    let bad = uuids([37]).remove(0);
    let server = CaptureServer::start_with(ServerOptions {
        invalid_uuids: vec![bad.clone()],
        ..ServerOptions::default()
    });
    let client = builder(&server).batch_size(100).build().unwrap();
    capture_all(&client, 0..100);
    let report = client.shutdown(PATIENCE).await;

    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.delivered, 99);
    assert_eq!(report.dropped.get(DropReason::Rejected), 1);
    assert_eq!(report.dropped.total(), 1);
    let expected: Vec<u128> = (0..100).filter(|&i| i != 37).collect();
    assert_eq!(sorted(server.received_uuids()), uuids(expected));
    // Halving: the batch, then two halves per level down to the one event.
    let requests = server.request_count();
    assert!(requests <= 1 + 2 * 7, "{requests} requests");
    let refused_alone = server
        .requests()
        .into_iter()
        .filter(|r| r.status == Some(400) && r.uuids == [bad.clone()])
        .count();
    assert_eq!(refused_alone, 1);
    let rejection = client.stats().last_rejection.unwrap();
    assert_eq!((rejection.status, rejection.events), (Some(400), 1));
    assert!(rejection.message.contains(&bad), "{rejection:?}");
}

#[test]
fn a_server_that_400s_everything_costs_2n_minus_1_requests_and_ends() {
    let server = CaptureServer::start_with(ServerOptions {
        invalid_uuids: uuids(0..64),
        ..ServerOptions::default()
    });
    let client = builder(&server).batch_size(64).build().unwrap();
    capture_all(&client, 0..64);
    let report = client.shutdown_blocking(PATIENCE);
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.dropped.get(DropReason::Rejected), 64);
    assert_eq!(report.delivered, 0);
    assert_eq!(server.request_count(), 2 * 64 - 1);
    assert_eq!(client.stats().retries, 0, "a 400 is never resent as is");
}

#[test]
fn shutdown_with_slow_batches_in_flight_keeps_to_its_timeout() {
    let server = CaptureServer::start();
    let gate = Gate::new();
    server.script((0..6).map(|_| Reply::normal().gated(&gate)));
    let client = builder(&server)
        .batch_size(10)
        .max_in_flight(4)
        .build()
        .unwrap();
    capture_all(&client, 0..60);
    assert!(server.wait_for_requests(4, PATIENCE));

    let started = Instant::now();
    let report = client.shutdown_blocking(Duration::from_millis(200));
    let took = started.elapsed();
    // The timeout, plus the client's 250 ms of grace for bookkeeping.
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(report.timed_out);
    assert!(report.is_complete(), "every event is settled: {report:?}");
    assert_eq!(report.delivered, 0);
    assert_eq!(report.dropped.get(DropReason::ShutdownTimeout), 60);
    assert_eq!(report.dropped.total(), 60, "each event counted once");
    let stats = client.stats();
    assert_eq!((stats.accepted, stats.pending), (60, 0));
    gate.open();
    assert!(server.received_uuids().is_empty());
}

#[tokio::test]
async fn flush_waits_for_every_batch_in_flight_and_keeps_later_events() {
    let server = CaptureServer::start();
    let gate = Gate::new();
    // The first batch is held; later ones land at once, before it.
    server.script([Reply::normal().gated(&gate)]);
    let client = builder(&server).batch_size(10).build().unwrap();
    capture_all(&client, 0..10);
    assert!(server.wait_for_requests(1, PATIENCE));
    capture_all(&client, 10..35);
    let flush = client.flush(PATIENCE);
    capture_all(&client, 35..40);
    assert!(
        server.wait_until(PATIENCE, |log| log.iter().filter(|r| r.accepted()).count()
            >= 3)
    );
    let pending = client.stats().pending;
    assert!(pending >= 10, "the held batch is still pending: {pending}");

    gate.open();
    let report = flush.await;
    assert!(report.is_complete(), "{report:?}");
    assert!(report.delivered >= 35, "{report:?}");
    let report = client.shutdown(PATIENCE).await;
    assert!(report.is_lossless(), "{report:?}");
    assert_eq!(sorted(server.received_uuids()), uuids(0..40));
}

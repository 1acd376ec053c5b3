//! The capture exporter's lifecycle: full queues under each policy, flush
//! and shutdown from every kind of caller, and the regressions other
//! exporters shipped (events lost during a flush, last batch lost at
//! shutdown, flush hanging a current-thread runtime).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use llmtap::{Sink, SinkError};
use llmtap_export::CaptureClient;
use llmtap_export::{DropReason, FullPolicy};
use serde_json::json;
use support::{
    builder, event, event_with, filler, sorted, uuids, CaptureServer, Gate, Reply, PATIENCE,
};

/// Starts a client whose first request the server holds until `gate` opens,
/// and returns once that request is held: with one batch in flight at most,
/// the worker then takes nothing from the queue, so queue-full counts are
/// exact.
fn stalled(server: &CaptureServer, gate: &Gate, b: llmtap_export::CaptureBuilder) -> CaptureClient {
    server.script([Reply::normal().gated(gate)]);
    let client = b.batch_size(1).max_in_flight(1).build().unwrap();
    client.capture(event(0)).unwrap();
    assert!(server.wait_for_requests(1, PATIENCE));
    client
}

/// Spins (no sleeping) until `ready` or `PATIENCE` runs out.
fn eventually(ready: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while !ready() {
        if start.elapsed() > PATIENCE {
            return false;
        }
        std::thread::yield_now();
    }
    true
}

#[test]
fn queue_full_drop_newest_counts_exactly() {
    let server = CaptureServer::start();
    let gate = Gate::new();
    let client = stalled(&server, &gate, builder(&server).queue_capacity(5));

    let results: Vec<_> = (1..=8).map(|i| client.capture(event(i))).collect();
    assert!(results[..5].iter().all(Result::is_ok));
    assert!(results[5..].iter().all(|r| matches!(
        r,
        Err(SinkError::Dropped {
            reason: DropReason::QueueFull,
            ..
        })
    )));
    let stats = client.stats();
    assert_eq!(stats.dropped.get(DropReason::QueueFull), 3);
    assert_eq!((stats.queue_len, stats.accepted, stats.pending), (5, 6, 6));

    gate.open();
    let report = client.shutdown_blocking(PATIENCE);
    assert!(report.is_complete());
    assert_eq!(report.delivered, 6);
    assert_eq!(report.dropped.total(), 3);
    assert_eq!(sorted(server.received_uuids()), uuids(0..6));
}

#[test]
fn queue_full_block_policy_drops_after_its_timeout() {
    let server = CaptureServer::start();
    let gate = Gate::new();
    let b = builder(&server)
        .queue_capacity(5)
        .when_full(FullPolicy::Block(Duration::from_millis(10)));
    let client = stalled(&server, &gate, b);

    let accepted = (1..=7)
        .filter(|&i| client.capture(event(i)).is_ok())
        .count();
    assert_eq!(accepted, 5);
    assert_eq!(client.stats().dropped.get(DropReason::QueueFull), 2);

    gate.open();
    let report = client.shutdown_blocking(PATIENCE);
    assert_eq!(report.delivered, 6);
    assert_eq!(sorted(server.received_uuids()), uuids(0..6));
}

#[test]
fn block_policy_waits_for_room_instead_of_dropping() {
    let server = CaptureServer::start();
    let gate = Gate::new();
    let b = builder(&server)
        .queue_capacity(2)
        .when_full(FullPolicy::Block(PATIENCE));
    let client = Arc::new(stalled(&server, &gate, b));

    let producer = {
        let client = client.clone();
        std::thread::spawn(move || {
            (1..=6)
                .map(|i| client.capture(event(i)))
                .collect::<Vec<_>>()
        })
    };
    // The producer fills the queue and then blocks on the third event.
    assert!(eventually(|| client.stats().queue_len == 2));
    gate.open();
    let results = producer.join().unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let report = client.shutdown_blocking(PATIENCE);
    assert!(report.is_lossless(), "{report:?}");
    assert_eq!(sorted(server.received_uuids()), uuids(0..7));
}

#[tokio::test]
async fn shutdown_sends_the_last_partial_batch_and_is_idempotent() {
    let server = CaptureServer::start();
    let client = builder(&server).batch_size(100).build().unwrap();
    for i in 0..7 {
        client.capture(event(i)).unwrap();
    }
    let report = client.shutdown(PATIENCE).await;
    assert!(report.is_lossless(), "{report:?}");
    assert_eq!(server.requests().len(), 1);
    assert_eq!(sorted(server.received_uuids()), uuids(0..7));

    // Closed: refused and counted, and nothing else changes.
    assert!(matches!(
        client.capture(event(99)),
        Err(SinkError::Dropped {
            reason: DropReason::Closed,
            ..
        })
    ));
    let again = client.shutdown(PATIENCE).await;
    assert_eq!(again.delivered, 7);
    assert_eq!(again.dropped.get(DropReason::Closed), 1);
    let flushed = client.flush(PATIENCE).await;
    assert!(flushed.is_complete());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn events_captured_during_an_in_flight_flush_are_not_lost() {
    let server = CaptureServer::start();
    let gate = Gate::new();
    server.script([Reply::normal().gated(&gate)]);
    let client = builder(&server).batch_size(100).build().unwrap();
    for i in 0..3 {
        client.capture(event(i)).unwrap();
    }
    // The flush is registered now; its batch goes out and is held.
    let flush = client.flush(PATIENCE);
    assert!(server.wait_for_requests(1, PATIENCE));
    for i in 3..6 {
        client.capture(event(i)).unwrap();
    }
    gate.open();
    let report = flush.await;
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.delivered, 3, "the flush waited for what preceded it");

    let report = client.shutdown(PATIENCE).await;
    assert!(report.is_lossless(), "{report:?}");
    assert_eq!(
        sorted(server.received_uuids()),
        uuids(0..6),
        "exactly once each"
    );
}

#[tokio::test]
async fn a_flush_is_not_fooled_by_a_later_event_dropped_first() {
    for max_in_flight in [1, 4] {
        let server = CaptureServer::start();
        let gate = Gate::new();
        server.script([Reply::normal().gated(&gate)]);
        let client = builder(&server)
            .batch_size(2)
            .max_in_flight(max_in_flight)
            .build()
            .unwrap();
        client.capture(event(0)).unwrap();
        client.capture(event(1)).unwrap();
        assert!(server.wait_for_requests(1, PATIENCE));
        // Queued behind the held batch: a good event, the flush, then an
        // event the worker will drop as oversized, maybe before the good one
        // is delivered (at once, with a free slot).
        client.capture(event(2)).unwrap();
        let flush = client.flush(PATIENCE);
        client
            .capture(event_with(3, json!({"blob": filler(2_000_000)})))
            .unwrap();
        gate.open();
        let report = flush.await;
        assert!(report.is_complete(), "{report:?}");
        assert_eq!(
            report.delivered, 3,
            "events 0..3 were delivered before the flush returned"
        );
        if max_in_flight == 1 {
            // The worker was held: it took events 2 and 3 together.
            assert_eq!(report.dropped.get(DropReason::Oversized), 1);
        }
        let report = client.shutdown(PATIENCE).await;
        assert_eq!(report.dropped.get(DropReason::Oversized), 1);
        assert_eq!(sorted(server.received_uuids()), uuids(0..3));
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn flush_and_shutdown_on_a_paused_current_thread_runtime() {
    let server = CaptureServer::start();
    let client = builder(&server).build().unwrap();
    for i in 0..3 {
        client.capture(event(i)).unwrap();
    }
    // The timeouts run on the worker's clock: this paused one would
    // otherwise fire them at once.
    assert!(client.flush(PATIENCE).await.is_lossless());
    for i in 3..5 {
        client.capture(event(i)).unwrap();
    }
    assert!(client.shutdown(PATIENCE).await.is_lossless());
    assert_eq!(sorted(server.received_uuids()), uuids(0..5));
}

#[tokio::test(flavor = "current_thread")]
async fn blocking_flush_inside_a_current_thread_runtime_does_not_deadlock() {
    let server = CaptureServer::start();
    let client = builder(&server).build().unwrap();
    client.capture(event(0)).unwrap();
    assert!(client.flush_blocking(PATIENCE).is_lossless());
    assert!(client.shutdown_blocking(PATIENCE).is_lossless());
    assert_eq!(sorted(server.received_uuids()), uuids(0..1));
}

#[test]
fn flush_and_shutdown_from_plain_sync_code() {
    let server = CaptureServer::start();
    let client = builder(&server).build().unwrap();
    for i in 0..4 {
        client.capture(event(i)).unwrap();
    }
    let report = client.flush_blocking(PATIENCE);
    assert!(report.is_lossless());
    assert_eq!(report.delivered, 4);
    client.capture(event(4)).unwrap();
    let report = client.shutdown_blocking(PATIENCE);
    assert!(report.is_lossless());
    assert_eq!(report.delivered, 5);
    assert_eq!(sorted(server.received_uuids()), uuids(0..5));
}

#[test]
fn flush_is_bounded_and_reports_what_is_pending() {
    let server = CaptureServer::start();
    let gate = Gate::new();
    server.script([Reply::normal().gated(&gate)]);
    let client = builder(&server).build().unwrap();
    for i in 0..4 {
        client.capture(event(i)).unwrap();
    }
    // The timeout under test is short on purpose; nothing is asserted about time.
    let report = client.flush_blocking(Duration::from_millis(50));
    assert!(report.timed_out);
    assert_eq!(report.pending, 4);
    assert_eq!(report.dropped.total(), 0, "a slow flush drops nothing");

    gate.open();
    let report = client.flush_blocking(PATIENCE);
    assert!(report.is_lossless(), "{report:?}");
    assert_eq!(sorted(server.received_uuids()), uuids(0..4));
}

#[test]
fn shutdown_is_bounded_and_counts_what_it_gave_up_on() {
    let server = CaptureServer::start();
    let gate = Gate::new();
    let client = stalled(&server, &gate, builder(&server));
    for i in 1..4 {
        client.capture(event(i)).unwrap();
    }
    let report = client.shutdown_blocking(Duration::from_millis(50));
    assert!(report.timed_out);
    assert!(report.is_complete(), "every event is settled: {report:?}");
    assert_eq!(report.delivered, 0);
    assert_eq!(report.dropped.get(DropReason::ShutdownTimeout), 4);
    gate.open();
}

#[tokio::test]
async fn works_as_a_shared_sink() {
    let server = CaptureServer::start();
    let sink: Arc<dyn Sink> = Arc::new(builder(&server).build().unwrap());
    for i in 0..3 {
        sink.capture(event(i)).unwrap();
    }
    sink.flush(PATIENCE).await.unwrap();
    let mut bad = event(3);
    bad.distinct_id.clear();
    assert!(matches!(
        sink.capture(bad),
        Err(SinkError::Dropped { count: 1, .. })
    ));
    sink.capture(event(4)).unwrap();
    let err = sink.shutdown(PATIENCE).await.unwrap_err();
    assert!(
        matches!(
            err,
            SinkError::Dropped {
                count: 1,
                reason: DropReason::Invalid
            }
        ),
        "{err}"
    );
    assert_eq!(sorted(server.received_uuids()), sorted(uuids([0, 1, 2, 4])));
}

#[test]
fn dropping_the_client_still_sends_in_the_background() {
    let server = CaptureServer::start();
    let client = builder(&server).build().unwrap();
    for i in 0..3 {
        client.capture(event(i)).unwrap();
    }
    drop(client);
    assert!(server.wait_until(PATIENCE, |log| log.iter().any(|r| r.accepted())));
    assert_eq!(sorted(server.received_uuids()), uuids(0..3));
}

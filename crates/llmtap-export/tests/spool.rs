//! The disk spool in front of the capture client: durable before `Ok`,
//! removed once delivered, kept across a stop with the API down, refused
//! whole when full.
#![cfg(feature = "spool")]

mod support;

use std::time::Duration;

use llmtap::{DropReason, Sink, SinkError};
use llmtap_export::{PostHog, SpoolSettings, Spooled};
use support::{builder, event, sorted, uuids, CaptureServer, ServerOptions, PATIENCE};

fn spooled(server: &CaptureServer, dir: &std::path::Path) -> Spooled<PostHog> {
    builder(server)
        .flush_interval(Duration::from_millis(20))
        .batch_size(10)
        .initial_backoff(Duration::from_millis(10))
        .max_backoff(Duration::from_millis(50))
        .build_spooled(SpoolSettings::new(dir))
        .expect("a spool in a temp dir")
}

/// Polls until the spool holds nothing, or `PATIENCE` runs out.
fn drained(spool: &Spooled<PostHog>) -> bool {
    let start = std::time::Instant::now();
    while spool.spooled() > 0 {
        if start.elapsed() > PATIENCE {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

#[test]
fn spooled_events_are_delivered_once_and_removed() {
    let server = CaptureServer::start();
    let dir = tempfile::tempdir().unwrap();
    let spool = spooled(&server, dir.path());
    assert_eq!(spool.capture_all((0..25).map(event).collect()).unwrap(), 25);
    assert!(server.wait_for_events(25, PATIENCE));
    assert!(drained(&spool), "{} still spooled", spool.spooled());
    assert_eq!(sorted(server.received_uuids()), sorted(uuids(0..25)));
    let d = spool.delivery();
    assert_eq!((d.accepted, d.delivered, d.pending), (25, 25, 0));
    assert!(d.is_lossless());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_with_the_api_down_keeps_everything_for_the_next_start() {
    let server = CaptureServer::start();
    server.refuse_connections();
    let dir = tempfile::tempdir().unwrap();
    {
        let spool = spooled(&server, dir.path());
        spool.capture_all((0..30).map(event).collect()).unwrap();
        let started = std::time::Instant::now();
        spool
            .shutdown(Duration::from_secs(30))
            .await
            .expect("nothing lost");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a spooled stop does not wait out the timeout"
        );
        assert_eq!(spool.spooled(), 30);
        assert!(matches!(
            spool.capture(event(99)),
            Err(SinkError::Dropped {
                reason: DropReason::Closed,
                ..
            })
        ));
    }
    assert_eq!(server.received_uuids(), Vec::<String>::new());
    server.accept_connections();
    let spool = spooled(&server, dir.path());
    assert_eq!(spool.delivery().accepted, 30, "recovered from disk");
    assert!(server.wait_for_events(30, PATIENCE));
    assert!(drained(&spool));
    assert_eq!(sorted(server.received_uuids()), sorted(uuids(0..30)));
}

#[test]
fn an_event_refused_for_good_is_removed_and_counted_while_the_rest_arrive() {
    let server = CaptureServer::start_with(ServerOptions {
        invalid_uuids: uuids([3]),
        ..ServerOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let spool = spooled(&server, dir.path());
    spool.capture_all((0..8).map(event).collect()).unwrap();
    assert!(server.wait_for_events(7, PATIENCE));
    assert!(drained(&spool));
    let mut expected: Vec<u128> = (0..8).collect();
    expected.retain(|&i| i != 3);
    assert_eq!(
        sorted(
            server
                .accepted_events()
                .iter()
                .map(|e| e["uuid"].as_str().unwrap().to_owned())
                .collect()
        ),
        sorted(uuids(expected))
    );
    assert_eq!(spool.delivery().dropped.get(DropReason::Rejected), 1);
}

#[test]
fn a_full_spool_refuses_the_whole_request_and_writes_nothing() {
    let server = CaptureServer::start();
    server.refuse_connections();
    let dir = tempfile::tempdir().unwrap();
    let spool = builder(&server)
        .build_spooled(SpoolSettings::new(dir.path()).max_bytes(2_000))
        .unwrap();
    spool.capture_all((0..5).map(event).collect()).unwrap();
    let held = spool.spooled();
    let refused = spool.capture_all((5..10).map(event).collect());
    assert!(matches!(
        refused,
        Err(SinkError::Dropped {
            count: 5,
            reason: DropReason::QueueFull
        })
    ));
    assert_eq!(spool.spooled(), held);
    assert_eq!(
        spool.delivery().dropped.total(),
        0,
        "a refusal is not a drop"
    );
}

#[test]
fn events_come_back_from_disk_exactly_as_built() {
    let server = CaptureServer::start();
    let dir = tempfile::tempdir().unwrap();
    let spool = spooled(&server, dir.path());
    let original = support::event_with(
        7,
        serde_json::json!({"$ai_input": [{"role": "user", "content": "hé \u{1F600}"}], "cost": 0.00022500000000000002}),
    );
    spool.capture(original.clone()).unwrap();
    assert!(server.wait_for_events(1, PATIENCE));
    let sent = &server.accepted_events()[0];
    assert_eq!(sent, &serde_json::to_value(&original).unwrap());
}

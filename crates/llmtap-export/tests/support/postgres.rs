//! Helpers of the PostgreSQL tests (`postgres.rs`, `postgres_tls.rs`).

use std::time::Duration;

use llmtap::Event;
use llmtap_export::{DeliveryReport, PostgresClient};
use llmtap_testkit::PostgresServer;
use tokio_postgres::NoTls;

/// Captures `events` across a restart of `pg`: the first third delivered
/// while it is up, the second captured while it is down (their batches fail
/// and wait to retry), the last after it is back; then shuts the client down.
pub fn capture_across_a_restart(
    client: &PostgresClient,
    pg: &PostgresServer,
    events: &[Event],
) -> DeliveryReport {
    let (first, rest) = events.split_at(events.len() / 3);
    let (second, third) = rest.split_at(rest.len() / 2);
    for e in first {
        client.capture(e.clone()).unwrap();
    }
    client.flush_blocking(Duration::from_secs(10));
    pg.stop();
    for e in second {
        client.capture(e.clone()).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    pg.start_server();
    for e in third {
        client.capture(e.clone()).unwrap();
    }
    client.shutdown_blocking(Duration::from_secs(30))
}

/// A query over a plain connection of the test's own, on a runtime of its own.
pub fn query(pg: &PostgresServer, sql: &str) -> Vec<tokio_postgres::Row> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&pg.url(), NoTls).await.unwrap();
        tokio::spawn(connection);
        client.query(sql, &[]).await.unwrap()
    })
}

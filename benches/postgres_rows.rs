//! Rows per second into PostgreSQL, by batch size: the Postgres destination
//! as shipped (pool of 4, 4 batches in flight, default retries) fed realistic
//! events (`llmtap_cli::generate::events`) into a real server on 127.0.0.1
//! that this bench starts (`llmtap_testkit::PostgresServer`, fsync on, as a
//! production server would be). Each batch size gets a fresh database, so
//! every run inserts into empty tables and the same indexes.
//!
//! The figure that matters is the ratio to the default batch size measured
//! in the same run (the machine is shared): `DEFAULT_BATCH_SIZE` was chosen
//! from this sweep (BENCHMARKS.md).
//!
//! Run: `cargo bench --bench postgres_rows` (about a minute; needs PostgreSQL
//! installed, `tests/postgres/setup.sh`). `POSTGRES_ROWS=N` sets the rows per
//! batch size (default 20 000).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use llmtap::Event;
use llmtap_export::{FullPolicy, PostgresBuilder, Settings, DEFAULT_BATCH_SIZE};
use llmtap_testkit::PostgresServer;
use uuid::Uuid;

const SIZES: [usize; 6] = [50, 100, 250, 500, 1000, 2000];

/// Inserts `events` (fresh uuids, so nothing conflicts) into `database`;
/// returns rows per second, from the first capture to the last row committed.
fn rows_per_sec(pg: &PostgresServer, database: &str, batch: usize, events: &[Event]) -> f64 {
    let url = format!("postgres://postgres@127.0.0.1:{}/{database}", pg.port());
    // A database of its own, migrated first, so the sweep times inserts only.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let admin = llmtap_export::connect_postgres(&pg.url().into()).await;
        let admin = admin.expect("the server answers");
        let create = format!("CREATE DATABASE {database}");
        admin.batch_execute(&create).await.expect("a database");
        llmtap_export::migrate_postgres(&url.as_str().into())
            .await
            .expect("migrations run");
    });
    // Backpressure, not loss: the queue's bound paces the capturing thread.
    let settings = Settings::default()
        .batch_size(batch)
        .when_full(FullPolicy::Block(Duration::from_secs(60)));
    let client = PostgresBuilder::new(url)
        .settings(settings)
        .build()
        .expect("a valid config");
    let started = Instant::now();
    for event in events {
        client
            .capture(event.clone())
            .expect("the queue holds them all");
    }
    let report = client.shutdown_blocking(Duration::from_secs(600));
    let secs = started.elapsed().as_secs_f64();
    assert!(report.is_lossless(), "rows lost: {report:?}");
    events.len() as f64 / secs
}

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return ExitCode::SUCCESS;
    }
    let rows: usize = std::env::var("POSTGRES_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let Some(pg) = PostgresServer::start_durable() else {
        eprintln!("postgres_rows: no PostgreSQL server installed (bash tests/postgres/setup.sh)");
        return ExitCode::FAILURE;
    };
    let template = llmtap_cli::generate::events(31, 2000);
    let events: Vec<Event> = (0..rows)
        .map(|i| {
            let mut e = template[i % template.len()].clone();
            e.uuid = Uuid::from_u128(i as u128 + 1);
            e
        })
        .collect();
    println!(
        "postgres_rows: {rows} rows per batch size into PostgreSQL on 127.0.0.1:{} (fsync on)",
        pg.port()
    );
    // A warm-up run, not reported: the server's first connections and caches.
    rows_per_sec(&pg, "warmup", DEFAULT_BATCH_SIZE, &events[..rows.min(2000)]);
    let figures: Vec<(usize, f64)> = SIZES
        .iter()
        .map(|&batch| {
            (
                batch,
                rows_per_sec(&pg, &format!("b{batch}"), batch, &events),
            )
        })
        .collect();
    let default = figures
        .iter()
        .find(|(b, _)| *b == DEFAULT_BATCH_SIZE)
        .map_or(f64::NAN, |(_, r)| *r);
    println!("{:>6} {:>10} {:>12}", "batch", "rows/s", "vs default");
    for (batch, rate) in figures {
        println!("{batch:>6} {rate:>10.0} {:>11.2}x", rate / default);
    }
    ExitCode::SUCCESS
}

//! Memory while the capture endpoint is down: the exporter as shipped (default
//! queue of 10 000 events, `DropNewest`, default retries) pointed at a port on
//! 127.0.0.1 that refuses connections, fed realistic events as fast as they
//! can be built (`llmtap replay`'s path: parse, normalize, build, capture).
//! Prints RSS and the drop counters every `STEP` events: RSS must go flat once
//! the queue is full, and every refused event must be counted `queue_full`.
//!
//! Run: `cargo bench --bench capture_down` (about 10-20 s; no server needed).
//! `CAPTURE_DOWN_EVENTS=N` changes the number of events (default 200 000).

use std::net::TcpListener;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use llmtap::{HeaderProperties, Pipeline};
use llmtap_cli::generate::Generator;
use llmtap_export::{CaptureBuilder, DropReason};

const STEP: u64 = 20_000;

/// `VmRSS` and `VmHWM` of this process in KiB (Linux), 0 elsewhere.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return ExitCode::SUCCESS;
    }
    let total: u64 = std::env::var("CAPTURE_DOWN_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);

    // A loopback port nobody listens on: connections are refused at once.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener.local_addr().unwrap().port()
    };
    let mut generator = Generator::new(23);
    let payloads: Vec<Vec<u8>> = (0..1000)
        .map(|_| generator.next_line().into_bytes())
        .collect();
    let payload_bytes: usize = payloads.iter().map(Vec::len).sum();
    let headers = HeaderProperties::default();
    let pipeline = Pipeline::default();

    let client = CaptureBuilder::new()
        .api_key("phc_benchmark")
        .host(format!("http://127.0.0.1:{port}"))
        .build()
        .expect("a valid capture config");
    let (rss0, _) = rss_kib();
    println!(
        "capture_down: endpoint http://127.0.0.1:{port} refusing; {total} events from {} payloads ({} KB avg); RSS before capturing {:.1} MiB",
        payloads.len(),
        payload_bytes / payloads.len() / 1000,
        mib(rss0)
    );
    println!(
        "{:>8} {:>8} {:>9} {:>9} {:>10} {:>10} {:>8}",
        "captured", "secs", "rss_MiB", "peak_MiB", "queue_len", "queue_full", "pending"
    );
    let started = Instant::now();
    let (mut ok, mut refused) = (0u64, 0u64);
    let mut samples = Vec::new();
    for i in 1..=total {
        let bytes = &payloads[(i as usize) % payloads.len()];
        let event = pipeline
            .process_slice(bytes, &headers)
            .expect("generated payloads become events")
            .event;
        match client.capture(event) {
            Ok(()) => ok += 1,
            Err(_) => refused += 1,
        }
        if i % STEP == 0 || i == total {
            let (rss, hwm) = rss_kib();
            let stats = client.stats();
            println!(
                "{:>8} {:>8.1} {:>9.1} {:>9.1} {:>10} {:>10} {:>8}",
                i,
                started.elapsed().as_secs_f64(),
                mib(rss),
                mib(hwm),
                stats.queue_len,
                stats.dropped.get(DropReason::QueueFull),
                stats.pending
            );
            samples.push(rss);
        }
    }
    let stats = client.stats();
    let report = client.shutdown_blocking(Duration::from_secs(1));
    let (rss, hwm) = rss_kib();
    let counted = stats.dropped.get(DropReason::QueueFull);
    // Flat: from the second sample on (the queue is full well before it), RSS
    // moves by at most this much.
    let settled = &samples[samples.len().min(1)..];
    let spread = settled.iter().max().unwrap_or(&0) - settled.iter().min().unwrap_or(&0);
    println!(
        "capture_down: accepted {ok}, refused {refused} (counted queue_full: {counted}); after shutdown(1 s): dropped {} ({}), delivered {}",
        report.dropped.total(),
        report.dropped,
        report.delivered
    );
    println!(
        "capture_down: peak RSS {:.1} MiB ({:.1} MiB over the start), RSS spread after the queue filled {:.1} MiB, RSS at exit {:.1} MiB",
        mib(hwm),
        mib(hwm.saturating_sub(rss0)),
        mib(spread),
        mib(rss)
    );
    // Accounting, not timing: every refused call must show up in the counters.
    if counted != refused || report.dropped.total() + report.delivered + report.pending != total {
        eprintln!("capture_down: drop accounting does not add up");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

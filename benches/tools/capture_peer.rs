//! A fast capture API peer for the end-to-end and load benchmarks: `POST /batch/`
//! is read in full and answered `{"status":"Ok"}`. It runs as its own process so
//! that its CPU is not counted as llmtap's.
//!
//! ```sh
//! cargo run --release --example capture_peer -- 127.0.0.1:0   # prints the bound address
//! curl -s http://ADDR/stats                                     # {"requests":N,"body_bytes":B}
//! # as a capture API that takes 100 ms to answer, counting the events it got:
//! cargo run --release --example capture_peer -- 127.0.0.1:0 --latency-ms 100 --count-events
//! curl -s http://ADDR/stats   # {"requests":N,"body_bytes":B,"events":E,"distinct_uuids":U,"bad_bodies":X}
//! # as a capture API that answers 500 for the first 30 s after the first batch:
//! cargo run --release --example capture_peer -- 127.0.0.1:0 --count-events --fail-for-secs 30
//! curl -s http://ADDR/stats   # ... "failed":F (batches answered 500)
//! ```
//!
//! It is `benches/support/peer.rs` (nothing decoded or kept without options,
//! the e2e benchmark's peer). `--latency-ms MS` answers each batch MS
//! milliseconds after its body arrived (connections are served by a thread
//! each, so concurrent batches wait concurrently, like a remote API's round
//! trip). `--count-events` gunzips (`Content-Encoding: gzip`) and parses each
//! body, counts its `batch` entries and their distinct `uuid`s, so that a
//! benchmark can check that every accepted payload arrived exactly once;
//! `--fail-for-secs S` (with `--count-events`) answers every batch 500 for
//! S seconds from the first one, counting none of its events, so that a
//! benchmark can check that an outage loses nothing.
//!
//! Loopback addresses only. Stop it with a signal.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

#[path = "../support/peer.rs"]
mod peer;

const USAGE: &str =
    "usage: capture_peer [ADDR] [--latency-ms MS] [--count-events [--fail-for-secs S]]";

#[derive(Debug, Default)]
struct Options {
    addr: Option<String>,
    latency: Duration,
    count_events: bool,
    outage: Duration,
}

fn options() -> Result<Options, String> {
    let mut o = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--latency-ms" => {
                let ms = args.next().ok_or("--latency-ms needs a value")?;
                let ms: u64 = ms.parse().map_err(|e| format!("--latency-ms {ms}: {e}"))?;
                o.latency = Duration::from_millis(ms);
            }
            "--count-events" => o.count_events = true,
            "--fail-for-secs" => {
                let secs = args.next().ok_or("--fail-for-secs needs a value")?;
                let secs: u64 = secs
                    .parse()
                    .map_err(|e| format!("--fail-for-secs {secs}: {e}"))?;
                o.outage = Duration::from_secs(secs);
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            a if a.starts_with('-') => return Err(format!("unknown option {a}\n{USAGE}")),
            a if o.addr.is_none() => o.addr = Some(a.to_owned()),
            a => return Err(format!("unexpected argument {a}\n{USAGE}")),
        }
    }
    Ok(o)
}

fn main() -> io::Result<()> {
    let o = match options() {
        Ok(o) => o,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let addr = o.addr.clone().unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = peer::bind_loopback(&addr)?;
    // The first line of stdout is the address, for scripts.
    let mut out = io::stdout().lock();
    writeln!(out, "{}", listener.local_addr()?)?;
    out.flush()?;
    drop(out);
    let inspect: Option<Arc<dyn peer::Inspect>> = match o.count_events {
        true => Some(Arc::new(Counted {
            outage: o.outage,
            ..Counted::default()
        })),
        false => None,
    };
    peer::serve_with(
        listener,
        Arc::new(peer::PeerStats::default()),
        o.latency,
        inspect,
    );
    Ok(())
}

/// What `--count-events` found in the batches.
#[derive(Debug, Default)]
struct Counted {
    /// How long batches are answered 500, from the first one.
    outage: Duration,
    first: OnceLock<Instant>,
    failed: AtomicU64,
    events: AtomicU64,
    bad_bodies: AtomicU64,
    uuids: Mutex<HashSet<u128>>,
}

impl peer::Inspect for Counted {
    fn stats_fields(&self) -> String {
        let distinct = self
            .uuids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        format!(
            ",\"events\":{},\"distinct_uuids\":{distinct},\"bad_bodies\":{},\"failed\":{}",
            self.events.load(Ordering::Relaxed),
            self.bad_bodies.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    /// Counts a capture body's events and records their uuids; a body that
    /// does not decode is counted as bad (and still answered 200, like a
    /// peer that does not look). During the outage nothing is counted but
    /// the failed batch.
    fn batch(&self, body: &[u8], gzip: bool) -> bool {
        let first = *self.first.get_or_init(Instant::now);
        if first.elapsed() < self.outage {
            self.failed.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        #[derive(serde::Deserialize)]
        struct Batch {
            batch: Vec<Entry>,
        }
        #[derive(serde::Deserialize)]
        struct Entry {
            uuid: Option<uuid::Uuid>,
        }
        let mut decoded = Vec::new();
        let json = if gzip {
            if flate2::read::GzDecoder::new(body)
                .read_to_end(&mut decoded)
                .is_err()
            {
                self.bad_bodies.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            &decoded[..]
        } else {
            body
        };
        let Ok(batch) = serde_json::from_slice::<Batch>(json) else {
            self.bad_bodies.fetch_add(1, Ordering::Relaxed);
            return true;
        };
        self.events
            .fetch_add(batch.batch.len() as u64, Ordering::Relaxed);
        let mut uuids = self.uuids.lock().unwrap_or_else(PoisonError::into_inner);
        uuids.extend(
            batch
                .batch
                .iter()
                .filter_map(|e| e.uuid)
                .map(|u| u.as_u128()),
        );
        true
    }
}

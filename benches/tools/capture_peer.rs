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
//! ```
//!
//! Without options it is `benches/support/peer.rs` as it is (nothing decoded or
//! kept, the e2e benchmark's peer). `--latency-ms MS` answers each batch MS
//! milliseconds after its body arrived (connections are served by a thread
//! each, so concurrent batches wait concurrently, like a remote API's round
//! trip). `--count-events` gunzips (`Content-Encoding: gzip`) and parses each
//! body, counts its `batch` entries and their distinct `uuid`s, so that a
//! benchmark can check that every accepted payload arrived exactly once.
//!
//! Loopback addresses only. Stop it with a signal.

use std::collections::HashSet;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

#[path = "../support/peer.rs"]
mod peer;

const OK: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{\"status\":\"Ok\"}";
const NOT_FOUND: &[u8] = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
const USAGE: &str = "usage: capture_peer [ADDR] [--latency-ms MS] [--count-events]";

#[derive(Debug, Default)]
struct Options {
    addr: Option<String>,
    latency: Duration,
    count_events: bool,
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
    if o.latency.is_zero() && !o.count_events {
        peer::serve(listener, Arc::new(peer::PeerStats::default()));
        return Ok(());
    }
    let stats = Arc::new(Stats::default());
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let (stats, latency, count) = (stats.clone(), o.latency, o.count_events);
        std::thread::spawn(move || {
            // A client hanging up mid-request is normal at shutdown.
            let _ = connection(stream, &stats, latency, count);
        });
    }
    Ok(())
}

/// What the peer has received, with `--latency-ms` or `--count-events`.
#[derive(Debug, Default)]
struct Stats {
    requests: AtomicU64,
    body_bytes: AtomicU64,
    events: AtomicU64,
    bad_bodies: AtomicU64,
    uuids: Mutex<HashSet<u128>>,
}

impl Stats {
    fn json(&self) -> String {
        let distinct = self
            .uuids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        format!(
            "{{\"requests\":{},\"body_bytes\":{},\"events\":{},\"distinct_uuids\":{distinct},\"bad_bodies\":{}}}",
            self.requests.load(Ordering::Relaxed),
            self.body_bytes.load(Ordering::Relaxed),
            self.events.load(Ordering::Relaxed),
            self.bad_bodies.load(Ordering::Relaxed),
        )
    }

    /// Counts a capture body's events and records their uuids; a body that
    /// does not decode is counted as bad (and still answered 200, like a
    /// peer that does not look).
    fn count(&self, body: &[u8], gzip: bool, scratch: &mut Vec<u8>) {
        #[derive(serde::Deserialize)]
        struct Batch {
            batch: Vec<Entry>,
        }
        #[derive(serde::Deserialize)]
        struct Entry {
            uuid: Option<uuid::Uuid>,
        }
        let json = if gzip {
            scratch.clear();
            if flate2::read::GzDecoder::new(body)
                .read_to_end(scratch)
                .is_err()
            {
                self.bad_bodies.fetch_add(1, Ordering::Relaxed);
                return;
            }
            &scratch[..]
        } else {
            body
        };
        let Ok(batch) = serde_json::from_slice::<Batch>(json) else {
            self.bad_bodies.fetch_add(1, Ordering::Relaxed);
            return;
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
    }
}

fn connection(stream: TcpStream, stats: &Stats, latency: Duration, count: bool) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::with_capacity(256 * 1024, stream);
    let mut line = String::new();
    let mut body = Vec::new();
    let mut scratch = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let request = line.trim_end().to_owned();
        if request.is_empty() {
            continue;
        }
        let (mut length, mut chunked, mut close, mut gzip) = (0usize, false, false, false);
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            } else if name.eq_ignore_ascii_case("content-encoding") {
                gzip = value.eq_ignore_ascii_case("gzip");
            }
        }
        body.clear();
        if chunked {
            read_chunked(&mut reader, &mut body, &mut line)?;
        } else {
            body.resize(length, 0);
            reader.read_exact(&mut body)?;
        }
        let arrived = Instant::now();
        let answer = if request.starts_with("POST /batch/") {
            if count {
                stats.count(&body, gzip, &mut scratch);
            }
            stats.requests.fetch_add(1, Ordering::Relaxed);
            stats
                .body_bytes
                .fetch_add(body.len() as u64, Ordering::Relaxed);
            // The round trip starts when the body is in, decoding included.
            if let Some(rest) = latency.checked_sub(arrived.elapsed()) {
                std::thread::sleep(rest);
            }
            OK.to_vec()
        } else if request.starts_with("GET /stats") {
            let json = stats.json();
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{json}",
                json.len()
            )
            .into_bytes()
        } else {
            NOT_FOUND.to_vec()
        };
        reader.get_mut().write_all(&answer)?;
        if close {
            return Ok(());
        }
    }
}

fn read_chunked(
    reader: &mut BufReader<TcpStream>,
    body: &mut Vec<u8>,
    line: &mut String,
) -> io::Result<()> {
    loop {
        line.clear();
        reader.read_line(line)?;
        let size = line.trim_end().split(';').next().unwrap_or("0");
        let size = usize::from_str_radix(size.trim(), 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
        if size == 0 {
            // Trailers, then the empty line.
            loop {
                line.clear();
                if reader.read_line(line)? == 0 || line.trim_end().is_empty() {
                    return Ok(());
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        line.clear();
        reader.read_line(line)?;
    }
}

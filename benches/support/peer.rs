//! A capture API peer that never bottlenecks the exporter: `POST /batch/`,
//! read the whole body, answer `200 {"status":"Ok"}`. Nothing is decoded or
//! kept, so its cost per request is a few syscalls.
//!
//! std only, one thread per connection, HTTP/1.1 keep-alive, bodies with
//! `Content-Length` or `Transfer-Encoding: chunked`. `GET /stats` answers
//! `{"requests":N,"body_bytes":B}`. Used in-process by the hot-path bench and
//! as its own process by `benches/tools/capture_peer.rs` (e2e and the load
//! benchmark, so that its CPU is not counted as llmtap's), which adds a
//! latency and an [`Inspect`] through [`serve_with`].

#![allow(dead_code, reason = "each user of this module takes a different part")]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const OK: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\n\r\n{\"status\":\"Ok\"}";
const UNAVAILABLE: &[u8] =
    b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: 18\r\n\r\n{\"status\":\"down\"}";
const NOT_FOUND: &[u8] = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";

/// What the peer has received so far.
#[derive(Debug, Default)]
pub struct PeerStats {
    /// `POST /batch/` requests answered.
    pub requests: AtomicU64,
    /// Their body bytes as sent (gzip or not).
    pub body_bytes: AtomicU64,
}

/// What a peer looks at in each batch beyond its size (`capture_peer
/// --count-events` decodes and counts the events).
pub trait Inspect: Send + Sync + 'static {
    /// One `POST /batch/` body as sent; `gzip` per its `Content-Encoding`.
    /// False answers it 500 (an outage) instead of 200.
    fn batch(&self, body: &[u8], gzip: bool) -> bool;
    /// More `GET /stats` fields, each written as `,"name":value`.
    fn stats_fields(&self) -> String;
}

/// Accepts connections on `listener` forever, one thread each.
pub fn serve(listener: TcpListener, stats: Arc<PeerStats>) {
    serve_with(listener, stats, Duration::ZERO, None);
}

/// [`serve`], answering each batch `latency` after its body arrived (each
/// connection has its own thread, so concurrent batches wait concurrently,
/// like a remote API's round trip), after `inspect` looked at it.
pub fn serve_with(
    listener: TcpListener,
    stats: Arc<PeerStats>,
    latency: Duration,
    inspect: Option<Arc<dyn Inspect>>,
) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let (stats, inspect) = (stats.clone(), inspect.clone());
        std::thread::spawn(move || {
            // A client hanging up mid-request is normal at shutdown.
            let _ = connection(stream, &stats, latency, inspect.as_deref());
        });
    }
}

/// Binds `addr`, refusing anything but a loopback address.
pub fn bind_loopback(addr: &str) -> io::Result<TcpListener> {
    let listener = TcpListener::bind(addr)?;
    if !listener.local_addr()?.ip().is_loopback() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the capture peer listens on loopback only",
        ));
    }
    Ok(listener)
}

fn connection(
    stream: TcpStream,
    stats: &PeerStats,
    latency: Duration,
    inspect: Option<&dyn Inspect>,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::with_capacity(256 * 1024, stream);
    let mut line = String::new();
    let mut body = Vec::new();
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
            let accepted = inspect.is_none_or(|i| i.batch(&body, gzip));
            stats.requests.fetch_add(1, Ordering::Relaxed);
            stats
                .body_bytes
                .fetch_add(body.len() as u64, Ordering::Relaxed);
            // The round trip starts when the body is in, inspection included.
            if let Some(rest) = latency.checked_sub(arrived.elapsed()) {
                std::thread::sleep(rest);
            }
            match accepted {
                true => OK.to_vec(),
                false => UNAVAILABLE.to_vec(),
            }
        } else if request.starts_with("GET /stats") {
            let json = format!(
                "{{\"requests\":{},\"body_bytes\":{}{}}}",
                stats.requests.load(Ordering::Relaxed),
                stats.body_bytes.load(Ordering::Relaxed),
                inspect.map(Inspect::stats_fields).unwrap_or_default(),
            );
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

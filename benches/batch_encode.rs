//! What the exporter's worker does per batch, on a realistic batch of 100
//! events (the default `batch_size`) built from generated payloads:
//!
//! - `serialize_events`: `serde_json::to_vec(&event)` per event, as the worker
//!   prepares each event once when it leaves the queue;
//! - `body_json`: the `/batch/` body from those bytes (no gzip);
//! - `body_gzip_flate2_default`: the same plus gzip at flate2's default level
//!   on its default backend (miniz_oxide), i.e. what the exporter sends today;
//! - `body_gzip_flate2_fast`, `body_gzip_zlib_rs_{6,1}`: the levers (level 1,
//!   flate2's `zlib-rs` backend, measured through the `zlib-rs` crate itself so
//!   that the shipped flate2 backend stays the one measured above).
//!
//! The exporter's own body encoder (`capture::transport::encode_body`) is
//! `pub(crate)`, so `body_json` mirrors it byte for byte (same envelope, same
//! preallocation); the size check below keeps the two from drifting apart.
//!
//! Run: `cargo bench --bench batch_encode`. Throughput is JSON body bytes.

use std::hint::black_box;
use std::io::Write;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use flate2::write::GzEncoder;
use flate2::Compression;

/// Events per batch: the exporter's `DEFAULT_BATCH_SIZE`.
const BATCH: usize = llmtap_export::DEFAULT_BATCH_SIZE;
const KEY_JSON: &str = "\"phc_benchmark_key_0123456789abcdefghijklmnopq\"";
const SENT_AT: &str = "2026-11-23T14:53:17.123Z";

/// `capture::transport::encode_body`, byte for byte.
fn encode_body(key_json: &str, events: &[Vec<u8>], sent_at: &str) -> Vec<u8> {
    let payload: usize = events.iter().map(|e| e.len() + 1).sum();
    let mut body = Vec::with_capacity(payload + key_json.len() + 64);
    body.extend_from_slice(b"{\"api_key\":");
    body.extend_from_slice(key_json.as_bytes());
    body.extend_from_slice(b",\"batch\":[");
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(event);
    }
    body.extend_from_slice(b"],\"sent_at\":\"");
    body.extend_from_slice(sent_at.as_bytes());
    body.extend_from_slice(b"\"}");
    body
}

/// `capture::transport::gzip` with a choice of level.
fn gzip_flate2(json: &[u8], level: Compression) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(json.len() / 4), level);
    encoder.write_all(json).expect("writing to a Vec");
    encoder.finish().expect("writing to a Vec")
}

/// gzip through zlib-rs, the backend flate2's `zlib-rs` feature selects.
fn gzip_zlib_rs(json: &[u8], level: i32, out: &mut Vec<u8>) -> usize {
    let config = zlib_rs::DeflateConfig {
        // 15 window bits + 16: a gzip header and trailer, as GzEncoder writes.
        window_bits: 31,
        ..zlib_rs::DeflateConfig::new(level)
    };
    out.resize(zlib_rs::compress_bound(json.len()) + 64, 0);
    let (compressed, rc) = zlib_rs::compress_slice(out, json, config);
    assert_eq!(rc, zlib_rs::ReturnCode::Ok);
    compressed.len()
}

fn batch_encode(c: &mut Criterion) {
    let events = llmtap_cli::generate::events(7, BATCH);
    let prepared: Vec<Vec<u8>> = events
        .iter()
        .map(|e| serde_json::to_vec(e).unwrap())
        .collect();
    let json = encode_body(KEY_JSON, &prepared, SENT_AT);
    // Same bytes as the exporter would send: the envelope plus the events.
    assert_eq!(
        json.len(),
        prepared.iter().map(|e| e.len() + 1).sum::<usize>() - 1
            + KEY_JSON.len()
            + "{\"api_key\":,\"batch\":[],\"sent_at\":\"\"}".len()
            + SENT_AT.len()
    );
    serde_json::from_slice::<serde::de::IgnoredAny>(&json).expect("the body is JSON");

    let mut scratch = Vec::new();
    eprintln!(
        "batch_encode: {} events, body {} bytes JSON ({} per event); gzip: flate2 6 {} B, flate2 1 {} B, zlib-rs 6 {} B, zlib-rs 1 {} B",
        events.len(),
        json.len(),
        json.len() / events.len(),
        gzip_flate2(&json, Compression::default()).len(),
        gzip_flate2(&json, Compression::fast()).len(),
        gzip_zlib_rs(&json, 6, &mut scratch),
        gzip_zlib_rs(&json, 1, &mut scratch),
    );

    let mut group = c.benchmark_group("batch_encode");
    group.throughput(Throughput::Bytes(json.len() as u64));
    group.sample_size(20);
    group.bench_function(BenchmarkId::new("serialize_events", BATCH), |b| {
        b.iter(|| {
            black_box(&events)
                .iter()
                .map(|e| serde_json::to_vec(e).unwrap())
                .collect::<Vec<_>>()
        })
    });
    group.bench_function(BenchmarkId::new("body_json", BATCH), |b| {
        b.iter(|| encode_body(KEY_JSON, black_box(&prepared), SENT_AT))
    });
    group.bench_function(BenchmarkId::new("body_gzip_flate2_default", BATCH), |b| {
        b.iter(|| {
            let json = encode_body(KEY_JSON, black_box(&prepared), SENT_AT);
            gzip_flate2(&json, Compression::default())
        })
    });
    group.bench_function(BenchmarkId::new("body_gzip_flate2_fast", BATCH), |b| {
        b.iter(|| {
            let json = encode_body(KEY_JSON, black_box(&prepared), SENT_AT);
            gzip_flate2(&json, Compression::fast())
        })
    });
    for level in [6, 1] {
        group.bench_function(
            BenchmarkId::new(format!("body_gzip_zlib_rs_{level}"), BATCH),
            |b| {
                b.iter(|| {
                    let json = encode_body(KEY_JSON, black_box(&prepared), SENT_AT);
                    gzip_zlib_rs(&json, level, &mut scratch)
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, batch_encode);
criterion_main!(benches);

//! Per-payload cost of the core pipeline against the least any JSON consumer
//! must do: `serde_json::from_slice::<IgnoredAny>` over the same bytes.
//!
//! Run: `cargo bench --bench pipeline`. Report pipeline figures as a ratio to
//! the `floor` line of the same size and the same run.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use llmtap::{normalize, HeaderProperties, Payload, Pipeline};
use llmtap_cli::generate::Generator;
use serde::de::IgnoredAny;
use serde_json::{json, Value};
use std::hint::black_box;

/// A typical generated payload (~14.5 KB) and a long conversation (~110 KB).
fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    let mut g = Generator::new(3);
    let small = (0..50)
        .map(|_| g.next_value())
        .find(|v| v["custom_llm_provider"] == "anthropic" && v["status"] == "success")
        .expect("an anthropic success in the first 50");
    let mut large = small.clone();
    let turns: Vec<Value> = (0..200)
        .map(|i| json!({"role": if i % 2 == 0 {"user"} else {"assistant"}, "content": "lorem ipsum dolor sit amet ".repeat(18)}))
        .collect();
    large["messages"].as_array_mut().unwrap().extend(turns);
    vec![
        ("small", serde_json::to_vec(&small).unwrap()),
        ("large", serde_json::to_vec(&large).unwrap()),
    ]
}

fn per_payload(c: &mut Criterion) {
    let pipeline = Pipeline::default();
    let headers = HeaderProperties::default();
    let mut group = c.benchmark_group("per_payload");
    for (name, bytes) in inputs() {
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("floor_ignored_any", name),
            &bytes,
            |b, bytes| b.iter(|| serde_json::from_slice::<IgnoredAny>(black_box(bytes)).unwrap()),
        );
        group.bench_with_input(BenchmarkId::new("parse", name), &bytes, |b, bytes| {
            b.iter(|| Payload::from_slice(black_box(bytes)).unwrap())
        });
        let mut out = Vec::with_capacity(64 * 1024);
        group.bench_with_input(
            BenchmarkId::new("parse_normalize_build_encode", name),
            &bytes,
            |b, bytes| {
                b.iter(|| {
                    let event = pipeline
                        .process_slice(black_box(bytes), &headers)
                        .unwrap()
                        .event;
                    out.clear();
                    serde_json::to_writer(&mut out, &event).unwrap();
                    out.len()
                })
            },
        );
    }
    group.finish();
}

/// The event side alone, on an already parsed payload.
fn build_encode(c: &mut Criterion) {
    let pipeline = Pipeline::default();
    let headers = HeaderProperties::default();
    let mut group = c.benchmark_group("build_encode");
    for (name, bytes) in inputs() {
        let payload = Payload::from_slice(&bytes).unwrap();
        let mut out = Vec::with_capacity(64 * 1024);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let event = pipeline
                    .process(black_box(&payload), &headers)
                    .unwrap()
                    .event;
                out.clear();
                serde_json::to_writer(&mut out, &event).unwrap();
                out.len()
            })
        });
    }
    group.finish();
}

fn normalization(c: &mut Criterion) {
    let mut g = Generator::new(5);
    let payloads: Vec<Payload> = (0..64)
        .map(|_| Payload::from_value(&g.next_value()).unwrap())
        .collect();
    let mut group = c.benchmark_group("normalize");
    group.throughput(Throughput::Elements(payloads.len() as u64));
    group.bench_function("mixed_providers_x64", |b| {
        b.iter(|| {
            payloads
                .iter()
                .map(|p| normalize(black_box(p)).input.unwrap_or(0))
                .sum::<u64>()
        })
    });
    group.finish();
}

criterion_group!(benches, per_payload, build_encode, normalization);
criterion_main!(benches);

//! A gateway-side custom callback next to the PostHog one.
//!
//! Run with `cargo run --example custom_callback`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use llmtap::{
    normalize, CallContext, Callback, CallbackError, CallbackRegistry, MemorySink, Payload,
    PostHogCallback,
};

/// Counts cache-read tokens per process: the kind of thing a gateway's own
/// budget logic wants, using the same normalized usage PostHog gets.
#[derive(Default)]
struct CacheSavings {
    read: AtomicU64,
    input: AtomicU64,
}

#[async_trait]
impl Callback for CacheSavings {
    // Only successes matter here; `on_failure` keeps its default no-op.
    async fn on_success(&self, payload: &Payload, _ctx: &CallContext) -> Result<(), CallbackError> {
        let usage = normalize(payload);
        self.read
            .fetch_add(usage.cache_read.unwrap_or(0), Ordering::Relaxed);
        self.input
            .fetch_add(usage.input.unwrap_or(0), Ordering::Relaxed);
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let sink = MemorySink::new();
    let savings = Arc::new(CacheSavings::default());
    let mut registry = CallbackRegistry::new();
    registry
        .register(PostHogCallback::new(Arc::new(sink.clone())))
        .register_shared(savings.clone());

    let ctx = CallContext::with_headers([("x-posthog-property-team", "search")]);
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/payloads.jsonl");
    for line in std::fs::read_to_string(file)
        .expect("example payloads")
        .lines()
    {
        match Payload::from_slice(line.as_bytes()) {
            Ok(payload) => {
                for err in registry.dispatch(&payload, &ctx).await {
                    eprintln!("callback failed: {err}");
                }
            }
            Err(e) => eprintln!("skipped a payload: {e}"),
        }
    }

    let (read, input) = (
        savings.read.load(Ordering::Relaxed),
        savings.input.load(Ordering::Relaxed),
    );
    println!("{} events captured", sink.len());
    println!(
        "cache reads: {read} of {input} input tokens ({:.1}%)",
        100.0 * read as f64 / input as f64
    );
    let first = &sink.events()[0];
    println!(
        "first event: {} with team={}",
        first.event, first.properties["team"]
    );
}

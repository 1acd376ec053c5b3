//! A gateway's PostHog wiring: `PostHogCallback` in a `CallbackRegistry`,
//! shipping through the batching exporter (`llmtap_export::CaptureClient`).
//!
//! ```text
//! POSTHOG_API_KEY=phc_... POSTHOG_HOST=https://eu.i.posthog.com cargo run --example gateway
//! cargo run --example gateway | jq .properties
//! ```
//!
//! With `POSTHOG_API_KEY` set it sends the calls of `examples/payloads.jsonl`
//! to `POSTHOG_HOST` (default `https://us.i.posthog.com`) and prints the
//! `DeliveryReport`. Without it nothing leaves the machine: the events go to
//! stdout as JSON lines (a `JsonlSink`) and the summary to stderr.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use llmtap::{CallContext, CallbackRegistry, JsonlSink, Payload, PostHogCallback, Sink};
use llmtap_export::{CaptureClient, ENV_API_KEY};

/// How long shutdown may take to deliver what is still queued before exit.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the PostHog callback's events go; kept typed to shut it down.
enum Delivery {
    PostHog(Arc<CaptureClient>),
    Stdout(Arc<JsonlSink>),
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let delivery = if std::env::var(ENV_API_KEY).is_ok_and(|k| !k.trim().is_empty()) {
        // The builder reads POSTHOG_API_KEY and POSTHOG_HOST; the code may override them.
        Delivery::PostHog(Arc::new(CaptureClient::builder().build()?))
    } else {
        eprintln!("{ENV_API_KEY} is not set: writing events to stdout");
        Delivery::Stdout(Arc::new(JsonlSink::stdout()))
    };
    let sink: Arc<dyn Sink> = match &delivery {
        Delivery::PostHog(client) => client.clone(),
        Delivery::Stdout(jsonl) => jsonl.clone(),
    };

    // Register once at startup; other callbacks (budgets, audit) go next to it.
    let mut registry = CallbackRegistry::new();
    registry.register(PostHogCallback::new(sink));

    // In a gateway this runs in the response hook, once per call, with the
    // request's headers; `capture` only queues, so it never waits on PostHog.
    let ctx = CallContext::with_headers([("x-posthog-property-app", "gateway-example")]);
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/payloads.jsonl");
    for line in std::fs::read_to_string(file)?.lines() {
        match Payload::from_slice(line.as_bytes()) {
            Ok(payload) => {
                for err in registry.dispatch(&payload, &ctx).await {
                    eprintln!("callback failed: {err}");
                }
            }
            Err(e) => eprintln!("skipped a payload: {e}"),
        }
    }

    // Before exit: send the last partial batch, and learn what was lost.
    match delivery {
        Delivery::PostHog(client) => {
            // The client's own `shutdown` reports; `Sink::shutdown` only says Ok or Err.
            let report = CaptureClient::shutdown(&client, SHUTDOWN_TIMEOUT).await;
            println!(
                "delivered {}, dropped {} ({}), pending {}",
                report.delivered,
                report.dropped.total(),
                report.dropped,
                report.pending
            );
            if !report.is_lossless() {
                return Err(format!("not every event was delivered: {report:?}").into());
            }
        }
        Delivery::Stdout(jsonl) => {
            jsonl.shutdown(SHUTDOWN_TIMEOUT).await?;
            eprintln!("{} events written to stdout", jsonl.written());
        }
    }
    Ok(())
}

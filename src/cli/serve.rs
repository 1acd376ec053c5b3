//! `llmtap serve`: the sidecar. Settings come from flags, environment
//! variables, or a TOML file, in that order of precedence.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use llmtap::event::DEFAULT_MAX_EVENT_BYTES;
use llmtap::{EventOptions, JsonlSink};
use llmtap_export::{CaptureClient, DEFAULT_HOST, DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_CAPACITY};
use serde::Deserialize;

use crate::server::{self, AppState, Metrics, Output, RecentEvents, Secret};

const DEFAULT_LISTEN: &str = "127.0.0.1:4319";
const DEFAULT_MAX_BODY_BYTES: usize = 20 * 1024 * 1024;
const DEFAULT_BATCH_SIZE: usize = 100;
const DEFAULT_FLUSH_INTERVAL_MS: u64 = 1000;
const DEFAULT_RETRY_AFTER_SECS: u64 = 5;
const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 30;
const DEFAULT_DEDUP_WINDOW: usize = 100_000;

fn secret(s: &str) -> Result<Secret, String> {
    Ok(Secret(s.to_owned()))
}

/// Arguments of `llmtap serve`. Defaults are in the help text because each
/// setting may also come from `--config`, which flags and env vars override.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:4319]
    #[arg(long, env = "LLMTAP_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Bearer token required on POST /litellm, compared in constant time [default: none]
    #[arg(long, env = "LLMTAP_AUTH_TOKEN", hide_env_values = true, value_parser = secret)]
    auth_token: Option<Secret>,
    /// Allow a non-loopback --listen address without --auth-token [default: off]
    #[arg(long)]
    insecure: bool,
    /// Capture API base URL; events go to {host}/batch/ [default: https://us.i.posthog.com]
    #[arg(long, env = "POSTHOG_HOST", value_name = "URL")]
    posthog_host: Option<String>,
    /// PostHog project API key. Without one, events are written as JSONL to --output [default: none]
    #[arg(long, env = "POSTHOG_API_KEY", hide_env_values = true, value_parser = secret)]
    api_key: Option<Secret>,
    /// JSONL destination when no API key is set [default: stdout]
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// TOML file with any of these settings, in snake_case (flags and env vars win) [default: none]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Largest request body accepted; larger ones get 413 [default: 20971520]
    #[arg(long, env = "LLMTAP_MAX_BODY_BYTES", value_name = "BYTES")]
    max_body_bytes: Option<usize>,
    /// Exporter queue capacity in events; a request that does not fit gets 503 [default: 10000]
    #[arg(long, env = "LLMTAP_QUEUE_CAPACITY", value_name = "EVENTS")]
    queue_capacity: Option<usize>,
    /// Exporter queue bound in bytes of event JSON; full at this or --queue-capacity [default: 33554432]
    #[arg(long, env = "LLMTAP_QUEUE_BYTES", value_name = "BYTES")]
    queue_bytes: Option<usize>,
    /// Events per capture request [default: 100]
    #[arg(long, env = "LLMTAP_BATCH_SIZE", value_name = "EVENTS")]
    batch_size: Option<usize>,
    /// Longest an event waits for its batch to fill [default: 1000]
    #[arg(long, env = "LLMTAP_FLUSH_INTERVAL_MS", value_name = "MS")]
    flush_interval_ms: Option<u64>,
    /// Send capture requests uncompressed [default: gzip on]
    #[arg(long)]
    no_gzip: bool,
    /// Leave prompts and completions out of events [default: off]
    #[arg(long)]
    privacy_mode: bool,
    /// Truncate content so each event stays under this size [default: 819200]
    #[arg(long, value_name = "BYTES")]
    max_event_bytes: Option<usize>,
    /// Static property added to every event, KEY=VALUE; repeatable [default: none]
    #[arg(long = "property", value_name = "KEY=VALUE")]
    properties: Vec<String>,
    /// Retry-After seconds sent with 503 when the queue is full [default: 5]
    #[arg(long, value_name = "SECS")]
    retry_after_secs: Option<u64>,
    /// Drop payloads whose event was accepted among the last N (LiteLLM re-sends
    /// its queue when a POST is slow); 0 turns it off [default: 100000]
    #[arg(long, env = "LLMTAP_DEDUP_WINDOW", value_name = "EVENTS")]
    dedup_window: Option<usize>,
    /// On SIGTERM/SIGINT, how long to keep delivering before giving up [default: 30]
    #[arg(long, value_name = "SECS")]
    shutdown_timeout_secs: Option<u64>,
}

/// The `--config` file: the same settings as the flags.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    auth_token: Option<String>,
    insecure: Option<bool>,
    posthog_host: Option<String>,
    api_key: Option<String>,
    output: Option<PathBuf>,
    max_body_bytes: Option<usize>,
    queue_capacity: Option<usize>,
    queue_bytes: Option<usize>,
    batch_size: Option<usize>,
    flush_interval_ms: Option<u64>,
    gzip: Option<bool>,
    privacy_mode: Option<bool>,
    max_event_bytes: Option<usize>,
    properties: Option<BTreeMap<String, String>>,
    retry_after_secs: Option<u64>,
    dedup_window: Option<usize>,
    shutdown_timeout_secs: Option<u64>,
}

/// Runs the sidecar until SIGTERM/SIGINT; exit 0 when every accepted event was delivered.
pub async fn run(args: ServeArgs) -> Result<ExitCode, String> {
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            toml::from_str::<FileConfig>(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let listen = match args.listen.or(file.listen) {
        Some(addr) => addr,
        None => DEFAULT_LISTEN.parse().map_err(|e| format!("{e}"))?,
    };
    let auth_token = args.auth_token.or(file.auth_token.map(Secret));
    let insecure = args.insecure || file.insecure.unwrap_or(false);
    if auth_token.is_none() && server::is_exposed(&listen) && !insecure {
        return Err(format!(
            "refusing to listen on {listen} without --auth-token; pass --insecure to do it anyway"
        ));
    }

    let mut options = EventOptions::default()
        .privacy_mode(args.privacy_mode || file.privacy_mode.unwrap_or(false))
        .max_event_bytes(
            args.max_event_bytes
                .or(file.max_event_bytes)
                .unwrap_or(DEFAULT_MAX_EVENT_BYTES),
        );
    for (k, v) in file.properties.unwrap_or_default() {
        options = options.extra_property(k, v);
    }
    for prop in &args.properties {
        let (k, v) = prop
            .split_once('=')
            .ok_or_else(|| format!("--property {prop:?}: expected KEY=VALUE"))?;
        options = options.extra_property(k.trim(), v);
    }

    let capacity = args
        .queue_capacity
        .or(file.queue_capacity)
        .unwrap_or(DEFAULT_QUEUE_CAPACITY);
    let output = match args.api_key.or(file.api_key.map(Secret)) {
        Some(key) => {
            let client = CaptureClient::builder()
                .api_key(key.0)
                .host(
                    args.posthog_host
                        .or(file.posthog_host)
                        .unwrap_or_else(|| DEFAULT_HOST.to_owned()),
                )
                .queue_capacity(capacity)
                .queue_bytes(
                    args.queue_bytes
                        .or(file.queue_bytes)
                        .unwrap_or(DEFAULT_QUEUE_BYTES),
                )
                .batch_size(
                    args.batch_size
                        .or(file.batch_size)
                        .unwrap_or(DEFAULT_BATCH_SIZE),
                )
                .flush_interval(Duration::from_millis(
                    args.flush_interval_ms
                        .or(file.flush_interval_ms)
                        .unwrap_or(DEFAULT_FLUSH_INTERVAL_MS),
                ))
                .gzip(!args.no_gzip && file.gzip.unwrap_or(true))
                .max_event_bytes(options.max_event_bytes)
                .build()
                .map_err(|e| format!("capture settings: {e}"))?;
            Output::Capture {
                client: Arc::new(client),
            }
        }
        None => {
            let sink = match args.output.or(file.output) {
                Some(path) => JsonlSink::create(&path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?,
                None => JsonlSink::stdout(),
            };
            Output::Jsonl(Arc::new(sink))
        }
    };

    let state = Arc::new(AppState {
        output,
        options,
        metrics: Metrics::default(),
        auth_token,
        retry_after_secs: args
            .retry_after_secs
            .or(file.retry_after_secs)
            .unwrap_or(DEFAULT_RETRY_AFTER_SECS),
        recent: RecentEvents::new(
            args.dedup_window
                .or(file.dedup_window)
                .unwrap_or(DEFAULT_DEDUP_WINDOW),
        ),
    });
    let max_body = args
        .max_body_bytes
        .or(file.max_body_bytes)
        .unwrap_or(DEFAULT_MAX_BODY_BYTES);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("llmtap serve: listening on http://{bound}");
    let destination = match &state.output {
        Output::Capture { .. } => "the capture API",
        Output::Jsonl(_) => "JSONL (no POSTHOG_API_KEY)",
    };
    tracing::info!(%bound, destination, "Serving.");

    axum::serve(listener, server::router(state.clone(), max_body))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("server failed: {e}"))?;

    let timeout = Duration::from_secs(
        args.shutdown_timeout_secs
            .or(file.shutdown_timeout_secs)
            .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT_SECS),
    );
    let report = state
        .output
        .shutdown(timeout)
        .await
        .map_err(|e| format!("flushing events failed: {e}"))?;
    match report {
        Some(r) => {
            eprintln!(
                "llmtap serve: stopped; {} events delivered, {} dropped ({}), {} pending",
                r.delivered,
                r.dropped.total(),
                r.dropped,
                r.pending
            );
            Ok(if r.is_lossless() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        None => {
            eprintln!(
                "llmtap serve: stopped; {} events written",
                state.output.written_locally()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// SIGINT or SIGTERM: stop accepting, then flush.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    eprintln!("llmtap serve: shutting down, flushing accepted events");
}

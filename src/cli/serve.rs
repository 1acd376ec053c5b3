//! `llmtap serve`: the sidecar. Settings come from flags, environment
//! variables, or a TOML file, in that order of precedence.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use llmtap::{
    EventOptions, JsonlSink, Pipeline, PrefixKey, Sink, SinkError, DEFAULT_MAX_EVENT_BYTES,
};
use llmtap_export::{
    ApiKey, CaptureBuilder, DatabaseUrl, FanOut, PostgresBuilder, Settings as ExportSettings,
    SpoolSettings, DEFAULT_BATCH_SIZE, DEFAULT_FLUSH_INTERVAL, DEFAULT_HOST, DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_CAPACITY, DEFAULT_SPOOL_BYTES, ENV_API_KEY, ENV_HOST,
};

use super::settings::{self, declare_settings, Property};
use crate::server::{
    self, AppState, AuthToken, BodyLimits, ConnectionLimits, Metrics, RecentEvents,
};
use crate::webhook::Webhook;

/// Loopback only: exposing the receiver takes a token or `--insecure`.
const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 4319));

/// Arguments of `llmtap serve`: the settings, and a file to take them from.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML file with any of these settings, in snake_case (flags and env vars win) [default: none]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: ServeSettings,
}

declare_settings! {
    /// Every setting of `llmtap serve`: a flag, often an environment
    /// variable, and a key of the `--config` file (the field name).
    pub struct ServeSettings => Settings {
        /// Address to listen on
        #[arg(long, env = "LLMTAP_LISTEN", value_name = "ADDR")]
        listen: SocketAddr = DEFAULT_LISTEN,
        /// Bearer token required on POST /litellm (and on /metrics beyond loopback),
        /// compared in constant time; at least 16 bytes
        #[arg(long, env = "LLMTAP_AUTH_TOKEN", hide_env_values = true)]
        auth_token: AuthToken,
        /// Allow a non-loopback --listen address without --auth-token
        #[arg(long, num_args = 0, default_missing_value = "true")]
        insecure: bool = false => "off",
        /// Serve /metrics without the token on a non-loopback --listen address
        #[arg(long, num_args = 0, default_missing_value = "true")]
        public_metrics: bool = false => "off",
        /// Capture API base URL; events go to {host}/batch/
        #[arg(long, env = ENV_HOST, value_name = "URL")]
        posthog_host: String = DEFAULT_HOST.to_owned(),
        /// PostHog project API key. Without one, events are written as JSONL to --output
        #[arg(long, env = ENV_API_KEY, hide_env_values = true, value_parser = settings::api_key)]
        #[serde(deserialize_with = "settings::api_key_from_file")]
        api_key: ApiKey,
        /// JSONL destination when no API key is set
        #[arg(long, value_name = "FILE")]
        output: PathBuf => "stdout",
        /// Also store every call in PostgreSQL (tables created on first use), alongside
        /// PostHog or alone: a postgres:// URL, a secret whose password is never shown
        #[arg(long, env = "LLMTAP_POSTGRES_URL", hide_env_values = true, value_parser = settings::postgres_url)]
        #[serde(deserialize_with = "settings::postgres_url_from_file")]
        postgres_url: DatabaseUrl,
        /// Largest request body accepted, after gzip decoding; larger ones get 413
        #[arg(long, env = "LLMTAP_MAX_BODY_BYTES", value_name = "BYTES")]
        max_body_bytes: usize = 20 * 1024 * 1024,
        /// Most entries (array items, NDJSON lines) in one request; more get 413
        #[arg(long, env = "LLMTAP_MAX_ENTRIES", value_name = "ENTRIES")]
        max_entries: usize = 10_000,
        /// Longest a client may take to send a request's headers; then the connection is closed
        #[arg(long, env = "LLMTAP_HEADER_TIMEOUT_MS", value_name = "MS")]
        header_timeout_ms: u64 = 10_000,
        /// Longest a request body may take to arrive; then 408
        #[arg(long, env = "LLMTAP_BODY_TIMEOUT_MS", value_name = "MS")]
        body_timeout_ms: u64 = 30_000,
        /// Connections served at once; further ones wait in the listen backlog
        #[arg(long, env = "LLMTAP_MAX_CONNECTIONS", value_name = "N")]
        max_connections: usize = 1024,
        /// Distinct (provider, model) label pairs in /metrics; further calls count under model="__other__"
        #[arg(long, env = "LLMTAP_MAX_MODEL_SERIES", value_name = "N")]
        max_model_series: usize = server::DEFAULT_MAX_MODEL_SERIES,
        /// Exporter queue capacity in events; a request that does not fit gets 503
        #[arg(long, env = "LLMTAP_QUEUE_CAPACITY", value_name = "EVENTS")]
        queue_capacity: usize = DEFAULT_QUEUE_CAPACITY,
        /// Exporter queue bound in bytes of event JSON; full at this or --queue-capacity
        #[arg(long, env = "LLMTAP_QUEUE_BYTES", value_name = "BYTES")]
        queue_bytes: usize = DEFAULT_QUEUE_BYTES,
        /// Events per capture request
        #[arg(long, env = "LLMTAP_BATCH_SIZE", value_name = "EVENTS")]
        batch_size: usize = DEFAULT_BATCH_SIZE,
        /// Capture requests in flight at once (throughput = this x batch size / latency)
        #[arg(long, env = "LLMTAP_MAX_IN_FLIGHT", value_name = "N")]
        max_in_flight: usize = DEFAULT_MAX_IN_FLIGHT,
        /// Longest an event waits for its batch to fill
        #[arg(long, env = "LLMTAP_FLUSH_INTERVAL_MS", value_name = "MS")]
        flush_interval_ms: u64 = millis(DEFAULT_FLUSH_INTERVAL),
        /// Send capture requests uncompressed; `gzip = false` in the file
        #[arg(long = "no-gzip", num_args = 0, default_missing_value = "false")]
        gzip: bool = true => "gzip on",
        /// Leave prompts and completions out of events
        #[arg(long, num_args = 0, default_missing_value = "true")]
        privacy_mode: bool = false => "off",
        /// Truncate content so each event stays under this size
        #[arg(long, value_name = "BYTES")]
        max_event_bytes: usize = DEFAULT_MAX_EVENT_BYTES,
        /// Static property added to every event, KEY=VALUE; repeatable; a `[properties]` table in the file
        #[arg(long = "property", value_name = "KEY=VALUE")]
        #[serde(deserialize_with = "settings::property_table")]
        properties: Vec<Property> = Vec::new() => "none"; merge settings::file_then_flags,
        /// TOML file of USD-per-token rates by model name or glob, over LiteLLM's: drives
        /// cache_savings_usd, and prices calls LiteLLM left at 0
        #[arg(long, env = "LLMTAP_PRICING", value_name = "FILE")]
        pricing: PathBuf,
        /// Makes cache_prefix_id an HMAC under this key, for prompts short enough to guess
        #[arg(long, env = "LLMTAP_PREFIX_KEY", hide_env_values = true, value_parser = settings::prefix_key)]
        #[serde(deserialize_with = "settings::prefix_key_from_file")]
        prefix_key: PrefixKey,
        /// POST each cache alert here as Slack-compatible {"text": …} JSON (never blocks the
        /// pipeline); the URL is a secret and is never logged
        #[arg(long, env = "LLMTAP_ALERT_WEBHOOK", hide_env_values = true, value_parser = crate::webhook::url)]
        #[serde(deserialize_with = "crate::webhook::url_from_file")]
        alert_webhook: ApiKey,
        /// Retry-After seconds sent with 503 when the queue is full
        #[arg(long, value_name = "SECS")]
        retry_after_secs: u64 = 5,
        /// Drop payloads whose event was accepted among the last N (LiteLLM re-sends
        /// its queue when a POST is slow); 0 turns it off
        #[arg(long, env = "LLMTAP_DEDUP_WINDOW", value_name = "EVENTS")]
        dedup_window: usize = 100_000,
        /// Keep accepted events on disk here until delivered: a POST is answered 200 only
        /// once its events are fsynced, and they survive a crash or restart
        #[arg(long, env = "LLMTAP_SPOOL_DIR", value_name = "DIR")]
        spool_dir: PathBuf => "none (in memory)",
        /// Bytes of event JSON the spool may hold; a request that does not fit gets 503
        #[arg(long, env = "LLMTAP_SPOOL_BYTES", value_name = "BYTES")]
        spool_bytes: u64 = DEFAULT_SPOOL_BYTES,
        /// On SIGTERM/SIGINT, how long the whole stop may take: draining requests, then delivering
        #[arg(long, env = "LLMTAP_SHUTDOWN_TIMEOUT_SECS", value_name = "SECS")]
        shutdown_timeout_secs: u64 = 30,
    }
}

/// A duration in the milliseconds of a `_ms` setting.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl ServeArgs {
    /// Flags and environment over the `--config` file over the defaults.
    fn resolve(self) -> Result<Settings, String> {
        let file = match &self.config {
            Some(path) => settings::read_file(path)?,
            None => ServeSettings::default(),
        };
        Ok(self.settings.or(file).resolve())
    }
}

/// Where events go: the capture API with an API key, else JSONL; and
/// PostgreSQL beside either (or alone) with `--postgres-url`. With
/// `--spool-dir` each network destination gets a spool of its own (PostHog's
/// in the directory, the database's in its `postgres/`), so what the
/// sidecar acknowledged survives a crash whichever of them is down. The one
/// place the sink is chosen.
///
/// `max_event_bytes` reaches both the event builder (which shrinks content
/// on the request threads) and the exporter (which only checks the size of
/// the JSON it serializes anyway): one setting, one limit.
fn output(s: &Settings) -> Result<Arc<dyn Sink>, String> {
    let shared = export_settings(s);
    let database = match &s.postgres_url {
        Some(url) => {
            let builder = PostgresBuilder::new(url.clone()).settings(shared.clone());
            let client: Arc<dyn Sink> = match &s.spool_dir {
                Some(dir) => {
                    let spool =
                        SpoolSettings::new(dir.join(DATABASE_SPOOL)).max_bytes(s.spool_bytes);
                    Arc::new(
                        builder
                            .build_spooled(spool)
                            .map_err(|e| format!("--postgres-url: {e}"))?,
                    )
                }
                None => Arc::new(
                    builder
                        .build()
                        .map_err(|e| format!("--postgres-url: {e}"))?,
                ),
            };
            Some(client)
        }
        None => None,
    };
    let Some(key) = &s.api_key else {
        if let (Some(database), None) = (&database, &s.output) {
            return Ok(database.clone());
        }
        if s.spool_dir.is_some() {
            return Err(
                "--spool-dir needs an API key or --postgres-url: JSONL output is written at once"
                    .into(),
            );
        }
        let sink: Arc<dyn Sink> = match &s.output {
            Some(path) => Arc::new(
                JsonlSink::create(path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?,
            ),
            None => Arc::new(JsonlSink::stdout()),
        };
        return Ok(with(sink, database));
    };
    // `new`, not `from_env`: clap has read POSTHOG_API_KEY and POSTHOG_HOST
    // (the exporter's ENV_* names) already, below the flags and above the file.
    let builder = CaptureBuilder::new()
        .api_key(key.clone())
        .host(&s.posthog_host)
        .gzip(s.gzip)
        .settings(shared);
    if let Some(dir) = &s.spool_dir {
        let spool = SpoolSettings::new(dir).max_bytes(s.spool_bytes);
        let spooled = builder.build_spooled(spool).map_err(|e| e.to_string())?;
        return Ok(with(Arc::new(spooled), database));
    }
    let client = builder
        .build()
        .map_err(|e| format!("capture settings: {e}"))?;
    Ok(with(Arc::new(client), database))
}

/// The database's spool, under `--spool-dir`.
const DATABASE_SPOOL: &str = "postgres";

/// The queue and batch settings every destination of the stream shares.
fn export_settings(s: &Settings) -> ExportSettings {
    ExportSettings::default()
        .queue_capacity(s.queue_capacity)
        .queue_bytes(s.queue_bytes)
        .batch_size(s.batch_size)
        .max_in_flight(s.max_in_flight)
        .flush_interval(Duration::from_millis(s.flush_interval_ms))
        .max_event_bytes(s.max_event_bytes)
}

/// `sink`, and the database too when there is one.
fn with(sink: Arc<dyn Sink>, database: Option<Arc<dyn Sink>>) -> Arc<dyn Sink> {
    match database {
        Some(database) => Arc::new(FanOut::new(vec![sink, database])),
        None => sink,
    }
}

/// Runs the sidecar until SIGTERM/SIGINT; exit 0 when every accepted event was delivered.
pub async fn run(args: ServeArgs) -> Result<ExitCode, String> {
    let s = args.resolve()?;
    if s.auth_token.is_none() && server::is_exposed(&s.listen) && !s.insecure {
        return Err(format!(
            "refusing to listen on {} without --auth-token; pass --insecure to do it anyway",
            s.listen
        ));
    }
    if s.max_connections == 0 || s.max_entries == 0 {
        return Err("--max-connections and --max-entries must be at least 1".into());
    }
    let mut options = EventOptions::default()
        .privacy_mode(s.privacy_mode)
        .max_event_bytes(s.max_event_bytes);
    for Property { key, value } in &s.properties {
        options = options.extra_property(key, value.as_str());
    }
    let destination = match (&s.api_key, &s.postgres_url, &s.output) {
        (Some(_), None, _) => "the capture API",
        (Some(_), Some(_), _) => "the capture API and PostgreSQL",
        (None, Some(_), None) => "PostgreSQL",
        (None, Some(_), Some(_)) => "JSONL (no API key) and PostgreSQL",
        (None, None, _) => "JSONL (no API key)",
    };
    let through = match s.spool_dir {
        Some(_) => ", through the spool",
        None => "",
    };
    let state = Arc::new(AppState {
        sink: output(&s)?,
        spooled: s.spool_dir.is_some(),
        pipeline: settings::observing(
            Pipeline::new(options),
            s.pricing.as_deref(),
            s.prefix_key.clone(),
        )?,
        metrics: Metrics::new(s.max_model_series),
        metrics_need_token: server::is_exposed(&s.listen) && !s.public_metrics,
        webhook: match s.alert_webhook.clone() {
            Some(url) => Some(Webhook::start(url).map_err(|e| format!("--alert-webhook: {e}"))?),
            None => None,
        },
        auth_token: s.auth_token,
        retry_after_secs: s.retry_after_secs,
        recent: RecentEvents::new(s.dedup_window),
        limits: BodyLimits {
            max_body_bytes: s.max_body_bytes,
            max_entries: s.max_entries,
            body_timeout: Duration::from_millis(s.body_timeout_ms),
        },
    });
    let listener = tokio::net::TcpListener::bind(s.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", s.listen))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("llmtap serve: listening on http://{bound}");
    tracing::info!(%bound, destination = %format_args!("{destination}{through}"), "Serving.");

    let limits = ConnectionLimits {
        header_timeout: Duration::from_millis(s.header_timeout_ms),
        max_connections: s.max_connections,
    };
    let timeout = Duration::from_secs(s.shutdown_timeout_secs);
    let app = server::router(state.clone());
    let first_signal = {
        let state = state.clone();
        async move {
            shutdown_signal().await;
            eprintln!("llmtap serve: shutting down, flushing accepted events");
            exit_on_second_signal(state);
        }
    };
    let deadline = server::serve(listener, app, limits, first_signal, timeout).await;

    // What the drain left of the shutdown timeout. Errs when something is
    // pending or was dropped; the counts tell which.
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let flushed = state.sink.shutdown(left).await;
    if let Some(hook) = &state.webhook {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        tokio::task::block_in_place(|| hook.close(left));
    }
    let d = state.sink.delivery();
    let left_over = if state.spooled {
        "stay spooled"
    } else {
        "pending"
    };
    eprintln!(
        "llmtap serve: stopped; {} events delivered, {} dropped ({}), {} {left_over}",
        d.delivered,
        d.dropped.total(),
        d.dropped,
        d.pending
    );
    // With a spool, what is left is on disk, not lost.
    let lossless = d.dropped.total() == 0 && (state.spooled || d.pending == 0);
    Ok(match (flushed, lossless) {
        (Ok(()), true) => ExitCode::SUCCESS,
        (Err(SinkError::Io(e)), _) => return Err(format!("flushing events failed: {e}")),
        _ => ExitCode::FAILURE,
    })
}

/// After the first signal, a second one stops the process at once, with
/// what is pending: nothing is lost with a spool (exit 0), the in-memory
/// queue is without one (exit 1).
fn exit_on_second_signal(state: Arc<AppState>) {
    tokio::spawn(async move {
        shutdown_signal().await;
        let d = state.sink.delivery();
        let code = if state.spooled {
            eprintln!(
                "llmtap serve: second signal; exiting now, {} events stay spooled",
                d.pending
            );
            0
        } else {
            eprintln!(
                "llmtap serve: second signal; exiting now, {} events lost",
                d.pending
            );
            1
        };
        std::process::exit(code);
    });
}

/// SIGINT or SIGTERM.
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
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use clap::Parser;

    use super::*;

    /// `llmtap serve`'s arguments alone, as the binary parses them.
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn parse(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        let argv = std::iter::once("serve").chain(args.iter().copied());
        Cli::try_parse_from(argv).map(|cli| cli.serve)
    }

    fn config_file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    fn props(settings: &Settings) -> Vec<(&str, &str)> {
        settings
            .properties
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str()))
            .collect()
    }

    /// The only test that sets these variables: clap reads the environment
    /// when the command is built, so this one test holds the whole order.
    #[test]
    fn a_flag_beats_the_environment_beats_the_file_beats_the_default() {
        std::env::set_var("LLMTAP_BATCH_SIZE", "8");
        std::env::set_var("LLMTAP_QUEUE_CAPACITY", "8");
        std::env::remove_var("LLMTAP_DEDUP_WINDOW");
        std::env::remove_var("LLMTAP_FLUSH_INTERVAL_MS");
        let file = config_file(
            "batch_size = 9\nqueue_capacity = 9\ndedup_window = 9\nprivacy_mode = true\n\
             gzip = false\n[properties]\nregion = \"eu\"\nteam = \"file\"\n",
        );
        let path = file.path().to_str().unwrap();
        let args = parse(&[
            "--config",
            path,
            "--batch-size",
            "7",
            "--property",
            "team=flag",
        ]);
        let s = args.unwrap().resolve().unwrap();
        std::env::remove_var("LLMTAP_BATCH_SIZE");
        std::env::remove_var("LLMTAP_QUEUE_CAPACITY");

        assert_eq!(s.batch_size, 7, "the flag");
        assert_eq!(s.queue_capacity, 8, "the environment");
        assert_eq!(s.dedup_window, 9, "the file");
        assert_eq!(s.flush_interval_ms, 1000, "the default");
        assert!(s.privacy_mode && !s.gzip, "booleans from the file");
        // The file's table, then the flags: the last `team` is the one events get.
        assert_eq!(
            props(&s),
            [("region", "eu"), ("team", "file"), ("team", "flag")]
        );
    }

    #[test]
    fn flags_that_take_no_value_override_the_file() {
        let file = ServeSettings {
            insecure: Some(false),
            gzip: Some(true),
            ..ServeSettings::default()
        };
        let flags = parse(&["--insecure", "--no-gzip"]).unwrap().settings;
        let s = flags.or(file).resolve();
        assert!(s.insecure && !s.gzip);
        let absent = parse(&[]).unwrap().settings;
        assert_eq!(
            (absent.insecure, absent.gzip),
            (None, None),
            "absent is unset"
        );
    }

    #[test]
    fn defaults_are_the_library_constants() {
        let s = ServeSettings::default().resolve();
        assert_eq!(s.listen, "127.0.0.1:4319".parse().unwrap());
        assert_eq!(s.posthog_host, DEFAULT_HOST);
        assert_eq!(s.queue_capacity, DEFAULT_QUEUE_CAPACITY);
        assert_eq!(s.queue_bytes, DEFAULT_QUEUE_BYTES);
        assert_eq!(s.batch_size, DEFAULT_BATCH_SIZE);
        assert_eq!(
            Duration::from_millis(s.flush_interval_ms),
            DEFAULT_FLUSH_INTERVAL
        );
        assert_eq!(s.max_event_bytes, DEFAULT_MAX_EVENT_BYTES);
        assert!(s.gzip && !s.insecure && !s.privacy_mode);
        assert!(s.auth_token.is_none() && s.api_key.is_none() && s.output.is_none());
    }

    #[test]
    fn an_unknown_key_in_the_file_is_an_error_naming_it() {
        let file = config_file("batch_size = 5\nlisten_on = \"127.0.0.1:1\"\n");
        let err = parse(&["--config", file.path().to_str().unwrap()])
            .unwrap()
            .resolve()
            .unwrap_err();
        assert!(err.contains("unknown field `listen_on`"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        // Not a setting of the file: the file cannot name another file.
        let err =
            settings::read_file::<ServeSettings>(config_file("config = \"x\"").path()).unwrap_err();
        assert!(err.contains("unknown field `config`"), "{err}");
    }

    #[test]
    fn a_blank_auth_token_is_refused() {
        for blank in ["", "  "] {
            let err = parse(&["--auth-token", blank]).unwrap_err();
            assert!(err.to_string().contains("empty or blank"), "{err}");
            let file = config_file(&format!("auth_token = \"{blank}\"\n"));
            let err = settings::read_file::<ServeSettings>(file.path()).unwrap_err();
            assert!(err.contains("empty or blank"), "{err}");
        }
        let token = parse(&["--auth-token", " t0ken-of-16-bytes "])
            .unwrap()
            .settings
            .auth_token;
        assert_eq!(
            token.unwrap().expose_bytes(),
            b"t0ken-of-16-bytes",
            "trimmed as clients' are"
        );
        let err = parse(&["--auth-token", "fifteen-bytes!!"]).unwrap_err();
        assert!(err.to_string().contains("at least 16 bytes"), "{err}");
    }

    #[test]
    fn secrets_stay_out_of_debug_help_and_file_errors() {
        let args = parse(&["--auth-token", "tok-123-0123456789", "--api-key", "phc_456"]).unwrap();
        let s = args.resolve().unwrap();
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("tok-123-0123456789") && !debug.contains("phc_456"),
            "{debug}"
        );
        assert!(debug.contains("**REDACTED**"));

        let help = <Cli as clap::CommandFactory>::command()
            .render_help()
            .to_string();
        for flag in ["--auth-token", "--api-key"] {
            let line = help.lines().find(|l| l.contains(flag)).unwrap();
            assert!(line.contains("[default: none]"), "{line}");
        }

        // toml would quote the broken line, and with it the token.
        let file = config_file("auth_token = \"tok-123\nbatch_size = 1\n");
        let err = settings::read_file::<ServeSettings>(file.path()).unwrap_err();
        assert!(!err.contains("tok-123"), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }
}

//! `llmtap replay`: payloads from a file or stdin, events to a sink.

use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use llmtap::EntryLocation;
use llmtap::DEFAULT_MAX_EVENT_BYTES;
use llmtap::{EventOptions, HeaderProperties, JsonlSink, Payload, Pipeline, Processed, Sink};
use llmtap_export::{
    ApiKey, CaptureClient, DatabaseUrl, DeliveryReport, FanOut, FullPolicy, PostgresBuilder,
    PostgresClient, Settings,
};

use super::input::{Entries, Entry};
use super::settings;
use super::summary::Summary;
use crate::webhook::Webhook;

/// Arguments of `llmtap replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// File of payloads (JSONL, a JSON array, or one JSON object); `-` reads standard input.
    input: PathBuf,
    /// Write events here instead of standard output (one JSON object per line).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Leave prompt and completion content ($ai_input, $ai_output_choices) out of events.
    #[arg(long)]
    privacy_mode: bool,
    /// Truncate content so each event stays under this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_EVENT_BYTES)]
    max_event_bytes: usize,
    #[command(flatten)]
    input_args: settings::InputArgs,
    #[command(flatten)]
    cache: settings::CacheArgs,
    /// A request header applied to every payload, as `Name: value`
    /// (`x-posthog-property-<key>`, `x-posthog-flag-<key>`, `traceparent`). Repeatable.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// A static property added to every event, as `key=value`. Repeatable.
    #[arg(long = "property", value_name = "KEY=VALUE")]
    properties: Vec<String>,
    /// Ship events to PostHog (`POSTHOG_HOST`, `POSTHOG_API_KEY`) instead of writing
    /// JSONL; exits 0 only when every event was delivered.
    #[arg(long, conflicts_with = "output")]
    posthog: bool,
    /// Also store every call in PostgreSQL (tables created on first use): `postgres://…`,
    /// alongside --posthog or alone; a secret, its password never shown.
    #[arg(long, env = "LLMTAP_POSTGRES_URL", hide_env_values = true, value_parser = settings::postgres_url)]
    postgres_url: Option<DatabaseUrl>,
    /// POST each cache alert here as Slack-compatible {"text": …} JSON; a secret, never logged.
    #[arg(long, env = "LLMTAP_ALERT_WEBHOOK", hide_env_values = true, value_parser = crate::webhook::url)]
    alert_webhook: Option<ApiKey>,
    /// With --posthog: send request bodies uncompressed.
    #[arg(long, requires = "posthog")]
    no_gzip: bool,
    /// With --posthog: how long to wait for delivery at the end.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    delivery_timeout_secs: u64,
}

/// How long `capture` may wait for queue room: replay has no caller to protect,
/// so it waits for the exporter rather than drop.
const QUEUE_WAIT: Duration = Duration::from_secs(60);

/// How long the end of a replay waits for alerts still on their way to
/// `--alert-webhook`.
const WEBHOOK_WAIT: Duration = Duration::from_secs(10);

/// Everything one payload needs besides its bytes.
struct Replayer {
    sink: Arc<dyn Sink>,
    headers: HeaderProperties,
    pipeline: Pipeline,
    summary: Summary,
    max_line_bytes: usize,
    webhook: Option<Webhook>,
}

impl Replayer {
    fn handle_entry(&mut self, location: EntryLocation, entry: Entry<'_>) {
        match entry {
            Entry::TooLong(len) => self.summary.skip(
                location,
                format_args!(
                    "{len} bytes, over --max-line-bytes ({})",
                    self.max_line_bytes
                ),
            ),
            Entry::Json(b"") => self
                .summary
                .skip(location, "empty entry (a trailing or doubled comma)"),
            Entry::Json(bytes) => self.handle(location, bytes),
        }
    }

    fn handle(&mut self, location: EntryLocation, bytes: &[u8]) {
        if bytes.trim_ascii() == b"null" {
            return self.summary.skip(location, "null entry");
        }
        let payload = match Payload::from_slice(bytes) {
            Ok(p) => p,
            Err(e) => return self.summary.skip(location, e),
        };
        let processed = match self.pipeline.process(&payload, &self.headers) {
            Ok(p) => p,
            Err(e) => return self.summary.skip(location, e),
        };
        let Processed {
            event,
            usage,
            observation,
            alerts,
            ..
        } = processed;
        match self.sink.capture(event) {
            Ok(()) => {
                self.summary.written += 1;
                self.summary.record(&payload, usage, &observation);
            }
            Err(e) => self.summary.skip(location, e),
        }
        // Alerts go where the calls go, right after the call that raised them.
        for alert in &alerts {
            tracing::warn!(kind = %alert.kind, "{alert}");
            self.summary.alerts += 1;
            if let Some(hook) = &self.webhook {
                hook.send(alert);
            }
            if let Err(e) = self.sink.capture(alert.to_event()) {
                self.summary
                    .skip(location, format_args!("{} alert: {e}", alert.kind));
            }
        }
    }
}

/// Runs the replay; the exit code is non-zero only when no event could be produced.
pub async fn run(args: ReplayArgs) -> Result<ExitCode, String> {
    let headers = parse_headers(&args.headers)?;
    let mut options = EventOptions::default()
        .privacy_mode(args.privacy_mode)
        .max_event_bytes(args.max_event_bytes);
    for prop in &args.properties {
        let (k, v) = prop
            .split_once('=')
            .ok_or_else(|| format!("--property {prop:?}: expected KEY=VALUE"))?;
        options = options.extra_property(k.trim(), v);
    }
    let exporter = if args.posthog {
        let client = CaptureClient::builder()
            .when_full(FullPolicy::Block(QUEUE_WAIT))
            .gzip(!args.no_gzip)
            .build()
            .map_err(|e| format!("--posthog: {e}"))?;
        Some(Arc::new(client))
    } else {
        None
    };
    let database = match &args.postgres_url {
        Some(url) => {
            let settings = Settings::default().when_full(FullPolicy::Block(QUEUE_WAIT));
            let client = PostgresBuilder::new(url.clone())
                .settings(settings)
                .build()
                .map_err(|e| format!("--postgres-url: {e}"))?;
            Some(Arc::new(client))
        }
        None => None,
    };
    // JSONL to --output, else to stdout when no other destination is named.
    let jsonl: Option<Arc<JsonlSink>> = match &args.output {
        Some(path) => {
            Some(Arc::new(JsonlSink::create(path).map_err(|e| {
                format!("cannot create {}: {e}", path.display())
            })?))
        }
        None if exporter.is_none() && database.is_none() => Some(Arc::new(JsonlSink::stdout())),
        None => None,
    };
    let mut sinks: Vec<Arc<dyn Sink>> = Vec::new();
    if let Some(client) = &exporter {
        sinks.push(client.clone());
    }
    if let Some(client) = &database {
        sinks.push(client.clone());
    }
    if let Some(file) = &jsonl {
        sinks.push(file.clone());
    }
    let sink: Arc<dyn Sink> = match sinks.len() {
        1 => sinks.remove(0),
        _ => Arc::new(FanOut::new(sinks)),
    };
    let mut replayer = Replayer {
        sink: Arc::clone(&sink),
        headers,
        pipeline: args.cache.apply(Pipeline::new(options))?,
        summary: Summary::default(),
        max_line_bytes: args.input_args.max_line_bytes,
        webhook: match args.alert_webhook.clone() {
            Some(url) => Some(Webhook::start(url).map_err(|e| format!("--alert-webhook: {e}"))?),
            None => None,
        },
    };

    let (reader, size): (Box<dyn Read>, _) = if args.input.as_os_str() == "-" {
        (Box::new(io::stdin().lock()), None)
    } else {
        let file = File::open(&args.input)
            .map_err(|e| format!("cannot open {}: {e}", args.input.display()))?;
        let size = file
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        (Box::new(file), size)
    };
    // Events written to the terminal would scroll the bar away.
    let events_on_terminal = jsonl.is_some() && args.output.is_none() && io::stdout().is_terminal();
    let mut progress = Progress::start(size).filter(|_| !events_on_terminal);
    let mut entries = Entries::new(reader, args.input_args.max_line_bytes);
    // A read error ends the input, not the run: what was read still goes out.
    let read = loop {
        match entries.next_entry() {
            Ok(Some((location, entry))) => replayer.handle_entry(location, entry),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
        if let Some(progress) = &mut progress {
            progress.update(entries.bytes_read(), &replayer.summary, exporter.as_deref());
        }
    };

    let delivery = match &exporter {
        Some(client) => {
            let timeout = Duration::from_secs(args.delivery_timeout_secs);
            let shutdown = CaptureClient::shutdown(client, timeout);
            Some(match &mut progress {
                Some(progress) => progress.while_delivering(client, shutdown).await,
                None => shutdown.await,
            })
        }
        None => None,
    };
    let stored = match &database {
        Some(client) => {
            let timeout = Duration::from_secs(args.delivery_timeout_secs);
            Some(PostgresClient::shutdown(client, timeout).await)
        }
        None => None,
    };
    if let Some(file) = &jsonl {
        file.shutdown(Duration::from_secs(30))
            .await
            .map_err(|e| format!("writing events failed: {e}"))?;
    }
    if let Some(hook) = &replayer.webhook {
        hook.close(WEBHOOK_WAIT);
    }
    if let Some(progress) = progress {
        progress.bar.finish_and_clear();
    }
    let summary = replayer.summary;
    eprint!("{summary}");
    read.map_err(|e| format!("cannot read {}: {e}", args.input.display()))?;
    if summary.written == 0 {
        eprintln!("llmtap replay: no event could be produced from the input");
        return Ok(ExitCode::FAILURE);
    }
    let mut lossless = true;
    for (report, destination) in [
        (delivery, "delivered to PostHog"),
        (stored, "stored in PostgreSQL"),
    ] {
        if let Some(report) = report {
            lossless &= said(&report, destination);
        }
    }
    Ok(if lossless {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints what became of the events at one destination; true when nothing was lost.
fn said(report: &DeliveryReport, destination: &str) -> bool {
    eprintln!(
        "llmtap replay: {} events {destination}, {} dropped ({}), {} pending",
        report.delivered,
        report.dropped.total(),
        report.dropped,
        report.pending
    );
    report.is_lossless()
}

/// How often the progress line is redrawn at most: often enough to look
/// live, rarely enough that drawing costs nothing next to the replay.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Progress on stderr, for someone watching a long replay at a terminal.
/// Never shown when stderr is a file or a pipe, where it would be noise in
/// a log (the summary at the end says everything).
struct Progress {
    bar: ProgressBar,
    next: Instant,
}

impl Progress {
    /// A bar over `size` bytes, or a counter when the size is unknown (stdin).
    fn start(size: Option<u64>) -> Option<Progress> {
        if !io::stderr().is_terminal() {
            return None;
        }
        let (bar, template) = match size {
            Some(size) => (
                ProgressBar::new(size),
                "{elapsed_precise} [{wide_bar}] {binary_bytes}/{binary_total_bytes} \
                 ({binary_bytes_per_sec}, {eta} left) {msg}",
            ),
            None => (
                ProgressBar::new_spinner(),
                "{elapsed_precise} {spinner} {binary_bytes} ({binary_bytes_per_sec}) {msg}",
            ),
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        Some(Progress {
            bar,
            next: Instant::now(),
        })
    }

    /// Called after every entry; does something only every [`PROGRESS_EVERY`].
    fn update(&mut self, read: u64, summary: &Summary, exporter: Option<&CaptureClient>) {
        let now = Instant::now();
        if now < self.next {
            return;
        }
        self.next = now + PROGRESS_EVERY;
        self.bar.set_position(read);
        let (written, skipped) = (summary.written, summary.skipped);
        self.bar.set_message(match exporter {
            Some(client) => format!(
                "{written} events, {skipped} skipped, {} delivered",
                client.stats().sent
            ),
            None => format!("{written} events, {skipped} skipped"),
        });
    }

    /// Keeps counting deliveries while the exporter drains its queue, which
    /// can take as long as `--delivery-timeout-secs`.
    async fn while_delivering<T>(
        &mut self,
        client: &CaptureClient,
        shutdown: impl std::future::Future<Output = T>,
    ) -> T {
        let mut tick = tokio::time::interval(PROGRESS_EVERY);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                done = &mut shutdown => return done,
                _ = tick.tick() => {
                    let stats = client.stats();
                    self.bar.set_message(format!(
                        "delivering: {} delivered, {} pending",
                        stats.sent, stats.pending
                    ));
                }
            }
        }
    }
}

fn parse_headers(raw: &[String]) -> Result<HeaderProperties, String> {
    let pairs = raw
        .iter()
        .map(|h| {
            h.split_once(':')
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| format!("--header {h:?}: expected NAME: VALUE"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HeaderProperties::from_pairs(pairs))
}

//! `llmtap replay`: payloads from a file or stdin, events to a sink.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use llmtap::DEFAULT_MAX_EVENT_BYTES;
use llmtap::{split_body, EntryLocation};
use llmtap::{EventOptions, HeaderProperties, JsonlSink, Payload, Pipeline, Processed, Sink};
use llmtap_export::{CaptureClient, FullPolicy};
use serde::de::IgnoredAny;

use super::summary::Summary;

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

/// Everything one payload needs besides its bytes.
struct Replayer {
    sink: Arc<dyn Sink>,
    headers: HeaderProperties,
    pipeline: Pipeline,
    summary: Summary,
}

impl Replayer {
    fn handle(&mut self, location: EntryLocation, bytes: &[u8]) {
        if bytes.trim_ascii() == b"null" {
            return self.summary.skip(location, "null entry");
        }
        let payload = match Payload::from_slice(bytes) {
            Ok(p) => p,
            Err(e) => return self.summary.skip(location, e),
        };
        let Processed { event, usage, .. } = match self.pipeline.process(&payload, &self.headers) {
            Ok(p) => p,
            Err(e) => return self.summary.skip(location, e),
        };
        match self.sink.capture(event) {
            Ok(()) => {
                self.summary.written += 1;
                self.summary
                    .record(payload.provider(), &payload.model, usage);
            }
            Err(e) => self.summary.skip(location, e),
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
    let sink: Arc<dyn Sink> = match (&exporter, &args.output) {
        (Some(client), _) => client.clone(),
        (None, Some(path)) => Arc::new(
            JsonlSink::create(path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?,
        ),
        (None, None) => Arc::new(JsonlSink::stdout()),
    };
    let mut replayer = Replayer {
        sink: Arc::clone(&sink),
        headers,
        pipeline: Pipeline::new(options),
        summary: Summary::default(),
    };

    let reader: Box<dyn Read> = if args.input.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(
            File::open(&args.input)
                .map_err(|e| format!("cannot open {}: {e}", args.input.display()))?,
        )
    };
    read_entries(BufReader::with_capacity(1 << 20, reader), &mut replayer)
        .map_err(|e| format!("cannot read {}: {e}", args.input.display()))?;

    let delivery = match &exporter {
        Some(client) => {
            let timeout = Duration::from_secs(args.delivery_timeout_secs);
            Some(CaptureClient::shutdown(client, timeout).await)
        }
        None => {
            sink.shutdown(Duration::from_secs(30))
                .await
                .map_err(|e| format!("writing events failed: {e}"))?;
            None
        }
    };
    let summary = replayer.summary;
    eprint!("{summary}");
    if summary.written == 0 {
        eprintln!("llmtap replay: no event could be produced from the input");
        return Ok(ExitCode::FAILURE);
    }
    if let Some(report) = delivery {
        eprintln!(
            "llmtap replay: {} events delivered to PostHog, {} dropped ({}), {} pending",
            report.delivered,
            report.dropped.total(),
            report.dropped,
            report.pending
        );
        if !report.is_lossless() {
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// NDJSON is processed line by line, so memory stays flat on large files;
/// any other shape (an array, a pretty-printed object) is read whole.
fn read_entries(mut reader: impl BufRead, replayer: &mut Replayer) -> io::Result<()> {
    let mut line = Vec::new();
    let mut line_no = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        line_no += 1;
        if !line.trim_ascii().is_empty() {
            break;
        }
    }
    let first = line.trim_ascii();
    let is_ndjson = first.starts_with(b"{") && serde_json::from_slice::<IgnoredAny>(first).is_ok();
    if !is_ndjson {
        let mut body = std::mem::take(&mut line);
        reader.read_to_end(&mut body)?;
        match split_body(&body) {
            Ok(entries) => {
                for entry in entries {
                    let location = match entry.location {
                        // Lines counted from the first non-empty one: shift back.
                        EntryLocation::Line(n) => EntryLocation::Line(n + line_no - 1),
                        other => other,
                    };
                    replayer.handle(location, entry.bytes);
                }
            }
            Err(e) => replayer.summary.skip("input", e),
        }
        return Ok(());
    }
    loop {
        if !line.trim_ascii().is_empty() {
            replayer.handle(EntryLocation::Line(line_no), line.trim_ascii());
        }
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        line_no += 1;
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

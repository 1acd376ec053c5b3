//! `llmtap report`: payload files in, one self-contained HTML page out; or,
//! with `--postgres-url`, the calls a database stores (`postgres.rs`), as
//! text tables or the same page.
//!
//! The calls of files go through the same [`Pipeline`] as `replay`'s (same
//! pricing file, same prefix key), in file order, so the page shows the
//! figures `replay`'s summary prints for the same input; no event is built
//! for a sink, nothing leaves the machine.

mod postgres;

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use llmtap::{Alert, EventOptions, HeaderProperties, Payload, Pipeline};
use llmtap_cli::report::{self, Aggregates, Call, Page};
use llmtap_export::DatabaseUrl;

use super::input::{Entries, Entry};
use super::settings;

/// Arguments of `llmtap report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Files of payloads (JSONL, a JSON array, or one JSON object), read in
    /// order as one stream; `-` reads standard input. Without any, the
    /// report is on the database of --postgres-url.
    #[arg(value_name = "FILE", required_unless_present = "postgres_url")]
    inputs: Vec<PathBuf>,
    /// The HTML file to write (with --postgres-url and no --output, the report
    /// is text on standard output).
    #[arg(
        short,
        long,
        value_name = "FILE",
        required_unless_present = "postgres_url"
    )]
    output: Option<PathBuf>,
    /// Without FILE arguments: report on the calls a PostgreSQL database
    /// stores (what `serve` and `replay` wrote with --postgres-url).
    #[arg(long, env = "LLMTAP_POSTGRES_URL", hide_env_values = true,
          value_parser = settings::postgres_url)]
    postgres_url: Option<DatabaseUrl>,
    /// With --postgres-url: calls from this time on (RFC 3339, YYYY-MM-DD, or
    /// an age such as 24h or 7d).
    #[arg(long, value_name = "TIME", value_parser = postgres::time_arg, requires = "postgres_url", conflicts_with = "inputs")]
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// With --postgres-url: calls before this time (as --since).
    #[arg(long, value_name = "TIME", value_parser = postgres::time_arg, requires = "postgres_url", conflicts_with = "inputs")]
    until: Option<chrono::DateTime<chrono::Utc>>,
    /// With --postgres-url: only the calls of this trace id.
    #[arg(
        long,
        value_name = "ID",
        requires = "postgres_url",
        conflicts_with = "inputs"
    )]
    trace: Option<String>,
    /// With --postgres-url: only the calls of this session id.
    #[arg(
        long,
        value_name = "ID",
        requires = "postgres_url",
        conflicts_with = "inputs"
    )]
    session: Option<String>,
    #[command(flatten)]
    input_args: settings::InputArgs,
    #[command(flatten)]
    cache: settings::CacheArgs,
}

/// Reads every input, writes the page; fails when no call could be read.
pub fn run(args: ReportArgs) -> Result<ExitCode, String> {
    // Files named are what is reported on, whatever LLMTAP_POSTGRES_URL says.
    if let (Some(url), true) = (&args.postgres_url, args.inputs.is_empty()) {
        let filter = postgres::Filter {
            since: args.since,
            until: args.until,
            trace: args.trace.clone(),
            session: args.session.clone(),
        };
        return postgres::run(url, &filter, args.output.as_deref());
    }
    let Some(output) = &args.output else {
        return Err("--output FILE is required to report on files".into());
    };
    let pipeline = args.cache.apply(Pipeline::new(EventOptions::default()))?;
    let headers = HeaderProperties::default();
    let mut aggregates = Aggregates::default();
    let mut skipped = 0u64;
    let mut alerts: Vec<[String; 4]> = Vec::new();
    for path in &args.inputs {
        let reader: Box<dyn Read> = if path.as_os_str() == "-" {
            Box::new(io::stdin().lock())
        } else {
            Box::new(File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?)
        };
        let mut entries = Entries::new(reader, args.input_args.max_line_bytes);
        while let Some((_, entry)) = entries
            .next_entry()
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        {
            let Entry::Json(bytes) = entry else {
                skipped += 1;
                continue;
            };
            if bytes.is_empty() || bytes.trim_ascii() == b"null" {
                skipped += 1;
                continue;
            }
            let Ok(payload) = Payload::from_slice(bytes) else {
                skipped += 1;
                continue;
            };
            match pipeline.process(&payload, &headers) {
                Ok(processed) => {
                    aggregates.record(&Call::new(
                        &payload,
                        processed.usage,
                        &processed.observation,
                    ));
                    alerts.extend(processed.alerts.iter().map(alert_row));
                }
                Err(_) => skipped += 1,
            }
        }
    }
    let calls = aggregates.totals().calls;
    let inputs: Vec<String> = args
        .inputs
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let page = Page {
        inputs: &inputs,
        skipped,
        alerts: Some(&alerts),
    };
    let html = report::render(&aggregates, &page);
    std::fs::write(output, html).map_err(|e| format!("cannot write {}: {e}", output.display()))?;
    eprintln!(
        "llmtap report: {calls} calls, {skipped} payloads skipped, {} prefixes; wrote {}",
        aggregates.prefix_count(),
        output.display()
    );
    if calls == 0 {
        eprintln!("llmtap report: no call could be read from the input");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// An alert as a row of the page's table: when, what, where, and its line.
/// Alerts are rare (each rule fires once until it re-arms, or once an hour),
/// so keeping them all costs little.
fn alert_row(alert: &Alert) -> [String; 4] {
    let scope = match alert.prefix_id {
        Some(id) => format!("{}/{} prefix {id}", alert.provider, alert.model),
        None => format!("{}/{}", alert.provider, alert.model),
    };
    [
        report::time(Some(alert.at.as_micros())),
        alert.kind.to_string(),
        scope,
        alert.to_string(),
    ]
}

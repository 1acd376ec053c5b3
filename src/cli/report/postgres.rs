//! `llmtap report --postgres-url`: the same questions asked of the calls
//! PostgreSQL stores.
//!
//! - Text (no `--output`): the four queries of `queries.sql` (cache summary,
//!   effectiveness per model, top prefixes by savings, hit ratio by call
//!   index), printed as tables. The README shows that file, so what a user
//!   reads there is what runs here.
//! - HTML (`--output FILE`): the rows in range are read back in time order,
//!   one at a time, into the aggregates a file report draws, so the page is
//!   the one `llmtap report` writes for the payload files those rows came from.
//!
//! Both take the same filter: a time range on `ts`, a trace, a session.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, Utc};
use llmtap::{Alert, Event, Observation, PrefixId, Usage};
use llmtap_cli::report::{self, Aggregates, Call, Page, MISS_KINDS};
use llmtap_export::DatabaseUrl;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};

/// The text report's queries, `;`-terminated, each under a `-- N. Title` line.
pub const QUERIES: &str = include_str!("queries.sql");

/// The filter every query takes, as `$1`..`$4`.
const FILTER: &str = "ts >= coalesce($1::timestamptz, '-infinity') \
    AND ts < coalesce($2::timestamptz, 'infinity') \
    AND ($3::text IS NULL OR trace_id = $3) AND ($4::text IS NULL OR session_id = $4)";

/// Which calls a report covers.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// From this time on (inclusive).
    pub since: Option<DateTime<Utc>>,
    /// Before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only this `trace_id`.
    pub trace: Option<String>,
    /// Only this `session_id`.
    pub session: Option<String>,
}

impl Filter {
    fn params(&self) -> [&(dyn ToSql + Sync); 4] {
        [&self.since, &self.until, &self.trace, &self.session]
    }

    /// What the filter keeps, for the report's heading.
    fn describe(&self) -> String {
        let time = |t: Option<DateTime<Utc>>, open: &str| {
            t.map_or_else(|| open.to_owned(), |t| t.to_rfc3339())
        };
        let mut s = match (self.since, self.until) {
            (None, None) => "all time".to_owned(),
            (since, until) => format!("{} to {}", time(since, "the start"), time(until, "now")),
        };
        if let Some(trace) = &self.trace {
            let _ = write!(s, ", trace {trace}");
        }
        if let Some(session) = &self.session {
            let _ = write!(s, ", session {session}");
        }
        s
    }
}

/// clap's parser for `--since` / `--until`: RFC 3339 (`2026-12-01T09:00:00Z`),
/// a date (`2026-12-01`, midnight UTC), or a time ago (`90m`, `24h`, `7d`).
pub fn time_arg(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    let ago = humantime::parse_duration(s).map_err(|_| {
        format!("{s:?} is not a time: use RFC 3339, YYYY-MM-DD, or an age such as 24h or 7d")
    })?;
    chrono::Duration::from_std(ago)
        .ok()
        .and_then(|ago| Utc::now().checked_sub_signed(ago))
        .ok_or_else(|| format!("{s:?} is too long ago"))
}

/// Runs the report on a current-thread runtime: text to stdout, or the
/// page to `output`.
pub fn run(url: &DatabaseUrl, filter: &Filter, output: Option<&Path>) -> Result<ExitCode, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    runtime.block_on(async {
        let client = llmtap_export::connect_postgres(url).await?;
        let heading = format!("{url}, {}", filter.describe());
        let calls = match output {
            None => {
                let (text, calls) = text_report(&client, filter).await?;
                print!("llmtap report: {heading}\n\n{text}");
                calls
            }
            Some(path) => {
                let (html, aggregates) = html_report(&client, filter, &heading).await?;
                std::fs::write(path, html)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                let calls = i64::try_from(aggregates.totals().calls).unwrap_or(i64::MAX);
                eprintln!(
                    "llmtap report: {calls} calls, {} prefixes; wrote {}",
                    aggregates.prefix_count(),
                    path.display()
                );
                calls
            }
        };
        if calls == 0 {
            eprintln!("llmtap report: no call in {heading}");
            return Ok(ExitCode::FAILURE);
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Each query of [`QUERIES`] with its title.
pub fn queries() -> impl Iterator<Item = (&'static str, &'static str)> {
    QUERIES
        .split_inclusive(";\n")
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(|q| {
            let title = q
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("-- "))
                .unwrap_or("");
            (title, q)
        })
}

/// The four tables, and the summary's count of calls.
async fn text_report(client: &Client, filter: &Filter) -> Result<(String, i64), String> {
    let mut out = String::new();
    let mut calls = 0;
    for (title, sql) in queries() {
        let rows = client
            .query(sql, &filter.params())
            .await
            .map_err(|e| failed(title, &e))?;
        if calls == 0 {
            calls = rows
                .first()
                .and_then(|r| r.try_get("calls").ok())
                .unwrap_or(0);
        }
        let _ = writeln!(out, "{title}");
        out.push_str(&table(&rows));
        out.push('\n');
    }
    Ok((out, calls))
}

/// A query that failed, said as the database said it (tokio-postgres's own
/// text is only "db error"); a database llmtap never wrote to is named so.
fn failed(what: &str, e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) if *db.code() == SqlState::UNDEFINED_TABLE => format!(
            "{what}: the database has no llmtap tables yet ({}); `serve` and `replay` with \
             --postgres-url create them",
            db.message()
        ),
        Some(db) => format!("{what}: {}", db.message()),
        None => format!("{what}: {e}"),
    }
}

/// Rows as aligned columns under their names (text to the left, numbers to
/// the right); `-` for NULL.
fn table(rows: &[Row]) -> String {
    let Some(first) = rows.first() else {
        return "  (no rows)\n".to_owned();
    };
    let columns = first.columns();
    let left: Vec<bool> = columns.iter().map(|c| *c.type_() == Type::TEXT).collect();
    let names: Vec<&str> = columns.iter().map(|c| c.name()).collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| (0..names.len()).map(|i| cell(row, i)).collect())
        .collect();
    let widths: Vec<usize> = (0..names.len())
        .map(|i| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .fold(names[i].len(), usize::max)
        })
        .collect();
    let mut out = String::new();
    let mut line = |values: &mut dyn Iterator<Item = &str>| {
        out.push(' ');
        for ((value, width), left) in values.zip(&widths).zip(&left) {
            let _ = match left {
                true => write!(out, " {value:<width$}"),
                false => write!(out, " {value:>width$}"),
            };
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    };
    line(&mut names.iter().copied());
    for row in &cells {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// One value as text: ratios as percentages, dollars to the micro-dollar.
fn cell(row: &Row, i: usize) -> String {
    let column = &row.columns()[i];
    let name = column.name();
    let text = match *column.type_() {
        Type::INT8 => row.get::<_, Option<i64>>(i).map(|n| n.to_string()),
        Type::INT4 => row.get::<_, Option<i32>>(i).map(|n| n.to_string()),
        Type::FLOAT8 => row.get::<_, Option<f64>>(i).map(|x| {
            if name.ends_with("_ratio") {
                format!("{:.1}%", x * 100.0)
            } else if name.ends_with("_usd") {
                format!("{x:.6}")
            } else {
                format!("{x:.3}")
            }
        }),
        _ => row.get::<_, Option<String>>(i),
    };
    text.unwrap_or_else(|| "-".to_owned())
}

/// The page of the calls in range, and the aggregates it drew.
async fn html_report(
    client: &Client,
    filter: &Filter,
    heading: &str,
) -> Result<(String, Aggregates), String> {
    use futures_util::TryStreamExt as _;

    let sql = format!(
        "SELECT provider, model, input_tokens, output_tokens, cache_read_tokens, \
         cache_write_tokens, cache_write_5m_tokens, cache_write_1h_tokens, reasoning_tokens, \
         cost_usd, cache_savings_usd, cache_prefix_id, cache_miss, ts, \
         coalesce(session_id, trace_id) FROM llm_calls WHERE {FILTER} ORDER BY ts, uuid"
    );
    let rows = client
        .query_raw(&sql, filter.params())
        .await
        .map_err(|e| failed("reading the calls", &e))?;
    let mut rows = std::pin::pin!(rows);
    let mut aggregates = Aggregates::default();
    while let Some(row) = rows
        .try_next()
        .await
        .map_err(|e| failed("reading the calls", &e))?
    {
        record(&mut aggregates, &row);
    }

    let sql = "SELECT ts, properties::text FROM llm_cache_alerts \
         WHERE ts >= coalesce($1::timestamptz, '-infinity') \
         AND ts < coalesce($2::timestamptz, 'infinity') ORDER BY ts, uuid";
    let alerts: Vec<[String; 4]> = client
        .query(sql, &filter.params()[..2])
        .await
        .map_err(|e| failed("reading the alerts", &e))?
        .iter()
        .filter_map(alert_row)
        .collect();
    let inputs = [heading.to_owned()];
    let page = Page {
        inputs: &inputs,
        skipped: 0,
        alerts: Some(&alerts),
    };
    Ok((report::render(&aggregates, &page), aggregates))
}

/// One row of `llm_calls` as the call the aggregates count.
fn record(aggregates: &mut Aggregates, row: &Row) {
    let count = |i: usize| {
        row.get::<_, Option<i64>>(i)
            .and_then(|n| u64::try_from(n).ok())
    };
    let mut usage = Usage::default();
    usage.input = count(2);
    usage.output = count(3);
    usage.cache_read = count(4);
    usage.cache_write = count(5);
    usage.cache_write_5m = count(6);
    usage.cache_write_1h = count(7);
    usage.reasoning = count(8);
    let mut observation = Observation::default();
    observation.savings_usd = row.get(10);
    observation.prefix_id = row.get::<_, Option<&str>>(11).and_then(PrefixId::from_hex);
    let miss: Option<&str> = row.get(12);
    observation.miss = MISS_KINDS.into_iter().find(|k| Some(k.as_str()) == miss);
    let ts: DateTime<Utc> = row.get(13);
    aggregates.record(&Call {
        provider: row.get::<_, Option<&str>>(0).unwrap_or_default(),
        model: row.get::<_, Option<&str>>(1).unwrap_or_default(),
        usage,
        cost_usd: row.get(9),
        observation: &observation,
        at: Some(ts.timestamp_micros()),
        trace: row.get(14),
    });
}

/// A stored alert as a row of the page's table (as the file report's).
fn alert_row(row: &Row) -> Option<[String; 4]> {
    let ts: DateTime<Utc> = row.get(0);
    let properties: &str = row.get(1);
    let event = Event {
        event: llmtap::props::CACHE_ALERT.to_owned(),
        properties: serde_json::from_str(properties).ok()?,
        timestamp: Some(llmtap::payload::Timestamp::from_micros(
            ts.timestamp_micros(),
        )),
        ..Event::default()
    };
    Alert::from_event(&event).map(|alert| super::alert_row(&alert))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_shows_the_queries_that_run() {
        let readme = include_str!("../../../README.md");
        assert!(
            readme.contains(QUERIES),
            "README.md must quote queries.sql whole"
        );
        let titles: Vec<&str> = queries().map(|(title, _)| title).collect();
        assert_eq!(
            titles,
            [
                "1. Cache summary",
                "2. Effectiveness per model",
                "3. Top prefixes by savings",
                "4. Hit ratio by call index within traces"
            ]
        );
        // Each takes the one filter, as $1..$4.
        for (title, sql) in queries() {
            for param in ["$1", "$2", "$3", "$4"] {
                assert!(sql.contains(param), "{title} lacks {param}");
            }
        }
    }

    #[test]
    fn times_are_instants_dates_or_ages() {
        let t = time_arg("2026-12-01T09:30:00+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-01T08:30:00+00:00");
        assert_eq!(
            time_arg("2026-12-01").unwrap().to_rfc3339(),
            "2026-12-01T00:00:00+00:00"
        );
        let ago = Utc::now() - time_arg("24h").unwrap();
        assert!((ago.num_minutes() - 24 * 60).abs() <= 1, "{ago}");
        assert!(time_arg("7d").is_ok());
        for bad in ["", "soon", "2026-13-01", "-5h"] {
            assert!(time_arg(bad).is_err(), "{bad:?}");
        }
    }
}

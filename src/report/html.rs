//! The report page: one self-contained HTML file (inline CSS and SVG, no
//! script, no network), so it can be mailed, attached to an issue or opened
//! from a CI artifact offline.
//!
//! Every figure a test or a reader may compare with `replay`'s summary sits
//! in a table cell marked `data-k="…"` and is printed exactly as the summary
//! prints it. Every text from a payload (model names, providers, ids) goes
//! through [`escape`].

use std::fmt::Write as _;

use llmtap::payload::Timestamp;

use super::aggregate::{Aggregates, Ratio, Totals, MAX_CALL_INDEX, MISS_KINDS};
use super::svg::{self, Line, PALETTE};

/// Prefixes listed in the report's table.
pub const TABLE_PREFIXES: usize = 20;
/// Prefixes drawn in the hit-ratio-over-time chart (besides "all calls").
pub const CHART_PREFIXES: usize = 5;

/// What the page shows besides the aggregates.
#[derive(Debug, Default)]
pub struct Page<'a> {
    /// The input files, as given.
    pub inputs: &'a [String],
    /// Payloads that produced no call.
    pub skipped: u64,
    /// Alert rows, when the pipeline raises alerts: `(time, kind, scope, detail)`.
    pub alerts: Option<&'a [[String; 4]]>,
}

/// `s` safe in HTML text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A hit ratio as the summary prints it (`97.3%`, `-` when unknown).
pub fn percent(r: &Ratio) -> String {
    r.value()
        .map_or_else(|| "-".to_owned(), |v| format!("{:.1}%", 100.0 * v))
}

/// USD as the summary prints it.
pub fn usd(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.4}"))
}

/// Misses as the summary prints them (`cold 3, silent 1`, `-` when none).
pub fn misses(t: &Totals) -> String {
    let parts: Vec<String> = MISS_KINDS
        .iter()
        .zip(t.misses)
        .filter(|&(_, n)| n > 0)
        .map(|(kind, n)| format!("{kind} {n}"))
        .collect();
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(", ")
    }
}

/// A payload time (µs) to the second, UTC.
pub fn time(micros: Option<i64>) -> String {
    micros.map_or_else(
        || "-".to_owned(),
        |m| {
            let s = Timestamp::from_micros(m).to_rfc3339();
            // 2026-11-22T11:07:49.604047Z → 2026-11-22 11:07:49
            s.get(..19).unwrap_or(&s).replace('T', " ")
        },
    )
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}\
.muted{color:#666}.chart{width:100%;height:auto;max-width:760px;display:block}\
table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums}\
th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}th{background:#f6f6f6}\
td.l,th.l{text-align:left}code{font-size:12px}\
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px}\
.card b{display:block;font-size:20px}";

fn cell(out: &mut String, key: &str, value: &str) {
    let _ = write!(out, r#"<td data-k="{key}">{}</td>"#, escape(value));
}

fn text_cell(out: &mut String, key: &str, value: &str) {
    let _ = write!(
        out,
        r#"<td class="l" data-k="{key}">{}</td>"#,
        escape(value)
    );
}

fn header(out: &mut String, columns: &[&str]) {
    out.push_str("<table><thead><tr>");
    for (i, c) in columns.iter().enumerate() {
        let class = if i < 2 { r#" class="l""# } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", escape(c));
    }
    out.push_str("</tr></thead><tbody>");
}

/// The whole page.
pub fn render(agg: &Aggregates, page: &Page<'_>) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let all = agg.totals();
    out.push_str(r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">"#);
    out.push_str(r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#);
    let _ = write!(
        out,
        "<title>llmtap cache report</title><style>{STYLE}</style></head><body>"
    );
    out.push_str("<h1>llmtap cache report</h1>");
    let _ = write!(
        out,
        r#"<p class="muted">From {}; {} calls, {} payloads skipped.</p>"#,
        escape(&page.inputs.join(", ")),
        all.calls,
        page.skipped
    );
    out.push_str(r#"<div class="cards" id="totals">"#);
    for (key, label, value) in [
        ("calls", "calls", all.calls.to_string()),
        ("cache_hit", "cache hit ratio", percent(&all.hit)),
        ("cost_usd", "cost (USD)", usd(all.cost_usd)),
        (
            "saved_usd",
            "saved by the cache (USD)",
            usd(all.savings_usd),
        ),
        ("misses", "misses", all.total_misses().to_string()),
        (
            "prefixes",
            "distinct prefixes",
            agg.prefix_count().to_string(),
        ),
    ] {
        let _ = write!(
            out,
            r#"<div class="card"><b data-k="{key}">{}</b>{}</div>"#,
            escape(&value),
            escape(label)
        );
    }
    out.push_str("</div>");

    hit_ratio_over_time(&mut out, agg);
    per_model(&mut out, agg);
    per_prefix(&mut out, agg);
    by_call_index(&mut out, agg);
    if let Some(alerts) = page.alerts {
        alerts_table(&mut out, alerts);
    }
    out.push_str(r#"<p class="muted">Hit ratio = Σ cache read ÷ Σ input over the calls that report both. Generated by llmtap report.</p>"#);
    out.push_str("</body></html>\n");
    out
}

fn runs(series: &super::aggregate::Series) -> Vec<Vec<(f64, f64)>> {
    let width = series.width_secs();
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut last: Option<i64> = None;
    for (start, ratio) in series.buckets() {
        let Some(v) = ratio.value() else { continue };
        let point = ((start as f64) + width as f64 / 2.0, v);
        match (runs.last_mut(), last) {
            (Some(run), Some(prev)) if start - prev <= width => run.push(point),
            _ => runs.push(vec![point]),
        }
        last = Some(start);
    }
    runs
}

fn hit_ratio_over_time(out: &mut String, agg: &Aggregates) {
    out.push_str("<h2>Hit ratio over time</h2>");
    let mut lines = vec![Line {
        label: "all calls".to_owned(),
        color: PALETTE[0],
        runs: runs(agg.overall_series()),
    }];
    let charted = agg
        .top_prefixes(CHART_PREFIXES)
        .into_iter()
        .filter(|p| p.totals.calls > 1);
    for (i, prefix) in charted.enumerate() {
        lines.push(Line {
            label: format!("prefix {}", prefix.id),
            color: PALETTE[1 + i % (PALETTE.len() - 1)],
            runs: runs(&prefix.series),
        });
    }
    let xs = lines
        .iter()
        .flat_map(|l| l.runs.iter().flatten().map(|p| p.0));
    let (lo, hi) = xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    if lo > hi {
        out.push_str(r#"<p class="muted">No call reported both cache read and input.</p>"#);
        return;
    }
    let width = agg.overall_series().width_secs();
    let _ = write!(
        out,
        r#"<p class="muted">All calls and the {} busiest prefixes with more than one call, in buckets of {} s of payload time (the first bucket starts {}). A gap is a time without calls of that prefix.</p>"#,
        lines.len() - 1,
        width,
        escape(&time(Some(((lo - width as f64 / 2.0) * 1e6) as i64)))
    );
    out.push_str(&svg::line_chart("hit ratio over time", &lines, lo, hi));
}

fn per_model(out: &mut String, agg: &Aggregates) {
    out.push_str("<h2>Cost and savings per model</h2>");
    let models: Vec<_> = agg.models().collect();
    let names: Vec<String> = models.iter().map(|(_, m, _)| (*m).to_owned()).collect();
    let cost: Vec<f64> = models
        .iter()
        .map(|(_, _, t)| t.cost_usd.unwrap_or(0.0))
        .collect();
    let saved: Vec<f64> = models
        .iter()
        .map(|(_, _, t)| t.savings_usd.unwrap_or(0.0))
        .collect();
    out.push_str(&svg::bar_chart(
        "cost and savings per model",
        &names,
        &[
            ("cost USD", PALETTE[1], cost),
            ("saved USD", PALETTE[3], saved),
        ],
        |v| format!("${v:.2}"),
    ));
    out.push_str("<h2>Misses by kind</h2>");
    let kinds: Vec<String> = MISS_KINDS.iter().map(|k| k.to_string()).collect();
    let series: Vec<(&str, &'static str, Vec<f64>)> = models
        .iter()
        .enumerate()
        .map(|(i, (_, m, t))| {
            (
                *m,
                PALETTE[1 + i % (PALETTE.len() - 1)],
                t.misses.iter().map(|&n| n as f64).collect(),
            )
        })
        .collect();
    out.push_str(&svg::bar_chart("misses by kind", &kinds, &series, |v| {
        format!("{v:.0}")
    }));
    out.push_str(r#"<h2>Per model</h2><div id="models">"#);
    header(
        out,
        &[
            "provider",
            "model",
            "calls",
            "input",
            "output",
            "cache read",
            "cache write",
            "cache hit",
            "cost USD",
            "saved USD",
            "misses",
        ],
    );
    let count = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |n| n.to_string());
    for (provider, model, t) in &models {
        let _ = write!(
            out,
            r#"<tr data-model="{}">"#,
            escape(&format!("{provider}/{model}"))
        );
        text_cell(
            out,
            "provider",
            if provider.is_empty() { "?" } else { provider },
        );
        text_cell(out, "model", model);
        cell(out, "calls", &t.calls.to_string());
        cell(out, "input", &count(t.usage.input));
        cell(out, "output", &count(t.usage.output));
        cell(out, "cache_read", &count(t.usage.cache_read));
        cell(out, "cache_write", &count(t.usage.cache_write));
        cell(out, "cache_hit", &percent(&t.hit));
        cell(out, "cost_usd", &usd(t.cost_usd));
        cell(out, "saved_usd", &usd(t.savings_usd));
        text_cell(out, "misses", &misses(t));
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
}

fn per_prefix(out: &mut String, agg: &Aggregates) {
    let _ = write!(
        out,
        r#"<h2>Prefixes</h2><p class="muted"><span data-k="prefix_count">{}</span> distinct prefixes{}; the {} busiest:</p><div id="prefixes">"#,
        agg.prefix_count(),
        if agg.prefixes_pruned().is_some() {
            " (an upper bound: the least busy were dropped from memory and are summed under “other”)"
        } else {
            ""
        },
        TABLE_PREFIXES
    );
    header(
        out,
        &[
            "prefix",
            "model",
            "calls",
            "cache hit",
            "saved USD",
            "misses",
            "first seen",
            "last seen",
        ],
    );
    for p in agg.top_prefixes(TABLE_PREFIXES) {
        let _ = write!(out, r#"<tr data-prefix="{}">"#, p.id);
        let _ = write!(
            out,
            r#"<td class="l" data-k="prefix"><code>{}</code></td>"#,
            p.id
        );
        text_cell(out, "model", &p.model_label());
        cell(out, "calls", &p.totals.calls.to_string());
        cell(out, "cache_hit", &percent(&p.totals.hit));
        cell(out, "saved_usd", &usd(p.totals.savings_usd));
        text_cell(out, "misses", &misses(&p.totals));
        cell(out, "first_seen", &time(p.first_seen));
        cell(out, "last_seen", &time(p.last_seen));
        out.push_str("</tr>");
    }
    if let Some(other) = agg.prefixes_pruned() {
        out.push_str(r#"<tr data-prefix="other"><td class="l">other</td><td></td>"#);
        cell(out, "calls", &other.calls.to_string());
        cell(out, "cache_hit", &percent(&other.hit));
        cell(out, "saved_usd", &usd(other.savings_usd));
        text_cell(out, "misses", &misses(other));
        out.push_str("<td></td><td></td></tr>");
    }
    out.push_str("</tbody></table></div>");
}

fn by_call_index(out: &mut String, agg: &Aggregates) {
    out.push_str("<h2>Hit ratio by call index within a trace</h2>");
    let rows = agg.by_call_index();
    if rows.is_empty() {
        out.push_str(r#"<p class="muted">No call carried a session or trace id.</p>"#);
        return;
    }
    out.push_str(r#"<p class="muted">Call 1, 2, 3… of each session (else trace): how the cache warms up along a run.</p>"#);
    let label = |i: usize| {
        if i + 1 == MAX_CALL_INDEX {
            format!("{MAX_CALL_INDEX}+")
        } else {
            (i + 1).to_string()
        }
    };
    let names: Vec<String> = (0..rows.len()).map(label).collect();
    let values: Vec<f64> = rows.iter().map(|r| r.value().unwrap_or(0.0)).collect();
    out.push_str(&svg::bar_chart(
        "hit ratio by call index",
        &names,
        &[("cache hit ratio", PALETTE[1], values)],
        |v| format!("{:.0}%", v * 100.0),
    ));
    out.push_str(r#"<div id="call-index">"#);
    header(out, &["call", "", "calls", "cache hit"]);
    for (i, r) in rows.iter().enumerate() {
        let _ = write!(out, r#"<tr data-index="{}">"#, label(i));
        text_cell(out, "index", &label(i));
        out.push_str("<td></td>");
        cell(out, "calls", &r.calls.to_string());
        cell(out, "cache_hit", &percent(r));
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
}

fn alerts_table(out: &mut String, alerts: &[[String; 4]]) {
    let _ = write!(
        out,
        r#"<h2>Alerts</h2><p class="muted"><span data-k="alert_count">{}</span> alerts raised.</p><div id="alerts">"#,
        alerts.len()
    );
    header(out, &["time", "kind", "scope", "detail"]);
    for row in alerts {
        out.push_str("<tr>");
        for (key, v) in ["time", "kind", "scope", "detail"].iter().zip(row) {
            text_cell(out, key, v);
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_text_is_escaped() {
        assert_eq!(
            escape(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn times_are_to_the_second() {
        assert_eq!(time(Some(1_795_345_669_604_047)), "2026-11-22 11:07:49");
        assert_eq!(time(None), "-");
    }
}

//! The per-provider/model token summary that `replay` prints.

use std::collections::BTreeMap;
use std::fmt::{self, Display};

use llmtap::{CacheMiss, Observation, Usage};

/// Totals of one replay.
#[derive(Debug, Default)]
pub struct Summary {
    rows: BTreeMap<(String, String), Row>,
    /// Events handed to the sink.
    pub written: u64,
    /// Payloads that produced no event.
    pub skipped: u64,
    /// `(where, why)` for the first [`SHOWN_SKIPS`] of them: a file of a
    /// million bad lines must not keep a million messages.
    shown_skips: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct Row {
    calls: u64,
    usage: Usage,
    /// Σ cache read and Σ input over the calls that report both: the hit
    /// ratio of several calls.
    hit: (u64, u64),
    /// Σ of what was reported; `None` while no call reported any.
    cost_usd: Option<f64>,
    savings_usd: Option<f64>,
    /// Misses by kind, in [`MISS_KINDS`] order.
    misses: [u64; 4],
}

const MISS_KINDS: [CacheMiss; 4] = [
    CacheMiss::Uncached,
    CacheMiss::Cold,
    CacheMiss::Expired,
    CacheMiss::Silent,
];

fn add(total: &mut Option<f64>, v: Option<f64>) {
    if let Some(v) = v {
        *total = Some(total.unwrap_or(0.0) + v);
    }
}

/// Skip reasons printed one by one before the rest are only counted.
const SHOWN_SKIPS: usize = 20;

impl Summary {
    /// Records one call: its normalized usage, LiteLLM's cost, and what the
    /// prompt cache did.
    pub fn record(
        &mut self,
        provider: &str,
        model: &str,
        usage: Usage,
        cost_usd: Option<f64>,
        cache: &Observation,
    ) {
        let row = self
            .rows
            .entry((provider.to_owned(), model.to_owned()))
            .or_default();
        row.calls += 1;
        if let (Some(read), Some(input)) = (usage.cache_read, usage.input) {
            row.hit.0 += read;
            row.hit.1 += input;
        }
        row.usage += usage;
        add(&mut row.cost_usd, cost_usd.or(cache.priced_cost_usd));
        add(&mut row.savings_usd, cache.savings_usd);
        if let Some(miss) = cache.miss {
            if let Some(i) = MISS_KINDS.iter().position(|&k| k == miss) {
                row.misses[i] += 1;
            }
        }
    }

    /// Records a payload that produced no event.
    pub fn skip(&mut self, location: impl Display, reason: impl Display) {
        self.skipped += 1;
        if self.shown_skips.len() < SHOWN_SKIPS {
            self.shown_skips
                .push((location.to_string(), reason.to_string()));
        }
    }
}

fn count(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), |n| n.to_string())
}

impl Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "llmtap replay: {} events written, {} payloads skipped",
            self.written, self.skipped
        )?;
        for (location, reason) in &self.shown_skips {
            writeln!(f, "  skipped {location}: {reason}")?;
        }
        let unshown = self.skipped - self.shown_skips.len() as u64;
        if unshown > 0 {
            writeln!(f, "  … and {unshown} more")?;
        }
        if self.rows.is_empty() {
            return Ok(());
        }
        let pw = self
            .rows
            .keys()
            .map(|(p, _)| p.len())
            .max()
            .unwrap_or(0)
            .max(8);
        let mw = self
            .rows
            .keys()
            .map(|(_, m)| m.len())
            .max()
            .unwrap_or(0)
            .max(5);
        writeln!(
            f,
            "{:<pw$} {:<mw$} {:>6} {:>10} {:>10} {:>11} {:>11} {:>10} {:>9} {:>10} {:>10}  misses",
            "provider",
            "model",
            "calls",
            "input",
            "output",
            "cache_read",
            "cache_write",
            "reasoning",
            "cache_hit",
            "cost_usd",
            "saved_usd",
        )?;
        for ((provider, model), row) in &self.rows {
            let u = &row.usage;
            let hit = match row.hit {
                (r, i) if i > 0 => format!("{:.1}%", 100.0 * r as f64 / i as f64),
                _ => "-".to_owned(),
            };
            let usd = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.4}"));
            let misses: Vec<String> = MISS_KINDS
                .iter()
                .zip(row.misses)
                .filter(|&(_, n)| n > 0)
                .map(|(kind, n)| format!("{kind} {n}"))
                .collect();
            writeln!(
                f,
                "{:<pw$} {:<mw$} {:>6} {:>10} {:>10} {:>11} {:>11} {:>10} {:>9} {:>10} {:>10}  {}",
                if provider.is_empty() { "?" } else { provider },
                model,
                row.calls,
                count(u.input),
                count(u.output),
                count(u.cache_read),
                count(u.cache_write),
                count(u.reasoning),
                hit,
                usd(row.cost_usd),
                usd(row.savings_usd),
                if misses.is_empty() {
                    "-".to_owned()
                } else {
                    misses.join(", ")
                },
            )?;
        }
        Ok(())
    }
}

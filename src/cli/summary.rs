//! The per-provider/model token summary that `replay` prints, then its
//! busiest prefixes. The figures are `llmtap_cli::report`'s aggregates, the
//! ones `llmtap report` draws, so the two never disagree.

use std::fmt::{self, Display};

use llmtap::{Observation, Payload, Usage};
use llmtap_cli::report::{self, Aggregates, Call};

/// Totals of one replay.
#[derive(Debug, Default)]
pub struct Summary {
    aggregates: Aggregates,
    /// Events handed to the sink.
    pub written: u64,
    /// Payloads that produced no event.
    pub skipped: u64,
    /// Cache alerts raised; their events are written among the calls'.
    pub alerts: u64,
    /// `(where, why)` for the first [`SHOWN_SKIPS`] of them: a file of a
    /// million bad lines must not keep a million messages.
    shown_skips: Vec<(String, String)>,
}

/// Prefixes listed after the per-model table.
const SHOWN_PREFIXES: usize = 10;

/// Skip reasons printed one by one before the rest are only counted.
const SHOWN_SKIPS: usize = 20;

impl Summary {
    /// Records one call: its normalized usage, its cost, what the prompt
    /// cache did, and when and in which trace it happened.
    pub fn record(&mut self, payload: &Payload, usage: Usage, cache: &Observation) {
        self.aggregates.record(&Call::new(payload, usage, cache));
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
        if self.alerts > 0 {
            writeln!(f, "llmtap replay: {} cache alerts raised", self.alerts)?;
        }
        for (location, reason) in &self.shown_skips {
            writeln!(f, "  skipped {location}: {reason}")?;
        }
        let unshown = self.skipped - self.shown_skips.len() as u64;
        if unshown > 0 {
            writeln!(f, "  … and {unshown} more")?;
        }
        let rows: Vec<_> = self.aggregates.models().collect();
        if rows.is_empty() {
            return Ok(());
        }
        let pw = rows
            .iter()
            .map(|(p, _, _)| p.len())
            .max()
            .unwrap_or(0)
            .max(8);
        let mw = rows
            .iter()
            .map(|(_, m, _)| m.len())
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
        for &(provider, model, row) in &rows {
            let u = &row.usage;
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
                report::percent(&row.hit),
                report::usd(row.cost_usd),
                report::usd(row.savings_usd),
                report::misses(row),
            )?;
        }
        self.prefixes(f)
    }
}

impl Summary {
    /// The busiest prefixes, with the count of all of them.
    fn prefixes(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let top = self.aggregates.top_prefixes(SHOWN_PREFIXES);
        if top.is_empty() {
            return Ok(());
        }
        let count = self.aggregates.prefix_count();
        match self.aggregates.prefixes_pruned() {
            None => writeln!(f, "{count} distinct prefixes; the busiest:")?,
            Some(other) => writeln!(
                f,
                "at most {count} distinct prefixes ({} calls of the least busy ones \
                 are no longer told apart); the busiest:",
                other.calls
            )?,
        }
        let models: Vec<String> = top.iter().map(|p| p.model_label()).collect();
        let mw = models.iter().map(String::len).max().unwrap_or(0).max(5);
        writeln!(
            f,
            "{:<16} {:<mw$} {:>6} {:>9} {:>10} {:<19} {:<19}  misses",
            "prefix", "model", "calls", "cache_hit", "saved_usd", "first_seen", "last_seen",
        )?;
        for (p, model) in top.iter().zip(&models) {
            writeln!(
                f,
                "{:<16} {:<mw$} {:>6} {:>9} {:>10} {:<19} {:<19}  {}",
                p.id.to_string(),
                model,
                p.totals.calls,
                report::percent(&p.totals.hit),
                report::usd(p.totals.savings_usd),
                report::time(p.first_seen),
                report::time(p.last_seen),
                report::misses(&p.totals),
            )?;
        }
        Ok(())
    }
}

//! The per-provider/model token summary that `replay` prints.

use std::collections::BTreeMap;
use std::fmt::{self, Display};

use llmtap::Usage;

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
}

/// Skip reasons printed one by one before the rest are only counted.
const SHOWN_SKIPS: usize = 20;

impl Summary {
    /// Records one call's normalized usage.
    pub fn record(&mut self, provider: &str, model: &str, usage: Usage) {
        let row = self
            .rows
            .entry((provider.to_owned(), model.to_owned()))
            .or_default();
        row.calls += 1;
        row.usage += usage;
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
            "{:<pw$} {:<mw$} {:>6} {:>10} {:>10} {:>11} {:>11} {:>10} {:>9}",
            "provider",
            "model",
            "calls",
            "input",
            "output",
            "cache_read",
            "cache_write",
            "reasoning",
            "cache_hit"
        )?;
        for ((provider, model), row) in &self.rows {
            let u = &row.usage;
            let hit = match (u.cache_read, u.input) {
                (Some(r), Some(i)) if i > 0 => format!("{:.1}%", 100.0 * r as f64 / i as f64),
                _ => "-".to_owned(),
            };
            writeln!(
                f,
                "{:<pw$} {:<mw$} {:>6} {:>10} {:>10} {:>11} {:>11} {:>10} {:>9}",
                if provider.is_empty() { "?" } else { provider },
                model,
                row.calls,
                count(u.input),
                count(u.output),
                count(u.cache_read),
                count(u.cache_write),
                count(u.reasoning),
                hit
            )?;
        }
        Ok(())
    }
}

//! What a stream of calls adds up to, and the page that shows it.
//!
//! - `aggregate.rs`: per model, per prefix, per trace call index and over
//!   time, in bounded memory; `replay`'s summary and `llmtap report` both
//!   read these, so their figures cannot disagree.
//! - `html.rs`: the self-contained HTML report.
//! - `svg.rs`: its charts, drawn as inline SVG.

mod aggregate;
mod html;
mod svg;

pub use aggregate::{
    Aggregates, Call, Limits, PrefixRow, Ratio, Series, Totals, MAX_BUCKETS, MAX_CALL_INDEX,
    MISS_KINDS,
};
pub use html::{escape, misses, percent, render, time, usd, Page, CHART_PREFIXES, TABLE_PREFIXES};

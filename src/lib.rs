//! Support of the `llmtap` binary shared with its benchmarks; not a public API.
//! The library a gateway embeds is the `llmtap` crate, delivery over the
//! network is `llmtap-export`.

pub mod generate;
pub mod report;

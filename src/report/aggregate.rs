//! What a stream of calls adds up to: per model, per prefix, per trace, over time.
//!
//! Every hit ratio here is Σ cache read ÷ Σ input over the calls that report
//! both, never a mean of per-call ratios (a 10-token call must not weigh as
//! much as a 100 k one). Memory is bounded whatever the input's size:
//!
//! - prefixes: at most [`Limits::prefixes`] are tracked. When a new one would
//!   exceed that, the half with the fewest calls is folded into one "other
//!   prefixes" row (so totals stay exact) and forgotten. Busy prefixes survive
//!   (a prefix needs as many calls as the median to be dropped); one that
//!   comes back after being dropped starts again from that call, and the
//!   count of distinct prefixes becomes an upper bound ([`Aggregates::prefixes_pruned`]).
//! - traces: the call index of each trace is remembered in two generations
//!   of at most [`Limits::traces`] / 2 traces each; a trace idle while that
//!   many others start is forgotten, and its next call counts as call 1 again.
//! - call indices past [`MAX_CALL_INDEX`] share its bucket.
//! - time series: at most [`MAX_BUCKETS`] buckets each; when a series would
//!   need more, its bucket width doubles and neighbours merge.

use std::collections::{BTreeMap, HashMap};

use llmtap::{CacheMiss, Observation, Payload, PrefixId, Usage};

/// Miss kinds in the order every table shows them.
pub const MISS_KINDS: [CacheMiss; 4] = [
    CacheMiss::Uncached,
    CacheMiss::Cold,
    CacheMiss::Expired,
    CacheMiss::Silent,
];

/// Calls past this index within one trace share its bucket ("20+").
pub const MAX_CALL_INDEX: usize = 20;

/// Buckets a time series keeps at most: enough points for a chart's line.
pub const MAX_BUCKETS: usize = 48;

/// A series' first bucket width, before it doubles to fit [`MAX_BUCKETS`].
const FIRST_BUCKET_SECS: i64 = 10;

/// How much the aggregates may remember.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Prefixes tracked at once (each with its time series, ≤ ~1.5 KB).
    pub prefixes: usize,
    /// Traces whose call index is remembered (two generations of half each).
    pub traces: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            prefixes: 4096,
            traces: 65_536,
        }
    }
}

/// Σ cache read over Σ input, of the calls that reported both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ratio {
    /// Σ cache read.
    pub read: u64,
    /// Σ input.
    pub input: u64,
    /// How many calls reported both.
    pub calls: u64,
}

impl Ratio {
    fn add(&mut self, usage: &Usage) {
        if let (Some(read), Some(input)) = (usage.cache_read, usage.input) {
            self.merge(Ratio {
                read,
                input,
                calls: 1,
            });
        }
    }

    fn merge(&mut self, other: Ratio) {
        self.read += other.read;
        self.input += other.input;
        self.calls += other.calls;
    }

    /// The ratio, when some input was reported.
    pub fn value(&self) -> Option<f64> {
        (self.input > 0).then(|| self.read as f64 / self.input as f64)
    }
}

/// The figures of a group of calls (a model, a prefix, everything).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    /// Calls in the group.
    pub calls: u64,
    /// Σ normalized usage.
    pub usage: Usage,
    /// The group's hit ratio.
    pub hit: Ratio,
    /// Σ cost (LiteLLM's, else the pricing file's); `None` while no call had one.
    pub cost_usd: Option<f64>,
    /// Σ cache savings; `None` while no call's could be computed.
    pub savings_usd: Option<f64>,
    /// Misses by kind, in [`MISS_KINDS`] order.
    pub misses: [u64; 4],
}

fn add(total: &mut Option<f64>, v: Option<f64>) {
    if let Some(v) = v {
        *total = Some(total.unwrap_or(0.0) + v);
    }
}

impl Totals {
    fn record(&mut self, call: &Call<'_>) {
        self.calls += 1;
        self.hit.add(&call.usage);
        self.usage += call.usage;
        add(&mut self.cost_usd, call.cost_usd);
        add(&mut self.savings_usd, call.observation.savings_usd);
        if let Some(miss) = call.observation.miss {
            if let Some(i) = MISS_KINDS.iter().position(|&k| k == miss) {
                self.misses[i] += 1;
            }
        }
    }

    fn merge(&mut self, other: &Totals) {
        self.calls += other.calls;
        self.hit.merge(other.hit);
        self.usage += other.usage;
        add(&mut self.cost_usd, other.cost_usd);
        add(&mut self.savings_usd, other.savings_usd);
        for (m, o) in self.misses.iter_mut().zip(other.misses) {
            *m += o;
        }
    }

    /// All misses, whatever their kind.
    pub fn total_misses(&self) -> u64 {
        self.misses.iter().sum()
    }
}

/// One call, as the aggregates need it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// `custom_llm_provider` ("" when absent).
    pub provider: &'a str,
    /// The SLP's `model`.
    pub model: &'a str,
    /// The normalized usage.
    pub usage: Usage,
    /// LiteLLM's cost, else the pricing file's.
    pub cost_usd: Option<f64>,
    /// What the cache did.
    pub observation: &'a Observation,
    /// The payload's start (else end) time, µs since the epoch.
    pub at: Option<i64>,
    /// The session id, else the trace id: what groups the calls of one run.
    pub trace: Option<&'a str>,
}

impl<'a> Call<'a> {
    /// The call of `payload` through the pipeline.
    pub fn new(payload: &'a Payload, usage: Usage, observation: &'a Observation) -> Self {
        let non_empty = |s: &'a Option<String>| s.as_deref().filter(|s| !s.is_empty());
        Call {
            provider: payload.provider(),
            model: &payload.model,
            usage,
            cost_usd: payload.cost_usd().or(observation.priced_cost_usd),
            observation,
            at: payload
                .start_time
                .or(payload.end_time)
                .map(|t| t.as_micros()),
            trace: non_empty(&payload.session_id).or_else(|| non_empty(&payload.trace_id)),
        }
    }
}

/// One prefix's figures.
#[derive(Debug, Clone)]
pub struct PrefixRow {
    /// The prefix id.
    pub id: PrefixId,
    /// The model of its first call.
    pub model: String,
    /// Whether calls of other models shared it (the id is of the content only).
    pub other_models: bool,
    /// Its calls' figures.
    pub totals: Totals,
    /// Earliest and latest payload time of its calls (µs since the epoch).
    pub first_seen: Option<i64>,
    /// See `first_seen`.
    pub last_seen: Option<i64>,
    /// Its hit ratio over time.
    pub series: Series,
    /// Order of first appearance, to break ties between equally busy prefixes.
    seq: u64,
}

impl PrefixRow {
    /// The model column: its first call's model, marked when others shared it.
    pub fn model_label(&self) -> String {
        if self.other_models {
            format!("{} and others", self.model)
        } else {
            self.model.clone()
        }
    }
}

/// A hit ratio over payload time, in buckets of one width.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    width_secs: i64,
    /// Sorted by index (start ÷ width), only buckets with calls.
    buckets: Vec<(i64, Ratio)>,
}

impl Default for Series {
    fn default() -> Self {
        Series {
            width_secs: FIRST_BUCKET_SECS,
            buckets: Vec::new(),
        }
    }
}

impl Series {
    fn add(&mut self, at_micros: i64, usage: &Usage) {
        let mut ratio = Ratio::default();
        ratio.add(usage);
        if ratio.calls == 0 {
            return;
        }
        let index = at_micros.div_euclid(1_000_000).div_euclid(self.width_secs);
        match self.buckets.binary_search_by_key(&index, |b| b.0) {
            Ok(i) => self.buckets[i].1.merge(ratio),
            Err(i) => self.buckets.insert(i, (index, ratio)),
        }
        while self.buckets.len() > MAX_BUCKETS {
            self.width_secs *= 2;
            let mut merged: Vec<(i64, Ratio)> = Vec::with_capacity(self.buckets.len() / 2 + 1);
            for (index, ratio) in self.buckets.drain(..) {
                let index = index.div_euclid(2);
                match merged.last_mut() {
                    Some(last) if last.0 == index => last.1.merge(ratio),
                    _ => merged.push((index, ratio)),
                }
            }
            self.buckets = merged;
        }
    }

    /// The bucket width in seconds.
    pub fn width_secs(&self) -> i64 {
        self.width_secs
    }

    /// `(bucket start in seconds since the epoch, its ratio)`, in time order;
    /// buckets without calls are absent.
    pub fn buckets(&self) -> impl Iterator<Item = (i64, Ratio)> + '_ {
        self.buckets
            .iter()
            .map(|&(index, ratio)| (index * self.width_secs, ratio))
    }
}

/// Call indices of live traces, in two generations (see the module docs).
#[derive(Debug, Default)]
struct TraceIndex {
    current: HashMap<String, u32>,
    previous: HashMap<String, u32>,
}

impl TraceIndex {
    /// The 1-based index of this call within its trace.
    fn next(&mut self, trace: &str, limit: usize) -> u32 {
        if let Some(n) = self.current.get_mut(trace) {
            *n += 1;
            return *n;
        }
        let n = self.previous.remove(trace).unwrap_or(0) + 1;
        if self.current.len() >= (limit / 2).max(1) {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(trace.to_owned(), n);
        n
    }
}

/// Everything a replay or a report shows about a stream of calls.
#[derive(Debug, Default)]
pub struct Aggregates {
    limits: Limits,
    models: BTreeMap<(String, String), Totals>,
    prefixes: HashMap<PrefixId, PrefixRow>,
    /// Figures of the prefixes pruned away.
    other_prefixes: Totals,
    prefixes_seen: u64,
    pruned: bool,
    overall: Series,
    traces: TraceIndex,
    /// Index 0 is each trace's first call; the last holds the rest.
    by_call_index: Vec<Ratio>,
}

impl Aggregates {
    /// Empty aggregates that remember at most what `limits` allow.
    pub fn new(limits: Limits) -> Self {
        Aggregates {
            limits,
            ..Aggregates::default()
        }
    }

    /// Adds one call to every view.
    pub fn record(&mut self, call: &Call<'_>) {
        self.models
            .entry((call.provider.to_owned(), call.model.to_owned()))
            .or_default()
            .record(call);
        if let Some(at) = call.at {
            self.overall.add(at, &call.usage);
        }
        if let Some(trace) = call.trace {
            let n = self.traces.next(trace, self.limits.traces) as usize;
            let i = n.min(MAX_CALL_INDEX) - 1;
            if self.by_call_index.len() <= i {
                self.by_call_index.resize(i + 1, Ratio::default());
            }
            self.by_call_index[i].add(&call.usage);
        }
        if let Some(id) = call.observation.prefix_id {
            self.record_prefix(id, call);
        }
    }

    fn record_prefix(&mut self, id: PrefixId, call: &Call<'_>) {
        if !self.prefixes.contains_key(&id) {
            if self.prefixes.len() >= self.limits.prefixes.max(1) {
                self.prune();
            }
            self.prefixes_seen += 1;
            self.prefixes.insert(
                id,
                PrefixRow {
                    id,
                    model: call.model.to_owned(),
                    other_models: false,
                    totals: Totals::default(),
                    first_seen: None,
                    last_seen: None,
                    series: Series::default(),
                    seq: self.prefixes_seen,
                },
            );
        }
        let Some(row) = self.prefixes.get_mut(&id) else {
            return;
        };
        row.other_models |= row.model != call.model;
        row.totals.record(call);
        if let Some(at) = call.at {
            row.first_seen = Some(row.first_seen.map_or(at, |t| t.min(at)));
            row.last_seen = Some(row.last_seen.map_or(at, |t| t.max(at)));
            row.series.add(at, &call.usage);
        }
    }

    /// Folds the least busy half of the prefixes into `other_prefixes`.
    fn prune(&mut self) {
        let mut calls: Vec<u64> = self.prefixes.values().map(|r| r.totals.calls).collect();
        let mid = calls.len() / 2;
        let (_, &mut median, _) = calls.select_nth_unstable(mid);
        // Drop strictly below the median, then enough at the median for half.
        let mut at_median_left = mid
            - self
                .prefixes
                .values()
                .filter(|r| r.totals.calls < median)
                .count();
        let other = &mut self.other_prefixes;
        self.prefixes.retain(|_, row| {
            let drop = row.totals.calls < median
                || (row.totals.calls == median && at_median_left > 0 && {
                    at_median_left -= 1;
                    true
                });
            if drop {
                other.merge(&row.totals);
            }
            !drop
        });
        self.pruned = true;
    }

    /// Per (provider, model), sorted.
    pub fn models(&self) -> impl Iterator<Item = (&str, &str, &Totals)> {
        self.models
            .iter()
            .map(|((p, m), t)| (p.as_str(), m.as_str(), t))
    }

    /// Every call's figures together.
    pub fn totals(&self) -> Totals {
        let mut all = Totals::default();
        for t in self.models.values() {
            all.merge(t);
        }
        all
    }

    /// The `n` prefixes with the most calls (the earliest first among equals).
    pub fn top_prefixes(&self, n: usize) -> Vec<&PrefixRow> {
        let mut rows: Vec<&PrefixRow> = self.prefixes.values().collect();
        rows.sort_by(|a, b| b.totals.calls.cmp(&a.totals.calls).then(a.seq.cmp(&b.seq)));
        rows.truncate(n);
        rows
    }

    /// Distinct prefixes seen; an upper bound once [`Self::prefixes_pruned`].
    pub fn prefix_count(&self) -> u64 {
        self.prefixes_seen
    }

    /// Whether the prefix table was pruned, and what the pruned prefixes did.
    pub fn prefixes_pruned(&self) -> Option<&Totals> {
        self.pruned.then_some(&self.other_prefixes)
    }

    /// Every call's hit ratio over time.
    pub fn overall_series(&self) -> &Series {
        &self.overall
    }

    /// Hit ratio by call index within a trace: `[0]` is every trace's first
    /// call; the last entry, at [`MAX_CALL_INDEX`], holds the calls past it.
    pub fn by_call_index(&self) -> &[Ratio] {
        &self.by_call_index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(read: u64, input: u64) -> Usage {
        let mut u = Usage::default();
        u.input = Some(input);
        u.cache_read = Some(read);
        u
    }

    fn call<'a>(obs: &'a Observation, usage: Usage, at_secs: i64, trace: &'a str) -> Call<'a> {
        Call {
            provider: "anthropic",
            model: "claude",
            usage,
            cost_usd: Some(0.01),
            observation: obs,
            at: Some(at_secs * 1_000_000),
            trace: Some(trace),
        }
    }

    fn observation(id: Option<PrefixId>, miss: Option<CacheMiss>) -> Observation {
        let mut o = Observation::default();
        o.prefix_id = id;
        o.miss = miss;
        o
    }

    fn id(n: u64) -> PrefixId {
        let text = format!("[{{\"role\":\"system\",\"content\":\"prompt {n}\"}}]");
        let slp =
            format!(r#"{{"model":"gpt-4o","custom_llm_provider":"openai","messages":{text}}}"#);
        let payload = Payload::from_slice(slp.as_bytes()).unwrap();
        llmtap::cache_prefix_id(&payload, None).unwrap()
    }

    #[test]
    fn hit_ratios_are_sums_not_means() {
        let mut agg = Aggregates::default();
        let o = observation(Some(id(1)), None);
        agg.record(&call(&o, usage(0, 10), 0, "t"));
        agg.record(&call(&o, usage(900, 1000), 1, "t"));
        let row = agg.top_prefixes(1)[0];
        assert_eq!(row.totals.hit.value(), Some(900.0 / 1010.0));
        assert_eq!(agg.by_call_index()[0].value(), Some(0.0));
        assert_eq!(agg.by_call_index()[1].value(), Some(0.9));
        assert_eq!((row.first_seen, row.last_seen), (Some(0), Some(1_000_000)));
    }

    #[test]
    fn pruning_keeps_busy_prefixes_and_exact_totals() {
        let mut agg = Aggregates::new(Limits {
            prefixes: 8,
            traces: 4,
        });
        let busy = observation(Some(id(0)), None);
        for n in 1..=100u64 {
            agg.record(&call(&busy, usage(90, 100), n as i64, "a"));
            let once = observation(Some(id(n)), Some(CacheMiss::Cold));
            agg.record(&call(&once, usage(0, 100), n as i64, "b"));
        }
        assert!(agg.prefixes.len() <= 8);
        assert_eq!(agg.top_prefixes(1)[0].id, id(0));
        assert_eq!(agg.top_prefixes(1)[0].totals.calls, 100);
        let other = agg.prefixes_pruned().unwrap();
        let kept: u64 = agg.prefixes.values().map(|r| r.totals.calls).sum();
        assert_eq!(kept + other.calls, 200);
        assert_eq!(agg.totals().misses[1], 100);
        assert_eq!(agg.prefix_count(), 101);
    }

    #[test]
    fn series_stay_bounded_and_keep_their_sums() {
        let mut s = Series::default();
        for t in 0..10_000 {
            s.add(t * 7 * 1_000_000, &usage(t as u64 % 2, 1));
        }
        assert!(s.buckets().count() <= MAX_BUCKETS);
        let total = s.buckets().fold(Ratio::default(), |mut a, (_, r)| {
            a.merge(r);
            a
        });
        assert_eq!(
            (total.read, total.input, total.calls),
            (5000, 10_000, 10_000)
        );
        let starts: Vec<i64> = s.buckets().map(|b| b.0).collect();
        assert!(starts.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn trace_indices_forget_idle_traces_only() {
        let mut t = TraceIndex::default();
        assert_eq!(t.next("a", 4), 1);
        assert_eq!(t.next("b", 4), 1);
        assert_eq!(t.next("a", 4), 2);
        assert_eq!(t.next("c", 4), 1);
        assert_eq!(t.next("a", 4), 3);
        assert_eq!(t.next("d", 4), 1);
        assert_eq!(t.next("e", 4), 1);
        assert_eq!(t.next("b", 4), 1, "b was idle while two generations passed");
        assert!(t.current.len() + t.previous.len() <= 4);
    }
}

//! Alerts: the moment a prompt cache stops working, or the accounting of a
//! model stops adding up.
//!
//! A per-call property tells a reader what happened once they look; an alert
//! tells them they should look. The rules are evaluated against the same
//! bounded per-prefix state as misses (`state.rs`), plus a small per-(provider,
//! model) state here, under the state's one lock, with the payloads' own
//! time: a replay of yesterday's file raises yesterday's alerts, at the
//! times they would have fired live, with the same uuids.
//!
//! Two kinds are about one prefix and fire once per episode: the rolling hit
//! ratio falling below a threshold (re-armed when it recovers), and a burst of
//! silent misses within one TTL. Three are about a (provider, model) and are
//! rate-limited (at most one per kind and pair per hour of payload time), as
//! one broken route would otherwise raise one per call.

use std::fmt;
use std::time::Duration;

use super::prefix::PrefixId;
use super::CacheMiss;
use crate::payload::Timestamp;

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AlertKind {
    /// A prefix's rolling hit ratio fell below the threshold after being above it.
    HitRatioDrop,
    /// More silent misses on one prefix within its TTL than the rules allow.
    SilentMisses,
    /// A (provider, model) that reported cache counts stopped reporting any.
    CacheFieldsMissing,
    /// Counts that contradict each other as the payload carried them (cache
    /// read + write above input, reasoning above output).
    InconsistentUsage,
    /// LiteLLM's cost differs from the tokens priced at its own rates.
    CostMismatch,
}

impl AlertKind {
    /// Every kind, in declaration order (for metrics that list them all).
    pub const ALL: [AlertKind; 5] = [
        AlertKind::HitRatioDrop,
        AlertKind::SilentMisses,
        AlertKind::CacheFieldsMissing,
        AlertKind::InconsistentUsage,
        AlertKind::CostMismatch,
    ];

    /// The value of the alert event's `kind` property.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::HitRatioDrop => "hit_ratio_drop",
            AlertKind::SilentMisses => "silent_misses",
            AlertKind::CacheFieldsMissing => "cache_fields_missing",
            AlertKind::InconsistentUsage => "inconsistent_usage",
            AlertKind::CostMismatch => "cost_mismatch",
        }
    }

    /// The index of the kind in the per-model state's arrays, for the three
    /// rate-limited kinds.
    fn model_slot(self) -> Option<usize> {
        match self {
            AlertKind::CacheFieldsMissing => Some(0),
            AlertKind::InconsistentUsage => Some(1),
            AlertKind::CostMismatch => Some(2),
            AlertKind::HitRatioDrop | AlertKind::SilentMisses => None,
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert, raised by the call that tripped its rule.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Alert {
    /// Which rule fired.
    pub kind: AlertKind,
    /// The prefix, for the per-prefix kinds (`hit_ratio_drop`, `silent_misses`).
    pub prefix_id: Option<PrefixId>,
    /// The provider of the calls (`""` when unknown).
    pub provider: String,
    /// The model of the calls.
    pub model: String,
    /// The prefix's rolling hit ratio now, when it has one.
    pub hit_ratio: Option<f64>,
    /// `hit_ratio_drop`: the last rolling hit ratio at or above the threshold.
    pub previous_hit_ratio: Option<f64>,
    /// The calls the rule counted: the window's calls, the silent misses, the
    /// consecutive calls without cache counts, or the offending calls since
    /// the last alert of the kind.
    pub calls: u64,
    /// Seconds of payload time the counted calls span, when more than one.
    pub window_seconds: Option<f64>,
    /// The payload time of the call that fired it.
    pub at: Timestamp,
}

impl fmt::Display for Alert {
    /// One line for a log or a chat message; never the prompt, only its id.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "llmtap cache alert {}: ", self.kind)?;
        let pct = |r: f64| r * 100.0;
        match self.kind {
            AlertKind::HitRatioDrop => write!(
                f,
                "hit ratio {:.0}% (was {:.0}%) over the last {} calls",
                pct(self.hit_ratio.unwrap_or(0.0)),
                pct(self.previous_hit_ratio.unwrap_or(0.0)),
                self.calls
            )?,
            AlertKind::SilentMisses => write!(
                f,
                "{} silent misses within the cache TTL",
                self.calls
            )?,
            AlertKind::CacheFieldsMissing => write!(
                f,
                "no cache counts reported on {} consecutive calls with a cacheable prefix",
                self.calls
            )?,
            AlertKind::InconsistentUsage => write!(
                f,
                "{} calls with contradictory token counts (cache above input, or reasoning above output)",
                self.calls
            )?,
            AlertKind::CostMismatch => write!(
                f,
                "{} calls whose LiteLLM cost differs from their tokens at the model map's rates",
                self.calls
            )?,
        }
        write!(f, " ({}/{}", self.provider, self.model)?;
        if let Some(id) = &self.prefix_id {
            write!(f, ", prefix {id}")?;
        }
        f.write_str(")")
    }
}

/// The thresholds of the rules. Fields can be set one by one:
///
/// ```
/// let mut rules = llmtap::AlertRules::default();
/// rules.hit_ratio_threshold = 0.5;
/// assert_eq!(rules.hit_ratio_window, 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct AlertRules {
    /// `hit_ratio_drop` fires below this rolling ratio (default 0.6, cachebench's).
    pub hit_ratio_threshold: f64,
    /// Calls (that report read and input) the rolling ratio is over (default
    /// 20; at most [`AlertRules::MAX_WINDOW`], larger values are capped).
    pub hit_ratio_window: usize,
    /// Calls in the window before `hit_ratio_drop` may fire (default 5).
    pub hit_ratio_min_calls: usize,
    /// `silent_misses` fires when a prefix has more silent misses than this
    /// within one TTL of the first (default 3).
    pub silent_misses: u32,
    /// `cache_fields_missing` fires after this many consecutive calls with a
    /// cacheable prefix and no cache count (default 10).
    pub missing_cache_fields_calls: u32,
    /// `cost_mismatch` fires when LiteLLM's cost differs from the priced
    /// tokens by more than this fraction (default 0.01).
    pub cost_tolerance: f64,
    /// The least payload time between two alerts of one rate-limited kind on
    /// one (provider, model) (default 1 hour).
    pub rate_limit: Duration,
}

impl AlertRules {
    /// The longest rolling window: the window lives in every prefix's record,
    /// so its size is what bounds the state's memory.
    pub const MAX_WINDOW: usize = 32;
}

impl Default for AlertRules {
    fn default() -> Self {
        AlertRules {
            hit_ratio_threshold: 0.6,
            hit_ratio_window: 20,
            hit_ratio_min_calls: 5,
            silent_misses: 3,
            missing_cache_fields_calls: 10,
            cost_tolerance: 0.01,
            rate_limit: Duration::from_secs(60 * 60),
        }
    }
}

/// An alert as the state decides it, before the names are attached (which
/// allocates, so it happens after the lock is released).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Fire {
    pub(crate) kind: AlertKind,
    pub(crate) prefix_id: Option<PrefixId>,
    pub(crate) hit_ratio: Option<f64>,
    pub(crate) previous_hit_ratio: Option<f64>,
    pub(crate) calls: u64,
    pub(crate) window_seconds: Option<f64>,
    /// µs since the epoch.
    pub(crate) at: i64,
}

impl Fire {
    pub(crate) fn into_alert(self, provider: &str, model: &str) -> Alert {
        Alert {
            kind: self.kind,
            prefix_id: self.prefix_id,
            provider: provider.to_owned(),
            model: model.to_owned(),
            hit_ratio: self.hit_ratio,
            previous_hit_ratio: self.previous_hit_ratio,
            calls: self.calls,
            window_seconds: self.window_seconds,
            at: Timestamp::from_micros(self.at),
        }
    }
}

fn seconds(from: i64, to: i64) -> Option<f64> {
    (to > from).then(|| (to - from) as f64 / 1e6)
}

/// One call in a rolling window. Counts are cut to `u32` (4 billion tokens
/// per call is beyond any context), which keeps the window small.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Slot {
    read: u32,
    input: u32,
    at: i64,
}

/// The last calls of a prefix that report both read and input, with their
/// sums kept as calls enter and leave, so the ratio costs no loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    slots: [Slot; AlertRules::MAX_WINDOW],
    /// Index of the oldest slot.
    head: u8,
    len: u8,
    read: u64,
    input: u64,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            slots: [Slot::default(); AlertRules::MAX_WINDOW],
            head: 0,
            len: 0,
            read: 0,
            input: 0,
        }
    }
}

impl Window {
    fn push(&mut self, read: u64, input: u64, at: i64, size: usize) {
        let size = size.clamp(1, AlertRules::MAX_WINDOW);
        let slot = Slot {
            read: u32::try_from(read).unwrap_or(u32::MAX),
            input: u32::try_from(input).unwrap_or(u32::MAX),
            at,
        };
        while usize::from(self.len) >= size {
            let old = self.slots[usize::from(self.head)];
            self.read -= u64::from(old.read);
            self.input -= u64::from(old.input);
            self.head = ((usize::from(self.head) + 1) % AlertRules::MAX_WINDOW) as u8;
            self.len -= 1;
        }
        let tail = (usize::from(self.head) + usize::from(self.len)) % AlertRules::MAX_WINDOW;
        self.slots[tail] = slot;
        self.len += 1;
        self.read += u64::from(slot.read);
        self.input += u64::from(slot.input);
    }

    /// Σ read ÷ Σ input over the window, when the input is not zero.
    pub(crate) fn ratio(&self) -> Option<f64> {
        (self.input > 0).then(|| self.read as f64 / self.input as f64)
    }

    fn span(&self) -> Option<f64> {
        let len = usize::from(self.len);
        if len < 2 {
            return None;
        }
        let at = |i: usize| self.slots[(usize::from(self.head) + i) % AlertRules::MAX_WINDOW].at;
        let (lo, hi) = (0..len)
            .map(at)
            .fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
        seconds(lo, hi)
    }
}

/// The `hit_ratio_drop` rule over one rolling window: kept per prefix, and
/// per (provider, model), where a deploy that makes every prompt new (a
/// timestamp in the system prompt) shows, though no single prefix has the
/// calls to.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct RatioWatch {
    window: Window,
    /// Armed: the ratio has been at or above the threshold since it last fired.
    armed: bool,
    /// The last rolling ratio at or above the threshold.
    last_good: Option<f64>,
}

impl RatioWatch {
    /// Adds one call's counts at `now`; fires once when the ratio falls
    /// below the threshold, with at least the minimum of calls in the window,
    /// having been above it. With `raised` (the call's prefix raised the
    /// drop already, as when a model's calls are that prefix's) it disarms
    /// without a second alert.
    fn push(
        &mut self,
        (read, input): (u64, u64),
        now: i64,
        prefix_id: Option<PrefixId>,
        raised: bool,
        rules: &AlertRules,
        fires: &mut Vec<Fire>,
    ) {
        self.window.push(read, input, now, rules.hit_ratio_window);
        let Some(ratio) = self.window.ratio() else {
            return;
        };
        if ratio >= rules.hit_ratio_threshold {
            self.armed = true;
            self.last_good = Some(ratio);
        } else if self.armed && usize::from(self.window.len) >= rules.hit_ratio_min_calls {
            self.armed = false;
            if raised {
                return;
            }
            fires.push(Fire {
                kind: AlertKind::HitRatioDrop,
                prefix_id,
                hit_ratio: Some(ratio),
                previous_hit_ratio: self.last_good,
                calls: u64::from(self.window.len),
                window_seconds: self.window.span(),
                at: now,
            });
        }
    }

    fn ratio(&self) -> Option<f64> {
        self.window.ratio()
    }
}

/// What one prefix's alerts remember: its window and where each rule stands.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct PrefixAlerts {
    ratio: RatioWatch,
    /// Silent misses in the current run, the run's first miss (µs), and
    /// whether the run has fired.
    silent_run: u32,
    silent_since: i64,
    silent_fired: bool,
}

impl PrefixAlerts {
    /// Learns from one call of the prefix at `now` (the prefix's clock).
    #[expect(
        clippy::too_many_arguments,
        reason = "one call's facts, passed as they are"
    )]
    pub(crate) fn update(
        &mut self,
        id: PrefixId,
        read_input: Option<(u64, u64)>,
        miss: Option<CacheMiss>,
        now: i64,
        ttl: Duration,
        rules: &AlertRules,
        fires: &mut Vec<Fire>,
    ) {
        if let Some(counts) = read_input {
            self.ratio.push(counts, now, Some(id), false, rules, fires);
        }
        if miss == Some(CacheMiss::Silent) {
            let ttl_us = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX);
            if self.silent_run == 0 || now.saturating_sub(self.silent_since) > ttl_us {
                self.silent_run = 0;
                self.silent_since = now;
                self.silent_fired = false;
            }
            self.silent_run += 1;
            if self.silent_run > rules.silent_misses && !self.silent_fired {
                self.silent_fired = true;
                fires.push(Fire {
                    kind: AlertKind::SilentMisses,
                    prefix_id: Some(id),
                    hit_ratio: self.ratio.ratio(),
                    previous_hit_ratio: None,
                    calls: u64::from(self.silent_run),
                    window_seconds: seconds(self.silent_since, now),
                    at: now,
                });
            }
        }
    }
}

/// What one call says to the per-(provider, model) rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ModelFacts {
    /// The call has a cacheable prefix (only those could report a cache).
    pub(crate) has_prefix: bool,
    /// A cache read or write is reported.
    pub(crate) reports_cache: bool,
    /// The normalizer reconciled contradictory counts.
    pub(crate) inconsistent: bool,
    /// LiteLLM's cost is off the priced tokens.
    pub(crate) cost_mismatch: bool,
    /// Cache read and input, when the call has a prefix and reports both.
    pub(crate) read_input: Option<(u64, u64)>,
    /// The call's prefix raised `hit_ratio_drop` (set by the state, which
    /// runs the prefix's rules first).
    pub(crate) prefix_dropped: bool,
}

impl ModelFacts {
    /// Whether the call can change the per-model state at all: the common
    /// call without a prefix or a problem never looks it up.
    pub(crate) fn matters(&self) -> bool {
        self.has_prefix || self.inconsistent || self.cost_mismatch
    }
}

/// What one (provider, model)'s alerts remember.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct ModelAlerts {
    /// The latest payload time seen (µs): the pair's clock.
    clock: i64,
    /// `hit_ratio_drop` over the pair's calls with a prefix, whatever the prefix.
    ratio: RatioWatch,
    /// Some call with a prefix reported a cache count.
    reported_cache: bool,
    /// Consecutive calls with a prefix and no cache count, since when, and
    /// whether that streak has fired.
    missing: u32,
    missing_since: i64,
    missing_fired: bool,
    /// Offending calls since the last alert, per rate-limited kind.
    pending: [u64; 3],
    /// When each rate-limited kind last fired (µs).
    last_fired: [Option<i64>; 3],
}

impl ModelAlerts {
    pub(crate) fn new(at: i64) -> Self {
        ModelAlerts {
            clock: at,
            ..ModelAlerts::default()
        }
    }

    /// Learns from one call at payload time `at`.
    pub(crate) fn update(
        &mut self,
        f: &ModelFacts,
        at: i64,
        rules: &AlertRules,
        fires: &mut Vec<Fire>,
    ) {
        self.clock = self.clock.max(at);
        let now = self.clock;
        if let Some(counts) = f.read_input.filter(|_| f.has_prefix) {
            let raised = f.prefix_dropped;
            self.ratio.push(counts, now, None, raised, rules, fires);
        }
        if f.has_prefix {
            if f.reports_cache {
                self.reported_cache = true;
                self.missing = 0;
                self.missing_fired = false;
            } else if self.reported_cache {
                if self.missing == 0 {
                    self.missing_since = now;
                }
                self.missing = self.missing.saturating_add(1);
                if self.missing >= rules.missing_cache_fields_calls.max(1) && !self.missing_fired {
                    let (calls, since) = (u64::from(self.missing), self.missing_since);
                    if self.fire(
                        AlertKind::CacheFieldsMissing,
                        calls,
                        since,
                        now,
                        rules,
                        fires,
                    ) {
                        self.missing_fired = true;
                    }
                }
            }
        }
        for (offends, kind) in [
            (f.inconsistent, AlertKind::InconsistentUsage),
            (f.cost_mismatch, AlertKind::CostMismatch),
        ] {
            let Some(slot) = kind.model_slot().filter(|_| offends) else {
                continue;
            };
            self.pending[slot] += 1;
            let since = self.last_fired[slot].unwrap_or(now);
            if self.fire(kind, self.pending[slot], since, now, rules, fires) {
                self.pending[slot] = 0;
            }
        }
    }

    /// Fires `kind` unless it fired less than the rate limit ago.
    fn fire(
        &mut self,
        kind: AlertKind,
        calls: u64,
        since: i64,
        now: i64,
        rules: &AlertRules,
        fires: &mut Vec<Fire>,
    ) -> bool {
        let Some(slot) = kind.model_slot() else {
            return false;
        };
        let limit = i64::try_from(rules.rate_limit.as_micros()).unwrap_or(i64::MAX);
        if self.last_fired[slot].is_some_and(|last| now.saturating_sub(last) < limit) {
            return false;
        }
        self.last_fired[slot] = Some(now);
        fires.push(Fire {
            kind,
            prefix_id: None,
            hit_ratio: None,
            previous_hit_ratio: None,
            calls,
            window_seconds: seconds(since, now),
            at: now,
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000;

    fn id() -> PrefixId {
        super::super::prefix::tests_id(1)
    }

    fn kinds(fires: &[Fire]) -> Vec<AlertKind> {
        fires.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn hit_ratio_drop_fires_once_and_rearms_on_recovery() {
        let rules = AlertRules::default();
        let ttl = Duration::from_secs(300);
        let mut a = PrefixAlerts::default();
        let mut fires = Vec::new();
        let call = |a: &mut PrefixAlerts, at: i64, read: u64, fires: &mut Vec<Fire>| {
            a.update(id(), Some((read, 1000)), None, at * MIN, ttl, &rules, fires);
        };
        // Twenty good calls (0.9), then a deploy: every call reads nothing.
        for t in 0..20 {
            call(&mut a, t, 900, &mut fires);
        }
        assert!(fires.is_empty());
        for t in 20..40 {
            call(&mut a, t, 0, &mut fires);
        }
        assert_eq!(
            kinds(&fires),
            [AlertKind::HitRatioDrop],
            "once, not per call"
        );
        let f = fires[0];
        // 0.9 × 14/20 = 0.63 still above; the 7th bad call makes it 0.585.
        assert_eq!(f.at, 26 * MIN);
        assert!((f.hit_ratio.unwrap() - 0.585).abs() < 1e-9);
        assert!((f.previous_hit_ratio.unwrap() - 0.63).abs() < 1e-9);
        assert_eq!(f.calls, 20);
        assert_eq!(f.window_seconds, Some(19.0 * 60.0));
        // Recovery re-arms; the next drop fires again.
        for t in 40..60 {
            call(&mut a, t, 900, &mut fires);
        }
        assert_eq!(fires.len(), 1);
        for t in 60..80 {
            call(&mut a, t, 0, &mut fires);
        }
        assert_eq!(kinds(&fires), [AlertKind::HitRatioDrop; 2]);
    }

    #[test]
    fn a_model_whose_every_prompt_is_new_drops_once_unless_its_prefix_did() {
        let rules = AlertRules::default();
        let call = |m: &mut ModelAlerts,
                    t: i64,
                    read: u64,
                    prefix_dropped: bool,
                    fires: &mut Vec<Fire>| {
            let f = ModelFacts {
                has_prefix: true,
                reports_cache: true,
                read_input: Some((read, 1000)),
                prefix_dropped,
                ..ModelFacts::default()
            };
            m.update(&f, t * MIN, &rules, fires);
        };
        // A deploy gives every call a new prefix: no prefix has the calls to
        // drop, the model's window does.
        let mut m = ModelAlerts::new(0);
        let mut fires = Vec::new();
        for t in 0..20 {
            call(&mut m, t, 900, false, &mut fires);
        }
        for t in 20..40 {
            call(&mut m, t, 0, false, &mut fires);
        }
        assert_eq!(kinds(&fires), [AlertKind::HitRatioDrop]);
        assert_eq!(
            fires[0].prefix_id, None,
            "the model's alert, not a prefix's"
        );
        assert_eq!(fires[0].at, 26 * MIN);
        // When the call's prefix raised the drop, the model says nothing more.
        let mut m = ModelAlerts::new(0);
        let mut fires = Vec::new();
        for t in 0..20 {
            call(&mut m, t, 900, false, &mut fires);
        }
        for t in 20..40 {
            call(&mut m, t, 0, t == 26, &mut fires);
        }
        assert!(fires.is_empty(), "{fires:?}");
    }

    #[test]
    fn hit_ratio_drop_needs_min_calls_and_having_been_above() {
        let rules = AlertRules::default();
        let ttl = Duration::from_secs(300);
        let mut fires = Vec::new();
        // Never above: a prefix that never cached well is not a regression.
        let mut a = PrefixAlerts::default();
        for t in 0..30 {
            a.update(
                id(),
                Some((100, 1000)),
                None,
                t * MIN,
                ttl,
                &rules,
                &mut fires,
            );
        }
        assert!(fires.is_empty());
        // Above on the first call, below on calls 2–4: too few calls yet.
        let mut b = PrefixAlerts::default();
        b.update(id(), Some((900, 1000)), None, 0, ttl, &rules, &mut fires);
        for t in 1..4 {
            b.update(
                id(),
                Some((0, 1000)),
                None,
                t * MIN,
                ttl,
                &rules,
                &mut fires,
            );
        }
        assert!(fires.is_empty());
        b.update(
            id(),
            Some((0, 1000)),
            None,
            4 * MIN,
            ttl,
            &rules,
            &mut fires,
        );
        assert_eq!(kinds(&fires), [AlertKind::HitRatioDrop]);
        assert_eq!(fires[0].calls, 5);
    }

    #[test]
    fn silent_misses_fire_above_the_count_within_one_ttl() {
        let rules = AlertRules::default();
        let ttl = Duration::from_secs(300);
        let mut a = PrefixAlerts::default();
        let mut fires = Vec::new();
        let silent = Some(CacheMiss::Silent);
        // Three silent misses are tolerated; the fourth within 5 minutes fires.
        for t in 0..3 {
            a.update(id(), None, silent, t * MIN, ttl, &rules, &mut fires);
        }
        assert!(fires.is_empty());
        a.update(id(), None, silent, 3 * MIN, ttl, &rules, &mut fires);
        a.update(id(), None, silent, 4 * MIN, ttl, &rules, &mut fires);
        assert_eq!(kinds(&fires), [AlertKind::SilentMisses]);
        assert_eq!((fires[0].calls, fires[0].window_seconds), (4, Some(180.0)));
        // A TTL after the run began, a new run starts: re-armed.
        for t in 10..14 {
            a.update(id(), None, silent, t * MIN, ttl, &rules, &mut fires);
        }
        assert_eq!(kinds(&fires), [AlertKind::SilentMisses; 2]);
        // Spread out, silent misses never add up.
        let mut b = PrefixAlerts::default();
        let mut spread = Vec::new();
        for t in 0..20 {
            b.update(id(), None, silent, t * 6 * MIN, ttl, &rules, &mut spread);
        }
        assert!(spread.is_empty());
    }

    #[test]
    fn cache_fields_missing_fires_once_per_streak_and_per_hour() {
        let rules = AlertRules::default();
        let mut m = ModelAlerts::new(0);
        let mut fires = Vec::new();
        let with = ModelFacts {
            has_prefix: true,
            reports_cache: true,
            ..ModelFacts::default()
        };
        let without = ModelFacts {
            has_prefix: true,
            ..ModelFacts::default()
        };
        // Never reported: nothing to miss.
        let mut fresh = ModelAlerts::new(0);
        for t in 0..20 {
            fresh.update(&without, t * MIN, &rules, &mut fires);
        }
        assert!(fires.is_empty());

        m.update(&with, 0, &rules, &mut fires);
        for t in 1..10 {
            m.update(&without, t * MIN, &rules, &mut fires);
        }
        assert!(fires.is_empty(), "9 calls are not yet 10");
        // Calls without a prefix are not counted either way.
        m.update(&ModelFacts::default(), 10 * MIN, &rules, &mut fires);
        m.update(&without, 10 * MIN, &rules, &mut fires);
        assert_eq!(kinds(&fires), [AlertKind::CacheFieldsMissing]);
        assert_eq!((fires[0].calls, fires[0].window_seconds), (10, Some(540.0)));
        for t in 11..30 {
            m.update(&without, t * MIN, &rules, &mut fires);
        }
        assert_eq!(fires.len(), 1, "once per streak");
        // A report ends the streak; a new one within the hour is rate-limited,
        // and fires once the hour is over.
        m.update(&with, 30 * MIN, &rules, &mut fires);
        for t in 31..70 {
            m.update(&without, t * MIN, &rules, &mut fires);
        }
        assert_eq!(fires.len(), 1);
        m.update(&without, 70 * MIN, &rules, &mut fires);
        assert_eq!(kinds(&fires), [AlertKind::CacheFieldsMissing; 2]);
        assert_eq!(fires[1].at, 70 * MIN);
    }

    #[test]
    fn rate_limited_kinds_fire_once_per_hour_and_count_what_they_held_back() {
        let rules = AlertRules::default();
        for (facts, kind) in [
            (
                ModelFacts {
                    inconsistent: true,
                    ..ModelFacts::default()
                },
                AlertKind::InconsistentUsage,
            ),
            (
                ModelFacts {
                    cost_mismatch: true,
                    ..ModelFacts::default()
                },
                AlertKind::CostMismatch,
            ),
        ] {
            let mut m = ModelAlerts::new(0);
            let mut fires = Vec::new();
            for t in 0..60 {
                m.update(&facts, t * MIN, &rules, &mut fires);
            }
            assert_eq!(kinds(&fires), [kind]);
            assert_eq!(fires[0].calls, 1);
            // A late payload does not wind the clock back to fire early.
            m.update(&facts, 0, &rules, &mut fires);
            assert_eq!(fires.len(), 1);
            m.update(&facts, 60 * MIN, &rules, &mut fires);
            assert_eq!(kinds(&fires), [kind; 2]);
            assert_eq!(fires[1].calls, 61, "every call held back is counted");
            assert_eq!(fires[1].window_seconds, Some(3600.0));
        }
    }

    #[test]
    fn window_keeps_its_size_and_its_sums() {
        let mut w = Window::default();
        for i in 0..100u64 {
            w.push(i, 100, i as i64 * 1_000_000, 20);
        }
        assert_eq!(w.len, 20);
        // Reads 80..=99 over 20 × 100.
        assert_eq!((w.read, w.input), ((80..100).sum::<u64>(), 2000));
        assert_eq!(w.span(), Some(19.0));
        // Larger windows are capped.
        let mut big = Window::default();
        for i in 0..100 {
            big.push(1, 1, i, 1000);
        }
        assert_eq!(usize::from(big.len), AlertRules::MAX_WINDOW);
    }

    #[test]
    fn display_names_the_kind_model_and_prefix() {
        let alert = Fire {
            kind: AlertKind::HitRatioDrop,
            prefix_id: Some(id()),
            hit_ratio: Some(0.31),
            previous_hit_ratio: Some(0.92),
            calls: 20,
            window_seconds: Some(60.0),
            at: 0,
        }
        .into_alert("anthropic", "claude-sonnet-4-5");
        assert_eq!(
            alert.to_string(),
            "llmtap cache alert hit_ratio_drop: hit ratio 31% (was 92%) over the last 20 calls \
             (anthropic/claude-sonnet-4-5, prefix 0000000000000001)"
        );
    }
}

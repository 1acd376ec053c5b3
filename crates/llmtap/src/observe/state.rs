//! What llmtap remembers about each prefix, to tell why a call missed.
//!
//! A zero cache read alone does not say whether anything went wrong: the
//! prefix may never have been cached (`cold`), its entry may have timed out
//! (`expired`), or the provider may have missed one it should have held
//! (`silent`, the miss that doubles a bill unnoticed). Telling them apart
//! needs the prefix's history, kept here per (provider, model, prefix id) in
//! an LRU of bounded size: memory is proportional to the capacity, whatever
//! the traffic. The clock is the payloads' own timestamps and only moves
//! forward per prefix, so a replay of yesterday's file gives the answers the
//! live traffic got, and a payload arriving late never winds a prefix back.

use std::fmt;
use std::hash::{Hash, Hasher as _};
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::Duration;

use lru::LruCache;

use super::alerts::{AlertKind, AlertRules, Fire, ModelAlerts, ModelFacts, PrefixAlerts};
use super::prefix::PrefixId;
use super::CacheMiss;

/// How many prefixes are remembered by default: a gateway's prompts, not its calls.
pub const DEFAULT_PREFIX_CAPACITY: usize = 10_000;

/// How many (provider, model) pairs the alert rules remember: a gateway
/// routes to a few dozen models, so this bounds the state against payloads
/// that make up model names, not against real traffic.
const MODEL_CAPACITY: NonZeroUsize = match NonZeroUsize::new(1024) {
    Some(n) => n,
    None => NonZeroUsize::MIN,
};

/// How long a provider keeps a cache entry after its last write or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheTtls {
    /// Every provider's default (5 minutes: Anthropic's ephemeral cache,
    /// OpenAI's and Gemini's implicit caches at their shortest).
    pub default: Duration,
    /// After an Anthropic or Bedrock write with the 1-hour TTL.
    pub after_1h_write: Duration,
}

impl Default for CacheTtls {
    fn default() -> Self {
        CacheTtls {
            default: Duration::from_secs(5 * 60),
            after_1h_write: Duration::from_secs(60 * 60),
        }
    }
}

impl CacheTtls {
    /// TTLs other than the providers' documented ones (a provider that keeps
    /// entries longer, or a stricter reading of "silent").
    pub fn new(default: Duration, after_1h_write: Duration) -> Self {
        CacheTtls {
            default,
            after_1h_write,
        }
    }
}

/// What one call reports about the cache, in the terms the state needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CallFacts {
    /// When the call was made (µs since the epoch), if the payload says.
    pub(crate) at: Option<i64>,
    /// Cache read, as reported (`None`: not reported).
    pub(crate) read: Option<u64>,
    /// Cache write, as reported; `None` also means the provider caches
    /// implicitly (OpenAI, Gemini), where every call writes what it sends.
    pub(crate) write: Option<u64>,
    /// Part of the write with the 1-hour TTL.
    pub(crate) write_1h: Option<u64>,
    /// All input tokens.
    pub(crate) input: Option<u64>,
    /// The model's shortest cacheable prompt, from the rates.
    pub(crate) min_tokens: Option<u64>,
}

/// One prefix's history.
///
/// Cumulative counts are kept beside the times so per-prefix hit ratios,
/// summaries and alerts can read them; the alerts' rolling window is here too.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Record {
    /// The first call's time (µs).
    pub(crate) first_seen: i64,
    /// The latest time any call of this prefix carried (µs): the prefix's clock.
    pub(crate) clock: i64,
    /// The latest write or read (µs), `None` while nothing was ever cached.
    pub(crate) last_cached: Option<i64>,
    /// Whether the entry lives by the 1-hour TTL (its last write was a 1 h one).
    pub(crate) long_ttl: bool,
    /// Calls seen.
    pub(crate) calls: u64,
    /// Σ cache read and Σ input over the calls that report both.
    pub(crate) read_sum: u64,
    /// See `read_sum`.
    pub(crate) input_sum: u64,
    /// The alert rules' view of the prefix.
    pub(crate) alerts: PrefixAlerts,
}

impl Record {
    fn new(at: i64) -> Self {
        Record {
            first_seen: at,
            clock: at,
            last_cached: None,
            long_ttl: false,
            calls: 0,
            read_sum: 0,
            input_sum: 0,
            alerts: PrefixAlerts::default(),
        }
    }

    /// The TTL the prefix's entry lives by now.
    fn ttl(&self, ttls: &CacheTtls) -> Duration {
        match self.long_ttl {
            true => ttls.after_1h_write,
            false => ttls.default,
        }
    }

    /// Learns from one call (after it was classified).
    fn update(&mut self, f: &CallFacts, at: i64) {
        self.first_seen = self.first_seen.min(at);
        self.clock = self.clock.max(at);
        self.calls += 1;
        if let (Some(read), Some(input)) = (f.read, f.input) {
            self.read_sum = self.read_sum.saturating_add(read);
            self.input_sum = self.input_sum.saturating_add(input);
        }
        let read = f.read.unwrap_or(0);
        let written = f.write.unwrap_or(0);
        // A provider that reports no writes caches whatever it is sent.
        let implicit_write = f.write.is_none() && f.read.is_some();
        if read > 0 || written > 0 || implicit_write {
            self.last_cached = Some(self.last_cached.map_or(at, |t| t.max(at)));
        }
        if f.write_1h.unwrap_or(0) > 0 {
            self.long_ttl = true;
        } else if written > 0 && read == 0 {
            // A fresh 5-minute entry replaced whatever was there.
            self.long_ttl = false;
        }
    }
}

/// The classification of a call that read nothing, by the first rule that
/// applies (see [`CacheMiss`]); `None` unless the read is reported as 0.
pub(crate) fn classify(
    record: Option<&Record>,
    f: &CallFacts,
    ttls: &CacheTtls,
) -> Option<CacheMiss> {
    if f.read != Some(0) {
        return None;
    }
    // The prefix is part of the input, so an input below the minimum proves
    // the prefix is too (the prefix's own token count is not in the payload).
    let too_short = f
        .min_tokens
        .zip(f.input)
        .is_some_and(|(min, input)| input < min);
    if f.write == Some(0) || too_short {
        return Some(CacheMiss::Uncached);
    }
    let Some((record, last)) = record.and_then(|r| Some((r, r.last_cached?))) else {
        return Some(CacheMiss::Cold);
    };
    let now = f.at?.max(record.clock);
    let ttl = record.ttl(ttls);
    let age = Duration::from_micros(u64::try_from(now - last).unwrap_or(0));
    Some(match age > ttl {
        true => CacheMiss::Expired,
        false => CacheMiss::Silent,
    })
}

/// (provider, model, prefix id), hashed to 16 bytes so a lookup allocates
/// nothing and an entry's size does not grow with long model names. Two
/// (provider, model) pairs share a scope only on a 64-bit hash collision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    scope: u64,
    prefix: PrefixId,
}

impl Key {
    #[cfg(test)]
    pub(crate) fn new(provider: &str, model: &str, prefix: PrefixId) -> Self {
        Key {
            scope: scope(provider, model),
            prefix,
        }
    }
}

impl Key {
    /// The key of `prefix` in a scope already hashed with [`scope`].
    pub(crate) fn with_scope(scope: u64, prefix: PrefixId) -> Self {
        Key { scope, prefix }
    }
}

/// (provider, model) hashed: the key of the per-model alert state.
pub(crate) fn scope(provider: &str, model: &str) -> u64 {
    // SipHash with fixed keys: the same scope for every call of a process
    // (the state is never persisted, so that is all it needs).
    let mut h = std::hash::DefaultHasher::new();
    provider.hash(&mut h);
    model.hash(&mut h);
    h.finish()
}

/// One call as the state sees it: its prefix (if any), its (provider, model),
/// and what it says to the per-model rules.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call {
    pub(crate) key: Option<Key>,
    /// See [`scope`].
    pub(crate) scope: u64,
    pub(crate) model: ModelFacts,
}

/// Both tables, behind the one lock.
struct Tables {
    prefixes: LruCache<Key, Record>,
    models: LruCache<u64, ModelAlerts>,
}

/// The per-prefix state: a bounded LRU behind one mutex, shared by every
/// request a pipeline serves, with the per-(provider, model) alert state
/// (a second, smaller LRU) behind the same mutex, so a call takes one lock.
/// Lookups, a classification, the rules and an update are all that happen
/// under it; hashing and pricing are done before, naming alerts after.
pub(crate) struct PrefixState {
    capacity: NonZeroUsize,
    /// Created on first use, so pipelines that never see a prefix (and
    /// stateless one-shot calls) never allocate the tables.
    lru: Mutex<Option<Tables>>,
}

impl fmt::Debug for PrefixState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrefixState")
            .field("capacity", &self.capacity)
            .field("tracked", &self.len())
            .finish()
    }
}

impl Default for PrefixState {
    fn default() -> Self {
        PrefixState::new(NonZeroUsize::new(DEFAULT_PREFIX_CAPACITY).unwrap_or(NonZeroUsize::MIN))
    }
}

impl PrefixState {
    pub(crate) fn new(capacity: NonZeroUsize) -> Self {
        PrefixState {
            capacity,
            lru: Mutex::new(None),
        }
    }

    /// Classifies one call, records it, and evaluates the alert rules, whose
    /// firings are pushed to `fires`; calls without a time are classified (as
    /// far as that goes) but change nothing and raise nothing. A call with
    /// neither a prefix nor a problem for the per-model rules takes no lock.
    pub(crate) fn observe(
        &self,
        call: &Call,
        f: &CallFacts,
        ttls: &CacheTtls,
        rules: &AlertRules,
        fires: &mut Vec<Fire>,
    ) -> Option<CacheMiss> {
        if call.key.is_none() && !call.model.matters() {
            return None;
        }
        // A poisoned lock only means another thread panicked mid-update; the
        // records are plain numbers, so keep using them.
        let mut guard = self.lru.lock().unwrap_or_else(|p| p.into_inner());
        let tables = guard.get_or_insert_with(|| Tables {
            prefixes: LruCache::new(self.capacity),
            models: LruCache::new(MODEL_CAPACITY.min(self.capacity)),
        });
        let miss = call.key.and_then(|key| {
            let lru = &mut tables.prefixes;
            match (lru.get_mut(&key), f.at) {
                (Some(record), at) => {
                    let miss = classify(Some(record), f, ttls);
                    if let Some(at) = at {
                        record.update(f, at);
                        record.alert(key.prefix, f, miss, ttls, rules, fires);
                    }
                    miss
                }
                (None, Some(at)) => {
                    let mut record = Record::new(at);
                    let miss = classify(None, f, ttls);
                    record.update(f, at);
                    record.alert(key.prefix, f, miss, ttls, rules, fires);
                    // Evicts the least recently used prefix when full.
                    lru.put(key, record);
                    miss
                }
                (None, None) => classify(None, f, ttls),
            }
        });
        if let Some(at) = f.at.filter(|_| call.model.matters()) {
            let model = ModelFacts {
                prefix_dropped: fires.iter().any(|f| f.kind == AlertKind::HitRatioDrop),
                ..call.model
            };
            let models = &mut tables.models;
            match models.get_mut(&call.scope) {
                Some(m) => m.update(&model, at, rules, fires),
                None => {
                    let mut m = ModelAlerts::new(at);
                    m.update(&model, at, rules, fires);
                    models.put(call.scope, m);
                }
            }
        }
        miss
    }

    /// How many prefixes are remembered (never more than the capacity).
    pub(crate) fn len(&self) -> usize {
        let guard = self.lru.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map_or(0, |t| t.prefixes.len())
    }

    /// How many (provider, model) pairs the alert rules remember.
    #[cfg(test)]
    fn models(&self) -> usize {
        let guard = self.lru.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map_or(0, |t| t.models.len())
    }

    #[cfg(test)]
    fn record(&self, key: &Key) -> Option<Record> {
        let guard = self.lru.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref()?.prefixes.peek(key).copied()
    }
}

impl Record {
    /// The per-prefix alert rules, after the record learnt from the call.
    fn alert(
        &mut self,
        id: PrefixId,
        f: &CallFacts,
        miss: Option<CacheMiss>,
        ttls: &CacheTtls,
        rules: &AlertRules,
        fires: &mut Vec<Fire>,
    ) {
        let ttl = self.ttl(ttls);
        self.alerts
            .update(id, f.read.zip(f.input), miss, self.clock, ttl, rules, fires);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::alerts::AlertKind;

    const MIN: i64 = 60_000_000;

    impl PrefixState {
        /// The miss of one call of prefix `key`, its alerts ignored.
        fn observe_prefix(&self, key: Key, f: &CallFacts, ttls: &CacheTtls) -> Option<CacheMiss> {
            let call = Call {
                key: Some(key),
                scope: key.scope,
                model: ModelFacts {
                    has_prefix: true,
                    reports_cache: f.read.is_some() || f.write.is_some(),
                    ..ModelFacts::default()
                },
            };
            self.observe(&call, f, ttls, &AlertRules::default(), &mut Vec::new())
        }
    }

    fn key(n: u64) -> Key {
        Key::new("anthropic", "claude", super::super::prefix::tests_id(n))
    }

    fn anthropic(at_min: i64, read: u64, write: u64) -> CallFacts {
        CallFacts {
            at: Some(at_min * MIN),
            read: Some(read),
            write: Some(write),
            write_1h: Some(0),
            input: Some(5000),
            min_tokens: Some(1024),
        }
    }

    fn openai(at_min: i64, read: u64) -> CallFacts {
        CallFacts {
            at: Some(at_min * MIN),
            read: Some(read),
            input: Some(5000),
            ..CallFacts::default()
        }
    }

    #[test]
    fn each_kind_of_miss() {
        let s = PrefixState::default();
        let t = CacheTtls::default();
        let k = key(1);
        // Nothing written on a provider that reports writes.
        assert_eq!(
            s.observe_prefix(k, &anthropic(0, 0, 0), &t),
            Some(CacheMiss::Uncached)
        );
        // Never cached before: cold (the uncached call left no entry).
        assert_eq!(
            s.observe_prefix(k, &anthropic(1, 0, 4000), &t),
            Some(CacheMiss::Cold)
        );
        // A hit is no miss.
        assert_eq!(s.observe_prefix(k, &anthropic(3, 4000, 0), &t), None);
        // Within 5 minutes of the read, not read: the provider missed.
        assert_eq!(
            s.observe_prefix(k, &anthropic(7, 0, 4000), &t),
            Some(CacheMiss::Silent)
        );
        // More than 5 minutes after the last write: expired.
        assert_eq!(
            s.observe_prefix(k, &anthropic(13, 0, 4000), &t),
            Some(CacheMiss::Expired)
        );
        let r = s.record(&k).unwrap();
        assert_eq!((r.calls, r.read_sum, r.input_sum), (5, 4000, 25000));
        assert_eq!(
            (r.first_seen, r.clock, r.last_cached),
            (0, 13 * MIN, Some(13 * MIN))
        );
    }

    #[test]
    fn too_short_to_cache_is_uncached() {
        let s = PrefixState::default();
        let f = CallFacts {
            input: Some(500),
            ..anthropic(0, 0, 0)
        };
        assert_eq!(
            s.observe_prefix(key(1), &f, &CacheTtls::default()),
            Some(CacheMiss::Uncached)
        );
        let f = CallFacts {
            input: Some(500),
            min_tokens: Some(1024),
            ..openai(0, 0)
        };
        assert_eq!(
            s.observe_prefix(key(2), &f, &CacheTtls::default()),
            Some(CacheMiss::Uncached)
        );
    }

    #[test]
    fn implicit_caches_write_on_every_call() {
        let s = PrefixState::default();
        let t = CacheTtls::default();
        let k = key(1);
        assert_eq!(
            s.observe_prefix(k, &openai(0, 0), &t),
            Some(CacheMiss::Cold)
        );
        // OpenAI should have cached the first call's prefix.
        assert_eq!(
            s.observe_prefix(k, &openai(2, 0), &t),
            Some(CacheMiss::Silent)
        );
        assert_eq!(
            s.observe_prefix(k, &openai(30, 0), &t),
            Some(CacheMiss::Expired)
        );
    }

    #[test]
    fn a_1h_write_extends_the_ttl_until_a_5m_write_replaces_it() {
        let s = PrefixState::default();
        let t = CacheTtls::default();
        let k = key(1);
        let mut w = anthropic(0, 0, 4000);
        w.write_1h = Some(4000);
        assert_eq!(s.observe_prefix(k, &w, &t), Some(CacheMiss::Cold));
        assert_eq!(
            s.observe_prefix(k, &anthropic(30, 0, 4000), &t),
            Some(CacheMiss::Silent)
        );
        // That 5m write shortened it again.
        assert_eq!(
            s.observe_prefix(k, &anthropic(40, 0, 4000), &t),
            Some(CacheMiss::Expired)
        );
        // Configurable.
        let long = CacheTtls::new(Duration::from_secs(3600), Duration::from_secs(7200));
        assert_eq!(
            s.observe_prefix(k, &anthropic(80, 0, 4000), &long),
            Some(CacheMiss::Silent)
        );
    }

    #[test]
    fn time_only_moves_forward_per_prefix() {
        let s = PrefixState::default();
        let t = CacheTtls::default();
        let k = key(1);
        s.observe_prefix(k, &anthropic(20, 0, 4000), &t);
        // A payload from ten minutes earlier arrives late: the prefix's clock
        // stays at 20, and the entry written at 20 is still fresh.
        assert_eq!(
            s.observe_prefix(k, &anthropic(10, 0, 4000), &t),
            Some(CacheMiss::Silent)
        );
        let r = s.record(&k).unwrap();
        assert_eq!(
            (r.first_seen, r.clock, r.last_cached),
            (10 * MIN, 20 * MIN, Some(20 * MIN))
        );
    }

    #[test]
    fn unreported_reads_and_missing_times() {
        let s = PrefixState::default();
        let t = CacheTtls::default();
        let k = key(1);
        let unknown = CallFacts {
            read: None,
            ..anthropic(0, 0, 0)
        };
        assert_eq!(s.observe_prefix(k, &unknown, &t), None);
        s.observe_prefix(k, &anthropic(1, 0, 4000), &t);
        // Without a time there is no age: in the state, but not classifiable.
        let timeless = CallFacts {
            at: None,
            ..anthropic(0, 0, 4000)
        };
        assert_eq!(s.observe_prefix(k, &timeless, &t), None);
        assert_eq!(
            s.observe_prefix(key(2), &timeless, &t),
            Some(CacheMiss::Cold)
        );
        assert_eq!(s.len(), 1, "a timeless call records nothing");
    }

    #[test]
    fn keys_separate_providers_and_models() {
        let id = super::super::prefix::tests_id(7);
        assert_ne!(
            Key::new("openai", "gpt-4o", id),
            Key::new("azure", "gpt-4o", id)
        );
        assert_ne!(
            Key::new("openai", "gpt-4o", id),
            Key::new("openai", "gpt-4.1", id)
        );
        assert_ne!(Key::new("ab", "c", id), Key::new("a", "bc", id));
        assert_eq!(
            Key::new("openai", "gpt-4o", id),
            Key::new("openai", "gpt-4o", id)
        );
    }

    #[test]
    fn bounded_state_under_a_million_distinct_prefixes() {
        let capacity = 1000;
        let s = PrefixState::new(NonZeroUsize::new(capacity).unwrap());
        let t = CacheTtls::default();
        for n in 0..1_000_000u64 {
            s.observe_prefix(key(n), &anthropic(0, 0, 4000), &t);
            if n % 100_000 == 0 {
                assert!(s.len() <= capacity);
            }
        }
        assert_eq!(s.len(), capacity);
        // The most recent prefixes are the ones kept; the oldest were evicted.
        assert!(s.record(&key(999_999)).is_some());
        assert!(s.record(&key(0)).is_none());
        assert_eq!(
            s.observe_prefix(key(0), &anthropic(1, 0, 4000), &t),
            Some(CacheMiss::Cold)
        );
    }

    #[test]
    fn silent_misses_alert_through_the_state() {
        let s = PrefixState::default();
        let t = CacheTtls::default();
        let rules = AlertRules::default();
        let k = key(1);
        let call = Call {
            key: Some(k),
            scope: k.scope,
            model: ModelFacts {
                has_prefix: true,
                reports_cache: true,
                ..ModelFacts::default()
            },
        };
        let mut fires = Vec::new();
        // Written at 0, then four calls within the TTL that read nothing.
        s.observe(&call, &anthropic(0, 0, 4000), &t, &rules, &mut fires);
        for m in 1..5 {
            let miss = s.observe(&call, &anthropic(m, 0, 4000), &t, &rules, &mut fires);
            assert_eq!(miss, Some(CacheMiss::Silent));
        }
        let kinds: Vec<_> = fires.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [AlertKind::SilentMisses]);
        assert_eq!((fires[0].calls, fires[0].at), (4, 4 * MIN));
        assert_eq!(fires[0].prefix_id, Some(k.prefix));
    }

    #[test]
    fn calls_without_prefix_or_problem_touch_nothing() {
        let s = PrefixState::default();
        let call = Call {
            key: None,
            scope: scope("openai", "gpt-4o"),
            model: ModelFacts::default(),
        };
        let mut fires = Vec::new();
        let f = openai(0, 0);
        let rules = AlertRules::default();
        assert_eq!(
            s.observe(&call, &f, &CacheTtls::default(), &rules, &mut fires),
            None
        );
        assert_eq!((s.len(), s.models()), (0, 0));
        // A problem alone reaches the per-model state.
        let bad = Call {
            model: ModelFacts {
                inconsistent: true,
                ..ModelFacts::default()
            },
            ..call
        };
        s.observe(&bad, &f, &CacheTtls::default(), &rules, &mut fires);
        assert_eq!((s.len(), s.models()), (0, 1));
        assert_eq!(fires.len(), 1);
    }

    #[test]
    fn model_state_is_bounded_under_made_up_model_names() {
        let s = PrefixState::default();
        let rules = AlertRules::default();
        let mut fires = Vec::new();
        for n in 0..100_000u64 {
            let call = Call {
                key: None,
                scope: scope("openai", &n.to_string()),
                model: ModelFacts {
                    cost_mismatch: true,
                    ..ModelFacts::default()
                },
            };
            s.observe(
                &call,
                &openai(0, 0),
                &CacheTtls::default(),
                &rules,
                &mut fires,
            );
        }
        assert_eq!(s.models(), MODEL_CAPACITY.get());
        assert_eq!(fires.len(), 100_000, "one first alert per pair");
    }
}

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

use super::prefix::PrefixId;
use super::CacheMiss;

/// How many prefixes are remembered by default: a gateway's prompts, not its calls.
pub const DEFAULT_PREFIX_CAPACITY: usize = 10_000;

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
/// summaries and alerts can read them; a rolling window would live here too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    let ttl = match record.long_ttl {
        true => ttls.after_1h_write,
        false => ttls.default,
    };
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
    pub(crate) fn new(provider: &str, model: &str, prefix: PrefixId) -> Self {
        // SipHash with fixed keys: the same scope for every call of a process
        // (the state is never persisted, so that is all it needs).
        let mut h = std::hash::DefaultHasher::new();
        provider.hash(&mut h);
        model.hash(&mut h);
        Key {
            scope: h.finish(),
            prefix,
        }
    }
}

/// The per-prefix state: a bounded LRU behind one mutex, shared by every
/// request a pipeline serves. A lookup, a classification and an update are
/// all that happen under the lock; hashing and pricing are done before it.
pub(crate) struct PrefixState {
    capacity: NonZeroUsize,
    /// Created on first use, so pipelines that never see a prefix (and
    /// stateless one-shot calls) never allocate the table.
    lru: Mutex<Option<LruCache<Key, Record>>>,
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

    /// Classifies one call and records it; calls without a time are
    /// classified (as far as that goes) but change nothing.
    pub(crate) fn observe(&self, key: Key, f: &CallFacts, ttls: &CacheTtls) -> Option<CacheMiss> {
        // A poisoned lock only means another thread panicked mid-update; the
        // records are plain numbers, so keep using them.
        let mut guard = self.lru.lock().unwrap_or_else(|p| p.into_inner());
        let lru = guard.get_or_insert_with(|| LruCache::new(self.capacity));
        match (lru.get_mut(&key), f.at) {
            (Some(record), at) => {
                let miss = classify(Some(record), f, ttls);
                if let Some(at) = at {
                    record.update(f, at);
                }
                miss
            }
            (None, Some(at)) => {
                let mut record = Record::new(at);
                record.update(f, at);
                // Evicts the least recently used prefix when full.
                lru.put(key, record);
                classify(None, f, ttls)
            }
            (None, None) => classify(None, f, ttls),
        }
    }

    /// How many prefixes are remembered (never more than the capacity).
    pub(crate) fn len(&self) -> usize {
        let guard = self.lru.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map_or(0, LruCache::len)
    }

    #[cfg(test)]
    fn record(&self, key: &Key) -> Option<Record> {
        let guard = self.lru.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref()?.peek(key).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000;

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
            s.observe(k, &anthropic(0, 0, 0), &t),
            Some(CacheMiss::Uncached)
        );
        // Never cached before: cold (the uncached call left no entry).
        assert_eq!(
            s.observe(k, &anthropic(1, 0, 4000), &t),
            Some(CacheMiss::Cold)
        );
        // A hit is no miss.
        assert_eq!(s.observe(k, &anthropic(3, 4000, 0), &t), None);
        // Within 5 minutes of the read, not read: the provider missed.
        assert_eq!(
            s.observe(k, &anthropic(7, 0, 4000), &t),
            Some(CacheMiss::Silent)
        );
        // More than 5 minutes after the last write: expired.
        assert_eq!(
            s.observe(k, &anthropic(13, 0, 4000), &t),
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
            s.observe(key(1), &f, &CacheTtls::default()),
            Some(CacheMiss::Uncached)
        );
        let f = CallFacts {
            input: Some(500),
            min_tokens: Some(1024),
            ..openai(0, 0)
        };
        assert_eq!(
            s.observe(key(2), &f, &CacheTtls::default()),
            Some(CacheMiss::Uncached)
        );
    }

    #[test]
    fn implicit_caches_write_on_every_call() {
        let s = PrefixState::default();
        let t = CacheTtls::default();
        let k = key(1);
        assert_eq!(s.observe(k, &openai(0, 0), &t), Some(CacheMiss::Cold));
        // OpenAI should have cached the first call's prefix.
        assert_eq!(s.observe(k, &openai(2, 0), &t), Some(CacheMiss::Silent));
        assert_eq!(s.observe(k, &openai(30, 0), &t), Some(CacheMiss::Expired));
    }

    #[test]
    fn a_1h_write_extends_the_ttl_until_a_5m_write_replaces_it() {
        let s = PrefixState::default();
        let t = CacheTtls::default();
        let k = key(1);
        let mut w = anthropic(0, 0, 4000);
        w.write_1h = Some(4000);
        assert_eq!(s.observe(k, &w, &t), Some(CacheMiss::Cold));
        assert_eq!(
            s.observe(k, &anthropic(30, 0, 4000), &t),
            Some(CacheMiss::Silent)
        );
        // That 5m write shortened it again.
        assert_eq!(
            s.observe(k, &anthropic(40, 0, 4000), &t),
            Some(CacheMiss::Expired)
        );
        // Configurable.
        let long = CacheTtls::new(Duration::from_secs(3600), Duration::from_secs(7200));
        assert_eq!(
            s.observe(k, &anthropic(80, 0, 4000), &long),
            Some(CacheMiss::Silent)
        );
    }

    #[test]
    fn time_only_moves_forward_per_prefix() {
        let s = PrefixState::default();
        let t = CacheTtls::default();
        let k = key(1);
        s.observe(k, &anthropic(20, 0, 4000), &t);
        // A payload from ten minutes earlier arrives late: the prefix's clock
        // stays at 20, and the entry written at 20 is still fresh.
        assert_eq!(
            s.observe(k, &anthropic(10, 0, 4000), &t),
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
        assert_eq!(s.observe(k, &unknown, &t), None);
        s.observe(k, &anthropic(1, 0, 4000), &t);
        // Without a time there is no age: in the state, but not classifiable.
        let timeless = CallFacts {
            at: None,
            ..anthropic(0, 0, 4000)
        };
        assert_eq!(s.observe(k, &timeless, &t), None);
        assert_eq!(s.observe(key(2), &timeless, &t), Some(CacheMiss::Cold));
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
            s.observe(key(n), &anthropic(0, 0, 4000), &t);
            if n % 100_000 == 0 {
                assert!(s.len() <= capacity);
            }
        }
        assert_eq!(s.len(), capacity);
        // The most recent prefixes are the ones kept; the oldest were evicted.
        assert!(s.record(&key(999_999)).is_some());
        assert!(s.record(&key(0)).is_none());
        assert_eq!(
            s.observe(key(0), &anthropic(1, 0, 4000), &t),
            Some(CacheMiss::Cold)
        );
    }
}

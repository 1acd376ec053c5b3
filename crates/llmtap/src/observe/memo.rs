//! Recently seen prefixes and their ids.
//!
//! A prompt that is worth caching comes back, call after call, so most calls
//! carry a prefix whose id was computed moments ago. Computing it again
//! means parsing the system prompt, writing it canonically and hashing it
//! with SHA-256; looking it up means comparing bytes. The memo is keyed by
//! the exact bytes the id was computed from (no fingerprint that could
//! collide), and bounded by the bytes it holds, not only by entries.

use std::fmt;
use std::sync::Mutex;

use lru::LruCache;

use super::prefix::PrefixId;

/// At most this many bytes of keys (and per-entry overhead) are held.
const BUDGET_BYTES: usize = 4 << 20;
/// Prefixes longer than this are hashed every time rather than held.
const MAX_KEY_BYTES: usize = 256 << 10;
/// What an entry costs besides its key (the LRU's node and table slot).
const ENTRY_OVERHEAD: usize = 64;

/// Prefix bytes → id, least recently used evicted first.
pub(crate) struct IdMemo {
    inner: Mutex<Inner>,
}

struct Inner {
    /// Created on first use (see `PrefixState`).
    lru: Option<LruCache<Box<[u8]>, PrefixId>>,
    bytes: usize,
}

impl Default for IdMemo {
    fn default() -> Self {
        IdMemo {
            inner: Mutex::new(Inner {
                lru: None,
                bytes: 0,
            }),
        }
    }
}

impl fmt::Debug for IdMemo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("IdMemo")
            .field("entries", &inner.lru.as_ref().map_or(0, LruCache::len))
            .field("bytes", &inner.bytes)
            .finish()
    }
}

impl IdMemo {
    /// The id computed from exactly these bytes, if it is remembered.
    pub(crate) fn get(&self, key: &[u8]) -> Option<PrefixId> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.lru.as_mut()?.get(key).copied()
    }

    /// Remembers an id, evicting the least recently used until it fits.
    pub(crate) fn put(&self, key: Vec<u8>, id: PrefixId) {
        if key.len() > MAX_KEY_BYTES {
            return;
        }
        let cost = key.len() + ENTRY_OVERHEAD;
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Inner { lru, bytes } = &mut *inner;
        let lru = lru.get_or_insert_with(LruCache::unbounded);
        while *bytes + cost > BUDGET_BYTES {
            match lru.pop_lru() {
                Some((old, _)) => *bytes -= old.len() + ENTRY_OVERHEAD,
                None => break,
            }
        }
        // A replaced entry (another thread computed the same id meanwhile)
        // adds nothing.
        if lru.put(key.into_boxed_slice(), id).is_none() {
            *bytes += cost;
        }
    }

    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        (inner.lru.as_ref().map_or(0, LruCache::len), inner.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::prefix::tests_id;

    #[test]
    fn remembers_exact_bytes_only() {
        let memo = IdMemo::default();
        assert_eq!(memo.get(b"abc"), None);
        memo.put(b"abc".to_vec(), tests_id(1));
        assert_eq!(memo.get(b"abc"), Some(tests_id(1)));
        assert_eq!(memo.get(b"abd"), None);
        assert_eq!(memo.get(b"ab"), None);
        memo.put(b"abc".to_vec(), tests_id(1));
        assert_eq!(memo.held(), (1, 3 + ENTRY_OVERHEAD));
    }

    #[test]
    fn bounded_by_bytes() {
        let memo = IdMemo::default();
        let big = MAX_KEY_BYTES;
        for n in 0..64u64 {
            let mut key = vec![0u8; big];
            key[..8].copy_from_slice(&n.to_be_bytes());
            memo.put(key, tests_id(n));
            assert!(memo.held().1 <= BUDGET_BYTES);
        }
        let (entries, bytes) = memo.held();
        assert_eq!(entries, BUDGET_BYTES / (big + ENTRY_OVERHEAD));
        assert!(bytes <= BUDGET_BYTES);
        // Too long to hold: computed every time instead.
        memo.put(vec![1u8; MAX_KEY_BYTES + 1], tests_id(99));
        assert_eq!(memo.get(&vec![1u8; MAX_KEY_BYTES + 1]), None);
    }
}

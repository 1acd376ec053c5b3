//! The durable part: events in a redb file, keyed by arrival order.
//!
//! Why redb: it is pure Rust (nothing to build but Rust in CI), ACID with a
//! checksummed B-tree, and a commit with `Durability::Immediate` returns only
//! once the data is fsynced, which is the whole promise of the spool. Quick
//! repair is on, so a file left by `kill -9` opens at once instead of being
//! walked page by page: a restart listens and redelivers without delay.
//!
//! One table maps a sequence number to an event's JSON exactly as it was
//! built; a second holds the sum of those bytes, updated in the same
//! transaction, so the `--spool-bytes` bound survives restarts without a scan.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};

use super::SpoolError;

const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// `META` key: bytes of event JSON held in `EVENTS`.
const HELD_BYTES: &str = "held_bytes";
/// The file inside the spool directory.
const FILE: &str = "spool.redb";
/// redb's page cache. Its default (1 GiB) took a spooled sidecar to 1.6 GiB
/// RSS during an outage; the spool reads each record once, in key order,
/// soon after writing it, so a small cache loses nothing.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// What a spool holds, durably.
pub(crate) struct Store {
    db: Database,
    path: PathBuf,
    max_bytes: u64,
    /// The next sequence number; only written inside a write transaction,
    /// which redb serializes.
    next: AtomicU64,
    /// Mirrors of the committed counts, read without a transaction.
    held_bytes: AtomicU64,
    held_events: AtomicU64,
}

/// Why an append was refused.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Over `max_bytes`; nothing was written.
    Full { held: u64, limit: u64 },
    /// The disk said no; nothing was written.
    Failed(SpoolError),
}

impl Store {
    /// Opens `dir/spool.redb`, creating the directory and the file when
    /// missing. Fails if another process holds the file.
    pub(crate) fn open(dir: &Path, max_bytes: u64) -> Result<Store, SpoolError> {
        let path = dir.join(FILE);
        let fail = |message: String| SpoolError::Open {
            path: path.clone(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|e| fail(e.to_string()))?;
        let store = Store {
            db,
            path: path.clone(),
            max_bytes,
            next: AtomicU64::new(0),
            held_bytes: AtomicU64::new(0),
            held_events: AtomicU64::new(0),
        };
        // Creates both tables on a new file, and reads the counts of an old one.
        let txn = store.write().map_err(|e| fail(e.to_string()))?;
        {
            let events = txn.open_table(EVENTS).map_err(|e| fail(e.to_string()))?;
            let meta = txn.open_table(META).map_err(|e| fail(e.to_string()))?;
            let last = events.last().map_err(|e| fail(e.to_string()))?;
            let next = last.map_or(0, |(k, _)| k.value() + 1);
            let held = meta
                .get(HELD_BYTES)
                .map_err(|e| fail(e.to_string()))?
                .map_or(0, |v| v.value());
            let count = events.len().map_err(|e| fail(e.to_string()))?;
            store.next.store(next, Ordering::SeqCst);
            store.held_bytes.store(held, Ordering::SeqCst);
            store.held_events.store(count, Ordering::SeqCst);
        }
        txn.commit().map_err(|e| fail(e.to_string()))?;
        Ok(store)
    }

    /// Events held now.
    pub(crate) fn events(&self) -> u64 {
        self.held_events.load(Ordering::SeqCst)
    }

    /// Bytes of event JSON held now.
    pub(crate) fn bytes(&self) -> u64 {
        self.held_bytes.load(Ordering::SeqCst)
    }

    /// Writes `records` (already serialized) in one transaction and returns
    /// once it is on disk; all or none. Refuses when they would take the
    /// spool over its bound (a spool holding nothing takes anything, so one
    /// huge request cannot be refused forever).
    pub(crate) fn append(&self, records: &[Vec<u8>]) -> Result<(), Refusal> {
        let incoming: u64 = records.iter().map(|r| r.len() as u64).sum();
        let held = self.bytes();
        if held > 0 && held.saturating_add(incoming) > self.max_bytes {
            return Err(Refusal::Full {
                held,
                limit: self.max_bytes,
            });
        }
        let failed = |e: &dyn std::fmt::Display| Refusal::Failed(self.io(e));
        let txn = self.write().map_err(|e| failed(&e))?;
        let mut next = self.next.load(Ordering::SeqCst);
        let held = {
            let mut events = txn.open_table(EVENTS).map_err(|e| failed(&e))?;
            let mut meta = txn.open_table(META).map_err(|e| failed(&e))?;
            for record in records {
                events
                    .insert(next, record.as_slice())
                    .map_err(|e| failed(&e))?;
                next += 1;
            }
            let held = self.bytes() + incoming;
            meta.insert(HELD_BYTES, held).map_err(|e| failed(&e))?;
            held
        };
        txn.commit().map_err(|e| failed(&e))?;
        self.next.store(next, Ordering::SeqCst);
        self.held_bytes.store(held, Ordering::SeqCst);
        self.held_events
            .fetch_add(records.len() as u64, Ordering::SeqCst);
        Ok(())
    }

    /// Up to `max` records with keys above `after` (from the first when
    /// `None`), oldest first, stopping once `max_bytes` is reached (at least
    /// one record is returned when any is there).
    pub(crate) fn read_after(
        &self,
        after: Option<u64>,
        max: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, SpoolError> {
        let txn = self.db.begin_read().map_err(|e| self.io(&e))?;
        let events = txn.open_table(EVENTS).map_err(|e| self.io(&e))?;
        let from = after.map_or(0, |k| k.saturating_add(1));
        let mut out = Vec::new();
        let mut bytes = 0;
        for entry in events.range(from..).map_err(|e| self.io(&e))? {
            let (key, value) = entry.map_err(|e| self.io(&e))?;
            let value = value.value();
            if !out.is_empty() && (out.len() >= max || bytes + value.len() > max_bytes) {
                break;
            }
            bytes += value.len();
            out.push((key.value(), value.to_vec()));
        }
        Ok(out)
    }

    /// Removes `keys` (every destination is done with them), durably.
    pub(crate) fn remove(&self, keys: &[u64]) -> Result<(), SpoolError> {
        if keys.is_empty() {
            return Ok(());
        }
        let txn = self.write()?;
        let (removed, freed) = {
            let mut events = txn.open_table(EVENTS).map_err(|e| self.io(&e))?;
            let mut meta = txn.open_table(META).map_err(|e| self.io(&e))?;
            let (mut removed, mut freed) = (0u64, 0u64);
            for &key in keys {
                if let Some(value) = events.remove(key).map_err(|e| self.io(&e))? {
                    removed += 1;
                    freed += value.value().len() as u64;
                }
            }
            let held = self.bytes().saturating_sub(freed);
            meta.insert(HELD_BYTES, held).map_err(|e| self.io(&e))?;
            (removed, freed)
        };
        txn.commit().map_err(|e| self.io(&e))?;
        self.held_bytes.fetch_sub(freed, Ordering::SeqCst);
        self.held_events.fetch_sub(removed, Ordering::SeqCst);
        Ok(())
    }

    /// A write transaction that is on disk when `commit` returns, and whose
    /// file reopens without a full repair after a crash.
    fn write(&self) -> Result<WriteTransaction, SpoolError> {
        let mut txn = self.db.begin_write().map_err(|e| self.io(&e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| self.io(&e))?;
        txn.set_quick_repair(true);
        Ok(txn)
    }

    fn io(&self, e: &dyn std::fmt::Display) -> SpoolError {
        SpoolError::Io {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: usize, size: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| vec![b'a' + (i % 26) as u8; size]).collect()
    }

    #[test]
    fn what_is_appended_survives_a_reopen_in_order_and_removal_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), 1 << 20).unwrap();
            store.append(&records(3, 10)).unwrap();
            store.append(&records(2, 5)).unwrap();
            store.remove(&[1]).unwrap();
            assert_eq!((store.events(), store.bytes()), (4, 30));
        }
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        assert_eq!((store.events(), store.bytes()), (4, 30));
        let keys: Vec<u64> = store
            .read_after(None, 10, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, [0, 2, 3, 4]);
        // New keys continue after the last one, never reusing a removed one.
        store.append(&records(1, 1)).unwrap();
        let after = store.read_after(Some(4), 10, usize::MAX).unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].0, 5);
    }

    #[test]
    fn a_full_spool_refuses_whole_requests_but_an_empty_one_takes_anything() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 100).unwrap();
        store.append(&records(1, 500)).unwrap();
        assert!(matches!(
            store.append(&records(1, 1)),
            Err(Refusal::Full {
                held: 500,
                limit: 100
            })
        ));
        store.remove(&[0]).unwrap();
        store.append(&records(2, 40)).unwrap();
        assert!(matches!(
            store.append(&records(1, 21)),
            Err(Refusal::Full { .. })
        ));
        store.append(&records(1, 20)).unwrap();
        assert_eq!(store.events(), 3);
    }

    #[test]
    fn reads_are_bounded_by_count_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        store.append(&records(10, 100)).unwrap();
        assert_eq!(store.read_after(None, 3, usize::MAX).unwrap().len(), 3);
        assert_eq!(store.read_after(None, 10, 250).unwrap().len(), 2);
        assert_eq!(
            store.read_after(None, 10, 1).unwrap().len(),
            1,
            "at least one"
        );
        assert!(store
            .read_after(Some(9), 10, usize::MAX)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_second_process_cannot_open_the_same_spool() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path(), 1 << 20).unwrap();
        let second = Store::open(dir.path(), 1 << 20);
        assert!(matches!(second, Err(SpoolError::Open { .. })));
    }
}

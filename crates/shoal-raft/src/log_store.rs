//! openraft's [`RaftLogStorage`] over the raft file: one fsynced write transaction per append
//! batch, the IO-flushed callback only after it committed.
//!
//! Recent entries are also kept in memory ([`LogCache`]): a leader reads every entry it
//! appended once to apply it and once per follower to replicate it, and a follower reads each
//! once to apply it. Served from the raft file, each read decrypts and decodes the record again
//! (`shoal bench agents` spent a fifth of the leader's time there); from the cache it is an
//! `Arc` clone. The file stays the truth: the cache only holds what was durably appended, and
//! truncation and purging drop from both.

use crate::db::RaftDb;
use crate::record::Record;
use crate::types::{Entry, LogId, TypeConfig, Vote};
use openraft::OptionalSend;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use parking_lot::Mutex;
use redb::Durability;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

/// Sealed bytes of the entries the cache keeps at most; the oldest go first.
pub const LOG_CACHE_BYTES: usize = 8 << 20;

/// The log half of the raft storage. Cheap to clone: it is also its own log reader.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<RaftDb>,
    cache: Arc<Mutex<LogCache>>,
}

impl LogStore {
    pub(crate) fn new(db: Arc<RaftDb>) -> Self {
        Self {
            db,
            cache: Arc::new(Mutex::new(LogCache::new(LOG_CACHE_BYTES))),
        }
    }
}

/// The most recently appended entries, contiguous by index, with their sealed sizes.
#[derive(Debug)]
pub(crate) struct LogCache {
    entries: BTreeMap<u64, (Entry, usize)>,
    bytes: usize,
    limit: usize,
}

impl LogCache {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            entries: BTreeMap::new(),
            bytes: 0,
            limit,
        }
    }

    /// Adds entries just made durable. Entries that do not follow the cached ones replace
    /// them, so the cache is always one contiguous run.
    pub(crate) fn insert(&mut self, entries: Vec<Entry>, sizes: Vec<usize>) {
        for (entry, size) in entries.into_iter().zip(sizes) {
            let index = entry.log_id.index;
            let follows = self
                .entries
                .last_key_value()
                .is_none_or(|(last, _)| last + 1 == index);
            if !follows {
                self.truncate_from(0);
            }
            self.bytes += size;
            self.entries.insert(index, (entry, size));
        }
        while self.bytes > self.limit
            && let Some((_, (_, size))) = self.entries.pop_first()
        {
            self.bytes -= size;
        }
    }

    /// The entries of `start..end` (end exclusive), if the cache holds all of them.
    pub(crate) fn get(&self, start: u64, end: u64) -> Option<Vec<Entry>> {
        if start >= end {
            return Some(Vec::new());
        }
        let first = *self.entries.first_key_value()?.0;
        let last = *self.entries.last_key_value()?.0;
        if start < first || end - 1 > last {
            return None;
        }
        Some(
            self.entries
                .range(start..end)
                .map(|(_, (e, _))| e.clone())
                .collect(),
        )
    }

    /// Drops entries with index `>= index`.
    pub(crate) fn truncate_from(&mut self, index: u64) {
        for (_, (_, size)) in self.entries.split_off(&index) {
            self.bytes -= size;
        }
    }

    /// Drops entries with index `<= index`.
    pub(crate) fn purge_to(&mut self, index: u64) {
        let kept = self.entries.split_off(&(index + 1));
        for (_, (_, size)) in std::mem::replace(&mut self.entries, kept) {
            self.bytes -= size;
        }
    }
}

/// `range` as a half-open `start..end`; `None` when unbounded above (read from the file).
fn half_open(start: Bound<u64>, end: Bound<u64>) -> Option<(u64, u64)> {
    let start = match start {
        Bound::Included(i) => i,
        Bound::Excluded(i) => i.checked_add(1)?,
        Bound::Unbounded => 0,
    };
    let end = match end {
        Bound::Included(i) => i.checked_add(1)?,
        Bound::Excluded(i) => i,
        Bound::Unbounded => return None,
    };
    Some((start, end))
}

fn owned(b: Bound<&u64>) -> Bound<u64> {
    match b {
        Bound::Included(i) => Bound::Included(*i),
        Bound::Excluded(i) => Bound::Excluded(*i),
        Bound::Unbounded => Bound::Unbounded,
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let (start, end) = (owned(range.start_bound()), owned(range.end_bound()));
        if let Some((from, to)) = half_open(start, end)
            && let Some(entries) = self.cache.lock().get(from, to)
        {
            return Ok(entries);
        }
        self.db
            .run("read log entries", move |db| db.read_entries(start, end))
            .await
            .map_err(|e| e.into_io())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.db
            .run("read vote", |db| db.read_meta(Record::Vote))
            .await
            .map_err(|e| e.into_io())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let (purged, last) = self
            .db
            .run("read log state", |db| {
                Ok((db.read_meta::<LogId>(Record::Purged)?, db.last_log_id()?))
            })
            .await
            .map_err(|e| e.into_io())?;
        let last_log_id = last.or(purged);
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let vote = *vote;
        self.db
            .run("save vote", move |db| {
                db.write_meta(Record::Vote, &vote, Durability::Immediate)
            })
            .await
            .map_err(|e| e.into_io())
    }

    /// Not fsynced on its own: it becomes durable with the next append (see `db.rs`).
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        self.db
            .run("save committed", move |db| {
                db.write_meta(Record::Committed, &committed, Durability::None)
            })
            .await
            .map_err(|e| e.into_io())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        let c: Option<Option<LogId>> = self
            .db
            .run("read committed", |db| db.read_meta(Record::Committed))
            .await
            .map_err(|e| e.into_io())?;
        Ok(c.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        if entries.is_empty() {
            callback.io_completed(Ok(()));
            return Ok(());
        }
        // Awaiting the fsync here keeps writes serialised (openraft's rule) and the entries
        // readable once this returns; openraft batches concurrent proposals meanwhile.
        // Shared with the call, which may run more than once (a full disk is waited out).
        let entries = Arc::new(entries);
        let appended = Arc::clone(&entries);
        let res = self
            .db
            .run("append log entries", move |db| db.append(&appended))
            .await
            .map_err(|e| e.into_io());
        match res {
            Ok(sizes) => {
                let entries = Arc::unwrap_or_clone(entries);
                self.cache.lock().insert(entries, sizes);
                callback.io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.io_completed(Err(io::Error::other(e.to_string())));
                Err(e)
            }
        }
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let last = last_log_id.map(|l| l.index);
        // Dropped from the cache first: a failed truncation must not leave it serving entries
        // the file may no longer hold.
        self.cache.lock().truncate_from(last.map_or(0, |i| i + 1));
        self.db
            .run("truncate log", move |db| db.truncate_after(last))
            .await
            .map_err(|e| e.into_io())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        self.cache.lock().purge_to(log_id.index);
        self.db
            .run("purge log", move |db| db.purge(&log_id))
            .await
            .map_err(|e| e.into_io())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::EntryPayload;
    use openraft::entry::RaftEntry;
    use openraft::vote::RaftLeaderId;

    fn entry(index: u64) -> Entry {
        let leader =
            openraft::type_config::alias::LeaderIdOf::<TypeConfig>::new(1, 1).to_committed();
        <Entry as RaftEntry>::new(LogId::new(leader, index), EntryPayload::Blank)
    }

    fn fill(cache: &mut LogCache, indexes: std::ops::RangeInclusive<u64>, size: usize) {
        let entries: Vec<Entry> = indexes.map(entry).collect();
        let sizes = vec![size; entries.len()];
        cache.insert(entries, sizes);
    }

    fn indexes(entries: Option<Vec<Entry>>) -> Option<Vec<u64>> {
        entries.map(|v| v.iter().map(|e| e.log_id.index).collect())
    }

    #[test]
    fn serves_only_ranges_it_holds_whole() {
        let mut c = LogCache::new(1 << 20);
        fill(&mut c, 5..=9, 10);
        assert_eq!(indexes(c.get(6, 9)), Some(vec![6, 7, 8]));
        assert_eq!(indexes(c.get(5, 10)), Some(vec![5, 6, 7, 8, 9]));
        assert_eq!(c.get(4, 7), None, "index 4 is only in the file");
        assert_eq!(c.get(8, 11), None, "index 10 does not exist yet");
        assert_eq!(indexes(c.get(7, 7)), Some(vec![]));
    }

    #[test]
    fn evicts_the_oldest_past_its_byte_limit() {
        let mut c = LogCache::new(35);
        fill(&mut c, 1..=5, 10);
        assert_eq!(c.get(1, 4), None);
        assert_eq!(indexes(c.get(3, 6)), Some(vec![3, 4, 5]));
        assert_eq!(c.bytes, 30);
    }

    #[test]
    fn truncation_and_purge_drop_entries_and_a_gap_restarts_the_run() {
        let mut c = LogCache::new(1 << 20);
        fill(&mut c, 1..=6, 10);
        c.truncate_from(5);
        assert_eq!(c.get(4, 6), None, "5 was truncated");
        fill(&mut c, 5..=5, 10);
        assert_eq!(indexes(c.get(1, 6)), Some(vec![1, 2, 3, 4, 5]));
        c.purge_to(2);
        assert_eq!(c.get(2, 4), None);
        assert_eq!(indexes(c.get(3, 6)), Some(vec![3, 4, 5]));
        fill(&mut c, 9..=9, 10);
        assert_eq!(c.get(3, 6), None, "a gap replaced the old run");
        assert_eq!(indexes(c.get(9, 10)), Some(vec![9]));
        assert_eq!(c.bytes, 10);
    }

    #[test]
    fn bounds_become_half_open_ranges() {
        assert_eq!(
            half_open(Bound::Included(3), Bound::Excluded(7)),
            Some((3, 7))
        );
        assert_eq!(
            half_open(Bound::Excluded(3), Bound::Included(7)),
            Some((4, 8))
        );
        assert_eq!(
            half_open(Bound::Unbounded, Bound::Included(2)),
            Some((0, 3))
        );
        assert_eq!(half_open(Bound::Included(3), Bound::Unbounded), None);
    }
}

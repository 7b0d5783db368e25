//! openraft's [`RaftLogStorage`] over the raft file: one fsynced write transaction per append
//! batch, the IO-flushed callback only after it committed.

use crate::db::RaftDb;
use crate::record::Record;
use crate::types::{Entry, LogId, TypeConfig, Vote};
use openraft::OptionalSend;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use redb::Durability;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

/// The log half of the raft storage. Cheap to clone: it is also its own log reader.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<RaftDb>,
}

impl LogStore {
    pub(crate) fn new(db: Arc<RaftDb>) -> Self {
        Self { db }
    }
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
        let res = self
            .db
            .run("append log entries", move |db| db.append(&entries))
            .await
            .map_err(|e| e.into_io());
        match res {
            Ok(()) => {
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
        self.db
            .run("truncate log", move |db| db.truncate_after(last))
            .await
            .map_err(|e| e.into_io())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        self.db
            .run("purge log", move |db| db.purge(&log_id))
            .await
            .map_err(|e| e.into_io())
    }
}

//! The raft file, `<dir>/raft.redb`: log entries, vote/committed/purged pointers and the latest
//! snapshot, every value sealed (see `record.rs`).
//!
//! All methods here are blocking (redb is synchronous); async callers go through
//! [`RaftDb::run`], which moves the work to tokio's blocking pool. Writes that openraft must
//! see durable (appends, vote, truncation, purge, snapshot) commit with
//! `Durability::Immediate` (fsync); the committed pointer commits with `Durability::None` and
//! becomes durable with the next immediate commit, which is safe because a lower committed
//! pointer only means replaying fewer entries at start-up.

use crate::error::RaftError;
use crate::record::{self, Record};
use crate::sealer::Sealer;
use crate::types::{Entry, LogId, SnapshotMeta};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Display;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// File name of the raft database inside the raft directory.
/// redb page cache: the log is read back only at start-up and by lagging followers.
const CACHE_BYTES: usize = 4 * 1024 * 1024;

pub const FILE_NAME: &str = "raft.redb";

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const SNAPSHOT: TableDefinition<u64, &[u8]> = TableDefinition::new("snapshot");

/// Bytes of the big-endian length prefix of the snapshot metadata inside a snapshot record.
/// Mode of the raft directory.
pub const PRIVATE_DIR: u32 = 0o700;
/// Mode of the raft file.
pub const PRIVATE_FILE: u32 = 0o600;
const SNAPSHOT_META_LEN_BYTES: usize = 4;

/// The open raft file plus the sealer for its records. Shared by the log store and the state
/// machine behind an `Arc`; redb serialises write transactions.
pub(crate) struct RaftDb {
    db: Database,
    path: PathBuf,
    sealer: Arc<dyn Sealer>,
    /// Dropped after `db` (fields drop in declaration order), so a receiver learns that the
    /// file is closed, not merely that the last `Arc` is going away.
    closed: tokio::sync::watch::Sender<()>,
}

impl RaftDb {
    /// Opens (or creates, when absent) `<dir>/raft.redb` and checks that every record opens.
    /// An existing file that redb refuses, or any record that fails to decrypt or decode, is
    /// [`RaftError::Corrupt`]: a node must never silently start with an empty log.
    /// The directory is made [`PRIVATE_DIR`] and the file [`PRIVATE_FILE`]: the log is
    /// encrypted, but nobody else has any business reading it.
    pub(crate) fn open(dir: &Path, sealer: Arc<dyn Sealer>) -> Result<Self, RaftError> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let private_dir = || {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(PRIVATE_DIR)
                .create(dir)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(PRIVATE_DIR))
        };
        private_dir().map_err(|source| RaftError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let mut builder = Database::builder();
        // redb's default cache is 1 GiB; the swarm store is megabytes and lives in memory
        // anyway, so a small cache keeps an idle manager's footprint small.
        builder.set_cache_size(CACHE_BYTES);
        let db = if path.exists() {
            builder.open(&path).map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => RaftError::Storage {
                    path: path.clone(),
                    op: "open",
                    reason: "already open".into(),
                },
                other => RaftError::Corrupt {
                    path: path.clone(),
                    reason: other.to_string(),
                },
            })?
        } else {
            builder.create(&path).map_err(|e| RaftError::Storage {
                path: path.clone(),
                op: "create",
                reason: e.to_string(),
            })?
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(PRIVATE_FILE)).map_err(
            |e| RaftError::Storage {
                path: path.clone(),
                op: "set permissions",
                reason: e.to_string(),
            },
        )?;
        let this = Self {
            db,
            path,
            sealer,
            closed: tokio::sync::watch::Sender::new(()),
        };
        this.create_tables()?;
        this.validate()?;
        Ok(this)
    }

    /// Resolves (its `changed()` fails) once this database is dropped and its file closed.
    pub(crate) fn closed(&self) -> tokio::sync::watch::Receiver<()> {
        self.closed.subscribe()
    }

    /// Path of the raft file, for error messages.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs blocking `f` on tokio's blocking pool, so redb I/O never stalls a worker thread.
    pub(crate) async fn run<T, F>(self: &Arc<Self>, op: &'static str, f: F) -> Result<T, RaftError>
    where
        T: Send + 'static,
        F: FnOnce(&RaftDb) -> Result<T, RaftError> + Send + 'static,
    {
        let db = Arc::clone(self);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| RaftError::Storage {
                path,
                op,
                reason: format!("blocking task failed: {e}"),
            })?
    }

    fn corrupt(&self, reason: impl Display) -> RaftError {
        RaftError::Corrupt {
            path: self.path.clone(),
            reason: reason.to_string(),
        }
    }

    fn fail(&self, op: &'static str) -> impl Fn(&dyn Display) -> RaftError + '_ {
        move |e| RaftError::Storage {
            path: self.path.clone(),
            op,
            reason: e.to_string(),
        }
    }

    fn create_tables(&self) -> Result<(), RaftError> {
        let fail = |e: &dyn Display| self.corrupt(format_args!("opening tables: {e}"));
        let tx = self.db.begin_write().map_err(|e| fail(&e))?;
        tx.open_table(LOG).map_err(|e| fail(&e))?;
        tx.open_table(META).map_err(|e| fail(&e))?;
        tx.open_table(SNAPSHOT).map_err(|e| fail(&e))?;
        tx.commit().map_err(|e| fail(&e))
    }

    /// Reads every record once: pointers, the snapshot, and each log entry (which must decrypt,
    /// sit at its own index, and be contiguous after the purged pointer).
    fn validate(&self) -> Result<(), RaftError> {
        let purged: Option<LogId> = self
            .read_meta(Record::Purged)
            .map_err(|e| self.corrupt(e))?;
        let _: Option<crate::types::Vote> =
            self.read_meta(Record::Vote).map_err(|e| self.corrupt(e))?;
        let _: Option<LogId> = self
            .read_meta(Record::Committed)
            .map_err(|e| self.corrupt(e))?;
        self.read_snapshot().map_err(|e| self.corrupt(e))?;
        let entries = self
            .read_entries(Bound::Unbounded, Bound::Unbounded)
            .map_err(|e| self.corrupt(e))?;
        if let (Some(p), Some(first)) = (&purged, entries.first())
            && first.log_id.index <= p.index
        {
            return Err(self.corrupt(format!(
                "log entry {} is not after the purged {}",
                first.log_id.index, p.index
            )));
        }
        for pair in entries.windows(2) {
            let (a, b) = (pair[0].log_id.index, pair[1].log_id.index);
            if b != a + 1 {
                return Err(self.corrupt(format!("log has a hole between {a} and {b}")));
            }
        }
        Ok(())
    }

    // ---- log -------------------------------------------------------------------------------

    /// Writes `entries` in one transaction, fsynced before returning.
    /// Returns the size of each sealed record, in order.
    pub(crate) fn append(&self, entries: &[Entry]) -> Result<Vec<usize>, RaftError> {
        let fail = self.fail("append log entries");
        let sealed: Vec<(u64, Vec<u8>)> = entries
            .iter()
            .map(|e| {
                (
                    e.log_id.index,
                    record::seal_json(self.sealer.as_ref(), Record::Log(e.log_id.index), e),
                )
            })
            .collect();
        let mut tx = self.db.begin_write().map_err(|e| fail(&e))?;
        tx.set_durability(Durability::Immediate)
            .map_err(|e| fail(&e))?;
        {
            let mut log = tx.open_table(LOG).map_err(|e| fail(&e))?;
            for (index, bytes) in &sealed {
                log.insert(*index, bytes.as_slice()).map_err(|e| fail(&e))?;
            }
        }
        tx.commit().map_err(|e| fail(&e))?;
        Ok(sealed.iter().map(|(_, b)| b.len()).collect())
    }

    /// Entries with index in `(start, end)` bounds, in order. A record that does not open is
    /// reported as corruption.
    pub(crate) fn read_entries(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<Vec<Entry>, RaftError> {
        let fail = self.fail("read log entries");
        let tx = self.db.begin_read().map_err(|e| fail(&e))?;
        let log = tx.open_table(LOG).map_err(|e| fail(&e))?;
        let mut out = Vec::new();
        for item in log.range::<u64>((start, end)).map_err(|e| fail(&e))? {
            let (k, v) = item.map_err(|e| fail(&e))?;
            let index = k.value();
            let entry: Entry =
                record::open_json(self.sealer.as_ref(), Record::Log(index), v.value())
                    .map_err(|e| self.corrupt(format_args!("log entry {index}: {e}")))?;
            if entry.log_id.index != index {
                return Err(self.corrupt(format!(
                    "log entry stored at {index} claims index {}",
                    entry.log_id.index
                )));
            }
            out.push(entry);
        }
        Ok(out)
    }

    /// Log id of the last entry, if any.
    pub(crate) fn last_log_id(&self) -> Result<Option<LogId>, RaftError> {
        let fail = self.fail("read last log entry");
        let tx = self.db.begin_read().map_err(|e| fail(&e))?;
        let log = tx.open_table(LOG).map_err(|e| fail(&e))?;
        let Some((k, v)) = log.last().map_err(|e| fail(&e))? else {
            return Ok(None);
        };
        let index = k.value();
        let entry: Entry = record::open_json(self.sealer.as_ref(), Record::Log(index), v.value())
            .map_err(|e| self.corrupt(format_args!("log entry {index}: {e}")))?;
        Ok(Some(entry.log_id))
    }

    /// Removes entries after `last` (all of them when `None`), fsynced.
    pub(crate) fn truncate_after(&self, last: Option<u64>) -> Result<(), RaftError> {
        let start = match last {
            Some(i) => Bound::Excluded(i),
            None => Bound::Unbounded,
        };
        self.remove_range(start, Bound::Unbounded, None)
    }

    /// Removes entries up to and including `upto` and records it as purged, in one fsynced
    /// transaction.
    pub(crate) fn purge(&self, upto: &LogId) -> Result<(), RaftError> {
        self.remove_range(Bound::Unbounded, Bound::Included(upto.index), Some(upto))
    }

    fn remove_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
        purged: Option<&LogId>,
    ) -> Result<(), RaftError> {
        let fail = self.fail("remove log entries");
        let mut tx = self.db.begin_write().map_err(|e| fail(&e))?;
        tx.set_durability(Durability::Immediate)
            .map_err(|e| fail(&e))?;
        {
            let mut log = tx.open_table(LOG).map_err(|e| fail(&e))?;
            let keys: Vec<u64> = log
                .range::<u64>((start, end))
                .map_err(|e| fail(&e))?
                .map(|item| item.map(|(k, _)| k.value()))
                .collect::<Result<_, _>>()
                .map_err(|e| fail(&e))?;
            for k in keys {
                log.remove(k).map_err(|e| fail(&e))?;
            }
            if let Some(p) = purged {
                let mut meta = tx.open_table(META).map_err(|e| fail(&e))?;
                let sealed = record::seal_json(self.sealer.as_ref(), Record::Purged, p);
                meta.insert(Record::Purged.meta_key(), sealed.as_slice())
                    .map_err(|e| fail(&e))?;
            }
        }
        tx.commit().map_err(|e| fail(&e))
    }

    // ---- meta ------------------------------------------------------------------------------

    /// Reads the vote, committed or purged pointer.
    pub(crate) fn read_meta<T: DeserializeOwned>(
        &self,
        rec: Record,
    ) -> Result<Option<T>, RaftError> {
        let fail = self.fail("read raft metadata");
        let tx = self.db.begin_read().map_err(|e| fail(&e))?;
        let meta = tx.open_table(META).map_err(|e| fail(&e))?;
        let Some(v) = meta.get(rec.meta_key()).map_err(|e| fail(&e))? else {
            return Ok(None);
        };
        record::open_json(self.sealer.as_ref(), rec, v.value())
            .map(Some)
            .map_err(|e| self.corrupt(e))
    }

    /// Writes the vote, committed or purged pointer with the given durability.
    pub(crate) fn write_meta<T: Serialize>(
        &self,
        rec: Record,
        value: &T,
        durability: Durability,
    ) -> Result<(), RaftError> {
        let fail = self.fail("write raft metadata");
        let sealed = record::seal_json(self.sealer.as_ref(), rec, value);
        let mut tx = self.db.begin_write().map_err(|e| fail(&e))?;
        tx.set_durability(durability).map_err(|e| fail(&e))?;
        {
            let mut meta = tx.open_table(META).map_err(|e| fail(&e))?;
            meta.insert(rec.meta_key(), sealed.as_slice())
                .map_err(|e| fail(&e))?;
        }
        tx.commit().map_err(|e| fail(&e))
    }

    // ---- snapshot --------------------------------------------------------------------------

    /// The latest snapshot: its metadata and data (the JSON of a store snapshot).
    pub(crate) fn read_snapshot(&self) -> Result<Option<(SnapshotMeta, Vec<u8>)>, RaftError> {
        let fail = self.fail("read snapshot");
        let tx = self.db.begin_read().map_err(|e| fail(&e))?;
        let table = tx.open_table(SNAPSHOT).map_err(|e| fail(&e))?;
        let Some((k, v)) = table.last().map_err(|e| fail(&e))? else {
            return Ok(None);
        };
        let index = k.value();
        let plain = record::open_raw(self.sealer.as_ref(), Record::Snapshot(index), v.value())
            .map_err(|e| self.corrupt(format_args!("snapshot at {index}: {e}")))?;
        let bad = |what: &str| self.corrupt(format_args!("snapshot at {index}: {what}"));
        if plain.len() < SNAPSHOT_META_LEN_BYTES {
            return Err(bad("too short"));
        }
        let (len, rest) = plain.split_at(SNAPSHOT_META_LEN_BYTES);
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if rest.len() < len {
            return Err(bad("metadata length beyond the record"));
        }
        let (meta, data) = rest.split_at(len);
        let meta: SnapshotMeta =
            serde_json::from_slice(meta).map_err(|e| bad(&format!("metadata: {e}")))?;
        Ok(Some((meta, data.to_vec())))
    }

    /// Stores a snapshot if it is newer than (or as new as) the stored one, replacing it, in one
    /// fsynced transaction. Returns whether it was stored.
    pub(crate) fn write_snapshot(
        &self,
        meta: &SnapshotMeta,
        data: &[u8],
    ) -> Result<bool, RaftError> {
        let fail = self.fail("write snapshot");
        let index = meta.last_log_id.as_ref().map_or(0, |l| l.index);
        let meta_json = serde_json::to_vec(meta).map_err(|e| fail(&e))?;
        let len = u32::try_from(meta_json.len()).map_err(|e| fail(&e))?;
        let mut plain = Vec::with_capacity(SNAPSHOT_META_LEN_BYTES + meta_json.len() + data.len());
        plain.extend_from_slice(&len.to_be_bytes());
        plain.extend_from_slice(&meta_json);
        plain.extend_from_slice(data);
        let sealed = record::seal_raw(self.sealer.as_ref(), Record::Snapshot(index), &plain);

        let mut tx = self.db.begin_write().map_err(|e| fail(&e))?;
        tx.set_durability(Durability::Immediate)
            .map_err(|e| fail(&e))?;
        {
            let mut table = tx.open_table(SNAPSHOT).map_err(|e| fail(&e))?;
            let existing: Vec<u64> = table
                .iter()
                .map_err(|e| fail(&e))?
                .map(|item| item.map(|(k, _)| k.value()))
                .collect::<Result<_, _>>()
                .map_err(|e| fail(&e))?;
            if existing.iter().any(|&k| k > index) {
                return Ok(false);
            }
            for k in existing {
                table.remove(k).map_err(|e| fail(&e))?;
            }
            table
                .insert(index, sealed.as_slice())
                .map_err(|e| fail(&e))?;
        }
        tx.commit().map_err(|e| fail(&e))?;
        Ok(true)
    }
}

#[cfg(test)]
mod mode_tests {
    use super::*;
    use crate::sealer::XChaChaSealer;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777
    }

    #[test]
    fn the_raft_file_and_its_directory_are_private() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("raft");
        let db = RaftDb::open(&dir, Arc::new(XChaChaSealer::generate())).expect("open");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(FILE_NAME)), 0o600);
        drop(db);
        // An existing file left readable by an older version is tightened on open.
        std::fs::set_permissions(dir.join(FILE_NAME), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        let _db = RaftDb::open(&dir, Arc::new(XChaChaSealer::generate())).expect("reopen");
        assert_eq!(mode(&dir.join(FILE_NAME)), 0o600);
    }
}

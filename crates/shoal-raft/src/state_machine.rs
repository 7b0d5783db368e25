//! openraft's [`RaftStateMachine`] over the in-memory store: entries are applied with
//! [`MemoryStore::apply`], snapshots are the store's [`shoal_store::Snapshot`] as JSON, sealed
//! into the raft file.
//!
//! The store lives in memory only; what makes it durable is the snapshot plus the committed
//! log. At start-up [`StateMachine::load`] restores the latest snapshot into the (empty) store,
//! and openraft then re-applies the committed entries after it.

use crate::db::RaftDb;
use crate::error::RaftError;
use crate::types::{
    Entry, LogId, Response, Snapshot, SnapshotData, SnapshotMeta, StoredMembership, TypeConfig,
};
use futures::{Stream, StreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};
use shoal_store::MemoryStore;
use std::io;
use std::sync::Arc;

/// The state machine half of the raft storage.
pub struct StateMachine {
    store: Arc<MemoryStore>,
    db: Arc<RaftDb>,
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
}

impl StateMachine {
    /// Restores the stored snapshot, if any, into `store` and returns a state machine positioned
    /// after it. Blocking (reads the raft file); `store` should be empty.
    pub(crate) fn load(store: Arc<MemoryStore>, db: Arc<RaftDb>) -> Result<Self, RaftError> {
        let mut sm = Self {
            store,
            db,
            last_applied: None,
            last_membership: StoredMembership::default(),
        };
        if let Some((meta, data)) = sm.db.read_snapshot()? {
            let snap = decode_snapshot(&sm.db, &data)?;
            sm.restore(&meta, snap);
        }
        Ok(sm)
    }

    fn restore(&mut self, meta: &SnapshotMeta, snap: shoal_store::Snapshot) {
        self.store.restore(snap);
        if let Some(l) = &meta.last_log_id {
            self.store.note_applied(l.index);
        }
        self.last_applied = meta.last_log_id;
        self.last_membership = meta.last_membership.clone();
    }

    fn apply_one(&mut self, entry: Entry) -> Response {
        let index = entry.log_id.index;
        let res = match entry.payload {
            EntryPayload::Blank => {
                self.store.note_applied(index);
                Ok(())
            }
            EntryPayload::Normal(req) => {
                let res = self.store.apply(index, &req.0);
                if res.is_err() {
                    // A refused proposal is still a committed entry: the store's applied index
                    // follows the log, so its snapshots line up with raft's.
                    self.store.note_applied(index);
                }
                res
            }
            EntryPayload::Membership(m) => {
                self.last_membership = StoredMembership::new(Some(entry.log_id), m);
                self.store.note_applied(index);
                Ok(())
            }
        };
        self.last_applied = Some(entry.log_id);
        Response(res)
    }
}

fn decode_snapshot(db: &RaftDb, data: &[u8]) -> Result<shoal_store::Snapshot, RaftError> {
    serde_json::from_slice(data).map_err(|e| RaftError::Corrupt {
        path: db.path().to_path_buf(),
        reason: format!("snapshot data: {e}"),
    })
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        Ok((self.last_applied, self.last_membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            let response = self.apply_one(entry);
            if let Some(r) = responder {
                r.send(response);
            }
        }
        Ok(())
    }

    /// Captures the store now, in apply order; the builder serialises and writes it off the
    /// state machine task.
    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            db: Arc::clone(&self.db),
            meta: SnapshotMeta {
                last_log_id: self.last_applied,
                last_membership: self.last_membership.clone(),
            },
            snapshot: self.store.snapshot(),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let snap = decode_snapshot(&self.db, &snapshot).map_err(|e| e.into_io())?;
        let stored_meta = meta.clone();
        self.db
            .run("install snapshot", move |db| {
                db.write_snapshot(&stored_meta, &snapshot)
            })
            .await
            .map_err(|e| e.into_io())?;
        self.restore(meta, snap);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let stored = self
            .db
            .run("read snapshot", |db| db.read_snapshot())
            .await
            .map_err(|e| e.into_io())?;
        Ok(stored.map(|(meta, snapshot)| Snapshot { meta, snapshot }))
    }
}

/// A store snapshot taken at `meta.last_log_id`, waiting to be sealed and written.
pub struct SnapshotBuilder {
    db: Arc<RaftDb>,
    meta: SnapshotMeta,
    snapshot: shoal_store::Snapshot,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let meta = self.meta.clone();
        let snapshot = std::mem::take(&mut self.snapshot);
        let data = self
            .db
            .run("build snapshot", move |db| {
                let data = serde_json::to_vec(&snapshot).map_err(|e| RaftError::Storage {
                    path: db.path().to_path_buf(),
                    op: "encode snapshot",
                    reason: e.to_string(),
                })?;
                db.write_snapshot(&meta, &data)?;
                Ok(data)
            })
            .await
            .map_err(|e| e.into_io())?;
        Ok(Snapshot {
            meta: self.meta.clone(),
            snapshot: data,
        })
    }
}

//! openraft's storage conformance suite against the redb log store and state machine.

use crate::db::RaftDb;
use crate::log_store::LogStore;
use crate::sealer::XChaChaSealer;
use crate::state_machine::StateMachine;
use crate::types::TypeConfig;
use openraft::StorageError;
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::type_config::TypeConfigExt;
use shoal_store::MemoryStore;
use std::sync::Arc;

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<TypeConfig>> {
        let io = |e: &dyn std::fmt::Display| StorageError::read(TypeConfig::err_from_string(e));
        let dir = tempfile::tempdir().map_err(|e| io(&e))?;
        let db = Arc::new(
            RaftDb::open(dir.path(), Arc::new(XChaChaSealer::generate())).map_err(|e| io(&e))?,
        );
        let sm = StateMachine::load(Arc::new(MemoryStore::new()), Arc::clone(&db))
            .map_err(|e| io(&e))?;
        Ok((dir, LogStore::new(db), sm))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redb_storage_passes_openraft_conformance_suite() -> Result<(), StorageError<TypeConfig>>
{
    Suite::test_all(Builder).await
}

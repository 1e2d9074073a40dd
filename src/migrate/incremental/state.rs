//! The state file of an incremental migration: which backups were uploaded, submitted and
//! restored, and where the database stands, written atomically after every change.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::super::{MigrateError, UploadedObject};
use crate::bak::chain::ChainPoint;
use crate::durable;

/// The persisted progress of one incremental migration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct State {
    /// BackupSetGUID of the full backup the chain starts from.
    pub(super) full_backup_set: Option<String>,
    /// MigrateTaskId, once the full was submitted.
    pub(super) task_id: Option<String>,
    /// Where the database stands after the applied backups.
    pub(super) point: Option<ChainPoint>,
    /// Every backup submitted or about to be, in order.
    pub(super) steps: Vec<StepRecord>,
    /// CreateOnlineDatabaseTask succeeded.
    pub(super) online: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct StepRecord {
    /// BackupSetGUID: what identifies a backup whatever its file name.
    pub(super) backup_set: String,
    pub(super) file: PathBuf,
    pub(super) object: UploadedObject,
    /// CreateMigrateTask accepted it.
    pub(super) submitted: bool,
    /// RDS restored it.
    pub(super) applied: bool,
}

pub(super) struct StateFile {
    pub(super) path: PathBuf,
    pub(super) state: State,
}

impl StateFile {
    /// One state per instance and target database: RDS allows one restore chain per database.
    pub(super) fn open(
        state_dir: &Path,
        instance_id: &str,
        database: &str,
    ) -> Result<Self, MigrateError> {
        let mut hash = sha2::Sha256::new();
        for part in ["incremental", instance_id, &database.to_lowercase()] {
            hash.update(part.as_bytes());
            hash.update(b"\0");
        }
        let path = state_dir.join(format!(
            "incremental-{}.json",
            hex::encode(&hash.finalize()[..16])
        ));
        let bytes = durable::read_optional(&path)
            .map_err(|e| crate::Error::io("read migration state", &path, e))?;
        let state = match bytes {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| MigrateError::State {
                path: path.clone(),
                reason: e.to_string(),
            })?,
            None => State::default(),
        };
        Ok(StateFile { path, state })
    }

    pub(super) fn save(&self) -> Result<(), MigrateError> {
        let bytes = serde_json::to_vec_pretty(&self.state)
            .map_err(|e| crate::Error::io("encode migration state", &self.path, e.into()))?;
        durable::write_atomic(&self.path, &bytes)
            .map_err(|e| crate::Error::io("write migration state", &self.path, e).into())
    }

    pub(super) fn record(&self, backup_set: &str) -> Option<&StepRecord> {
        self.state.steps.iter().find(|r| r.backup_set == backup_set)
    }

    pub(super) fn record_mut(&mut self, backup_set: &str) -> Option<&mut StepRecord> {
        self.state
            .steps
            .iter_mut()
            .find(|r| r.backup_set == backup_set)
    }

    pub(super) fn is_applied(&self, backup_set: &str) -> bool {
        self.record(backup_set).is_some_and(|r| r.applied)
    }
}

//! The state file of an incremental migration: which backups were uploaded, submitted and
//! restored, and where the database stands, written atomically after every change.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::super::{MigrateError, UploadedObject};
use crate::durable;
use mssql_backup::chain::ChainPoint;

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
    /// Held for the whole run: two runs on one migration would both submit the same backup and
    /// overwrite each other's records (a cron job adding logs while the last run still watches).
    _lock: std::fs::File,
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
        let lock = lock(&path, instance_id, database)?;
        let bytes = durable::read_optional(&path)
            .map_err(|e| crate::Error::io("read migration state", &path, e))?;
        let state = match bytes {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| MigrateError::State {
                path: path.clone(),
                reason: e.to_string(),
            })?,
            None => State::default(),
        };
        Ok(StateFile {
            path,
            state,
            _lock: lock,
        })
    }

    pub(super) fn save(&self) -> Result<(), MigrateError> {
        let bytes = serde_json::to_vec_pretty(&self.state)
            .map_err(|e| crate::Error::io("encode migration state", &self.path, e.into()))?;
        durable::write_atomic(&self.path, &bytes)
            .map_err(|e| crate::Error::io("write migration state", &self.path, e).into())
    }

    /// Forgets the task and what it restored, keeping the uploaded objects: a failed task takes
    /// no more files, so the chain starts over from the full on a new task.
    pub(super) fn restart_chain(&mut self) {
        self.state.task_id = None;
        self.state.point = None;
        self.state.online = false;
        for record in &mut self.state.steps {
            record.submitted = false;
            record.applied = false;
        }
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

/// An exclusive lock on `<state>.lock`, released when the process ends, however it ends.
fn lock(path: &Path, instance_id: &str, database: &str) -> Result<std::fs::File, MigrateError> {
    let lock_path = path.with_extension("lock");
    if let Some(dir) = lock_path.parent() {
        durable::create_private_dir(dir)
            .map_err(|e| crate::Error::io("create the state folder", dir, e))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(&lock_path)
        .map_err(|e| crate::Error::io("open the migration lock", &lock_path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(MigrateError::Busy {
            database: database.to_owned(),
            instance_id: instance_id.to_owned(),
            lock: lock_path,
        }),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(crate::Error::io("lock the migration state", &lock_path, e).into())
        }
    }
}

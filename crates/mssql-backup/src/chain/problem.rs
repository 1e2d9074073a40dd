//! What can be wrong with a set of backups for a restore chain, and what is left out on purpose.
//! Every problem carries a message for a DBA and a concrete fix; kinds and skip reasons
//! serialize as stable snake_case strings (docs/inspect.md) so scripts and `migrate` can match
//! on them, never on message text.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::super::verdict::Severity;
use super::super::{BackupInfo, Lsn};

/// The kinds of chain problem. New kinds may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChainProblemKind {
    /// The file could not be opened or read.
    Unreadable,
    /// Not a SQL Server native backup.
    NotBackup,
    /// Truncated or damaged, or its header lacks the LSNs a chain needs.
    Corrupt,
    /// Protected by MEDIAPASSWORD or PASSWORD.
    PasswordProtected,
    /// A file, filegroup or partial backup (or an unknown type).
    UnsupportedType,
    /// One family of a striped backup.
    Striped,
    /// The file holds several backup sets; only the first is used (warning).
    MultipleSets,
    /// The same backup set twice (warning: one copy is used).
    Duplicate,
    /// A backup of a database other than the one asked for (warning: left out).
    OtherDatabase,
    /// Same database name, another database GUID: another copy of the database (restored or
    /// recreated elsewhere), whose backups cannot continue this chain.
    OtherFork,
    /// No full backup to start from.
    NoFull,
    /// A differential whose base full backup was not given.
    MissingBaseFull,
    /// A differential based on another full than the one the chain starts from.
    WrongBase,
    /// A full backup offered where a differential or log must come next.
    FullAgain,
    /// Log backups are missing between two LSNs.
    Gap,
    /// Two log backups cover the same LSNs.
    Overlap,
    /// The backup ends at or before where the database already stands.
    AlreadyCovered,
}

impl ChainProblemKind {
    /// The stable snake_case name (the JSON value).
    pub fn as_str(self) -> &'static str {
        match self {
            ChainProblemKind::Unreadable => "unreadable",
            ChainProblemKind::NotBackup => "not_backup",
            ChainProblemKind::Corrupt => "corrupt",
            ChainProblemKind::PasswordProtected => "password_protected",
            ChainProblemKind::UnsupportedType => "unsupported_type",
            ChainProblemKind::Striped => "striped",
            ChainProblemKind::MultipleSets => "multiple_sets",
            ChainProblemKind::Duplicate => "duplicate",
            ChainProblemKind::OtherDatabase => "other_database",
            ChainProblemKind::OtherFork => "other_fork",
            ChainProblemKind::NoFull => "no_full",
            ChainProblemKind::MissingBaseFull => "missing_base_full",
            ChainProblemKind::WrongBase => "wrong_base",
            ChainProblemKind::FullAgain => "full_again",
            ChainProblemKind::Gap => "gap",
            ChainProblemKind::Overlap => "overlap",
            ChainProblemKind::AlreadyCovered => "already_covered",
        }
    }
}

impl std::fmt::Display for ChainProblemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Two LSNs a problem is about: the missing range of a gap, the shared range of an overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LsnRange {
    /// Where the range starts.
    pub from: Lsn,
    /// Where it ends.
    pub to: Lsn,
}

/// One problem, with the files involved, what is wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct ChainProblem {
    /// What kind of problem.
    pub kind: ChainProblemKind,
    /// `error` stops the restore; `warning` leaves a file out but the chain stands.
    pub severity: Severity,
    /// The files involved.
    pub files: Vec<PathBuf>,
    /// What is wrong, for a DBA.
    pub message: String,
    /// What to do about it.
    pub fix: String,
    /// The LSNs involved, for gaps and overlaps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lsns: Option<LsnRange>,
}

impl ChainProblem {
    /// An error-severity problem.
    pub fn error(kind: ChainProblemKind, files: Vec<PathBuf>, message: String, fix: &str) -> Self {
        ChainProblem {
            kind,
            severity: Severity::Error,
            files,
            message,
            fix: fix.to_owned(),
            lsns: None,
        }
    }

    /// A warning-severity problem.
    pub fn warning(
        kind: ChainProblemKind,
        files: Vec<PathBuf>,
        message: String,
        fix: &str,
    ) -> Self {
        ChainProblem {
            severity: Severity::Warning,
            ..ChainProblem::error(kind, files, message, fix)
        }
    }

    fn with_lsns(mut self, from: Lsn, to: Lsn) -> Self {
        self.lsns = Some(LsnRange { from, to });
        self
    }

    /// Log backups between `from` (where the database stands) and `to` (where `next` starts)
    /// are missing.
    pub fn gap(from: Lsn, next: &Path, to: Lsn) -> Self {
        ChainProblem::error(
            ChainProblemKind::Gap,
            vec![next.to_path_buf()],
            format!(
                "log backups between LSN {from} and {to} are missing: the database stands at LSN {from}, but the next log backup, {}, starts at LSN {to}",
                display(next)
            ),
            "take them from msdb backup history (backupset) or take a new differential backup",
        )
        .with_lsns(from, to)
    }

    /// `other` covers LSNs that `used` already covers, from `from` to `to`.
    pub fn overlap(used: &Path, other: &Path, from: Lsn, to: Lsn) -> Self {
        ChainProblem::error(
            ChainProblemKind::Overlap,
            vec![used.to_path_buf(), other.to_path_buf()],
            format!(
                "log backups {} and {} both cover LSN {from} to {to}: they come from two log chains (another recovery fork, a second backup job, or a COPY_ONLY backup); bak2rds used {}",
                display(used),
                display(other),
                display(used)
            ),
            "keep only the log backups listed in msdb backup history (backupset) of the source database, and remove the others from the folder",
        )
        .with_lsns(from, to)
    }

    /// `path` ends at `last`, at or before `point`.
    pub fn already_covered(path: &Path, last: Lsn, point: Lsn) -> Self {
        ChainProblem::error(
            ChainProblemKind::AlreadyCovered,
            vec![path.to_path_buf()],
            format!(
                "{} ends at LSN {last}, at or before LSN {point} where the database already stands: it adds nothing",
                display(path)
            ),
            "skip it and restore the next backup",
        )
    }

    /// The header of `what` (`files`) lacks an LSN the chain rules need.
    pub fn missing_lsn(what: &str, files: Vec<PathBuf>, which: &str) -> Self {
        ChainProblem::error(
            ChainProblemKind::Corrupt,
            files,
            format!("{what} has no {which} in its header"),
            "copy the file again from the source server, or take a new backup",
        )
    }

    /// `next` is of another database than the chain.
    pub fn other_database(path: &Path, next: &BackupInfo, database: &str) -> Self {
        ChainProblem::error(
            ChainProblemKind::OtherDatabase,
            vec![path.to_path_buf()],
            format!(
                "{} is a backup of database \"{}\", not \"{database}\"",
                display(path),
                next.database_name
            ),
            "give only backups of the database being restored",
        )
    }

    /// `path` has the chain's database name but another database GUID.
    pub fn other_fork(files: Vec<PathBuf>, database: &str) -> Self {
        let names = list(&files);
        ChainProblem::error(
            ChainProblemKind::OtherFork,
            files,
            format!(
                "{names}: same database name \"{database}\" but another database GUID than its full backup: another copy of the database (restored, attached or recreated), whose backups cannot continue this chain"
            ),
            "take these backups from the same database the full backup came from (check server_name and database_guid with bak2rds inspect --json), or take a new full backup of the copy they belong to",
        )
    }
}

/// Why a file is not a step of the chain although nothing is wrong with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SkipReason {
    /// An older full backup: the chain starts from another full.
    OtherFull,
    /// An older differential, superseded by a later one on the same full.
    SupersededDifferential,
    /// A differential based on a full the chain does not start from.
    DifferentialOfOtherFull,
    /// A backup that ends at or before the point the chain already reached.
    AlreadyCovered,
    /// A log after a gap: it cannot be applied until the missing logs are found.
    AfterGap,
}

/// A file left out of the chain, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// Stable reason code.
    pub why: SkipReason,
    /// The reason, for a DBA.
    pub reason: String,
}

impl Skipped {
    /// `path` is skipped for `why`, explained by `reason`.
    pub fn new(path: &Path, why: SkipReason, reason: String) -> Self {
        Skipped {
            path: path.to_path_buf(),
            why,
            reason,
        }
    }
}

/// A path as named in messages: the file name (the problem's `files` hold the full paths).
pub(super) fn display(path: &Path) -> String {
    path.file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy()
        .into_owned()
}

/// A full path, where file names alone could be the same (duplicates).
pub(super) fn full(path: &Path) -> String {
    path.display().to_string()
}

/// Paths as a comma-separated list.
pub(super) fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| display(p))
        .collect::<Vec<_>>()
        .join(", ")
}

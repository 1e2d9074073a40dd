//! Backup chains: which of a set of full, differential and log backups restore a database, and
//! in which order, by SQL Server's LSN rules [note §4.2, validated on real chains]; plus every
//! reason a file cannot take part, each with its fix.
//!
//! One implementation of the rules: [`ChainPoint::apply`] says whether one backup can be
//! restored on top of a database at a given point. [`build_chains`] only searches (which full,
//! which differential, which log next) and asks `apply`; `migrate --incremental` asks the same
//! function file by file.
//!
//! Modules: `point` (the rules) · `build` (grouping and search) · `problem` (problems, skips,
//! their messages and fixes) · `files` (expanding folders and reading headers: the one place in
//! `bak` that touches the file system, kept apart so the rest stays pure) · `text` (LSN and GUID
//! text for the state file).

mod build;
mod files;
mod point;
mod problem;
mod text;

use std::path::PathBuf;

use serde::Serialize;

use super::BackupInfo;
use super::verdict::Severity;

pub use build::{build_chains, build_chains_for};
pub use files::read_chain_files;
pub use point::ChainPoint;
pub use problem::{ChainProblem, ChainProblemKind, LsnRange, SkipReason, Skipped};

/// One backup file with its header.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainFile {
    /// Where the file is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its header (the first backup set).
    pub info: BackupInfo,
}

/// The restore sequence of one database.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chain {
    /// DatabaseName.
    pub database: String,
    /// The full backup the chain starts from.
    pub full: ChainFile,
    /// The latest differential based on that full, if any.
    pub differential: Option<ChainFile>,
    /// The log backups that continue from there, in restore order.
    pub logs: Vec<ChainFile>,
    /// Where the database stands after the last step.
    pub end: ChainPoint,
}

impl Chain {
    /// Full, differential, logs: the restore order.
    pub fn steps(&self) -> Vec<&ChainFile> {
        std::iter::once(&self.full)
            .chain(self.differential.as_ref())
            .chain(self.logs.iter())
            .collect()
    }
}

/// What [`build_chains`] found: the chains, and why any file is not in one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainReport {
    /// One chain per database that has a usable full backup.
    pub chains: Vec<Chain>,
    /// What is wrong, each with its fix.
    pub problems: Vec<ChainProblem>,
    /// Files left out on purpose (superseded or already covered), with the reason.
    pub skipped: Vec<Skipped>,
}

impl ChainReport {
    /// True when no problem is an error (warnings allowed).
    pub fn is_clean(&self) -> bool {
        self.problems.iter().all(|p| p.severity != Severity::Error)
    }
}

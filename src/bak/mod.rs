//! The backup reader: a pure, synchronous, panic-free parser over the bytes of a SQL Server
//! native backup (`.bak`/`.trn`), and the verdict on whether RDS for SQL Server can restore it.
//!
//! The entry point is [`examine`]: bytes in (the file memory-mapped by the caller), a
//! [`Report`] out. No I/O happens here, so the parser can be fuzzed. Layout sources: the MTF
//! 1.00a specification and `research/mtf-bak-format.md` ("note §n" in comments).
//!
//! Modules: `cursor` (bounds-checked reads) · `raw` (spec-named offsets) · `mtf` (block walk) ·
//! `sqlmeta` (SCIN/SFGI/SFIN) · `compressed` (MSSQLBAK) · `pages` (page checksums) ·
//! `sniff` (what a non-backup is) · `examine` (facts → findings) · `verdict` (classes) ·
//! `target` (SQL Server releases) · `names` (object keys, database names) · `synth` (writer) ·
//! `chain` (restore chains of full, differential and log backups by LSN).

pub mod chain;
mod compressed;
pub mod cursor;
pub mod error;
mod examine;
pub mod mtf;
pub mod names;
pub mod pages;
pub mod raw;
mod sniff;
pub mod sqlmeta;
pub mod synth;
pub mod target;
pub mod types;
pub mod verdict;

use serde::Serialize;

pub use chain::{
    Chain, ChainFile, ChainPoint, ChainProblem, ChainProblemKind, ChainReport, Skipped,
    build_chains, read_chain_files,
};
pub use error::{ParseError, ParseErrorKind};
pub use examine::examine;
pub use names::{database_name_problem, object_key_for, object_key_for_backup};
pub use pages::PageCheck;
pub use sqlmeta::{DatabaseFile, FileType, Filegroup};
pub use target::{TargetVersion, UnknownTargetVersion};
pub use types::{BackupType, Container, Guid, Lsn, MtfDate, SoftwareVersion};
pub use verdict::{Finding, Rules, Severity, Verdict};

/// Everything `inspect` reports about one file.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The one verdict class.
    pub verdict: Verdict,
    /// Every finding, most serious first.
    pub findings: Vec<Finding>,
    /// The backup's header, when the file is a backup and its header could be read.
    pub backup: Option<BackupInfo>,
    /// Page checksum results, with `--verify-pages` on an uncompressed backup.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<PageCheck>,
}

/// RESTORE HEADERONLY + FILELISTONLY of the first backup set in a file. Field names are the
/// JSON schema of `inspect --json` (docs/inspect.md).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupInfo {
    /// `mtf` or `mssqlbak`.
    pub container: Container,
    /// Full, differential, log... `None` when the type letter is unknown.
    pub backup_type: Option<BackupType>,
    /// This file's family number in the media set (1-based).
    pub family_sequence: u16,
    /// Number of files (stripes) in the media set.
    pub family_count: u16,
    /// Backup sets in this file (more than one after `WITH NOINIT`).
    pub backup_sets: u32,
    /// Internal database version (904 = SQL Server 2019).
    pub database_version: u16,
    /// The SQL Server release that writes this database version, e.g. `2019`.
    pub database_release: Option<&'static str>,
    /// The writing server's `major.minor.build`.
    pub software_version: SoftwareVersion,
    /// DatabaseName.
    pub database_name: String,
    /// ServerName.
    pub server_name: String,
    /// CompatibilityLevel.
    pub compatibility_level: u8,
    /// The backup was taken `WITH CHECKSUM`.
    pub has_checksums: bool,
    /// `BACKUP ... WITH COMPRESSION`.
    pub compressed: bool,
    /// Protected by a media or backup-set password.
    pub password_protected: bool,
    /// FirstLSN.
    pub first_lsn: Option<Lsn>,
    /// LastLSN.
    pub last_lsn: Option<Lsn>,
    /// CheckpointLSN.
    pub checkpoint_lsn: Option<Lsn>,
    /// DatabaseBackupLSN.
    pub database_backup_lsn: Option<Lsn>,
    /// DifferentialBaseLSN.
    pub differential_base_lsn: Option<Lsn>,
    /// BackupSize in bytes, across all families.
    pub backup_size: u64,
    /// CompressedBackupSize in bytes (SQL Server 2008 and later).
    pub compressed_backup_size: Option<u64>,
    /// The 5-byte SQL collation, hex (e.g. `090400d034` = SQL_Latin1_General_CP1_CI_AS).
    pub collation: String,
    /// DatabaseCreationDate (server local time).
    pub database_creation_date: Option<MtfDate>,
    /// BackupStartDate (server local time).
    pub backup_start_date: Option<MtfDate>,
    /// BackupFinishDate (server local time).
    pub backup_finish_date: Option<MtfDate>,
    /// BackupName.
    pub backup_name: String,
    /// Physical block size of the media: 512 or 4096.
    pub block_size: u64,
    /// MediaSetId (same in every stripe of a set).
    pub media_set_id: Option<Guid>,
    /// BackupSetGUID.
    pub backup_set_guid: Option<Guid>,
    /// A database-specific GUID (SCIN+0x7C; BindingID or FamilyGUID [RE-weak]): equal across
    /// the backups of one database, for grouping LSN chains.
    pub database_guid: Option<Guid>,
    /// BackupSetGUID of the most recent full backup before this one.
    pub last_full_backup_guid: Option<Guid>,
    /// DifferentialBaseGUID: the base full's BackupSetGUID (differentials).
    pub differential_base_guid: Option<Guid>,
    /// Filegroups.
    pub filegroups: Vec<Filegroup>,
    /// Database files (FILELISTONLY).
    pub files: Vec<DatabaseFile>,
}

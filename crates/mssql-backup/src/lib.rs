//! Read and judge SQL Server native backups without SQL Server.
//!
//! `mssql-backup` reads the files `BACKUP DATABASE` and `BACKUP LOG` write (`.bak`, `.trn`,
//! `.diff`): the Microsoft Tape Format container (MTF 1.00a) and the `MSSQLBAK` container of
//! compressed backups, SQL Server's own headers inside them, and the data pages. It tells what
//! `RESTORE HEADERONLY` and `RESTORE FILELISTONLY` would, checks page checksums like
//! `RESTORE VERIFYONLY WITH CHECKSUM`, orders full, differential and log backups into restore
//! chains by their LSNs, and gives a verdict: can ApsaraDB RDS for SQL Server restore this file
//! as a new database, and if not, why and what to do. It also writes small synthetic backups
//! ([`synth`]) for tests and rehearsals.
//!
//! The parser is pure, synchronous and panic-free: it works on a byte slice the caller provides
//! (read or memory-mapped) and does no I/O of its own (only `read_chain_files` lists folders,
//! and `synth::write_synthetic_file` writes a file); every read is bounds-checked, so any
//! file, however damaged or hostile, gives a [`Report`], never a panic. It was checked against
//! real backups of SQL Server 2008 R2 to 2022 and is fuzzed.
//!
//! # Inspect a file
//! ```
//! use mssql_backup::synth::{SynthDatabase, SynthKind, SynthSpec, write_synthetic};
//! use mssql_backup::{Rules, TargetVersion, Verdict, examine};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A real program reads or maps a file: `let bytes = std::fs::read("SalesDb.bak")?;`
//! // This example writes a small synthetic full backup instead.
//! let database = SynthDatabase::new("SalesDb", TargetVersion::parse("2019")?);
//! let mut bytes = Vec::new();
//! write_synthetic(&mut bytes, &SynthSpec::single(database, SynthKind::Full, 1 << 20))?;
//!
//! // Would an RDS instance running SQL Server 2022 restore it?
//! let rules = Rules {
//!     target_version: Some(TargetVersion::parse("2022")?),
//!     ..Rules::default()
//! };
//! let report = examine(&bytes, &rules);
//! assert_eq!(report.verdict, Verdict::Accept);
//!
//! let header = report.backup.expect("a backup's header");
//! assert_eq!(header.database_name, "SalesDb");
//! println!(
//!     "{} backup of {} written by SQL Server {} ({} bytes of data)",
//!     header.backup_type.map_or("unknown", |t| t.as_str()),
//!     header.database_name,
//!     header.software_version,
//!     header.backup_size,
//! );
//! for finding in &report.findings {
//!     println!("{:?} {}: {} {}", finding.severity, finding.code, finding.message, finding.fix);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! `examples/headers.rs` prints a file's header the way `RESTORE HEADERONLY` does, and
//! `examples/chain.rs` the restore order of a folder of backups.
//!
//! # What is where
//! - [`examine`] and [`Report`]: one file in, the facts ([`BackupInfo`]), every [`Finding`]
//!   and one [`Verdict`] out. [`Rules`] says what to judge against (target release, database
//!   name, page checksums).
//! - [`chain`]: restore chains of a database's backups by LSN ([`build_chains`],
//!   [`read_chain_files`]), and whether one backup can be restored on top of a given point
//!   ([`ChainPoint`]).
//! - [`mtf`], [`raw`], [`cursor`], [`sqlmeta`], [`pages`]: the container walk, the spec-named
//!   layouts, the bounds-checked reader, SQL Server's metadata streams, page checksums.
//! - [`target`]: SQL Server releases and the database versions they write and read.
//! - [`names`]: the database-name and object-key rules of ApsaraDB RDS.
//! - [`synth`]: the writer of synthetic backups.
//!
//! Layout sources: the MTF 1.00a specification, and the project's notes on what SQL Server
//! writes inside it ("note §n" in comments), checked on real backups.
#![warn(missing_docs, missing_debug_implementations)]
#![warn(clippy::clone_on_ref_ptr)]
#![deny(unsafe_code)]

pub mod chain;
mod compressed;
pub mod cursor;
pub mod error;
mod examine;
// Entry points of the fuzz targets and their corpus replay test; not a stable API.
#[doc(hidden)]
pub mod fuzzing;
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
pub use examine::{examine, page_layout};
pub use names::{DATABASE_NAME_RULE, database_name_problem, object_key_for, object_key_for_backup};
pub use pages::PageCheck;
pub use sqlmeta::{DatabaseFile, FileType, Filegroup};
pub use target::{TargetVersion, UnknownTargetVersion};
pub use types::{BackupType, Container, Guid, Lsn, MtfDate, SoftwareVersion};
pub use verdict::{Finding, Rules, Severity, Verdict};

/// Where a file's data pages are ([`page_layout`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageLayout {
    /// An uncompressed backup: the byte ranges of its data pages (whole 8 KiB pages, ascending).
    Pages(Vec<std::ops::Range<u64>>),
    /// A compressed backup: its pages are inside compressed blocks and cannot be checked.
    Compressed,
    /// A backup whose structure could not be read.
    Unreadable(ParseError),
    /// Not a SQL Server backup.
    NotABackup,
}

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
    /// The database each backup set holds, in file order (position 1 first). Two names mean
    /// the file mixes databases; RDS restores position 1 only.
    pub set_databases: Vec<String>,
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
    /// A database-specific GUID (SCIN+0x7C; BindingID or FamilyGUID (learned from real backups, weakly confirmed)): equal across
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

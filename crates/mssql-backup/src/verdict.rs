//! The verdict: one class per file, and findings written for a DBA (what is wrong, and the fix).
//! The classes and codes are stable: scripts and the RDS emulator match on them
//! (documented in docs/inspect.md).

use std::fmt;

use serde::{Serialize, Serializer};

use super::target::TargetVersion;

/// The one class each file gets. Order of precedence is the order of the variants: the first
/// that applies wins (a striped log backup is `reject:striped`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Verdict {
    /// Not a SQL Server native backup.
    RejectNotBackup,
    /// Truncated or damaged structure.
    RejectCorrupt,
    /// A data page fails its checksum (only with `--verify-pages`).
    RejectCorruptPages,
    /// Protected by `MEDIAPASSWORD` or `PASSWORD`.
    RejectPassword,
    /// One family of a striped (multi-file) backup.
    RejectStriped,
    /// A differential backup.
    RejectDifferential,
    /// A transaction log backup.
    RejectLog,
    /// A file, filegroup or partial backup.
    RejectNotFull,
    /// Newer (or too old) for the target SQL Server version.
    RejectVersion,
    /// The database name to restore as is not allowed.
    RejectDatabaseName,
    /// Several backup sets in one file: RDS restores the first.
    WarnMultipleSets,
    /// RDS can restore it.
    Accept,
}

impl Verdict {
    /// The stable class string: `accept`, `reject:differential`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::RejectNotBackup => "reject:not-backup",
            Verdict::RejectCorrupt => "reject:corrupt",
            Verdict::RejectCorruptPages => "reject:corrupt-pages",
            Verdict::RejectPassword => "reject:password",
            Verdict::RejectStriped => "reject:striped",
            Verdict::RejectDifferential => "reject:differential",
            Verdict::RejectLog => "reject:log",
            Verdict::RejectNotFull => "reject:not-full",
            Verdict::RejectVersion => "reject:version",
            Verdict::RejectDatabaseName => "reject:database-name",
            Verdict::WarnMultipleSets => "warn:multiple-sets",
            Verdict::Accept => "accept",
        }
    }

    /// True for every `reject:*` class (exit status 2).
    pub fn is_refusal(self) -> bool {
        !matches!(self, Verdict::Accept | Verdict::WarnMultipleSets)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Verdict {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// RDS will refuse the backup.
    Error,
    /// RDS will restore it, but something deserves attention.
    Warning,
    /// Good to know.
    Info,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        })
    }
}

/// One thing `inspect` found, with its fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// Stable code, e.g. `striped`, `object-key`.
    pub code: &'static str,
    /// What is wrong, for a DBA.
    pub message: String,
    /// What to do about it; empty when nothing is needed.
    pub fix: String,
    /// The verdict class this finding implies, if it is a refusal or the multiple-sets warning.
    #[serde(skip)]
    pub class: Option<Verdict>,
}

impl Finding {
    /// A finding that decides a verdict class.
    pub fn for_class(class: Verdict, code: &'static str, message: String, fix: &str) -> Self {
        Finding {
            severity: if class.is_refusal() {
                Severity::Error
            } else {
                Severity::Warning
            },
            code,
            message,
            fix: fix.to_owned(),
            class: Some(class),
        }
    }

    /// A finding that does not change the verdict.
    pub fn note(severity: Severity, code: &'static str, message: String, fix: &str) -> Self {
        Finding {
            severity,
            code,
            message,
            fix: fix.to_owned(),
            class: None,
        }
    }
}

/// What `examine` checks beyond the backup itself.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Refuse backups this SQL Server cannot restore.
    pub target_version: Option<TargetVersion>,
    /// The database name to restore as.
    pub database: Option<String>,
    /// Recompute every data page's checksum (reads the whole file).
    pub verify_pages: bool,
    /// The local file name, to report the OSS object key bak2rds would use.
    pub file_name: Option<String>,
}

/// The verdict of a list of findings: the highest-precedence class any finding implies.
pub fn verdict_of(findings: &[Finding]) -> Verdict {
    findings
        .iter()
        .filter_map(|f| f.class)
        .min()
        .unwrap_or(Verdict::Accept)
}

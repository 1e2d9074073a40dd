//! What a batch migrates: a TOML plan file or a folder of `.bak` files, resolved into one entry
//! per database (file, database name, object key) with the header facts the batch pre-flight
//! needs. Reads files (headers only); no network.
//!
//! ```toml
//! instance = "rm-xxxx"            # or --instance
//! bucket = "my-bucket"            # or oss://bucket/prefix
//! prefix = "migrations/2026-11/"  # object keys = prefix + safe file name
//! parallel = 2
//! max_rate = "200MiB/s"           # for the whole batch
//! [[database]]
//! file = "/backups/Sales.bak"     # relative paths are relative to the plan file
//! name = "Sales"                  # default: the database name in the backup header
//! # key = "custom/key.bak"
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::migrate::Problem;
use crate::source::SourceFile;
use mssql_backup::{BackupType, Rules};

/// A plan file as written. Unknown keys are refused, so a typo is never silently ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    instance: Option<String>,
    bucket: Option<String>,
    prefix: Option<String>,
    parallel: Option<usize>,
    max_rate: Option<String>,
    /// Delete each database's uploaded object once it is online (`--delete-after`).
    delete_after: Option<bool>,
    #[serde(default, rename = "database")]
    databases: Vec<PlanFileEntry>,
}

/// One `[[database]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFileEntry {
    file: PathBuf,
    name: Option<String>,
    key: Option<String>,
}

/// A plan, read from a file or a folder; the command line may still override its settings.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Instance ID, if the plan names one.
    pub instance: Option<String>,
    /// Bucket, if the plan names one.
    pub bucket: Option<String>,
    /// Databases at once, if the plan says.
    pub parallel: Option<usize>,
    /// Bandwidth cap for the whole batch in bytes/s, if the plan says.
    pub max_rate: Option<u64>,
    /// `delete_after`, if the plan says.
    pub delete_after: Option<bool>,
    /// The databases.
    pub entries: Vec<BatchEntry>,
    /// Files of a folder that are not full backups, with the reason.
    pub skipped: Vec<Skipped>,
}

/// One database of the batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchEntry {
    /// The local `.bak`.
    pub file: PathBuf,
    /// The database to create.
    pub database: String,
    /// The object key (prefix included).
    pub key: String,
    /// What the header says, when it could be read.
    pub facts: Option<EntryFacts>,
    /// Why this entry cannot even start (unreadable file and no name); it is reported as
    /// refused while the others run.
    pub problem: Option<Problem>,
}

/// Header facts of one entry, for the batch pre-flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryFacts {
    /// The database name inside the backup.
    pub database_in_backup: String,
    /// Full, differential...
    pub backup_type: Option<BackupType>,
    /// Size of the `.bak`.
    pub file_bytes: u64,
    /// Data + log file sizes (RESTORE FILELISTONLY), if read.
    pub restored_bytes: Option<u64>,
    /// The database version that wrote it (e.g. 904 for SQL Server 2019).
    pub database_version: u16,
}

/// A folder file that is not part of the batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The file.
    pub file: PathBuf,
    /// Why (what inspect found).
    pub reason: String,
}

/// The plan cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The plan file or folder cannot be read.
    #[error("cannot read the batch plan {path}: {source}")]
    Read {
        /// The plan file or folder.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The TOML is malformed or has an unknown key (the parser's message names it).
    #[error("batch plan {path}: {message}")]
    Syntax {
        /// The plan file.
        path: PathBuf,
        /// The parser's message, with the line and the offending key.
        message: String,
    },
    /// A value is wrong; the message says which and what to write.
    #[error("batch plan {path}: {message}")]
    Value {
        /// The plan file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Reads a plan file, or scans a folder when `path` is one. `prefix` (from the command line)
/// overrides the plan's own prefix for keys that are derived from file names.
pub fn load(path: &Path, prefix: Option<&str>) -> Result<Plan, PlanError> {
    let metadata = std::fs::metadata(path).map_err(|source| PlanError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if metadata.is_dir() {
        scan_folder(path, prefix.unwrap_or(""))
    } else {
        read_plan_file(path, prefix)
    }
}

fn read_plan_file(path: &Path, prefix: Option<&str>) -> Result<Plan, PlanError> {
    let text = std::fs::read_to_string(path).map_err(|source| PlanError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file: PlanFile = toml::from_str(&text).map_err(|e| PlanError::Syntax {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let value_error = |message: String| PlanError::Value {
        path: path.to_path_buf(),
        message,
    };
    if file.databases.is_empty() {
        return Err(value_error(
            "no [[database]] entries: add one table per database (file = \"...\")".into(),
        ));
    }
    let max_rate = file
        .max_rate
        .as_deref()
        .map(|text| {
            crate::units::parse_rate(text).map_err(|e| {
                value_error(format!(
                    "max_rate = {text:?}: {e}; write it like \"200MiB/s\""
                ))
            })
        })
        .transpose()?;
    if file.parallel == Some(0) {
        return Err(value_error("parallel must be at least 1".into()));
    }
    // Relative paths are relative to the plan file, not to wherever the command runs.
    let base = path.parent().unwrap_or(Path::new(""));
    let prefix =
        mssql_backup::names::normal_key_prefix(prefix.or(file.prefix.as_deref()).unwrap_or(""));
    if let Some(problem) = mssql_backup::names::key_prefix_problem(&prefix) {
        return Err(value_error(problem));
    }
    let mut entries = Vec::with_capacity(file.databases.len());
    for (n, entry) in file.databases.into_iter().enumerate() {
        // A file that is not there is a mistake in the plan, not a backup to judge.
        let path = base.join(&entry.file);
        if let Err(error) = std::fs::metadata(&path) {
            return Err(value_error(format!(
                "[[database]] #{} file = {:?}: {} ({error}); fix the path (a relative one is \
                 relative to the plan file)",
                n + 1,
                entry.file.display().to_string(),
                path.display()
            )));
        }
        entries.push(resolve_entry(path, entry.name, entry.key, &prefix));
    }
    Ok(Plan {
        instance: file.instance,
        bucket: file.bucket,
        parallel: file.parallel,
        max_rate,
        delete_after: file.delete_after,
        entries,
        skipped: Vec::new(),
    })
}

fn derived_key(prefix: &str, file: &Path) -> String {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{prefix}{}", mssql_backup::object_key_for(&name))
}

/// What the header says, or why it could not be read.
fn read_facts(file: &Path) -> Result<EntryFacts, String> {
    let source = SourceFile::open(file).map_err(|e| e.to_string())?;
    let report = mssql_backup::examine(source.bytes(), &Rules::default());
    let Some(backup) = report.backup else {
        return Err(
            first_reason(&report.findings).unwrap_or_else(|| "not a SQL Server backup".to_owned())
        );
    };
    Ok(EntryFacts {
        database_in_backup: backup.database_name.clone(),
        backup_type: backup.backup_type,
        file_bytes: source.len(),
        restored_bytes: (!backup.files.is_empty())
            .then(|| backup.files.iter().map(|f| f.size).sum()),
        database_version: backup.database_version,
    })
}

fn first_reason(findings: &[mssql_backup::Finding]) -> Option<String> {
    findings
        .iter()
        .find(|f| f.severity == mssql_backup::Severity::Error)
        .or_else(|| findings.first())
        .map(|f| f.message.clone())
}

fn resolve_entry(
    file: PathBuf,
    name: Option<String>,
    key: Option<String>,
    prefix: &str,
) -> BatchEntry {
    let key = key.unwrap_or_else(|| derived_key(prefix, &file));
    let facts = read_facts(&file);
    let (database, problem) = match (name, &facts) {
        (Some(name), _) => (name, None),
        (None, Ok(facts)) => (facts.database_in_backup.clone(), None),
        (None, Err(reason)) => (
            file_stem(&file),
            Some(Problem {
                severity: "refuse".into(),
                code: "database_name_unknown".into(),
                message: format!(
                    "{} gives no database name and its header cannot be read: {reason}",
                    file.display()
                ),
                fix: "Check the file with `bak2rds inspect FILE`, or give name = \"...\" in its \
                      [[database]] table."
                    .into(),
            }),
        ),
    };
    BatchEntry {
        file,
        database,
        key,
        facts: facts.ok(),
        problem,
    }
}

fn file_stem(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Every `*.bak` directly in `dir` (sorted by name) that is a full backup becomes an entry named
/// from its header; the others are skipped with the reason.
fn scan_folder(dir: &Path, prefix: &str) -> Result<Plan, PlanError> {
    let read_error = |source| PlanError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for item in std::fs::read_dir(dir).map_err(read_error)? {
        let path = item.map_err(read_error)?.path();
        let is_bak = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("bak"));
        if is_bak && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    let prefix = mssql_backup::names::normal_key_prefix(prefix);
    let mut plan = Plan::default();
    for file in files {
        match read_facts(&file) {
            Ok(facts) if facts.backup_type == Some(BackupType::Full) => {
                plan.entries.push(BatchEntry {
                    key: derived_key(&prefix, &file),
                    database: facts.database_in_backup.clone(),
                    file,
                    facts: Some(facts),
                    problem: None,
                });
            }
            Ok(facts) => plan.skipped.push(Skipped {
                reason: match facts.backup_type {
                    Some(kind) => format!(
                        "a {kind} backup of {}, not a full backup",
                        facts.database_in_backup
                    ),
                    None => format!(
                        "a backup of {} of an unknown type, not a full backup",
                        facts.database_in_backup
                    ),
                },
                file,
            }),
            Err(reason) => plan.skipped.push(Skipped { file, reason }),
        }
    }
    if plan.entries.is_empty() {
        return Err(PlanError::Value {
            path: dir.to_path_buf(),
            message: format!(
                "no full backup among the {} .bak files in this folder",
                plan.skipped.len()
            ),
        });
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_folders() {
        assert_eq!(
            derived_key("m/", Path::new("/x/Sales DB.bak")),
            "m/Sales_DB.bak"
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.toml");
        std::fs::write(
            &path,
            "instance = \"rm-1\"\nparalel = 3\n[[database]]\nfile = \"a.bak\"\n",
        )
        .unwrap();
        let error = load(&path, None).unwrap_err().to_string();
        assert!(error.contains("paralel"), "{error}");
        std::fs::write(&path, "[[database]]\nfile = \"a.bak\"\nnmae = \"Sales\"\n").unwrap();
        let error = load(&path, None).unwrap_err().to_string();
        assert!(error.contains("nmae"), "{error}");
    }

    #[test]
    fn relative_files_are_relative_to_the_plan_and_unreadable_ones_need_a_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.toml");
        std::fs::write(
            &path,
            "prefix = \"p\"\nmax_rate = \"1MiB/s\"\n[[database]]\nfile = \"missing.bak\"\n\
             [[database]]\nfile = \"other.bak\"\nname = \"Other\"\nkey = \"k/o.bak\"\n",
        )
        .unwrap();
        let error = load(&path, None).unwrap_err().to_string();
        assert!(
            error.contains("#1 file = \"missing.bak\"") && error.contains("fix the path"),
            "{error}"
        );
        std::fs::write(dir.path().join("missing.bak"), b"not a backup").unwrap();
        std::fs::write(dir.path().join("other.bak"), b"not a backup either").unwrap();
        let plan = load(&path, None).unwrap();
        assert_eq!(plan.max_rate, Some(1 << 20));
        let [missing, other] = plan.entries.as_slice() else {
            panic!("two entries expected: {:?}", plan.entries);
        };
        assert_eq!(missing.file, dir.path().join("missing.bak"));
        assert_eq!(missing.key, "p/missing.bak");
        assert_eq!(missing.database, "missing");
        assert!(missing.problem.is_some());
        assert_eq!(other.database, "Other");
        assert_eq!(other.key, "k/o.bak");
        assert!(other.problem.is_none() && other.facts.is_none());
    }
}

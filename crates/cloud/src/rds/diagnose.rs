//! Explains how a migration task ended: its `Description` (free text, rds-api.md §5) matched to
//! the cause Alibaba documents and the fix, with the service's text kept verbatim.
//!
//! Matching is loose as §5 advises: case-insensitive, curly apostrophes read as straight ones,
//! and each documented message reduced to the fixed fragments around its placeholders, which
//! must appear in order.

use serde::Serialize;

/// Which documented outcome a Description is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Cause {
    /// A database of the same name exists on the instance.
    SameNameDatabase,
    /// The file is a differential backup, a full one was expected.
    DifferentialBackup,
    /// The file is a log backup, a full one was expected.
    LogBackup,
    /// The file is corrupt or from a newer SQL Server than the instance.
    CorruptOrNewer,
    /// DBCC CHECKDB found errors while opening (sync mode).
    CheckDbFailed,
    /// The restored database does not fit in the free space.
    NoSpaceForRestore,
    /// The .bak file does not fit in the free space.
    NoSpaceForFile,
    /// Restored, but no privileged account exists to use it.
    NoInitAccount,
    /// 2008 R2: the presigned URL expired before the download.
    UrlExpired,
    /// The edition lacks a feature the source database uses.
    OpenDatabaseFailed,
    /// A log backup does not follow the previous one (LSN gap).
    LsnGap,
    /// Asynchronous DBCC CHECKDB found errors after opening.
    AsyncCheckDbFailed,
    /// Asynchronous DBCC CHECKDB passed (information).
    AsyncCheckDbPassed,
    /// A full backup was sent as an incremental file.
    FullSentAsIncremental,
    /// The instance's database-count limit was reached.
    DatabaseCountLimit,
    /// SQL Server 4326: a log backup ends before where the database stands (already restored).
    LogTooEarly,
    /// SQL Server 3136: a differential that is not based on the restored full backup.
    DifferentialWrongBase,
    /// SQL Server 3154: the backup is of another database than the one being restored.
    OtherDatabaseBackup,
}

/// A Description explained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// The documented outcome.
    pub cause: Cause,
    /// The service's Description, verbatim.
    pub description: String,
    /// What it means, for a DBA.
    pub explanation: &'static str,
    /// What to do.
    pub fix: &'static str,
    /// Whether the database is usable anyway (e.g. no init account: restored, with a warning).
    pub restored: bool,
}

/// One documented message: the fixed fragments around its placeholders, lower case.
struct Known {
    fragments: &'static [&'static str],
    cause: Cause,
    explanation: &'static str,
    fix: &'static str,
    restored: bool,
}

/// The messages of rds-api.md §5 (full and incremental migration tables), most specific first.
const KNOWN: &[Known] = &[
    Known {
        fragments: &["the database (", ") is already exist on rds"],
        cause: Cause::SameNameDatabase,
        explanation: "A database with this name already exists on the RDS instance; RDS never overwrites one.",
        fix: "Back up and drop the existing database on the instance, or restore under another name (--database).",
        restored: false,
    },
    Known {
        fragments: &[
            "backup set (",
            ") is a database differential backup, we only accept a full backup",
        ],
        cause: Cause::DifferentialBackup,
        explanation: "The file is a differential backup; a full migration needs a FULL backup.",
        fix: "Take a full backup (BACKUP DATABASE ... TO DISK ... WITH CHECKSUM) and migrate that file.",
        restored: false,
    },
    Known {
        fragments: &[
            "backup set (",
            ") is a transaction log backup, we only accept a full backup",
        ],
        cause: Cause::LogBackup,
        explanation: "The file is a transaction log backup; a full migration needs a FULL backup.",
        fix: "Take a full backup (BACKUP DATABASE, not BACKUP LOG) and migrate that file.",
        restored: false,
    },
    Known {
        fragments: &[
            "backup set (",
            ") is a database full backup, we only accept transaction log or differential backup",
        ],
        cause: Cause::FullSentAsIncremental,
        explanation: "A full backup was submitted as an incremental file of a running migration.",
        fix: "Submit only the differential and log backups taken after the first full one.",
        restored: false,
    },
    Known {
        fragments: &[
            "failed to verify ",
            "backup file was corrupted or newer edition than rds",
        ],
        cause: Cause::CorruptOrNewer,
        explanation: "RDS could not read the backup: either it is damaged, or it was written by a newer SQL Server than the instance runs.",
        fix: "Run `bak2rds inspect --verify-pages FILE --target-version <instance version>`; re-take the backup WITH CHECKSUM, or move to an instance of the same or a newer SQL Server version.",
        restored: false,
    },
    Known {
        fragments: &["asynchronously dbcc checkdb failed"],
        cause: Cause::AsyncCheckDbFailed,
        explanation: "The database was opened, then DBCC CHECKDB found consistency errors in it.",
        fix: "Run DBCC CHECKDB on the source, repair it, take a new full backup and migrate again.",
        restored: true,
    },
    Known {
        fragments: &["success to dbcc checkdb asynchronously"],
        cause: Cause::AsyncCheckDbPassed,
        explanation: "The database is online and the asynchronous DBCC CHECKDB found no errors.",
        fix: "Nothing to do.",
        restored: true,
    },
    Known {
        fragments: &["dbcc checkdb failed"],
        cause: Cause::CheckDbFailed,
        explanation: "DBCC CHECKDB found errors while opening the database, so RDS did not open it.",
        fix: "Run DBCC CHECKDB on the source and repair it, then take a new full backup; or migrate with --check-db async.",
        restored: false,
    },
    Known {
        fragments: &[
            "not enough disk space for restoring, space left (",
            ") < needed (",
        ],
        cause: Cause::NoSpaceForRestore,
        explanation: "The restored database (the data and log files listed in the backup) is larger than the instance's free storage.",
        fix: "Enlarge the instance's storage (or free space), or shrink the source's data and log files before taking the backup.",
        restored: false,
    },
    Known {
        fragments: &["not enough disk space, space left ", " < bak file "],
        cause: Cause::NoSpaceForFile,
        explanation: "The .bak file itself is larger than the instance's free storage.",
        fix: "Enlarge the instance's storage, or take a compressed backup (WITH COMPRESSION).",
        restored: false,
    },
    Known {
        fragments: &["your rds doesn't have any init account yet"],
        cause: Cause::NoInitAccount,
        explanation: "The database was restored, but the instance has no privileged account to grant it to.",
        fix: "Create a privileged account in the RDS console and grant it permissions on the migrated database.",
        restored: true,
    },
    Known {
        fragments: &["failed to download backup file since oss url was expired"],
        cause: Cause::UrlExpired,
        explanation: "The presigned OSS URL (SQL Server 2008 R2) expired before RDS downloaded the file.",
        fix: "Run again: a fresh URL valid for 8 hours is generated.",
        restored: false,
    },
    Known {
        fragments: &["failed to open database "],
        cause: Cause::OpenDatabaseFailed,
        explanation: "RDS could not open the restored database: the source uses a feature this edition lacks.",
        fix: "Migrate to an edition that has the feature (e.g. Enterprise), or remove its use from the source.",
        restored: false,
    },
    Known {
        fragments: &[
            "the log in this backup set begins at lsn ",
            "which is too recent to apply to the database",
        ],
        cause: Cause::LsnGap,
        explanation: "A log backup is missing between the last restored file and this one.",
        fix: "Submit the missing log backups in order (`bak2rds inspect --chain` shows the LSN chain and names the gap).",
        restored: false,
    },
    Known {
        fragments: &[
            "the database (",
            ") migration failed due to databases count limitation",
        ],
        cause: Cause::DatabaseCountLimit,
        explanation: "The instance already holds as many databases as its class allows.",
        fix: "Drop a database on the instance or move to a larger instance class.",
        restored: false,
    },
    // SQL Server's own RESTORE messages, which an incremental restore can end with; §5 does not
    // list them, but they are what RESTORE prints for these cases.
    Known {
        fragments: &[
            "the log in this backup set terminates at lsn ",
            "which is too early to apply to the database",
        ],
        cause: Cause::LogTooEarly,
        explanation: "Everything in this log backup is already restored: it ends before the point the database stands at.",
        fix: "Nothing is lost: skip this file and submit the next log backup (`bak2rds inspect --chain` lists the ones still needed).",
        restored: false,
    },
    Known {
        fragments: &[
            "this differential backup cannot be restored because the database has not been restored to the correct earlier state",
        ],
        cause: Cause::DifferentialWrongBase,
        explanation: "The differential is based on another full backup than the one restored, or log backups were already restored past it.",
        fix: "Submit the differential taken after the full backup this migration started from, before any log backup, or continue with log backups only.",
        restored: false,
    },
    Known {
        fragments: &["the backup set holds a backup of a database other than the existing"],
        cause: Cause::OtherDatabaseBackup,
        explanation: "The file is a backup of another database (another name or database GUID) than the one being restored.",
        fix: "Submit the backups of the database this migration restores; check the file with `bak2rds inspect`.",
        restored: false,
    },
];

/// Matches a task's Description; `None` when it is empty or not a documented message.
pub fn diagnose(description: &str) -> Option<Diagnosis> {
    let normal = normalise(description);
    KNOWN
        .iter()
        .find(|known| fragments_in_order(&normal, known.fragments))
        .map(|known| Diagnosis {
            cause: known.cause,
            description: description.to_owned(),
            explanation: known.explanation,
            fix: known.fix,
            restored: known.restored,
        })
}

/// Lower case, `’` as `'`, runs of white space (the docs break lines inside messages) as one
/// space.
fn normalise(text: &str) -> String {
    text.replace('\u{2019}', "'")
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn fragments_in_order(text: &str, fragments: &[&str]) -> bool {
    let mut rest = text;
    for fragment in fragments {
        match rest.find(fragment) {
            Some(at) => rest = rest.get(at + fragment.len()..).unwrap_or(""),
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message of rds-api.md §5, placeholders filled in.
    #[test]
    fn sql_server_restore_messages_of_incremental_steps_are_explained() {
        let cases = [
            (
                "The log in this backup set terminates at LSN 39000000020000001, which is too early to apply to the database. A more recent log backup that includes LSN 39000000021000001 can be restored. RESTORE LOG is terminating abnormally.",
                Cause::LogTooEarly,
            ),
            (
                "This differential backup cannot be restored because the database has not been restored to the correct earlier state. RESTORE DATABASE is terminating abnormally.",
                Cause::DifferentialWrongBase,
            ),
            (
                "The backup set holds a backup of a database other than the existing 'sales' database. RESTORE LOG is terminating abnormally.",
                Cause::OtherDatabaseBackup,
            ),
        ];
        for (description, cause) in cases {
            let diagnosis = diagnose(description).expect(description);
            assert_eq!(diagnosis.cause, cause);
            assert!(!diagnosis.restored);
        }
    }

    #[test]
    fn each_documented_description_maps_to_its_cause() {
        let cases = [
            (
                "The database (sales) is already exist on RDS, please backup and drop it, then try again.",
                Cause::SameNameDatabase,
            ),
            (
                "Backup set (sales.bak) is a Database Differential backup, we only accept a FULL Backup.",
                Cause::DifferentialBackup,
            ),
            (
                "Backup set (sales.trn) is a Transaction Log backup, we only accept a FULL Backup.",
                Cause::LogBackup,
            ),
            (
                "Failed to verify sales.bak, backup file was corrupted or newer edition than RDS.",
                Cause::CorruptOrNewer,
            ),
            ("DBCC checkdb failed", Cause::CheckDbFailed),
            (
                "Not Enough Disk Space for restoring, space left (100 MB) < needed (2048 MB)",
                Cause::NoSpaceForRestore,
            ),
            (
                "Not Enough Disk Space, space left 100 MB < bak file 2048 MB",
                Cause::NoSpaceForFile,
            ),
            (
                "Your RDS doesn’t have any init account yet, please create one and grant permissions on RDS console to this migrated database (sales).",
                Cause::NoInitAccount,
            ),
            (
                "Your RDS doesn't have any init account yet, please create one and grant permissions on RDS console to this migrated database (sales).",
                Cause::NoInitAccount,
            ),
            (
                "Failed to download backup file since OSS URL was expired.",
                Cause::UrlExpired,
            ),
            ("Failed to open database sales.", Cause::OpenDatabaseFailed),
            (
                "The log in this backup set begins at LSN 42000000012300001, which is too recent to apply to the database.\nRESTORE LOG is terminating abnormally.",
                Cause::LsnGap,
            ),
            (
                "asynchronously DBCC checkdb failed: CHECKDB found 0 allocation errors and 2 consistency errors in table 'T' (object ID 5).",
                Cause::AsyncCheckDbFailed,
            ),
            (
                "Success to DBCC checkdb asynchronously",
                Cause::AsyncCheckDbPassed,
            ),
            (
                "Backup set (sales.bak) is a Database FULL backup, we only accept transaction log or differential backup.",
                Cause::FullSentAsIncremental,
            ),
            (
                "The database (sales) migration failed due to databases count limitation.",
                Cause::DatabaseCountLimit,
            ),
        ];
        for (text, cause) in cases {
            let found = diagnose(text).unwrap_or_else(|| panic!("no match for {text:?}"));
            assert_eq!(found.cause, cause, "{text}");
            assert_eq!(found.description, text, "kept verbatim");
            assert!(!found.fix.is_empty());
        }
    }

    #[test]
    fn unknown_and_empty_are_not_guessed() {
        assert_eq!(diagnose(""), None);
        assert_eq!(diagnose("something else entirely"), None);
    }
}

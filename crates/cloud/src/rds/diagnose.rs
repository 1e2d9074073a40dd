//! Explains how a migration task ended: its `Description` (free text) matched to the cause
//! Alibaba documents and the fix, with the service's text kept verbatim.
//!
//! Two wordings of each message exist: the one of Alibaba's current migration guide and an
//! older one (`rds-api.md` §5, `rds-task-messages.md`), and the service or a console copy-paste
//! may mix them. So a message is matched on the phrases that carry its meaning, in order,
//! after `normalise` has taken out what differs between copies of one message: case, curly
//! quotes, `;` for `,`, line breaks, a final dot. Placeholders (names, numbers, paths, which
//! may hold parentheses or dots) are never matched, only skipped over. A Description that
//! matches nothing gets no diagnosis: it is shown verbatim, never guessed at.

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
    /// The file is one family of a striped backup (several files).
    StripedBackup,
    /// DBCC CHECKDB found errors while opening (sync mode).
    CheckDbFailed,
    /// The restored database does not fit in the free space.
    NoSpaceForRestore,
    /// The .bak file does not fit in the free space.
    NoSpaceForFile,
    /// The account RDS uses has no permission on the database: the login failed.
    LoginFailed,
    /// Restored, but no privileged account exists to use it.
    NoInitAccount,
    /// The name is one of SQL Server's system databases (master, model, msdb, tempdb).
    SystemDatabaseName,
    /// The name is one of RDS's own management databases.
    RdsSystemDatabaseName,
    /// 2008 R2: the presigned URL expired before the download.
    UrlExpired,
    /// RDS could not find (or was not allowed to read) the backup on OSS.
    BackupNotFound,
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

/// One documented message: for each wording, the phrases that carry its meaning, in order, as
/// [`normalise`] leaves them.
struct Known {
    wordings: &'static [&'static [&'static str]],
    cause: Cause,
    explanation: &'static str,
    fix: &'static str,
    restored: bool,
}

/// The messages of Alibaba's migration guide (current and older wordings) and the SQL Server
/// RESTORE messages an incremental step can end with. Order matters where one message's
/// phrases are a part of another's: the more specific comes first.
const KNOWN: &[Known] = &[
    Known {
        wordings: &[
            &["the database (", ") already exists on rds"],
            &["the database (", ") is already exist on rds"],
            &[
                "database ",
                " already exists",
                "choose a different database name",
            ],
        ],
        cause: Cause::SameNameDatabase,
        explanation: "A database with this name already exists on the RDS instance; RDS never overwrites one.",
        fix: "Back up and drop the existing database on the instance, or restore under another name (--database).",
        restored: false,
    },
    Known {
        wordings: &[&[
            "is a database differential backup",
            "we only accept a full backup",
        ]],
        cause: Cause::DifferentialBackup,
        explanation: "The file is a differential backup; a full migration needs a FULL backup.",
        fix: "Take a full backup (BACKUP DATABASE ... TO DISK ... WITH CHECKSUM) and migrate that file.",
        restored: false,
    },
    Known {
        wordings: &[&[
            "is a transaction log backup",
            "we only accept a full backup",
        ]],
        cause: Cause::LogBackup,
        explanation: "The file is a transaction log backup; a full migration needs a FULL backup.",
        fix: "Take a full backup (BACKUP DATABASE, not BACKUP LOG) and migrate that file.",
        restored: false,
    },
    Known {
        wordings: &[&[
            "is a database full backup",
            "we only accept transaction log or differential backup",
        ]],
        cause: Cause::FullSentAsIncremental,
        explanation: "A full backup was submitted as an incremental file of a running migration.",
        fix: "Submit only the differential and log backups taken after the first full one.",
        restored: false,
    },
    Known {
        wordings: &[&["failed to verify", "media families but only", "provided"]],
        cause: Cause::StripedBackup,
        explanation: "The file is one family of a striped backup: SQL Server wrote the backup to several files, and RDS restores from a single file only.",
        fix: "Back up again to one file (BACKUP DATABASE ... TO DISK = 'one.bak' WITH CHECKSUM); `bak2rds inspect` shows the family count of a file.",
        restored: false,
    },
    Known {
        wordings: &[
            &["failed to verify", "corrupted or from a version newer than"],
            &["failed to verify", "corrupted or newer edition than rds"],
        ],
        cause: Cause::CorruptOrNewer,
        explanation: "RDS could not read the backup: either it is damaged, or it was written by a newer SQL Server than the instance runs (a backup never restores on an older release, e.g. 2016 onto 2012).",
        fix: "Run `bak2rds inspect --verify-pages FILE --target-version <instance version>`: it names the SQL Server that wrote the backup and checks its pages. Re-take a damaged backup WITH CHECKSUM; for a newer one, upgrade the instance's engine (RDS can upgrade the major version) or use an instance of the same or a later release.",
        restored: false,
    },
    Known {
        wordings: &[&["asynchronously dbcc checkdb failed"]],
        cause: Cause::AsyncCheckDbFailed,
        explanation: "The database was opened, then DBCC CHECKDB found consistency errors in it.",
        fix: "Run DBCC CHECKDB on the source, repair it, take a new full backup and migrate again.",
        restored: true,
    },
    Known {
        wordings: &[&["success to dbcc checkdb asynchronously"]],
        cause: Cause::AsyncCheckDbPassed,
        explanation: "The database is online and the asynchronous DBCC CHECKDB found no errors.",
        fix: "Nothing to do.",
        restored: true,
    },
    Known {
        wordings: &[&["dbcc checkdb failed"]],
        cause: Cause::CheckDbFailed,
        explanation: "DBCC CHECKDB found errors while opening the database, so RDS did not open it.",
        fix: "On the source, run DBCC CHECKDB (DBName, REPAIR_ALLOW_DATA_LOSS) WITH NO_INFOMSGS, ALL_ERRORMSGS (it may lose data), take a new full backup and migrate again; or migrate with --check-db async.",
        restored: false,
    },
    Known {
        wordings: &[&["not enough disk space for restoring"]],
        cause: Cause::NoSpaceForRestore,
        explanation: "The restored database (the data and log files listed in the backup) is larger than the instance's free storage.",
        fix: "Enlarge the instance's storage (or free space), or shrink the source's data and log files before taking the backup.",
        restored: false,
    },
    Known {
        wordings: &[&["not enough disk space", "bak file"]],
        cause: Cause::NoSpaceForFile,
        explanation: "The .bak file itself is larger than the instance's free storage.",
        fix: "Enlarge the instance's storage, or take a compressed backup (WITH COMPRESSION).",
        restored: false,
    },
    Known {
        wordings: &[&[
            "cannot open database",
            "requested by the login",
            "login failed",
        ]],
        cause: Cause::LoginFailed,
        explanation: "The account RDS restored with has no permission on this database, so the login to it failed.",
        fix: "Grant the account access to the database on the instance's Accounts page in the RDS console (or GrantAccountPrivilege), then run the migration again.",
        restored: false,
    },
    Known {
        wordings: &[&["doesn't have any init account"]],
        cause: Cause::NoInitAccount,
        explanation: "The database was restored, but the instance has no privileged account to grant it to.",
        fix: "Create a privileged account in the RDS console and grant it permissions on the migrated database.",
        restored: true,
    },
    Known {
        wordings: &[&["is mssql system db"]],
        cause: Cause::SystemDatabaseName,
        explanation: "The name is one of SQL Server's system databases (master, model, msdb, tempdb), which cannot be restored over.",
        fix: "Restore under another name (--database).",
        restored: false,
    },
    Known {
        wordings: &[&["is rds system db"]],
        cause: Cause::RdsSystemDatabaseName,
        explanation: "The name is one of the databases RDS uses to manage the instance (such as rdscore).",
        fix: "Restore under another name (--database).",
        restored: false,
    },
    Known {
        wordings: &[
            &["exceeded the database count limit"],
            &["migration failed due to databases count limitation"],
        ],
        cause: Cause::DatabaseCountLimit,
        explanation: "The instance already holds as many databases as its class allows.",
        fix: "Drop a database on the instance or move to a larger instance class.",
        restored: false,
    },
    Known {
        wordings: &[&["failed to download backup", "oss url was expired"]],
        cause: Cause::UrlExpired,
        explanation: "The presigned OSS URL (SQL Server 2008 R2) expired before RDS downloaded the file.",
        fix: "Check that the file is still in OSS and readable, then run again: a fresh URL valid for 8 hours is generated.",
        restored: false,
    },
    Known {
        wordings: &[&["failed to download", "could not find backup file", "on oss"]],
        cause: Cause::BackupNotFound,
        explanation: "RDS could not find the backup in OSS: the object was deleted or renamed, or RDS is not authorised to read the bucket.",
        fix: "Check that the object exists (bak2rds upload resumes it), that the bucket is in the instance's region, and that RDS's role AliyunRDSImportRole exists and may read the bucket; then run again.",
        restored: false,
    },
    Known {
        wordings: &[&["failed to open database "]],
        cause: Cause::OpenDatabaseFailed,
        explanation: "RDS could not open the restored database: the source uses a feature this edition lacks.",
        fix: "Migrate to an edition that has the feature (e.g. Enterprise), or remove its use from the source.",
        restored: false,
    },
    Known {
        wordings: &[&[
            "the log in this backup set begins at lsn ",
            "which is too recent to apply to the database",
        ]],
        cause: Cause::LsnGap,
        explanation: "A log backup is missing between the last restored file and this one.",
        fix: "Submit the missing log backups in order (`bak2rds inspect --chain` shows the LSN chain and names the gap).",
        restored: false,
    },
    // SQL Server's own RESTORE messages, which an incremental restore can end with; the guide
    // does not list them, but they are what RESTORE prints for these cases.
    Known {
        wordings: &[&[
            "the log in this backup set terminates at lsn ",
            "which is too early to apply to the database",
        ]],
        cause: Cause::LogTooEarly,
        explanation: "Everything in this log backup is already restored: it ends before the point the database stands at.",
        fix: "Nothing is lost: skip this file and submit the next log backup (`bak2rds inspect --chain` lists the ones still needed).",
        restored: false,
    },
    Known {
        wordings: &[&[
            "this differential backup cannot be restored because the database has not been restored to the correct earlier state",
        ]],
        cause: Cause::DifferentialWrongBase,
        explanation: "The differential is based on another full backup than the one restored, or log backups were already restored past it.",
        fix: "Submit the differential taken after the full backup this migration started from, before any log backup, or continue with log backups only.",
        restored: false,
    },
    Known {
        wordings: &[&["the backup set holds a backup of a database other than the existing"]],
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
        .find(|known| {
            known
                .wordings
                .iter()
                .any(|phrases| phrases_in_order(&normal, phrases))
        })
        .map(|known| Diagnosis {
            cause: known.cause,
            description: description.to_owned(),
            explanation: known.explanation,
            fix: known.fix,
            restored: known.restored,
        })
}

/// What differs between copies of one message, taken out: lower case; curly quotes and
/// backticks as straight ones; `;` as `,` (the current guide has `;` where the older had `,`);
/// every run of white space, line breaks included, as one space; no final dot.
fn normalise(text: &str) -> String {
    let mapped: String = text
        .chars()
        .map(|c| match c {
            '\u{2018}' | '\u{2019}' | '`' => '\'',
            '\u{201C}' | '\u{201D}' => '"',
            ';' => ',',
            other => other,
        })
        .collect();
    let joined = mapped
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    joined.trim_end_matches('.').to_owned()
}

fn phrases_in_order(text: &str, phrases: &[&str]) -> bool {
    let mut rest = text;
    for phrase in phrases {
        match rest.find(phrase) {
            Some(at) => rest = rest.get(at + phrase.len()..).unwrap_or(""),
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each refusal of `inspect` that spares the user a task failure quotes that failure in
    /// words this diagnosis recognises, so the two can be connected (docs/rds-messages.md).
    #[test]
    fn inspect_refusals_name_the_rds_failure_they_spare() {
        use mssql_backup::synth::{SynthDatabase, SynthKind, SynthSpec, write_synthetic};
        use mssql_backup::{Rules, TargetVersion, examine};
        let written = |version: &str, kind, family: u16| {
            let database = SynthDatabase::new("Sales", TargetVersion::parse(version).unwrap());
            let spec = SynthSpec::single(database, kind, 1 << 20).family(1, family);
            let mut bytes = Vec::new();
            write_synthetic(&mut bytes, &spec).unwrap();
            bytes
        };
        let rules = Rules {
            target_version: TargetVersion::parse("2019").ok(),
            ..Rules::default()
        };
        let full = written("2019", SynthKind::Full, 1);
        let cases = [
            (
                "differential",
                written("2019", SynthKind::Differential, 1),
                Cause::DifferentialBackup,
            ),
            ("log", written("2019", SynthKind::Log, 1), Cause::LogBackup),
            (
                "striped",
                written("2019", SynthKind::Full, 2),
                Cause::StripedBackup,
            ),
            (
                "target-version",
                written("2022", SynthKind::Full, 1),
                Cause::CorruptOrNewer,
            ),
            (
                "corrupt",
                full.get(..full.len() / 2).unwrap_or_default().to_vec(),
                Cause::CorruptOrNewer,
            ),
        ];
        for (code, bytes, cause) in cases {
            let report = examine(&bytes, &rules);
            let finding = report
                .findings
                .iter()
                .find(|f| f.code == code)
                .unwrap_or_else(|| panic!("{code}: {:?}", report.findings));
            let diagnosis = diagnose(&finding.message)
                .unwrap_or_else(|| panic!("{code} names no RDS message: {}", finding.message));
            assert_eq!(diagnosis.cause, cause, "{code}: {}", finding.message);
        }
    }

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

    /// The 16 entries of Alibaba's current migration guide, each in its current wording and,
    /// where it has one, its older wording; `xxx` is a placeholder (`rds-task-messages.md`).
    const GUIDE: &[(Cause, &str, Option<&str>)] = &[
        (
            Cause::SameNameDatabase,
            "The database (xxx) already exists on RDS. Please back it up, drop it, and then try again.",
            Some(
                "The database (xxx) is already exist on RDS, please backup and drop it, then try again.",
            ),
        ),
        (
            Cause::SameNameDatabase,
            "Database 'xxx' already exists. Choose a different database name.",
            None,
        ),
        (
            Cause::DifferentialBackup,
            "Backup set (xxx.bak) is a database differential backup; we only accept a full backup.",
            Some(
                "Backup set (xxx.bak) is a Database Differential backup, we only accept a FULL Backup.",
            ),
        ),
        (
            Cause::LogBackup,
            "Backup set (xxx.trn) is a transaction log backup; we only accept a full backup.",
            Some("Backup set (xxx.trn) is a Transaction Log backup, we only accept a FULL Backup."),
        ),
        (
            Cause::CorruptOrNewer,
            "Failed to verify xxx.bak. The backup file may be corrupted or from a version newer than the destination RDS instance.",
            Some("Failed to verify xxx.bak, backup file was corrupted or newer edition than RDS."),
        ),
        (
            Cause::CheckDbFailed,
            "DBCC checkdb failed.",
            Some("DBCC checkdb failed"),
        ),
        (
            Cause::NoSpaceForRestore,
            "Not Enough Disk Space for restoring, space left (xxx MB) < needed (xxx MB).",
            Some("Not Enough Disk Space for restoring, space left (xxx MB) < needed (xxx MB)"),
        ),
        (
            Cause::NoSpaceForFile,
            "Not Enough Disk Space, space left xxx MB < bak file xxx MB.",
            Some("Not Enough Disk Space, space left xxx MB < bak file xxx MB"),
        ),
        (
            Cause::LoginFailed,
            "Cannot open database \"xxx\" requested by the login. The login failed.",
            None,
        ),
        (
            Cause::NoInitAccount,
            "Your RDS doesn\u{2019}t have any init account yet, please create one and grant permissions on RDS console to this migrated database (xxx).",
            Some(
                "Your RDS doesn't have any init account yet, please create one and grant permissions on RDS console to this migrated database (xxx).",
            ),
        ),
        (
            Cause::SystemDatabaseName,
            "The database (xxx) is mssql system db, change your database name and try again.",
            None,
        ),
        (
            Cause::RdsSystemDatabaseName,
            "The database (xxx) is RDS system db, change your database name and try again.",
            None,
        ),
        (
            Cause::DatabaseCountLimit,
            "The migration of database (xxx) failed because it exceeded the database count limit (xxx).",
            Some("The database (xxx) migration failed due to databases count limitation."),
        ),
        (
            Cause::UrlExpired,
            "Failed to download backup (xxx) since OSS URL was expired.",
            Some("Failed to download backup file since OSS URL was expired."),
        ),
        (
            Cause::BackupNotFound,
            "Failed to download since could not find backup file (xxx) on OSS.",
            None,
        ),
        (
            Cause::StripedBackup,
            "Failed to verify (xxx.bak), error message:The media set has xxx media families but only 1 are provided. All members must be provided. VERIFY DATABASE is terminating abnormally.",
            None,
        ),
    ];

    /// What a console copy-paste or the service may do to a message.
    fn perturbations(message: &str) -> Vec<String> {
        vec![
            message.to_owned(),
            message.to_uppercase(),
            message.to_lowercase(),
            message.trim_end_matches('.').to_owned(),
            format!("{message}."),
            message.replace(';', ","),
            message.replace(',', ";"),
            message.replace('\'', "\u{2019}"),
            message.replace('"', "\u{201C}"),
            message.replacen(' ', "\n", 3).replace(". ", ".\r\n  "),
            format!("  {message}\n"),
        ]
    }

    /// Placeholder values that must not confuse the matcher: parentheses, dots, digits,
    /// non-ASCII, a path, a name that is itself a phrase of another message.
    const PLACEHOLDERS: &[&str] = &[
        "SalesDb",
        "Sales (Old).v2",
        "销售数据库",
        "20480",
        "backups/2026/SalesDb_full.bak",
        "full backup",
    ];

    #[test]
    fn every_guide_entry_in_both_wordings_survives_copy_and_paste() {
        let mut checked = 0;
        for (cause, current, older) in GUIDE {
            for wording in std::iter::once(current).chain(older.iter()) {
                for value in PLACEHOLDERS {
                    for text in perturbations(&wording.replace("xxx", value)) {
                        let found =
                            diagnose(&text).unwrap_or_else(|| panic!("not recognised: {text:?}"));
                        assert_eq!(found.cause, *cause, "{text:?}");
                        assert_eq!(found.description, text, "kept verbatim");
                        assert!(!found.explanation.is_empty() && !found.fix.is_empty());
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 1000, "{checked}");
        // Only the no-init-account message leaves a usable database.
        for (cause, current, _) in GUIDE {
            let restored = diagnose(&current.replace("xxx", "d")).map(|d| d.restored);
            assert_eq!(restored, Some(*cause == Cause::NoInitAccount), "{current}");
        }
    }

    #[test]
    fn unknown_and_empty_are_not_guessed() {
        assert_eq!(diagnose(""), None);
        assert_eq!(diagnose("something else entirely"), None);
        // Near misses: a phrase of a message alone is not the message.
        assert_eq!(diagnose("Failed to verify the signature"), None);
        assert_eq!(diagnose("Database 'x' not found"), None);
    }
}

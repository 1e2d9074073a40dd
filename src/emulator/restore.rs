//! The emulated restore: what RDS would conclude about one CreateMigrateTask, and the exact
//! `Description` text it reports (rds-api.md §5, English page; plain parentheses, straight
//! apostrophe). The object is judged with the project's backup reader ([`crate::bak::examine`]),
//! as RDS judges the file it downloads.
//!
//! Pure: the caller hands in the object's bytes and the instance's state; the timing of the
//! task lives in `rds.rs`.

use crate::bak::{self, Verdict};
use crate::rds::preflight::target_of;

/// What the backup reader says about the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A restorable full backup.
    Full,
    /// A differential backup.
    Differential,
    /// A transaction log backup.
    Log,
    /// Not a backup, damaged, password-protected, one stripe of several, a file/partial backup,
    /// or written by a newer SQL Server than the instance: RDS cannot verify it.
    Unverifiable,
}

/// The facts of one object that decide the restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectFacts {
    /// What the object is.
    pub kind: ObjectKind,
    /// Sum of the file list's sizes: what the restored database occupies.
    pub restored_bytes: u64,
}

/// Judges an object's bytes for an instance running `engine_version` (e.g. `2019_std_ha`).
pub fn examine_object(bytes: &[u8], engine_version: &str) -> ObjectFacts {
    let rules = bak::Rules {
        target_version: target_of(engine_version),
        ..bak::Rules::default()
    };
    let report = bak::examine(bytes, &rules);
    let kind = match report.verdict {
        Verdict::Accept | Verdict::WarnMultipleSets => ObjectKind::Full,
        Verdict::RejectDifferential => ObjectKind::Differential,
        Verdict::RejectLog => ObjectKind::Log,
        _ => ObjectKind::Unverifiable,
    };
    let restored_bytes = report
        .backup
        .map(|info| {
            info.files
                .iter()
                .map(|f| f.size)
                .fold(0u64, u64::saturating_add)
        })
        .unwrap_or(0);
    ObjectFacts {
        kind,
        restored_bytes,
    }
}

/// The instance as the restore sees it when the task is created.
#[derive(Debug, Clone)]
pub struct RestoreContext<'a> {
    /// The object's file name (last path segment of the key), as the messages quote it.
    pub file_name: &'a str,
    /// The object's size.
    pub file_bytes: u64,
    /// What the object is.
    pub facts: ObjectFacts,
    /// The database name to restore as.
    pub db_name: &'a str,
    /// Free bytes on the instance.
    pub free_bytes: u64,
    /// Databases on the instance (and those restores already under way will create).
    pub databases: &'a [String],
    /// The instance's database-count limit; `None` for none.
    pub database_limit: Option<u64>,
    /// An available privileged account exists.
    pub has_privileged_account: bool,
    /// The restore source was a presigned URL that has expired (2008 R2).
    pub url_expired: bool,
    /// `CheckDBMode=AsyncExecuteDBCheck` (the default).
    pub async_check_db: bool,
}

/// How the restore ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the task ends in `Success` (the database then exists).
    pub success: bool,
    /// The task's Description.
    pub description: String,
    /// The file's final DescribeOssDownloads status (§1.5).
    pub file_status: &'static str,
}

impl Outcome {
    fn failed(description: String, file_status: &'static str) -> Self {
        Outcome {
            success: false,
            description,
            file_status,
        }
    }
}

/// The Description strings of rds-api.md §5, placeholders filled in.
pub mod descriptions {
    /// Same-name database exists.
    pub fn same_name(db: &str) -> String {
        format!(
            "The database ({db}) is already exist on RDS, please backup and drop it, then try again."
        )
    }
    /// The file is a differential backup.
    pub fn differential(file: &str) -> String {
        format!(
            "Backup set ({file}) is a Database Differential backup, we only accept a FULL Backup."
        )
    }
    /// The file is a log backup.
    pub fn log(file: &str) -> String {
        format!("Backup set ({file}) is a Transaction Log backup, we only accept a FULL Backup.")
    }
    /// Corrupt, or newer than the instance.
    pub fn corrupt_or_newer(file: &str) -> String {
        format!("Failed to verify {file}, backup file was corrupted or newer edition than RDS.")
    }
    /// The restored database does not fit.
    pub fn no_space_for_restore(left_mb: u64, needed_mb: u64) -> String {
        format!(
            "Not Enough Disk Space for restoring, space left ({left_mb} MB) < needed ({needed_mb} MB)"
        )
    }
    /// The .bak file does not fit.
    pub fn no_space_for_file(left_mb: u64, file_mb: u64) -> String {
        format!("Not Enough Disk Space, space left {left_mb} MB < bak file {file_mb} MB")
    }
    /// Restored without a privileged account (the task still succeeds).
    pub fn no_init_account(db: &str) -> String {
        format!(
            "Your RDS doesn't have any init account yet, please create one and grant permissions on RDS console to this migrated database ({db})."
        )
    }
    /// 2008 R2 presigned URL expired.
    pub const URL_EXPIRED: &str = "Failed to download backup file since OSS URL was expired.";
    /// The database-count limit was reached.
    pub fn count_limit(db: &str) -> String {
        format!("The database ({db}) migration failed due to databases count limitation.")
    }
    /// Asynchronous DBCC CHECKDB passed (the SDK metadata's example, no trailing dot).
    pub const ASYNC_CHECKDB_OK: &str = "Success to DBCC checkdb asynchronously";
}

fn mb_floor(bytes: u64) -> u64 {
    bytes / (1 << 20)
}

fn mb_ceil(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

/// Decides the outcome, checking in the order the service works: download, file space, verify,
/// backup type, name, restore space, count, then the account warning.
pub fn decide(ctx: &RestoreContext<'_>) -> Outcome {
    if ctx.url_expired {
        return Outcome::failed(descriptions::URL_EXPIRED.to_owned(), "DownloadFailed");
    }
    if ctx.file_bytes > ctx.free_bytes {
        return Outcome::failed(
            descriptions::no_space_for_file(mb_floor(ctx.free_bytes), mb_ceil(ctx.file_bytes)),
            "DownloadFailed",
        );
    }
    match ctx.facts.kind {
        ObjectKind::Full => {}
        ObjectKind::Differential => {
            return Outcome::failed(descriptions::differential(ctx.file_name), "CheckFailed");
        }
        ObjectKind::Log => {
            return Outcome::failed(descriptions::log(ctx.file_name), "CheckFailed");
        }
        ObjectKind::Unverifiable => {
            return Outcome::failed(descriptions::corrupt_or_newer(ctx.file_name), "CheckFailed");
        }
    }
    if ctx
        .databases
        .iter()
        .any(|d| d.eq_ignore_ascii_case(ctx.db_name))
    {
        return Outcome::failed(descriptions::same_name(ctx.db_name), "RestoreFailed");
    }
    // The .bak is downloaded onto the instance's disk before the restore, so both must fit.
    let needed = ctx.facts.restored_bytes;
    let left_after_download = ctx.free_bytes.saturating_sub(ctx.file_bytes);
    if needed > left_after_download {
        return Outcome::failed(
            descriptions::no_space_for_restore(mb_floor(left_after_download), mb_ceil(needed)),
            "RestoreFailed",
        );
    }
    let count = u64::try_from(ctx.databases.len()).unwrap_or(u64::MAX);
    if ctx.database_limit.is_some_and(|limit| count >= limit) {
        return Outcome::failed(descriptions::count_limit(ctx.db_name), "RestoreFailed");
    }
    let description = if !ctx.has_privileged_account {
        descriptions::no_init_account(ctx.db_name)
    } else if ctx.async_check_db {
        descriptions::ASYNC_CHECKDB_OK.to_owned()
    } else {
        String::new()
    };
    Outcome {
        success: true,
        description,
        file_status: "Restored",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn ctx<'a>(databases: &'a [String]) -> RestoreContext<'a> {
        RestoreContext {
            file_name: "sales.bak",
            file_bytes: GIB,
            facts: ObjectFacts {
                kind: ObjectKind::Full,
                restored_bytes: 2 * GIB,
            },
            db_name: "sales",
            free_bytes: 10 * GIB,
            databases,
            database_limit: Some(5),
            has_privileged_account: true,
            url_expired: false,
            async_check_db: true,
        }
    }

    #[test]
    fn each_failure_has_its_documented_description() {
        let none: Vec<String> = vec![];
        let taken = vec!["SALES".to_string()];
        let full = vec!["a".to_string(); 5];
        let ok = decide(&ctx(&none));
        assert!(ok.success);
        assert_eq!(ok.description, "Success to DBCC checkdb asynchronously");

        let mut c = ctx(&taken);
        assert_eq!(
            decide(&c).description,
            "The database (sales) is already exist on RDS, please backup and drop it, then try again."
        );
        c = ctx(&none);
        c.facts.kind = ObjectKind::Differential;
        assert_eq!(
            decide(&c).description,
            "Backup set (sales.bak) is a Database Differential backup, we only accept a FULL Backup."
        );
        c.facts.kind = ObjectKind::Log;
        c.file_name = "sales.trn";
        assert_eq!(
            decide(&c).description,
            "Backup set (sales.trn) is a Transaction Log backup, we only accept a FULL Backup."
        );
        c = ctx(&none);
        c.facts.kind = ObjectKind::Unverifiable;
        assert_eq!(
            decide(&c).description,
            "Failed to verify sales.bak, backup file was corrupted or newer edition than RDS."
        );
        c = ctx(&none);
        c.free_bytes = GIB / 2;
        assert_eq!(
            decide(&c).description,
            "Not Enough Disk Space, space left 512 MB < bak file 1024 MB"
        );
        c.free_bytes = 2 * GIB;
        assert_eq!(
            decide(&c).description,
            "Not Enough Disk Space for restoring, space left (1024 MB) < needed (2048 MB)"
        );
        c = ctx(&full);
        assert_eq!(
            decide(&c).description,
            "The database (sales) migration failed due to databases count limitation."
        );
        c = ctx(&none);
        c.url_expired = true;
        let expired = decide(&c);
        assert_eq!(
            expired.description,
            "Failed to download backup file since OSS URL was expired."
        );
        assert_eq!(expired.file_status, "DownloadFailed");
        c = ctx(&none);
        c.has_privileged_account = false;
        let warned = decide(&c);
        assert!(
            warned.success,
            "no init account still ends in Success (§1.7)"
        );
        assert_eq!(
            warned.description,
            "Your RDS doesn't have any init account yet, please create one and grant permissions on RDS console to this migrated database (sales)."
        );
    }

    #[test]
    fn garbage_is_unverifiable() {
        let facts = examine_object(b"definitely not a backup", "2019_std_ha");
        assert_eq!(facts.kind, ObjectKind::Unverifiable);
        assert_eq!(facts.restored_bytes, 0);
    }
}

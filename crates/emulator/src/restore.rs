//! The emulated restore: what RDS would conclude about one CreateMigrateTask, and the exact
//! `Description` text it reports (rds-api.md §5, English page; plain parentheses, straight
//! apostrophe). The object is judged with the project's backup reader ([`mssql_backup::examine`]),
//! as RDS judges the file it downloads.
//!
//! Pure: the caller hands in the object's bytes and the instance's state; the timing of the
//! task lives in `rds.rs`.

use bak2rds_cloud::rds::preflight::target_of;
use mssql_backup::{BackupInfo, Guid, Lsn, Verdict};

/// What the backup reader says about the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A restorable full backup.
    Full,
    /// A differential backup.
    Differential,
    /// A transaction log backup.
    Log,
    /// One family of a striped backup of this many families.
    Striped(u16),
    /// Not a backup, damaged, password-protected, a file/partial backup, or written by a newer
    /// SQL Server than the instance: RDS cannot verify it.
    Unverifiable,
    /// Not found in OSS when RDS went to download it: deleted, never there, or in a bucket RDS
    /// is not authorised to read.
    Missing,
}

/// The facts of one object that decide the restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectFacts {
    /// What the object is.
    pub kind: ObjectKind,
    /// Sum of the file list's sizes: what the restored database occupies.
    pub restored_bytes: u64,
    /// Where the backup sits in its database's history; `None` when the header lacks it.
    pub chain: Option<ChainFacts>,
    /// Data pages whose checksum fails, in a backup taken without `WITH CHECKSUM`: RESTORE
    /// does not look at them, so they come to light only in DBCC CHECKDB after the restore.
    pub damaged_pages: u64,
}

/// The RESTORE HEADERONLY columns SQL Server checks before applying a backup on top of a
/// database restored WITH NORECOVERY (mtf-bak-format.md §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainFacts {
    /// FirstLSN.
    pub first_lsn: Lsn,
    /// LastLSN.
    pub last_lsn: Lsn,
    /// CheckpointLSN.
    pub checkpoint_lsn: Lsn,
    /// DifferentialBaseLSN (differentials only).
    pub differential_base_lsn: Option<Lsn>,
    /// BackupSetGUID.
    pub backup_set_guid: Option<Guid>,
    /// DifferentialBaseGUID (differentials only).
    pub differential_base_guid: Option<Guid>,
    /// The database-specific GUID shared by every backup of one database.
    pub database_guid: Option<Guid>,
}

impl ChainFacts {
    fn of(info: &BackupInfo) -> Option<Self> {
        Some(ChainFacts {
            first_lsn: info.first_lsn?,
            last_lsn: info.last_lsn?,
            checkpoint_lsn: info.checkpoint_lsn?,
            differential_base_lsn: info.differential_base_lsn,
            backup_set_guid: info.backup_set_guid,
            differential_base_guid: info.differential_base_guid,
            database_guid: info.database_guid,
        })
    }
}

impl ObjectFacts {
    /// An object RDS could not find.
    pub fn missing() -> Self {
        ObjectFacts {
            kind: ObjectKind::Missing,
            restored_bytes: 0,
            chain: None,
            damaged_pages: 0,
        }
    }
}

/// Judges an object's bytes for an instance running `engine_version` (e.g. `2019_std_ha`), with
/// every data page's checksum checked (the backup reader does ~13 GiB/s on cached data). A
/// damaged page stops a restore of a backup taken `WITH CHECKSUM` (RDS: "Failed to verify");
/// without it the restore succeeds and DBCC CHECKDB finds the damage.
pub fn examine_object(bytes: &[u8], engine_version: &str) -> ObjectFacts {
    let rules = |verify_pages| mssql_backup::Rules {
        target_version: target_of(engine_version),
        verify_pages,
        ..mssql_backup::Rules::default()
    };
    let mut report = mssql_backup::examine(bytes, &rules(true));
    let mut damaged_pages = 0;
    if report.verdict == Verdict::RejectCorruptPages {
        let with_checksum = report.backup.as_ref().is_some_and(|b| b.has_checksums);
        if !with_checksum {
            damaged_pages = report.pages.as_ref().map_or(1, |p| p.failed.max(1));
            // What RESTORE itself concludes: the verdict without the page check.
            report = mssql_backup::examine(bytes, &rules(false));
        }
    }
    let kind = match report.verdict {
        Verdict::Accept | Verdict::WarnMultipleSets => ObjectKind::Full,
        Verdict::RejectDifferential => ObjectKind::Differential,
        Verdict::RejectLog => ObjectKind::Log,
        Verdict::RejectStriped => report
            .backup
            .as_ref()
            .map_or(ObjectKind::Unverifiable, |info| {
                ObjectKind::Striped(info.family_count)
            }),
        _ => ObjectKind::Unverifiable,
    };
    let restored_bytes = report
        .backup
        .as_ref()
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
        chain: report.backup.as_ref().and_then(ChainFacts::of),
        damaged_pages,
    }
}

/// The instance as the restore sees it when the task is created.
#[derive(Debug, Clone)]
pub struct RestoreContext<'a> {
    /// Which wording of the guide's messages to write.
    pub wording: Wording,
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
    /// An account on the instance is denied the database by name, so the opening after the
    /// restore fails with the guide's login failure.
    pub login_denied: bool,
    /// `IsOnlineDB=True`: the database opens after the restore. `False` (the first file of an
    /// incremental migration) restores WITH NORECOVERY: nothing is opened or checked yet, so a
    /// success says nothing until CreateOnlineDatabaseTask (§1.6).
    pub open_database: bool,
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

    fn restored(description: String) -> Self {
        Outcome {
            success: true,
            description,
            file_status: "Restored",
        }
    }
}

/// Which wording of the task messages the emulated RDS writes: the current one of Alibaba's
/// migration guide (the default), or the older one of `rds-api.md` §5 (`task_messages =
/// "older"` in the emulator's configuration), so clients are held to both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wording {
    /// The guide's current wording.
    #[default]
    Current,
    /// The older wording.
    Older,
}

/// The Description strings of the migration guide (`rds-task-messages.md`), placeholders
/// filled in, in either wording where the guide changed one.
pub mod descriptions {
    use super::Wording;

    /// Same-name database exists.
    pub fn same_name(w: Wording, db: &str) -> String {
        match w {
            Wording::Current => format!(
                "The database ({db}) already exists on RDS. Please back it up, drop it, and then try again."
            ),
            Wording::Older => format!(
                "The database ({db}) is already exist on RDS, please backup and drop it, then try again."
            ),
        }
    }
    /// Same-name database, as SQL Server itself words it (error 1801) when RDS's own check,
    /// which compares names as written, let a name through that differs only in case.
    pub fn same_name_sql_server(db: &str) -> String {
        format!("Database '{db}' already exists. Choose a different database name.")
    }
    /// The file is a differential backup.
    pub fn differential(w: Wording, file: &str) -> String {
        match w {
            Wording::Current => format!(
                "Backup set ({file}) is a database differential backup; we only accept a full backup."
            ),
            Wording::Older => format!(
                "Backup set ({file}) is a Database Differential backup, we only accept a FULL Backup."
            ),
        }
    }
    /// The file is a log backup.
    pub fn log(w: Wording, file: &str) -> String {
        match w {
            Wording::Current => format!(
                "Backup set ({file}) is a transaction log backup; we only accept a full backup."
            ),
            Wording::Older => format!(
                "Backup set ({file}) is a Transaction Log backup, we only accept a FULL Backup."
            ),
        }
    }
    /// Corrupt, or newer than the instance.
    pub fn corrupt_or_newer(w: Wording, file: &str) -> String {
        match w {
            Wording::Current => format!(
                "Failed to verify {file}. The backup file may be corrupted or from a version newer than the destination RDS instance."
            ),
            Wording::Older => format!(
                "Failed to verify {file}, backup file was corrupted or newer edition than RDS."
            ),
        }
    }
    /// One family of a striped backup (the guide has one wording).
    pub fn striped(file: &str, families: u16) -> String {
        format!(
            "Failed to verify ({file}), error message:The media set has {families} media families but only 1 are provided. All members must be provided. VERIFY DATABASE is terminating abnormally."
        )
    }
    /// The restored database does not fit (the older wording has no final dot).
    pub fn no_space_for_restore(w: Wording, left_mb: u64, needed_mb: u64) -> String {
        let dot = if w == Wording::Current { "." } else { "" };
        format!(
            "Not Enough Disk Space for restoring, space left ({left_mb} MB) < needed ({needed_mb} MB){dot}"
        )
    }
    /// The .bak file does not fit (the older wording has no final dot).
    pub fn no_space_for_file(w: Wording, left_mb: u64, file_mb: u64) -> String {
        let dot = if w == Wording::Current { "." } else { "" };
        format!("Not Enough Disk Space, space left {left_mb} MB < bak file {file_mb} MB{dot}")
    }
    /// Restored without a privileged account (the task still succeeds); the current wording
    /// has a typographic apostrophe.
    pub fn no_init_account(w: Wording, db: &str) -> String {
        let apostrophe = if w == Wording::Current {
            '\u{2019}'
        } else {
            '\''
        };
        format!(
            "Your RDS doesn{apostrophe}t have any init account yet, please create one and grant permissions on RDS console to this migrated database ({db})."
        )
    }
    /// 2008 R2 presigned URL expired.
    pub fn url_expired(w: Wording, file: &str) -> String {
        match w {
            Wording::Current => {
                format!("Failed to download backup ({file}) since OSS URL was expired.")
            }
            Wording::Older => {
                "Failed to download backup file since OSS URL was expired.".to_owned()
            }
        }
    }
    /// The database-count limit was reached.
    pub fn count_limit(w: Wording, db: &str, limit: u64) -> String {
        match w {
            Wording::Current => format!(
                "The migration of database ({db}) failed because it exceeded the database count limit ({limit})."
            ),
            Wording::Older => {
                format!("The database ({db}) migration failed due to databases count limitation.")
            }
        }
    }
    /// DBCC CHECKDB found errors while opening (synchronous check).
    pub fn checkdb_failed(w: Wording) -> String {
        match w {
            Wording::Current => "DBCC checkdb failed.".to_owned(),
            Wording::Older => "DBCC checkdb failed".to_owned(),
        }
    }
    /// The asynchronous DBCC CHECKDB after opening found errors (rds-api.md §5 names a table
    /// and object ID; the emulator knows only the count of damaged pages).
    pub fn async_checkdb_failed(db: &str, damaged_pages: u64) -> String {
        format!(
            "asynchronously DBCC checkdb failed: CHECKDB found 0 allocation errors and {damaged_pages} consistency errors in database '{db}'."
        )
    }
    /// The name of one of SQL Server's system databases, in a case the API's own check lets
    /// through.
    pub fn mssql_system_db(db: &str) -> String {
        format!("The database ({db}) is mssql system db, change your database name and try again.")
    }
    /// An account lacks permission on the restored database, so opening it fails.
    pub fn login_failed(db: &str) -> String {
        format!("Cannot open database \"{db}\" requested by the login. The login failed.")
    }
    /// The object was not found (or not readable) when RDS went to download it.
    pub fn backup_not_found(file: &str) -> String {
        format!("Failed to download since could not find backup file ({file}) on OSS.")
    }
    /// The name of one of RDS's own management databases.
    pub fn rds_system_db(db: &str) -> String {
        format!("The database ({db}) is RDS system db, change your database name and try again.")
    }
    /// Asynchronous DBCC CHECKDB passed (the SDK metadata's example, no trailing dot).
    pub const ASYNC_CHECKDB_OK: &str = "Success to DBCC checkdb asynchronously";
    /// A full backup submitted as an incremental file (§5, incremental table).
    pub fn full_as_increment(file: &str) -> String {
        format!(
            "Backup set ({file}) is a Database FULL backup, we only accept transaction log or differential backup."
        )
    }
    /// A log that starts after the point the database stands at (§5, incremental table; the
    /// doc's line break before `RESTORE` is a space here).
    pub fn log_too_recent(first_lsn: u128) -> String {
        format!(
            "The log in this backup set begins at LSN {first_lsn}, which is too recent to apply to the database. RESTORE LOG is terminating abnormally."
        )
    }
    /// A log that ends before the point the database stands at. Not from §5: SQL Server's own
    /// message 4326 followed by 3013, in the same shape RDS passes the "too recent" one (4305).
    pub fn log_too_early(last_lsn: u128, needed_lsn: u128) -> String {
        format!(
            "The log in this backup set terminates at LSN {last_lsn}, which is too early to apply to the database. A more recent log backup that includes LSN {needed_lsn} can be restored. RESTORE LOG is terminating abnormally."
        )
    }
    /// A differential of another full, or one that comes after logs or an equally recent
    /// differential. Not from §5: SQL Server's message 3136 followed by 3013.
    pub const DIFFERENTIAL_WRONG_BASE: &str = "This differential backup cannot be restored because the database has not been restored to the correct earlier state. RESTORE DATABASE is terminating abnormally.";
    /// A backup of another database (its database GUID differs). Not from §5: SQL Server's
    /// message 3154 followed by 3013, which is what RESTORE says when the backup's database
    /// family does not match the database being restored onto.
    pub fn other_database(db: &str, log: bool) -> String {
        let statement = if log { "LOG" } else { "DATABASE" };
        format!(
            "The backup set holds a backup of a database other than the existing '{db}' database. RESTORE {statement} is terminating abnormally."
        )
    }
}

/// The Description a successful opening carries: the account warning first (the task still
/// succeeds, §1.7), else the asynchronous CHECKDB note; a synchronous check adds nothing.
pub fn opening_description(
    wording: Wording,
    db: &str,
    has_privileged_account: bool,
    async_check_db: bool,
) -> String {
    if !has_privileged_account {
        descriptions::no_init_account(wording, db)
    } else if async_check_db {
        descriptions::ASYNC_CHECKDB_OK.to_owned()
    } else {
        String::new()
    }
}

fn mb_floor(bytes: u64) -> u64 {
    bytes / (1 << 20)
}

fn mb_ceil(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

/// RDS's own management databases, whose names a migration cannot take (the migration guide:
/// "is RDS system db").
const RDS_SYSTEM_DATABASES: &[&str] = &["rdscore"];

/// SQL Server's system databases (the guide: "is mssql system db"). The API refuses these
/// names as written (`InvalidDBName`, rds-api.md §1.9); the task's own check compares them
/// without case, as SQL Server does, so `Master` gets as far as the task. That split between a
/// literal check at the API and SQL Server's case-insensitive one is the emulator's reading of
/// how both documented refusals can occur; the docs do not say which check sees which name.
pub const MSSQL_SYSTEM_DATABASES: &[&str] = &["master", "model", "msdb", "tempdb"];

/// Decides the outcome, checking in the order the service works: download, file space, verify,
/// backup type, name, restore space, count, the opening (login, DBCC), then the account
/// warning.
pub fn decide(ctx: &RestoreContext<'_>) -> Outcome {
    if ctx.url_expired {
        return Outcome::failed(
            descriptions::url_expired(ctx.wording, ctx.file_name),
            "DownloadFailed",
        );
    }
    if ctx.facts.kind == ObjectKind::Missing {
        return Outcome::failed(
            descriptions::backup_not_found(ctx.file_name),
            "DownloadFailed",
        );
    }
    if ctx.file_bytes > ctx.free_bytes {
        return Outcome::failed(
            descriptions::no_space_for_file(
                ctx.wording,
                mb_floor(ctx.free_bytes),
                mb_ceil(ctx.file_bytes),
            ),
            "DownloadFailed",
        );
    }
    if let Some(refusal) = backup_type_refusal(ctx.wording, ctx.file_name, ctx.facts.kind) {
        return refusal;
    }
    if let Some(refusal) = name_refusal(ctx) {
        return refusal;
    }
    // The .bak is downloaded onto the instance's disk before the restore, so both must fit.
    let needed = ctx.facts.restored_bytes;
    let left_after_download = ctx.free_bytes.saturating_sub(ctx.file_bytes);
    if needed > left_after_download {
        return Outcome::failed(
            descriptions::no_space_for_restore(
                ctx.wording,
                mb_floor(left_after_download),
                mb_ceil(needed),
            ),
            "RestoreFailed",
        );
    }
    let count = u64::try_from(ctx.databases.len()).unwrap_or(u64::MAX);
    if let Some(limit) = ctx.database_limit.filter(|limit| count >= *limit) {
        return Outcome::failed(
            descriptions::count_limit(ctx.wording, ctx.db_name, limit),
            "RestoreFailed",
        );
    }
    if ctx.open_database && ctx.login_denied {
        return Outcome::failed(descriptions::login_failed(ctx.db_name), "RestoreFailed");
    }
    if ctx.open_database && ctx.facts.damaged_pages > 0 {
        return if ctx.async_check_db {
            // Opened first, checked after: the database is there, with the damage reported.
            Outcome::restored(descriptions::async_checkdb_failed(
                ctx.db_name,
                ctx.facts.damaged_pages,
            ))
        } else {
            Outcome::failed(descriptions::checkdb_failed(ctx.wording), "RestoreFailed")
        };
    }
    let description = if ctx.open_database {
        opening_description(
            ctx.wording,
            ctx.db_name,
            ctx.has_privileged_account,
            ctx.async_check_db,
        )
    } else {
        String::new()
    };
    Outcome::restored(description)
}

/// A file that is not one restorable full backup, judged when RDS verifies it.
fn backup_type_refusal(wording: Wording, file_name: &str, kind: ObjectKind) -> Option<Outcome> {
    let description = match kind {
        ObjectKind::Full => return None,
        ObjectKind::Differential => descriptions::differential(wording, file_name),
        ObjectKind::Log => descriptions::log(wording, file_name),
        ObjectKind::Striped(families) => descriptions::striped(file_name, families),
        ObjectKind::Unverifiable | ObjectKind::Missing => {
            descriptions::corrupt_or_newer(wording, file_name)
        }
    };
    Some(Outcome::failed(description, "CheckFailed"))
}

/// A name the restore cannot take: a system database's, or one already on the instance. RDS's
/// own same-name check compares names as written; one that differs only in case reaches SQL
/// Server, which refuses it in its own words (the guide's second same-name form).
fn name_refusal(ctx: &RestoreContext<'_>) -> Option<Outcome> {
    let name = ctx.db_name;
    let is = |list: &[&str]| list.iter().any(|d| d.eq_ignore_ascii_case(name));
    let description = if is(RDS_SYSTEM_DATABASES) {
        descriptions::rds_system_db(name)
    } else if is(MSSQL_SYSTEM_DATABASES) {
        descriptions::mssql_system_db(name)
    } else if ctx.databases.iter().any(|d| d == name) {
        descriptions::same_name(ctx.wording, name)
    } else if ctx.databases.iter().any(|d| d.eq_ignore_ascii_case(name)) {
        descriptions::same_name_sql_server(name)
    } else {
        return None;
    };
    Some(Outcome::failed(description, "RestoreFailed"))
}

/// Where a database restored WITH NORECOVERY stands: what the next differential or log must
/// continue from (SQL Server's restore sequence rules, mtf-bak-format.md §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestorePoint {
    database_guid: Option<Guid>,
    full_guid: Option<Guid>,
    full_checkpoint: Lsn,
    /// LastLSN of the last backup applied: the next log must contain it.
    point: Lsn,
}

impl RestorePoint {
    /// Right after the full backup `full`.
    pub fn after_full(full: &ChainFacts) -> Self {
        RestorePoint {
            database_guid: full.database_guid,
            full_guid: full.backup_set_guid,
            full_checkpoint: full.checkpoint_lsn,
            point: full.last_lsn,
        }
    }

    /// After `applied` (a differential or log this point accepted) was restored.
    pub fn then(self, applied: &ChainFacts) -> Self {
        RestorePoint {
            point: applied.last_lsn,
            ..self
        }
    }

    /// The LSN the database stands at.
    pub fn point(&self) -> Lsn {
        self.point
    }
}

/// One differential or log submitted to a waiting incremental migration (§1.6 step 2).
#[derive(Debug, Clone)]
pub struct IncrementContext<'a> {
    /// Which wording of the guide's messages to write.
    pub wording: Wording,
    /// The object's file name, as the messages quote it.
    pub file_name: &'a str,
    /// The object's size.
    pub file_bytes: u64,
    /// What the object is.
    pub facts: ObjectFacts,
    /// The database being restored.
    pub db_name: &'a str,
    /// Free bytes on the instance.
    pub free_bytes: u64,
    /// Where the database stands.
    pub at: RestorePoint,
}

/// Decides an incremental file: download space, backup type, then SQL Server's own checks of
/// the database family and the LSN chain.
pub fn decide_increment(ctx: &IncrementContext<'_>) -> Outcome {
    if ctx.facts.kind == ObjectKind::Missing {
        return Outcome::failed(
            descriptions::backup_not_found(ctx.file_name),
            "DownloadFailed",
        );
    }
    if ctx.file_bytes > ctx.free_bytes {
        return Outcome::failed(
            descriptions::no_space_for_file(
                ctx.wording,
                mb_floor(ctx.free_bytes),
                mb_ceil(ctx.file_bytes),
            ),
            "DownloadFailed",
        );
    }
    let chain = match (ctx.facts.kind, ctx.facts.chain) {
        (ObjectKind::Full, _) => {
            return Outcome::failed(
                descriptions::full_as_increment(ctx.file_name),
                "CheckFailed",
            );
        }
        (ObjectKind::Differential | ObjectKind::Log, Some(chain)) => chain,
        _ => {
            return Outcome::failed(
                descriptions::corrupt_or_newer(ctx.wording, ctx.file_name),
                "CheckFailed",
            );
        }
    };
    let is_log = ctx.facts.kind == ObjectKind::Log;
    if chain.database_guid != ctx.at.database_guid {
        return Outcome::failed(
            descriptions::other_database(ctx.db_name, is_log),
            "RestoreFailed",
        );
    }
    let verdict = if is_log {
        judge_log(&chain, &ctx.at)
    } else {
        judge_differential(&chain, &ctx.at)
    };
    match verdict {
        Ok(()) => Outcome::restored(String::new()),
        Err(description) => Outcome::failed(description, "RestoreFailed"),
    }
}

/// A log applies when it contains the point: FirstLSN <= point < LastLSN.
fn judge_log(log: &ChainFacts, at: &RestorePoint) -> Result<(), String> {
    if log.first_lsn > at.point {
        return Err(descriptions::log_too_recent(log.first_lsn.as_decimal()));
    }
    if log.last_lsn <= at.point {
        return Err(descriptions::log_too_early(
            log.last_lsn.as_decimal(),
            at.point.as_decimal(),
        ));
    }
    Ok(())
}

/// A differential applies on its own base full (GUID and CheckpointLSN), and only if it is newer
/// than what is already restored: after logs too (the way a log-shipping secondary that fell
/// behind is brought forward), but never one the database has already passed.
fn judge_differential(diff: &ChainFacts, at: &RestorePoint) -> Result<(), String> {
    let on_base = diff.differential_base_guid.is_some()
        && diff.differential_base_guid == at.full_guid
        && diff.differential_base_lsn == Some(at.full_checkpoint);
    if on_base && diff.last_lsn > at.point {
        Ok(())
    } else {
        Err(descriptions::DIFFERENTIAL_WRONG_BASE.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn ctx<'a>(databases: &'a [String]) -> RestoreContext<'a> {
        RestoreContext {
            wording: Wording::Older,
            file_name: "sales.bak",
            file_bytes: GIB,
            facts: ObjectFacts {
                kind: ObjectKind::Full,
                restored_bytes: 2 * GIB,
                chain: None,
                damaged_pages: 0,
            },
            db_name: "sales",
            free_bytes: 10 * GIB,
            databases,
            database_limit: Some(5),
            has_privileged_account: true,
            url_expired: false,
            async_check_db: true,
            login_denied: false,
            open_database: true,
        }
    }

    /// Every failure `decide` can reach, in both wordings, is the guide's text (spot-checked
    /// in the current wording, whole in the older one below) and explained by the client's
    /// diagnosis to the same cause.
    #[test]
    fn both_wordings_of_every_failure_are_explained_by_the_client() {
        use bak2rds_cloud::rds::diagnose::{Cause, diagnose};
        let none: Vec<String> = vec![];
        let taken = vec!["sales".to_string()];
        let taken_in_other_case = vec!["SALES".to_string()];
        let full = vec!["a".to_string(); 5];
        for wording in [Wording::Current, Wording::Older] {
            let with = |databases, change: &dyn Fn(&mut RestoreContext<'_>)| {
                let mut c = ctx(databases);
                c.wording = wording;
                change(&mut c);
                decide(&c).description
            };
            let cases: Vec<(String, Cause)> = vec![
                (with(&taken, &|_| {}), Cause::SameNameDatabase),
                (with(&taken_in_other_case, &|_| {}), Cause::SameNameDatabase),
                (
                    with(&none, &|c| c.db_name = "Master"),
                    Cause::SystemDatabaseName,
                ),
                (
                    with(&none, &|c| c.db_name = "RDSCORE"),
                    Cause::RdsSystemDatabaseName,
                ),
                (with(&none, &|c| c.login_denied = true), Cause::LoginFailed),
                (
                    with(&none, &|c| c.facts = ObjectFacts::missing()),
                    Cause::BackupNotFound,
                ),
                (
                    with(&none, &|c| c.facts.kind = ObjectKind::Differential),
                    Cause::DifferentialBackup,
                ),
                (
                    with(&none, &|c| c.facts.kind = ObjectKind::Log),
                    Cause::LogBackup,
                ),
                (
                    with(&none, &|c| c.facts.kind = ObjectKind::Unverifiable),
                    Cause::CorruptOrNewer,
                ),
                (
                    with(&none, &|c| c.facts.kind = ObjectKind::Striped(3)),
                    Cause::StripedBackup,
                ),
                (
                    with(&none, &|c| c.free_bytes = GIB / 2),
                    Cause::NoSpaceForFile,
                ),
                (
                    with(&none, &|c| c.free_bytes = 2 * GIB),
                    Cause::NoSpaceForRestore,
                ),
                (with(&full, &|_| {}), Cause::DatabaseCountLimit),
                (with(&none, &|c| c.url_expired = true), Cause::UrlExpired),
                (
                    with(&none, &|c| c.has_privileged_account = false),
                    Cause::NoInitAccount,
                ),
            ];
            for (description, cause) in cases {
                let diagnosis = diagnose(&description)
                    .unwrap_or_else(|| panic!("{wording:?}: not explained: {description}"));
                assert_eq!(diagnosis.cause, cause, "{wording:?}: {description}");
            }
        }
        let current = |databases, change: &dyn Fn(&mut RestoreContext<'_>)| {
            let mut c = ctx(databases);
            c.wording = Wording::Current;
            change(&mut c);
            decide(&c).description
        };
        assert_eq!(
            current(&taken, &|_| {}),
            "The database (sales) already exists on RDS. Please back it up, drop it, and then try again."
        );
        assert_eq!(
            current(&taken_in_other_case, &|_| {}),
            "Database 'sales' already exists. Choose a different database name."
        );
        assert_eq!(
            current(&none, &|c| c.db_name = "MSDB"),
            "The database (MSDB) is mssql system db, change your database name and try again."
        );
        assert_eq!(
            current(&none, &|c| c.login_denied = true),
            "Cannot open database \"sales\" requested by the login. The login failed."
        );
        assert_eq!(
            current(&none, &|c| c.facts = ObjectFacts::missing()),
            "Failed to download since could not find backup file (sales.bak) on OSS."
        );
        assert_eq!(
            current(&none, &|c| c.facts.kind = ObjectKind::Differential),
            "Backup set (sales.bak) is a database differential backup; we only accept a full backup."
        );
        assert_eq!(
            current(&full, &|_| {}),
            "The migration of database (sales) failed because it exceeded the database count limit (5)."
        );
        assert_eq!(
            current(&none, &|c| c.facts.kind = ObjectKind::Striped(2)),
            "Failed to verify (sales.bak), error message:The media set has 2 media families but only 1 are provided. All members must be provided. VERIFY DATABASE is terminating abnormally."
        );
        assert_eq!(
            current(&none, &|c| c.has_privileged_account = false),
            "Your RDS doesn\u{2019}t have any init account yet, please create one and grant permissions on RDS console to this migrated database (sales)."
        );
    }

    /// A damaged data page in a backup taken without `WITH CHECKSUM`: RESTORE succeeds, and
    /// DBCC CHECKDB fails the opening (sync) or reports after it (async, database restored).
    #[test]
    fn a_damaged_page_without_backup_checksums_is_found_by_checkdb() {
        use mssql_backup::synth::{SynthDatabase, SynthKind, SynthSpec, write_synthetic};
        let database =
            SynthDatabase::new("sales", mssql_backup::TargetVersion::parse("2019").unwrap());
        let mut bytes = Vec::new();
        write_synthetic(
            &mut bytes,
            &SynthSpec::single(database, SynthKind::Full, 4 << 20),
        )
        .unwrap();
        assert_eq!(examine_object(&bytes, "2019_std_ha").damaged_pages, 0);
        // A data page (type 1, with a page checksum: flag 0x200) on a 512-byte boundary.
        let page = (0..bytes.len() - 8192)
            .step_by(512)
            .find(|&p| bytes[p] == 1 && bytes[p + 5] & 0x2 != 0 && bytes[p + 1] != 0)
            .expect("a data page");
        bytes[page + 4000] ^= 0x01;
        let facts = examine_object(&bytes, "2019_std_ha");
        assert_eq!((facts.kind, facts.damaged_pages), (ObjectKind::Full, 1));

        let none: Vec<String> = vec![];
        let mut c = ctx(&none);
        c.facts = facts;
        c.async_check_db = false;
        let sync = decide(&c);
        assert!(!sync.success);
        assert_eq!(sync.description, "DBCC checkdb failed");
        c.async_check_db = true;
        let later = decide(&c);
        assert!(later.success, "async: opened first, damage reported after");
        assert!(
            later
                .description
                .starts_with("asynchronously DBCC checkdb failed")
        );
    }

    #[test]
    fn each_failure_has_its_documented_older_description() {
        let none: Vec<String> = vec![];
        let taken = vec!["sales".to_string()];
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

    fn lsn(block: u32) -> Lsn {
        Lsn {
            vlf: 39,
            block,
            slot: 1,
        }
    }

    fn chain(first: u32, last: u32, database: u8) -> ChainFacts {
        ChainFacts {
            first_lsn: lsn(first),
            last_lsn: lsn(last),
            checkpoint_lsn: lsn(first),
            differential_base_lsn: None,
            backup_set_guid: Some(Guid([first as u8; 16])),
            differential_base_guid: None,
            database_guid: Some(Guid([database; 16])),
        }
    }

    fn increment(kind: ObjectKind, facts: ChainFacts, at: RestorePoint) -> Outcome {
        decide_increment(&IncrementContext {
            wording: Wording::Older,
            file_name: "sales.trn",
            file_bytes: 1 << 20,
            facts: ObjectFacts {
                kind,
                restored_bytes: 0,
                chain: Some(facts),
                damaged_pages: 0,
            },
            db_name: "sales",
            free_bytes: GIB,
            at,
        })
    }

    #[test]
    fn increments_follow_sql_servers_restore_sequence() {
        let full = chain(100, 200, 7);
        let at = RestorePoint::after_full(&full);
        assert_eq!(at.point(), lsn(200));
        let log = chain(100, 300, 7);
        assert!(increment(ObjectKind::Log, log, at).success);
        let gap = increment(ObjectKind::Log, chain(250, 300, 7), at);
        assert_eq!(
            (gap.description.as_str(), gap.file_status),
            (
                "The log in this backup set begins at LSN 39000000025000001, which is too recent to apply to the database. RESTORE LOG is terminating abnormally.",
                "RestoreFailed"
            )
        );
        let early = increment(ObjectKind::Log, chain(50, 200, 7), at);
        assert_eq!(
            early.description,
            "The log in this backup set terminates at LSN 39000000020000001, which is too early to apply to the database. A more recent log backup that includes LSN 39000000020000001 can be restored. RESTORE LOG is terminating abnormally."
        );
        let stranger = increment(ObjectKind::Log, chain(100, 300, 8), at);
        assert_eq!(
            stranger.description,
            "The backup set holds a backup of a database other than the existing 'sales' database. RESTORE LOG is terminating abnormally."
        );
        let again = increment(ObjectKind::Full, full, at);
        assert_eq!(
            (again.description.as_str(), again.file_status),
            (
                "Backup set (sales.trn) is a Database FULL backup, we only accept transaction log or differential backup.",
                "CheckFailed"
            )
        );

        let diff = ChainFacts {
            differential_base_lsn: Some(lsn(100)),
            differential_base_guid: full.backup_set_guid,
            ..chain(300, 320, 7)
        };
        assert!(increment(ObjectKind::Differential, diff, at).success);
        let other_base = ChainFacts {
            differential_base_guid: Some(Guid([1; 16])),
            ..diff
        };
        let refused = increment(ObjectKind::Differential, other_base, at);
        assert_eq!(refused.description, descriptions::DIFFERENTIAL_WRONG_BASE);
        // After a log, a newer differential still applies; one the logs went past does not.
        let after_log = at.then(&log);
        assert_eq!(after_log.point(), lsn(300));
        assert!(increment(ObjectKind::Differential, diff, after_log).success);
        let past_it = after_log.then(&chain(300, 400, 7));
        let refused = increment(ObjectKind::Differential, diff, past_it);
        assert_eq!(refused.description, descriptions::DIFFERENTIAL_WRONG_BASE);
        let after_diff = at.then(&diff);
        assert!(
            !increment(ObjectKind::Differential, diff, after_diff).success,
            "not twice"
        );
        assert!(increment(ObjectKind::Log, chain(300, 400, 7), after_diff).success);
    }

    #[test]
    fn garbage_is_unverifiable() {
        let facts = examine_object(b"definitely not a backup", "2019_std_ha");
        assert_eq!(facts.kind, ObjectKind::Unverifiable);
        assert_eq!(facts.restored_bytes, 0);
    }
}

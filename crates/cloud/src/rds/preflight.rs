//! Pre-flight: every refusal Alibaba's migration guide documents that can be known before the
//! upload (rds-api.md §1.1 limits, §1.8 pre-flight APIs, §5 "local check" table), judged from
//! facts `migrate` gathers, plus the plan of how CreateMigrateTask must be called.
//!
//! Pure: no I/O. The facts are plain values so this module depends on no other subsystem.

use std::time::Duration;

use serde::Serialize;

use mssql_backup::{TargetVersion, database_name_problem};

use super::model::{Account, BackupMode, DbInstanceAttribute, DescribeResourceUsageResponse};

/// What is known about the target instance (DescribeDBInstanceAttribute + DescribeResourceUsage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceFacts {
    /// Instance ID.
    pub id: String,
    /// `SQLServer` for a usable instance.
    pub engine: String,
    /// e.g. `2019_std_ha`, `2008r2`.
    pub engine_version: String,
    /// `Running` when usable.
    pub status: String,
    /// `Unlock` (or empty) when usable.
    pub lock_mode: String,
    /// Storage in GB.
    pub storage_gb: u64,
    /// Used bytes, if known.
    pub disk_used_bytes: Option<u64>,
    /// `Basic`, `HighAvailability`, `AlwaysOn`...
    pub category: String,
    /// `local_ssd`, `cloud_essd`...
    pub storage_type: String,
    /// Region ID.
    pub region: String,
    /// Database-count limit, if the instance has one.
    pub db_max_quantity: Option<u64>,
}

impl InstanceFacts {
    /// From the API answers. DescribeResourceUsage's `DiskUsed` wins over the attribute's
    /// `DBInstanceDiskUsed` when both are given (it is an integer, §1.8).
    pub fn from_api(
        attribute: &DbInstanceAttribute,
        usage: Option<&DescribeResourceUsageResponse>,
    ) -> Self {
        InstanceFacts {
            id: attribute.db_instance_id.clone(),
            engine: attribute.engine.clone(),
            engine_version: attribute.engine_version.clone(),
            status: attribute.db_instance_status.clone(),
            lock_mode: attribute.lock_mode.clone(),
            storage_gb: u64::try_from(attribute.db_instance_storage).unwrap_or(0),
            disk_used_bytes: usage
                .and_then(DescribeResourceUsageResponse::disk_used_bytes)
                .or_else(|| attribute.disk_used_bytes()),
            category: attribute.category.clone(),
            storage_type: attribute.db_instance_storage_type.clone(),
            region: attribute.region_id.clone(),
            db_max_quantity: u64::try_from(attribute.db_max_quantity)
                .ok()
                .filter(|n| *n > 0),
        }
    }

    /// Free bytes: `DBInstanceStorage × 2^30 − DiskUsed` (§1.8).
    pub fn free_bytes(&self) -> Option<u64> {
        let total = self.storage_gb.checked_mul(1 << 30)?;
        Some(total.saturating_sub(self.disk_used_bytes?))
    }

    /// Local-disk instance: not `cloud_*` and not `general_essd` (§1.8).
    pub fn is_local_disk(&self) -> bool {
        !(self.storage_type.starts_with("cloud_") || self.storage_type == "general_essd")
    }

    /// SQL Server 2008 R2 (`2008r2`, `08r2_ent_ha`, §1.8).
    pub fn is_2008_r2(&self) -> bool {
        matches!(self.engine_version.as_str(), "2008r2" | "08r2_ent_ha")
    }
}

/// An account on the instance (DescribeAccounts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountFacts {
    /// Name.
    pub name: String,
    /// `Normal`, `Super`, `Sysadmin`, `GlobalRO`.
    pub account_type: String,
    /// `AccountStatus == Available`.
    pub available: bool,
}

impl From<&Account> for AccountFacts {
    fn from(a: &Account) -> Self {
        AccountFacts {
            name: a.account_name.clone(),
            account_type: a.account_type.clone(),
            available: a.account_status == "Available",
        }
    }
}

/// What is known about the bucket (OSS GetBucketInfo).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BucketFacts {
    /// Bucket name.
    pub name: String,
    /// Region ID, e.g. `cn-hangzhou` (OSS reports `oss-cn-hangzhou`; both are accepted).
    pub region: String,
    /// `Standard`, `IA`, `Archive`...
    pub storage_class: String,
    /// Server-side encryption algorithm, `None` when off.
    pub server_side_encryption: Option<String>,
}

/// What is known about the backup (from inspect).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupFacts {
    /// The database name inside the backup.
    pub database_name: String,
    /// SCIN DatabaseVersion (e.g. 904 for 2019), if read (mtf-bak-format.md, SCIN +0x5E).
    pub database_version: Option<u16>,
    /// Size of the .bak file.
    pub backup_file_bytes: u64,
    /// Sum of the file list's sizes (data + log, RESTORE FILELISTONLY), if read.
    pub restored_bytes: Option<u64>,
}

/// Everything pre-flight judges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreflightFacts {
    /// The instance.
    pub instance: InstanceFacts,
    /// Names of the databases on the instance (DescribeDatabases).
    pub databases: Vec<String>,
    /// The instance's accounts (DescribeAccounts).
    pub accounts: Vec<AccountFacts>,
    /// The bucket, when known.
    pub bucket: Option<BucketFacts>,
    /// The backup.
    pub backup: BackupFacts,
    /// The name to restore as (`--database`).
    pub target_database: String,
    /// Whether RDS may read OSS (the `AliyunRDSImportRole` RAM role).
    pub import_role: ImportRole,
}

/// What is known of `AliyunRDSImportRole`, the role RDS reads OSS through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum ImportRole {
    /// Not looked at (a rehearsal without RAM, `--skip-preflight`).
    NotChecked,
    /// Present, trusting RDS as the console made it.
    Present,
    /// Absent: RDS was never authorised in this account.
    Missing,
    /// Present, but its trust policy no longer lets RDS assume it.
    Altered,
    /// Could not be read.
    Unknown {
        /// Why.
        reason: String,
    },
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The restore would succeed; something to know.
    Warn,
    /// The restore would fail: do not upload.
    Refuse,
}

/// One pre-flight finding, written for a DBA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Refuse or warn.
    pub severity: Severity,
    /// Stable identifier, e.g. `database_exists`.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub fix: String,
}

/// How the backup reaches RDS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoreMethod {
    /// `OssObjectPositions=endpoint:bucket:key` (every version after 2008 R2).
    OssObjectPositions,
    /// `OSSUrls`: a presigned GET URL on the bucket's internal endpoint (2008 R2 local SSD).
    PresignedUrl {
        /// How long the URL must stay valid.
        valid_for_secs: u64,
        /// Sign for the `-internal` endpoint: RDS downloads from inside the region.
        internal_endpoint: bool,
    },
}

/// How CreateMigrateTask must be called for this instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RestorePlan {
    /// How the file is referenced.
    pub method: RestoreMethod,
    /// The database must already exist (2008 R2 local SSD) rather than must not.
    pub database_must_exist: bool,
    /// Always FULL for a one-shot migration.
    pub backup_mode: BackupMode,
    /// Always true for a one-shot migration.
    pub is_online_db: bool,
}

/// Presigned URLs for 2008 R2 are valid 8 hours (the migration guide's share-URL advice).
pub const PRESIGNED_URL_VALIDITY: Duration = Duration::from_secs(8 * 3600);

/// The result: findings (refusals first) and the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PreflightReport {
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// How to call CreateMigrateTask.
    pub plan: RestorePlan,
}

impl PreflightReport {
    /// Whether any finding refuses the migration.
    pub fn refused(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Refuse)
    }
}

/// SQL Server's own databases plus `distribution` (replication) and the hidden resource
/// database: names RDS answers with `InvalidDBName` (§1.9) or a task that fails with "is mssql
/// system db".
const SYSTEM_DATABASES: &[&str] = &[
    "master",
    "model",
    "msdb",
    "tempdb",
    "distribution",
    "mssqlsystemresource",
];

/// RDS's own management databases: a task restoring under one fails with "is RDS system db".
const RDS_SYSTEM_DATABASES: &[&str] = &["rdscore"];

/// Judges the facts. Pure.
pub fn preflight(facts: &PreflightFacts) -> PreflightReport {
    let plan = plan_for(&facts.instance);
    let mut findings = Vec::new();
    check_instance(&facts.instance, &mut findings);
    check_version(&facts.instance, &facts.backup, &mut findings);
    check_space(&facts.instance, &facts.backup, &mut findings);
    check_name(facts, plan, &mut findings);
    check_accounts(&facts.accounts, &mut findings);
    if let Some(bucket) = &facts.bucket {
        check_bucket(bucket, &facts.instance, &mut findings);
    }
    check_import_role(&facts.import_role, &mut findings);
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    PreflightReport { findings, plan }
}

/// The 2008 R2 local-SSD exception (§1.1): the database is created beforehand and the file is
/// passed as a presigned URL in `OSSUrls`.
fn plan_for(instance: &InstanceFacts) -> RestorePlan {
    let legacy = instance.is_2008_r2() && instance.is_local_disk();
    RestorePlan {
        method: if legacy {
            RestoreMethod::PresignedUrl {
                valid_for_secs: PRESIGNED_URL_VALIDITY.as_secs(),
                internal_endpoint: true,
            }
        } else {
            RestoreMethod::OssObjectPositions
        },
        database_must_exist: legacy,
        backup_mode: BackupMode::Full,
        is_online_db: true,
    }
}

fn refuse(code: &'static str, message: String, fix: impl Into<String>) -> Finding {
    Finding {
        severity: Severity::Refuse,
        code,
        message,
        fix: fix.into(),
    }
}

fn warn(code: &'static str, message: String, fix: impl Into<String>) -> Finding {
    Finding {
        severity: Severity::Warn,
        code,
        message,
        fix: fix.into(),
    }
}

/// The console's page that authorises RDS to read OSS (it creates `AliyunRDSImportRole` with its
/// policy `AliyunRDSImportRolePolicy`).
pub const AUTHORIZE_RDS_URL: &str = "https://ram.console.aliyun.com/#/role/authorize?request=\
{\"Requests\":{\"request1\":{\"RoleName\":\"AliyunRDSImportRole\",\"TemplateId\":\"AliyunRDSImportRole\"}},\
\"ReturnUrl\":\"https://rds.console.aliyun.com/\",\"Service\":\"RDS\"}";

fn check_import_role(role: &ImportRole, out: &mut Vec<Finding>) {
    let authorize = format!(
        "Authorise RDS to read OSS once for this account in the console ({AUTHORIZE_RDS_URL}): it \
         creates the RAM role AliyunRDSImportRole; do not change or delete it afterwards."
    );
    match role {
        ImportRole::NotChecked | ImportRole::Present => {}
        ImportRole::Missing => out.push(refuse(
            "import_role_missing",
            "RDS is not authorised to read OSS in this account: the RAM role \
             AliyunRDSImportRole does not exist, so the restore would fail after the upload \
             (\"could not find backup file on OSS\")."
                .to_owned(),
            authorize,
        )),
        ImportRole::Altered => out.push(refuse(
            "import_role_altered",
            "The RAM role AliyunRDSImportRole was changed: its trust policy no longer lets \
             RDS (rds.aliyuncs.com) assume it, so RDS cannot read the backup from OSS."
                .to_owned(),
            format!(
                "Restore the role's trust policy to the service rds.aliyuncs.com (RAM console, \
                 Roles, AliyunRDSImportRole, Trust Policy), or delete the role and authorise \
                 again: {AUTHORIZE_RDS_URL}"
            ),
        )),
        ImportRole::Unknown { reason } => out.push(warn(
            "import_role_unchecked",
            format!(
                "Could not check that RDS may read OSS (the RAM role AliyunRDSImportRole): \
                 {reason}."
            ),
            format!(
                "If this is the account's first migration, make sure RDS was authorised: \
                 {AUTHORIZE_RDS_URL}. To let bak2rds check, allow these credentials ram:GetRole \
                 on that role."
            ),
        )),
    }
}

fn check_instance(instance: &InstanceFacts, out: &mut Vec<Finding>) {
    if !instance.engine.eq_ignore_ascii_case("SQLServer") {
        out.push(refuse(
            "instance_not_sql_server",
            format!(
                "Instance {} runs {}, not SQL Server; CreateMigrateTask restores .bak files on RDS for SQL Server only.",
                instance.id, instance.engine
            ),
            "Pass the ID of an RDS for SQL Server instance (--instance).",
        ));
    }
    if instance.status != "Running" {
        out.push(refuse(
            "instance_not_running",
            format!(
                "Instance {} is {}, not Running.",
                instance.id, instance.status
            ),
            "Wait until the instance is Running in the RDS console, then run again.",
        ));
    }
    if !(instance.lock_mode.is_empty() || instance.lock_mode == "Unlock") {
        out.push(refuse(
            "instance_locked",
            format!(
                "Instance {} is locked ({}).",
                instance.id, instance.lock_mode
            ),
            "Unlock it in the RDS console (renew it or enlarge its storage), then run again.",
        ));
    }
}

/// The SQL Server release an RDS engine version runs (`2019_std_ha` → 2019), from the backup
/// reader's release table; `08r2_ent_ha` is 2008 R2 (§1.8). `None` if unknown.
pub fn target_of(engine_version: &str) -> Option<TargetVersion> {
    let normal = engine_version.trim().to_ascii_lowercase();
    let normal = match normal.strip_prefix("08r2") {
        Some(rest) => format!("2008r2{rest}"),
        None => normal,
    };
    TargetVersion::parse(&normal).ok()
}

fn check_version(instance: &InstanceFacts, backup: &BackupFacts, out: &mut Vec<Finding>) {
    let Some(backup_version) = backup.database_version else {
        out.push(warn(
            "backup_version_unknown",
            "The backup's database version could not be read, so it was not compared with the instance.".into(),
            "Check with `bak2rds inspect FILE` that the file is a SQL Server backup.",
        ));
        return;
    };
    match target_of(&instance.engine_version) {
        Some(target) if backup_version > target.max_database_version => out.push(refuse(
            "backup_newer_than_instance",
            format!(
                "The backup comes from a newer SQL Server (database version {backup_version}) than instance {} runs ({target}, up to {}); RDS would fail the task with \"Failed to verify … The backup file may be corrupted or from a version newer than the destination RDS instance\".",
                instance.id, target.max_database_version
            ),
            "Restore to an instance of the same or a newer SQL Server version; SQL Server cannot restore a backup into an older version.",
        )),
        Some(target) if backup_version < target.min_database_version => out.push(refuse(
            "backup_too_old_for_instance",
            format!(
                "The backup comes from a SQL Server too old (database version {backup_version}) for instance {} ({target} restores from {} on).",
                instance.id, target.min_database_version
            ),
            "Restore it first on an intermediate SQL Server version, take a new full backup there, and migrate that.",
        )),
        Some(_) => {}
        None => out.push(warn(
            "engine_version_unknown",
            format!(
                "Engine version {} is not one bak2rds knows, so the backup's version {backup_version} was not compared with it.",
                instance.engine_version
            ),
            "Make sure the instance runs the same or a newer SQL Server than the source.",
        )),
    }
}

fn mib(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

fn check_space(instance: &InstanceFacts, backup: &BackupFacts, out: &mut Vec<Finding>) {
    let Some(free) = instance.free_bytes() else {
        out.push(warn(
            "disk_usage_unknown",
            format!("The used space of instance {} is unknown, so free space was not checked.", instance.id),
            "Check the free storage in the RDS console: it must hold the .bak and the restored database.",
        ));
        return;
    };
    if backup.backup_file_bytes > free {
        out.push(refuse(
            "not_enough_space_for_file",
            format!(
                "Instance {} has {} MB free, less than the backup file ({} MB); RDS would fail the task with \"Not Enough Disk Space, space left … < bak file …\".",
                instance.id, mib(free), mib(backup.backup_file_bytes)
            ),
            "Enlarge the instance's storage, or take the backup WITH COMPRESSION.",
        ));
    }
    match backup.restored_bytes {
        Some(needed) if needed > free => out.push(refuse(
            "not_enough_space_for_restore",
            format!(
                "Instance {} has {} MB free, less than the restored database needs ({} MB: the data and log files listed in the backup); RDS would fail the task with \"Not Enough Disk Space for restoring\".",
                instance.id, mib(free), mib(needed)
            ),
            "Enlarge the instance's storage, or shrink the source's data and log files before the backup.",
        )),
        Some(_) => {}
        None => out.push(warn(
            "restored_size_unknown",
            "The backup's file list could not be read, so the restored size was not checked.".into(),
            "Check RESTORE FILELISTONLY sizes against the instance's free storage.",
        )),
    }
}

fn check_name(facts: &PreflightFacts, plan: RestorePlan, out: &mut Vec<Finding>) {
    let name = facts.target_database.as_str();
    let instance = &facts.instance;
    let is = |list: &[&str]| list.iter().any(|s| s.eq_ignore_ascii_case(name));
    if is(SYSTEM_DATABASES) {
        out.push(refuse(
            "system_database_name",
            format!("{name} is a SQL Server system database name: RDS refuses it (InvalidDBName, or a task that fails with \"The database ({name}) is mssql system db\")."),
            "Restore under another name (--database).",
        ));
        return;
    }
    if is(RDS_SYSTEM_DATABASES) {
        out.push(refuse(
            "rds_system_database_name",
            format!("{name} is the name of RDS's own management database: the task would fail with \"The database ({name}) is RDS system db\"."),
            "Restore under another name (--database).",
        ));
        return;
    }
    if let Some(problem) = database_name_problem(name) {
        out.push(refuse(
            "invalid_database_name",
            format!("{problem}."),
            "Choose a name that keeps the rule (--database); the backup's own name does not have to match.",
        ));
        return;
    }
    // SQL Server compares names case-insensitively under the default collations.
    let exists = facts.databases.iter().any(|d| d.eq_ignore_ascii_case(name));
    if plan.database_must_exist && !exists {
        out.push(refuse(
            "database_must_exist",
            format!(
                "Instance {} is SQL Server 2008 R2 on local SSD: RDS restores into an existing database there, and {name} does not exist.",
                instance.id
            ),
            format!("Create the database {name} in the RDS console first, then run again."),
        ));
    } else if !plan.database_must_exist && exists {
        out.push(refuse(
            "database_exists",
            format!(
                "A database named {name} already exists on instance {}; RDS would fail the task with \"The database ({name}) already exists on RDS\" (or SQL Server's \"Database '{name}' already exists\").",
                instance.id
            ),
            format!("Back up and drop {name} on the instance, or restore under another name (--database)."),
        ));
    }
    if let Some(max) = instance.db_max_quantity {
        let after = u64::try_from(facts.databases.len())
            .unwrap_or(u64::MAX)
            .saturating_add(u64::from(!exists));
        if after > max {
            out.push(refuse(
                "database_count_limit",
                format!(
                    "Instance {} holds {} databases and allows {max}; one more would exceed its limit, and RDS would fail the task with \"exceeded the database count limit\".",
                    instance.id,
                    facts.databases.len()
                ),
                "Drop a database on the instance or move to a larger instance class.",
            ));
        }
    }
}

fn check_accounts(accounts: &[AccountFacts], out: &mut Vec<Finding>) {
    let privileged = accounts
        .iter()
        .any(|a| a.available && matches!(a.account_type.as_str(), "Super" | "Sysadmin"));
    if !privileged {
        out.push(warn(
            "no_privileged_account",
            "The instance has no available privileged account: the task would end in Success with the warning \"Your RDS doesn't have any init account yet\", and nobody could use the database.".into(),
            "Create a privileged account in the RDS console (Accounts → Create Account → Privileged) before or after the migration, and grant it the database.",
        ));
    }
}

/// OSS reports regions as `oss-<region>`; RDS as `<region>`.
fn same_region(bucket_region: &str, instance_region: &str) -> bool {
    bucket_region.trim_start_matches("oss-") == instance_region.trim_start_matches("oss-")
}

fn check_bucket(bucket: &BucketFacts, instance: &InstanceFacts, out: &mut Vec<Finding>) {
    if !same_region(&bucket.region, &instance.region) {
        out.push(refuse(
            "bucket_other_region",
            format!(
                "Bucket {} is in {}, instance {} in {}; RDS downloads only from a bucket in its own region.",
                bucket.name, bucket.region, instance.id, instance.region
            ),
            format!("Use a bucket in {} (--bucket), in the same account.", instance.region),
        ));
    }
    if !bucket.storage_class.eq_ignore_ascii_case("Standard") {
        out.push(refuse(
            "bucket_not_standard",
            format!(
                "Bucket {} uses the {} storage class; RDS reads backups only from Standard buckets.",
                bucket.name, bucket.storage_class
            ),
            "Use a bucket with the Standard storage class.",
        ));
    }
    if let Some(sse) = bucket
        .server_side_encryption
        .as_deref()
        .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("none"))
    {
        out.push(refuse(
            "bucket_encrypted",
            format!(
                "Bucket {} encrypts objects on the server side ({sse}); RDS cannot read backups from it.",
                bucket.name
            ),
            "Use a bucket without server-side encryption.",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn healthy() -> PreflightFacts {
        PreflightFacts {
            instance: InstanceFacts {
                id: "rm-1".into(),
                engine: "SQLServer".into(),
                engine_version: "2019_std_ha".into(),
                status: "Running".into(),
                lock_mode: "Unlock".into(),
                storage_gb: 100,
                disk_used_bytes: Some(10 * GIB),
                category: "HighAvailability".into(),
                storage_type: "cloud_essd".into(),
                region: "cn-hangzhou".into(),
                db_max_quantity: Some(10),
            },
            databases: vec!["other".into()],
            accounts: vec![AccountFacts {
                name: "admin".into(),
                account_type: "Super".into(),
                available: true,
            }],
            bucket: Some(BucketFacts {
                name: "b".into(),
                region: "oss-cn-hangzhou".into(),
                storage_class: "Standard".into(),
                server_side_encryption: None,
            }),
            backup: BackupFacts {
                database_name: "sales".into(),
                database_version: Some(904),
                backup_file_bytes: GIB,
                restored_bytes: Some(2 * GIB),
            },
            target_database: "sales".into(),
            import_role: ImportRole::Present,
        }
    }

    fn codes(facts: &PreflightFacts) -> Vec<&'static str> {
        preflight(facts).findings.iter().map(|f| f.code).collect()
    }

    #[test]
    fn a_healthy_setup_passes_with_the_normal_plan() {
        let report = preflight(&healthy());
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        assert_eq!(report.plan.method, RestoreMethod::OssObjectPositions);
        assert!(!report.plan.database_must_exist);
    }

    #[test]
    fn each_seeded_problem_is_found_with_a_fix() {
        type Seed = Box<dyn Fn(&mut PreflightFacts)>;
        let cases: Vec<(&str, Seed)> = vec![
            (
                "instance_not_sql_server",
                Box::new(|f| f.instance.engine = "MySQL".into()),
            ),
            (
                "instance_not_running",
                Box::new(|f| f.instance.status = "Rebooting".into()),
            ),
            (
                "instance_locked",
                Box::new(|f| f.instance.lock_mode = "LockByDiskQuota".into()),
            ),
            (
                "backup_newer_than_instance",
                Box::new(|f| f.instance.engine_version = "2016_std_ha".into()),
            ),
            (
                "not_enough_space_for_file",
                Box::new(|f| f.backup.backup_file_bytes = 95 * GIB),
            ),
            (
                "not_enough_space_for_restore",
                Box::new(|f| f.backup.restored_bytes = Some(91 * GIB)),
            ),
            (
                "database_exists",
                Box::new(|f| f.databases.push("SALES".into())),
            ),
            (
                "system_database_name",
                Box::new(|f| f.target_database = "msdb".into()),
            ),
            (
                "invalid_database_name",
                Box::new(|f| f.target_database = "a]b".into()),
            ),
            (
                "rds_system_database_name",
                Box::new(|f| f.target_database = "RdsCore".into()),
            ),
            (
                "database_count_limit",
                Box::new(|f| f.instance.db_max_quantity = Some(1)),
            ),
            (
                "no_privileged_account",
                Box::new(|f| f.accounts[0].account_type = "Normal".into()),
            ),
            (
                "bucket_other_region",
                Box::new(|f| f.bucket.as_mut().unwrap().region = "oss-eu-central-1".into()),
            ),
            (
                "bucket_not_standard",
                Box::new(|f| f.bucket.as_mut().unwrap().storage_class = "IA".into()),
            ),
            (
                "bucket_encrypted",
                Box::new(|f| {
                    f.bucket.as_mut().unwrap().server_side_encryption = Some("AES256".into())
                }),
            ),
            (
                "import_role_missing",
                Box::new(|f| f.import_role = ImportRole::Missing),
            ),
            (
                "import_role_altered",
                Box::new(|f| f.import_role = ImportRole::Altered),
            ),
            (
                "import_role_unchecked",
                Box::new(|f| {
                    f.import_role = ImportRole::Unknown {
                        reason: "no permission".into(),
                    }
                }),
            ),
        ];
        for (code, seed) in cases {
            let mut facts = healthy();
            seed(&mut facts);
            let report = preflight(&facts);
            let found = report.findings.iter().find(|f| f.code == code);
            let found =
                found.unwrap_or_else(|| panic!("{code} not found in {:?}", report.findings));
            assert!(!found.fix.is_empty() && !found.message.is_empty());
            let expect = if matches!(code, "no_privileged_account" | "import_role_unchecked") {
                Severity::Warn
            } else {
                Severity::Refuse
            };
            assert_eq!(found.severity, expect, "{code}");
            assert_eq!(report.refused(), expect == Severity::Refuse, "{code}");
        }
    }

    /// Each finding that spares the user an RDS task failure quotes that failure's message, in
    /// words the client's own diagnosis recognises, so docs and users can connect the two.
    #[test]
    fn findings_name_the_rds_failure_they_spare() {
        use crate::rds::diagnose::{Cause, diagnose};
        type Seed = Box<dyn Fn(&mut PreflightFacts)>;
        let cases: Vec<(&str, Seed, Cause)> = vec![
            (
                "backup_newer_than_instance",
                Box::new(|f| f.instance.engine_version = "2016_std_ha".into()),
                Cause::CorruptOrNewer,
            ),
            (
                "not_enough_space_for_file",
                Box::new(|f| f.backup.backup_file_bytes = 95 * GIB),
                Cause::NoSpaceForFile,
            ),
            (
                "not_enough_space_for_restore",
                Box::new(|f| f.backup.restored_bytes = Some(91 * GIB)),
                Cause::NoSpaceForRestore,
            ),
            (
                "database_exists",
                Box::new(|f| f.databases.push("SALES".into())),
                Cause::SameNameDatabase,
            ),
            (
                "database_count_limit",
                Box::new(|f| f.instance.db_max_quantity = Some(1)),
                Cause::DatabaseCountLimit,
            ),
            (
                "system_database_name",
                Box::new(|f| f.target_database = "Master".into()),
                Cause::SystemDatabaseName,
            ),
            (
                "rds_system_database_name",
                Box::new(|f| f.target_database = "rdscore".into()),
                Cause::RdsSystemDatabaseName,
            ),
            (
                "no_privileged_account",
                Box::new(|f| f.accounts[0].account_type = "Normal".into()),
                Cause::NoInitAccount,
            ),
        ];
        for (code, seed, cause) in cases {
            let mut facts = healthy();
            seed(&mut facts);
            let report = preflight(&facts);
            let finding = report.findings.iter().find(|f| f.code == code).unwrap();
            let diagnosis = diagnose(&finding.message)
                .unwrap_or_else(|| panic!("{code} names no RDS message: {}", finding.message));
            assert_eq!(diagnosis.cause, cause, "{code}: {}", finding.message);
        }
    }

    /// A name outside RDS's rule is refused, citing the rule.
    #[test]
    fn database_names_keep_rds_rule() {
        let mut facts = healthy();
        facts.target_database = "my db".into();
        let report = preflight(&facts);
        let finding = report.findings.first().unwrap();
        assert_eq!(finding.code, "invalid_database_name");
        assert!(
            finding.message.contains("CreateDatabase"),
            "{}",
            finding.message
        );
    }

    #[test]
    fn sql_server_2008_r2_on_local_ssd_plans_a_presigned_url_into_an_existing_database() {
        let mut facts = healthy();
        facts.instance.engine_version = "2008r2".into();
        facts.instance.storage_type = "local_ssd".into();
        facts.backup.database_version = Some(661);
        assert_eq!(codes(&facts), vec!["database_must_exist"]);
        facts.databases.push("sales".into());
        let report = preflight(&facts);
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        assert!(report.plan.database_must_exist);
        assert_eq!(
            report.plan.method,
            RestoreMethod::PresignedUrl {
                valid_for_secs: 8 * 3600,
                internal_endpoint: true
            }
        );
        // On cloud disks 2008 R2 behaves like the newer versions.
        facts.instance.storage_type = "cloud_ssd".into();
        assert_eq!(codes(&facts), vec!["database_exists"]);
    }

    #[test]
    fn engine_versions_map_to_releases() {
        assert_eq!(target_of("2019_std_ha").unwrap().max_database_version, 904);
        assert_eq!(target_of("08r2_ent_ha").unwrap().max_database_version, 661);
        assert_eq!(target_of("2008r2").unwrap().release, "2008 R2");
        assert!(target_of("2025_ent").is_none());
    }

    #[test]
    fn unknown_facts_warn_instead_of_guessing() {
        let mut facts = healthy();
        facts.instance.disk_used_bytes = None;
        facts.backup.database_version = None;
        assert_eq!(
            codes(&facts),
            vec!["backup_version_unknown", "disk_usage_unknown"]
        );
    }
}

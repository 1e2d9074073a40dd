//! Request and response shapes of the RDS calls bak2rds makes, exactly as on the wire: lists
//! wrapped twice (`Items.MigrateTask[]`, rds-api.md §0), and numbers that arrive as JSON strings
//! (`MigrateTaskId`, `FileSize`, `DBInstanceDiskUsed`...). The leniency lives in one place,
//! [`lenient`]: every string field also accepts a JSON number or `null`, every integer field also
//! accepts a numeric string, so a service that changes a field's JSON type does not break us.
//! Typed readings (`file_size_mb()`, `status()`) are methods on the wire types.
//!
//! The emulator serialises these same types, so field names are written once.

use serde::{Deserialize, Serialize};

/// Lenient field decoders: the one place where JSON strings and numbers are reconciled.
pub mod lenient {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Int(i64),
        Float(f64),
        Bool(bool),
    }

    /// A string field that may arrive as a number, a bool or `null` (→ empty).
    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(match Option::<Scalar>::deserialize(d)? {
            None => String::new(),
            Some(Scalar::Text(s)) => s,
            Some(Scalar::Int(n)) => n.to_string(),
            Some(Scalar::Float(n)) => n.to_string(),
            Some(Scalar::Bool(b)) => if b { "True" } else { "False" }.to_owned(),
        })
    }

    /// An integer field that may arrive as a numeric string or `null` (→ 0).
    pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        Ok(match Option::<Scalar>::deserialize(d)? {
            None => 0,
            Some(Scalar::Int(n)) => n,
            Some(Scalar::Text(s)) => s.trim().parse().map_err(serde::de::Error::custom)?,
            Some(other) => {
                let shown = match other {
                    Scalar::Float(f) => f.to_string(),
                    _ => "a bool".to_owned(),
                };
                return Err(serde::de::Error::custom(format!(
                    "expected an integer, got {shown}"
                )));
            }
        })
    }

    /// Reads an API string holding a non-negative integer (`"2048"`); `None` if empty or not one.
    pub fn parse_u64(text: &str) -> Option<u64> {
        text.trim().parse().ok()
    }

    /// Reads an API `True`/`False` string (either case).
    pub fn parse_bool(text: &str) -> Option<bool> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
}

/// `BackupMode` of CreateMigrateTask (rds-api.md §1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackupMode {
    /// Restore from a full backup (first or only migration).
    #[serde(rename = "FULL")]
    Full,
    /// A differential or log file on top of an earlier restore.
    #[serde(rename = "UPDF")]
    Incremental,
}

impl BackupMode {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            BackupMode::Full => "FULL",
            BackupMode::Incremental => "UPDF",
        }
    }
}

/// `CheckDBMode`: when DBCC CHECKDB runs (rds-api.md §1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckDbMode {
    /// After the database is opened (the default; faster).
    #[serde(rename = "AsyncExecuteDBCheck")]
    Async,
    /// While opening (slower; a failure fails the task).
    #[serde(rename = "SyncExecuteDBCheck")]
    Sync,
}

impl CheckDbMode {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckDbMode::Async => "AsyncExecuteDBCheck",
            CheckDbMode::Sync => "SyncExecuteDBCheck",
        }
    }
}

/// Where RDS downloads the backup from.
#[derive(Clone, PartialEq, Eq)]
pub enum RestoreSource {
    /// `OssObjectPositions=<endpoint>:<bucket>:<key>`, every version after 2008 R2.
    OssObject {
        /// OSS endpoint host, e.g. `oss-cn-hangzhou.aliyuncs.com`.
        endpoint: String,
        /// Bucket name.
        bucket: String,
        /// Object key; must not contain `:` (the format would be ambiguous, §1.1).
        key: String,
    },
    /// `OSSUrls`: a presigned URL, SQL Server 2008 R2 on local SSD only (§1.1).
    PresignedUrl(String),
}

// Hand-written: a presigned URL is a bearer credential (it may carry an STS token).
impl std::fmt::Debug for RestoreSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestoreSource::OssObject {
                endpoint,
                bucket,
                key,
            } => f
                .debug_struct("OssObject")
                .field("endpoint", endpoint)
                .field("bucket", bucket)
                .field("key", key)
                .finish(),
            RestoreSource::PresignedUrl(_) => f.write_str("PresignedUrl(<redacted>)"),
        }
    }
}

impl RestoreSource {
    /// The `OssObjectPositions` value, `endpoint:bucket:key`.
    pub fn object_position(endpoint: &str, bucket: &str, key: &str) -> String {
        format!("{endpoint}:{bucket}:{key}")
    }

    /// Splits an `OssObjectPositions` value; a leading `/` on the key is dropped (both forms
    /// appear in Alibaba's docs, §1.1).
    pub fn parse_object_position(value: &str) -> Option<(String, String, String)> {
        let mut parts = value.splitn(3, ':');
        let endpoint = parts.next()?.trim();
        let bucket = parts.next()?.trim();
        let key = parts.next()?.trim().trim_start_matches('/');
        if endpoint.is_empty() || bucket.is_empty() || key.is_empty() {
            return None;
        }
        Some((endpoint.to_owned(), bucket.to_owned(), key.to_owned()))
    }
}

/// CreateMigrateTask input (rds-api.md §1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateMigrateTaskRequest {
    /// Instance ID.
    pub db_instance_id: String,
    /// Destination database name.
    pub db_name: String,
    /// FULL or UPDF.
    pub backup_mode: BackupMode,
    /// Open the database after the restore (`True` ⇔ FULL).
    pub is_online_db: bool,
    /// When DBCC CHECKDB runs; only with `is_online_db`.
    pub check_db_mode: Option<CheckDbMode>,
    /// Where the backup is.
    pub source: RestoreSource,
    /// For UPDF: the task this incremental file belongs to.
    pub migrate_task_id: Option<String>,
}

impl CreateMigrateTaskRequest {
    /// The business parameters, in the order the SDKs send them.
    pub fn to_params(&self) -> Vec<(String, String)> {
        let mut p = vec![
            ("DBInstanceId".to_owned(), self.db_instance_id.clone()),
            ("DBName".to_owned(), self.db_name.clone()),
            (
                "BackupMode".to_owned(),
                self.backup_mode.as_str().to_owned(),
            ),
            (
                "IsOnlineDB".to_owned(),
                if self.is_online_db { "True" } else { "False" }.to_owned(),
            ),
        ];
        if let Some(mode) = self.check_db_mode {
            p.push(("CheckDBMode".to_owned(), mode.as_str().to_owned()));
        }
        match &self.source {
            RestoreSource::OssObject {
                endpoint,
                bucket,
                key,
            } => p.push((
                "OssObjectPositions".to_owned(),
                RestoreSource::object_position(endpoint, bucket, key),
            )),
            RestoreSource::PresignedUrl(url) => p.push(("OSSUrls".to_owned(), url.clone())),
        }
        if let Some(id) = &self.migrate_task_id {
            p.push(("MigrateTaskId".to_owned(), id.clone()));
        }
        p
    }
}

/// CreateMigrateTask answer; every field is a string on the wire (§1.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateMigrateTaskResponse {
    /// Request ID.
    #[serde(rename = "RequestId", deserialize_with = "lenient::string")]
    pub request_id: String,
    /// Instance ID.
    #[serde(rename = "DBInstanceId", deserialize_with = "lenient::string")]
    pub db_instance_id: String,
    /// Database name.
    #[serde(rename = "DBName", deserialize_with = "lenient::string")]
    pub db_name: String,
    /// FULL or UPDF.
    #[serde(rename = "BackupMode", deserialize_with = "lenient::string")]
    pub backup_mode: String,
    /// The migration task ID, e.g. `"107081"`.
    #[serde(rename = "MigrateTaskId", deserialize_with = "lenient::string")]
    pub migrate_task_id: String,
    /// The instance-level asynchronous task ID.
    #[serde(rename = "TaskId", deserialize_with = "lenient::string")]
    pub task_id: String,
}

/// An answer that carries only `RequestId` (CreateOnlineDatabaseTask, §1.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestIdOnly {
    /// Request ID.
    #[serde(rename = "RequestId", deserialize_with = "lenient::string")]
    pub request_id: String,
}

/// A migration task's `Status` (rds-api.md §1.7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum TaskStatus {
    /// Not started.
    NoStart,
    /// Running.
    Running,
    /// Succeeded; the Description may still carry a warning.
    Success,
    /// Failed; the Description says why.
    Failed,
    /// Waiting for further incremental files.
    Waiting,
    /// A value this version does not know, kept verbatim.
    Other(String),
}

impl TaskStatus {
    /// Whether the task will not change any more on its own.
    pub fn is_terminal(&self) -> bool {
        matches!(self, TaskStatus::Success | TaskStatus::Failed)
    }

    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            TaskStatus::NoStart => "NoStart",
            TaskStatus::Running => "Running",
            TaskStatus::Success => "Success",
            TaskStatus::Failed => "Failed",
            TaskStatus::Waiting => "Waiting",
            TaskStatus::Other(s) => s,
        }
    }
}

impl From<String> for TaskStatus {
    fn from(s: String) -> Self {
        match s.as_str() {
            "NoStart" => TaskStatus::NoStart,
            "Running" => TaskStatus::Running,
            "Success" => TaskStatus::Success,
            "Failed" => TaskStatus::Failed,
            "Waiting" => TaskStatus::Waiting,
            _ => TaskStatus::Other(s),
        }
    }
}

impl From<TaskStatus> for String {
    fn from(s: TaskStatus) -> Self {
        s.as_str().to_owned()
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Default for TaskStatus {
    fn default() -> Self {
        TaskStatus::Other(String::new())
    }
}

/// One entry of `Items.MigrateTask[]` (DescribeMigrateTasks, §1.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MigrateTask {
    /// Task ID.
    #[serde(rename = "MigrateTaskId", deserialize_with = "lenient::string")]
    pub migrate_task_id: String,
    /// Database name.
    #[serde(rename = "DBName", deserialize_with = "lenient::string")]
    pub db_name: String,
    /// FULL or UPDF.
    #[serde(rename = "BackupMode", deserialize_with = "lenient::string")]
    pub backup_mode: String,
    /// Status.
    #[serde(rename = "Status")]
    pub status: TaskStatus,
    /// `True`/`False`: whether the import overwrote a database.
    #[serde(rename = "IsDBReplaced", deserialize_with = "lenient::string")]
    pub is_db_replaced: String,
    /// `yyyy-MM-ddTHH:mm:ssZ`.
    #[serde(rename = "CreateTime", deserialize_with = "lenient::string")]
    pub create_time: String,
    /// `yyyy-MM-ddTHH:mm:ssZ`, empty while running.
    #[serde(rename = "EndTime", deserialize_with = "lenient::string")]
    pub end_time: String,
    /// Free-text outcome (rds-api.md §5).
    #[serde(rename = "Description", deserialize_with = "lenient::string")]
    pub description: String,
}

/// `Items: { MigrateTask: [...] }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MigrateTaskItems {
    /// The tasks.
    #[serde(rename = "MigrateTask")]
    pub migrate_task: Vec<MigrateTask>,
}

/// DescribeMigrateTasks answer (§1.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DescribeMigrateTasksResponse {
    /// Request ID.
    #[serde(rename = "RequestId", deserialize_with = "lenient::string")]
    pub request_id: String,
    /// Instance ID.
    #[serde(rename = "DBInstanceId", deserialize_with = "lenient::string")]
    pub db_instance_id: String,
    /// Page number (integer on the wire).
    #[serde(rename = "PageNumber", deserialize_with = "lenient::int")]
    pub page_number: i64,
    /// Entries on this page.
    #[serde(rename = "PageRecordCount", deserialize_with = "lenient::int")]
    pub page_record_count: i64,
    /// Entries in total.
    #[serde(rename = "TotalRecordCount", deserialize_with = "lenient::int")]
    pub total_record_count: i64,
    /// The tasks.
    #[serde(rename = "Items")]
    pub items: MigrateTaskItems,
}

/// DescribeMigrateTaskById answer: a flat object (§1.4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DescribeMigrateTaskByIdResponse {
    /// Request ID.
    #[serde(rename = "RequestId", deserialize_with = "lenient::string")]
    pub request_id: String,
    /// Task ID.
    #[serde(rename = "MigrateTaskId", deserialize_with = "lenient::string")]
    pub migrate_task_id: String,
    /// Database name.
    #[serde(rename = "DBName", deserialize_with = "lenient::string")]
    pub db_name: String,
    /// Holds the instance ID despite its name (§1.4).
    #[serde(rename = "DBInstanceName", deserialize_with = "lenient::string")]
    pub db_instance_name: String,
    /// FULL or UPDF.
    #[serde(rename = "BackupMode", deserialize_with = "lenient::string")]
    pub backup_mode: String,
    /// Status.
    #[serde(rename = "Status")]
    pub status: TaskStatus,
    /// `True`/`False`.
    #[serde(rename = "IsDBReplaced", deserialize_with = "lenient::string")]
    pub is_db_replaced: String,
    /// `yyyy-MM-ddTHH:mm:ssZ`.
    #[serde(rename = "CreateTime", deserialize_with = "lenient::string")]
    pub create_time: String,
    /// `yyyy-MM-ddTHH:mm:ssZ`, empty while running.
    #[serde(rename = "EndTime", deserialize_with = "lenient::string")]
    pub end_time: String,
    /// Free-text outcome (§5).
    #[serde(rename = "Description", deserialize_with = "lenient::string")]
    pub description: String,
}

/// One entry of `Items.OssDownload[]` (DescribeOssDownloads, §1.5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OssDownload {
    /// OSS object name.
    #[serde(rename = "FileName", deserialize_with = "lenient::string")]
    pub file_name: String,
    /// Size in **MB**, a string on the wire.
    #[serde(rename = "FileSize", deserialize_with = "lenient::string")]
    pub file_size: String,
    /// `Database`, `Differential_Database` or `Transaction_Log`.
    #[serde(rename = "BackupMode", deserialize_with = "lenient::string")]
    pub backup_mode: String,
    /// `True`/`False`.
    #[serde(rename = "IsAvailable", deserialize_with = "lenient::string")]
    pub is_available: String,
    /// `NoStart`, `Downloading`, `Finished`, `CheckSuccess`, `Restoring`, `Restored`, ... (§1.5).
    #[serde(rename = "Status", deserialize_with = "lenient::string")]
    pub status: String,
    /// `yyyy-MM-ddTHH:mm:ssZ`.
    #[serde(rename = "CreateTime", deserialize_with = "lenient::string")]
    pub create_time: String,
    /// `yyyy-MM-ddTHH:mm:ssZ`.
    #[serde(rename = "EndTime", deserialize_with = "lenient::string")]
    pub end_time: String,
    /// Free text.
    #[serde(rename = "Description", deserialize_with = "lenient::string")]
    pub description: String,
}

impl OssDownload {
    /// The file size in MB, if the service gave one.
    pub fn file_size_mb(&self) -> Option<u64> {
        lenient::parse_u64(&self.file_size)
    }
}

/// `Items: { OssDownload: [...] }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OssDownloadItems {
    /// The files.
    #[serde(rename = "OssDownload")]
    pub oss_download: Vec<OssDownload>,
}

/// DescribeOssDownloads answer (§1.5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DescribeOssDownloadsResponse {
    /// Request ID.
    #[serde(rename = "RequestId", deserialize_with = "lenient::string")]
    pub request_id: String,
    /// Instance ID.
    #[serde(rename = "DBInstanceId", deserialize_with = "lenient::string")]
    pub db_instance_id: String,
    /// Task ID.
    #[serde(rename = "MigrateTaskId", deserialize_with = "lenient::string")]
    pub migrate_task_id: String,
    /// Per-file detail.
    #[serde(rename = "Items")]
    pub items: OssDownloadItems,
}

/// One entry of `Items.DBInstanceAttribute[]` (§1.8); only the fields bak2rds reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DbInstanceAttribute {
    /// Instance ID.
    #[serde(rename = "DBInstanceId", deserialize_with = "lenient::string")]
    pub db_instance_id: String,
    /// `SQLServer` for us.
    #[serde(rename = "Engine", deserialize_with = "lenient::string")]
    pub engine: String,
    /// e.g. `2019_std_ha`, `2008r2`.
    #[serde(rename = "EngineVersion", deserialize_with = "lenient::string")]
    pub engine_version: String,
    /// `Basic`, `HighAvailability`, `AlwaysOn`, ...
    #[serde(rename = "Category", deserialize_with = "lenient::string")]
    pub category: String,
    /// Storage in **GB** (integer on the wire).
    #[serde(rename = "DBInstanceStorage", deserialize_with = "lenient::int")]
    pub db_instance_storage: i64,
    /// Used space, a string on the wire (bytes).
    #[serde(rename = "DBInstanceDiskUsed", deserialize_with = "lenient::string")]
    pub db_instance_disk_used: String,
    /// `local_ssd`, `cloud_essd`, ...
    #[serde(rename = "DBInstanceStorageType", deserialize_with = "lenient::string")]
    pub db_instance_storage_type: String,
    /// `Running` is the only state a restore makes sense in.
    #[serde(rename = "DBInstanceStatus", deserialize_with = "lenient::string")]
    pub db_instance_status: String,
    /// `Unlock`, `ManualLock`, ...
    #[serde(rename = "LockMode", deserialize_with = "lenient::string")]
    pub lock_mode: String,
    /// Region ID, e.g. `cn-hangzhou`.
    #[serde(rename = "RegionId", deserialize_with = "lenient::string")]
    pub region_id: String,
    /// Zone ID.
    #[serde(rename = "ZoneId", deserialize_with = "lenient::string")]
    pub zone_id: String,
    /// Maximum number of databases (integer on the wire).
    #[serde(rename = "DBMaxQuantity", deserialize_with = "lenient::int")]
    pub db_max_quantity: i64,
    /// Maximum number of accounts.
    #[serde(rename = "AccountMaxQuantity", deserialize_with = "lenient::int")]
    pub account_max_quantity: i64,
    /// `Primary`, `Readonly`, `Guard`, `Temp`.
    #[serde(rename = "DBInstanceType", deserialize_with = "lenient::string")]
    pub db_instance_type: String,
}

impl DbInstanceAttribute {
    /// Used space in bytes, if the string holds a number.
    pub fn disk_used_bytes(&self) -> Option<u64> {
        lenient::parse_u64(&self.db_instance_disk_used)
    }
}

/// `Items: { DBInstanceAttribute: [...] }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DbInstanceAttributeItems {
    /// The instances (one when one ID is asked).
    #[serde(rename = "DBInstanceAttribute")]
    pub db_instance_attribute: Vec<DbInstanceAttribute>,
}

/// DescribeDBInstanceAttribute answer (§1.8).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DescribeDbInstanceAttributeResponse {
    /// Request ID.
    #[serde(rename = "RequestId", deserialize_with = "lenient::string")]
    pub request_id: String,
    /// The instances.
    #[serde(rename = "Items")]
    pub items: DbInstanceAttributeItems,
}

/// One entry of `Databases.Database[]` (§1.8).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Database {
    /// Name.
    #[serde(rename = "DBName", deserialize_with = "lenient::string")]
    pub db_name: String,
    /// `Creating`, `Running`, `Deleting`.
    #[serde(rename = "DBStatus", deserialize_with = "lenient::string")]
    pub db_status: String,
    /// Engine.
    #[serde(rename = "Engine", deserialize_with = "lenient::string")]
    pub engine: String,
    /// Collation / character set.
    #[serde(rename = "CharacterSetName", deserialize_with = "lenient::string")]
    pub character_set_name: String,
    /// Free-text description.
    #[serde(rename = "DBDescription", deserialize_with = "lenient::string")]
    pub db_description: String,
}

/// `Databases: { Database: [...] }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseItems {
    /// The databases.
    #[serde(rename = "Database")]
    pub database: Vec<Database>,
}

/// DescribeDatabases answer (§1.8).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DescribeDatabasesResponse {
    /// Request ID.
    #[serde(rename = "RequestId", deserialize_with = "lenient::string")]
    pub request_id: String,
    /// The databases.
    #[serde(rename = "Databases")]
    pub databases: DatabaseItems,
}

/// One entry of `Accounts.DBInstanceAccount[]` (§1.8).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Account {
    /// Name.
    #[serde(rename = "AccountName", deserialize_with = "lenient::string")]
    pub account_name: String,
    /// `Normal`, `Super` (privileged), `Sysadmin`, `GlobalRO`.
    #[serde(rename = "AccountType", deserialize_with = "lenient::string")]
    pub account_type: String,
    /// `Available` / `Unavailable`.
    #[serde(rename = "AccountStatus", deserialize_with = "lenient::string")]
    pub account_status: String,
}

impl Account {
    /// A usable privileged account: `Super` or `Sysadmin`, `Available` (§1.8).
    pub fn is_privileged_and_available(&self) -> bool {
        matches!(self.account_type.as_str(), "Super" | "Sysadmin")
            && self.account_status == "Available"
    }
}

/// `Accounts: { DBInstanceAccount: [...] }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountItems {
    /// The accounts.
    #[serde(rename = "DBInstanceAccount")]
    pub db_instance_account: Vec<Account>,
}

/// DescribeAccounts answer (§1.8).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DescribeAccountsResponse {
    /// Request ID.
    #[serde(rename = "RequestId", deserialize_with = "lenient::string")]
    pub request_id: String,
    /// The accounts.
    #[serde(rename = "Accounts")]
    pub accounts: AccountItems,
}

/// DescribeBackupPolicy answer: when the instance's automatic data backups run (RDS API
/// 2014-08-15; times in UTC).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DescribeBackupPolicyResponse {
    /// Request ID.
    #[serde(rename = "RequestId", deserialize_with = "lenient::string")]
    pub request_id: String,
    /// The backup window, `HH:mmZ-HH:mmZ`, e.g. `18:00Z-19:00Z`.
    #[serde(rename = "PreferredBackupTime", deserialize_with = "lenient::string")]
    pub preferred_backup_time: String,
    /// The days backups run, e.g. `Monday,Wednesday,Friday`.
    #[serde(rename = "PreferredBackupPeriod", deserialize_with = "lenient::string")]
    pub preferred_backup_period: String,
    /// Days data backups are kept.
    #[serde(rename = "BackupRetentionPeriod", deserialize_with = "lenient::int")]
    pub backup_retention_period: i64,
    /// The next backup's time, `yyyy-MM-ddTHH:mmZ`, when the service gives it.
    #[serde(
        rename = "PreferredNextBackupTime",
        deserialize_with = "lenient::string"
    )]
    pub preferred_next_backup_time: String,
}

/// DescribeResourceUsage answer (§1.8): sizes in bytes, −1 meaning "no data".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DescribeResourceUsageResponse {
    /// Request ID.
    #[serde(rename = "RequestId", deserialize_with = "lenient::string")]
    pub request_id: String,
    /// Instance ID.
    #[serde(rename = "DBInstanceId", deserialize_with = "lenient::string")]
    pub db_instance_id: String,
    /// Engine.
    #[serde(rename = "Engine", deserialize_with = "lenient::string")]
    pub engine: String,
    /// Data + log bytes.
    #[serde(rename = "DiskUsed", deserialize_with = "lenient::int")]
    pub disk_used: i64,
    /// Data bytes.
    #[serde(rename = "DataSize", deserialize_with = "lenient::int")]
    pub data_size: i64,
    /// Log bytes.
    #[serde(rename = "LogSize", deserialize_with = "lenient::int")]
    pub log_size: i64,
    /// Backup bytes.
    #[serde(rename = "BackupSize", deserialize_with = "lenient::int")]
    pub backup_size: i64,
}

impl DescribeResourceUsageResponse {
    /// Used bytes, `None` when the service has no data (−1).
    pub fn disk_used_bytes(&self) -> Option<u64> {
        u64::try_from(self.disk_used).ok()
    }
}

/// Alibaba's JSON error body (rds-api.md §0, §1.9).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    /// Request ID.
    #[serde(rename = "RequestId", deserialize_with = "lenient::string")]
    pub request_id: String,
    /// Host that answered.
    #[serde(rename = "HostId", deserialize_with = "lenient::string")]
    pub host_id: String,
    /// Stable error code, e.g. `Throttling.User`.
    #[serde(rename = "Code", deserialize_with = "lenient::string")]
    pub code: String,
    /// Human-readable message.
    #[serde(rename = "Message", deserialize_with = "lenient::string")]
    pub message: String,
    /// Troubleshooting link.
    #[serde(rename = "Recommend", skip_serializing_if = "String::is_empty")]
    pub recommend: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_lists_and_string_numbers_parse() {
        // Shape of the tea-openapi capture in rds_sign_vectors.out §4c.
        let body = r#"{"RequestId":"R","DBInstanceId":"rm-1","MigrateTaskId":"107081","Items":{"OssDownload":[{"BackupMode":"Database","CreateTime":"2024-05-01T08:00:06Z","Description":"","EndTime":"","FileName":"sales_db_FULL_20240501.bak","FileSize":"2048","IsAvailable":"True","Status":"Restoring"}]}}"#;
        let parsed: DescribeOssDownloadsResponse = serde_json::from_str(body).unwrap();
        let file = &parsed.items.oss_download[0];
        assert_eq!(file.file_size_mb(), Some(2048));
        assert_eq!(lenient::parse_bool(&file.is_available), Some(true));
        assert_eq!(file.status, "Restoring");
    }

    #[test]
    fn numbers_where_strings_are_documented_and_back() {
        let body = r#"{"Items":{"MigrateTask":[{"MigrateTaskId":107081,"Status":"Failed","IsDBReplaced":null}]},"PageNumber":"1","TotalRecordCount":1}"#;
        let parsed: DescribeMigrateTasksResponse = serde_json::from_str(body).unwrap();
        assert_eq!(parsed.items.migrate_task[0].migrate_task_id, "107081");
        assert_eq!(parsed.items.migrate_task[0].status, TaskStatus::Failed);
        assert_eq!(parsed.page_number, 1);
        let attr: DbInstanceAttribute =
            serde_json::from_str(r#"{"DBInstanceStorage":"20","DBInstanceDiskUsed":5}"#).unwrap();
        assert_eq!(attr.db_instance_storage, 20);
        assert_eq!(attr.disk_used_bytes(), Some(5));
        assert!(
            serde_json::from_str::<DbInstanceAttribute>(r#"{"DBInstanceStorage":"x"}"#).is_err()
        );
    }

    #[test]
    fn emits_strings_for_string_fields() {
        let r = CreateMigrateTaskResponse {
            migrate_task_id: "7".into(),
            ..Default::default()
        };
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["MigrateTaskId"], serde_json::json!("7"));
    }

    #[test]
    fn object_positions_split() {
        assert_eq!(
            RestoreSource::parse_object_position("oss-x.aliyuncs.com:b:/a/b.bak"),
            Some(("oss-x.aliyuncs.com".into(), "b".into(), "a/b.bak".into()))
        );
        assert_eq!(RestoreSource::parse_object_position("host:bucket"), None);
    }
}

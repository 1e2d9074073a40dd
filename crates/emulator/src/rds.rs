//! The emulated RDS API: an axum router behind the shared RPC gateway (`rpc_auth.rs`: the
//! three signing dialects of the official SDKs, keys from the emulator's key ring, Alibaba's
//! JSON error format), holding instances from config and simulating restores:
//! CreateMigrateTask reads the object through an [`ObjectSource`], judges it with the backup
//! reader ([`super::restore`]), and the task moves `NoStart → Running → Success|Failed` over a
//! configurable time, or for an incremental migration `→ Waiting` between files until
//! CreateOnlineDatabaseTask opens the database (§1.6, §1.7), with DescribeOssDownloads
//! per-file statuses (§1.5). DeleteDatabase drops a restored or restoring database, so that a
//! rehearsal can restore the same name again. The migration actions live in
//! `rds/migration.rs`, the task book in `rds_tasks.rs`.
//!
//! Task state is a function of the time since each step started, computed when asked: no
//! background tasks to own or cancel.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

mod migration;

use super::keyring::KeyRing;
use super::rds_tasks::{DailyQuota, DbState, Task};
pub(crate) use super::rpc_auth::{ApiError, ApiResult, Call};
use super::rpc_auth::{RpcAuth, RpcRequest, header, respond, to_json};
use bak2rds_cloud::rds::model::*;
use bak2rds_cloud::rds::sign;

/// Where the emulated RDS reads backup objects from (the emulator's own OSS store).
pub trait ObjectSource: Send + Sync {
    /// The whole object, or `None` if the bucket or key does not exist.
    fn read_object(&self, bucket: &str, key: &str) -> std::io::Result<Option<Bytes>>;
}

/// An account on an emulated instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// Account name.
    pub name: String,
    /// `Super` (privileged, the default), `Normal`, `Sysadmin`, `GlobalRO`.
    #[serde(rename = "type", default = "defaults::account_type")]
    pub account_type: String,
    /// `Available` (the default) or `Unavailable`.
    #[serde(default = "defaults::account_status")]
    pub status: String,
    /// Databases this account may not open. A migration restoring one of them fails when the
    /// database is opened, with the guide's login failure ("Cannot open database … requested by
    /// the login").
    #[serde(default)]
    pub denied_databases: Vec<String>,
}

/// One emulated instance (a TOML `[[instance]]` table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfig {
    /// Instance ID, e.g. `rm-emulator0001`.
    pub id: String,
    /// Region ID.
    #[serde(default = "defaults::region")]
    pub region: String,
    /// Engine; `SQLServer` unless testing a wrong-engine refusal.
    #[serde(default = "defaults::engine")]
    pub engine: String,
    /// Engine version, e.g. `2019_std_ha`, `2008r2` (§1.8).
    #[serde(default = "defaults::engine_version")]
    pub engine_version: String,
    /// Storage in GB.
    #[serde(default = "defaults::storage_gb")]
    pub storage_gb: u64,
    /// Bytes already used.
    #[serde(default)]
    pub used_bytes: u64,
    /// `Basic`, `HighAvailability`, `AlwaysOn`...
    #[serde(default = "defaults::category")]
    pub category: String,
    /// `cloud_essd`, `local_ssd`...
    #[serde(default = "defaults::storage_type")]
    pub storage_type: String,
    /// `Running` unless testing a state refusal.
    #[serde(default = "defaults::status")]
    pub status: String,
    /// Databases that exist from the start.
    #[serde(default)]
    pub databases: Vec<String>,
    /// Accounts (default: one available privileged account).
    #[serde(default = "defaults::accounts")]
    pub accounts: Vec<AccountConfig>,
    /// `DBMaxQuantity`; none when absent.
    #[serde(default)]
    pub database_limit: Option<u64>,
    /// Automatic backup window, `HH:mmZ-HH:mmZ` (DescribeBackupPolicy).
    #[serde(default = "defaults::backup_time")]
    pub backup_time: String,
    /// Automatic backup days, e.g. `Monday,Wednesday,Friday`.
    #[serde(default = "defaults::backup_period")]
    pub backup_period: String,
}

/// The RDS part of the emulator's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RdsConfig {
    /// The instances (`[[instance]]`).
    #[serde(rename = "instance", default = "defaults::instances")]
    pub instances: Vec<InstanceConfig>,
    /// How long a restore takes from CreateMigrateTask to Success/Failed, in milliseconds;
    /// also each incremental file and the opening of an incremental migration.
    #[serde(default = "defaults::restore_ms")]
    pub restore_ms: u64,
    /// CreateMigrateTask calls allowed per database per instance per UTC day; more are
    /// refused with `UploadLimitExceeded` (§1.1: 20).
    #[serde(default = "defaults::migrations_per_database_per_day")]
    pub migrations_per_database_per_day: u32,
    /// CreateMigrateTask calls allowed per instance per UTC day; more are refused with
    /// `ConcurrentTaskExceeded` (§1.1: 500).
    #[serde(default = "defaults::migrations_per_instance_per_day")]
    pub migrations_per_instance_per_day: u32,
    /// The wording of task Descriptions: `current` (Alibaba's migration guide today, the
    /// default) or `older` (`rds-api.md` §5), so both stay tested against clients.
    #[serde(default)]
    pub task_messages: crate::restore::Wording,
}

impl Default for RdsConfig {
    fn default() -> Self {
        RdsConfig {
            instances: defaults::instances(),
            restore_ms: defaults::restore_ms(),
            migrations_per_database_per_day: defaults::migrations_per_database_per_day(),
            migrations_per_instance_per_day: defaults::migrations_per_instance_per_day(),
            task_messages: crate::restore::Wording::default(),
        }
    }
}

mod defaults {
    use super::{AccountConfig, InstanceConfig};

    pub fn account_type() -> String {
        "Super".into()
    }
    pub fn account_status() -> String {
        "Available".into()
    }
    pub fn region() -> String {
        "cn-hangzhou".into()
    }
    pub fn engine() -> String {
        "SQLServer".into()
    }
    pub fn engine_version() -> String {
        "2019_std_ha".into()
    }
    /// 100 GB: a common small instance, ample for demos.
    pub fn storage_gb() -> u64 {
        100
    }
    pub fn category() -> String {
        "HighAvailability".into()
    }
    pub fn storage_type() -> String {
        "cloud_essd".into()
    }
    pub fn status() -> String {
        "Running".into()
    }
    pub fn accounts() -> Vec<AccountConfig> {
        vec![AccountConfig {
            name: "dbadmin".into(),
            account_type: account_type(),
            status: account_status(),
            denied_databases: Vec::new(),
        }]
    }
    pub fn instances() -> Vec<InstanceConfig> {
        vec![InstanceConfig {
            id: "rm-emulator0001".into(),
            region: region(),
            engine: engine(),
            engine_version: engine_version(),
            storage_gb: storage_gb(),
            used_bytes: 0,
            category: category(),
            storage_type: storage_type(),
            status: status(),
            databases: Vec::new(),
            accounts: accounts(),
            database_limit: None,
            backup_time: backup_time(),
            backup_period: backup_period(),
        }]
    }
    /// 3 s: long enough to watch the statuses change, short enough for a demo.
    pub fn backup_time() -> String {
        "18:00Z-19:00Z".to_owned()
    }
    pub fn backup_period() -> String {
        "Monday,Wednesday,Friday".to_owned()
    }
    pub fn restore_ms() -> u64 {
        3000
    }
    /// rds-api.md §1.1, from the documented `UploadLimitExceeded` quota.
    pub fn migrations_per_database_per_day() -> u32 {
        20
    }
    /// rds-api.md §1.1, from the documented `ConcurrentTaskExceeded` quota.
    pub fn migrations_per_instance_per_day() -> u32 {
        500
    }
}

/// The first task ID handed out (the size of real IDs, e.g. `107081` in §2.3).
const FIRST_TASK_ID: u64 = 100_001;

/// The first instance-level task ID; a numbering unrelated to migration tasks, as in the
/// real service.
const FIRST_ASYNC_TASK_ID: u64 = 5_100_001;

/// Gateway failures the emulator can be told to answer with (rds-api.md §1.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdsFault {
    /// 400 `Throttling.User`.
    Throttling,
    /// 503 `ServiceUnavailable`.
    ServiceUnavailable,
    /// 500 `InternalError`.
    InternalError,
}

impl RdsFault {
    fn error(self) -> ApiError {
        match self {
            RdsFault::Throttling => ApiError::new(
                400,
                "Throttling.User",
                "Request was denied due to user flow control.",
            ),
            RdsFault::ServiceUnavailable => ApiError::new(
                503,
                "ServiceUnavailable",
                "The request has failed due to a temporary failure of the server.",
            ),
            RdsFault::InternalError => ApiError::new(
                500,
                "InternalError",
                "The request processing has failed due to some unknown error, exception or failure.",
            ),
        }
    }
}

#[derive(Debug, Default)]
/// Everything that changes while the emulator runs.
struct Book {
    tasks: Vec<Task>,
    next_task_id: u64,
    /// The instance-level asynchronous task IDs (`TaskId`), one per accepted CreateMigrateTask.
    next_async_task_id: u64,
    quota: DailyQuota,
    /// Databases of the configuration (`InstanceConfig::databases`) that DeleteDatabase
    /// dropped: (instance, ASCII lower-case name). Their space stays used: the configuration
    /// gives one `used_bytes` for the instance, not a size per database.
    dropped_configured: HashSet<(String, String)>,
    /// Injected failure and how many more requests get it.
    fault: Option<(RdsFault, u32)>,
}

/// The emulated RDS service.
pub struct RdsEmulator {
    config: RdsConfig,
    auth: RpcAuth,
    objects: Arc<dyn ObjectSource>,
    state: Mutex<Book>,
}

impl std::fmt::Debug for RdsEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RdsEmulator")
            .field("config", &self.config)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl RdsEmulator {
    /// An emulator with these instances, accepting the ring's keys, reading objects from
    /// `objects`.
    pub fn new(config: RdsConfig, keys: Arc<KeyRing>, objects: Arc<dyn ObjectSource>) -> Self {
        RdsEmulator {
            config,
            auth: RpcAuth::new(sign::API_VERSION, keys),
            objects,
            state: Mutex::new(Book {
                next_task_id: FIRST_TASK_ID,
                next_async_task_id: FIRST_ASYNC_TASK_ID,
                ..Book::default()
            }),
        }
    }

    /// The configured instance IDs, in order.
    pub fn instance_ids(&self) -> Vec<String> {
        self.config.instances.iter().map(|i| i.id.clone()).collect()
    }

    /// Fault injection: the next `count` requests are answered with `fault` (0 clears it).
    pub fn fail_next(&self, count: u32, fault: RdsFault) {
        self.lock().fault = (count > 0).then_some((fault, count));
    }

    /// The router serving `/`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new().fallback(handle).with_state(self)
    }

    fn lock(&self) -> MutexGuard<'_, Book> {
        // A panic while holding the lock cannot leave the state half-written in a way that
        // matters to an emulator; keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn restore_time(&self) -> Duration {
        Duration::from_millis(self.config.restore_ms)
    }

    /// Authenticates, then runs the action.
    pub(crate) fn serve(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> ApiResult<serde_json::Value> {
        {
            let mut state = self.lock();
            if let Some((fault, remaining)) = state.fault {
                state.fault = (remaining > 1).then(|| (fault, remaining - 1));
                return Err(fault.error());
            }
        }
        if uri.path() != "/" {
            return Err(ApiError::action_not_found());
        }
        let request = RpcRequest {
            method,
            uri,
            headers,
            body,
        };
        let call = self.auth.authenticate(request, OffsetDateTime::now_utc())?;
        self.dispatch(&call)
    }

    fn dispatch(&self, call: &Call) -> ApiResult<serde_json::Value> {
        let answer = match call.action.as_str() {
            "CreateMigrateTask" => to_json(&self.create_migrate_task(call)?),
            "CreateOnlineDatabaseTask" => to_json(&self.create_online_database_task(call)?),
            "DescribeMigrateTasks" => to_json(&self.describe_migrate_tasks(call)?),
            "DescribeMigrateTaskById" => to_json(&self.describe_migrate_task_by_id(call)?),
            "DescribeOssDownloads" => to_json(&self.describe_oss_downloads(call)?),
            "DescribeDBInstanceAttribute" => to_json(&self.describe_attribute(call)?),
            "DescribeDatabases" => to_json(&self.describe_databases(call)?),
            "DeleteDatabase" => to_json(&self.delete_database(call)?),
            "DescribeAccounts" => to_json(&self.describe_accounts(call)?),
            "DescribeResourceUsage" => to_json(&self.describe_resource_usage(call)?),
            "DescribeBackupPolicy" => to_json(&self.describe_backup_policy(call)?),
            _ => return Err(ApiError::action_not_found()),
        };
        Ok(answer)
    }

    // ---------------------------------------------------------------- instances

    fn instance(&self, call: &Call) -> ApiResult<&InstanceConfig> {
        let id = call.require("DBInstanceId")?;
        self.config
            .instances
            .iter()
            .find(|i| i.id == id)
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "InvalidDBInstanceId.NotFound",
                    "The specified DBInstanceId does not exist.",
                )
            })
    }

    /// Configured databases (online) plus those tasks have restored, with their state.
    fn database_states(&self, instance: &InstanceConfig, state: &Book) -> Vec<(String, DbState)> {
        let now = tokio::time::Instant::now();
        let total = self.restore_time();
        let mut names: Vec<(String, DbState)> = instance
            .databases
            .iter()
            .filter(|name| {
                !state
                    .dropped_configured
                    .contains(&(instance.id.clone(), name.to_ascii_lowercase()))
            })
            .map(|name| (name.clone(), DbState::Running))
            .collect();
        names.extend(
            state
                .tasks
                .iter()
                .filter(|t| t.instance_id == instance.id)
                .filter_map(|t| Some((t.db_name.clone(), t.database(now, total)?))),
        );
        names
    }

    /// The names of every database on the instance, restoring ones included: they clash with a
    /// new restore of the same name and count against the database limit.
    fn databases_of(&self, instance: &InstanceConfig, state: &Book) -> Vec<String> {
        self.database_states(instance, state)
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    /// Used bytes: configured plus the restored databases.
    fn used_bytes_of(&self, instance: &InstanceConfig, state: &Book) -> u64 {
        let now = tokio::time::Instant::now();
        let total = self.restore_time();
        state
            .tasks
            .iter()
            .filter(|t| t.instance_id == instance.id && t.database(now, total).is_some())
            .fold(instance.used_bytes, |sum, t| {
                sum.saturating_add(t.restored_bytes)
            })
    }

    fn free_bytes_of(&self, instance: &InstanceConfig, state: &Book) -> u64 {
        instance
            .storage_gb
            .saturating_mul(1 << 30)
            .saturating_sub(self.used_bytes_of(instance, state))
    }

    // ---------------------------------------------------------------- actions

    fn task<'s>(&self, state: &'s Book, call: &Call) -> ApiResult<&'s Task> {
        let instance = self.instance(call)?;
        let id = call.require("MigrateTaskId")?;
        state
            .tasks
            .iter()
            .find(|t| t.instance_id == instance.id && t.id.to_string() == id)
            .ok_or_else(task_not_found)
    }

    fn describe_migrate_tasks(&self, call: &Call) -> ApiResult<DescribeMigrateTasksResponse> {
        let instance = self.instance(call)?;
        let start = parse_minutes(call.require("StartTime")?)
            .ok_or_else(|| ApiError::invalid("StartTime"))?;
        let end =
            parse_minutes(call.require("EndTime")?).ok_or_else(|| ApiError::invalid("EndTime"))?;
        if end <= start {
            return Err(ApiError::invalid("EndTime"));
        }
        let page_size = page_param(call, "PageSize", 30)?.clamp(30, 100);
        let page_number = page_param(call, "PageNumber", 1)?.max(1);
        let state = self.lock();
        let now = tokio::time::Instant::now();
        let mut matching: Vec<MigrateTask> = state
            .tasks
            .iter()
            .filter(|t| t.instance_id == instance.id)
            // Minute precision on the wire: a task is in the window if its minute is.
            .filter(|t| {
                let minute = t
                    .create_time
                    .replace_second(0)
                    .unwrap_or(t.create_time)
                    .replace_nanosecond(0)
                    .unwrap_or(t.create_time);
                minute >= start && minute <= end
            })
            .map(|t| t.view(now, self.restore_time()))
            .collect();
        matching.reverse();
        let total = matching.len();
        let skip = usize::try_from((page_number - 1) * page_size).unwrap_or(usize::MAX);
        let take = usize::try_from(page_size).unwrap_or(usize::MAX);
        let page: Vec<MigrateTask> = matching.into_iter().skip(skip).take(take).collect();
        Ok(DescribeMigrateTasksResponse {
            request_id: String::new(),
            db_instance_id: instance.id.clone(),
            page_number: i64::try_from(page_number).unwrap_or(i64::MAX),
            page_record_count: i64::try_from(page.len()).unwrap_or(i64::MAX),
            total_record_count: i64::try_from(total).unwrap_or(i64::MAX),
            items: MigrateTaskItems { migrate_task: page },
        })
    }

    fn describe_migrate_task_by_id(
        &self,
        call: &Call,
    ) -> ApiResult<DescribeMigrateTaskByIdResponse> {
        let state = self.lock();
        let task = self.task(&state, call)?;
        let t = task.view(tokio::time::Instant::now(), self.restore_time());
        Ok(DescribeMigrateTaskByIdResponse {
            request_id: String::new(),
            migrate_task_id: t.migrate_task_id,
            db_name: t.db_name,
            db_instance_name: task.instance_id.clone(),
            backup_mode: t.backup_mode,
            status: t.status,
            is_db_replaced: t.is_db_replaced,
            create_time: t.create_time,
            end_time: t.end_time,
            description: t.description,
        })
    }

    fn describe_oss_downloads(&self, call: &Call) -> ApiResult<DescribeOssDownloadsResponse> {
        let state = self.lock();
        let task = self.task(&state, call)?;
        Ok(DescribeOssDownloadsResponse {
            request_id: String::new(),
            db_instance_id: task.instance_id.clone(),
            migrate_task_id: task.id.to_string(),
            items: OssDownloadItems {
                oss_download: task.downloads(tokio::time::Instant::now(), self.restore_time()),
            },
        })
    }

    fn describe_attribute(&self, call: &Call) -> ApiResult<DescribeDbInstanceAttributeResponse> {
        let instance = self.instance(call)?;
        let state = self.lock();
        Ok(DescribeDbInstanceAttributeResponse {
            request_id: String::new(),
            items: DbInstanceAttributeItems {
                db_instance_attribute: vec![DbInstanceAttribute {
                    db_instance_id: instance.id.clone(),
                    engine: instance.engine.clone(),
                    engine_version: instance.engine_version.clone(),
                    category: instance.category.clone(),
                    db_instance_storage: i64::try_from(instance.storage_gb).unwrap_or(i64::MAX),
                    db_instance_disk_used: self.used_bytes_of(instance, &state).to_string(),
                    db_instance_storage_type: instance.storage_type.clone(),
                    db_instance_status: instance.status.clone(),
                    lock_mode: "Unlock".into(),
                    region_id: instance.region.clone(),
                    zone_id: format!("{}-a", instance.region),
                    db_max_quantity: instance
                        .database_limit
                        .and_then(|n| i64::try_from(n).ok())
                        .unwrap_or(0),
                    account_max_quantity: 100,
                    db_instance_type: "Primary".into(),
                }],
            },
        })
    }

    fn describe_databases(&self, call: &Call) -> ApiResult<DescribeDatabasesResponse> {
        let instance = self.instance(call)?;
        let wanted = call.get("DBName");
        let state = self.lock();
        let database = self
            .database_states(instance, &state)
            .into_iter()
            .filter(|(name, _)| wanted.is_none_or(|w| w.eq_ignore_ascii_case(name)))
            .map(|(name, db_state)| Database {
                db_name: name,
                db_status: db_state.wire().into(),
                engine: instance.engine.clone(),
                character_set_name: "SQL_Latin1_General_CP1_CI_AS".into(),
                db_description: String::new(),
            })
            .collect();
        Ok(DescribeDatabasesResponse {
            request_id: String::new(),
            databases: DatabaseItems { database },
        })
    }

    /// DeleteDatabase: drops a database, restored or restoring, so that its name can be
    /// restored again (what the fix of a name clash asks for). A database a restore step is
    /// still working on cannot be dropped; the documentation lists `Database.DelError` for a
    /// state that does not allow it, and which state that is, is our reading. The service's
    /// database shows `Deleting` for a while (§1.8); here it is gone at once.
    fn delete_database(&self, call: &Call) -> ApiResult<RequestIdOnly> {
        let instance = self.instance(call)?;
        let db_name = call.require("DBName")?;
        migration::require_running(instance)?;
        let mut state = self.lock();
        let now = tokio::time::Instant::now();
        let total = self.restore_time();
        let same_name =
            |t: &Task| t.instance_id == instance.id && t.db_name.eq_ignore_ascii_case(db_name);
        if state
            .tasks
            .iter()
            .any(|t| same_name(t) && t.is_busy(now, total))
        {
            return Err(ApiError::new(
                400,
                "Database.DelError",
                "Failed to delete the database. Check the specified parameters and the instance state.",
            ));
        }
        let exists = self
            .database_states(instance, &state)
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(db_name));
        if !exists {
            return Err(migration::db_name_not_found());
        }
        for task in state.tasks.iter_mut().filter(|t| same_name(t)) {
            task.drop_database();
        }
        if instance
            .databases
            .iter()
            .any(|d| d.eq_ignore_ascii_case(db_name))
        {
            state
                .dropped_configured
                .insert((instance.id.clone(), db_name.to_ascii_lowercase()));
        }
        Ok(RequestIdOnly {
            request_id: String::new(),
        })
    }

    fn describe_accounts(&self, call: &Call) -> ApiResult<DescribeAccountsResponse> {
        let instance = self.instance(call)?;
        Ok(DescribeAccountsResponse {
            request_id: String::new(),
            accounts: AccountItems {
                db_instance_account: instance
                    .accounts
                    .iter()
                    .map(|a| Account {
                        account_name: a.name.clone(),
                        account_type: a.account_type.clone(),
                        account_status: a.status.clone(),
                    })
                    .collect(),
            },
        })
    }

    fn describe_resource_usage(&self, call: &Call) -> ApiResult<DescribeResourceUsageResponse> {
        let instance = self.instance(call)?;
        let state = self.lock();
        let used = i64::try_from(self.used_bytes_of(instance, &state)).unwrap_or(i64::MAX);
        Ok(DescribeResourceUsageResponse {
            request_id: String::new(),
            db_instance_id: instance.id.clone(),
            engine: instance.engine.clone(),
            disk_used: used,
            data_size: used,
            log_size: 0,
            backup_size: 0,
        })
    }
}

impl RdsEmulator {
    /// DescribeBackupPolicy: the configured window and days, and the next backup they give.
    fn describe_backup_policy(&self, call: &Call) -> ApiResult<DescribeBackupPolicyResponse> {
        let instance = self.instance(call)?;
        let next = bak2rds_cloud::rds::backup_policy::next_backup(
            &instance.backup_time,
            &instance.backup_period,
            time::OffsetDateTime::now_utc(),
        );
        Ok(DescribeBackupPolicyResponse {
            request_id: String::new(),
            preferred_backup_time: instance.backup_time.clone(),
            preferred_backup_period: instance.backup_period.clone(),
            backup_retention_period: 7,
            preferred_next_backup_time: next
                .map(bak2rds_cloud::rds::backup_policy::minutes_text)
                .unwrap_or_default(),
        })
    }
}

fn task_not_found() -> ApiError {
    ApiError::new(
        404,
        "InvalidMigrateTaskId.NotFound",
        "The specified MigrateTaskId does not exist.",
    )
}

/// SQL Server 2008 R2 on a local disk (§1.1, §1.8).
fn is_legacy_local_ssd(instance: &InstanceConfig) -> bool {
    is_sql_server_2008_r2(instance)
        && !(instance.storage_type.starts_with("cloud_") || instance.storage_type == "general_essd")
}

fn is_sql_server_2008_r2(instance: &InstanceConfig) -> bool {
    matches!(instance.engine_version.as_str(), "2008r2" | "08r2_ent_ha")
}

/// `yyyy-MM-ddTHH:mmZ` (DescribeMigrateTasks, §1.3).
fn parse_minutes(text: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]Z");
    time::PrimitiveDateTime::parse(text, format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

fn page_param(call: &Call, name: &str, default: u64) -> ApiResult<u64> {
    match call.get(name) {
        None => Ok(default),
        Some(text) => text.parse().map_err(|_| ApiError::invalid(name)),
    }
}

async fn handle(
    axum::extract::State(emulator): axum::extract::State<Arc<RdsEmulator>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let host = header(&headers, "host")
        .unwrap_or(bak2rds_cloud::rds::endpoint::CENTRAL_HOST)
        .to_owned();
    // Judging a large object reads and parses it: keep that off the async workers.
    let served =
        tokio::task::spawn_blocking(move || emulator.serve(&method, &uri, &headers, &body))
            .await
            .unwrap_or_else(|_| Err(ApiError::internal()));
    respond(served, host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_come_from_toml_tables_with_defaults() {
        let text = r#"
restore_ms = 500
migrations_per_database_per_day = 2

[[instance]]
id = "rm-legacy"
engine_version = "2008r2"
storage_type = "local_ssd"
storage_gb = 50
used_bytes = 1073741824
databases = ["sales"]
accounts = [{ name = "reader", type = "Normal" }]
database_limit = 3

[[instance]]
id = "rm-default"
"#;
        let config: RdsConfig = toml::from_str(text).unwrap();
        assert_eq!(config.restore_ms, 500);
        assert_eq!(config.migrations_per_database_per_day, 2);
        assert_eq!(config.migrations_per_instance_per_day, 500, "§1.1 default");
        let legacy = &config.instances[0];
        assert_eq!(legacy.engine_version, "2008r2");
        assert_eq!(legacy.accounts[0].account_type, "Normal");
        assert_eq!(legacy.accounts[0].status, "Available");
        assert_eq!(legacy.database_limit, Some(3));
        assert!(is_legacy_local_ssd(legacy));
        let plain = &config.instances[1];
        assert_eq!(plain.engine_version, "2019_std_ha");
        assert_eq!(plain.accounts[0].account_type, "Super");
        assert!(toml::from_str::<RdsConfig>("[[instance]]\nid = \"x\"\nstorage = 5\n").is_err());
    }
}

//! The emulated RDS API: an axum router that authenticates the three signing dialects of the
//! official SDKs (rds-api.md §0: V1 from the core SDK, V1 from the Tea SDK, V3
//! `ACS3-HMAC-SHA256`) with the same [`bak2rds_cloud::rds::sign`] functions the client uses, answers in
//! Alibaba's JSON error format (§1.9), holds instances from config, and simulates restores:
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
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

mod migration;

use super::rds_tasks::{DailyQuota, DbState, Task};
use bak2rds_cloud::rds::model::*;
use bak2rds_cloud::rds::sign::{self, Credentials, V3Request};

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

/// Requests further than this from the server clock are refused (§2.1: 15 minutes).
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

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
    nonces: HashSet<String>,
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
    credentials: Vec<Credentials>,
    objects: Arc<dyn ObjectSource>,
    state: Mutex<Book>,
}

impl std::fmt::Debug for RdsEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RdsEmulator")
            .field("config", &self.config)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// An error answer: HTTP status, Alibaba code and message.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
}

impl ApiError {
    fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            code: code.into(),
            message: message.into(),
        }
    }

    /// `Missing{Name}` (gateway table, §1.9).
    fn missing(name: &str) -> Self {
        ApiError::new(
            400,
            format!("Missing{name}"),
            format!("{name} is mandatory for this action."),
        )
    }

    /// `Invalid{Name}` (gateway table, §1.9).
    fn invalid(name: &str) -> Self {
        ApiError::new(
            400,
            format!("Invalid{name}"),
            format!("Specified parameter {name} is not valid."),
        )
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// An authenticated request: the action and every parameter (query and form body).
struct Call {
    action: String,
    params: Vec<(String, String)>,
}

// By hand: the parameters may hold a security token and a signature (DESIGN habit 6).
impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("action", &self.action)
            .finish_non_exhaustive()
    }
}

impl Call {
    fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    fn require(&self, name: &str) -> ApiResult<&str> {
        self.get(name).ok_or_else(|| ApiError::missing(name))
    }
}

impl RdsEmulator {
    /// An emulator with these instances, accepting these key pairs, reading objects from
    /// `objects`.
    pub fn new(
        config: RdsConfig,
        credentials: Vec<Credentials>,
        objects: Arc<dyn ObjectSource>,
    ) -> Self {
        RdsEmulator {
            config,
            credentials,
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
            return Err(not_found_api());
        }
        let call = self.authenticate(method, uri, headers, body, OffsetDateTime::now_utc())?;
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
            _ => return Err(not_found_api()),
        };
        Ok(answer)
    }

    // ---------------------------------------------------------------- authentication

    /// Verifies the request's signature as of `now` (a parameter so the shared vectors, signed
    /// in 2024, can be verified in tests: DESIGN habit 7).
    fn authenticate(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        now: OffsetDateTime,
    ) -> ApiResult<Call> {
        let mut params = parse_pairs(uri.query().unwrap_or(""))?;
        let is_form = header(headers, "content-type")
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            let text = std::str::from_utf8(body).map_err(|_| ApiError::invalid("Body"))?;
            params.extend(parse_pairs(text)?);
        }
        match header(headers, "authorization") {
            Some(value) if value.starts_with(sign::V3_ALGORITHM) => {
                self.authenticate_v3(method, uri, headers, body, params, now)
            }
            _ => self.authenticate_v1(method, params, now),
        }
    }

    /// V1: HMAC-SHA1 over every parameter but `Signature` (§2.1).
    fn authenticate_v1(
        &self,
        method: &Method,
        params: Vec<(String, String)>,
        now: OffsetDateTime,
    ) -> ApiResult<Call> {
        let call = Call {
            action: String::new(),
            params,
        };
        let signature = call.require("Signature")?.to_owned();
        let key_id = call.require("AccessKeyId")?;
        if call.get("SignatureMethod") != Some(sign::V1_SIGNATURE_METHOD) {
            return Err(ApiError::new(
                400,
                "InvalidSignatureMethod",
                "Specified signature method is not valid.",
            ));
        }
        let credentials = self.credentials_for(key_id, call.get("SecurityToken"))?;
        check_timestamp(call.require("Timestamp")?, now)?;
        let string_to_sign = sign::v1_string_to_sign(method.as_str(), &call.params);
        let expected = sign::v1_signature(credentials.access_key_secret(), &string_to_sign);
        if expected != signature {
            return Err(signature_mismatch(&string_to_sign));
        }
        self.use_nonce(call.require("SignatureNonce")?)?;
        check_version(call.get("Version"))?;
        let action = call.require("Action")?.to_owned();
        Ok(Call { action, ..call })
    }

    /// V3: rebuild the canonical request from exactly the signed headers (§2.2).
    fn authenticate_v3(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        params: Vec<(String, String)>,
        now: OffsetDateTime,
    ) -> ApiResult<Call> {
        let incomplete = || {
            ApiError::new(
                400,
                "IncompleteSignature",
                "The request signature does not conform to Aliyun standards.",
            )
        };
        let auth = header(headers, "authorization")
            .and_then(sign::parse_v3_authorization)
            .ok_or_else(incomplete)?;
        let sent: Vec<(String, String)> = headers
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        // host and every x-acs-* header must be signed (§2.2).
        let must_sign = sent
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| *name == "host" || name.starts_with("x-acs-"));
        for name in must_sign.chain([
            "host",
            "x-acs-action",
            "x-acs-date",
            "x-acs-signature-nonce",
        ]) {
            if !auth.signed_headers.iter().any(|s| s == name) {
                return Err(incomplete());
            }
        }
        let credentials =
            self.credentials_for(&auth.access_key_id, header(headers, "x-acs-security-token"))?;
        check_timestamp(header(headers, "x-acs-date").ok_or_else(incomplete)?, now)?;
        let payload_sha256 = sign::sha256_hex(body);
        if header(headers, "x-acs-content-sha256").is_some_and(|h| h != payload_sha256) {
            return Err(ApiError::new(
                400,
                "SignatureDoesNotMatch",
                "The x-acs-content-sha256 header does not match the body.",
            ));
        }
        let query = parse_pairs(uri.query().unwrap_or(""))?;
        let canonical = sign::v3_canonical_request(&V3Request {
            method: method.as_str(),
            path: "/",
            query: &query,
            headers: &sent,
            signed_headers: &auth.signed_headers,
            payload_sha256: &payload_sha256,
        });
        let string_to_sign = sign::v3_string_to_sign(&canonical);
        let expected = sign::v3_signature(credentials.access_key_secret(), &string_to_sign);
        if expected != auth.signature {
            return Err(signature_mismatch(&string_to_sign));
        }
        self.use_nonce(header(headers, "x-acs-signature-nonce").ok_or_else(incomplete)?)?;
        check_version(header(headers, "x-acs-version"))?;
        let action = header(headers, "x-acs-action")
            .ok_or_else(|| ApiError::missing("Action"))?
            .to_owned();
        Ok(Call { action, params })
    }

    fn credentials_for(&self, key_id: &str, token: Option<&str>) -> ApiResult<&Credentials> {
        let credentials = self
            .credentials
            .iter()
            .find(|c| c.access_key_id() == key_id)
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "InvalidAccessKeyId.NotFound",
                    "Specified access key is not found.",
                )
            })?;
        if let Some(expected) = credentials.security_token()
            && token != Some(expected)
        {
            return Err(ApiError::new(
                400,
                "InvalidSecurityToken.Mismatch",
                "Specified SecurityToken mismatch with the AccessKey.",
            ));
        }
        Ok(credentials)
    }

    fn use_nonce(&self, nonce: &str) -> ApiResult<()> {
        if self.lock().nonces.insert(nonce.to_owned()) {
            Ok(())
        } else {
            Err(ApiError::new(
                400,
                "SignatureNonceUsed",
                "Specified signature nonce was used already.",
            ))
        }
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

fn check_timestamp(text: &str, now: OffsetDateTime) -> ApiResult<()> {
    let at = sign::parse_timestamp(text).ok_or_else(|| {
        ApiError::new(
            400,
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        )
    })?;
    let skew = (now - at).unsigned_abs();
    if skew > MAX_CLOCK_SKEW {
        return Err(ApiError::new(
            400,
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
        ));
    }
    Ok(())
}

fn check_version(version: Option<&str>) -> ApiResult<()> {
    match version {
        Some(sign::API_VERSION) => Ok(()),
        None => Err(ApiError::missing("Version")),
        Some(_) => Err(ApiError::new(
            400,
            "InvalidVersion",
            "Specified parameter Version is not valid.",
        )),
    }
}

/// The gateway's answer to a wrong signature: the server's string to sign is echoed so the
/// client can tell a bad secret from a bad algorithm (§0, §1.9).
fn signature_mismatch(string_to_sign: &str) -> ApiError {
    ApiError::new(
        400,
        "SignatureDoesNotMatch",
        format!(
            "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
        ),
    )
}

fn not_found_api() -> ApiError {
    ApiError::new(
        404,
        "InvalidAction.NotFound",
        "Specified api is not found, please check your url and method.",
    )
}

fn parse_pairs(text: &str) -> ApiResult<Vec<(String, String)>> {
    serde_urlencoded::from_str(text).map_err(|_| ApiError::invalid("QueryString"))
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// A request ID shaped like Alibaba's (upper-case UUID).
fn new_request_id() -> String {
    let b = rand::random::<[u8; 16]>();
    let h = hex::encode_upper(b);
    format!(
        "{}-{}-{}-{}-{}",
        h.get(0..8).unwrap_or(""),
        h.get(8..12).unwrap_or(""),
        h.get(12..16).unwrap_or(""),
        h.get(16..20).unwrap_or(""),
        h.get(20..32).unwrap_or("")
    )
}

async fn handle(
    axum::extract::State(emulator): axum::extract::State<Arc<RdsEmulator>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = new_request_id();
    let host = header(&headers, "host")
        .unwrap_or(bak2rds_cloud::rds::endpoint::CENTRAL_HOST)
        .to_owned();
    // Judging a large object reads and parses it: keep that off the async workers.
    let served = tokio::task::spawn_blocking(move || {
        emulator.serve(&method, &uri, &headers, &body)
    })
    .await
    .unwrap_or_else(|_| {
        Err(ApiError::new(
            500,
            "InternalError",
            "The request processing has failed due to some unknown error, exception or failure.",
        ))
    });
    match served {
        Ok(mut answer) => {
            if let Some(object) = answer.as_object_mut() {
                object.insert("RequestId".into(), serde_json::Value::String(request_id));
            }
            (StatusCode::OK, axum::Json(answer)).into_response()
        }
        Err(error) => {
            let body = ErrorBody {
                request_id,
                host_id: host,
                recommend: format!("https://api.aliyun.com/troubleshoot?q={}", error.code),
                code: error.code,
                message: error.message,
            };
            (error.status, axum::Json(body)).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    //! The verifier against the captured SDK requests of `shared/vectors/rds_sign_vectors.out`
    //! (§2a core V1, §3 Tea V1, §4a Tea V3, §4b V3 + STS), replayed byte for byte.
    use super::*;

    const AK_ID: &str = "LTAI5tExampleAccessKeyId";
    const AK_SECRET: &str = "ExampleAccessKeySecret";
    const STS_TOKEN: &str = "CAIS.example+security/token==";
    const POSITION: &str = "BackupMode=FULL&CheckDBMode=AsyncExecuteDBCheck&DBInstanceId=rm-bp1example0001&DBName=sales_db&IsOnlineDB=True&OssObjectPositions=oss-cn-hangzhou.aliyuncs.com%3Amig-bucket%3Abackups%2Fsales_db%2Fsales_db_FULL_20240501.bak";

    struct NoObjects;
    impl ObjectSource for NoObjects {
        fn read_object(&self, _: &str, _: &str) -> std::io::Result<Option<Bytes>> {
            Ok(None)
        }
    }

    fn emulator(credentials: Credentials) -> RdsEmulator {
        RdsEmulator::new(RdsConfig::default(), vec![credentials], Arc::new(NoObjects))
    }

    fn at_capture() -> OffsetDateTime {
        sign::parse_timestamp("2024-05-01T08:00:30Z").unwrap()
    }

    fn headers(list: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in list {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn verify(credentials: Credentials, uri: &str, headers: &HeaderMap) -> ApiResult<Call> {
        let uri: Uri = uri.parse().unwrap();
        emulator(credentials).authenticate(&Method::POST, &uri, headers, b"", at_capture())
    }

    #[test]
    fn core_sdk_v1_capture_2a_verifies() {
        let uri = "/?DBInstanceId=rm-bp1example0001&DBName=sales_db&BackupMode=FULL&IsOnlineDB=True&CheckDBMode=AsyncExecuteDBCheck&OssObjectPositions=oss-cn-hangzhou.aliyuncs.com%3Amig-bucket%3Abackups%2Fsales_db%2Fsales_db_FULL_20240501.bak&Version=2014-08-15&Action=CreateMigrateTask&Format=JSON&RegionId=cn-hangzhou&Timestamp=2024-05-01T08%3A00%3A00Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0&SignatureNonce=5f1c2b3a-4d5e-6f70-8192-a3b4c5d6e7f8&AccessKeyId=LTAI5tExampleAccessKeyId&Signature=nzLWXOIQbuJDJljR2nvCTxV1f04%3D";
        let call = verify(Credentials::new(AK_ID, AK_SECRET), uri, &HeaderMap::new()).unwrap();
        assert_eq!(call.action, "CreateMigrateTask");
        assert_eq!(call.get("DBName"), Some("sales_db"));
        // The same request with another secret is refused with the string to sign echoed.
        let error = verify(Credentials::new(AK_ID, "wrong"), uri, &HeaderMap::new()).unwrap_err();
        assert_eq!(error.code, "SignatureDoesNotMatch");
        assert!(error.message.ends_with("server string to sign is:POST&%2F&AccessKeyId%3DLTAI5tExampleAccessKeyId%26Action%3DCreateMigrateTask%26BackupMode%3DFULL%26CheckDBMode%3DAsyncExecuteDBCheck%26DBInstanceId%3Drm-bp1example0001%26DBName%3Dsales_db%26Format%3DJSON%26IsOnlineDB%3DTrue%26OssObjectPositions%3Doss-cn-hangzhou.aliyuncs.com%253Amig-bucket%253Abackups%252Fsales_db%252Fsales_db_FULL_20240501.bak%26RegionId%3Dcn-hangzhou%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D5f1c2b3a-4d5e-6f70-8192-a3b4c5d6e7f8%26SignatureType%3D%26SignatureVersion%3D1.0%26Timestamp%3D2024-05-01T08%253A00%253A00Z%26Version%3D2014-08-15"));
    }

    #[test]
    fn core_sdk_v1_sts_capture_2b_verifies() {
        let uri = "/?DBInstanceId=rm-bp1example0001&DBName=sales_db&BackupMode=FULL&IsOnlineDB=True&CheckDBMode=AsyncExecuteDBCheck&OssObjectPositions=oss-cn-hangzhou.aliyuncs.com%3Amig-bucket%3Abackups%2Fsales_db%2Fsales_db_FULL_20240501.bak&SecurityToken=CAIS.example%2Bsecurity%2Ftoken%3D%3D&Version=2014-08-15&Action=CreateMigrateTask&Format=JSON&RegionId=cn-hangzhou&Timestamp=2024-05-01T08%3A00%3A00Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0&SignatureNonce=5f1c2b3a-4d5e-6f70-8192-a3b4c5d6e7f8&AccessKeyId=LTAI5tExampleAccessKeyId&Signature=9PUqY2JZ93Fb27%2BHF6WxJfctguM%3D";
        let sts = Credentials::new(AK_ID, AK_SECRET).with_security_token(STS_TOKEN);
        verify(sts, uri, &HeaderMap::new()).unwrap();
    }

    #[test]
    fn tea_sdk_v1_capture_3_verifies() {
        let uri = "/?Action=CreateMigrateTask&Format=json&Version=2014-08-15&Timestamp=2024-05-01T08%3A00%3A00Z&SignatureNonce=5f1c2b3a-4d5e-6f70-8192-a3b4c5d6e7f8&BackupMode=FULL&CheckDBMode=AsyncExecuteDBCheck&DBInstanceId=rm-bp1example0001&DBName=sales_db&IsOnlineDB=True&OssObjectPositions=oss-cn-hangzhou.aliyuncs.com%3Amig-bucket%3Abackups%2Fsales_db%2Fsales_db_FULL_20240501.bak&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=LTAI5tExampleAccessKeyId&Signature=ugiu4XJtrsar1sptSRqsp%2BRDpow%3D";
        let call = verify(Credentials::new(AK_ID, AK_SECRET), uri, &HeaderMap::new()).unwrap();
        assert_eq!(call.action, "CreateMigrateTask");
    }

    fn tea_v3_headers(extra: &[(&str, &str)], provider: &str, authorization: &str) -> HeaderMap {
        let mut list = vec![
            ("accept-encoding", "identity"),
            ("host", "127.0.0.1:47815"),
            ("x-acs-version", "2014-08-15"),
            ("x-acs-action", "CreateMigrateTask"),
            (
                "user-agent",
                "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
            ),
            ("x-acs-date", "2024-05-01T08:00:00Z"),
            (
                "x-acs-signature-nonce",
                "5f1c2b3a-4d5e-6f70-8192-a3b4c5d6e7f8",
            ),
            ("accept", "application/json"),
            ("x-acs-content-sha256", sign::EMPTY_BODY_SHA256),
            ("x-acs-credentials-provider", provider),
            ("authorization", authorization),
            ("content-length", "0"),
        ];
        list.extend_from_slice(extra);
        headers(&list)
    }

    #[test]
    fn tea_sdk_v3_capture_4a_verifies_and_a_tampered_header_does_not() {
        let authorization = "ACS3-HMAC-SHA256 Credential=LTAI5tExampleAccessKeyId,SignedHeaders=accept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=038ec5830f25175b14ea3a0dec220d9ecb00b9cdacfd89773390696fca0284dc";
        let uri = format!("/?{POSITION}");
        let good = tea_v3_headers(&[], "static_ak", authorization);
        let call = verify(Credentials::new(AK_ID, AK_SECRET), &uri, &good).unwrap();
        assert_eq!(call.action, "CreateMigrateTask");
        assert_eq!(call.get("BackupMode"), Some("FULL"));
        let mut tampered = good.clone();
        tampered.insert("user-agent", "something else".parse().unwrap());
        let error = verify(Credentials::new(AK_ID, AK_SECRET), &uri, &tampered).unwrap_err();
        assert_eq!(error.code, "SignatureDoesNotMatch");
        // An x-acs-* header sent but not signed is refused.
        let mut unsigned = good.clone();
        unsigned.insert("x-acs-extra", "1".parse().unwrap());
        let error = verify(Credentials::new(AK_ID, AK_SECRET), &uri, &unsigned).unwrap_err();
        assert_eq!(error.code, "IncompleteSignature");
    }

    #[test]
    fn tea_sdk_v3_sts_capture_4b_verifies() {
        let authorization = "ACS3-HMAC-SHA256 Credential=LTAI5tExampleAccessKeyId,SignedHeaders=accept;host;user-agent;x-acs-accesskey-id;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version,Signature=b8fbc007a7161c0cfb0c6a1e9eb0681bc37c71a10707d338aa6452b08ffbb9f8";
        let extra = [
            ("x-acs-accesskey-id", AK_ID),
            ("x-acs-security-token", STS_TOKEN),
        ];
        let sts = Credentials::new(AK_ID, AK_SECRET).with_security_token(STS_TOKEN);
        let request = tea_v3_headers(&extra, "static_sts", authorization);
        verify(sts, &format!("/?{POSITION}"), &request).unwrap();
    }

    #[test]
    fn stale_timestamps_and_reused_nonces_are_refused() {
        let uri: Uri = "/?Action=CreateMigrateTask&Format=json&Version=2014-08-15&Timestamp=2024-05-01T08%3A00%3A00Z&SignatureNonce=5f1c2b3a-4d5e-6f70-8192-a3b4c5d6e7f8&BackupMode=FULL&CheckDBMode=AsyncExecuteDBCheck&DBInstanceId=rm-bp1example0001&DBName=sales_db&IsOnlineDB=True&OssObjectPositions=oss-cn-hangzhou.aliyuncs.com%3Amig-bucket%3Abackups%2Fsales_db%2Fsales_db_FULL_20240501.bak&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=LTAI5tExampleAccessKeyId&Signature=ugiu4XJtrsar1sptSRqsp%2BRDpow%3D".parse().unwrap();
        let emu = emulator(Credentials::new(AK_ID, AK_SECRET));
        let later = at_capture() + time::Duration::minutes(20);
        let stale = emu
            .authenticate(&Method::POST, &uri, &HeaderMap::new(), b"", later)
            .unwrap_err();
        assert_eq!(stale.code, "InvalidTimeStamp.Expired");
        emu.authenticate(&Method::POST, &uri, &HeaderMap::new(), b"", at_capture())
            .unwrap();
        let replay = emu
            .authenticate(&Method::POST, &uri, &HeaderMap::new(), b"", at_capture())
            .unwrap_err();
        assert_eq!(replay.code, "SignatureNonceUsed");
    }

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

    #[test]
    fn v1_parameters_may_come_by_get_or_in_a_form_body() {
        let credentials = Credentials::new(AK_ID, AK_SECRET);
        let business = vec![("DBInstanceId".to_owned(), "rm-emulator0001".to_owned())];
        let signed = |method: &str, nonce: &str| {
            let stamp = sign::RequestStamp {
                timestamp: "2024-05-01T08:00:00Z",
                nonce,
            };
            let params = sign::sign_v1(
                method,
                "DescribeAccounts",
                &business,
                &credentials,
                sign::V1Dialect::TeaSdk,
                "cn-hangzhou",
                stamp,
            );
            serde_urlencoded::to_string(&params).unwrap()
        };
        let emu = emulator(credentials.clone());
        let get: Uri = format!("/?{}", signed("GET", "n1")).parse().unwrap();
        let call = emu
            .authenticate(&Method::GET, &get, &HeaderMap::new(), b"", at_capture())
            .unwrap();
        assert_eq!(call.action, "DescribeAccounts");
        let form = headers(&[("content-type", "application/x-www-form-urlencoded")]);
        let body = signed("POST", "n2");
        let root: Uri = "/".parse().unwrap();
        let call = emu
            .authenticate(&Method::POST, &root, &form, body.as_bytes(), at_capture())
            .unwrap();
        assert_eq!(call.get("DBInstanceId"), Some("rm-emulator0001"));
        // Signed for POST, sent as GET: refused.
        let wrong: Uri = format!("/?{}", signed("POST", "n3")).parse().unwrap();
        let error = emu
            .authenticate(&Method::GET, &wrong, &HeaderMap::new(), b"", at_capture())
            .unwrap_err();
        assert_eq!(error.code, "SignatureDoesNotMatch");
    }
}

//! The migration actions of the emulated RDS: CreateMigrateTask (FULL, and the UPDF chain of
//! rds-api.md §1.6) and CreateOnlineDatabaseTask. Each checks the request, downloads and
//! judges the object (`restore.rs`) and records the step in the task book
//! (`rds_tasks.rs`); authentication, the other actions and the wire format stay
//! in the parent module.

use time::OffsetDateTime;

use super::{
    ApiError, ApiResult, Book, Call, InstanceConfig, RdsEmulator, is_legacy_local_ssd,
    is_sql_server_2008_r2, task_not_found,
};
use crate::rds_tasks::{FileStep, Mode, QuotaExceeded, Task};
use crate::restore::{
    self, IncrementContext, ObjectFacts, ObjectKind, RestoreContext, RestorePoint,
};
use bak2rds_cloud::rds::model::{
    CreateMigrateTaskResponse, RequestIdOnly, RestoreSource, TaskStatus, lenient,
};

impl RdsEmulator {
    /// CreateMigrateTask: a FULL restore, the first (full) file of an incremental migration,
    /// or, with `MigrateTaskId`, a differential or log for a waiting incremental task (§1.6).
    pub(super) fn create_migrate_task(&self, call: &Call) -> ApiResult<CreateMigrateTaskResponse> {
        let instance = self.instance(call)?;
        let db_name = call.require("DBName")?;
        let mode = check_migration_request(call, instance)?;
        let async_check_db = match call.get("CheckDBMode") {
            None | Some("AsyncExecuteDBCheck") => true,
            Some("SyncExecuteDBCheck") => false,
            Some(_) => return Err(ApiError::invalid("CheckDBMode")),
        };
        let continues = call.get("MigrateTaskId");
        if let Some(id) = continues {
            // FULL takes no MigrateTaskId (§1.1: "empty for FULL").
            if mode == Mode::Full {
                return Err(ApiError::invalid("MigrateTaskId"));
            }
            // Refuse a wrong task before downloading anything; checked again on commit.
            let state = self.lock();
            self.waiting_task(&state, instance, id, db_name)?;
        }
        let legacy = is_legacy_local_ssd(instance);
        let source = self.restore_source(call, legacy)?;
        check_extension(&source.key)?;
        let (file_bytes, facts) = self.download(instance, &source)?;
        let request = Submission {
            instance,
            db_name,
            source: &source,
            file_bytes,
            facts,
        };
        let migrate_task_id = match continues {
            Some(id) => self.add_increment(&request, id)?,
            None => self.start_task(&request, mode, legacy, async_check_db)?,
        };
        let task_id = {
            let mut state = self.lock();
            let id = state.next_async_task_id;
            state.next_async_task_id = id.saturating_add(1);
            id
        };
        Ok(CreateMigrateTaskResponse {
            request_id: String::new(),
            db_instance_id: instance.id.clone(),
            db_name: db_name.to_owned(),
            backup_mode: mode.wire().to_owned(),
            // An increment belongs to the task it names, so the same MigrateTaskId comes back
            // (inferred: the SDK metadata calls the parameter "the ID of the corresponding FULL
            // task", §1.6; no doc shows the answer). TaskId is the instance-level asynchronous
            // task, a new one for every call.
            migrate_task_id: migrate_task_id.to_string(),
            task_id: task_id.to_string(),
        })
    }

    /// Reads and judges the object RDS would download. An object that is not there (or that
    /// RDS may not read) makes a task that fails at its download, as the guide's "could not
    /// find backup file" says, not a refusal of the call.
    fn download(
        &self,
        instance: &InstanceConfig,
        source: &Source,
    ) -> ApiResult<(u64, ObjectFacts)> {
        let bytes = self
            .objects
            .read_object(&source.bucket, &source.key)
            .map_err(|e| {
                ApiError::new(
                    500,
                    "InternalError",
                    format!("The request processing has failed due to some unknown error: {e}"),
                )
            })?;
        let Some(bytes) = bytes else {
            return Ok((0, ObjectFacts::missing()));
        };
        let facts = restore::examine_object(&bytes, &instance.engine_version);
        Ok((u64::try_from(bytes.len()).unwrap_or(u64::MAX), facts))
    }

    /// Counts one accepted CreateMigrateTask against the daily quotas (§1.1).
    fn take_quota(
        &self,
        state: &mut Book,
        instance: &InstanceConfig,
        db_name: &str,
    ) -> ApiResult<()> {
        state
            .quota
            .take(
                &instance.id,
                db_name,
                self.config.migrations_per_database_per_day,
                self.config.migrations_per_instance_per_day,
            )
            .map_err(|exceeded| match exceeded {
                QuotaExceeded::Database => ApiError::new(
                    400,
                    "UploadLimitExceeded",
                    "UploadTimesQuotaExceeded: Exceeding the daily upload times of this DB.",
                ),
                QuotaExceeded::Instance => ApiError::new(
                    400,
                    "ConcurrentTaskExceeded",
                    "Concurrent task exceeding the allowed amount.",
                ),
            })
    }

    /// A new task restoring a full backup: FULL (opened at the end) or the first file of an
    /// incremental migration (restored WITH NORECOVERY).
    fn start_task(
        &self,
        request: &Submission<'_>,
        mode: Mode,
        legacy: bool,
        async_check_db: bool,
    ) -> ApiResult<u64> {
        let Submission {
            instance, db_name, ..
        } = *request;
        let mut state = self.lock();
        let now = tokio::time::Instant::now();
        let total = self.restore_time();
        let busy = state.tasks.iter().any(|t| {
            t.instance_id == instance.id
                && t.db_name.eq_ignore_ascii_case(db_name)
                && t.is_busy(now, total)
        });
        if busy {
            return Err(incorrect_db_state());
        }
        let mut databases = self.databases_of(instance, &state);
        if legacy {
            // 2008 R2 local SSD restores into a database created beforehand (§1.1).
            if !databases.iter().any(|d| d.eq_ignore_ascii_case(db_name)) {
                return Err(db_name_not_found());
            }
            databases.retain(|d| !d.eq_ignore_ascii_case(db_name));
        }
        self.take_quota(&mut state, instance, db_name)?;
        let mut facts = request.facts;
        if mode == Mode::Incremental && facts.chain.is_none() {
            // Without LSNs no later file could be judged against it: RDS cannot verify it.
            facts.kind = ObjectKind::Unverifiable;
        }
        let outcome = restore::decide(&RestoreContext {
            wording: self.config.task_messages,
            file_name: request.file_name(),
            file_bytes: request.file_bytes,
            facts,
            db_name,
            free_bytes: self.free_bytes_of(instance, &state),
            databases: &databases,
            database_limit: instance.database_limit,
            has_privileged_account: has_privileged_account(instance),
            url_expired: request.source.expired,
            async_check_db,
            login_denied: login_denied(instance, db_name),
            open_database: mode == Mode::Full,
        });
        let accepted = outcome.success;
        let id = state.next_task_id;
        state.next_task_id = id.saturating_add(1);
        let mut task = Task::new(
            id,
            &instance.id,
            db_name,
            mode,
            request.file_step(facts.kind, outcome),
            facts.restored_bytes,
        );
        if mode == Mode::Incremental && accepted {
            task.at = facts.chain.as_ref().map(RestorePoint::after_full);
        }
        state.tasks.push(task);
        Ok(id)
    }

    /// A differential or log for the waiting incremental task `task_id`, judged against where
    /// its database stands.
    fn add_increment(&self, request: &Submission<'_>, task_id: &str) -> ApiResult<u64> {
        let Submission {
            instance, db_name, ..
        } = *request;
        let mut state = self.lock();
        let index = self.waiting_task(&state, instance, task_id, db_name)?;
        let at = state
            .tasks
            .get(index)
            .and_then(|t| t.at)
            .ok_or_else(incorrect_db_state)?;
        self.take_quota(&mut state, instance, db_name)?;
        let outcome = restore::decide_increment(&IncrementContext {
            wording: self.config.task_messages,
            file_name: request.file_name(),
            file_bytes: request.file_bytes,
            facts: request.facts,
            db_name,
            free_bytes: self.free_bytes_of(instance, &state),
            at,
        });
        let task = state.tasks.get_mut(index).ok_or_else(incorrect_db_state)?;
        if outcome.success
            && let Some(chain) = &request.facts.chain
        {
            task.at = Some(at.then(chain));
        }
        task.files
            .push(request.file_step(request.facts.kind, outcome));
        Ok(task.id)
    }

    /// The index of task `id` on `instance` if it is an incremental task waiting for files or
    /// the opening, for database `db_name`.
    fn waiting_task(
        &self,
        state: &Book,
        instance: &InstanceConfig,
        id: &str,
        db_name: &str,
    ) -> ApiResult<usize> {
        let index = state
            .tasks
            .iter()
            .position(|t| t.instance_id == instance.id && t.id.to_string() == id)
            .ok_or_else(task_not_found)?;
        let task = state.tasks.get(index).ok_or_else(task_not_found)?;
        if task.is_dropped() {
            // Its database is gone: the name, not the task's state, is what is wrong now.
            return Err(db_name_not_found());
        }
        let now = tokio::time::Instant::now();
        let waiting = task.view(now, self.restore_time()).status == TaskStatus::Waiting;
        if task.mode != Mode::Incremental || !waiting || task.is_opened() {
            return Err(incorrect_db_state());
        }
        if !task.db_name.eq_ignore_ascii_case(db_name) {
            return Err(db_name_not_found());
        }
        Ok(index)
    }

    /// The object a CreateMigrateTask names: `OssObjectPositions`, or on 2008 R2 local SSD a
    /// presigned `OSSUrls` (§1.1).
    fn restore_source(&self, call: &Call, legacy: bool) -> ApiResult<Source> {
        if legacy {
            let urls = call.require("OSSUrls")?;
            return parse_presigned(urls).ok_or_else(|| ApiError::invalid("OSSUrls"));
        }
        let position = call.require("OssObjectPositions")?;
        let (_endpoint, bucket, key) =
            RestoreSource::parse_object_position(position).ok_or_else(|| {
                ApiError::new(400, "InvalidOssUrl", "Specified oss url is not valid.")
            })?;
        Ok(Source {
            bucket,
            key,
            expired: false,
        })
    }

    /// CreateOnlineDatabaseTask (§1.2): opens the database of a waiting incremental task; the
    /// task runs once more and ends in Success with the Description a FULL restore ends with.
    pub(super) fn create_online_database_task(&self, call: &Call) -> ApiResult<RequestIdOnly> {
        let instance = self.instance(call)?;
        let db_name = call.require("DBName")?;
        let task_id = call.require("MigrateTaskId")?;
        let async_check_db = match call.require("CheckDBMode")? {
            "AsyncExecuteDBCheck" => true,
            "SyncExecuteDBCheck" => false,
            _ => return Err(ApiError::invalid("CheckDBMode")),
        };
        let mut state = self.lock();
        // A FULL task, one still running, or one already opened is not waiting: refused.
        let index = self.waiting_task(&state, instance, task_id, db_name)?;
        let task = state.tasks.get_mut(index).ok_or_else(task_not_found)?;
        let description = restore::opening_description(
            self.config.task_messages,
            &task.db_name,
            has_privileged_account(instance),
            async_check_db,
        );
        task.open(tokio::time::Instant::now(), description);
        Ok(RequestIdOnly {
            request_id: String::new(),
        })
    }
}

/// The object a task restores.
struct Source {
    bucket: String,
    key: String,
    expired: bool,
}

/// One CreateMigrateTask's object, downloaded and judged, for the database it targets.
struct Submission<'a> {
    instance: &'a InstanceConfig,
    db_name: &'a str,
    source: &'a Source,
    file_bytes: u64,
    facts: ObjectFacts,
}

impl Submission<'_> {
    /// The last path segment of the key, as the Descriptions quote it.
    fn file_name(&self) -> &str {
        self.source
            .key
            .rsplit('/')
            .next()
            .unwrap_or(&self.source.key)
    }

    /// The task step restoring this object, starting now.
    fn file_step(&self, kind: ObjectKind, outcome: restore::Outcome) -> FileStep {
        FileStep {
            object_key: self.source.key.clone(),
            file_bytes: self.file_bytes,
            kind,
            started: tokio::time::Instant::now(),
            start_time: OffsetDateTime::now_utc(),
            outcome,
        }
    }
}

/// Checks what CreateMigrateTask refuses before looking at the object: the engine, the
/// instance state, the `BackupMode`/`IsOnlineDB` coupling and system database names (§1.1,
/// §1.9). Returns the task's mode.
fn check_migration_request(call: &Call, instance: &InstanceConfig) -> ApiResult<Mode> {
    let db_name = call.require("DBName")?;
    let backup_mode = call.require("BackupMode")?;
    let is_online = call.require("IsOnlineDB")?;
    if !instance.engine.eq_ignore_ascii_case("SQLServer") {
        return Err(ApiError::new(
            400,
            "IncorrectDBInstanceType",
            "Current DB instance type does not support this operation.",
        ));
    }
    require_running(instance)?;
    let is_online =
        lenient::parse_bool(is_online).ok_or_else(|| ApiError::invalid("IsOnlineDB"))?;
    // §1.1: True ⇒ FULL, False ⇒ UPDF; always True on SQL Server 2008 R2. The docs name no
    // error code for a mismatch; the gateway's `Invalid{Parameter}` (§1.9) is the closest.
    let mode = match (backup_mode, is_online) {
        ("FULL", true) => Mode::Full,
        ("UPDF", false) if !is_sql_server_2008_r2(instance) => Mode::Incremental,
        ("FULL" | "UPDF", _) => return Err(ApiError::invalid("IsOnlineDB")),
        _ => return Err(ApiError::invalid("BackupMode")),
    };
    // As written: other cases reach the task, which refuses them in the guide's words
    // (`restore::MSSQL_SYSTEM_DATABASES`).
    if restore::MSSQL_SYSTEM_DATABASES.contains(&db_name) {
        return Err(ApiError::new(
            403,
            "InvalidDBName",
            "The specified database name is not allowed.",
        ));
    }
    Ok(mode)
}

/// Migrations and DeleteDatabase need a running instance.
pub(super) fn require_running(instance: &InstanceConfig) -> ApiResult<()> {
    if instance.status == "Running" {
        return Ok(());
    }
    Err(ApiError::new(
        403,
        "IncorrectDBInstanceState",
        "Current DB instance state does not support this operation.",
    ))
}

fn has_privileged_account(instance: &InstanceConfig) -> bool {
    instance
        .accounts
        .iter()
        .any(|a| matches!(a.account_type.as_str(), "Super" | "Sysadmin") && a.status == "Available")
}

/// An account is configured as denied this database (`denied_databases`), so the login that
/// opens it after the restore fails.
fn login_denied(instance: &InstanceConfig, db_name: &str) -> bool {
    instance.accounts.iter().any(|a| {
        a.denied_databases
            .iter()
            .any(|d| d.eq_ignore_ascii_case(db_name))
    })
}

/// §1.9: "Current DB state does not support this operation" (e.g. a migration is already
/// running on it, or the task is not waiting for files).
fn incorrect_db_state() -> ApiError {
    ApiError::new(
        400,
        "IncorrectDBState",
        "Current DB state does not support this operation.",
    )
}

/// §1.9: the database does not exist or its status does not allow the call.
pub(super) fn db_name_not_found() -> ApiError {
    ApiError::new(
        400,
        "InvalidDBName.NotFound",
        "Specified one or more DB name does not exist or DB status does not support.",
    )
}

/// `.bak` (full), `.diff` (differential), `.trn`/`.log` (log) (§1.1).
fn check_extension(key: &str) -> ApiResult<()> {
    let extension = key.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match extension.as_deref() {
        Some("bak" | "diff" | "trn" | "log") => Ok(()),
        _ => Err(ApiError::new(
            400,
            "IncorrectFileExtension",
            "The file extension does not support.",
        )),
    }
}

/// Reads the first URL of `OSSUrls` (URL-encoded, several joined by `|`, §1.1): bucket and key
/// from a virtual-hosted (`bucket.oss-…`) or path-style (`127.0.0.1:port/bucket/key`) URL, and
/// whether its `Expires` (V1) or `x-oss-date` + `x-oss-expires` (V4) moment has passed.
fn parse_presigned(value: &str) -> Option<Source> {
    let decoded = if value.contains("://") {
        value.to_owned()
    } else {
        percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .ok()?
            .into_owned()
    };
    let first = decoded.split('|').next()?;
    let url = reqwest::Url::parse(first).ok()?;
    let host = url.host_str()?;
    let path = percent_encoding::percent_decode_str(url.path().trim_start_matches('/'))
        .decode_utf8()
        .ok()?
        .into_owned();
    let path_style =
        host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') || host == "localhost";
    let (bucket, key) = if path_style {
        let (bucket, key) = path.split_once('/')?;
        (bucket.to_owned(), key.to_owned())
    } else {
        (host.split('.').next()?.to_owned(), path)
    };
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let find = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let expires_at = match (find("Expires"), find("x-oss-date"), find("x-oss-expires")) {
        (Some(at), _, _) => at.parse::<i64>().ok()?,
        (None, Some(date), Some(seconds)) => {
            let format =
                time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
            let signed = time::PrimitiveDateTime::parse(date, format)
                .ok()?
                .assume_utc();
            signed
                .unix_timestamp()
                .checked_add(seconds.parse::<i64>().ok()?)?
        }
        _ => return None,
    };
    if bucket.is_empty() || key.is_empty() {
        return None;
    }
    Some(Source {
        bucket,
        key,
        expired: expires_at < now,
    })
}

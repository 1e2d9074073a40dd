//! The RDS client against the emulated RDS, served on 127.0.0.1: every call in both signature
//! versions, STS, a wrong secret, throttling, and each documented task failure produced by the
//! emulator and diagnosed back to its cause and fix. Then the official Python SDKs against the
//! same server (`scripts/sdk/rds_scenarios.py`), when their virtualenv exists.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bak2rds::error::Category;
use bak2rds_cloud::http::retry::RetryConfig;
use bak2rds_cloud::rds::diagnose::Cause;
use bak2rds_cloud::rds::model::{
    BackupMode, CheckDbMode, CreateMigrateTaskRequest, RestoreSource, TaskStatus,
};
use bak2rds_cloud::rds::wait::{TaskReport, WaitEvent, WaitOptions, wait_for_task};
use bak2rds_cloud::rds::{Credentials, RdsClient, RdsClientConfig, RdsError, SignatureVersion};
use bak2rds_emulator::KeyPair;
use bak2rds_emulator::keyring::KeyRing;
use bak2rds_emulator::rds::{
    AccountConfig, InstanceConfig, ObjectSource, RdsConfig, RdsEmulator, RdsFault,
};
use bak2rds_emulator::restore::{Wording, examine_object};
use bytes::Bytes;
use mssql_backup::synth::{SynthChain, SynthDatabase, write_synthetic};

pub(crate) const AK: &str = "LTAI5tEmulatorKey";
pub(crate) const SECRET: &str = "EmulatorSecret-do-not-print";
const STS_AK: &str = "STS.EmulatorTemp";
const STS_SECRET: &str = "TempSecret";
const STS_TOKEN: &str = "CAIS.emulator+token/==";
pub(crate) const BUCKET: &str = "mig-bucket";
pub(crate) const OSS_ENDPOINT: &str = "oss-cn-hangzhou.aliyuncs.com";
pub(crate) const INSTANCE: &str = "rm-test0001";
pub(crate) const RESTORE_MS: u64 = 300;
const GIB: u64 = 1 << 30;

/// Objects in memory, as the emulator's OSS store would hold them.
#[derive(Default)]
pub(crate) struct MemoryObjects(Mutex<HashMap<(String, String), Bytes>>);

impl ObjectSource for MemoryObjects {
    fn read_object(&self, bucket: &str, key: &str) -> std::io::Result<Option<Bytes>> {
        let map = self.0.lock().unwrap();
        Ok(map.get(&(bucket.to_owned(), key.to_owned())).cloned())
    }
}

impl MemoryObjects {
    pub(crate) fn put(&self, key: &str, data: Bytes) {
        self.0
            .lock()
            .unwrap()
            .insert((BUCKET.to_owned(), key.to_owned()), data);
    }
}

/// A running emulator and what tests need to talk to it.
pub(crate) struct Emulated {
    pub(crate) url: String,
    pub(crate) emulator: Arc<RdsEmulator>,
    pub(crate) objects: Arc<MemoryObjects>,
}

pub(crate) fn instance(id: &str) -> InstanceConfig {
    InstanceConfig {
        id: id.into(),
        region: "cn-hangzhou".into(),
        engine: "SQLServer".into(),
        engine_version: "2019_std_ha".into(),
        storage_gb: 20,
        used_bytes: 0,
        category: "HighAvailability".into(),
        storage_type: "cloud_essd".into(),
        status: "Running".into(),
        databases: vec!["existing_db".into()],
        accounts: vec![AccountConfig {
            name: "dbadmin".into(),
            account_type: "Super".into(),
            status: "Available".into(),
            denied_databases: Vec::new(),
        }],
        database_limit: None,
        backup_time: "18:00Z-19:00Z".into(),
        backup_period: "Monday,Wednesday,Friday".into(),
    }
}

async fn start(instances: Vec<InstanceConfig>) -> Emulated {
    start_with(RdsConfig {
        instances,
        restore_ms: RESTORE_MS,
        ..RdsConfig::default()
    })
    .await
}

/// An emulated RDS serving `config` on 127.0.0.1.
pub(crate) async fn start_with(config: RdsConfig) -> Emulated {
    let objects = Arc::new(MemoryObjects::default());
    let mut sts = KeyPair::new(STS_AK, STS_SECRET);
    sts.security_token = Some(STS_TOKEN.to_owned());
    let keys = Arc::new(KeyRing::new(vec![KeyPair::new(AK, SECRET), sts], 0));
    let source: Arc<dyn ObjectSource> = objects.clone();
    let emulator = Arc::new(RdsEmulator::new(config, keys, source));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = Arc::clone(&emulator).router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Emulated {
        url,
        emulator,
        objects,
    }
}

pub(crate) fn client(
    url: &str,
    signature: SignatureVersion,
    credentials: Credentials,
) -> RdsClient {
    let mut config = RdsClientConfig::new("cn-hangzhou");
    config.endpoint = Some(url.to_owned());
    config.signature = signature;
    config.retry = RetryConfig {
        max_retries: 4,
        base: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        retry_timeout: Duration::from_secs(5),
    };
    RdsClient::new(config, credentials).unwrap()
}

fn fast_wait() -> WaitOptions {
    WaitOptions {
        first_interval: Duration::from_millis(30),
        max_interval: Duration::from_millis(100),
        deadline: Duration::from_secs(20),
    }
}

pub(crate) fn fixture(relative: &str) -> Option<Bytes> {
    let dir: PathBuf = crate::util::fixtures_dir()?;
    Some(Bytes::from(std::fs::read(dir.join(relative)).unwrap()))
}

/// A full backup written by SQL Server 2019 (DatabaseVersion 904).
const FULL_2019: &str = "misc/davrivas__ChallengeProductsApi__backup.bak";
/// A full backup written by SQL Server 2016 (852).
const FULL_2016: &str = "dbatools-appveyor-lab/restoretimeclean2016/RestoreTimeClean.bak";
const DIFFERENTIAL: &str = "dbatools-appveyor-lab/DoubleDiffing/difftest-diff1.bak";
const LOG: &str = "dbatools-appveyor-lab/OlaMsFilter/Simple/test_LOG_20160629_141310.trn";

fn full_request(instance: &str, db: &str, key: &str) -> CreateMigrateTaskRequest {
    CreateMigrateTaskRequest {
        db_instance_id: instance.into(),
        db_name: db.into(),
        backup_mode: BackupMode::Full,
        is_online_db: true,
        check_db_mode: Some(CheckDbMode::Async),
        source: RestoreSource::OssObject {
            endpoint: OSS_ENDPOINT.into(),
            bucket: BUCKET.into(),
            key: key.into(),
        },
        migrate_task_id: None,
    }
}

async fn migrate(client: &RdsClient, instance: &str, db: &str, key: &str) -> TaskReport {
    let created = client
        .create_migrate_task(&full_request(instance, db, key))
        .await
        .unwrap();
    wait_for_task(
        client,
        instance,
        &created.migrate_task_id,
        fast_wait(),
        |_| {},
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn every_call_works_in_both_signature_versions() {
    let Some(full) = fixture(FULL_2019) else {
        return;
    };
    let emu = start(vec![instance(INSTANCE)]).await;
    emu.objects.put("backups/sales.bak", full.clone());
    for (round, version) in [SignatureVersion::V1, SignatureVersion::V3]
        .into_iter()
        .enumerate()
    {
        let rds = client(&emu.url, version, Credentials::new(AK, SECRET));
        let attribute = rds.describe_db_instance_attribute(INSTANCE).await.unwrap();
        assert_eq!(attribute.engine_version, "2019_std_ha");
        assert_eq!(attribute.db_instance_storage, 20);
        let accounts = rds.describe_accounts(INSTANCE).await.unwrap();
        assert_eq!(
            accounts.accounts.db_instance_account[0].account_type,
            "Super"
        );
        let usage_before = rds.describe_resource_usage(INSTANCE).await.unwrap();

        let db = format!("sales_{round}");
        let created = rds
            .create_migrate_task(&full_request(INSTANCE, &db, "backups/sales.bak"))
            .await
            .unwrap();
        assert!(!created.request_id.is_empty());
        assert_eq!(created.db_name, db);
        let mut events = Vec::new();
        let report = wait_for_task(&rds, INSTANCE, &created.migrate_task_id, fast_wait(), |e| {
            events.push(e)
        })
        .await
        .unwrap();
        assert_eq!(report.status, TaskStatus::Success, "{report:?}");
        assert_eq!(report.description, "Success to DBCC checkdb asynchronously");
        assert_eq!(report.diagnosis.unwrap().cause, Cause::AsyncCheckDbPassed);
        let statuses: Vec<TaskStatus> = events
            .iter()
            .filter_map(|e| match e {
                WaitEvent::Status { status, .. } => Some(status.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(statuses.last(), Some(&TaskStatus::Success));
        assert!(statuses.contains(&TaskStatus::Running), "{statuses:?}");
        let file = &report.files[0];
        assert_eq!(file.status, "Restored");
        assert_eq!(file.backup_mode, "Database");
        assert_eq!(
            file.file_size_mb(),
            Some((full.len() as u64).div_ceil(1 << 20))
        );

        let databases = rds.describe_databases(INSTANCE).await.unwrap();
        let names: Vec<&str> = databases
            .databases
            .database
            .iter()
            .map(|d| d.db_name.as_str())
            .collect();
        assert!(names.contains(&db.as_str()), "{names:?}");
        let usage_after = rds.describe_resource_usage(INSTANCE).await.unwrap();
        assert!(usage_after.disk_used > usage_before.disk_used);

        let now = time::OffsetDateTime::now_utc();
        let listed = rds
            .describe_migrate_tasks(
                INSTANCE,
                now - time::Duration::hours(1),
                now + time::Duration::minutes(2),
                1,
            )
            .await
            .unwrap();
        assert_eq!(listed.total_record_count, i64::try_from(round + 1).unwrap());
        assert_eq!(
            listed.items.migrate_task[0].migrate_task_id,
            created.migrate_task_id
        );
        let by_id = rds
            .describe_migrate_task_by_id(INSTANCE, &created.migrate_task_id)
            .await
            .unwrap();
        assert_eq!(by_id.db_instance_name, INSTANCE);
        let downloads = rds
            .describe_oss_downloads(INSTANCE, &created.migrate_task_id)
            .await
            .unwrap();
        assert_eq!(
            downloads.items.oss_download[0].file_name,
            "backups/sales.bak"
        );

        let online = rds
            .create_online_database_task(
                INSTANCE,
                &db,
                &created.migrate_task_id,
                CheckDbMode::Async,
            )
            .await
            .unwrap_err();
        assert_eq!(online.code(), Some("IncorrectDBState"));

        rds.delete_database(INSTANCE, &db).await.unwrap();
        let databases = rds.describe_databases(INSTANCE).await.unwrap();
        assert!(
            databases.databases.database.iter().all(|d| d.db_name != db),
            "{databases:?}"
        );
    }
}

#[tokio::test]
async fn sts_credentials_are_accepted_and_checked() {
    let emu = start(vec![instance(INSTANCE)]).await;
    for version in [SignatureVersion::V1, SignatureVersion::V3] {
        let with_token = Credentials::new(STS_AK, STS_SECRET).with_security_token(STS_TOKEN);
        let rds = client(&emu.url, version, with_token);
        rds.describe_db_instance_attribute(INSTANCE).await.unwrap();
        let without = client(&emu.url, version, Credentials::new(STS_AK, STS_SECRET));
        let error = without
            .describe_db_instance_attribute(INSTANCE)
            .await
            .unwrap_err();
        assert!(
            error.code().unwrap().starts_with("InvalidSecurityToken"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_wrong_secret_is_refused_without_showing_it() {
    let emu = start(vec![instance(INSTANCE)]).await;
    for version in [SignatureVersion::V1, SignatureVersion::V3] {
        let wrong = "not-the-secret-XYZ";
        let rds = client(&emu.url, version, Credentials::new(AK, wrong));
        let error = rds.describe_accounts(INSTANCE).await.unwrap_err();
        assert_eq!(error.code(), Some("SignatureDoesNotMatch"), "{error}");
        assert_eq!(error.category(), Category::Config);
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains(wrong) && !shown.contains(SECRET));
        assert!(shown.contains("string to sign withheld"), "{shown}");
        // With STS the echoed string to sign would carry the token: it is never kept.
        let sts = Credentials::new(STS_AK, "wrong").with_security_token(STS_TOKEN);
        let error = client(&emu.url, version, sts)
            .describe_accounts(INSTANCE)
            .await
            .unwrap_err();
        let shown = format!("{error} {error:?}");
        assert_eq!(error.code(), Some("SignatureDoesNotMatch"));
        assert!(
            !shown.contains("CAIS") && !shown.contains("token"),
            "{shown}"
        );
        let unknown = client(&emu.url, version, Credentials::new("nobody", SECRET));
        let error = unknown.describe_accounts(INSTANCE).await.unwrap_err();
        assert_eq!(error.code(), Some("InvalidAccessKeyId.NotFound"));
    }
}

#[tokio::test]
async fn throttling_is_retried_then_reported() {
    let emu = start(vec![instance(INSTANCE)]).await;
    let rds = client(&emu.url, SignatureVersion::V3, Credentials::new(AK, SECRET));
    emu.emulator.fail_next(3, RdsFault::Throttling);
    rds.describe_db_instance_attribute(INSTANCE).await.unwrap();
    emu.emulator.fail_next(50, RdsFault::Throttling);
    let error = rds
        .describe_db_instance_attribute(INSTANCE)
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("Throttling.User"));
    assert_eq!(error.category(), Category::Transient);
    emu.emulator.fail_next(0, RdsFault::Throttling);
}

/// 5xx: Describe calls are retried; CreateMigrateTask only when the server cannot have acted
/// (503), never after an InternalError that may have created the task.
#[tokio::test]
async fn server_errors_are_retried_only_when_safe() {
    let Some(full) = fixture(FULL_2019) else {
        return;
    };
    let emu = start(vec![instance(INSTANCE)]).await;
    emu.objects.put("a.bak", full);
    let rds = client(&emu.url, SignatureVersion::V1, Credentials::new(AK, SECRET));
    emu.emulator.fail_next(2, RdsFault::InternalError);
    rds.describe_databases(INSTANCE).await.unwrap();
    emu.emulator.fail_next(2, RdsFault::ServiceUnavailable);
    rds.describe_accounts(INSTANCE).await.unwrap();

    emu.emulator.fail_next(1, RdsFault::InternalError);
    let error = rds
        .create_migrate_task(&full_request(INSTANCE, "once", "a.bak"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("InternalError"));
    emu.emulator.fail_next(2, RdsFault::ServiceUnavailable);
    rds.create_migrate_task(&full_request(INSTANCE, "once", "a.bak"))
        .await
        .unwrap();
}

#[tokio::test]
async fn api_refusals_are_typed() {
    let emu = start(vec![instance(INSTANCE)]).await;
    emu.objects.put("x.bak", Bytes::from_static(b"x"));
    let rds = client(&emu.url, SignatureVersion::V3, Credentials::new(AK, SECRET));
    let missing = rds
        .describe_db_instance_attribute("rm-nope")
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("InvalidDBInstanceId.NotFound"));
    assert_eq!(missing.category(), Category::Refused);
    let system = rds
        .create_migrate_task(&full_request(INSTANCE, "master", "x.bak"))
        .await
        .unwrap_err();
    assert_eq!(system.code(), Some("InvalidDBName"));
    emu.objects.put("x.zip", Bytes::from_static(b"x"));
    let extension = rds
        .create_migrate_task(&full_request(INSTANCE, "db", "x.zip"))
        .await
        .unwrap_err();
    assert_eq!(extension.code(), Some("IncorrectFileExtension"));
    let colon = rds
        .create_migrate_task(&full_request(INSTANCE, "db", "a:b.bak"))
        .await
        .unwrap_err();
    assert!(matches!(colon, RdsError::Config(_)));
}

/// Each failure of the migration guide the emulator produces, with its exact Description in
/// the guide's current wording, diagnosed back to the cause.
#[tokio::test]
async fn each_documented_failure_is_produced_and_diagnosed() {
    documented_failures(Wording::Current).await;
}

/// The same failures in the older wording (`task_messages = "older"`), which the service may
/// still send.
#[tokio::test]
async fn each_documented_failure_in_the_older_wording_is_diagnosed() {
    documented_failures(Wording::Older).await;
}

async fn documented_failures(wording: Wording) {
    let (Some(full), Some(full_2016), Some(diff), Some(log)) = (
        fixture(FULL_2019),
        fixture(FULL_2016),
        fixture(DIFFERENTIAL),
        fixture(LOG),
    ) else {
        return;
    };
    let file_bytes = full.len() as u64;
    let restored = examine_object(&full, "2019_std_ha").restored_bytes;
    assert!(restored > 0);

    let mut no_account = instance("rm-noaccount");
    no_account.accounts.clear();
    let mut old = instance("rm-2014");
    old.engine_version = "2014_std_ha".into();
    let mut tiny = instance("rm-tiny");
    tiny.storage_gb = 1;
    tiny.used_bytes = GIB - file_bytes / 2;
    let mut tight = instance("rm-tight");
    tight.storage_gb = 1;
    // Room for the file, 1 MiB short of the restored database as well.
    tight.used_bytes = GIB - (file_bytes + restored - (1 << 20));
    let mut full_house = instance("rm-limit");
    full_house.database_limit = Some(1);
    let mut denied = instance("rm-denied");
    if let Some(account) = denied.accounts.first_mut() {
        account.denied_databases = vec!["Locked".into()];
    }

    let emu = start_with(RdsConfig {
        instances: vec![
            instance(INSTANCE),
            no_account,
            old,
            tiny,
            tight,
            full_house,
            denied,
        ],
        restore_ms: RESTORE_MS,
        task_messages: wording,
        ..RdsConfig::default()
    })
    .await;
    let pick = |current: String, older: String| match wording {
        Wording::Current => current,
        Wording::Older => older,
    };
    emu.objects.put("full.bak", full.clone());
    emu.objects.put("new2016.bak", full_2016);
    emu.objects.put("diff.bak", diff);
    emu.objects.put("log.trn", log);
    emu.objects.put("corrupt.bak", full.slice(..full.len() / 3));
    let rds = client(&emu.url, SignatureVersion::V1, Credentials::new(AK, SECRET));

    let tight_left = (file_bytes + restored - (1 << 20)) - file_bytes;
    let cases: Vec<(&str, &str, &str, TaskStatus, String, Cause)> = vec![
        (INSTANCE, "existing_db", "full.bak", TaskStatus::Failed,
         pick("The database (existing_db) already exists on RDS. Please back it up, drop it, and then try again.".into(),
              "The database (existing_db) is already exist on RDS, please backup and drop it, then try again.".into()),
         Cause::SameNameDatabase),
        // RDS's own check compares names as written; SQL Server's does not (second form).
        (INSTANCE, "EXISTING_DB", "full.bak", TaskStatus::Failed,
         "Database 'EXISTING_DB' already exists. Choose a different database name.".into(),
         Cause::SameNameDatabase),
        (INSTANCE, "Master", "full.bak", TaskStatus::Failed,
         "The database (Master) is mssql system db, change your database name and try again.".into(),
         Cause::SystemDatabaseName),
        (INSTANCE, "rdscore", "full.bak", TaskStatus::Failed,
         "The database (rdscore) is RDS system db, change your database name and try again.".into(),
         Cause::RdsSystemDatabaseName),
        ("rm-denied", "locked", "full.bak", TaskStatus::Failed,
         "Cannot open database \"locked\" requested by the login. The login failed.".into(),
         Cause::LoginFailed),
        (INSTANCE, "gone", "deleted/gone.bak", TaskStatus::Failed,
         "Failed to download since could not find backup file (gone.bak) on OSS.".into(),
         Cause::BackupNotFound),
        (INSTANCE, "d1", "diff.bak", TaskStatus::Failed,
         pick("Backup set (diff.bak) is a database differential backup; we only accept a full backup.".into(),
              "Backup set (diff.bak) is a Database Differential backup, we only accept a FULL Backup.".into()),
         Cause::DifferentialBackup),
        (INSTANCE, "d2", "log.trn", TaskStatus::Failed,
         pick("Backup set (log.trn) is a transaction log backup; we only accept a full backup.".into(),
              "Backup set (log.trn) is a Transaction Log backup, we only accept a FULL Backup.".into()),
         Cause::LogBackup),
        (INSTANCE, "d3", "corrupt.bak", TaskStatus::Failed,
         pick("Failed to verify corrupt.bak. The backup file may be corrupted or from a version newer than the destination RDS instance.".into(),
              "Failed to verify corrupt.bak, backup file was corrupted or newer edition than RDS.".into()),
         Cause::CorruptOrNewer),
        ("rm-2014", "d4", "new2016.bak", TaskStatus::Failed,
         pick("Failed to verify new2016.bak. The backup file may be corrupted or from a version newer than the destination RDS instance.".into(),
              "Failed to verify new2016.bak, backup file was corrupted or newer edition than RDS.".into()),
         Cause::CorruptOrNewer),
        ("rm-tiny", "d5", "full.bak", TaskStatus::Failed,
         pick(format!("Not Enough Disk Space, space left {} MB < bak file {} MB.", (file_bytes / 2) >> 20, file_bytes.div_ceil(1 << 20)),
              format!("Not Enough Disk Space, space left {} MB < bak file {} MB", (file_bytes / 2) >> 20, file_bytes.div_ceil(1 << 20))),
         Cause::NoSpaceForFile),
        ("rm-tight", "d6", "full.bak", TaskStatus::Failed,
         pick(format!("Not Enough Disk Space for restoring, space left ({} MB) < needed ({} MB).", tight_left >> 20, restored.div_ceil(1 << 20)),
              format!("Not Enough Disk Space for restoring, space left ({} MB) < needed ({} MB)", tight_left >> 20, restored.div_ceil(1 << 20))),
         Cause::NoSpaceForRestore),
        ("rm-limit", "d7", "full.bak", TaskStatus::Failed,
         pick("The migration of database (d7) failed because it exceeded the database count limit (1).".into(),
              "The database (d7) migration failed due to databases count limitation.".into()),
         Cause::DatabaseCountLimit),
        ("rm-noaccount", "d8", "full.bak", TaskStatus::Success,
         pick("Your RDS doesn\u{2019}t have any init account yet, please create one and grant permissions on RDS console to this migrated database (d8).".into(),
              "Your RDS doesn't have any init account yet, please create one and grant permissions on RDS console to this migrated database (d8).".into()),
         Cause::NoInitAccount),
    ];
    for (instance_id, db, key, status, description, cause) in cases {
        let report = migrate(&rds, instance_id, db, key).await;
        assert_eq!(report.status, status, "{key} on {instance_id}");
        assert_eq!(report.description, description, "{key} on {instance_id}");
        let diagnosis = report.diagnosis.expect("diagnosed");
        assert_eq!(diagnosis.cause, cause);
        assert_eq!(diagnosis.description, description, "kept verbatim");
        assert!(!diagnosis.fix.is_empty());
    }
}

/// SQL Server 2008 R2 on local SSD: the database exists beforehand and the file comes as a
/// presigned URL; an expired URL gives the documented Description.
#[tokio::test]
async fn sql_server_2008_r2_local_ssd_restores_from_a_presigned_url() {
    let Some(full_2008) = fixture("dbatools-appveyor-lab/singlerestore/singlerestore.bak") else {
        return;
    };
    let mut legacy = instance("rm-2008r2");
    legacy.engine_version = "2008r2".into();
    legacy.storage_type = "local_ssd".into();
    legacy.databases = vec!["legacy".into()];
    let emu = start(vec![legacy]).await;
    emu.objects.put("db/legacy.bak", full_2008);
    let rds = client(&emu.url, SignatureVersion::V3, Credentials::new(AK, SECRET));
    let url = |expires: i64| {
        format!(
            "http://{BUCKET}.oss-cn-hangzhou-internal.aliyuncs.com/db/legacy.bak?OSSAccessKeyId={AK}&Expires={expires}&Signature=abc%3D"
        )
    };
    let request = |db: &str, expires: i64| CreateMigrateTaskRequest {
        source: RestoreSource::PresignedUrl(url(expires)),
        ..full_request("rm-2008r2", db, "unused")
    };
    let future = time::OffsetDateTime::now_utc().unix_timestamp() + 8 * 3600;
    let missing = rds
        .create_migrate_task(&request("absent", future))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("InvalidDBName.NotFound"));

    let created = rds
        .create_migrate_task(&request("legacy", 1_000))
        .await
        .unwrap();
    let expired = wait_for_task(
        &rds,
        "rm-2008r2",
        &created.migrate_task_id,
        fast_wait(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(expired.status, TaskStatus::Failed);
    assert_eq!(
        expired.description,
        "Failed to download backup (legacy.bak) since OSS URL was expired."
    );
    assert_eq!(expired.diagnosis.unwrap().cause, Cause::UrlExpired);

    let created = rds
        .create_migrate_task(&request("legacy", future))
        .await
        .unwrap();
    let done = wait_for_task(
        &rds,
        "rm-2008r2",
        &created.migrate_task_id,
        fast_wait(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(done.status, TaskStatus::Success, "{done:?}");
}

/// The venv of `scripts/sdk/setup-venv.sh`, or `None` with a printed reason (no PyPI access).
fn sdk_python() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let output = std::process::Command::new(root.join("scripts/sdk/setup-venv.sh"))
        .output()
        .ok()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    match stdout.lines().last() {
        Some(path) if output.status.success() => Some(PathBuf::from(path.trim())),
        _ => {
            eprintln!(
                "skipped: official SDK venv unavailable: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            None
        }
    }
}

/// aliyun-python-sdk-core + aliyun-python-sdk-rds (V1) and alibabacloud-tea-openapi (V1, V3)
/// against the emulated RDS: well-formed answers for every call, STS, a wrong secret refused,
/// and an incremental migration (UPDF full, UPDF log, DescribeOssDownloads,
/// CreateOnlineDatabaseTask) through the core SDK and the Tea SDK.
#[tokio::test(flavor = "multi_thread")]
async fn official_python_sdks_accept_the_emulated_rds() {
    let Some(full) = fixture(FULL_2019) else {
        return;
    };
    let Some(python) = sdk_python() else { return };
    let emu = start(vec![instance(INSTANCE)]).await;
    emu.objects.put("backups/sdk.bak", full);
    // The incremental scenario's chain: a full and the log that follows it.
    let mut chain = SynthChain::new(SynthDatabase::new(
        "SdkUpdf",
        mssql_backup::TargetVersion::parse("2019").unwrap(),
    ));
    for (key, spec) in [
        ("backups/updf.bak", chain.full(2 << 20)),
        ("backups/updf_1.trn", chain.log(64 << 10)),
    ] {
        let mut bytes = Vec::new();
        write_synthetic(&mut bytes, &spec).unwrap();
        emu.objects.put(key, Bytes::from(bytes));
    }
    let position = |key: &str| format!("{OSS_ENDPOINT}:{BUCKET}:{key}");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/sdk/rds_scenarios.py");
    let output = tokio::process::Command::new(python)
        .arg(script)
        .args(["--endpoint", emu.url.trim_start_matches("http://")])
        .args(["--instance", INSTANCE])
        .args(["--position", &position("backups/sdk.bak")])
        .args(["--updf-full", &position("backups/updf.bak")])
        .args(["--updf-log", &position("backups/updf_1.trn")])
        .env(bak2rds::env_vars::ALIBABA_CLOUD_ACCESS_KEY_ID, AK)
        .env(bak2rds::env_vars::ALIBABA_CLOUD_ACCESS_KEY_SECRET, SECRET)
        .env("BAK2RDS_SDK_STS_KEY_ID", STS_AK)
        .env("BAK2RDS_SDK_STS_SECRET", STS_SECRET)
        .env("BAK2RDS_SDK_STS_TOKEN", STS_TOKEN)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let last = stdout.lines().last().unwrap_or("");
    assert!(output.status.success(), "{last}");
    assert!(
        last.starts_with("sdk-rds: ") && last.ends_with(" passed, 0 failed"),
        "{last}"
    );
    let passed: u32 = last
        .trim_start_matches("sdk-rds: ")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // 3 dialects × 5 calls, 2 STS dialects × 5 calls, 2 SDKs × 5 incremental steps (the last
    // DeleteDatabase), 3 wrong-secret refusals.
    assert_eq!(passed, 38, "{stdout}");
}

/// Runs the binary against the emulator: exit code, stdout, stdout + stderr.
async fn run_cli(emu: &Emulated, args: &[&str]) -> (Option<i32>, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_bak2rds"))
        .args(args)
        .args(["--instance", INSTANCE, "--rds-endpoint", &emu.url])
        .env(bak2rds::env_vars::ALIBABA_CLOUD_ACCESS_KEY_ID, AK)
        .env(bak2rds::env_vars::ALIBABA_CLOUD_ACCESS_KEY_SECRET, SECRET)
        .env_remove(bak2rds::env_vars::ALIBABA_CLOUD_PROFILE)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let text = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    (output.status.code(), stdout, text)
}

/// `bak2rds watch` follows a task to its end (exit 0 on Success, 2 on Failed with the
/// Description verbatim, its cause and fix); `bak2rds tasks` lists them.
#[tokio::test(flavor = "multi_thread")]
async fn watch_and_tasks_commands() {
    let (Some(full), Some(diff)) = (fixture(FULL_2019), fixture(DIFFERENTIAL)) else {
        return;
    };
    let emu = start(vec![instance(INSTANCE)]).await;
    emu.objects.put("ok.bak", full);
    emu.objects.put("diff.bak", diff);
    let rds = client(&emu.url, SignatureVersion::V3, Credentials::new(AK, SECRET));
    let good = rds
        .create_migrate_task(&full_request(INSTANCE, "good", "ok.bak"))
        .await
        .unwrap();
    let bad = rds
        .create_migrate_task(&full_request(INSTANCE, "bad", "diff.bak"))
        .await
        .unwrap();

    let (code, _, text) = run_cli(&emu, &["watch", &good.migrate_task_id]).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("Success"), "{text}");

    let (code, _, text) = run_cli(&emu, &["watch", &bad.migrate_task_id]).await;
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("RDS says: Backup set (diff.bak) is a database differential backup; we only accept a full backup."),
        "{text}"
    );
    assert!(text.contains("fix:   Take a full backup"), "{text}");

    let (code, _, text) = run_cli(&emu, &["tasks"]).await;
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("TASK") && text.contains("STATUS"),
        "a header row: {text}"
    );
    assert!(
        text.contains(&good.migrate_task_id) && text.contains(&bad.migrate_task_id),
        "{text}"
    );

    let (code, stdout, text) = run_cli(&emu, &["--json", "watch", &good.migrate_task_id]).await;
    assert_eq!(code, Some(0), "{text}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["status"], "Success");
    assert_eq!(report["task_id"], good.migrate_task_id.as_str());
}

/// Pre-flight facts gathered from the emulated RDS judge the same problems the emulated restore
/// would report; a created task is found again by its object for a rerun to attach to.
#[tokio::test]
async fn gathered_facts_feed_preflight_and_tasks_are_found_by_object() {
    use bak2rds_cloud::rds::gather::{find_task_for_object, gather_instance};
    use bak2rds_cloud::rds::preflight::{BackupFacts, PreflightFacts, preflight};

    let Some(full) = fixture(FULL_2019) else {
        return;
    };
    let emu = start(vec![instance(INSTANCE)]).await;
    emu.objects.put("backups/full.bak", full.clone());
    let rds = client(&emu.url, SignatureVersion::V1, Credentials::new(AK, SECRET));

    let side = gather_instance(&rds, INSTANCE).await.unwrap();
    assert_eq!(side.instance.storage_gb, 20);
    assert_eq!(side.databases, vec!["existing_db".to_string()]);
    let info = mssql_backup::examine(&full, &mssql_backup::Rules::default())
        .backup
        .unwrap();
    let facts = |target: &str| PreflightFacts {
        instance: side.instance.clone(),
        databases: side.databases.clone(),
        accounts: side.accounts.clone(),
        bucket: None,
        backup: BackupFacts {
            database_name: info.database_name.clone(),
            database_version: Some(info.database_version),
            backup_file_bytes: full.len() as u64,
            restored_bytes: Some(info.files.iter().map(|f| f.size).sum()),
        },
        target_database: target.to_owned(),
        import_role: bak2rds_cloud::rds::preflight::ImportRole::NotChecked,
    };
    let clash = preflight(&facts("existing_db"));
    assert!(clash.refused());
    assert_eq!(clash.findings[0].code, "database_exists");
    let fine = preflight(&facts("newdb"));
    assert!(fine.findings.is_empty(), "{:?}", fine.findings);

    let since = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    assert!(
        find_task_for_object(&rds, INSTANCE, "newdb", "backups/full.bak", since)
            .await
            .unwrap()
            .is_none()
    );
    let created = rds
        .create_migrate_task(&full_request(INSTANCE, "newdb", "backups/full.bak"))
        .await
        .unwrap();
    let found = find_task_for_object(&rds, INSTANCE, "newdb", "backups/full.bak", since)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.migrate_task_id, created.migrate_task_id);
    assert!(
        find_task_for_object(&rds, INSTANCE, "newdb", "backups/other.bak", since)
            .await
            .unwrap()
            .is_none()
    );
}

/// The bytes of a synthetic backup.
pub(crate) fn bytes_of(spec: &mssql_backup::synth::SynthSpec) -> Bytes {
    let mut out = Vec::new();
    write_synthetic(&mut out, spec).unwrap();
    Bytes::from(out)
}

/// DeleteDatabase frees the name for a new restore, as the fix of a name clash asks; a database
/// a restore is still working on, or one that is not there, is refused.
#[tokio::test]
async fn a_dropped_database_can_be_restored_again() {
    // Restores long enough that the drop during one is surely refused, even on a busy machine.
    let emu = start_with(RdsConfig {
        instances: vec![instance(INSTANCE)],
        restore_ms: 1_000,
        ..RdsConfig::default()
    })
    .await;
    let rds = client(&emu.url, SignatureVersion::V3, Credentials::new(AK, SECRET));
    let mut chain = SynthChain::new(SynthDatabase::new(
        "Sales",
        mssql_backup::TargetVersion::parse("2019").unwrap(),
    ));
    emu.objects.put("sales.bak", bytes_of(&chain.full(2 << 20)));
    let names = async |rds: &RdsClient| -> Vec<String> {
        let answer = rds.describe_databases(INSTANCE).await.unwrap();
        answer
            .databases
            .database
            .into_iter()
            .map(|d| d.db_name)
            .collect()
    };

    let created = rds
        .create_migrate_task(&full_request(INSTANCE, "Sales", "sales.bak"))
        .await
        .unwrap();
    let busy = rds.delete_database(INSTANCE, "Sales").await.unwrap_err();
    assert_eq!(busy.code(), Some("Database.DelError"), "{busy}");
    let report = wait_for_task(
        &rds,
        INSTANCE,
        &created.migrate_task_id,
        fast_wait(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(report.status, TaskStatus::Success, "{report:?}");
    assert!(names(&rds).await.contains(&"Sales".to_string()));
    let clash = migrate(&rds, INSTANCE, "Sales", "sales.bak").await;
    assert_eq!(clash.status, TaskStatus::Failed, "{clash:?}");

    rds.delete_database(INSTANCE, "sales").await.unwrap();
    rds.delete_database(INSTANCE, "existing_db").await.unwrap();
    assert!(names(&rds).await.is_empty(), "{:?}", names(&rds).await);
    let again = rds.delete_database(INSTANCE, "Sales").await.unwrap_err();
    assert_eq!(again.code(), Some("InvalidDBName.NotFound"), "{again}");
    let restored = migrate(&rds, INSTANCE, "Sales", "sales.bak").await;
    assert_eq!(restored.status, TaskStatus::Success, "{restored:?}");
    assert_eq!(names(&rds).await, ["Sales"]);
}

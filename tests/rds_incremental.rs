//! Incremental migration against the emulated RDS through the Rust client (rds-api.md §1.6,
//! §1.7): a full restored WITH NORECOVERY, differentials and logs judged against the LSN chain
//! with the exact §5 texts, the opening by CreateOnlineDatabaseTask, and the API refusals
//! around it (coupling, wrong task, wrong state, daily quotas). Synthetic chains always run;
//! the real SQL Server 2016 chain runs when the fixtures are present.

use std::time::Duration;

use bak2rds_cloud::rds::model::{
    BackupMode, CheckDbMode, CreateMigrateTaskRequest, DescribeMigrateTaskByIdResponse,
    RestoreSource, TaskStatus,
};
use bak2rds_cloud::rds::{Credentials, RdsClient, RdsError, SignatureVersion};
use bak2rds_emulator::rds::RdsConfig;
use mssql_backup::synth::{SynthChain, SynthDatabase};
use mssql_backup::{Lsn, TargetVersion};

use crate::rds::{
    AK, BUCKET, Emulated, INSTANCE, OSS_ENDPOINT, RESTORE_MS, SECRET, bytes_of, client, fixture,
    instance, start_with,
};

/// A running emulator with the default instance, and a V3 client for it.
async fn setup(tweak: impl FnOnce(&mut RdsConfig)) -> (Emulated, RdsClient) {
    let mut config = RdsConfig {
        instances: vec![instance(INSTANCE)],
        restore_ms: RESTORE_MS,
        ..RdsConfig::default()
    };
    tweak(&mut config);
    let emu = start_with(config).await;
    let rds = client(&emu.url, SignatureVersion::V3, Credentials::new(AK, SECRET));
    (emu, rds)
}

/// A database "Sales" written by SQL Server 2019; `seed` tells two databases of that name apart.
fn sales(seed: u64) -> SynthChain {
    let mut database = SynthDatabase::new("Sales", TargetVersion::parse("2019").unwrap());
    database.seed = seed;
    SynthChain::new(database)
}

/// A CreateMigrateTask for `key` in UPDF mode; `task` continues that task.
fn updf(db: &str, key: &str, task: Option<&str>) -> CreateMigrateTaskRequest {
    CreateMigrateTaskRequest {
        db_instance_id: INSTANCE.into(),
        db_name: db.into(),
        backup_mode: BackupMode::Incremental,
        is_online_db: false,
        check_db_mode: None,
        source: RestoreSource::OssObject {
            endpoint: OSS_ENDPOINT.into(),
            bucket: BUCKET.into(),
            key: key.into(),
        },
        migrate_task_id: task.map(str::to_owned),
    }
}

fn full(db: &str, key: &str) -> CreateMigrateTaskRequest {
    CreateMigrateTaskRequest {
        backup_mode: BackupMode::Full,
        is_online_db: true,
        check_db_mode: Some(CheckDbMode::Async),
        ..updf(db, key, None)
    }
}

/// Polls until the task is no longer NoStart/Running (Waiting is where an incremental task
/// rests; `wait_for_task` only stops at Success/Failed).
async fn settle(rds: &RdsClient, task: &str) -> DescribeMigrateTaskByIdResponse {
    for _ in 0..200 {
        let now = rds
            .describe_migrate_task_by_id(INSTANCE, task)
            .await
            .unwrap();
        if !matches!(now.status, TaskStatus::NoStart | TaskStatus::Running) {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("task {task} never settled");
}

/// Submits `key` as an increment of `task` and waits for it; asserts the task ID is kept.
async fn increment(
    rds: &RdsClient,
    db: &str,
    task: &str,
    key: &str,
) -> DescribeMigrateTaskByIdResponse {
    let created = rds
        .create_migrate_task(&updf(db, key, Some(task)))
        .await
        .unwrap();
    assert_eq!(created.migrate_task_id, task, "an increment joins its task");
    assert_eq!(created.backup_mode, "UPDF");
    let now = rds
        .describe_migrate_task_by_id(INSTANCE, task)
        .await
        .unwrap();
    assert_eq!(now.status, TaskStatus::Running, "Waiting → Running at once");
    settle(rds, task).await
}

/// Starts an incremental migration of `key` and waits until it waits.
async fn start_chain(rds: &RdsClient, db: &str, key: &str) -> String {
    let created = rds.create_migrate_task(&updf(db, key, None)).await.unwrap();
    let task = created.migrate_task_id;
    let waiting = settle(rds, &task).await;
    assert_eq!(waiting.status, TaskStatus::Waiting, "{waiting:?}");
    assert_eq!(waiting.backup_mode, "UPDF");
    assert_eq!(waiting.description, "");
    task
}

async fn db_status(rds: &RdsClient, db: &str) -> Option<String> {
    rds.describe_databases(INSTANCE)
        .await
        .unwrap()
        .databases
        .database
        .into_iter()
        .find(|d| d.db_name == db)
        .map(|d| d.db_status)
}

fn code(error: &RdsError) -> &str {
    error.code().unwrap_or("")
}

fn too_recent(first: Lsn) -> String {
    format!(
        "The log in this backup set begins at LSN {}, which is too recent to apply to the database. RESTORE LOG is terminating abnormally.",
        first.as_decimal()
    )
}

#[tokio::test]
async fn full_diff_logs_then_open_brings_the_database_online() {
    let (emu, rds) = setup(|_| {}).await;
    let mut chain = sales(1);
    let specs = [
        ("sales.bak", chain.full(2 << 20)),
        ("sales.diff", chain.differential(1 << 20)),
        ("sales_1.trn", chain.log(64 << 10)),
        ("sales_2.trn", chain.log(64 << 10)),
    ];
    for (key, spec) in &specs {
        emu.objects.put(key, bytes_of(spec));
    }
    let first = rds
        .create_migrate_task(&updf("sales", "sales.bak", None))
        .await
        .unwrap();
    let task = first.migrate_task_id.clone();
    // Counted as a database (name clash, limit) but not usable while restoring.
    settle(&rds, &task).await;
    assert_eq!(db_status(&rds, "sales").await.as_deref(), Some("Restoring"));
    let mut async_ids = vec![first.task_id];
    for (key, _) in &specs[1..] {
        let created = rds
            .create_migrate_task(&updf("sales", key, Some(&task)))
            .await
            .unwrap();
        async_ids.push(created.task_id);
        let now = settle(&rds, &task).await;
        assert_eq!(
            (now.status, now.description.as_str()),
            (TaskStatus::Waiting, ""),
            "{key}"
        );
    }
    async_ids.dedup();
    assert_eq!(async_ids.len(), 4, "a new instance-level TaskId per call");

    let files = rds
        .describe_oss_downloads(INSTANCE, &task)
        .await
        .unwrap()
        .items
        .oss_download;
    let listed: Vec<(&str, &str, &str)> = files
        .iter()
        .map(|f| {
            (
                f.file_name.as_str(),
                f.backup_mode.as_str(),
                f.status.as_str(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("sales.bak", "Database", "Restored"),
            ("sales.diff", "Differential_Database", "Restored"),
            ("sales_1.trn", "Transaction_Log", "Restored"),
            ("sales_2.trn", "Transaction_Log", "Restored"),
        ]
    );

    rds.create_online_database_task(INSTANCE, "sales", &task, CheckDbMode::Async)
        .await
        .unwrap();
    let now = rds
        .describe_migrate_task_by_id(INSTANCE, &task)
        .await
        .unwrap();
    assert_eq!(now.status, TaskStatus::Running);
    let done = settle(&rds, &task).await;
    assert_eq!(done.status, TaskStatus::Success);
    assert_eq!(done.description, "Success to DBCC checkdb asynchronously");
    assert!(!done.end_time.is_empty());
    assert_eq!(db_status(&rds, "sales").await.as_deref(), Some("Running"));

    // Opened once only; the chain is closed to further files.
    let again = rds
        .create_online_database_task(INSTANCE, "sales", &task, CheckDbMode::Async)
        .await
        .unwrap_err();
    assert_eq!(code(&again), "IncorrectDBState");
    let late = rds
        .create_migrate_task(&updf("sales", "sales_2.trn", Some(&task)))
        .await
        .unwrap_err();
    assert_eq!(code(&late), "IncorrectDBState");
}

#[tokio::test]
async fn a_log_gap_fails_that_file_and_the_task_waits_for_the_right_one() {
    let (emu, rds) = setup(|_| {}).await;
    let mut chain = sales(1);
    let full_spec = chain.full(2 << 20);
    let log1 = chain.log(64 << 10);
    let log2 = chain.log(64 << 10);
    emu.objects.put("full.bak", bytes_of(&full_spec));
    emu.objects.put("log1.trn", bytes_of(&log1));
    emu.objects.put("log2.trn", bytes_of(&log2));
    let task = start_chain(&rds, "gap", "full.bak").await;

    let skipped = increment(&rds, "gap", &task, "log2.trn").await;
    assert_eq!(skipped.status, TaskStatus::Waiting);
    assert_eq!(skipped.description, too_recent(log2.lsns.first));
    let files = rds
        .describe_oss_downloads(INSTANCE, &task)
        .await
        .unwrap()
        .items
        .oss_download;
    assert_eq!(files.len(), 2);
    assert_eq!(files[1].status, "RestoreFailed");
    assert_eq!(files[1].description, too_recent(log2.lsns.first));

    // Still usable: the missing log, then the one that failed, then open.
    let good = increment(&rds, "gap", &task, "log1.trn").await;
    assert_eq!(
        (good.status, good.description.as_str()),
        (TaskStatus::Waiting, "")
    );
    let good = increment(&rds, "gap", &task, "log2.trn").await;
    assert_eq!(good.status, TaskStatus::Waiting);
    // log1 again is now wholly before the database: SQL Server's "too early" (4326).
    let early = increment(&rds, "gap", &task, "log1.trn").await;
    assert!(
        early.description.starts_with(&format!(
            "The log in this backup set terminates at LSN {}, which is too early",
            log1.lsns.last.as_decimal()
        )),
        "{}",
        early.description
    );
    rds.create_online_database_task(INSTANCE, "gap", &task, CheckDbMode::Sync)
        .await
        .unwrap();
    let done = settle(&rds, &task).await;
    // Synchronous CHECKDB: the same empty Description a FULL restore ends with.
    assert_eq!(
        (done.status, done.description.as_str()),
        (TaskStatus::Success, "")
    );
}

#[tokio::test]
async fn a_full_again_another_fulls_diff_and_another_databases_log_are_refused() {
    let (emu, rds) = setup(|_| {}).await;
    let mut chain = sales(1);
    let first_full = chain.full(2 << 20);
    let _second_full = chain.full(2 << 20);
    let diff_of_second = chain.differential(1 << 20);
    let mut stranger = sales(2);
    stranger.full(2 << 20);
    let strangers_log = stranger.log(64 << 10);
    emu.objects.put("full.bak", bytes_of(&first_full));
    emu.objects.put("other.diff", bytes_of(&diff_of_second));
    emu.objects.put("stranger.trn", bytes_of(&strangers_log));
    let task = start_chain(&rds, "mixed", "full.bak").await;

    let cases = [
        (
            "full.bak",
            "Backup set (full.bak) is a Database FULL backup, we only accept transaction log or differential backup.",
            "CheckFailed",
        ),
        (
            "other.diff",
            "This differential backup cannot be restored because the database has not been restored to the correct earlier state. RESTORE DATABASE is terminating abnormally.",
            "RestoreFailed",
        ),
        (
            "stranger.trn",
            "The backup set holds a backup of a database other than the existing 'mixed' database. RESTORE LOG is terminating abnormally.",
            "RestoreFailed",
        ),
    ];
    for (index, (key, description, file_status)) in cases.iter().enumerate() {
        let now = increment(&rds, "mixed", &task, key).await;
        assert_eq!(now.status, TaskStatus::Waiting, "{key}");
        assert_eq!(now.description, *description, "{key}");
        let files = rds
            .describe_oss_downloads(INSTANCE, &task)
            .await
            .unwrap()
            .items
            .oss_download;
        let file = &files[index + 1];
        assert_eq!(
            (file.status.as_str(), file.description.as_str()),
            (*file_status, *description)
        );
    }
}

#[tokio::test]
async fn opening_and_continuing_need_a_waiting_task_of_that_database() {
    let (emu, rds) = setup(|_| {}).await;
    let mut chain = sales(1);
    emu.objects.put("full.bak", bytes_of(&chain.full(2 << 20)));
    emu.objects.put("log.trn", bytes_of(&chain.log(64 << 10)));

    let missing = rds
        .create_online_database_task(INSTANCE, "db", "999999", CheckDbMode::Async)
        .await
        .unwrap_err();
    assert_eq!(code(&missing), "InvalidMigrateTaskId.NotFound");
    let missing = rds
        .create_migrate_task(&updf("db", "log.trn", Some("999999")))
        .await
        .unwrap_err();
    assert_eq!(code(&missing), "InvalidMigrateTaskId.NotFound");

    let created = rds
        .create_migrate_task(&updf("db", "full.bak", None))
        .await
        .unwrap();
    let task = created.migrate_task_id;
    // Before Waiting: neither an increment nor the opening.
    let early = rds
        .create_online_database_task(INSTANCE, "db", &task, CheckDbMode::Async)
        .await
        .unwrap_err();
    assert_eq!(code(&early), "IncorrectDBState");
    let early = rds
        .create_migrate_task(&updf("db", "log.trn", Some(&task)))
        .await
        .unwrap_err();
    assert_eq!(code(&early), "IncorrectDBState");
    assert_eq!(settle(&rds, &task).await.status, TaskStatus::Waiting);

    let wrong_db = rds
        .create_online_database_task(INSTANCE, "other", &task, CheckDbMode::Async)
        .await
        .unwrap_err();
    assert_eq!(code(&wrong_db), "InvalidDBName.NotFound");
    // The restoring database already holds its name.
    let clash = rds
        .create_migrate_task(&full("db", "full.bak"))
        .await
        .unwrap();
    let clash = settle(&rds, &clash.migrate_task_id).await;
    assert_eq!(clash.status, TaskStatus::Failed);
    assert_eq!(
        clash.description,
        "The database (db) already exists on RDS. Please back it up, drop it, and then try again."
    );
    // A FULL task never waits: it cannot be opened or continued.
    let full_task = clash.migrate_task_id;
    let not_waiting = rds
        .create_online_database_task(INSTANCE, "db", &full_task, CheckDbMode::Async)
        .await
        .unwrap_err();
    assert_eq!(code(&not_waiting), "IncorrectDBState");
    assert_eq!(
        increment(&rds, "db", &task, "log.trn").await.status,
        TaskStatus::Waiting
    );
}

#[tokio::test]
async fn backup_mode_and_is_online_db_are_coupled() {
    let mut legacy = instance("rm-2008r2");
    legacy.engine_version = "2008r2".into();
    let (emu, rds) = setup(|config| config.instances.push(legacy)).await;
    emu.objects
        .put("full.bak", bytes_of(&sales(1).full(2 << 20)));
    let full_not_online = CreateMigrateTaskRequest {
        is_online_db: false,
        ..full("a", "full.bak")
    };
    let updf_online = CreateMigrateTaskRequest {
        is_online_db: true,
        ..updf("a", "full.bak", None)
    };
    let full_with_task = CreateMigrateTaskRequest {
        migrate_task_id: Some("100001".into()),
        ..full("a", "full.bak")
    };
    let updf_on_2008r2 = CreateMigrateTaskRequest {
        db_instance_id: "rm-2008r2".into(),
        ..updf("a", "full.bak", None)
    };
    for (request, expected) in [
        (full_not_online, "InvalidIsOnlineDB"),
        (updf_online, "InvalidIsOnlineDB"),
        (full_with_task, "InvalidMigrateTaskId"),
        (updf_on_2008r2, "InvalidIsOnlineDB"),
    ] {
        let error = rds.create_migrate_task(&request).await.unwrap_err();
        assert_eq!(code(&error), expected, "{request:?}");
    }
    // FULL + True still restores and opens in one go.
    let created = rds
        .create_migrate_task(&full("a", "full.bak"))
        .await
        .unwrap();
    let done = settle(&rds, &created.migrate_task_id).await;
    assert_eq!(
        (done.status, done.backup_mode.as_str()),
        (TaskStatus::Success, "FULL")
    );
}

#[tokio::test]
async fn daily_quotas_count_every_create_migrate_task() {
    let (emu, rds) = setup(|config| {
        config.migrations_per_database_per_day = 3;
        config.migrations_per_instance_per_day = 4;
    })
    .await;
    let mut chain = sales(1);
    emu.objects.put("full.bak", bytes_of(&chain.full(2 << 20)));
    emu.objects.put("log1.trn", bytes_of(&chain.log(64 << 10)));
    emu.objects.put("log2.trn", bytes_of(&chain.log(64 << 10)));
    emu.objects.put("log3.trn", bytes_of(&chain.log(64 << 10)));
    let task = start_chain(&rds, "q", "full.bak").await;
    increment(&rds, "q", &task, "log1.trn").await;
    increment(&rds, "q", &task, "log2.trn").await;
    let error = rds
        .create_migrate_task(&updf("q", "log3.trn", Some(&task)))
        .await
        .unwrap_err();
    assert_eq!(code(&error), "UploadLimitExceeded");
    // Refused calls are not counted: one more database fits, then the instance is full.
    rds.create_migrate_task(&full("other", "full.bak"))
        .await
        .unwrap();
    let error = rds
        .create_migrate_task(&full("third", "full.bak"))
        .await
        .unwrap_err();
    assert_eq!(code(&error), "ConcurrentTaskExceeded");
}

/// The real SQL Server 2016 chain of the fixtures (LSNs in MANIFEST.tsv): full → diff → three
/// logs → open; and a second database where the first log after the full is skipped.
#[tokio::test]
async fn the_real_2016_chain_restores_and_a_skipped_log_is_named_by_its_lsn() {
    const DIR: &str = "dbatools-appveyor-lab/restoretimeclean2016";
    let names = [
        "RestoreTimeClean.bak",
        "RestoreTimeClean2.bak",
        "RestoreTimeClean2_1.trn",
        "RestoreTimeClean2_2.trn",
        "RestoreTimeClean2_3.trn",
        "RestoreTimeClean_2.trn",
    ];
    let mut files = Vec::new();
    for name in names {
        let Some(bytes) = fixture(&format!("{DIR}/{name}")) else {
            return;
        };
        files.push((name, bytes));
    }
    // The default instance runs 2019, newer than the 2016 source (§1.1).
    let (emu, rds) = setup(|_| {}).await;
    for (name, bytes) in &files {
        emu.objects.put(name, bytes.clone());
    }
    let task = start_chain(&rds, "rtc", "RestoreTimeClean.bak").await;
    for name in &names[1..5] {
        let now = increment(&rds, "rtc", &task, name).await;
        assert_eq!(
            (now.status, now.description.as_str()),
            (TaskStatus::Waiting, ""),
            "{name}"
        );
    }
    rds.create_online_database_task(INSTANCE, "rtc", &task, CheckDbMode::Async)
        .await
        .unwrap();
    assert_eq!(settle(&rds, &task).await.status, TaskStatus::Success);
    assert_eq!(db_status(&rds, "rtc").await.as_deref(), Some("Running"));

    let gap = start_chain(&rds, "rtc_gap", "RestoreTimeClean.bak").await;
    let skipped = increment(&rds, "rtc_gap", &gap, "RestoreTimeClean_2.trn").await;
    assert_eq!(
        skipped.description,
        "The log in this backup set begins at LSN 39000000054100001, which is too recent to apply to the database. RESTORE LOG is terminating abnormally."
    );
}

/// A database left restoring by an incremental migration can be dropped (DeleteDatabase); its
/// task then takes neither another file nor the opening, and ends Failed instead of waiting.
#[tokio::test]
async fn a_dropped_restoring_database_ends_its_migration() {
    let (emu, rds) = setup(|_| {}).await;
    let mut chain = sales(1);
    emu.objects.put("sales.bak", bytes_of(&chain.full(2 << 20)));
    emu.objects
        .put("sales_1.trn", bytes_of(&chain.log(64 << 10)));
    let task = start_chain(&rds, "Sales", "sales.bak").await;
    assert_eq!(db_status(&rds, "Sales").await.as_deref(), Some("Restoring"));

    rds.delete_database(INSTANCE, "Sales").await.unwrap();
    assert_eq!(db_status(&rds, "Sales").await, None);
    let log = rds
        .create_migrate_task(&updf("Sales", "sales_1.trn", Some(&task)))
        .await
        .unwrap_err();
    assert_eq!(code(&log), "InvalidDBName.NotFound", "{log}");
    let open = rds
        .create_online_database_task(INSTANCE, "Sales", &task, CheckDbMode::Async)
        .await
        .unwrap_err();
    assert_eq!(code(&open), "InvalidDBName.NotFound", "{open}");
    let ended = settle(&rds, &task).await;
    assert_eq!(ended.status, TaskStatus::Failed, "{ended:?}");
    assert!(ended.description.contains("was deleted"), "{ended:?}");
    assert!(!ended.end_time.is_empty(), "{ended:?}");
}

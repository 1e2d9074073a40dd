//! `migrate` end to end against the emulator (OSS + RDS on 127.0.0.1): success, refusals caught
//! by pre-flight with their fixes, the same refusals produced by the emulated RDS when pre-flight
//! is bypassed (mapped back to cause and fix), and resumption after a crash at each step.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bak2rds::migrate::{Clients, MigrateEvent, MigrateOutcome, MigrateSpec, run};
use bak2rds::upload::checkpoint::CheckpointStore;
use bak2rds::upload::engine::UploadOptions;
use bak2rds::upload::progress::Counters;
use bak2rds_cloud::rds::diagnose::Cause;
use bak2rds_cloud::rds::model::{CheckDbMode, TaskStatus};
use bak2rds_cloud::rds::wait::WaitOptions;
use bak2rds_emulator::rds::RdsFault;
use bak2rds_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use mssql_backup::TargetVersion;
use mssql_backup::synth::{SynthDatabase, SynthKind, SynthSpec, write_synthetic_file};
use tokio_util::sync::CancellationToken;

const INSTANCE: &str = "rm-test0001";

async fn emulator(instance_toml: &str, restore_ms: u64) -> EmulatorHandle {
    let config = EmulatorConfig::from_toml(&format!(
        "restore_ms = {restore_ms}\n[[instance]]\nid = \"{INSTANCE}\"\n{instance_toml}\n"
    ))
    .unwrap();
    Emulator::builder()
        .config(config)
        .memory()
        .start()
        .await
        .unwrap()
}

fn backup(dir: &Path, name: &str, kind: SynthKind, version: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let database = SynthDatabase::new("Sales", TargetVersion::parse(version).unwrap());
    write_synthetic_file(&path, &SynthSpec::single(database, kind, 3 << 20)).unwrap();
    path
}

fn clients(emulator: &EmulatorHandle) -> Clients {
    Clients::one_endpoint(
        emulator.oss_config(),
        emulator.rds_config(),
        emulator.credentials(),
    )
    .unwrap()
}

fn spec(emulator: &EmulatorHandle, dir: &Path, file: &Path, database: &str) -> MigrateSpec {
    MigrateSpec {
        file: file.to_path_buf(),
        instance_id: INSTANCE.into(),
        database: database.into(),
        bucket: emulator.bucket().into(),
        key: "Sales_FULL.bak".into(),
        check_db: CheckDbMode::Async,
        dry_run: false,
        skip_preflight: false,
        delete_after: false,
        upload: UploadOptions {
            part_size: Some(1 << 20),
            ..UploadOptions::default()
        },
        checkpoints: CheckpointStore::new(dir.join("checkpoints")),
        state_dir: dir.join("state"),
        wait: WaitOptions {
            first_interval: Duration::from_millis(50),
            max_interval: Duration::from_millis(200),
            deadline: Duration::from_secs(60),
        },
    }
}

async fn migrate(
    spec: MigrateSpec,
    clients: Clients,
) -> (
    Result<MigrateOutcome, bak2rds::migrate::MigrateError>,
    Vec<MigrateEvent>,
) {
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let outcome = run(
        spec,
        clients,
        events,
        Arc::new(Counters::default()),
        CancellationToken::new(),
    )
    .await;
    let mut seen = Vec::new();
    while let Ok(event) = received.try_recv() {
        seen.push(event);
    }
    (outcome, seen)
}

fn finished(outcome: MigrateOutcome) -> Box<bak2rds::migrate::MigrateReport> {
    match outcome {
        MigrateOutcome::Finished(report) => report,
        other => panic!("expected a finished task, got {other:?}"),
    }
}

fn refusal_codes(outcome: &MigrateOutcome, expected_stage: &str) -> Vec<String> {
    match outcome {
        MigrateOutcome::Refused { stage, findings } => {
            assert_eq!(*stage, expected_stage);
            assert!(
                findings.iter().all(|f| !f.fix.is_empty()),
                "every finding has a fix"
            );
            findings.iter().map(|f| f.code.clone()).collect()
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn nothing_uploaded(clients: &Clients) {
    assert_eq!(
        clients.oss.head_object("Sales_FULL.bak").await.unwrap(),
        None
    );
    assert!(
        clients
            .oss
            .list_multipart_uploads(None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_full_backup_ends_online_on_the_instance() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = emulator("", 200).await;
    let file = backup(dir.path(), "Sales_FULL.bak", SynthKind::Full, "2019");
    let clients = clients(&emulator);
    let (outcome, events) =
        migrate(spec(&emulator, dir.path(), &file, "Sales"), clients.clone()).await;
    let report = finished(outcome.unwrap());
    assert!(report.succeeded(), "{:?}", report.task);
    assert_eq!(
        report.crc64,
        bak2rds_cloud::checksum::crc64(&std::fs::read(&file).unwrap())
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, MigrateEvent::TaskCreated { .. }))
    );
    let databases = clients.rds.describe_databases(INSTANCE).await.unwrap();
    assert!(
        databases
            .databases
            .database
            .iter()
            .any(|d| d.db_name == "Sales")
    );
}

/// The one state file of `state_dir`, as JSON.
fn state_file(state_dir: &Path) -> (std::path::PathBuf, serde_json::Value) {
    let path = std::fs::read_dir(state_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a state file");
    let json = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    (path, json)
}

fn has_warning(events: &[MigrateEvent], text: &str) -> bool {
    events
        .iter()
        .any(|e| matches!(e, MigrateEvent::Warning { message } if message.contains(text)))
}

/// First hour 3: a finished migration whose state file was lost is found on the instance and
/// reported as done, never refused for the database it created.
#[tokio::test]
async fn a_finished_migration_whose_state_was_lost_is_reported_done() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = emulator("", 100).await;
    let file = backup(dir.path(), "Sales_FULL.bak", SynthKind::Full, "2019");
    let clients = clients(&emulator);
    let (outcome, _) = migrate(spec(&emulator, dir.path(), &file, "Sales"), clients.clone()).await;
    let first = finished(outcome.unwrap());
    assert!(first.succeeded());
    std::fs::remove_dir_all(dir.path().join("state")).unwrap();

    let (outcome, events) =
        migrate(spec(&emulator, dir.path(), &file, "Sales"), clients.clone()).await;
    let again = finished(outcome.unwrap());
    assert!(again.succeeded() && again.already_migrated, "{again:?}");
    assert_eq!(again.task.task_id, first.task.task_id);
    assert_eq!(again.crc64, first.crc64);
    assert!(has_warning(&events, "no migration state for this file"));

    // Another backup under the same name is not taken for the migrated one.
    std::fs::remove_dir_all(dir.path().join("state")).unwrap();
    let other = dir.path().join("other").join("Sales_FULL.bak");
    std::fs::create_dir_all(other.parent().unwrap()).unwrap();
    let database = SynthDatabase {
        seed: 7,
        ..SynthDatabase::new("Sales", TargetVersion::parse("2019").unwrap())
    };
    write_synthetic_file(
        &other,
        &SynthSpec::single(database, SynthKind::Full, 3 << 20),
    )
    .unwrap();
    let (outcome, _) = migrate(spec(&emulator, dir.path(), &other, "Sales"), clients).await;
    let codes = refusal_codes(&outcome.unwrap(), "preflight");
    assert_eq!(codes, vec!["database_exists"]);
}

/// First hour 4: the state names a task RDS no longer knows.
#[tokio::test]
async fn a_state_naming_a_task_rds_forgot_is_handled() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = emulator("", 100).await;
    let file = backup(dir.path(), "Sales_FULL.bak", SynthKind::Full, "2019");
    let clients = clients(&emulator);
    let (outcome, _) = migrate(spec(&emulator, dir.path(), &file, "Sales"), clients.clone()).await;
    let first = finished(outcome.unwrap());
    assert!(first.succeeded());
    let (path, mut state) = state_file(&dir.path().join("state"));
    state["task_id"] = "999999".into();
    std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();

    // Recorded as restored: reported done from the record.
    let (outcome, events) =
        migrate(spec(&emulator, dir.path(), &file, "Sales"), clients.clone()).await;
    let done = finished(outcome.unwrap());
    assert!(done.succeeded() && done.already_migrated, "{done:?}");
    assert_eq!(done.task.task_id, first.task.task_id);
    assert!(has_warning(&events, "no longer lists task 999999"));

    // No record of how it ended, and the database is there: the user decides, told how.
    state["restored"] = serde_json::Value::Null;
    std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();
    let (outcome, _) = migrate(spec(&emulator, dir.path(), &file, "Sales"), clients.clone()).await;
    let message = outcome.unwrap_err().to_string();
    for part in [
        path.to_str().unwrap(),
        "999999",
        "no longer knows",
        "drop Sales",
        "move",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }

    // The database gone too: the restore starts again, without uploading again.
    clients
        .rds
        .delete_database(INSTANCE, "Sales")
        .await
        .unwrap();
    let (outcome, events) =
        migrate(spec(&emulator, dir.path(), &file, "Sales"), clients.clone()).await;
    let again = finished(outcome.unwrap());
    assert!(again.succeeded() && !again.already_migrated, "{again:?}");
    assert_ne!(again.task.task_id, "999999");
    assert!(has_warning(&events, "the restore starts again"));
    assert!(again.upload.is_none(), "the upload is kept");
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = emulator("", 200).await;
    let file = backup(dir.path(), "Sales_FULL.bak", SynthKind::Full, "2019");
    let clients = clients(&emulator);
    let mut spec = spec(&emulator, dir.path(), &file, "Sales");
    spec.dry_run = true;
    let (outcome, _) = migrate(spec, clients.clone()).await;
    assert!(matches!(outcome.unwrap(), MigrateOutcome::Planned { .. }));
    nothing_uploaded(&clients).await;
}

#[tokio::test]
async fn refusals_are_caught_before_any_upload_with_their_fix() {
    let dir = tempfile::tempdir().unwrap();
    // Same-name database, 2016 instance for a 2019 backup, too little space.
    let emulator = emulator(
        "engine_version = \"2016_std_ha\"\nstorage_gb = 20\nused_bytes = 21474836480\ndatabases = [\"Sales\"]",
        200,
    )
    .await;
    let file = backup(dir.path(), "Sales_FULL.bak", SynthKind::Full, "2019");
    let clients = clients(&emulator);
    let (outcome, _) = migrate(spec(&emulator, dir.path(), &file, "Sales"), clients.clone()).await;
    let outcome = outcome.unwrap();
    // The version check belongs to inspect (it knows the backup's version and the target).
    let codes = refusal_codes(&outcome, "inspect");
    assert!(
        codes
            .iter()
            .any(|c| c.contains("version") || c.contains("newer")),
        "{codes:?}"
    );
    nothing_uploaded(&clients).await;

    let file_2016 = backup(dir.path(), "Sales2016_FULL.bak", SynthKind::Full, "2016");
    let (outcome, _) = migrate(
        spec(&emulator, dir.path(), &file_2016, "Sales"),
        clients.clone(),
    )
    .await;
    let codes = refusal_codes(&outcome.unwrap(), "preflight");
    assert!(codes.iter().any(|c| c == "database_exists"), "{codes:?}");
    assert!(codes.iter().any(|c| c.contains("space")), "{codes:?}");
    nothing_uploaded(&clients).await;
}

#[tokio::test]
async fn a_differential_is_refused_at_inspection() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = emulator("", 200).await;
    let file = backup(
        dir.path(),
        "Sales_DIFF.bak",
        SynthKind::Differential,
        "2019",
    );
    let clients = clients(&emulator);
    let (outcome, _) = migrate(spec(&emulator, dir.path(), &file, "Sales"), clients.clone()).await;
    let codes = refusal_codes(&outcome.unwrap(), "inspect");
    assert!(
        codes.iter().any(|c| c.contains("differential")),
        "{codes:?}"
    );
    nothing_uploaded(&clients).await;
}

/// With pre-flight bypassed, the emulated RDS refuses with the documented Description, and
/// the report maps it back to its cause and fix.
#[tokio::test]
async fn rds_refusals_come_back_verbatim_with_cause_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = emulator("databases = [\"Sales\"]", 100).await;
    let file = backup(dir.path(), "Sales_FULL.bak", SynthKind::Full, "2019");
    let mut spec = spec(&emulator, dir.path(), &file, "Sales");
    spec.skip_preflight = true;
    let (outcome, _) = migrate(spec, clients(&emulator)).await;
    let report = finished(outcome.unwrap());
    assert_eq!(report.task.status, TaskStatus::Failed);
    assert_eq!(
        report.task.description,
        "The database (Sales) already exists on RDS. Please back it up, drop it, and then try again."
    );
    let diagnosis = report
        .task
        .diagnosis
        .expect("a documented Description is diagnosed");
    assert_eq!(diagnosis.cause, Cause::SameNameDatabase);
    assert!(!diagnosis.fix.is_empty());
}

/// `--skip-preflight` (the rehearsal switch) lets each failure the pre-flight would refuse reach
/// the emulated RDS, which ends the task with the guide's current wording, explained by the same
/// diagnosis `watch` prints.
#[tokio::test]
async fn the_rehearsal_switch_reaches_each_failure_the_preflight_foresees() {
    const GIB: u64 = 1 << 30;
    let dir = tempfile::tempdir().unwrap();
    let full = backup(dir.path(), "full.bak", SynthKind::Full, "2019");
    let full_bytes = std::fs::metadata(&full).unwrap().len();
    let restored =
        bak2rds_emulator::restore::examine_object(&std::fs::read(&full).unwrap(), "2019_std_ha")
            .restored_bytes;
    let striped = dir.path().join("striped.bak");
    let database = SynthDatabase::new("Sales", TargetVersion::parse("2019").unwrap());
    write_synthetic_file(
        &striped,
        &SynthSpec::single(database, SynthKind::Full, 3 << 20).family(1, 2),
    )
    .unwrap();
    let config = format!(
        "restore_ms = 50\n\
         [[instance]]\nid = \"{INSTANCE}\"\ndatabases = [\"Sales\"]\n\
         [[instance]]\nid = \"rm-limit\"\ndatabases = [\"other\"]\ndatabase_limit = 1\n\
         [[instance]]\nid = \"rm-tiny\"\nstorage_gb = 1\nused_bytes = {}\n\
         [[instance]]\nid = \"rm-tight\"\nstorage_gb = 1\nused_bytes = {}\n",
        GIB - full_bytes / 2,
        GIB - (full_bytes + restored - (1 << 20)),
    );
    let emulator = Emulator::builder()
        .config(EmulatorConfig::from_toml(&config).unwrap())
        .memory()
        .start()
        .await
        .unwrap();
    let cases = [
        (
            INSTANCE,
            "SALES",
            &full,
            "Database 'SALES' already exists. Choose a different database name.",
            Cause::SameNameDatabase,
        ),
        (
            INSTANCE,
            "Master",
            &full,
            "The database (Master) is mssql system db, change your database name and try again.",
            Cause::SystemDatabaseName,
        ),
        (
            INSTANCE,
            "rdscore",
            &full,
            "The database (rdscore) is RDS system db, change your database name and try again.",
            Cause::RdsSystemDatabaseName,
        ),
        (
            INSTANCE,
            "Diff",
            &backup(dir.path(), "diff.bak", SynthKind::Differential, "2019"),
            "Backup set (case.bak) is a database differential backup; we only accept a full backup.",
            Cause::DifferentialBackup,
        ),
        (
            INSTANCE,
            "Log",
            &backup(dir.path(), "log.trn", SynthKind::Log, "2019"),
            "Backup set (case.bak) is a transaction log backup; we only accept a full backup.",
            Cause::LogBackup,
        ),
        (
            INSTANCE,
            "Newer",
            &backup(dir.path(), "new.bak", SynthKind::Full, "2022"),
            "Failed to verify case.bak. The backup file may be corrupted or from a version newer than the destination RDS instance.",
            Cause::CorruptOrNewer,
        ),
        (
            INSTANCE,
            "Striped",
            &striped,
            "Failed to verify (case.bak), error message:The media set has 2 media families but only 1 are provided. All members must be provided. VERIFY DATABASE is terminating abnormally.",
            Cause::StripedBackup,
        ),
        (
            "rm-limit",
            "Counted",
            &full,
            "The migration of database (Counted) failed because it exceeded the database count limit (1).",
            Cause::DatabaseCountLimit,
        ),
        (
            "rm-tiny",
            "Tiny",
            &full,
            "Not Enough Disk Space, space left",
            Cause::NoSpaceForFile,
        ),
        (
            "rm-tight",
            "Tight",
            &full,
            "Not Enough Disk Space for restoring, space left",
            Cause::NoSpaceForRestore,
        ),
    ];
    for (n, (instance, database, file, description, cause)) in cases.into_iter().enumerate() {
        let case_dir = dir.path().join(n.to_string());
        let mut spec = spec(&emulator, &case_dir, file, database);
        spec.instance_id = instance.into();
        spec.key = format!("{n}/case.bak");
        spec.skip_preflight = true;
        let (outcome, _) = migrate(spec, clients(&emulator)).await;
        let report = finished(outcome.unwrap_or_else(|e| panic!("{database}: {e}")));
        assert_eq!(report.task.status, TaskStatus::Failed, "{database}");
        assert!(
            report.task.description.starts_with(description),
            "{database}: {}",
            report.task.description
        );
        let diagnosis = report.task.diagnosis.expect("diagnosed");
        assert_eq!(diagnosis.cause, cause, "{database}");
        assert!(!diagnosis.fix.is_empty());
    }
}

/// A bucket RDS is not authorised to read (no import role): the task fails with the guide's
/// "could not find backup file", explained with the role to check.
#[tokio::test]
async fn a_bucket_rds_may_not_read_fails_as_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "restore_ms = 50\n[[bucket]]\nname = \"no-role\"\nrds_can_read = false\n[[instance]]\nid = \"{INSTANCE}\"\n"
    );
    let emulator = Emulator::builder()
        .config(EmulatorConfig::from_toml(&config).unwrap())
        .memory()
        .start()
        .await
        .unwrap();
    let file = backup(dir.path(), "Sales_FULL.bak", SynthKind::Full, "2019");
    let mut spec = spec(&emulator, dir.path(), &file, "Sales");
    spec.bucket = "no-role".into();
    let (outcome, _) = migrate(spec, clients(&emulator)).await;
    let report = finished(outcome.unwrap());
    assert_eq!(report.task.status, TaskStatus::Failed);
    assert_eq!(
        report.task.description,
        "Failed to download since could not find backup file (Sales_FULL.bak) on OSS."
    );
    let diagnosis = report.task.diagnosis.expect("diagnosed");
    assert_eq!(diagnosis.cause, Cause::BackupNotFound);
    assert!(
        diagnosis.fix.contains("AliyunRDSImportRole"),
        "{}",
        diagnosis.fix
    );
}

/// A crash after the upload (here: CreateMigrateTask failing for good) and a rerun: the object
/// is not sent again.
#[tokio::test]
async fn a_rerun_after_the_upload_does_not_upload_again() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = emulator("", 200).await;
    let file = backup(dir.path(), "Sales_FULL.bak", SynthKind::Full, "2019");
    let clients = clients(&emulator);
    // Everything RDS answers after the pre-flight calls fails: CreateMigrateTask is not
    // retried on InternalError (it may have acted), so the run stops after the upload.
    let (first, first_events) = {
        let emulator_rds = Arc::clone(emulator.rds());
        let spec = spec(&emulator, dir.path(), &file, "Sales");
        let clients = clients.clone();
        let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
        let job = tokio::spawn(run(
            spec,
            clients,
            events,
            Arc::new(Counters::default()),
            CancellationToken::new(),
        ));
        let mut seen = Vec::new();
        while let Some(event) = received.recv().await {
            if matches!(event, MigrateEvent::Uploaded { .. }) {
                emulator_rds.fail_next(50, RdsFault::InternalError);
            }
            seen.push(event);
        }
        (job.await.unwrap(), seen)
    };
    assert!(first.is_err(), "the first run stops at CreateMigrateTask");
    assert!(
        first_events
            .iter()
            .any(|e| matches!(e, MigrateEvent::Uploaded { .. }))
    );
    emulator.rds().fail_next(0, RdsFault::InternalError);

    let (second, events) = migrate(spec(&emulator, dir.path(), &file, "Sales"), clients).await;
    assert!(finished(second.unwrap()).succeeded());
    assert!(
        events
            .iter()
            .any(|e| matches!(e, MigrateEvent::UploadSkipped { .. }))
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, MigrateEvent::Upload { .. })),
        "no part sent"
    );
}

/// The process is killed right after CreateMigrateTask: the rerun follows the same task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_after_the_task_was_created_attaches_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = emulator("", 3000).await;
    let file = backup(dir.path(), "Sales_FULL.bak", SynthKind::Full, "2019");
    let command = || {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_bak2rds"));
        command
            .arg("migrate")
            .arg(&file)
            .args(["--instance", INSTANCE, "--database", "Sales", "--json"])
            .args(["--bucket", emulator.bucket()])
            .arg("--checkpoint-dir")
            .arg(dir.path().join("checkpoints"))
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .envs(crate::util::emulator_env(&emulator))
            .env_remove(bak2rds::env_vars::ALIBABA_CLOUD_PROFILE)
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        command
    };
    let mut first = command();
    let mut rerun = command();
    let created = tokio::task::spawn_blocking({
        let mut first = first.stdout(Stdio::piped()).spawn().unwrap();
        move || {
            let stdout = first.stdout.take().unwrap();
            let mut task_id = None;
            for line in BufReader::new(stdout).lines() {
                let event: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
                if event["event"] == "task_created" {
                    task_id = event["task_id"].as_str().map(str::to_owned);
                    break;
                }
            }
            first.kill().unwrap(); // SIGKILL while the task runs
            first.wait().unwrap();
            task_id
        }
    })
    .await
    .unwrap()
    .expect("the first run created a task");

    let output = tokio::task::spawn_blocking(move || rerun.output().unwrap())
        .await
        .unwrap();
    assert!(output.status.success());
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "task_attached" && e["task_id"] == created.as_str())
    );
    assert!(
        !events.iter().any(|e| e["event"] == "task_created"),
        "no second task"
    );
    assert!(events.iter().any(|e| e["event"] == "upload_skipped"));
    let outcome = events.iter().find(|e| e["outcome"] == "finished").unwrap();
    assert_eq!(outcome["task"]["status"], "Success");
}

#[test]
fn the_demo_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_bak2rds"))
        .args(["demo", "--size", "16MiB", "--work-dir"])
        .arg(dir.path())
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
        .env_remove("ALIBABA_CLOUD_PROFILE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("demo finished"), "{stderr}");
    // Full, differential and three logs, two of them shipped while the follower ran.
    assert!(
        stdout.contains("database DemoOrders is online: 5 backups restored"),
        "{stdout}"
    );
    assert!(stderr.contains("uploaded while written"), "{stderr}");
    assert!(stderr.contains("was cut over"), "{stderr}");
    // With --work-dir the demo's files are kept, in a folder of its own inside DIR (the
    // first-hour issue, point 19: they used to be removed).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// Issue 23: once the database is online the report says what comes next; `--delete-after`
/// deletes the uploaded object on success only, and a crash between Success and the delete
/// neither loses the outcome nor deletes twice.
#[tokio::test]
async fn after_the_restore_the_object_is_deleted_on_success_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "restore_ms = 50\n[faults]\nerror = [{{ operation = \"DeleteObject\", rate = 1.0, status = 403, code = \"AccessDenied\", times = 1 }}]\n[[instance]]\nid = \"{INSTANCE}\"\ndatabases = [\"Taken\"]\n"
    );
    let emulator = Emulator::builder()
        .config(EmulatorConfig::from_toml(&config).unwrap())
        .memory()
        .start()
        .await
        .unwrap();
    let file = backup(dir.path(), "Sales_FULL.bak", SynthKind::Full, "2019");
    let clients = clients(&emulator);
    let size = std::fs::metadata(&file).unwrap().len();

    // A failed task (the name is taken; the rehearsal switch lets RDS judge): nothing deleted.
    let mut failing = spec(&emulator, &dir.path().join("failing"), &file, "Taken");
    failing.key = "failing/Sales_FULL.bak".into();
    failing.skip_preflight = true;
    failing.delete_after = true;
    let report = finished(migrate(failing, clients.clone()).await.0.unwrap());
    assert_eq!(report.task.status, TaskStatus::Failed);
    assert!(report.after.is_none());
    assert!(
        clients
            .oss
            .head_object("failing/Sales_FULL.bak")
            .await
            .unwrap()
            .is_some()
    );

    // Without the flag: the notes, and what is left in OSS with the way to delete it.
    let (outcome, _) = migrate(spec(&emulator, dir.path(), &file, "Sales"), clients.clone()).await;
    let after = finished(outcome.unwrap())
        .after
        .expect("notes after the restore");
    assert!(after.accounts.contains("Sales") && after.accounts.contains("Create Account"));
    assert_eq!(after.left, ["oss://bak2rds-emulator/Sales_FULL.bak"]);
    assert_eq!(after.left_bytes, size);
    assert!(
        after
            .left_fix
            .unwrap_or_default()
            .contains("--delete-after")
    );
    let next = after.next_backup.expect("the backup policy is read");
    assert!(next.contains("18:00Z"), "{next}");

    // With it, the first DeleteObject is denied (as by a RAM policy, or a crash between
    // Success and the delete): the migration is still reported done, the object listed as left
    // with the reason; the next run deletes it.
    let mut deleting = spec(&emulator, dir.path(), &file, "Sales");
    deleting.delete_after = true;
    let (outcome, _) = migrate(deleting.clone(), clients.clone()).await;
    let report = finished(outcome.unwrap());
    assert!(report.succeeded());
    let after = report.after.unwrap();
    assert_eq!(after.left, ["oss://bak2rds-emulator/Sales_FULL.bak"]);
    assert!(
        after
            .notes
            .iter()
            .any(|n| n.contains("could not be deleted")),
        "{after:?}"
    );
    assert!(
        clients
            .oss
            .head_object("Sales_FULL.bak")
            .await
            .unwrap()
            .is_some()
    );
    let (outcome, _) = migrate(deleting.clone(), clients.clone()).await;
    let report = finished(outcome.unwrap());
    assert!(
        report.succeeded() && report.already_migrated,
        "the outcome is kept"
    );
    let after = report.after.unwrap();
    assert_eq!(after.deleted, ["oss://bak2rds-emulator/Sales_FULL.bak"]);
    assert_eq!(after.freed_bytes, size);
    assert!(after.left.is_empty());
    assert!(
        clients
            .oss
            .head_object("Sales_FULL.bak")
            .await
            .unwrap()
            .is_none()
    );
    let deletes = emulator.requests().count("DeleteObject");

    // A rerun reports the deletion without deleting again.
    let (outcome, _) = migrate(deleting.clone(), clients.clone()).await;
    let after = finished(outcome.unwrap()).after.unwrap();
    assert_eq!(after.deleted, ["oss://bak2rds-emulator/Sales_FULL.bak"]);
    assert_eq!(
        emulator.requests().count("DeleteObject"),
        deletes,
        "not deleted twice"
    );

    // A dry run deletes nothing, even with the flag.
    let other_dir = dir.path().join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = backup(&other_dir, "Sales_FULL.bak", SynthKind::Full, "2019");
    let mut second = spec(&emulator, &other_dir, &other, "Sales2");
    second.key = "second/Sales_FULL.bak".into();
    let (outcome, _) = migrate(second.clone(), clients.clone()).await;
    assert!(finished(outcome.unwrap()).succeeded());
    second.delete_after = true;
    second.dry_run = true;
    let _ = migrate(second.clone(), clients.clone()).await;
    assert!(
        clients
            .oss
            .head_object("second/Sales_FULL.bak")
            .await
            .unwrap()
            .is_some()
    );

    // An object replaced since (another upload under the same key) is not deleted.
    clients
        .oss
        .put_object(
            "second/Sales_FULL.bak",
            bytes::Bytes::from_static(b"someone else's"),
            None,
        )
        .await
        .unwrap();
    second.dry_run = false;
    let (outcome, _) = migrate(second, clients.clone()).await;
    let after = finished(outcome.unwrap()).after.unwrap();
    assert!(after.deleted.is_empty(), "{after:?}");
    assert!(
        after.notes.iter().any(|n| n.contains("no longer holds")),
        "{after:?}"
    );
    assert!(
        clients
            .oss
            .head_object("second/Sales_FULL.bak")
            .await
            .unwrap()
            .is_some()
    );
}

/// Issue 20, point 4: RDS's access to OSS (the RAM role `AliyunRDSImportRole`) is read before
/// the upload where the caller may read RAM: missing or changed, the migration is refused with
/// the console's authorisation link and nothing is sent; unreadable, it is a warning.
#[tokio::test]
async fn the_import_role_is_checked_before_the_upload() {
    let with_ram = |emulator: &EmulatorHandle| {
        let mut clients = clients(emulator);
        clients.ram = Some(
            bak2rds_cloud::ram::RamClient::new(
                Some(&emulator.ram_endpoint()),
                emulator.rds_config(),
                emulator.credentials().into(),
            )
            .unwrap(),
        );
        clients
    };
    let dir = tempfile::tempdir().unwrap();
    let file = backup(dir.path(), "Sales_FULL.bak", SynthKind::Full, "2019");
    for (state, code) in [
        ("missing", "import_role_missing"),
        ("altered", "import_role_altered"),
    ] {
        let emulator = emulator(&format!("[ram]\nimport_role = \"{state}\"\n"), 50).await;
        let clients = with_ram(&emulator);
        let (outcome, _) =
            migrate(spec(&emulator, dir.path(), &file, "Sales"), clients.clone()).await;
        let outcome = outcome.unwrap();
        assert!(
            refusal_codes(&outcome, "preflight").contains(&code.to_owned()),
            "{outcome:?}"
        );
        let MigrateOutcome::Refused { findings, .. } = &outcome else {
            unreachable!()
        };
        let finding = findings.iter().find(|f| f.code == code).unwrap();
        assert!(
            finding.fix.contains("ram.console.aliyun.com"),
            "{}",
            finding.fix
        );
        nothing_uploaded(&clients).await;
    }

    let emulator = emulator("[ram]\ncaller_can_read_ram = false\n", 50).await;
    let (outcome, events) = migrate(
        spec(&emulator, dir.path(), &file, "Sales"),
        with_ram(&emulator),
    )
    .await;
    let report = finished(outcome.unwrap());
    assert_eq!(report.task.status, TaskStatus::Success);
    let warned = events.iter().any(|event| match event {
        MigrateEvent::Preflight { report } => report
            .findings
            .iter()
            .any(|f| f.code == "import_role_unchecked" && f.message.contains("ram:GetRole")),
        _ => false,
    });
    assert!(warned, "no warning about the unchecked role: {events:?}");
}

//! `migrate --incremental` end to end against the emulator: full → differential → logs →
//! cutover with the database online; a broken chain refused before any upload; log backups
//! added later to a running migration (and a gap among them refused locally); a rerun that
//! sends nothing again; the command line with its chain listing.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bak2rds::migrate::incremental::{IncrementalOutcome, IncrementalReport, IncrementalSpec, run};
use bak2rds::migrate::{Clients, MigrateEvent};
use bak2rds::upload::checkpoint::CheckpointStore;
use bak2rds::upload::engine::UploadOptions;
use bak2rds::upload::progress::Counters;
use bak2rds_cloud::rds::model::CheckDbMode;
use bak2rds_cloud::rds::wait::WaitOptions;
use bak2rds_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use mssql_backup::TargetVersion;
use mssql_backup::synth::{SynthChain, SynthDatabase, SynthSpec, write_synthetic_file};
use tokio_util::sync::CancellationToken;

const INSTANCE: &str = "rm-incr0001";

async fn emulator() -> EmulatorHandle {
    emulator_restoring_in(150).await
}

/// The emulator with each restore taking `restore_ms`.
async fn emulator_restoring_in(restore_ms: u64) -> EmulatorHandle {
    let config = EmulatorConfig::from_toml(&format!(
        "restore_ms = {restore_ms}\n[[instance]]\nid = \"{INSTANCE}\"\nengine_version = \"2019_std_ha\"\n"
    ))
    .unwrap();
    Emulator::builder()
        .config(config)
        .memory()
        .start()
        .await
        .unwrap()
}

/// A database's history on disk: full, differential, `logs` log backups.
struct History {
    full: PathBuf,
    differential: PathBuf,
    logs: Vec<PathBuf>,
}

fn history(dir: &Path, database: &str, logs: usize) -> History {
    let mut chain = SynthChain::new(SynthDatabase::new(
        database,
        TargetVersion::parse("2019").unwrap(),
    ));
    let write = |name: String, spec: SynthSpec| {
        let path = dir.join(name);
        write_synthetic_file(&path, &spec).unwrap();
        path
    };
    let full = write(format!("{database}_FULL.bak"), chain.full(3 << 20));
    let differential = write(format!("{database}_DIFF.bak"), chain.differential(1 << 20));
    let logs = (1..=logs)
        .map(|n| write(format!("{database}_LOG_{n}.trn"), chain.log(256 << 10)))
        .collect();
    History {
        full,
        differential,
        logs,
    }
}

fn clients(emulator: &EmulatorHandle) -> Clients {
    Clients::one_endpoint(
        emulator.oss_config(),
        emulator.rds_config(),
        emulator.credentials(),
    )
    .unwrap()
}

fn spec(emulator: &EmulatorHandle, dir: &Path, files: Vec<PathBuf>) -> IncrementalSpec {
    IncrementalSpec {
        files,
        task_id: None,
        instance_id: INSTANCE.into(),
        database: Some("Sales".into()),
        bucket: emulator.bucket().into(),
        key_prefix: "incr/".into(),
        check_db: CheckDbMode::Async,
        cutover: false,
        delete_after: false,
        dry_run: false,
        upload: UploadOptions {
            part_size: Some(1 << 20),
            ..UploadOptions::default()
        },
        checkpoints: CheckpointStore::new(dir.join("checkpoints")),
        state_dir: dir.join("state"),
        wait: WaitOptions {
            first_interval: Duration::from_millis(40),
            max_interval: Duration::from_millis(150),
            deadline: Duration::from_secs(60),
        },
        following: false,
    }
}

async fn migrate(
    spec: IncrementalSpec,
    clients: Clients,
) -> (IncrementalOutcome, Vec<MigrateEvent>) {
    let (outcome, seen) = try_migrate(spec, clients).await;
    (outcome.unwrap(), seen)
}

async fn try_migrate(
    spec: IncrementalSpec,
    clients: Clients,
) -> (
    Result<IncrementalOutcome, bak2rds::migrate::MigrateError>,
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

fn finished(outcome: IncrementalOutcome) -> Box<IncrementalReport> {
    match outcome {
        IncrementalOutcome::Finished(report) => report,
        other => panic!("expected a finished run, got {other:?}"),
    }
}

fn refused(outcome: &IncrementalOutcome) -> Vec<String> {
    match outcome {
        IncrementalOutcome::Refused { stage, findings } => {
            assert_eq!(*stage, "chain", "{findings:?}");
            findings
                .iter()
                .map(|f| format!("{}: {} / {}", f.code, f.message, f.fix))
                .collect()
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn uploads(events: &[MigrateEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, MigrateEvent::Uploaded { .. }))
        .count()
}

async fn database_status(clients: &Clients, name: &str) -> Option<String> {
    let databases = clients.rds.describe_databases(INSTANCE).await.unwrap();
    databases
        .databases
        .database
        .into_iter()
        .find(|d| d.db_name == name)
        .map(|d| d.db_status)
}

/// Which of `keys` exist in the bucket; in-progress multipart uploads count as objects too.
async fn objects(clients: &Clients, keys: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for key in keys {
        if clients.oss.head_object(key).await.unwrap().is_some() {
            found.push((*key).to_owned());
        }
    }
    for upload in clients.oss.list_multipart_uploads(None).await.unwrap() {
        found.push(format!("multipart {}", upload.key));
    }
    found
}

const KEYS: [&str; 5] = [
    "incr/Sales_FULL.bak",
    "incr/Sales_DIFF.diff",
    "incr/Sales_LOG_1.trn",
    "incr/Sales_LOG_2.trn",
    "incr/Sales_LOG_3.trn",
];

#[tokio::test]
async fn full_differential_logs_then_cutover_bring_the_database_online() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = emulator().await;
    let clients = clients(&emulator);
    let history = history(dir.path(), "Sales", 3);
    // Any order on the command line: the chain is ordered by LSN.
    let mut files = history.logs.clone();
    files.reverse();
    files.push(history.differential.clone());
    files.push(history.full.clone());
    let mut spec = spec(&emulator, dir.path(), files);
    spec.cutover = true;

    let (outcome, events) = migrate(spec.clone(), clients.clone()).await;
    let report = finished(outcome);
    assert!(report.succeeded(), "{report:?}");
    assert!(report.online);
    assert_eq!(report.applied_total, 5);
    let order: Vec<&Path> = report.steps.iter().map(|s| s.file.as_path()).collect();
    let mut expected = vec![history.full.as_path(), history.differential.as_path()];
    expected.extend(history.logs.iter().map(PathBuf::as_path));
    assert_eq!(order, expected);
    assert_eq!(uploads(&events), 5);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, MigrateEvent::TaskCreated { .. }))
            .count(),
        1,
        "one task for the whole chain"
    );
    assert_eq!(objects(&clients, &KEYS).await, KEYS);
    let task = report.task.as_ref().unwrap();
    assert_eq!(task.status.as_str(), "Success");
    assert_eq!(task.task_id, report.task_id);
    assert_eq!(
        database_status(&clients, "Sales").await.as_deref(),
        Some("Running")
    );

    // Issue 23: the notes after the cutover; the objects are left without --delete-after.
    let after = report.after.as_ref().expect("notes after the cutover");
    assert!(after.accounts.contains("database Sales"));
    assert_eq!(after.left.len(), 5);
    assert!(after.deleted.is_empty());

    // The same command again: everything is recorded as done; nothing is sent or submitted.
    // With --delete-after, the chain's objects are deleted now that the database is open.
    let mut spec = spec;
    spec.delete_after = true;
    let (outcome, events) = migrate(spec, clients.clone()).await;
    let again = finished(outcome);
    assert!(again.succeeded() && again.online && again.steps.is_empty());
    assert_eq!(uploads(&events), 0);
    let after = again.after.expect("notes after the cutover");
    assert_eq!(after.deleted.len(), 5, "{after:?}");
    assert!(objects(&clients, &KEYS).await.is_empty());
}

#[tokio::test]
async fn a_broken_chain_is_refused_before_any_upload() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = emulator().await;
    let clients = clients(&emulator);
    let history = history(dir.path(), "Sales", 3);
    // Without the differential the logs must carry the chain, and log 2 is missing.
    let files = vec![
        history.full.clone(),
        history.logs[0].clone(),
        history.logs[2].clone(),
    ];
    let (outcome, events) = migrate(spec(&emulator, dir.path(), files), clients.clone()).await;
    let problems = refused(&outcome).join("\n");
    assert!(problems.contains("missing"), "{problems}");
    assert_eq!(uploads(&events), 0);
    assert!(objects(&clients, &KEYS).await.is_empty());
    assert_eq!(database_status(&clients, "Sales").await, None);
}

#[tokio::test]
async fn log_backups_added_later_continue_the_task_and_a_gap_among_them_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = emulator().await;
    let clients = clients(&emulator);
    let history = history(dir.path(), "Sales", 4);

    // Day 1: the full and the first log; the database waits, restoring.
    let first = vec![history.full.clone(), history.logs[0].clone()];
    let report = finished(
        migrate(spec(&emulator, dir.path(), first), clients.clone())
            .await
            .0,
    );
    assert!(report.succeeded() && !report.online, "{report:?}");
    assert_eq!(report.applied_total, 2);
    let task_id = report.task_id.clone();
    let status = database_status(&clients, "Sales").await;
    assert!(
        status.is_some_and(|s| s != "Running"),
        "restoring, not open"
    );

    // Log 3 without log 2: refused locally against the recorded chain, nothing sent.
    let mut next = spec(&emulator, dir.path(), vec![history.logs[2].clone()]);
    next.task_id = Some(task_id.clone());
    next.database = None;
    let (outcome, events) = migrate(next.clone(), clients.clone()).await;
    let problems = refused(&outcome).join("\n");
    assert!(problems.contains("missing"), "{problems}");
    assert_eq!(uploads(&events), 0);

    // Log 1 again, already restored: skipped, and said so (first hour 7).
    next.files = vec![history.logs[0].clone()];
    let (outcome, events) = migrate(next.clone(), clients.clone()).await;
    let report = finished(outcome);
    assert!(report.succeeded() && report.steps.is_empty(), "{report:?}");
    let skipped: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            MigrateEvent::FileSkipped { file, reason } => {
                Some(format!("{}: {reason}", file.display()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(
        skipped[0].contains("Sales_LOG_1")
            && skipped[0].contains(&format!("already restored by task {task_id}")),
        "{skipped:?}"
    );
    assert_eq!(uploads(&events), 0);

    // Logs 2..4 (given in any order), then the cutover.
    next.files = vec![
        history.logs[3].clone(),
        history.logs[1].clone(),
        history.logs[2].clone(),
    ];
    next.cutover = true;
    let report = finished(migrate(next, clients.clone()).await.0);
    assert!(report.succeeded() && report.online, "{report:?}");
    assert_eq!(report.task_id, task_id);
    assert_eq!(report.steps.len(), 3);
    assert_eq!(report.applied_total, 5);
    assert_eq!(
        database_status(&clients, "Sales").await.as_deref(),
        Some("Running")
    );

    // Once open, nothing more can be restored into it: refused before anything is sent.
    let mut late = spec(&emulator, dir.path(), vec![one_more_log(dir.path())]);
    late.task_id = Some(task_id);
    late.database = None;
    let (outcome, events) = migrate(late, clients.clone()).await;
    let problems = refused(&outcome).join("\n");
    assert!(problems.contains("already-online"), "{problems}");
    assert_eq!(uploads(&events), 0);
}

/// First hour 4: a task RDS does not know, given with --task or named by the state file, is
/// said for what it is, with the state file and the way on.
#[tokio::test]
async fn a_task_rds_does_not_know_is_said_with_the_way_on() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = emulator().await;
    let clients = clients(&emulator);
    let history = history(dir.path(), "Sales", 2);

    let mut unknown = spec(&emulator, dir.path(), vec![history.logs[1].clone()]);
    unknown.task_id = Some("424242".into());
    unknown.database = None;
    let message = try_migrate(unknown, clients.clone())
        .await
        .0
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("knows no migration task 424242") && message.contains("bak2rds tasks"),
        "{message}"
    );

    let first = vec![history.full.clone(), history.logs[0].clone()];
    let report = finished(
        migrate(spec(&emulator, dir.path(), first), clients.clone())
            .await
            .0,
    );
    assert!(report.succeeded());
    let state_dir = dir.path().join("state");
    let path = std::fs::read_dir(&state_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    state["task_id"] = "999999".into();
    std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();
    let next = spec(&emulator, dir.path(), vec![history.logs[1].clone()]);
    let message = try_migrate(next, clients.clone())
        .await
        .0
        .unwrap_err()
        .to_string();
    for part in [
        path.to_str().unwrap(),
        "999999",
        "no longer knows",
        "drop Sales",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
}

/// The log after the four of `history(dir, "Sales", 4)` (same database, next LSNs).
fn one_more_log(dir: &Path) -> PathBuf {
    let mut chain = SynthChain::new(SynthDatabase::new(
        "Sales",
        TargetVersion::parse("2019").unwrap(),
    ));
    chain.full(3 << 20);
    chain.differential(1 << 20);
    for _ in 0..4 {
        chain.log(256 << 10);
    }
    let path = dir.join("Sales_LOG_5.trn");
    write_synthetic_file(&path, &chain.log(256 << 10)).unwrap();
    path
}

#[tokio::test]
async fn logs_written_to_one_file_name_get_distinct_objects() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = emulator().await;
    let clients = clients(&emulator);
    let history = history(dir.path(), "Sales", 2);
    // `BACKUP LOG ... TO DISK = 'Sales_log.trn' WITH INIT` every hour: same name, new backups.
    let hourly = |n: usize| {
        let folder = dir.path().join(format!("hour{n}"));
        std::fs::create_dir(&folder).unwrap();
        let path = folder.join("Sales_log.trn");
        std::fs::copy(&history.logs[n], &path).unwrap();
        path
    };
    let first = vec![history.full.clone(), hourly(0)];
    let report = finished(
        migrate(spec(&emulator, dir.path(), first), clients.clone())
            .await
            .0,
    );
    let mut next = spec(&emulator, dir.path(), vec![hourly(1)]);
    next.task_id = Some(report.task_id.clone());
    next.cutover = true;
    let (outcome, events) = migrate(next, clients.clone()).await;
    let report = finished(outcome);
    assert!(report.succeeded() && report.online, "{report:?}");
    assert_eq!(uploads(&events), 1);
    let object = &report.steps[0].object;
    assert_ne!(
        object,
        &format!("oss://{}/incr/Sales_log.trn", emulator.bucket())
    );
    assert!(object.ends_with(".trn"), "{object}");
    // RDS restored three distinct files, the second log under its own name.
    let files = clients
        .rds
        .describe_oss_downloads(INSTANCE, &report.task_id)
        .await
        .unwrap();
    let names: std::collections::BTreeSet<&str> = files
        .items
        .oss_download
        .iter()
        .map(|f| f.file_name.as_str())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

/// What ran for the database in the last 24 hours counts against the 20 a day, one per file:
/// 14 failed one-shot restores by another tool, then this migration's own task with a full and
/// two logs (3 calls on one task). 17 used, so only 3 of the next 4 logs fit today.
#[tokio::test]
async fn earlier_migrations_of_the_database_count_against_the_daily_quota() {
    use bak2rds_cloud::rds::model::{BackupMode, CreateMigrateTaskRequest, RestoreSource};
    let dir = tempfile::tempdir().unwrap();
    // Restores end at once, so that each stray task has failed before the next one starts.
    let emulator = emulator_restoring_in(0).await;
    let clients = clients(&emulator);
    let stray = history(dir.path(), "Stray", 0);
    let bytes = bytes::Bytes::from(std::fs::read(&stray.differential).unwrap());
    clients
        .oss
        .put_object("other/Sales_DIFF.bak", bytes, None)
        .await
        .unwrap();
    for _ in 0..14 {
        let request = CreateMigrateTaskRequest {
            db_instance_id: INSTANCE.into(),
            db_name: "Sales".into(),
            backup_mode: BackupMode::Full,
            is_online_db: true,
            check_db_mode: None,
            source: RestoreSource::OssObject {
                endpoint: "127.0.0.1".into(),
                bucket: emulator.bucket().into(),
                key: "other/Sales_DIFF.bak".into(),
            },
            migrate_task_id: None,
        };
        clients.rds.create_migrate_task(&request).await.unwrap();
    }
    let history = history(dir.path(), "Sales", 6);
    let first = vec![
        history.full.clone(),
        history.logs[0].clone(),
        history.logs[1].clone(),
    ];
    finished(
        migrate(spec(&emulator, dir.path(), first), clients.clone())
            .await
            .0,
    );

    let mut all = vec![history.full.clone()];
    all.extend(history.logs.iter().cloned());
    let mut dry = spec(&emulator, dir.path(), all);
    dry.dry_run = true;
    let (outcome, events) = migrate(dry, clients.clone()).await;
    assert!(
        matches!(&outcome, IncrementalOutcome::Planned { steps, .. } if steps.len() == 7),
        "{outcome:?}"
    );
    let warning = events.iter().find_map(|e| match e {
        MigrateEvent::Warning { message } if message.contains("per database per day") => {
            Some(message.clone())
        }
        _ => None,
    });
    let warning = warning.expect("a daily-quota warning");
    assert!(warning.contains("4 backups to restore"), "{warning}");
    assert!(warning.contains("17 ran for Sales"), "{warning}");
    assert!(warning.contains("about 3 can start now"), "{warning}");
    assert_eq!(uploads(&events), 0);
}

#[tokio::test]
async fn a_log_restored_out_of_band_is_recognised_and_the_chain_goes_on() {
    use bak2rds_cloud::rds::model::{BackupMode, CreateMigrateTaskRequest, RestoreSource};
    let dir = tempfile::tempdir().unwrap();
    let emulator = emulator().await;
    let clients = clients(&emulator);
    let history = history(dir.path(), "Sales", 3);
    let first = vec![history.full.clone(), history.logs[0].clone()];
    let report = finished(
        migrate(spec(&emulator, dir.path(), first), clients.clone())
            .await
            .0,
    );
    let task_id = report.task_id.clone();

    // Someone restores log 2 on the same task with another tool (the console).
    let bytes = bytes::Bytes::from(std::fs::read(&history.logs[1]).unwrap());
    clients
        .oss
        .put_object("console/LOG_2.trn", bytes, None)
        .await
        .unwrap();
    let request = CreateMigrateTaskRequest {
        db_instance_id: INSTANCE.into(),
        db_name: "Sales".into(),
        backup_mode: BackupMode::Incremental,
        is_online_db: false,
        check_db_mode: None,
        source: RestoreSource::OssObject {
            endpoint: "127.0.0.1".into(),
            bucket: emulator.bucket().into(),
            key: "console/LOG_2.trn".into(),
        },
        migrate_task_id: Some(task_id.clone()),
    };
    clients.rds.create_migrate_task(&request).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;

    // bak2rds, not knowing, submits log 2 too: RDS answers "too early", and the chain goes on.
    let mut next = spec(&emulator, dir.path(), history.logs[1..].to_vec());
    next.task_id = Some(task_id.clone());
    next.cutover = true;
    let (outcome, events) = migrate(next, clients.clone()).await;
    let report = finished(outcome);
    assert!(report.succeeded() && report.online, "{report:?}");
    assert!(events.iter().any(|e| matches!(
        e,
        MigrateEvent::TaskStatus { description, .. } if description.contains("already restored")
    )));
    assert_eq!(
        database_status(&clients, "Sales").await.as_deref(),
        Some("Running")
    );
}

/// `bak2rds migrate --incremental` against the emulator, state and checkpoints under `dir`.
fn command(emulator: &EmulatorHandle, dir: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_bak2rds"));
    command
        .args(["migrate", "--incremental"])
        .args(["--instance", INSTANCE, "--database", "Sales"])
        .args(["--bucket", emulator.bucket()])
        .arg("--checkpoint-dir")
        .arg(dir.join("checkpoints"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .envs(crate::util::emulator_env(emulator))
        .env_remove(bak2rds::env_vars::ALIBABA_CLOUD_PROFILE)
        .stdin(Stdio::null());
    command
}

fn json_lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

#[test]
fn the_command_line_lists_the_chain_and_says_what_comes_next() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(emulator());
    let backups = dir.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    history(&backups, "Sales", 2);
    let output = command(&emulator, dir.path())
        .arg(&backups)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("restore chain for database Sales"),
        "{stderr}"
    );
    assert!(stderr.contains("Sales_LOG_2.trn"), "{stderr}");
    assert!(
        stdout.contains("waits for more backups: 4 restored"),
        "{stdout}"
    );
    assert!(stdout.contains("--cutover"), "{stdout}");
    drop(emulator);
}

#[test]
fn a_kill_after_a_log_was_submitted_is_followed_not_resubmitted() {
    use std::io::{BufRead as _, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(emulator());
    let history = history(dir.path(), "Sales", 2);
    let files = [&history.full, &history.logs[0], &history.logs[1]];

    let mut first = command(&emulator, dir.path())
        .args(files)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = first.stdout.take().unwrap();
    let mut killed_after = None;
    for line in BufReader::new(stdout).lines() {
        let event: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        if event["event"] == "step_submitted" && event["key"] == "Sales_LOG_1.trn" {
            first.kill().unwrap(); // SIGKILL: the state may not know the answer yet
            killed_after = event["task_id"].as_str().map(str::to_owned);
            break;
        }
    }
    first.wait().unwrap();
    let task_id = killed_after.expect("the first run submitted the first log");

    let output = command(&emulator, dir.path())
        .args(files)
        .args(["--json", "--cutover"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events = json_lines(&output.stdout);
    let submitted: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "step_submitted")
        .map(|e| &e["key"])
        .collect();
    assert_eq!(
        submitted,
        ["Sales_LOG_2.trn"],
        "only the log never submitted"
    );
    let uploaded = events.iter().filter(|e| e["event"] == "uploaded").count();
    let skipped = events
        .iter()
        .filter(|e| e["event"] == "upload_skipped")
        .count();
    // The full is recorded as restored and log 1 as submitted: neither is even looked at.
    assert_eq!((uploaded, skipped), (1, 0), "only the last log is sent");
    let outcome = events.iter().find(|e| e["outcome"] == "finished").unwrap();
    assert_eq!(outcome["task_id"], task_id.as_str());
    assert_eq!(outcome["online"], true);

    // RDS saw each file exactly once.
    let clients = clients(&emulator);
    let files = runtime
        .block_on(clients.rds.describe_oss_downloads(INSTANCE, &task_id))
        .unwrap();
    let mut names: Vec<String> = files
        .items
        .oss_download
        .iter()
        .map(|f| f.file_name.trim_start_matches('/').to_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["Sales_FULL.bak", "Sales_LOG_1.trn", "Sales_LOG_2.trn"]
    );
}

#[tokio::test]
async fn a_chain_longer_than_the_daily_quota_is_planned_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = emulator().await;
    let clients = clients(&emulator);
    let history = history(dir.path(), "Sales", 20);
    let mut files = vec![history.full.clone(), history.differential.clone()];
    files.extend(history.logs.iter().cloned());
    let mut dry = spec(&emulator, dir.path(), files);
    dry.dry_run = true;
    let (outcome, events) = migrate(dry, clients.clone()).await;
    match outcome {
        IncrementalOutcome::Planned { steps, .. } => assert_eq!(steps.len(), 22),
        other => panic!("expected a plan, got {other:?}"),
    }
    assert!(events.iter().any(|e| matches!(
        e,
        MigrateEvent::Warning { message } if message.contains("20 migrations per database per day")
    )));
    assert_eq!(uploads(&events), 0);
}

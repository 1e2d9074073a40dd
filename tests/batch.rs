//! `migrate --batch` against the emulator: one database's trouble never stops the others, one
//! bandwidth cap for the whole batch, batch-level pre-flight refusals before any upload, a rerun
//! that only reports, and folder input that skips what is not a full backup.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bak2rds::batch::{
    self, BatchEvent, BatchProgress, BatchReport, BatchSpec, DatabaseResult, Outcome, plan,
};
use bak2rds::migrate::{Clients, MigrateEvent};
use bak2rds::upload::checkpoint::CheckpointStore;
use bak2rds::upload::engine::UploadOptions;
use bak2rds_cloud::http::limit::BandwidthLimiter;
use bak2rds_cloud::rds::model::{BackupMode, CheckDbMode, CreateMigrateTaskRequest, RestoreSource};
use bak2rds_cloud::rds::wait::WaitOptions;
use bak2rds_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use mssql_backup::TargetVersion;
use mssql_backup::synth::{SynthChain, SynthDatabase, SynthKind, SynthSpec, write_synthetic_file};
use tokio_util::sync::CancellationToken;

use crate::rds::bytes_of;

const INSTANCE: &str = "rm-batch0001";
const MIB: u64 = 1 << 20;

async fn emulator(instance_toml: &str) -> EmulatorHandle {
    emulator_restoring_in(100, instance_toml).await
}

/// The emulator with each restore taking `restore_ms`.
async fn emulator_restoring_in(restore_ms: u64, instance_toml: &str) -> EmulatorHandle {
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

/// A synthetic backup of `database` (restored size 16 MiB: two 8 MiB files).
fn backup(dir: &Path, file: &str, database: &str, kind: SynthKind, size: u64) -> PathBuf {
    let path = dir.join(file);
    let db = SynthDatabase::new(database, TargetVersion::parse("2019").unwrap());
    write_synthetic_file(&path, &SynthSpec::single(db, kind, size)).unwrap();
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

fn spec(emulator: &EmulatorHandle, dir: &Path, plan: plan::Plan) -> BatchSpec {
    BatchSpec {
        instance_id: INSTANCE.into(),
        bucket: emulator.bucket().into(),
        entries: plan.entries,
        skipped: plan.skipped,
        parallel: 2,
        check_db: CheckDbMode::Async,
        dry_run: false,
        skip_preflight: false,
        delete_after: false,
        upload: UploadOptions {
            part_size: Some(MIB),
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

/// Writes a plan file of `(file, name)` entries and loads it.
fn plan_of(dir: &Path, entries: &[(&Path, &str)]) -> plan::Plan {
    let mut text = String::new();
    for (file, name) in entries {
        text.push_str(&format!(
            "[[database]]\nfile = {:?}\nname = {name:?}\n",
            file.file_name().unwrap().to_string_lossy()
        ));
    }
    let path = dir.join("plan.toml");
    std::fs::write(&path, text).unwrap();
    plan::load(&path, None).unwrap()
}

/// Runs a batch; each event is returned with the time it arrived.
async fn run(spec: BatchSpec, clients: Clients) -> (BatchReport, Vec<(Instant, BatchEvent)>) {
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let progress = Arc::new(BatchProgress::new(spec.entries.len()));
    let job = tokio::spawn(batch::run(
        spec,
        clients,
        events,
        progress,
        CancellationToken::new(),
    ));
    let mut seen = Vec::new();
    while let Some(event) = received.recv().await {
        seen.push((Instant::now(), event));
    }
    (job.await.unwrap().unwrap(), seen)
}

fn row<'a>(report: &'a BatchReport, database: &str) -> &'a DatabaseResult {
    report
        .databases
        .iter()
        .find(|d| d.database == database)
        .unwrap_or_else(|| panic!("{database} missing from {:?}", report.databases))
}

async fn databases_on(clients: &Clients) -> Vec<String> {
    clients
        .rds
        .describe_databases(INSTANCE)
        .await
        .unwrap()
        .databases
        .database
        .into_iter()
        .map(|d| d.db_name)
        .collect()
}

async fn objects_in(clients: &Clients) -> usize {
    let mut count = 0;
    for key in ["Alpha.bak", "Beta.bak", "Gamma.bak", "Beta2.bak"] {
        count += usize::from(clients.oss.head_object(key).await.unwrap().is_some());
    }
    count
        + clients
            .oss
            .list_multipart_uploads(None)
            .await
            .unwrap()
            .len()
}

/// Three databases through the binary, one of them already on the instance: the other two are
/// restored, the summary names all three with their outcomes and the fix, and the exit code is
/// 2 (some refused or failed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refusal_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = emulator("databases = [\"Gamma\"]").await;
    for name in ["Alpha", "Beta", "Gamma"] {
        backup(
            dir.path(),
            &format!("{name}.bak"),
            name,
            SynthKind::Full,
            2 * MIB,
        );
    }
    let plan = dir.path().join("plan.toml");
    std::fs::write(
        &plan,
        format!(
            "instance = \"{INSTANCE}\"\nparallel = 2\n[[database]]\nfile = \"Alpha.bak\"\n\
             [[database]]\nfile = \"Gamma.bak\"\n[[database]]\nfile = \"Beta.bak\"\n"
        ),
    )
    .unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_bak2rds"));
    command
        .args(["migrate", "--batch"])
        .arg(&plan)
        .arg(format!("oss://{}/nightly", emulator.bucket()))
        .args(["--json", "--part-size", "1MiB"])
        .arg("--checkpoint-dir")
        .arg(dir.path().join("checkpoints"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .envs(crate::util::emulator_env(&emulator))
        .env_remove(bak2rds::env_vars::ALIBABA_CLOUD_PROFILE)
        .stdin(Stdio::null());
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    // Events are tagged with their database.
    assert!(
        lines
            .iter()
            .any(|e| e["event"] == "task_created" && e["database"] == "Alpha")
    );
    let summary = lines.last().unwrap();
    let rows = summary["databases"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["database"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Alpha", "Gamma", "Beta"], "plan order");
    for row in rows {
        match row["database"].as_str().unwrap() {
            "Gamma" => {
                assert_eq!(row["outcome"], "refused");
                assert!(row["fix"].as_str().unwrap().contains("drop Gamma"), "{row}");
            }
            _ => {
                assert_eq!(row["outcome"], "success", "{row}");
                assert!(row["task_id"].is_string());
                assert!(row["object"].as_str().unwrap().contains("/nightly/"));
            }
        }
    }
    let on_instance = databases_on(&clients(&emulator)).await;
    assert!(
        on_instance.contains(&"Alpha".to_string()),
        "{on_instance:?}"
    );
    assert!(on_instance.contains(&"Beta".to_string()), "{on_instance:?}");
}

/// A restore that RDS fails (a differential slipped into a rehearsal that skips pre-flight):
/// the row is Failed with the diagnosis's fix, and the other databases succeed.
#[tokio::test]
async fn a_failed_restore_carries_its_fix() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = emulator("").await;
    let alpha = backup(dir.path(), "Alpha.bak", "Alpha", SynthKind::Full, 2 * MIB);
    let beta = backup(dir.path(), "Beta.bak", "Beta", SynthKind::Full, 2 * MIB);
    let gamma = backup(
        dir.path(),
        "Gamma.bak",
        "Gamma",
        SynthKind::Differential,
        2 * MIB,
    );
    let clients = clients(&emulator);
    let plan = plan_of(
        dir.path(),
        &[(&alpha, "Alpha"), (&gamma, "Gamma"), (&beta, "Beta")],
    );
    let mut spec = spec(&emulator, dir.path(), plan);
    spec.skip_preflight = true;
    // Issue 23: `delete_after` deletes the objects of the databases that are online only.
    spec.delete_after = true;
    let (report, _) = run(spec, clients.clone()).await;
    assert_eq!(
        objects_in(&clients).await,
        1,
        "only the failed database's object is left"
    );
    let gamma = row(&report, "Gamma");
    assert_eq!(gamma.outcome, Outcome::Failed);
    assert!(
        gamma.detail.to_lowercase().contains("differential backup"),
        "{}",
        gamma.detail
    );
    assert!(gamma.fix.as_deref().is_some_and(|f| !f.is_empty()));
    assert_eq!(row(&report, "Alpha").outcome, Outcome::Success);
    assert_eq!(row(&report, "Beta").outcome, Outcome::Success);
    assert!(!report.all_succeeded() && !report.any_error());
    let on_instance = databases_on(&clients).await;
    assert!(
        on_instance.contains(&"Alpha".to_string()) && on_instance.contains(&"Beta".to_string())
    );
}

/// Two databases upload at once under one cap: together they stay within it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_cap_is_for_the_whole_batch() {
    const CAP: u64 = 2 * MIB;
    let dir = tempfile::tempdir().unwrap();
    let emulator = emulator("").await;
    let alpha = backup(dir.path(), "Alpha.bak", "Alpha", SynthKind::Full, 2 * MIB);
    let beta = backup(dir.path(), "Beta.bak", "Beta", SynthKind::Full, 2 * MIB);
    let plan = plan_of(dir.path(), &[(&alpha, "Alpha"), (&beta, "Beta")]);
    let mut spec = spec(&emulator, dir.path(), plan);
    spec.upload.limiter = Some(Arc::new(BandwidthLimiter::new(CAP).unwrap()));
    let (report, events) = run(spec, clients(&emulator)).await;
    assert!(report.all_succeeded(), "{:?}", report.databases);

    let when = |wanted: fn(&MigrateEvent) -> bool| -> Vec<Instant> {
        events
            .iter()
            .filter_map(|(at, e)| match e {
                BatchEvent::Database { migrate, .. } if wanted(migrate) => Some(*at),
                _ => None,
            })
            .collect()
    };
    let starts = when(|e| matches!(e, MigrateEvent::UploadStarted { .. }));
    let ends = when(|e| matches!(e, MigrateEvent::Uploaded { .. }));
    assert_eq!((starts.len(), ends.len()), (2, 2));
    let first_end = *ends.iter().min().unwrap();
    assert!(
        starts.iter().all(|s| *s < first_end),
        "the two uploads overlapped"
    );
    let total: u64 = report.databases.iter().filter_map(|d| d.size).sum();
    let elapsed = (*ends.iter().max().unwrap() - *starts.iter().min().unwrap()).as_secs_f64();
    let rate = total as f64 / elapsed;
    eprintln!(
        "batch of 2 under a {} MiB/s cap: {:.2} MiB in {elapsed:.2} s = {:.2} MiB/s",
        CAP / MIB,
        total as f64 / MIB as f64,
        rate / MIB as f64
    );
    assert!(
        rate <= CAP as f64 * 1.1,
        "{rate:.0} B/s exceeds the cap of {CAP} B/s by more than 10 %"
    );
}

/// Two entries under one name, and a batch too big for the free space: refused before any
/// upload, each with a fix; neither refusal belongs to a single database.
#[tokio::test]
async fn batch_preflight_refuses_before_any_upload() {
    let dir = tempfile::tempdir().unwrap();
    // 30 MiB free: one database (16 MiB restored + 2 MiB .bak) fits, two do not.
    let emulator = emulator("storage_gb = 1\nused_bytes = 1042284544").await;
    let alpha = backup(dir.path(), "Alpha.bak", "Alpha", SynthKind::Full, 2 * MIB);
    let beta = backup(dir.path(), "Beta.bak", "Beta", SynthKind::Full, 2 * MIB);
    let beta2 = backup(dir.path(), "Beta2.bak", "Beta", SynthKind::Full, 2 * MIB);
    let clients = clients(&emulator);

    let plan = plan_of(dir.path(), &[(&beta, "Beta"), (&beta2, "beta")]);
    let (report, _) = run(spec(&emulator, dir.path(), plan), clients.clone()).await;
    assert!(report.refused && report.databases.is_empty());
    let duplicate = report
        .preflight
        .iter()
        .find(|p| p.code == "duplicate_database_name")
        .expect("duplicate names refused");
    assert!(duplicate.fix.contains("Beta.bak") && duplicate.fix.contains("Beta2.bak"));

    let plan = plan_of(dir.path(), &[(&alpha, "Alpha"), (&beta, "Beta")]);
    let (report, _) = run(spec(&emulator, dir.path(), plan), clients.clone()).await;
    assert!(report.refused);
    let space = report
        .preflight
        .iter()
        .find(|p| p.code == "batch_not_enough_space")
        .expect("the total is refused");
    assert!(!space.fix.is_empty());
    assert_eq!(objects_in(&clients).await, 0, "nothing uploaded");
}

/// First hour 6: every file of the plan is judged before the first upload, in the plan's words.
#[tokio::test]
async fn every_file_of_the_plan_is_judged_before_the_first_upload() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = emulator("").await;
    let alpha = backup(dir.path(), "Alpha.bak", "Alpha", SynthKind::Full, 2 * MIB);
    let diff = backup(dir.path(), "Diff.bak", "Diff", SynthKind::Differential, MIB);
    let clients = clients(&emulator);
    let plan = plan_of(
        dir.path(),
        &[(&alpha, "Alpha"), (&diff, "Diff"), (&alpha, "my db")],
    );
    let (report, _) = run(spec(&emulator, dir.path(), plan), clients.clone()).await;
    assert!(report.refused && report.databases.is_empty(), "{report:?}");
    let not_full = report
        .preflight
        .iter()
        .find(|p| p.code == "not_full_backup")
        .expect("the differential is refused");
    assert!(
        not_full.message.contains("name = \"Diff\""),
        "{}",
        not_full.message
    );
    assert!(not_full.fix.contains("file = "), "{}", not_full.fix);
    let name = report
        .preflight
        .iter()
        .find(|p| p.code == "invalid_database_name")
        .expect("the name is refused");
    assert!(
        name.fix.contains("name = ") && !name.fix.contains("--database"),
        "{}",
        name.fix
    );
    assert_eq!(objects_in(&clients).await, 0, "nothing uploaded");
}

/// Rerunning a finished batch only reports: no upload, no new task.
#[tokio::test]
async fn a_rerun_of_a_finished_batch_only_reports() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = emulator("").await;
    let alpha = backup(dir.path(), "Alpha.bak", "Alpha", SynthKind::Full, 2 * MIB);
    let beta = backup(dir.path(), "Beta.bak", "Beta", SynthKind::Full, 2 * MIB);
    let clients = clients(&emulator);
    let plan = plan_of(dir.path(), &[(&alpha, "Alpha"), (&beta, "Beta")]);
    let (first, _) = run(spec(&emulator, dir.path(), plan.clone()), clients.clone()).await;
    assert!(first.all_succeeded(), "{:?}", first.databases);
    assert!(first.databases.iter().all(|d| !d.already_migrated));

    let started = Instant::now();
    let (second, events) = run(spec(&emulator, dir.path(), plan), clients.clone()).await;
    let took = started.elapsed();
    assert!(second.all_succeeded(), "{:?}", second.databases);
    assert!(second.databases.iter().all(|d| d.already_migrated));
    for (a, b) in first.databases.iter().zip(&second.databases) {
        assert_eq!(a.task_id, b.task_id, "the same task is reported");
    }
    assert!(
        !events.iter().any(|(_, e)| matches!(
            e,
            BatchEvent::Database {
                migrate: MigrateEvent::UploadStarted { .. }
                    | MigrateEvent::UploadSkipped { .. }
                    | MigrateEvent::TaskCreated { .. },
                ..
            }
        )),
        "nothing uploaded, looked up or created"
    );
    let end = time::OffsetDateTime::now_utc() + time::Duration::minutes(1);
    let tasks = clients
        .rds
        .describe_migrate_tasks(INSTANCE, end - time::Duration::days(1), end, 1)
        .await
        .unwrap();
    assert_eq!(tasks.total_record_count, 2, "no new task");
    eprintln!("rerun of a finished 2-database batch: {took:?}");
}

/// A folder: full backups become databases named from their headers; a differential is
/// listed as skipped with the reason. Dry run through the binary: nothing changes, exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_skips_what_is_not_a_full_backup() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("backups");
    std::fs::create_dir(&folder).unwrap();
    backup(&folder, "alpha_full.bak", "Alpha", SynthKind::Full, MIB);
    backup(&folder, "beta_full.bak", "Beta", SynthKind::Full, MIB);
    backup(
        &folder,
        "beta_diff.bak",
        "Beta",
        SynthKind::Differential,
        MIB,
    );
    std::fs::write(folder.join("notes.txt"), "not a backup").unwrap();

    let plan = plan::load(&folder, Some("m")).unwrap();
    let names: Vec<&str> = plan.entries.iter().map(|e| e.database.as_str()).collect();
    assert_eq!(names, ["Alpha", "Beta"]);
    assert_eq!(plan.entries[0].key, "m/alpha_full.bak");
    let [skipped] = plan.skipped.as_slice() else {
        panic!("one file skipped: {:?}", plan.skipped);
    };
    assert!(skipped.file.ends_with("beta_diff.bak"));
    assert!(
        skipped.reason.contains("differential"),
        "{}",
        skipped.reason
    );

    let emulator = emulator("").await;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_bak2rds"));
    command
        .args(["migrate", "--batch"])
        .arg(&folder)
        .args(["--instance", INSTANCE, "--dry-run"])
        .arg(format!("oss://{}", emulator.bucket()))
        .arg("--checkpoint-dir")
        .arg(dir.path().join("checkpoints"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .envs(crate::util::emulator_env(&emulator))
        .env_remove(bak2rds::env_vars::ALIBABA_CLOUD_PROFILE)
        .stdin(Stdio::null());
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("skipped") && stdout.contains("beta_diff.bak"),
        "{stdout}"
    );
    let planned = stdout.lines().filter(|l| l.contains("Planned")).count();
    assert_eq!(planned, 2, "{stdout}");
    assert!(databases_on(&clients(&emulator)).await.is_empty());

    // A second full backup of Beta in the folder: refused, naming both files.
    backup(&folder, "beta_full_2.bak", "Beta", SynthKind::Full, MIB);
    let plan = plan::load(&folder, None).unwrap();
    let (report, _) = run(spec(&emulator, dir.path(), plan), clients(&emulator)).await;
    assert!(report.refused);
    let duplicate = report
        .preflight
        .iter()
        .find(|p| p.code == "duplicate_database_name")
        .expect("two backups of Beta refused");
    assert!(
        duplicate.fix.contains("beta_full.bak") && duplicate.fix.contains("beta_full_2.bak"),
        "{}",
        duplicate.fix
    );
}

/// One cancellation (Ctrl-C) stops every database cleanly: the running ones and the queued
/// one are Interrupted, not Error; rerunning the batch finishes all three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_cancel_stops_all_and_a_rerun_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = emulator("").await;
    let files: Vec<PathBuf> = ["Alpha", "Beta", "Gamma"]
        .iter()
        .map(|n| backup(dir.path(), &format!("{n}.bak"), n, SynthKind::Full, 2 * MIB))
        .collect();
    let plan = plan_of(
        dir.path(),
        &[
            (&files[0], "Alpha"),
            (&files[1], "Beta"),
            (&files[2], "Gamma"),
        ],
    );
    let clients = clients(&emulator);
    let mut slow = spec(&emulator, dir.path(), plan.clone());
    slow.upload.limiter = Some(Arc::new(BandwidthLimiter::new(MIB).unwrap()));
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let job = tokio::spawn(batch::run(
        slow,
        clients.clone(),
        events,
        Arc::new(BatchProgress::new(3)),
        cancel.clone(),
    ));
    let mut uploading = 0;
    while let Some(event) = received.recv().await {
        if let BatchEvent::Database {
            migrate: MigrateEvent::UploadStarted { .. },
            ..
        } = event
        {
            uploading += 1;
            if uploading == 2 {
                cancel.cancel();
            }
        }
    }
    let report = job.await.unwrap().unwrap();
    let outcomes: Vec<Outcome> = report.databases.iter().map(|d| d.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::Interrupted; 3],
        "{:?}",
        report.databases
    );
    assert!(databases_on(&clients).await.is_empty());

    let (rerun, _) = run(spec(&emulator, dir.path(), plan), clients.clone()).await;
    assert!(rerun.all_succeeded(), "{:?}", rerun.databases);
    assert_eq!(databases_on(&clients).await.len(), 3);
}

/// The daily quota counted from DescribeMigrateTasks: a database restored 20 times in the last
/// 24 hours is refused before any upload (RDS would answer UploadLimitExceeded).
#[tokio::test]
async fn the_daily_quota_is_counted_from_the_instance() {
    let dir = tempfile::tempdir().unwrap();
    // Restores end at once, so that each failed restore is over before the next one starts.
    let emulator = emulator_restoring_in(0, "").await;
    let clients = clients(&emulator);
    // Twenty failed restores of Quota (a differential: the database is never created).
    let diff = backup(dir.path(), "q.bak", "Quota", SynthKind::Differential, MIB);
    clients
        .oss
        .put_object("q.bak", std::fs::read(&diff).unwrap().into(), None)
        .await
        .unwrap();
    for _ in 0..20 {
        restore_quota(&clients, &emulator, "q.bak", BackupMode::Full, None).await;
    }
    let quota = backup(dir.path(), "Quota.bak", "Quota", SynthKind::Full, MIB);
    let other = backup(dir.path(), "Other.bak", "Other", SynthKind::Full, MIB);
    let plan = plan_of(dir.path(), &[(&quota, "Quota"), (&other, "Other")]);
    let (report, _) = run(spec(&emulator, dir.path(), plan), clients.clone()).await;
    let message = refused_for_the_quota_of_quota(&report, &clients).await;
    assert!(message.contains("Quota"), "{message}");
}

/// An incremental migration's task (UPDF) is one CreateMigrateTask call per file, and the daily
/// quota counts calls: 14 one-shot restores and a rehearsal migration of a full and five logs,
/// dropped since, make 20 for the database. Counted once per task they would be 15, and the
/// batch would upload the backup only for RDS to refuse the 21st call.
#[tokio::test]
async fn each_file_of_an_incremental_migration_counts_against_the_daily_quota() {
    let dir = tempfile::tempdir().unwrap();
    // Restores end at once, so that each call finds the database free.
    let emulator = emulator_restoring_in(0, "").await;
    let clients = clients(&emulator);
    let mut chain = SynthChain::new(SynthDatabase::new(
        "Quota",
        TargetVersion::parse("2019").unwrap(),
    ));
    // The one-shot restores are of a differential, so that they fail and create no database.
    let stray = backup(dir.path(), "q.bak", "Quota", SynthKind::Differential, MIB);
    let mut objects = vec![("q.bak".to_string(), std::fs::read(&stray).unwrap().into())];
    objects.push(("chain/full.bak".into(), bytes_of(&chain.full(MIB))));
    for n in 1..=5 {
        let log = bytes_of(&chain.log(256 << 10));
        objects.push((format!("chain/log_{n}.trn"), log));
    }
    for (key, bytes) in objects {
        clients.oss.put_object(&key, bytes, None).await.unwrap();
    }
    for _ in 0..14 {
        restore_quota(&clients, &emulator, "q.bak", BackupMode::Full, None).await;
    }
    let task = restore_quota(
        &clients,
        &emulator,
        "chain/full.bak",
        BackupMode::Incremental,
        None,
    )
    .await;
    for n in 1..=5 {
        let key = format!("chain/log_{n}.trn");
        let next = restore_quota(
            &clients,
            &emulator,
            &key,
            BackupMode::Incremental,
            Some(&task),
        )
        .await;
        assert_eq!(next, task);
    }
    // Dropped, so that the batch's only finding is the quota, not a name clash.
    clients
        .rds
        .delete_database(INSTANCE, "Quota")
        .await
        .unwrap();

    let quota = backup(dir.path(), "Quota.bak", "Quota", SynthKind::Full, MIB);
    let plan = plan_of(dir.path(), &[(&quota, "Quota")]);
    let (report, _) = run(spec(&emulator, dir.path(), plan), clients.clone()).await;
    let message = refused_for_the_quota_of_quota(&report, &clients).await;
    assert!(message.contains("had 20 restores"), "{message}");
}

/// Asserts that the batch was refused for the daily quota of database Quota alone, before
/// Quota.bak was uploaded; returns the finding's message.
async fn refused_for_the_quota_of_quota(report: &BatchReport, clients: &Clients) -> String {
    assert!(report.refused, "{:?}", report.preflight);
    let codes: Vec<&str> = report.preflight.iter().map(|p| p.code.as_str()).collect();
    assert_eq!(codes, ["daily_database_quota"], "{:?}", report.preflight);
    let uploaded = clients.oss.head_object("Quota.bak").await.unwrap();
    assert!(uploaded.is_none(), "Quota.bak was uploaded");
    report.preflight[0].message.clone()
}

/// One CreateMigrateTask for the database Quota; returns the task's ID.
async fn restore_quota(
    clients: &Clients,
    emulator: &EmulatorHandle,
    key: &str,
    mode: BackupMode,
    task: Option<&str>,
) -> String {
    let request = CreateMigrateTaskRequest {
        db_instance_id: INSTANCE.into(),
        db_name: "Quota".into(),
        backup_mode: mode,
        is_online_db: mode == BackupMode::Full,
        check_db_mode: None,
        source: RestoreSource::OssObject {
            endpoint: "127.0.0.1".into(),
            bucket: emulator.bucket().into(),
            key: key.into(),
        },
        migrate_task_id: task.map(str::to_owned),
    };
    let created = clients.rds.create_migrate_task(&request).await.unwrap();
    created.migrate_task_id
}

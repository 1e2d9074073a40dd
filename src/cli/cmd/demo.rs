//! `bak2rds demo`: the whole product on the embedded emulator, in under a minute. It migrates a
//! synthetic full backup end to end while it is still being written (inspect at the header,
//! pre-flight, upload as it is written, restore, watch),
//! then rehearses a refusal (what a user sees for a differential backup), then the
//! near-zero-downtime form: a full → differential → log chain restored on one task, two more
//! logs shipped as they appear in the folder (`--incremental FOLDER --follow`), then the
//! cutover from "another shell".

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use super::incremental::incremental_with_output;
use super::migrate::migrate_with_output;
use super::synth::Pacing;
use crate::cli::Status;
use crate::cli::args::DemoArgs;
use crate::cli::printer::Printer;
use crate::migrate::incremental::IncrementalSpec;
use crate::migrate::incremental::follow_logs::LogFollowOptions;
use crate::migrate::{Clients, MigrateSpec};
use crate::units::parse_size;
use crate::upload::checkpoint::CheckpointStore;
use crate::upload::engine::UploadOptions;
use crate::upload::follow::FollowOptions;
use bak2rds_cloud::rds::model::{CheckDbMode, TaskStatus};
use bak2rds_cloud::rds::wait::WaitOptions;
use bak2rds_emulator::{Emulator, EmulatorHandle};
use mssql_backup::TargetVersion;
use mssql_backup::synth::{SynthChain, SynthDatabase, SynthKind, SynthSpec, write_synthetic_file};

/// Size of the differential backup of the refusal rehearsal.
const DIFF_SIZE: u64 = 8 << 20;
/// Parts of the full uploaded while it is written.
const FOLLOW_PART: u64 = 16 << 20;
/// The demo's "SQL Server" writes the full in about this long.
const WRITE_SECS: u64 = 4;

/// Writes `spec` to `path` over about [`WRITE_SECS`], as SQL Server writes a backup, in a
/// thread of its own; returns once the file exists.
fn write_slowly(
    path: &std::path::Path,
    spec: SynthSpec,
) -> std::thread::JoinHandle<std::io::Result<u64>> {
    let pacing = Pacing {
        rate: Some((spec.size / WRITE_SECS).max(1 << 20)),
        preallocate: false,
    };
    let target = path.to_owned();
    let writer = std::thread::spawn(move || pacing.write(&target, &spec));
    while !path.exists() && !writer.is_finished() {
        std::thread::sleep(Duration::from_millis(10));
    }
    writer
}

/// Runs `bak2rds demo`.
pub fn run(args: DemoArgs, printer: &Printer) -> anyhow::Result<Status> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(demo(args, printer))
}

async fn demo(args: DemoArgs, printer: &Printer) -> anyhow::Result<Status> {
    let size = parse_size(&args.size).context("--size")?;
    let work = WorkFolder::new(args.work_dir.as_deref())?;
    // CRC-derived ETags: the emulator shares this machine's cores with the client, and MD5
    // would make it the bottleneck (perf-anchors.md §2).
    // Emulated restores of a second each: the incremental part restores five times.
    let config = bak2rds_emulator::EmulatorConfig::from_toml("restore_ms = 1000")
        .context("the demo's emulator settings")?;
    let emulator = Emulator::builder()
        .config(config)
        .temp_dir()
        .fast_etag(true)
        .start()
        .await
        .context("starting the embedded emulator")?;
    printer.note(format!(
        "emulator: OSS {} (bucket {}), RDS {} (instance {})",
        emulator.oss_endpoint(),
        emulator.bucket(),
        emulator.rds_endpoint(),
        emulator.instance_id()
    ));

    printer.note(format!(
        "\n== 1/3: migrate a {} full backup while SQL Server is still writing it ==",
        indicatif::BinaryBytes(size)
    ));
    let database = SynthDatabase::new("DemoSales", TargetVersion::parse("2019")?);
    let full = work.path().join("DemoSales_FULL.bak");
    let writer = write_slowly(
        &full,
        SynthSpec::single(database.clone(), SynthKind::Full, size),
    );
    let migrated = migrate_with_output(
        spec(&emulator, work.path(), &full, "DemoSales"),
        Some(FollowOptions {
            part_size: FOLLOW_PART,
            part_size_is_default: false,
            in_flight: 8,
            settle: Duration::from_secs(2),
            timeout: Duration::from_secs(60),
            poll: Duration::from_millis(200),
            limiter: None,
            verify_pages: true,
        }),
        clients(&emulator)?,
        printer,
    )
    .await?;
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("the demo's backup writer stopped"))?
        .with_context(|| format!("writing {}", full.display()))?;

    printer.note("\n== 2/3: rehearse a refusal: a differential backup ==");
    let diff = work.path().join("DemoSales_DIFF.bak");
    write_synthetic_file(
        &diff,
        &SynthSpec::single(database, SynthKind::Differential, DIFF_SIZE),
    )
    .with_context(|| format!("writing {}", diff.display()))?;
    let refused = migrate_with_output(
        spec(&emulator, work.path(), &diff, "DemoSalesDiff"),
        None,
        clients(&emulator)?,
        printer,
    )
    .await?;

    printer.note(
        "\n== 3/3: near-zero downtime: full, differential and logs on one task, logs shipped \
         as they appear, then cutover ==",
    );
    let (folder, later) = write_chain(work.path())?;
    let mut spec = incremental_spec(&emulator, work.path(), vec![folder.clone()]);
    spec.cutover = false;
    let dba = tokio::spawn(play_the_dba(
        Arc::clone(&emulator.state().requests),
        clients(&emulator)?,
        emulator.instance_id(),
        folder,
        later,
    ));
    let follow = LogFollowOptions {
        settle: Duration::from_secs(1),
        cutover_below_lag: None,
    };
    let incremental =
        incremental_with_output(spec, Some(follow), clients(&emulator)?, printer).await?;
    dba.await
        .map_err(|_| anyhow::anyhow!("the demo's DBA stopped"))?
        .context("the demo's DBA")?;

    emulator.shutdown().await.context("stopping the emulator")?;
    if args.work_dir.is_some() {
        printer.note(format!(
            "the demo's files are kept in {}",
            work.path().display()
        ));
    }
    if migrated == Status::Done && refused == Status::Refused && incremental == Status::Done {
        printer.note(
            "\ndemo finished: the full backup is online, the differential was refused before \
             upload, and the incremental chain was restored and cut over",
        );
        Ok(Status::Done)
    } else {
        anyhow::bail!("the demo did not behave as expected (see above)")
    }
}

/// Where the demo writes its files: a temporary folder removed at the end, or with `--work-dir
/// DIR` a new folder inside DIR (created if needed) that is kept, so the files can be looked at
/// and a second demo never resumes the first one's state.
enum WorkFolder {
    Temporary(tempfile::TempDir),
    Kept(PathBuf),
}

impl WorkFolder {
    fn new(parent: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let Some(parent) = parent else {
            let temp = tempfile::Builder::new()
                .prefix("bak2rds-demo-")
                .tempdir()
                .context("creating the demo's work folder")?;
            return Ok(WorkFolder::Temporary(temp));
        };
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the demo's folder {}", parent.display()))?;
        let kept = tempfile::Builder::new()
            .prefix("bak2rds-demo-")
            .tempdir_in(parent)
            .with_context(|| format!("creating a work folder in {}", parent.display()))?
            .keep();
        Ok(WorkFolder::Kept(kept))
    }

    fn path(&self) -> &std::path::Path {
        match self {
            WorkFolder::Temporary(temp) => temp.path(),
            WorkFolder::Kept(path) => path,
        }
    }
}

/// A small history of another database: full, differential, two logs (given out of order: the
/// chain is ordered by LSN).
/// The chain of scene 3: the full, the differential and a first log in a folder of their own
/// (returned first), and two later logs beside it, which the demo's DBA brings in later.
fn write_chain(work: &std::path::Path) -> anyhow::Result<(PathBuf, Vec<PathBuf>)> {
    let mut chain = SynthChain::new(SynthDatabase::new(
        "DemoOrders",
        TargetVersion::parse("2019")?,
    ));
    let folder = work.join("orders");
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let backups = [
        (folder.join("DemoOrders_FULL.bak"), chain.full(64 << 20)),
        (
            folder.join("DemoOrders_DIFF.bak"),
            chain.differential(DIFF_SIZE),
        ),
        (folder.join("DemoOrders_LOG_1.trn"), chain.log(2 << 20)),
        (work.join("DemoOrders_LOG_2.trn"), chain.log(2 << 20)),
        (work.join("DemoOrders_LOG_3.trn"), chain.log(2 << 20)),
    ];
    let mut later = Vec::new();
    for (path, spec) in &backups {
        write_synthetic_file(path, spec).with_context(|| format!("writing {}", path.display()))?;
        if !path.starts_with(&folder) {
            later.push(path.clone());
        }
    }
    Ok((folder, later))
}

/// Plays the DBA of scene 3 while the log follower runs: once the first three backups are
/// restored, a new log backup lands in the folder, then another; once they are restored, the
/// cutover (`bak2rds cutover TASK`, as from another shell).
async fn play_the_dba(
    requests: Arc<bak2rds_emulator::observe::RequestLog>,
    clients: Clients,
    instance: String,
    folder: PathBuf,
    later: Vec<PathBuf>,
) -> anyhow::Result<()> {
    let submitted = || requests.count_succeeded("CreateMigrateTask");
    let base = submitted();
    let mut expected = base + 3;
    for log in later {
        let task = restored_through(&clients, &instance, || submitted() >= expected).await?;
        let name = log.file_name().unwrap_or_default();
        std::fs::rename(&log, folder.join(name))
            .with_context(|| format!("moving {} into {}", log.display(), folder.display()))?;
        tracing::debug!(task, "the demo's DBA brought a new log backup");
        expected += 1;
    }
    let task = restored_through(&clients, &instance, || submitted() >= expected).await?;
    clients
        .rds
        .create_online_database_task(&instance, "DemoOrders", &task, CheckDbMode::Async)
        .await?;
    Ok(())
}

/// Waits until `enough` says the follower submitted the backups expected and the task restored
/// them (status Waiting); returns the task's id.
async fn restored_through(
    clients: &Clients,
    instance: &str,
    enough: impl Fn() -> bool,
) -> anyhow::Result<String> {
    let started = std::time::Instant::now();
    loop {
        if started.elapsed() > Duration::from_secs(120) {
            anyhow::bail!("the restores of scene 3 did not finish within two minutes");
        }
        if enough() {
            // The task says Waiting again only once the backup submitted last is restored (the
            // demo's emulator restores in a second): look after that, never before.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let end = time::OffsetDateTime::now_utc() + time::Duration::minutes(1);
            let tasks = clients
                .rds
                .describe_migrate_tasks(instance, end - time::Duration::hours(1), end, 1)
                .await?;
            if let Some(task) = tasks
                .items
                .migrate_task
                .iter()
                .find(|task| task.db_name == "DemoOrders" && task.status == TaskStatus::Waiting)
            {
                return Ok(task.migrate_task_id.clone());
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn incremental_spec(
    emulator: &EmulatorHandle,
    work: &std::path::Path,
    files: Vec<PathBuf>,
) -> IncrementalSpec {
    IncrementalSpec {
        files,
        task_id: None,
        instance_id: emulator.instance_id(),
        database: Some("DemoOrders".into()),
        bucket: emulator.bucket().to_string(),
        key_prefix: "DemoOrders/".into(),
        check_db: CheckDbMode::Async,
        cutover: true,
        delete_after: false,
        dry_run: false,
        upload: UploadOptions::default(),
        checkpoints: CheckpointStore::new(work.join("checkpoints")),
        state_dir: work.join("migrations"),
        wait: demo_polling(),
        following: false,
    }
}

/// The emulated restore takes seconds: poll often so the demo does not idle.
fn demo_polling() -> WaitOptions {
    WaitOptions {
        first_interval: Duration::from_millis(500),
        max_interval: Duration::from_secs(2),
        ..WaitOptions::default()
    }
}

fn clients(emulator: &EmulatorHandle) -> anyhow::Result<Clients> {
    Ok(Clients::one_endpoint(
        emulator.oss_config(),
        emulator.rds_config(),
        emulator.credentials(),
    )?)
}

fn spec(
    emulator: &EmulatorHandle,
    work: &std::path::Path,
    file: &std::path::Path,
    database: &str,
) -> MigrateSpec {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    MigrateSpec {
        file: file.to_path_buf(),
        instance_id: emulator.instance_id(),
        database: database.to_string(),
        bucket: emulator.bucket().to_string(),
        key: mssql_backup::object_key_for(&name),
        check_db: CheckDbMode::Async,
        dry_run: false,
        skip_preflight: false,
        delete_after: false,
        upload: UploadOptions::default(),
        checkpoints: CheckpointStore::new(work.join("checkpoints")),
        state_dir: work.join("migrations"),
        wait: demo_polling(),
    }
}

//! `bak2rds demo`: the whole product on the embedded emulator, in under a minute. It migrates a
//! synthetic full backup end to end while it is still being written (inspect at the header,
//! pre-flight, upload as it is written, restore, watch),
//! then rehearses a refusal (what a user sees for a differential backup), then the
//! near-zero-downtime form: a full → differential → log chain restored on one task and cut over.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use super::incremental::incremental_with_output;
use super::migrate::migrate_with_output;
use super::synth::Pacing;
use crate::cli::Status;
use crate::cli::args::DemoArgs;
use crate::cli::printer::Printer;
use crate::migrate::incremental::IncrementalSpec;
use crate::migrate::{Clients, MigrateSpec};
use crate::units::parse_size;
use crate::upload::checkpoint::CheckpointStore;
use crate::upload::engine::UploadOptions;
use crate::upload::follow::FollowOptions;
use bak2rds_cloud::rds::model::CheckDbMode;
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
            in_flight: 8,
            settle: Duration::from_secs(2),
            timeout: Duration::from_secs(60),
            poll: Duration::from_millis(200),
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
        "\n== 3/3: near-zero downtime: full, differential and logs on one task, then cutover ==",
    );
    let chain = write_chain(work.path())?;
    let incremental = incremental_with_output(
        incremental_spec(&emulator, work.path(), chain),
        None,
        clients(&emulator)?,
        printer,
    )
    .await?;

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
fn write_chain(work: &std::path::Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut chain = SynthChain::new(SynthDatabase::new(
        "DemoOrders",
        TargetVersion::parse("2019")?,
    ));
    let backups = [
        ("DemoOrders_FULL.bak", chain.full(64 << 20)),
        ("DemoOrders_DIFF.bak", chain.differential(DIFF_SIZE)),
        ("DemoOrders_LOG_1.trn", chain.log(2 << 20)),
        ("DemoOrders_LOG_2.trn", chain.log(2 << 20)),
    ];
    let mut paths = Vec::new();
    for (name, spec) in backups.iter().rev() {
        let path = work.join(name);
        write_synthetic_file(&path, spec).with_context(|| format!("writing {}", path.display()))?;
        paths.push(path);
    }
    Ok(paths)
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

//! `bak2rds demo`: the whole product on the embedded emulator, in under a minute. It writes a
//! synthetic full backup, migrates it end to end (inspect, pre-flight, upload, restore, watch),
//! then rehearses a refusal: what a user sees for a differential backup.

use std::time::Duration;

use anyhow::Context as _;

use super::migrate::migrate_with_output;
use crate::bak::TargetVersion;
use crate::bak::synth::{SynthDatabase, SynthKind, SynthSpec, write_synthetic_file};
use crate::cli::Status;
use crate::cli::args::DemoArgs;
use crate::cli::printer::Printer;
use crate::emulator::{Emulator, EmulatorHandle};
use crate::migrate::{Clients, MigrateSpec};
use crate::oss::{Credentials, OssClient, OssConfig};
use crate::rds::model::CheckDbMode;
use crate::rds::wait::WaitOptions;
use crate::rds::{RdsClient, RdsClientConfig};
use crate::units::parse_size;
use crate::upload::checkpoint::CheckpointStore;
use crate::upload::engine::UploadOptions;

/// Size of the differential backup of the refusal rehearsal.
const DIFF_SIZE: u64 = 8 << 20;

/// Runs `bak2rds demo`.
pub fn run(args: DemoArgs, printer: &Printer) -> anyhow::Result<Status> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(demo(args, printer))
}

async fn demo(args: DemoArgs, printer: &Printer) -> anyhow::Result<Status> {
    let size = parse_size(&args.size).context("--size")?;
    let work = tempfile::Builder::new()
        .prefix("bak2rds-demo-")
        .tempdir_in(args.work_dir.clone().unwrap_or_else(std::env::temp_dir))
        .context("creating the demo's work folder")?;
    // CRC-derived ETags: the emulator shares this machine's cores with the client, and MD5
    // would make it the bottleneck (perf-anchors.md §2).
    let emulator = Emulator::builder()
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
        "\n== 1/2: migrate a {} full backup ==",
        indicatif::BinaryBytes(size)
    ));
    let database = SynthDatabase::new("DemoSales", TargetVersion::parse("2019")?);
    let full = work.path().join("DemoSales_FULL.bak");
    write_synthetic_file(
        &full,
        &SynthSpec::single(database.clone(), SynthKind::Full, size),
    )
    .with_context(|| format!("writing {}", full.display()))?;
    let migrated = migrate_with_output(
        spec(&emulator, work.path(), &full, "DemoSales"),
        clients(&emulator)?,
        printer,
    )
    .await?;

    printer.note("\n== 2/2: rehearse a refusal: a differential backup ==");
    let diff = work.path().join("DemoSales_DIFF.bak");
    write_synthetic_file(
        &diff,
        &SynthSpec::single(database, SynthKind::Differential, DIFF_SIZE),
    )
    .with_context(|| format!("writing {}", diff.display()))?;
    let refused = migrate_with_output(
        spec(&emulator, work.path(), &diff, "DemoSalesDiff"),
        clients(&emulator)?,
        printer,
    )
    .await?;

    emulator.shutdown().await.context("stopping the emulator")?;
    if migrated == Status::Done && refused == Status::Refused {
        printer.note("\ndemo finished: the full backup is online, the differential was refused before upload");
        Ok(Status::Done)
    } else {
        anyhow::bail!("the demo did not behave as expected (see above)")
    }
}

fn clients(emulator: &EmulatorHandle) -> anyhow::Result<Clients> {
    let credentials = Credentials::new(emulator.access_key_id(), emulator.access_key_secret());
    let oss = OssClient::new(
        OssConfig::with_endpoint(
            &emulator.oss_endpoint(),
            emulator.region(),
            emulator.bucket(),
        ),
        credentials.clone(),
    )?;
    let mut rds_config = RdsClientConfig::new(emulator.region());
    rds_config.endpoint = Some(emulator.rds_endpoint());
    let rds = RdsClient::new(rds_config, credentials)?;
    Ok(Clients {
        oss_for_rds: oss.clone(),
        oss,
        rds,
    })
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
        key: crate::bak::object_key_for(&name),
        check_db: CheckDbMode::Async,
        dry_run: false,
        skip_preflight: false,
        upload: UploadOptions::default(),
        checkpoints: CheckpointStore::new(work.join("checkpoints")),
        state_dir: work.join("migrations"),
        // The emulated restore takes seconds: poll often so the demo does not idle.
        wait: WaitOptions {
            first_interval: Duration::from_millis(500),
            max_interval: Duration::from_secs(2),
            ..WaitOptions::default()
        },
    }
}

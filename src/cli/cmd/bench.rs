//! `bak2rds bench`: uploads a synthetic backup (or `--file`) and reports throughput, client CPU
//! seconds per GiB and peak anonymous memory, for one concurrency or a `--sweep` of them.
//!
//! Without `--oss-endpoint` it starts `bak2rds serve --fast-etag --discard-bodies` as a child
//! process, so the figures measure this client alone: the emulator's CPU is in another process,
//! it does not spend its core on MD5 (`perf-anchors.md` §2: an MD5-computing server caps any
//! client at 0.13–0.5 GiB/s on this kind of machine), and it checks every body's CRC-64 but does
//! not copy the bytes into files (`--emulator-stores` makes it store them).
//! With `--content-md5` the child also gets `--trust-content-md5` (it accepts each part's
//! Content-MD5 without re-hashing), and the output says so.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncBufReadExt as _;

use crate::cli::Status;
use crate::cli::args::{BenchArgs, Concurrency};
use crate::cli::disk;
use crate::cli::printer::Printer;
use crate::cli::resources::{PeakSampler, cpu_model, cpu_seconds};
use crate::cli::settings::{self, oss_client_with};
use crate::cli::transfer::upload_with_progress;
use crate::source::SourceFile;
use crate::units::parse_size;
use crate::upload::checkpoint::CheckpointStore;
use crate::upload::engine::UploadJob;
use bak2rds_cloud::checksum::Crc64;
use bak2rds_cloud::oss::{Credentials, OssClient};
use mssql_backup::TargetVersion;
use mssql_backup::synth::{SynthDatabase, SynthKind, SynthSpec, write_synthetic_file};

/// How often resident memory is sampled during a run.
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(20);
const GIB: f64 = (1u64 << 30) as f64;
const MIB: f64 = (1u64 << 20) as f64;

/// One measured upload.
#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    /// Parts in flight (with `--concurrency auto`: the level settled on).
    pub concurrency: usize,
    /// With `--concurrency auto`: each level tried and the rate measured there (bytes/s), and
    /// why it settled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<crate::upload::engine::ConcurrencyReport>,
    /// Part size used (the largest, when the plan is graded).
    pub part_size: u64,
    /// The smallest part's size, the last left out.
    pub smallest_part_size: u64,
    /// Bytes uploaded.
    pub bytes: u64,
    /// Wall time.
    pub seconds: f64,
    /// Throughput in GiB/s (2^30 bytes).
    pub gib_per_second: f64,
    /// Client CPU seconds (user + system, all threads) per GiB moved.
    pub cpu_seconds_per_gib: Option<f64>,
    /// Peak anonymous resident memory of the client during the run, MiB.
    pub peak_anonymous_rss_mib: f64,
    /// Part attempts retried.
    pub retries: u64,
    /// With `--link`: the upload's rate over the link's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_share: Option<Share>,
    /// With `--max-rate`: the upload's rate over the cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap_share: Option<Share>,
    /// With `--cold`: the disk's cold read rate right before and right after, and the upload's
    /// share of their mean.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskFigures>,
}

/// An upload's rate as a share of a reference rate (the link's, or the cap).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Share {
    /// From the first body byte to Complete's answer: the transfer itself.
    pub transfer: f64,
    /// Over the whole run, from the first request to the HEAD that checks the object: also
    /// the round trips before the parts (HEAD, Initiate, new connections) and after them.
    pub whole_run: f64,
}

impl Share {
    fn of(bytes: u64, transfer_seconds: f64, whole_run_seconds: f64, reference: f64) -> Self {
        let rate = |seconds: f64| bytes as f64 / seconds.max(f64::EPSILON) / reference;
        Share {
            transfer: rate(transfer_seconds),
            whole_run: rate(whole_run_seconds),
        }
    }

    /// "97.6 % of the link's rate (first byte to Complete; 93.2 % over the whole run)".
    fn describe(&self, of_what: &str) -> String {
        format!(
            "{:.1} % of {of_what} (first byte to Complete; {:.1} % over the whole run)",
            self.transfer * 100.0,
            self.whole_run * 100.0
        )
    }
}

/// The disk measured around one cold run.
#[derive(Debug, Clone, Serialize)]
pub struct DiskFigures {
    /// GiB/s of [`disk::READERS`] parallel sequential readers, before the upload.
    pub before_gib_per_second: f64,
    /// The same, after the upload.
    pub after_gib_per_second: f64,
    /// The upload's rate over the mean of the two.
    pub upload_share: f64,
}

/// What the figures were measured on: they compare across machines only with this beside them.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPU model name with its family and model numbers, where the system reports them.
    pub cpu: Option<String>,
    /// Cores this process may run on.
    pub cores: Option<usize>,
    /// The CRC-64 implementation this CPU runs.
    pub crc64_engine: &'static str,
}

impl Machine {
    fn this_one() -> Self {
        Machine {
            cpu: cpu_model(),
            cores: std::thread::available_parallelism().ok().map(usize::from),
            crc64_engine: Crc64::engine_name(),
        }
    }
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cpu = self.cpu.as_deref().unwrap_or("unknown CPU");
        match self.cores {
            Some(cores) => write!(f, "machine: {cpu}, {cores} cores")?,
            None => write!(f, "machine: {cpu}")?,
        }
        write!(f, "; CRC-64: {}", self.crc64_engine)
    }
}

/// The emulator's connection line (`bak2rds serve` prints it first).
#[derive(Debug, Deserialize)]
struct ServeLine {
    oss_endpoint: String,
    region: String,
    bucket: String,
    access_key_id: String,
    access_key_secret: String,
}

/// Runs `bak2rds bench`.
pub fn run(args: BenchArgs, printer: &Printer) -> anyhow::Result<Status> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(bench(args, printer))
}

async fn bench(args: BenchArgs, printer: &Printer) -> anyhow::Result<Status> {
    // Arguments first: writing gigabytes only to refuse the command after is a poor welcome.
    check_target_args(&args)?;
    if args.file.is_none() {
        parse_size(&args.size).context("--size")?;
    }
    let work = tempfile::Builder::new()
        .prefix("bak2rds-bench-")
        .tempdir_in(args.work_dir.clone().unwrap_or_else(std::env::temp_dir))
        .context("creating the benchmark's work folder")?;
    let file = match &args.file {
        Some(file) => file.clone(),
        None => synthesize(&args.size, work.path(), printer)?,
    };
    let (client, emulator) = target(&args, work.path()).await?;
    // Said in every output: without re-verification the emulator's MD5 is not in the figure.
    let md5_trusted = emulator.is_some() && trusts_content_md5(&args);
    if md5_trusted && !printer.json() {
        printer.line(
            "note: the emulator accepted each part's Content-MD5 without re-verifying it \
             (serve --trust-content-md5): the figures measure the client's MD5 only",
        )?;
    }
    let machine = Machine::this_one();
    if !printer.json() {
        printer.line(&machine)?;
    }
    let levels = if args.sweep.is_empty() {
        vec![args.transfer.concurrency]
    } else {
        args.sweep
            .iter()
            .map(|n| Concurrency::Fixed(i64::try_from(*n).unwrap_or(i64::MAX)))
            .collect()
    };
    let mut rows = Vec::new();
    for (index, concurrency) in levels.into_iter().enumerate() {
        let row = measure(
            &client,
            &file,
            &args,
            concurrency,
            index,
            work.path(),
            printer,
        )
        .await?;
        if !printer.json() {
            printer.line(format_row(&row))?;
        }
        rows.push(row);
    }
    if printer.json() {
        printer.json_document(&serde_json::json!({
            "file": file,
            "machine": machine,
            "emulator_verified_content_md5": !md5_trusted,
            "runs": rows,
        }))?;
    }
    Ok(Status::Done)
}

fn synthesize(size: &str, dir: &std::path::Path, printer: &Printer) -> anyhow::Result<PathBuf> {
    let size = parse_size(size).context("--size")?;
    let path = dir.join("bench.bak");
    let version = TargetVersion::parse("2019").context("synthetic backup version")?;
    let spec = SynthSpec::single(
        SynthDatabase::new("BenchDb", version),
        SynthKind::Full,
        size,
    );
    printer.note(format!(
        "writing a {size}-byte synthetic backup to {}",
        path.display()
    ));
    write_synthetic_file(&path, &spec).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// A real endpoint needs its bucket; said with where the endpoint came from, since an exported
/// `BAK2RDS_OSS_ENDPOINT` (set for the emulator earlier) is easy to forget.
fn check_target_args(args: &BenchArgs) -> anyhow::Result<()> {
    if let Some(link) = &args.link {
        super::serve::parse_link(link)?;
    }
    let Some(endpoint) = &args.oss.oss_endpoint else {
        return Ok(());
    };
    if args.link.is_some() {
        bail!(
            "--link models a WAN in front of the emulator bench starts; it cannot apply to \
             --oss-endpoint {endpoint} (a real link is measured as it is)"
        );
    }
    if args.bucket.is_some() {
        return Ok(());
    }
    let from_env =
        std::env::var(crate::env_vars::BAK2RDS_OSS_ENDPOINT).is_ok_and(|value| &value == endpoint);
    if from_env {
        bail!(
            "the OSS endpoint {endpoint} comes from BAK2RDS_OSS_ENDPOINT: pass --bucket NAME to \
             benchmark that endpoint, or unset BAK2RDS_OSS_ENDPOINT to benchmark against a \
             private emulator"
        );
    }
    bail!("--bucket is required with --oss-endpoint {endpoint}: name the bucket to upload to");
}

/// The client to measure, and the emulator child it talks to (killed when dropped).
async fn target(
    args: &BenchArgs,
    work: &std::path::Path,
) -> anyhow::Result<(OssClient, Option<tokio::process::Child>)> {
    // A real endpoint only when asked for one explicitly: a region in the environment
    // (ALIBABA_CLOUD_REGION_ID) must not send a benchmark to real OSS.
    if args.oss.oss_endpoint.is_some() || args.bucket.is_some() {
        let Some(bucket) = &args.bucket else {
            bail!("--bucket is required with --oss-endpoint");
        };
        return Ok((settings::oss_client(&args.oss, bucket)?, None));
    }
    let (line, child) = start_emulator(
        work,
        args.emulator_stores,
        trusts_content_md5(args),
        args.link.as_deref(),
    )
    .await?;
    let mut oss = args.oss.clone();
    oss.oss_endpoint = Some(line.oss_endpoint);
    oss.region = Some(line.region);
    let credentials = Credentials::new(line.access_key_id, line.access_key_secret);
    Ok((
        oss_client_with(&oss, &line.bucket, credentials)?,
        Some(child),
    ))
}

/// With `--content-md5` the started emulator accepts the header without re-hashing the body, so
/// the figure is the client's MD5 cost alone, as in the target's reference pair (perf-anchors.md
/// row 24); otherwise client and emulator would both hash MD5 on the same two cores.
fn trusts_content_md5(args: &BenchArgs) -> bool {
    args.transfer.content_md5
}

/// Starts `bak2rds serve --fast-etag` with its data in `work` and reads its connection line.
async fn start_emulator(
    work: &std::path::Path,
    stores: bool,
    trust_md5: bool,
    link: Option<&str>,
) -> anyhow::Result<(ServeLine, tokio::process::Child)> {
    let exe = std::env::current_exe().context("locating the bak2rds binary")?;
    let mut command = tokio::process::Command::new(exe);
    command.args(["serve", "--fast-etag"]);
    if let Some(link) = link {
        command.args(["--link", link]);
    }
    if trust_md5 {
        command.arg("--trust-content-md5");
    }
    if stores {
        command.arg("--data").arg(work.join("emulator"));
    } else {
        command.arg("--discard-bodies");
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting the emulator (bak2rds serve)")?;
    let stdout = child.stdout.take().context("the emulator's stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .context("the emulator did not start within 30 s")?
        .context("reading the emulator's connection line")?
        .context("the emulator exited before printing its connection line")?;
    let line: ServeLine =
        serde_json::from_str(&line).context("parsing the emulator's connection line")?;
    Ok((line, child))
}

async fn measure(
    client: &OssClient,
    file: &std::path::Path,
    args: &BenchArgs,
    concurrency: Concurrency,
    index: usize,
    work: &std::path::Path,
    printer: &Printer,
) -> anyhow::Result<BenchRow> {
    let mut transfer = args.transfer.clone();
    transfer.concurrency = concurrency;
    let options = settings::upload_options(&transfer, false)?;
    let cap = options
        .limiter
        .as_ref()
        .map(|limiter| limiter.bytes_per_second());
    let key = format!("bak2rds-bench/run-{index}-c{concurrency}.bak");
    // Each run maps the file afresh, as an upload does: a mapping reused from the previous run
    // would already have its pages mapped and flatter every run after the first.
    let source = Arc::new(SourceFile::open(file)?);
    // Kept to drop the mapping before the disk is measured again: mapped pages stay cached.
    let job_source = Arc::clone(&source);
    let job = UploadJob {
        source,
        bucket: client.bucket().to_string(),
        key: key.clone(),
        checkpoints: CheckpointStore::new(work.join("checkpoints")),
        options,
    };
    // Cold: the disk is measured right before (leaving the file evicted) and right after, since
    // a virtual disk's rate drifts from minute to minute.
    let disk_before = if args.cold {
        Some(disk::cold_read_rate(file)? / GIB)
    } else {
        None
    };
    let cpu_before = cpu_seconds();
    let sampler = PeakSampler::start(RSS_SAMPLE_EVERY);
    let started = Instant::now();
    let report = upload_with_progress(Arc::new(client.clone()), job, printer)
        .await
        .with_context(|| format!("benchmark upload at concurrency {concurrency}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let peak = sampler.finish();
    let cpu = cpu_before.zip(cpu_seconds()).map(|(a, b)| b - a);
    // Free the emulator's (or the bucket's) space before the next run.
    client
        .delete_object(&key)
        .await
        .with_context(|| format!("deleting the benchmark object {key}"))?;
    let gib = report.size as f64 / GIB;
    // From the first body byte to Complete: the requests before the parts and the check after
    // them are a few round trips whatever the controller does (the whole run is shown too).
    let transfer_seconds = match report.sending_ms {
        0 => seconds, // nothing sent (the object was already there): only the whole run
        ms => ms as f64 / 1000.0,
    };
    let share = |reference: f64| Share::of(report.size, transfer_seconds, seconds, reference);
    let gib_per_second = if seconds > 0.0 { gib / seconds } else { 0.0 };
    let disk = match disk_before {
        Some(before) => {
            drop(job_source);
            let after = disk::cold_read_rate(file)? / GIB;
            let mean = (before + after) / 2.0;
            Some(DiskFigures {
                before_gib_per_second: before,
                after_gib_per_second: after,
                upload_share: if mean > 0.0 {
                    gib_per_second / mean
                } else {
                    0.0
                },
            })
        }
        None => None,
    };
    Ok(BenchRow {
        concurrency: report
            .concurrency
            .as_ref()
            .map_or_else(|| options_level(concurrency), |c| c.settled_on),
        part_size: report.part_size,
        smallest_part_size: report.smallest_part_size,
        bytes: report.size,
        seconds,
        gib_per_second,
        cpu_seconds_per_gib: cpu.filter(|_| gib > 0.0).map(|cpu| cpu / gib),
        peak_anonymous_rss_mib: peak as f64 / MIB,
        retries: report.retries,
        adaptive: report.concurrency.clone(),
        link_share: link_rate(args).map(share),
        cap_share: cap.map(|cap| share(cap as f64)),
        disk,
    })
}

/// The parts in flight of a fixed level.
fn options_level(concurrency: Concurrency) -> usize {
    match concurrency {
        Concurrency::Fixed(n) => usize::try_from(n).unwrap_or(0),
        Concurrency::Auto => crate::upload::controller::START,
    }
}

/// The link model's rate (bytes per second), with `--link`.
fn link_rate(args: &BenchArgs) -> Option<f64> {
    let link = super::serve::parse_link(args.link.as_deref()?).ok()?;
    Some(link.rate_bytes_per_sec as f64)
}

/// "16", or "4-16" for a graded plan, in MiB.
fn part_sizes(row: &BenchRow) -> String {
    match (row.smallest_part_size >> 20, row.part_size >> 20) {
        (smallest, largest) if smallest < largest => format!("{smallest}-{largest}"),
        (_, largest) => largest.to_string(),
    }
}

fn format_row(row: &BenchRow) -> String {
    let cpu = row
        .cpu_seconds_per_gib
        .map_or_else(|| "n/a".to_string(), |cpu| format!("{cpu:.3}"));
    let adaptive = row.adaptive.as_ref().map_or_else(String::new, |adaptive| {
        if adaptive.tried.is_empty() {
            return format!(
                "\n  auto: the upload ended before a level was measured ({} parts in flight)",
                adaptive.settled_on
            );
        }
        let tried: Vec<String> = adaptive
            .tried
            .iter()
            .map(|(level, rate)| format!("{level}: {:.1} MiB/s", *rate as f64 / MIB))
            .collect();
        format!(
            "\n  auto: tried {}; settled on {} ({})",
            tried.join(", "),
            adaptive.settled_on,
            crate::cli::transfer::why_settled(adaptive.limit)
        )
    });
    let link = row.link_share.map_or_else(String::new, |share| {
        format!(
            "\n  link: the upload filled {}",
            share.describe("the link's rate")
        )
    });
    let cap = row.cap_share.map_or_else(String::new, |share| {
        format!("\n  cap: the upload held {}", share.describe("--max-rate"))
    });
    let disk = row.disk.as_ref().map_or_else(String::new, |disk| {
        format!(
            "\n  cold file: the disk read it at {:.2} GiB/s before and {:.2} GiB/s after ({} \
             parallel sequential readers); the upload ran at {:.0} % of their mean",
            disk.before_gib_per_second,
            disk.after_gib_per_second,
            disk::READERS,
            disk.upload_share * 100.0
        )
    });
    format!(
        "concurrency {:>3}  parts {:>5} MiB  {:>8.2} GiB in {:>6.2} s  {:>6.2} GiB/s  \
         {cpu} CPU-s/GiB  peak anon RSS {:.1} MiB  retries {}{adaptive}{link}{cap}{disk}",
        row.concurrency,
        part_sizes(row),
        row.bytes as f64 / GIB,
        row.seconds,
        row.gib_per_second,
        row.peak_anonymous_rss_mib,
        row.retries
    )
}

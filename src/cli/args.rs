//! Command-line syntax (clap derive). Syntax only: no I/O, no defaults that need the environment
//! beyond clap's own `env` fallbacks. The first doc line of a field is its short help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Move an on-premises SQL Server .bak into Alibaba Cloud ApsaraDB RDS for SQL Server.
///
/// Exit codes: 0 done (warnings allowed), 2 refused (the backup, the pre-flight or RDS said no,
/// with the reason and the fix), 1 error (I/O, network, configuration).
#[derive(Debug, Parser)]
#[command(name = "bak2rds", version, about, long_about)]
pub struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Write machine-readable JSON to stdout instead of text.
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,
    /// Print only results and warnings: no notes, no progress bar.
    #[arg(long, short, global = true, help_heading = "Global options")]
    pub quiet: bool,
    /// More log output on stderr (-v info, -vv debug); turns the progress bar off.
    #[arg(
        long,
        short,
        global = true,
        action = clap::ArgAction::Count,
        help_heading = "Global options"
    )]
    pub verbose: u8,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check .bak files locally: what they are and whether RDS can restore them.
    Inspect(InspectArgs),
    /// Write a structurally valid synthetic backup, for demos, tests and benchmarks.
    Synth(SynthArgs),
    /// Run the local OSS + RDS emulator (offline rehearsal, benchmarks).
    Serve(ServeArgs),
    /// Upload a file to OSS: parallel parts, CRC-64 checked, rate-limited, resumable.
    Upload(UploadArgs),
    /// Measure upload throughput, CPU and memory against the emulator or an endpoint.
    Bench(BenchArgs),
    /// Migrate a .bak into RDS: inspect, pre-flight, upload, restore, watch — resumable.
    Migrate(Box<MigrateArgs>),
    /// Run the whole job on the embedded emulator: a synthetic backup migrated end to end.
    Demo(DemoArgs),
    /// Follow an RDS migration task to its end and explain the outcome.
    Watch(WatchArgs),
    /// List an RDS instance's recent migration tasks.
    Tasks(TasksArgs),
    /// Open a database restored by an incremental migration (CreateOnlineDatabaseTask).
    Cutover(CutoverArgs),
    /// Explain an RDS migration task's message: its cause and the fix.
    Explain(ExplainArgs),
    /// What a security review asks: credentials' source, endpoints, TLS roots, proxies, folders,
    /// version (nothing secret; no request sent).
    Doctor(DoctorArgs),
}

/// The folders a migration keeps its progress in.
#[derive(Debug, Args, Clone)]
pub struct Folders {
    /// Folder for upload checkpoints [default: ~/.bak2rds/checkpoints].
    #[arg(long, value_name = "DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    /// Folder for migration state files [default: ~/.bak2rds/migrations].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// `bak2rds doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// RDS API endpoint URL, overriding the regional one.
    #[arg(long, value_name = "URL", env = crate::env_vars::BAK2RDS_RDS_ENDPOINT)]
    pub rds_endpoint: Option<String>,
    /// Where checkpoints and state files live.
    #[command(flatten)]
    pub folders: Folders,
    /// OSS connection (the region is the instance's too).
    #[command(flatten, next_help_heading = "OSS connection")]
    pub oss: OssArgs,
}

/// `bak2rds explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The task's Description as RDS, the console or another tool showed it (quote it), or `-`
    /// to read it from standard input.
    #[arg(value_name = "MESSAGE")]
    pub message: String,
}

/// `bak2rds inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Backup files to inspect (with --chain, folders too).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Also recompute SQL Server's checksum of every data page (reads the whole file).
    #[arg(long)]
    pub verify_pages: bool,
    /// Refuse backups newer than this SQL Server: 2008r2, 2012, 2014, 2016, 2017, 2019, 2022, or an
    /// RDS engine version such as 2019_std_ha.
    #[arg(long, value_name = "VERSION")]
    pub target_version: Option<String>,
    /// The database name the backup will be restored as; checked against SQL Server's and RDS's rules.
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// Check the files (and folders, one level deep) as one restore chain: full, latest
    /// differential, logs in LSN order, with gaps and other problems. `--chain=DB` keeps only
    /// the backups of database DB.
    #[arg(
        long,
        value_name = "DB",
        num_args = 0..=1,
        require_equals = true,
        conflicts_with_all = ["verify_pages", "target_version", "database"]
    )]
    pub chain: Option<Option<String>>,
}

/// `bak2rds synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Where to write the backup (with --chain: the folder for the chain's files).
    pub out: PathBuf,
    /// Write a restore chain of one database into the folder OUT: a full (--size), a
    /// differential and --logs log backups whose GUIDs and LSNs chain as SQL Server's do.
    #[arg(long, conflicts_with_all = ["kind", "stripes"])]
    pub chain: bool,
    /// With --chain: how many log backups follow the differential.
    #[arg(long, value_name = "N", default_value_t = 2, requires = "chain")]
    pub logs: u32,
    /// Approximate size, e.g. 64MiB, 1GiB.
    #[arg(long, value_name = "SIZE", default_value = "64MiB")]
    pub size: String,
    /// Backup type.
    #[arg(long, value_name = "KIND", value_enum, default_value = "full")]
    pub kind: SynthKind,
    /// Number of stripes (family count); 1 is a normal single-file backup.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub stripes: u32,
    /// Database name written into the backup.
    #[arg(long, value_name = "NAME", default_value = "SynthDb")]
    pub database: String,
    /// SQL Server version that "wrote" the backup: 2008r2, 2012, 2014, 2016, 2017, 2019, 2022.
    #[arg(long, value_name = "VERSION", default_value = "2019")]
    pub version: String,
    /// Replace OUT (and its stripe files) if they exist; without it an existing file is kept.
    #[arg(long)]
    pub force: bool,
    /// Write the backup progressively at this rate (e.g. 50MiB/s), as SQL Server writes a
    /// long backup: to rehearse `--follow` on a file that is still growing.
    #[arg(long, value_name = "RATE", conflicts_with = "chain")]
    pub write_rate: Option<String>,
    /// Set the file to its final size first (zeros) and fill it in, then cut it to the
    /// written length, as SQL Server does for a compressed backup.
    #[arg(long, conflicts_with = "chain")]
    pub preallocate: bool,
}

/// The backup types `synth` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SynthKind {
    /// Full database backup.
    Full,
    /// Differential backup.
    Diff,
    /// Transaction log backup.
    Log,
}

/// `bak2rds serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; the default is a free port on loopback.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Keep objects in this folder (default: a temporary folder removed on exit).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// TOML file declaring buckets, key pairs, instances and faults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Derive ETags from the CRC64 instead of MD5, so benchmarks measure the client.
    #[arg(long)]
    pub fast_etag: bool,
    /// Check bodies (length, CRC64) and drop them, keeping only metadata: for throughput
    /// benchmarks; GET is refused.
    #[arg(long, conflicts_with = "data")]
    pub discard_bodies: bool,
    /// Benchmark knob: accept Content-MD5 headers on part bodies without re-hashing them, so a
    /// `bench --content-md5` figure measures the client's MD5 only. Off by default.
    #[arg(long)]
    pub trust_content_md5: bool,
    /// Put a WAN in front of the OSS side, e.g. rtt=250ms,rate=1Gbit/s,window=1MiB: delay of
    /// RTT/2 each way, at most WINDOW unacknowledged bytes per connection, one shared RATE, a
    /// round trip per new connection (also `[link]` in --config).
    #[arg(long, value_name = "SPEC")]
    pub link: Option<String>,
    /// Credentials the emulated STS and ECS metadata service issue last at most TTL (e.g. 10s,
    /// 5m, 1h) whatever the client asks, to rehearse expiry and refresh (real STS: at least
    /// 15 minutes; also `[sts] token_ttl_secs` in --config).
    #[arg(long, value_name = "TTL")]
    pub sts_token_ttl: Option<String>,
}

/// Where and how to reach OSS; shared by every command that talks to it.
#[derive(Debug, Args, Clone)]
pub struct OssArgs {
    /// Region, e.g. cn-hangzhou: picks the OSS endpoint (and for `migrate` the RDS one: the
    /// bucket and the instance share a region).
    #[arg(long, value_name = "REGION", env = crate::env_vars::ALIBABA_CLOUD_REGION_ID)]
    pub region: Option<String>,
    /// OSS endpoint URL, overriding the regional one (e.g. the emulator's http://127.0.0.1:PORT).
    #[arg(long, env = crate::env_vars::BAK2RDS_OSS_ENDPOINT, value_name = "URL")]
    pub oss_endpoint: Option<String>,
    /// Use the region's -internal endpoint (from an ECS instance in the same region).
    #[arg(long)]
    pub internal: bool,
    /// Profile in the aliyun CLI config file (~/.aliyun/config.json) to take credentials from,
    /// before the ALIBABA_CLOUD_ACCESS_KEY_* variables (ALIBABA_CLOUD_PROFILE names one that
    /// comes after them, as in Alibaba's credential chain).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Request signature version.
    #[arg(long, value_name = "VERSION", value_enum, default_value = "v4")]
    pub signature_version: SignatureVersionArg,
    /// Allow plain http:// endpoints (OSS and RDS) that are not this machine: credentials,
    /// signatures and data then cross the network unencrypted.
    #[arg(long)]
    pub insecure_http: bool,
    /// Also trust the root certificates in this PEM file (e.g. the company CA of a
    /// TLS-inspecting proxy), besides the system's (SSL_CERT_FILE/SSL_CERT_DIR) and the bundled ones.
    #[arg(long, value_name = "FILE", env = crate::env_vars::BAK2RDS_CA_BUNDLE)]
    pub ca_bundle: Option<PathBuf>,
}

/// OSS signature versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SignatureVersionArg {
    /// OSS4-HMAC-SHA256 (the default, and what new regions require).
    V4,
    /// The legacy HMAC-SHA1 signature.
    V1,
}

/// Part size, parallelism and bandwidth of an upload.
#[derive(Debug, Args, Clone)]
pub struct TransferArgs {
    /// Part size (e.g. 64MiB); default: chosen from the file size (16–256 MiB, ≤10,000 parts).
    // Hyphen values are taken, so `-5` is called negative instead of "unexpected argument".
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub part_size: Option<String>,
    /// Parts in flight at once: auto (measure and add parts in flight while the rate rises, up
    /// to 64) or a number that fixes it (ossutil calls it --parallel; here --parallel is the
    /// databases of a batch).
    #[arg(
        long,
        value_name = "N|auto",
        default_value_t = Concurrency::Auto,
        allow_hyphen_values = true
    )]
    pub concurrency: Concurrency,
    /// Bandwidth cap, e.g. 50MiB/s or 200Mbit/s (ossutil 2's --bwlimit works too).
    #[arg(
        long,
        value_name = "RATE",
        visible_alias = "bwlimit",
        allow_hyphen_values = true
    )]
    pub max_rate: Option<String>,
    /// Send Content-MD5 with every part (server-side check; costs ~2 CPU-s per GiB).
    #[arg(long)]
    pub content_md5: bool,
    /// Do not check the backup's page checksums as its parts go out (by default a damaged page
    /// stops the upload before the object is completed).
    #[arg(long)]
    pub no_verify_pages: bool,
}

/// `--concurrency`: `auto` or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// The adaptive controller chooses.
    Auto,
    /// Exactly this many parts in flight (checked against the bounds by the settings).
    Fixed(i64),
}

impl std::fmt::Display for Concurrency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Concurrency::Auto => f.write_str("auto"),
            Concurrency::Fixed(n) => write!(f, "{n}"),
        }
    }
}

impl std::str::FromStr for Concurrency {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.eq_ignore_ascii_case("auto") {
            return Ok(Concurrency::Auto);
        }
        text.trim()
            .parse()
            .map(Concurrency::Fixed)
            .map_err(|_| format!("{text:?} is neither auto nor a number of parts in flight"))
    }
}

/// `--follow`: a backup SQL Server is still writing.
#[derive(Debug, Clone, Args)]
pub struct FollowArgs {
    /// Start while SQL Server is still writing the backup: send each part once it is written,
    /// and complete the object when the backup is finished (its end written, the file
    /// unchanged for --follow-settle).
    #[arg(long = "follow")]
    pub enabled: bool,
    /// With --follow: give up when the file has not changed for this long and its backup is
    /// not finished.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10m",
        requires = "enabled"
    )]
    pub follow_timeout: String,
    /// With --follow: how long the finished file must stay unchanged before it is completed.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "5s",
        requires = "enabled"
    )]
    pub follow_settle: String,
}

/// `bak2rds upload`.
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The file to upload.
    pub file: PathBuf,
    /// Destination, oss://BUCKET/KEY (a KEY ending in / gets a safe name derived from the file).
    pub destination: String,
    /// Folder for resume checkpoints [default: ~/.bak2rds/checkpoints].
    #[arg(long, value_name = "DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    /// Start over even if a checkpoint exists (its multipart upload is aborted).
    #[arg(long)]
    pub no_resume: bool,
    /// Abort the unfinished multipart upload of this file and destination, and delete its checkpoint.
    #[arg(long)]
    pub abort: bool,
    /// A backup still being written.
    #[command(flatten)]
    pub follow: FollowArgs,
    /// OSS connection.
    #[command(flatten, next_help_heading = "OSS connection")]
    pub oss: OssArgs,
    /// Transfer tuning.
    #[command(flatten, next_help_heading = "Transfer")]
    pub transfer: TransferArgs,
}

/// `bak2rds bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Size of the synthetic backup to upload, e.g. 4GiB.
    #[arg(long, value_name = "SIZE", default_value = "4GiB")]
    pub size: String,
    /// Upload this file instead of a synthetic backup.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Folder for the synthetic backup (default: a temporary folder).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Concurrency levels to measure one after the other, e.g. 1,2,4,8,16.
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    pub sweep: Vec<usize>,
    /// Bucket to upload to when --oss-endpoint is given.
    #[arg(long, value_name = "BUCKET")]
    pub bucket: Option<String>,
    /// Let the started emulator store the bytes on disk instead of checking and dropping them
    /// (then the server's copy into the page cache competes with the client for the CPU).
    #[arg(long)]
    pub emulator_stores: bool,
    /// Upload through the emulator's link model, e.g. rtt=250ms,rate=1Gbit/s,window=1MiB (see
    /// `serve --link`), and report the share of the link's rate the upload filled.
    #[arg(long, value_name = "SPEC")]
    pub link: Option<String>,
    /// Read the file from disk, as a backup larger than memory is: evict its pages from the
    /// page cache before each run, measure the disk (8 parallel sequential readers) before and
    /// after, and report the upload as a share of it.
    #[arg(long)]
    pub cold: bool,
    /// OSS connection (default: an emulator started for the run, with --fast-etag).
    #[command(flatten, next_help_heading = "OSS connection")]
    pub oss: OssArgs,
    /// Transfer tuning.
    #[command(flatten, next_help_heading = "Transfer")]
    pub transfer: TransferArgs,
}

/// Which RDS instance, and how to reach its API.
#[derive(Debug, Args)]
pub struct RdsTargetArgs {
    /// RDS for SQL Server instance ID, e.g. rm-bp1xxxxxxxx.
    #[arg(long, value_name = "ID")]
    pub instance: String,
    /// Region of the instance, e.g. cn-hangzhou; picks the RDS endpoint.
    #[arg(long, default_value = "cn-hangzhou", env = crate::env_vars::ALIBABA_CLOUD_REGION_ID)]
    pub region: String,
    /// RDS API endpoint URL, overriding the regional one (e.g. the emulator's).
    #[arg(long, value_name = "URL", env = crate::env_vars::BAK2RDS_RDS_ENDPOINT)]
    pub rds_endpoint: Option<String>,
    /// Profile in the aliyun CLI config file (~/.aliyun/config.json) to take credentials from,
    /// as for `upload` and `migrate`.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Allow a plain http:// endpoint that is not this machine (requests travel unencrypted).
    #[arg(long)]
    pub insecure_http: bool,
    /// Also trust the root certificates in this PEM file, as for `upload` and `migrate`.
    #[arg(long, value_name = "FILE", env = crate::env_vars::BAK2RDS_CA_BUNDLE)]
    pub ca_bundle: Option<PathBuf>,
}

/// `bak2rds watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The migration task ID (MigrateTaskId).
    #[arg(value_name = "TASK")]
    pub task_id: String,
    /// The instance and endpoint.
    #[command(flatten, next_help_heading = "RDS connection")]
    pub target: RdsTargetArgs,
}

/// `bak2rds tasks`.
#[derive(Debug, Args)]
pub struct TasksArgs {
    /// How many days back to list, at least 1 (the console shows one week).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 7,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub days: u32,
    /// The instance and endpoint.
    #[command(flatten, next_help_heading = "RDS connection")]
    pub target: RdsTargetArgs,
}

/// `bak2rds cutover`.
#[derive(Debug, Args)]
pub struct CutoverArgs {
    /// The incremental migration's task ID (MigrateTaskId).
    #[arg(value_name = "TASK")]
    pub task_id: String,
    /// Database name on RDS (default: the one the task restores).
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// When RDS runs DBCC CHECKDB: after opening the database (async) or before (sync).
    #[arg(long, value_name = "WHEN", value_enum, default_value = "async")]
    pub check_db: CheckDbArg,
    /// The instance and endpoint.
    #[command(flatten, next_help_heading = "RDS connection")]
    pub target: RdsTargetArgs,
}

/// `bak2rds migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The full backup to migrate; with --incremental, the chain: full, differential, logs (files
    /// or folders, any order); with --batch, optionally the destination oss://BUCKET[/PREFIX].
    #[arg(required_unless_present = "batch")]
    pub files: Vec<PathBuf>,
    /// RDS for SQL Server instance ID, e.g. rm-bp1xxxxxxxx.
    #[arg(long, value_name = "ID", required_unless_present = "batch")]
    pub instance: Option<String>,
    /// Name of the database to create on the instance (with --task: the task's).
    #[arg(long, value_name = "NAME", required_unless_present_any = ["task", "batch"])]
    pub database: Option<String>,
    /// Near-zero-downtime mode: restore the full without opening the database, then the
    /// differential and log backups on the same task; open it with --cutover.
    #[arg(long, conflicts_with = "batch")]
    pub incremental: bool,
    /// Add the next differential or log backups to this running incremental migration.
    #[arg(long, value_name = "ID", requires = "incremental")]
    pub task: Option<String>,
    /// After the last backup, open the database (CreateOnlineDatabaseTask); stop writes on the
    /// source and take the final log backup first.
    #[arg(long, requires = "incremental")]
    pub cutover: bool,
    /// Prefix of the object keys of an incremental migration (e.g. migrations/sales/).
    #[arg(
        long,
        value_name = "PREFIX",
        default_value = "",
        hide_default_value = true,
        conflicts_with = "key",
        requires = "incremental"
    )]
    pub key_prefix: String,
    /// OSS bucket to stage the backup in (in the instance's region).
    #[arg(long, value_name = "BUCKET", required_unless_present = "batch")]
    pub bucket: Option<String>,
    /// Object key [default: a safe name derived from the file name and backup type].
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    // Batch mode (`cli/cmd/batch.rs`): many databases of one instance.
    /// Migrate many databases: PLAN is a TOML plan file, or a folder whose full backups are
    /// migrated under the names in their headers.
    #[arg(long, value_name = "PLAN")]
    pub batch: Option<PathBuf>,
    /// With --batch: databases migrated at once [default: the plan's `parallel`, else 2].
    #[arg(long, value_name = "N", requires = "batch")]
    pub parallel: Option<usize>,
    /// When RDS runs DBCC CHECKDB: after opening the database (async) or before (sync).
    #[arg(long, value_name = "WHEN", value_enum, default_value = "async")]
    pub check_db: CheckDbArg,
    /// Inspect and pre-flight only; print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// A full backup still being written; with --incremental FOLDER: restore each new log
    /// backup as it appears in FOLDER until the database is cut over.
    #[command(flatten)]
    pub follow: FollowArgs,
    /// With --incremental --follow: cut over once the newest restored log backup was written
    /// less than this long ago (e.g. 5m).
    #[arg(long, value_name = "DURATION")]
    pub cutover_after_lag_below: Option<String>,
    /// Once the database is online (an incremental migration: after --cutover), delete the
    /// objects this migration uploaded: never before, never on failure, never another object.
    #[arg(long)]
    pub delete_after: bool,
    /// RDS API endpoint URL, overriding the regional one (e.g. the emulator's).
    #[arg(long, value_name = "URL", env = crate::env_vars::BAK2RDS_RDS_ENDPOINT)]
    pub rds_endpoint: Option<String>,
    /// Where checkpoints and state files live.
    #[command(flatten)]
    pub folders: Folders,
    /// OSS connection (the region is the instance's too).
    #[command(flatten, next_help_heading = "OSS connection")]
    pub oss: OssArgs,
    /// Transfer tuning.
    #[command(flatten, next_help_heading = "Transfer")]
    pub transfer: TransferArgs,
    /// Rehearsal only: skip pre-flight refusals and let (emulated) RDS judge the backup.
    #[arg(long, hide = true)]
    pub skip_preflight: bool,
}

/// DBCC CHECKDB timing (`CheckDBMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckDbArg {
    /// After the database is opened (faster).
    Async,
    /// Before the database is opened (a failure fails the task).
    Sync,
}

/// `bak2rds demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Size of the synthetic full backup.
    #[arg(long, value_name = "SIZE", default_value = "1GiB")]
    pub size: String,
    /// Keep the demo's files in a new folder inside DIR (created if needed); by default they go
    /// to a temporary folder removed at the end.
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
}

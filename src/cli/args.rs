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
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only results and warnings: no notes, no progress bar.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// More log output on stderr (-v info, -vv debug); turns the progress bar off.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
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
}

/// `bak2rds inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Backup files to inspect.
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
}

/// `bak2rds synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Where to write the backup.
    pub out: PathBuf,
    /// Approximate size, e.g. 64MiB, 1GiB.
    #[arg(long, default_value = "64MiB")]
    pub size: String,
    /// Backup type.
    #[arg(long, value_enum, default_value = "full")]
    pub kind: SynthKind,
    /// Number of stripes (family count); 1 is a normal single-file backup.
    #[arg(long, default_value_t = 1)]
    pub stripes: u32,
    /// Database name written into the backup.
    #[arg(long, default_value = "SynthDb")]
    pub database: String,
    /// SQL Server version that "wrote" the backup: 2008r2, 2012, 2014, 2016, 2017, 2019, 2022.
    #[arg(long, default_value = "2019")]
    pub version: String,
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
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Keep objects in this folder (default: a temporary folder removed on exit).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// TOML file declaring buckets, key pairs, instances and faults.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Derive ETags from the CRC64 instead of MD5, so benchmarks measure the client.
    #[arg(long)]
    pub fast_etag: bool,
    /// Check bodies (length, CRC64) and drop them, keeping only metadata: for throughput
    /// benchmarks; GET is refused.
    #[arg(long, conflicts_with = "data")]
    pub discard_bodies: bool,
}

//! `bak2rds bench`.

use crate::cli::Status;
use crate::cli::args::BenchArgs;
use crate::cli::printer::Printer;

/// Runs `bak2rds bench`.
pub fn run(_args: BenchArgs, _printer: &Printer) -> anyhow::Result<Status> {
    anyhow::bail!("`bak2rds bench` is not built yet")
}

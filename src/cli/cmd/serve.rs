//! `bak2rds serve`.

use crate::cli::Status;
use crate::cli::args::ServeArgs;
use crate::cli::printer::Printer;

/// Runs `bak2rds serve`.
pub fn run(_args: ServeArgs, _printer: &Printer) -> anyhow::Result<Status> {
    anyhow::bail!("`bak2rds serve` is not built yet")
}

//! `bak2rds inspect`.

use crate::cli::Status;
use crate::cli::args::InspectArgs;
use crate::cli::printer::Printer;

/// Runs `bak2rds inspect`.
pub fn run(_args: InspectArgs, _printer: &Printer) -> anyhow::Result<Status> {
    anyhow::bail!("`bak2rds inspect` is not built yet")
}

//! `bak2rds upload`.

use crate::cli::Status;
use crate::cli::args::UploadArgs;
use crate::cli::printer::Printer;

/// Runs `bak2rds upload`.
pub fn run(_args: UploadArgs, _printer: &Printer) -> anyhow::Result<Status> {
    anyhow::bail!("`bak2rds upload` is not built yet")
}

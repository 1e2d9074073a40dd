//! `bak2rds synth`.

use crate::cli::Status;
use crate::cli::args::SynthArgs;
use crate::cli::printer::Printer;

/// Runs `bak2rds synth`.
pub fn run(_args: SynthArgs, _printer: &Printer) -> anyhow::Result<Status> {
    anyhow::bail!("`bak2rds synth` is not built yet")
}

//! One file per subcommand. Each turns its arguments into a library call and prints the result.

mod batch;
mod bench;
mod demo;
mod doctor;
mod explain;
mod incremental;
mod inspect;
mod migrate;
mod serve;
mod synth;
mod tasks;
mod upload;
mod watch;

use super::Status;
use super::args::Command;
use super::printer::Printer;

/// Runs one parsed command.
pub fn dispatch(command: Command, printer: &Printer) -> anyhow::Result<Status> {
    match command {
        Command::Inspect(args) => inspect::run(args, printer),
        Command::Synth(args) => synth::run(args, printer),
        Command::Serve(args) => serve::run(args, printer),
        Command::Upload(args) => upload::run(args, printer),
        Command::Bench(args) => bench::run(args, printer),
        // One command, three modes: a batch plan, an incremental chain, or one full backup.
        Command::Migrate(args) if args.follow.enabled && (args.batch.is_some() || args.dry_run) => {
            anyhow::bail!(
                "--follow migrates a backup while SQL Server writes it (or, with --incremental, \
                 the log backups as they appear); it does not combine with --batch or --dry-run"
            )
        }
        Command::Migrate(args) if args.batch.is_some() => batch::run(*args, printer),
        Command::Migrate(args) if args.incremental => incremental::run(*args, printer),
        Command::Migrate(args) => migrate::run(*args, printer),
        Command::Demo(args) => demo::run(args, printer),
        Command::Watch(args) => watch::run(args, printer),
        Command::Tasks(args) => tasks::run(args, printer),
        Command::Cutover(args) => incremental::run_cutover(args, printer),
        Command::Explain(args) => explain::run(args, printer),
        Command::Doctor(args) => doctor::run(args, printer),
    }
}

//! The command-line edge: the only module that prints. Each subcommand lives in `cmd/` and only
//! wires settings → a library call → the [`printer::Printer`]. Errors gain context here (anyhow);
//! the library below returns typed errors.

pub mod args;
pub mod cmd;
pub mod printer;
pub mod resources;
pub mod settings;
pub mod transfer;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;

/// How a command ended, when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Done; warnings allowed. Exit code 0.
    Done,
    /// The backup, the pre-flight or the service refused, and the reason was printed. Exit code 2.
    Refused,
    /// The command has no answer, and said so (`explain` on a message it does not know).
    /// Exit code 1.
    NoAnswer,
    /// The command line was wrong; clap printed what and how to fix it. Exit code 1.
    Usage,
}

impl Status {
    /// The process exit code for this status.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Status::Done => ExitCode::SUCCESS,
            Status::Refused => ExitCode::from(2),
            Status::NoAnswer | Status::Usage => ExitCode::FAILURE,
        }
    }
}

/// Parses the process arguments and runs the chosen command.
pub fn run() -> anyhow::Result<Status> {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // clap's own exit code for a usage error is 2, which bak2rds reserves for
            // "refused" (README, exit codes): a usage error is an error, 1.
            error.print().context("write the usage message")?;
            return Ok(if error.use_stderr() {
                Status::Usage
            } else {
                Status::Done
            });
        }
    };
    init_tracing(cli.global.verbose);
    let printer = printer::Printer::new(&cli.global);
    cmd::dispatch(cli.command, &printer)
}

/// Logs go to stderr; `-v` or `RUST_LOG` turn them on (warnings only by default).
fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "bak2rds=info",
        _ => "bak2rds=debug",
    };
    let filter = EnvFilter::try_from_env(crate::env_vars::RUST_LOG)
        .unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

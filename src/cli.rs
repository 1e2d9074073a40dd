//! The command-line edge: the only module that prints. Each subcommand lives in `cmd/` and only
//! wires settings → a library call → the [`printer::Printer`]. Errors gain context here (anyhow);
//! the library below returns typed errors.

pub mod args;
pub mod cmd;
pub mod disk;
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
    let outcome = cmd::dispatch(cli.command, &printer);
    if let Err(error) = &outcome
        && printer.json()
        && !printer.wrote_json()
    {
        // A --json run answers on stdout whatever happens, as refusals already do (unless it
        // already answered, e.g. inspect's per-file errors); `main` still prints the error on
        // stderr. A closed stdout is not a second error.
        let _ = printer.json_document(&error_document(error));
    }
    outcome
}

/// The `--json` answer of a run that ended in an error.
fn error_document(error: &anyhow::Error) -> serde_json::Value {
    serde_json::json!({
        "error": error_text(error),
        "exit": error_exit_code(error),
        "fix": error_fix(error),
    })
}

/// 2 for an error that is a verdict on the backup (a damaged page found during the upload), as
/// for `inspect`'s refusals; 1 for every other error.
pub fn error_exit_code(error: &anyhow::Error) -> u8 {
    use crate::migrate::MigrateError;
    use crate::upload::error::UploadError;
    // `MigrateError::Upload` is transparent: its upload error is not a link of the chain.
    let damaged = error.chain().any(|cause| {
        let upload = cause.downcast_ref::<UploadError>().or_else(|| {
            match cause.downcast_ref::<MigrateError>() {
                Some(MigrateError::Upload(upload)) => Some(upload),
                _ => None,
            }
        });
        matches!(upload, Some(UploadError::DamagedPage { .. }))
    });
    if damaged { 2 } else { 1 }
}

/// An error and its causes on one line, each clause said once. Many errors quote their cause in
/// their own message (reqwest's, the OS's, our typed errors), and anyhow's `{:#}` adds the cause
/// again: the clauses (the parts between ": ") already said are dropped.
pub fn error_text(error: &anyhow::Error) -> String {
    let joined = error
        .chain()
        .map(|cause| cause.to_string())
        .collect::<Vec<_>>()
        .join(": ");
    let mut seen = std::collections::HashSet::new();
    joined
        .split(": ")
        .map(str::trim)
        .filter(|clause| !clause.is_empty() && seen.insert(*clause))
        .collect::<Vec<_>>()
        .join(": ")
}

/// What to do about an error whose own message has no advice: a certificate this machine does
/// not trust, a server that cannot be reached.
pub fn error_fix(error: &anyhow::Error) -> Option<&'static str> {
    let untrusted = error.chain().any(|cause| {
        let text = cause.to_string();
        text.contains("UnknownIssuer") || text.contains("unknown issuer")
    });
    if untrusted {
        return Some(
            "the server's certificate is signed by a CA this machine does not trust, as when a \
             company proxy inspects TLS: pass --ca-bundle FILE (or set BAK2RDS_CA_BUNDLE) with \
             that CA's PEM certificate, or add it to the system's trust store (SSL_CERT_FILE \
             and SSL_CERT_DIR are honoured)",
        );
    }
    error.chain().find_map(
        |cause| match cause.downcast_ref::<bak2rds_cloud::oss::OssError>() {
            Some(bak2rds_cloud::oss::OssError::Transport { .. }) => Some(
                "OSS could not be reached: check --oss-endpoint (or --region), the network and any \
                 proxy (HTTPS_PROXY), then rerun the same command: an upload resumes where it \
                 stopped",
            ),
            _ => None,
        },
    )
}

/// How log lines look: colours and timestamps only for a person at a terminal. A log
/// redirected to a file is plain text, and `NO_COLOR` (no-color.org) turns colours off anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LogStyle {
    ansi: bool,
    timestamps: bool,
}

impl LogStyle {
    fn of(stderr_is_terminal: bool, no_color: bool) -> Self {
        LogStyle {
            ansi: stderr_is_terminal && !no_color,
            timestamps: stderr_is_terminal,
        }
    }
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
    let style = LogStyle::of(
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        std::env::var_os(crate::env_vars::NO_COLOR).is_some_and(|v| !v.is_empty()),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(style.ansi);
    let _ = if style.timestamps {
        builder.try_init()
    } else {
        builder.without_time().try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_plain_unless_a_person_reads_them_at_a_terminal() {
        let terminal = LogStyle::of(true, false);
        assert!(terminal.ansi && terminal.timestamps);
        let no_color = LogStyle::of(true, true);
        assert!(!no_color.ansi && no_color.timestamps);
        let file = LogStyle::of(false, false);
        assert!(!file.ansi && !file.timestamps);
    }

    #[test]
    fn a_json_error_says_the_whole_chain_and_the_exit_code() {
        let error = anyhow::anyhow!("inner cause").context("uploading f.bak");
        let document = error_document(&error);
        assert_eq!(document["exit"], 1);
        assert_eq!(document["error"], "uploading f.bak: inner cause");
    }
}

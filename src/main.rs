//! The `bak2rds` binary: parse the command line, run it, map the outcome to an exit code.
//! Exit codes: 0 done (warnings allowed), 2 refused (with the reason and the fix; a damaged
//! page found during an upload too), 1 error.

#![deny(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let outcome = bak2rds::cli::run();
    match outcome {
        Ok(status) => status.exit_code(),
        Err(err) => {
            // A closed stdout (`bak2rds inspect --json ... | head`) is not a failure.
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", bak2rds::cli::error_text(&err));
            if let Some(fix) = bak2rds::cli::error_fix(&err) {
                eprintln!("  fix: {fix}");
            }
            ExitCode::from(bak2rds::cli::error_exit_code(&err))
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

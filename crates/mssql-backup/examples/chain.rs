//! Prints the restore order of a database's backups: which full, differential and log backups
//! restore it, in which order, and why any file cannot take part.
//!
//! ```sh
//! cargo run -p mssql-backup --example chain -- backups/SalesDb/ [more files or folders]
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mssql_backup::{build_chains, read_chain_files};

fn main() -> ExitCode {
    let paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if paths.is_empty() {
        eprintln!("usage: chain FILE_OR_FOLDER...");
        return ExitCode::from(2);
    }
    // Each file is read whole for brevity; bak2rds maps it instead.
    let (files, mut problems) = read_chain_files(&paths, |path: &Path| std::fs::read(path));
    let mut report = build_chains(files);
    problems.append(&mut report.problems);
    for chain in &report.chains {
        println!(
            "{} (restored up to LSN {}):",
            chain.database, chain.end.last_lsn
        );
        for step in chain.steps() {
            let kind = step.info.backup_type.map_or("unknown", |t| t.as_str());
            println!("  RESTORE {kind:<12} {}", step.path.display());
        }
    }
    for skipped in &report.skipped {
        println!("skipped {}: {}", skipped.path.display(), skipped.reason);
    }
    for problem in &problems {
        println!(
            "{:?}: {} ({})",
            problem.severity, problem.message, problem.fix
        );
    }
    if report.chains.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

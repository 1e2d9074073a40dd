//! `bak2rds inspect`: examine each file, print a compact RESTORE HEADERONLY + FILELISTONLY
//! summary with the verdict and every finding's fix, or `--json` (schema: docs/inspect.md).
//! Exit status: 0 all accepted (warnings allowed), 2 any refused, 1 any file unreadable.
//! With `--chain`: the files as restore chains (bak::chain); 0 clean, 2 any error-severity
//! problem, 1 any file unreadable.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

use crate::cli::Status;
use crate::cli::args::InspectArgs;
use crate::cli::printer::Printer;
use crate::source::SourceFile;
use mssql_backup::chain::{self, Chain, ChainFile, ChainPoint, ChainProblemKind, ChainReport};
use mssql_backup::{BackupInfo, Report, Rules, TargetVersion};

/// One element of the `--json` array.
#[derive(Debug, Serialize)]
struct FileReport<'a> {
    path: String,
    #[serde(flatten)]
    report: Option<&'a Report>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Runs `bak2rds inspect`.
pub fn run(args: InspectArgs, printer: &Printer) -> anyhow::Result<Status> {
    if let Some(database) = &args.chain {
        return run_chain(&args.files, database.as_deref(), printer);
    }
    let target_version = args
        .target_version
        .as_deref()
        .map(TargetVersion::parse)
        .transpose()
        .context("--target-version")?;
    let mut outcomes = Vec::new();
    for path in &args.files {
        let rules = Rules {
            target_version,
            database: args.database.clone(),
            verify_pages: args.verify_pages,
            file_name: path.file_name().map(|n| n.to_string_lossy().into_owned()),
        };
        outcomes.push((path, inspect_one(path, &rules)));
    }
    let failed = outcomes.iter().filter(|(_, o)| o.is_err()).count();
    let refused = outcomes
        .iter()
        .any(|(_, o)| o.as_ref().is_ok_and(|r| r.verdict.is_refusal()));
    if printer.json() {
        let items: Vec<FileReport<'_>> = outcomes
            .iter()
            .map(|(path, outcome)| FileReport {
                path: path.display().to_string(),
                report: outcome.as_ref().ok(),
                error: outcome.as_ref().err().map(|e| e.to_string()),
            })
            .collect();
        printer.json_document(&items)?;
    } else {
        for (index, (path, outcome)) in outcomes.iter().enumerate() {
            if index > 0 {
                printer.line("")?;
            }
            match outcome {
                Ok(report) => printer.line(render(path, report).trim_end())?,
                Err(error) => printer.line(format!("{}\n  error: {error}", path.display()))?,
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} files could not be read", outcomes.len());
    }
    Ok(if refused {
        Status::Refused
    } else {
        Status::Done
    })
}

fn inspect_one(path: &Path, rules: &Rules) -> anyhow::Result<Report> {
    let file = SourceFile::open(path)?;
    Ok(mssql_backup::examine(file.bytes(), rules))
}

/// The human summary of one file.
pub fn render(path: &Path, report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", path.display());
    let _ = writeln!(out, "  verdict   {}", report.verdict);
    if let Some(info) = &report.backup {
        render_backup(&mut out, info);
    }
    if let Some(pages) = &report.pages {
        let _ = writeln!(
            out,
            "  pages     {} checked, {} skipped, {} failed",
            pages.checked, pages.skipped, pages.failed
        );
    }
    for finding in &report.findings {
        let _ = writeln!(
            out,
            "  {:<9} [{}] {}",
            finding.severity.to_string(),
            finding.code,
            finding.message
        );
        if !finding.fix.is_empty() {
            let _ = writeln!(out, "            fix: {}", finding.fix);
        }
    }
    out
}

fn render_backup(out: &mut String, b: &BackupInfo) {
    let kind = b.backup_type.map(|t| t.as_str()).unwrap_or("unknown type");
    let release = b.database_release.unwrap_or("unknown release");
    let lsn =
        |l: Option<mssql_backup::Lsn>| l.map(|l| l.to_string()).unwrap_or_else(|| "-".to_owned());
    let _ = writeln!(
        out,
        "  backup    {kind} of \"{}\" on \"{}\", {} container{}",
        b.database_name,
        b.server_name,
        b.container.as_str(),
        if b.compressed { " (compressed)" } else { "" }
    );
    let _ = writeln!(
        out,
        "  version   SQL Server {release}: database version {}, written by {}, compatibility {}",
        b.database_version, b.software_version, b.compatibility_level
    );
    let _ = writeln!(
        out,
        "  media     family {} of {}, {} backup set(s), {}-byte blocks, checksums {}",
        b.family_sequence,
        b.family_count,
        b.backup_sets,
        b.block_size,
        if b.has_checksums { "yes" } else { "no" }
    );
    let size = match b.compressed_backup_size {
        Some(c) if c != b.backup_size => format!("{} bytes ({c} compressed)", b.backup_size),
        _ => format!("{} bytes", b.backup_size),
    };
    let dates = match (b.backup_start_date, b.backup_finish_date) {
        (Some(s), Some(f)) => format!(", {s} .. {f}"),
        (Some(s), None) => format!(", started {s}"),
        _ => String::new(),
    };
    let _ = writeln!(out, "  size      {size}{dates}");
    let _ = writeln!(
        out,
        "  lsn       first {} last {} checkpoint {}",
        lsn(b.first_lsn),
        lsn(b.last_lsn),
        lsn(b.checkpoint_lsn)
    );
    let _ = writeln!(
        out,
        "            database backup {} differential base {}",
        lsn(b.database_backup_lsn),
        lsn(b.differential_base_lsn)
    );
    for file in &b.files {
        let _ = writeln!(
            out,
            "  file      {} {:<20} {:>14} bytes  {}",
            file.file_type.letter(),
            file.logical_name,
            file.size,
            file.physical_name
        );
    }
}

/// `inspect --chain`: read every header, build the chains, print them.
fn run_chain(
    paths: &[std::path::PathBuf],
    database: Option<&str>,
    printer: &Printer,
) -> anyhow::Result<Status> {
    let (files, read_problems) =
        chain::read_chain_files(paths, |path: &std::path::Path| SourceFile::open(path));
    let mut report = chain::build_chains_for(files, database);
    // Problems reading files come first: they explain what is missing from the chains.
    report.problems.splice(0..0, read_problems);
    if printer.json() {
        printer.json_document(&ChainDocument::of(&report))?;
    } else {
        printer.line(render_chains(&report).trim_end())?;
    }
    let unreadable = report
        .problems
        .iter()
        .filter(|p| p.kind == ChainProblemKind::Unreadable)
        .count();
    if unreadable > 0 {
        anyhow::bail!("{unreadable} paths could not be read");
    }
    Ok(if report.is_clean() {
        Status::Done
    } else {
        Status::Refused
    })
}

/// The `--chain --json` document (schema: docs/inspect.md): steps carry the header fields a
/// chain is judged by, not the whole header.
#[derive(Debug, Serialize)]
struct ChainDocument<'a> {
    clean: bool,
    chains: Vec<ChainView<'a>>,
    skipped: &'a [chain::Skipped],
    problems: &'a [chain::ChainProblem],
}

#[derive(Debug, Serialize)]
struct ChainView<'a> {
    database: &'a str,
    database_guid: Option<mssql_backup::Guid>,
    steps: Vec<StepView>,
    end: &'a ChainPoint,
}

#[derive(Debug, Serialize)]
struct StepView {
    step: usize,
    #[serde(rename = "type")]
    kind: &'static str,
    path: String,
    size: u64,
    first_lsn: Option<mssql_backup::Lsn>,
    last_lsn: Option<mssql_backup::Lsn>,
    checkpoint_lsn: Option<mssql_backup::Lsn>,
    differential_base_lsn: Option<mssql_backup::Lsn>,
    backup_set_guid: Option<mssql_backup::Guid>,
    backup_finish_date: Option<mssql_backup::MtfDate>,
}

impl<'a> ChainDocument<'a> {
    fn of(report: &'a ChainReport) -> Self {
        ChainDocument {
            clean: report.is_clean(),
            chains: report.chains.iter().map(ChainView::of).collect(),
            skipped: &report.skipped,
            problems: &report.problems,
        }
    }
}

impl<'a> ChainView<'a> {
    fn of(chain: &'a Chain) -> Self {
        ChainView {
            database: &chain.database,
            database_guid: chain.full.info.database_guid,
            steps: chain
                .steps()
                .into_iter()
                .enumerate()
                .map(|(index, file)| StepView::of(index + 1, file))
                .collect(),
            end: &chain.end,
        }
    }
}

impl StepView {
    fn of(step: usize, file: &ChainFile) -> Self {
        let info = &file.info;
        StepView {
            step,
            kind: type_name(info),
            path: file.path.display().to_string(),
            size: file.size,
            first_lsn: info.first_lsn,
            last_lsn: info.last_lsn,
            checkpoint_lsn: info.checkpoint_lsn,
            differential_base_lsn: info.differential_base_lsn,
            backup_set_guid: info.backup_set_guid,
            backup_finish_date: info.backup_finish_date,
        }
    }
}

fn type_name(info: &BackupInfo) -> &'static str {
    info.backup_type.map_or("unknown", |t| t.as_str())
}

/// The human form: per database the ordered chain, then skipped files, then problems.
pub fn render_chains(report: &ChainReport) -> String {
    let mut out = String::new();
    let lsn =
        |l: Option<mssql_backup::Lsn>| l.map(|l| l.to_string()).unwrap_or_else(|| "-".to_owned());
    for chain in &report.chains {
        let guid = chain
            .full
            .info
            .database_guid
            .map(|g| format!(" (database GUID {g})"))
            .unwrap_or_default();
        let _ = writeln!(out, "database \"{}\"{guid}", chain.database);
        let _ = writeln!(
            out,
            "  {:<4} {:<12} {:<17}  {:<17}  file",
            "step", "type", "first LSN", "last LSN"
        );
        for (index, file) in chain.steps().into_iter().enumerate() {
            let _ = writeln!(
                out,
                "  {:<4} {:<12} {:<17}  {:<17}  {}",
                index + 1,
                type_name(&file.info),
                lsn(file.info.first_lsn),
                lsn(file.info.last_lsn),
                file.path.display()
            );
        }
        let count = chain.steps().len();
        let _ = writeln!(
            out,
            "  restores to LSN {} in {count} step{}\n",
            chain.end.last_lsn,
            if count == 1 { "" } else { "s" }
        );
    }
    if !report.skipped.is_empty() {
        let _ = writeln!(out, "skipped");
        for skipped in &report.skipped {
            let _ = writeln!(
                out,
                "  {}\n            {}",
                skipped.path.display(),
                skipped.reason
            );
        }
        let _ = writeln!(out);
    }
    if !report.problems.is_empty() {
        let _ = writeln!(out, "problems");
        for problem in &report.problems {
            let _ = writeln!(
                out,
                "  {:<9} [{}] {}\n            fix: {}",
                problem.severity.to_string(),
                problem.kind,
                problem.message,
                problem.fix
            );
        }
        let _ = writeln!(out);
    }
    let verdict = if report.is_clean() {
        "clean: restore the steps in order"
    } else {
        "not restorable as given: see the problems"
    };
    let _ = writeln!(out, "chain     {verdict}");
    out
}

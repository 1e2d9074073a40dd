//! From the paths a user gives to headers: folders are expanded (one level: backup jobs write one
//! folder per database and type), each file is opened by the caller's function (a memory
//! mapping in bak2rds, `std::fs::read` in the simplest program) and its header examined. The
//! one place in this crate that touches the file system, and only to list folders.

use std::path::{Path, PathBuf};

use super::super::sniff::{Sniffed, sniff};
use super::super::{Rules, Verdict, examine};
use super::ChainFile;
use super::problem::{ChainProblem, ChainProblemKind, display};

/// Extensions SQL Server backup jobs use; files with these are always examined (and reported
/// when they are not backups). Others in a folder are examined only when their first bytes are
/// a backup's.
const BACKUP_EXTENSIONS: &[&str] = &["bak", "diff", "dif", "trn", "log"];

/// Expands folders (non-recursive, *.bak/*.diff/*.trn/*.log and anything else that sniffs as a
/// backup), opens each file with `open` and examines its header. Files that are not usable
/// backups, or that `open` fails on, become problems. Files come back in path order within
/// each argument.
///
/// `open` gives a file's whole content; [`ChainFile::size`] is its length.
///
/// ```no_run
/// let (files, problems) =
///     mssql_backup::read_chain_files(&["backups/SalesDb".into()], |path: &std::path::Path| {
///         std::fs::read(path)
///     });
/// let report = mssql_backup::build_chains(files);
/// println!("{} chain(s), {} unreadable file(s)", report.chains.len(), problems.len());
/// ```
pub fn read_chain_files<Content, OpenError>(
    paths: &[PathBuf],
    mut open: impl FnMut(&Path) -> Result<Content, OpenError>,
) -> (Vec<ChainFile>, Vec<ChainProblem>)
where
    Content: AsRef<[u8]>,
    OpenError: std::fmt::Display,
{
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        match expand(path) {
            Ok(entries) => {
                for entry in entries {
                    match read_one(&entry, &mut open) {
                        Ok(Some(file)) => files.push(file),
                        Ok(None) => {}
                        Err(problem) => problems.push(problem),
                    }
                }
            }
            Err(problem) => problems.push(problem),
        }
    }
    (files, problems)
}

/// A file stands for itself; a folder for its files, sorted. Entries of a folder that are not
/// backups by extension are marked so that `read_one` drops them silently unless they sniff as
/// backups.
fn expand(path: &Path) -> Result<Vec<Entry>, ChainProblem> {
    if !path.is_dir() {
        return Ok(vec![Entry {
            path: path.to_path_buf(),
            named_as_backup: true,
        }]);
    }
    let listing = std::fs::read_dir(path).map_err(|e| unreadable(path, &e))?;
    let mut entries = Vec::new();
    for item in listing {
        let item = item.map_err(|e| unreadable(path, &e))?;
        let child = item.path();
        if child.is_file() {
            entries.push(Entry {
                named_as_backup: has_backup_extension(&child),
                path: child,
            });
        }
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

struct Entry {
    path: PathBuf,
    named_as_backup: bool,
}

fn has_backup_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| BACKUP_EXTENSIONS.iter().any(|b| e.eq_ignore_ascii_case(b)))
}

/// The file's header, `None` for a folder entry that is not a backup at all, or the problem.
fn read_one<Content: AsRef<[u8]>, OpenError: std::fmt::Display>(
    entry: &Entry,
    open: &mut impl FnMut(&Path) -> Result<Content, OpenError>,
) -> Result<Option<ChainFile>, ChainProblem> {
    let path = &entry.path;
    let content = open(path).map_err(|e| unreadable(path, &e))?;
    let bytes = content.as_ref();
    if !entry.named_as_backup && matches!(sniff(bytes), Sniffed::Other(_)) {
        return Ok(None);
    }
    let report = examine(bytes, &Rules::default());
    let refusal = report
        .findings
        .iter()
        .find(|f| f.class == Some(report.verdict) && report.verdict.is_refusal());
    let reason = refusal.map(|f| format!("{}: {}", display(path), f.message));
    let fix = refusal.map(|f| f.fix.as_str()).unwrap_or_default();
    let problem = |kind, fallback: &str| {
        ChainProblem::error(
            kind,
            vec![path.clone()],
            reason
                .clone()
                .unwrap_or_else(|| format!("{}: {fallback}", display(path))),
            fix,
        )
    };
    match (report.verdict, report.backup) {
        (Verdict::RejectNotBackup, _) => Err(problem(
            ChainProblemKind::NotBackup,
            "not a SQL Server native backup",
        )),
        (Verdict::RejectCorrupt, _) | (_, None) => Err(problem(
            ChainProblemKind::Corrupt,
            "the backup header cannot be read",
        )),
        (_, Some(info)) => Ok(Some(ChainFile {
            path: path.clone(),
            size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
            info,
        })),
    }
}

fn unreadable(path: &Path, error: &dyn std::fmt::Display) -> ChainProblem {
    ChainProblem::error(
        ChainProblemKind::Unreadable,
        vec![path.to_path_buf()],
        format!("cannot read {}: {error}", display(path)),
        "check the path and the file permissions",
    )
}

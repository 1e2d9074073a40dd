//! From a heap of backup files to restore chains: screen each file, drop duplicates, group by
//! database (name + database GUID: two databases with one name are two databases), then per
//! database try every full, take the latest differential on it, and follow the logs. Every
//! step asks [`ChainPoint::apply`]; this module only chooses among the answers.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use super::super::{BackupType, Guid, Lsn};
use super::point::ChainPoint;
use super::problem::{ChainProblem, ChainProblemKind, SkipReason, Skipped, display, full, list};
use super::{Chain, ChainFile, ChainReport};

/// The chains of every database among `files`. Problems met while reading the files
/// ([`super::read_chain_files`]) are not in the report: callers add them before judging it.
pub fn build_chains(files: Vec<ChainFile>) -> ChainReport {
    build_chains_for(files, None)
}

/// The chains among `files`; with `database`, only that database's (by DatabaseName), the
/// others reported as `other_database` warnings.
pub fn build_chains_for(files: Vec<ChainFile>, database: Option<&str>) -> ChainReport {
    let mut report = ChainReport {
        chains: Vec::new(),
        problems: Vec::new(),
        skipped: Vec::new(),
    };
    let mut striped = Vec::new();
    let usable = files
        .into_iter()
        .filter_map(|file| match screen(&file) {
            Ok(warning) => {
                report.problems.extend(warning);
                Some(file)
            }
            Err(problem) if problem.kind == ChainProblemKind::Striped => {
                striped.push((file, problem));
                None
            }
            Err(problem) => {
                report.problems.push(problem);
                None
            }
        })
        .collect();
    report.problems.extend(media_sets(striped));
    let unique = drop_duplicates(usable, &mut report.problems);
    let wanted = keep_database(unique, database, &mut report.problems);
    let groups = group_by_database(wanted);
    let named_with_full: Vec<String> = groups
        .iter()
        .filter(|(_, files)| files.iter().any(|f| is(f, BackupType::Full)))
        .map(|((name, _), _)| name.clone())
        .collect();
    // When every file was left out for a reason already given, "no usable backup" would only
    // read as if a file were missing.
    let explained = !report.problems.is_empty()
        && report
            .problems
            .iter()
            .all(|p| p.severity == super::Severity::Error);
    if groups.is_empty() && !explained {
        report.problems.push(nothing_usable(database));
    }
    for ((name, _), files) in groups {
        let has_sibling_full = named_with_full.contains(&name);
        build_database(files, has_sibling_full, &mut report);
    }
    report
}

fn is(file: &ChainFile, kind: BackupType) -> bool {
    file.info.backup_type == Some(kind)
}

/// Whether one file can take part at all: `Err` leaves it out, `Ok(Some)` keeps it with a
/// warning.
fn screen(file: &ChainFile) -> Result<Option<ChainProblem>, ChainProblem> {
    let info = &file.info;
    let path = || vec![file.path.clone()];
    let name = display(&file.path);
    if info.password_protected {
        return Err(ChainProblem::error(
            ChainProblemKind::PasswordProtected,
            path(),
            format!(
                "{name} is protected by MEDIAPASSWORD or PASSWORD; RDS cannot supply a password"
            ),
            "back up again without MEDIAPASSWORD/PASSWORD",
        ));
    }
    if info.family_count > 1 {
        return Err(ChainProblem::error(
            ChainProblemKind::Striped,
            path(),
            format!(
                "{name} is family {} of {} of a striped backup; RDS restores each backup from one file",
                info.family_sequence, info.family_count
            ),
            "back up again to a single file (BACKUP ... TO DISK = one file)",
        ));
    }
    let needed: &[(&str, Option<Lsn>)] = match info.backup_type {
        Some(BackupType::Full) => &[("CheckpointLSN", info.checkpoint_lsn)],
        Some(BackupType::Differential) => &[("DifferentialBaseLSN", info.differential_base_lsn)],
        Some(BackupType::Log) => &[("FirstLSN", info.first_lsn)],
        other => {
            let kind = other.map_or("unknown", BackupType::as_str);
            return Err(ChainProblem::error(
                ChainProblemKind::UnsupportedType,
                path(),
                format!(
                    "{name} is a {kind} backup; RDS restores full, differential and log backups"
                ),
                "take a full database backup (and differential or log backups after it)",
            ));
        }
    };
    let last = [("LastLSN", info.last_lsn)];
    let lacking = needed.iter().chain(&last).find(|(_, lsn)| lsn.is_none());
    if let Some((which, _)) = lacking {
        return Err(ChainProblem::missing_lsn(&name, path(), which));
    }
    Ok((info.backup_sets > 1).then(|| {
        ChainProblem::warning(
            ChainProblemKind::MultipleSets,
            path(),
            format!(
                "{name} holds {} backup sets (written WITH NOINIT); the chain uses the first, and RDS restores only the first",
                info.backup_sets
            ),
            "if a later set is needed, back up again WITH INIT to a new file",
        )
    }))
}

/// Keeps the first file of each BackupSetGUID; later copies become `duplicate` warnings.
fn drop_duplicates(files: Vec<ChainFile>, problems: &mut Vec<ChainProblem>) -> Vec<ChainFile> {
    let mut first_of: HashMap<_, PathBuf> = HashMap::new();
    let mut kept = Vec::new();
    for file in files {
        let Some(guid) = file.info.backup_set_guid else {
            kept.push(file);
            continue;
        };
        if let Some(original) = first_of.get(&guid) {
            problems.push(ChainProblem::warning(
                ChainProblemKind::Duplicate,
                vec![original.clone(), file.path.clone()],
                format!(
                    "{} and {} are the same backup set ({guid}); bak2rds uses the first",
                    full(original),
                    full(&file.path)
                ),
                "remove the extra copy",
            ));
            continue;
        }
        first_of.insert(guid, file.path.clone());
        kept.push(file);
    }
    kept
}

/// With a database asked for, the files of others are set aside, one warning per database.
fn keep_database(
    files: Vec<ChainFile>,
    database: Option<&str>,
    problems: &mut Vec<ChainProblem>,
) -> Vec<ChainFile> {
    let Some(wanted) = database else {
        return files;
    };
    let (kept, others): (Vec<_>, Vec<_>) = files
        .into_iter()
        .partition(|f| f.info.database_name == wanted);
    let mut by_name: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for file in others {
        // A later set of the wanted database does not help: RDS restores position 1 only.
        if let Some(position) = file.info.set_databases.iter().position(|n| n == wanted) {
            problems.push(ChainProblem::warning(
                ChainProblemKind::OtherDatabase,
                vec![file.path.clone()],
                format!(
                    "left out {}: it holds a backup of \"{wanted}\" in set {}, but its first \
                     set, the one RDS restores, is of \"{}\"",
                    display(&file.path),
                    position + 1,
                    file.info.database_name
                ),
                "back up that database WITH INIT to a file of its own",
            ));
            continue;
        }
        by_name
            .entry(file.info.database_name)
            .or_default()
            .push(file.path);
    }
    for (name, paths) in by_name {
        problems.push(ChainProblem::warning(
            ChainProblemKind::OtherDatabase,
            paths.clone(),
            format!(
                "left out {}: backups of database \"{name}\", not \"{wanted}\"",
                list(&paths)
            ),
            "give only backups of the database being restored",
        ));
    }
    kept
}

type DatabaseKey = (String, String);

fn group_by_database(files: Vec<ChainFile>) -> BTreeMap<DatabaseKey, Vec<ChainFile>> {
    let mut groups: BTreeMap<DatabaseKey, Vec<ChainFile>> = BTreeMap::new();
    for file in files {
        let guid = file
            .info
            .database_guid
            .map(|g| g.to_string())
            .unwrap_or_default();
        groups
            .entry((file.info.database_name.clone(), guid))
            .or_default()
            .push(file);
    }
    groups
}

/// Striped files, said per media set: every family of one backup present is one problem
/// ("a complete media set of N families"), since the files are not damaged or missing, only
/// more than RDS takes; an incomplete set keeps a problem per file.
fn media_sets(striped: Vec<(ChainFile, ChainProblem)>) -> Vec<ChainProblem> {
    // In the order the files came, one entry per backup (set GUID and family count).
    type Members = Vec<(ChainFile, ChainProblem)>;
    let mut sets: Vec<((Option<Guid>, u16), Members)> = Vec::new();
    for (file, problem) in striped {
        let key = (file.info.backup_set_guid, file.info.family_count);
        match sets.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push((file, problem)),
            None => sets.push((key, vec![(file, problem)])),
        }
    }
    let mut problems = Vec::new();
    for ((guid, count), members) in sets {
        let families: std::collections::BTreeSet<u16> = members
            .iter()
            .map(|(f, _)| f.info.family_sequence)
            .collect();
        let complete = guid.is_some() && families.len() == usize::from(count);
        if !complete {
            problems.extend(members.into_iter().map(|(_, problem)| problem));
            continue;
        }
        let paths: Vec<PathBuf> = members.into_iter().map(|(f, _)| f.path).collect();
        let names: Vec<String> = paths.iter().map(|p| display(p)).collect();
        problems.push(ChainProblem::error(
            ChainProblemKind::Striped,
            paths,
            format!(
                "{} are a complete media set of {count} families (one backup striped over \
                 {count} files): RDS restores only single-file backups",
                names.join(", ")
            ),
            "back up again to one file (BACKUP DATABASE ... TO DISK = one file)",
        ));
    }
    problems
}

fn nothing_usable(database: Option<&str>) -> ChainProblem {
    let message = match database {
        Some(name) => format!("no usable backup of database \"{name}\" among the files given"),
        None => "no usable backup among the files given".to_owned(),
    };
    ChainProblem::error(
        ChainProblemKind::NoFull,
        Vec::new(),
        message,
        "give the folder or files holding the full backup and the differential and log backups taken after it",
    )
}

/// One database's files: the best chain, or why there is none.
fn build_database(files: Vec<ChainFile>, has_sibling_full: bool, report: &mut ChainReport) {
    let (fulls, rest): (Vec<_>, Vec<_>) = files.into_iter().partition(|f| is(f, BackupType::Full));
    let Some(first) = rest.first().or(fulls.first()) else {
        return;
    };
    let name = first.info.database_name.clone();
    if fulls.is_empty() {
        let paths: Vec<PathBuf> = rest.iter().map(|f| f.path.clone()).collect();
        report.problems.push(if has_sibling_full {
            ChainProblem::other_fork(paths, &name)
        } else {
            no_full(paths, &name)
        });
        return;
    }
    let (diffs, logs): (Vec<_>, Vec<_>) = rest
        .into_iter()
        .partition(|f| is(f, BackupType::Differential));
    let mut attempts: Vec<Attempt> = fulls
        .iter()
        .filter_map(|full| match ChainPoint::after_full(&full.info) {
            Ok(point) => Some(attempt(full, point, &fulls, &diffs, &logs)),
            Err(problem) => {
                report.problems.push(problem);
                None
            }
        })
        .collect();
    let Some(best) = best_attempt(&attempts) else {
        return;
    };
    let chosen = attempts.swap_remove(best);
    for other in &attempts {
        report.skipped.push(other_full(other, &chosen));
    }
    report.problems.extend(chosen.problems);
    report.skipped.extend(chosen.skipped);
    report.chains.push(chosen.chain);
}

fn no_full(paths: Vec<PathBuf>, name: &str) -> ChainProblem {
    ChainProblem::error(
        ChainProblemKind::NoFull,
        paths.clone(),
        format!(
            "no full backup of database \"{name}\" among the files: {} cannot be restored without one",
            list(&paths)
        ),
        "add the full backup they follow (msdb backupset: the last full before them), or take a new full backup",
    )
}

/// The chain one full leads to, with what it left out and what went wrong.
struct Attempt {
    chain: Chain,
    problems: Vec<ChainProblem>,
    skipped: Vec<Skipped>,
}

impl Attempt {
    fn is_clean(&self) -> bool {
        self.problems
            .iter()
            .all(|p| p.severity != super::super::Severity::Error)
    }
}

/// Clean chains first, then the one reaching furthest, then the latest full.
fn best_attempt(attempts: &[Attempt]) -> Option<usize> {
    (0..attempts.len()).max_by_key(|&i| {
        attempts.get(i).map(|a| {
            (
                a.is_clean(),
                a.chain.end.last_lsn,
                a.chain.end.full_checkpoint_lsn,
            )
        })
    })
}

fn other_full(other: &Attempt, chosen: &Attempt) -> Skipped {
    let from = display(&chosen.chain.full.path);
    let reach = chosen.chain.end.last_lsn;
    let (theirs, ours) = (
        other.chain.end.full_checkpoint_lsn,
        chosen.chain.end.full_checkpoint_lsn,
    );
    let reason = if theirs == ours {
        format!(
            "another full backup with the same checkpoint LSN {ours}: the chain starts from {from}"
        )
    } else if theirs < ours {
        format!(
            "older full backup: the chain starts from the later full {from} (reaches LSN {reach})"
        )
    } else if let Some(problem) = other.problems.first() {
        format!(
            "the chain from this later full has a problem ({}), while the chain from {from} reaches LSN {reach}",
            problem.message
        )
    } else {
        format!(
            "the chain from this later full ends at LSN {}, while the chain from {from} reaches LSN {reach}",
            other.chain.end.last_lsn
        )
    };
    Skipped::new(&other.chain.full.path, SkipReason::OtherFull, reason)
}

fn attempt(
    full: &ChainFile,
    start: ChainPoint,
    fulls: &[ChainFile],
    diffs: &[ChainFile],
    logs: &[ChainFile],
) -> Attempt {
    let mut problems = Vec::new();
    let mut skipped = Vec::new();
    let (differential, point) =
        pick_differential(full, &start, fulls, diffs, &mut problems, &mut skipped);
    let after = differential.as_ref().map_or(full, |d| *d);
    let (logs, end) = follow_logs(after, point, logs, &mut problems, &mut skipped);
    Attempt {
        chain: Chain {
            database: full.info.database_name.clone(),
            full: full.clone(),
            differential: differential.cloned(),
            logs: logs.into_iter().cloned().collect(),
            end,
        },
        problems,
        skipped,
    }
}

/// The latest differential that applies on `full`; the others skipped or reported.
fn pick_differential<'a>(
    full: &ChainFile,
    start: &ChainPoint,
    fulls: &[ChainFile],
    diffs: &'a [ChainFile],
    problems: &mut Vec<ChainProblem>,
    skipped: &mut Vec<Skipped>,
) -> (Option<&'a ChainFile>, ChainPoint) {
    let mut usable: Vec<(&ChainFile, ChainPoint)> = Vec::new();
    for diff in diffs {
        match start.apply(&diff.info, &diff.path) {
            Ok(point) => usable.push((diff, point)),
            Err(problem) if problem.kind == ChainProblemKind::WrongBase => {
                match base_full_of(diff, fulls) {
                    Some(base) => skipped.push(Skipped::new(
                        &diff.path,
                        SkipReason::DifferentialOfOtherFull,
                        format!(
                            "differential of the full {}, not of {} the chain starts from",
                            display(&base.path),
                            display(&full.path)
                        ),
                    )),
                    None => problems.push(missing_base(diff)),
                }
            }
            Err(problem) if problem.kind == ChainProblemKind::AlreadyCovered => skipped.push(
                Skipped::new(&diff.path, SkipReason::AlreadyCovered, problem.message),
            ),
            Err(problem) => problems.push(problem),
        }
    }
    let latest = usable
        .iter()
        .enumerate()
        .max_by_key(|(_, (_, point))| point.last_lsn)
        .map(|(i, _)| i);
    let Some(latest) = latest else {
        return (None, start.clone());
    };
    let (chosen, point) = usable.swap_remove(latest);
    for (diff, _) in usable {
        skipped.push(Skipped::new(
            &diff.path,
            SkipReason::SupersededDifferential,
            format!(
                "superseded by the later differential {} (ends at LSN {})",
                display(&chosen.path),
                point.last_lsn
            ),
        ));
    }
    (Some(chosen), point)
}

fn base_full_of<'a>(diff: &ChainFile, fulls: &'a [ChainFile]) -> Option<&'a ChainFile> {
    fulls.iter().find(|full| {
        full.info.checkpoint_lsn == diff.info.differential_base_lsn
            && match (full.info.backup_set_guid, diff.info.differential_base_guid) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    })
}

fn missing_base(diff: &ChainFile) -> ChainProblem {
    let base = diff
        .info
        .differential_base_lsn
        .map(|l| l.to_string())
        .unwrap_or_default();
    let guid = diff
        .info
        .differential_base_guid
        .map(|g| format!(", backup set {g}"))
        .unwrap_or_default();
    ChainProblem::error(
        ChainProblemKind::MissingBaseFull,
        vec![diff.path.clone()],
        format!(
            "{} is a differential of a full backup that is not among the files (checkpoint LSN {base}{guid})",
            display(&diff.path)
        ),
        "add that full backup (msdb backupset: the full whose checkpoint_lsn is the differential's differential_base_lsn), or leave the differential out",
    )
}

/// Follows the logs from `point` (reached with `after`): each round, every log not yet placed
/// is asked whether it applies now; covered ones are skipped, and of the ones that apply, the
/// one that starts exactly at the point (then the one reaching furthest) is taken; any other
/// that applies overlaps it.
fn follow_logs<'a>(
    after: &ChainFile,
    mut point: ChainPoint,
    logs: &'a [ChainFile],
    problems: &mut Vec<ChainProblem>,
    skipped: &mut Vec<Skipped>,
) -> (Vec<&'a ChainFile>, ChainPoint) {
    let mut remaining: Vec<&ChainFile> = logs.iter().collect();
    remaining.sort_by_key(|f| (f.info.first_lsn, f.info.last_lsn, f.path.clone()));
    let mut used: Vec<&ChainFile> = Vec::new();
    let mut last_path = after.path.clone();
    loop {
        let mut applicable: Vec<(&ChainFile, ChainPoint)> = Vec::new();
        let mut later: Vec<&ChainFile> = Vec::new();
        for log in remaining {
            match point.apply(&log.info, &log.path) {
                Ok(next) => applicable.push((log, next)),
                Err(p) if p.kind == ChainProblemKind::AlreadyCovered => {
                    skipped.push(covered(log, &point, &last_path))
                }
                Err(p) if p.kind == ChainProblemKind::Gap => later.push(log),
                Err(p) => problems.push(p),
            }
        }
        let Some(index) = (0..applicable.len()).max_by_key(|&i| {
            applicable
                .get(i)
                .map(|(log, next)| (log.info.first_lsn == Some(point.last_lsn), next.last_lsn))
        }) else {
            if let Some(next) = later.first() {
                problems.push(gap_after(&last_path, &point, next));
                let reason = format!(
                    "cannot be restored until the log backups from LSN {} are found (see the gap problem)",
                    point.last_lsn
                );
                skipped.extend(
                    later
                        .iter()
                        .map(|log| Skipped::new(&log.path, SkipReason::AfterGap, reason.clone())),
                );
            }
            return (used, point);
        };
        let (chosen, next) = applicable.swap_remove(index);
        for (other, _) in &applicable {
            problems.push(overlap(chosen, other));
        }
        used.push(chosen);
        last_path = chosen.path.clone();
        point = next;
        remaining = later;
    }
}

fn covered(log: &ChainFile, point: &ChainPoint, reached_by: &std::path::Path) -> Skipped {
    let last = log.info.last_lsn.unwrap_or_default();
    let reason = if log.info.first_lsn == log.info.last_lsn {
        format!("empty log backup (FirstLSN = LastLSN = {last}): nothing to restore")
    } else {
        format!(
            "already covered: ends at LSN {last}, at or before LSN {} reached with {}",
            point.last_lsn,
            display(reached_by)
        )
    };
    Skipped::new(&log.path, SkipReason::AlreadyCovered, reason)
}

fn gap_after(before: &std::path::Path, point: &ChainPoint, next: &ChainFile) -> ChainProblem {
    let to = next.info.first_lsn.unwrap_or_default();
    let mut problem = ChainProblem::gap(point.last_lsn, &next.path, to);
    problem.files.insert(0, before.to_path_buf());
    problem.message = format!(
        "log backups between LSN {} and {to} are missing: the chain reaches LSN {} with {}, and the next log backup, {}, starts at LSN {to}",
        point.last_lsn,
        point.last_lsn,
        display(before),
        display(&next.path)
    );
    problem
}

fn overlap(used: &ChainFile, other: &ChainFile) -> ChainProblem {
    let lsn = |f: &ChainFile, first: bool| {
        if first {
            f.info.first_lsn
        } else {
            f.info.last_lsn
        }
        .unwrap_or_default()
    };
    let from = lsn(used, true).max(lsn(other, true));
    let to = lsn(used, false).min(lsn(other, false));
    ChainProblem::overlap(&used.path, &other.path, from, to)
}

#[cfg(test)]
mod tests {
    use super::super::point::tests::{diff_of, guid, info, lsn};
    use super::*;
    use crate::BackupInfo;

    fn file(name: &str, info: BackupInfo) -> ChainFile {
        ChainFile {
            path: PathBuf::from(name),
            size: 1,
            info,
        }
    }

    fn log(name: &str, first: u32, last: u32) -> ChainFile {
        file(name, info(BackupType::Log, first, last))
    }

    fn steps(report: &ChainReport) -> Vec<Vec<String>> {
        report
            .chains
            .iter()
            .map(|c| c.steps().iter().map(|f| display(&f.path)).collect())
            .collect()
    }

    fn kinds(report: &ChainReport) -> Vec<ChainProblemKind> {
        report.problems.iter().map(|p| p.kind).collect()
    }

    fn skip_of(report: &ChainReport, name: &str) -> Option<SkipReason> {
        report
            .skipped
            .iter()
            .find(|s| s.path == std::path::Path::new(name))
            .map(|s| s.why)
    }

    /// Full 1 (100..110), diff a/b on it, full 2 (200..210), diff c on it, logs 100→250
    /// continuous with an empty one: the chain is full 2, diff c, then the logs from 230.
    fn history() -> Vec<ChainFile> {
        let full1 = info(BackupType::Full, 100, 110);
        let full2 = BackupInfo {
            database_backup_lsn: Some(lsn(100)),
            ..info(BackupType::Full, 200, 210)
        };
        vec![
            file("l4.trn", info(BackupType::Log, 190, 230)),
            file("full1.bak", full1.clone()),
            file("da.bak", diff_of(&full1, 120, 130)),
            file("db.bak", diff_of(&full1, 140, 150)),
            file("full2.bak", full2.clone()),
            file("dc.bak", diff_of(&full2, 215, 220)),
            log("l1.trn", 100, 150),
            log("l2.trn", 150, 150),
            log("l3.trn", 150, 190),
            log("l5.trn", 230, 240),
            log("l6.trn", 240, 250),
        ]
    }

    #[test]
    fn orders_latest_full_latest_differential_then_logs() {
        let report = build_chains(history());
        assert!(report.is_clean(), "{:?}", report.problems);
        assert_eq!(
            steps(&report),
            [["full2.bak", "dc.bak", "l4.trn", "l5.trn", "l6.trn"]]
        );
        let chain = &report.chains[0];
        assert_eq!(chain.end.last_lsn, lsn(250));
        assert_eq!(
            (chain.end.logs_applied, chain.end.differential_applied),
            (3, true)
        );
        assert_eq!(skip_of(&report, "full1.bak"), Some(SkipReason::OtherFull));
        assert_eq!(
            skip_of(&report, "da.bak"),
            Some(SkipReason::DifferentialOfOtherFull)
        );
        for covered in ["l1.trn", "l2.trn", "l3.trn"] {
            assert_eq!(skip_of(&report, covered), Some(SkipReason::AlreadyCovered));
        }
        assert_eq!(report.skipped.len(), 6, "{:?}", report.skipped);
    }

    #[test]
    fn without_the_later_full_the_older_differentials_compete() {
        let files: Vec<ChainFile> = history()
            .into_iter()
            .filter(|f| !["full2.bak", "dc.bak"].contains(&display(&f.path).as_str()))
            .collect();
        let report = build_chains(files);
        assert_eq!(
            steps(&report),
            [[
                "full1.bak",
                "db.bak",
                "l3.trn",
                "l4.trn",
                "l5.trn",
                "l6.trn"
            ]]
        );
        assert_eq!(
            skip_of(&report, "da.bak"),
            Some(SkipReason::SupersededDifferential)
        );
        // The empty log at the differential's end adds nothing.
        assert_eq!(skip_of(&report, "l2.trn"), Some(SkipReason::AlreadyCovered));
    }

    #[test]
    fn a_missing_log_is_a_gap_and_what_follows_waits() {
        let files: Vec<ChainFile> = history()
            .into_iter()
            .filter(|f| f.path != std::path::Path::new("l5.trn"))
            .collect();
        let report = build_chains(files);
        assert!(!report.is_clean());
        assert_eq!(kinds(&report), [ChainProblemKind::Gap]);
        let gap = &report.problems[0];
        assert_eq!(gap.lsns.map(|r| (r.from, r.to)), Some((lsn(230), lsn(240))));
        assert_eq!(
            gap.files,
            [PathBuf::from("l4.trn"), PathBuf::from("l6.trn")]
        );
        assert_eq!(skip_of(&report, "l6.trn"), Some(SkipReason::AfterGap));
        assert_eq!(steps(&report), [["full2.bak", "dc.bak", "l4.trn"]]);
    }

    #[test]
    fn an_older_full_wins_when_its_chain_reaches_further() {
        // full2 was taken COPY_ONLY: the differential after it is still based on full1.
        let full1 = info(BackupType::Full, 100, 110);
        let full2 = info(BackupType::Full, 200, 210);
        let files = vec![
            file("full1.bak", full1.clone()),
            file("full2.bak", full2),
            file("d1.bak", diff_of(&full1, 300, 310)),
        ];
        let report = build_chains(files);
        assert!(report.is_clean(), "{:?}", report.problems);
        assert_eq!(steps(&report), [["full1.bak", "d1.bak"]]);
        let skipped = report
            .skipped
            .iter()
            .find(|s| s.why == SkipReason::OtherFull);
        assert!(
            skipped.is_some_and(|s| s.path == std::path::Path::new("full2.bak")
                && s.reason.contains(&lsn(310).to_string())),
            "{:?}",
            report.skipped
        );
    }

    #[test]
    fn overlapping_logs_are_reported() {
        let mut files = history();
        files.push(log("other.trn", 235, 245));
        let report = build_chains(files);
        assert_eq!(kinds(&report), [ChainProblemKind::Overlap]);
        let overlap = &report.problems[0];
        assert_eq!(
            overlap.files,
            [PathBuf::from("l6.trn"), PathBuf::from("other.trn")]
        );
        assert_eq!(
            overlap.lsns.map(|r| (r.from, r.to)),
            Some((lsn(240), lsn(245)))
        );
        assert_eq!(
            steps(&report),
            [["full2.bak", "dc.bak", "l4.trn", "l5.trn", "l6.trn"]]
        );
    }

    #[test]
    fn file_level_problems() {
        let full = info(BackupType::Full, 100, 110);
        let striped = BackupInfo {
            family_count: 2,
            family_sequence: 2,
            ..log("", 100, 150).info
        };
        let multi = BackupInfo {
            backup_sets: 3,
            ..log("", 100, 160).info
        };
        let copy = file("copy.bak", full.clone());
        let files = vec![
            file("full.bak", full.clone()),
            copy,
            file("stripe.trn", striped),
            file("multi.trn", multi),
            file(
                "file.bak",
                BackupInfo {
                    backup_type: Some(BackupType::File),
                    ..full.clone()
                },
            ),
            file(
                "pw.bak",
                BackupInfo {
                    password_protected: true,
                    ..full.clone()
                },
            ),
        ];
        let report = build_chains(files);
        let mut got = kinds(&report);
        got.sort_by_key(|k| k.as_str());
        assert_eq!(
            got,
            [
                ChainProblemKind::Duplicate,
                ChainProblemKind::MultipleSets,
                ChainProblemKind::PasswordProtected,
                ChainProblemKind::Striped,
                ChainProblemKind::UnsupportedType,
            ]
        );
        let severity = |kind| {
            report
                .problems
                .iter()
                .find(|p| p.kind == kind)
                .map(|p| p.severity)
        };
        assert_eq!(
            severity(ChainProblemKind::Duplicate),
            Some(crate::Severity::Warning)
        );
        assert_eq!(
            severity(ChainProblemKind::Striped),
            Some(crate::Severity::Error)
        );
        // The multi-set file stays in (with its warning); the others are out.
        assert_eq!(steps(&report), [["full.bak", "multi.trn"]]);
        assert!(!report.is_clean());
    }

    /// First hour 25: asked for database B, a file whose later set is B's says so, rather than
    /// calling the file "backups of database A".
    #[test]
    fn a_later_set_of_the_wanted_database_is_named() {
        let mixed = BackupInfo {
            database_name: "DB_A".into(),
            backup_sets: 2,
            set_databases: vec!["DB_A".into(), "DB_B".into()],
            ..info(BackupType::Full, 100, 110)
        };
        let report = build_chains_for(vec![file("mixed.bak", mixed)], Some("DB_B"));
        let problem = report
            .problems
            .iter()
            .find(|p| p.kind == ChainProblemKind::OtherDatabase)
            .unwrap();
        assert!(
            problem.message.contains("\"DB_B\" in set 2")
                && problem.message.contains("is of \"DB_A\""),
            "{}",
            problem.message
        );
    }

    /// First hour 24: every family of one striped backup is one problem naming the complete
    /// media set, not a problem per file and a "no usable backup" that reads as a missing full.
    #[test]
    fn a_complete_striped_media_set_is_said_once() {
        let family = |sequence| BackupInfo {
            family_count: 2,
            family_sequence: sequence,
            backup_set_guid: Some(guid(5)),
            ..info(BackupType::Full, 100, 110)
        };
        let report = build_chains(vec![
            file("Stripe1/db.bak", family(1)),
            file("Stripe2/db.bak", family(2)),
        ]);
        assert_eq!(kinds(&report), [ChainProblemKind::Striped]);
        let problem = &report.problems[0];
        assert!(
            problem.message.contains("complete media set of 2 families")
                && problem
                    .message
                    .contains("RDS restores only single-file backups"),
            "{}",
            problem.message
        );
        assert_eq!(problem.files.len(), 2);
        // One family alone is still a problem of its own.
        let report = build_chains(vec![file("Stripe1/db.bak", family(1))]);
        assert_eq!(kinds(&report), [ChainProblemKind::Striped]);
        assert!(report.problems[0].message.contains("family 1 of 2"));
    }

    #[test]
    fn databases_forks_and_missing_fulls() {
        let full = info(BackupType::Full, 100, 110);
        let other_full = info(BackupType::Full, 300, 310);
        let mut forked = info(BackupType::Log, 100, 150);
        forked.database_guid = Some(guid(9));
        let mut other_db = info(BackupType::Full, 100, 110);
        other_db.database_name = "Hr".to_owned();
        other_db.backup_set_guid = Some(guid(8));
        let files = vec![
            file("full.bak", full.clone()),
            file("fork.trn", forked),
            file("orphan.bak", diff_of(&other_full, 320, 330)),
            file("hr.bak", other_db),
        ];
        let report = build_chains(files.clone());
        let mut got = kinds(&report);
        got.sort_by_key(|k| k.as_str());
        assert_eq!(
            got,
            [
                ChainProblemKind::MissingBaseFull,
                ChainProblemKind::OtherFork
            ]
        );
        // Two databases, two chains.
        assert_eq!(steps(&report), [["hr.bak"], ["full.bak"]]);

        let only_sales = build_chains_for(files, Some("Sales"));
        assert!(
            only_sales
                .problems
                .iter()
                .any(|p| p.kind == ChainProblemKind::OtherDatabase
                    && p.files == [PathBuf::from("hr.bak")])
        );
        assert_eq!(steps(&only_sales), [["full.bak"]]);

        let none = build_chains(vec![log("l.trn", 100, 150)]);
        assert_eq!(kinds(&none), [ChainProblemKind::NoFull]);
        assert!(none.chains.is_empty());
        let empty = build_chains(Vec::new());
        assert_eq!(kinds(&empty), [ChainProblemKind::NoFull]);
    }

    #[test]
    fn kinds_serialize_as_stable_strings() {
        let json = serde_json::to_string(&ChainProblemKind::MissingBaseFull).unwrap();
        assert_eq!(json, "\"missing_base_full\"");
        assert_eq!(
            ChainProblemKind::MissingBaseFull.as_str(),
            "missing_base_full"
        );
        let json = serde_json::to_string(&SkipReason::AfterGap).unwrap();
        assert_eq!(json, "\"after_gap\"");
    }

    proptest::proptest! {
        /// Whatever the heap of headers: no panic, every chain replays step by step through
        /// `ChainPoint::apply`, and every file is a step, skipped, or named by a problem.
        #[test]
        fn every_chain_replays_and_every_file_is_accounted_for(
            specs in proptest::collection::vec((0u8..3, 0u32..40, 0u32..12, 0usize..4), 0..14)
        ) {
            let mut files: Vec<ChainFile> = Vec::new();
            for (index, (kind, first, len, base)) in specs.into_iter().enumerate() {
                let name = format!("f{index}");
                let mut header = match kind {
                    0 => info(BackupType::Full, first, first + len),
                    1 => {
                        let fulls: Vec<&ChainFile> =
                            files.iter().filter(|f| is(f, BackupType::Full)).collect();
                        match fulls.get(base) {
                            Some(full) => diff_of(&full.info, first, first + len),
                            None => diff_of(&info(BackupType::Full, base as u32, 0), first, first + len),
                        }
                    }
                    _ => info(BackupType::Log, first, first + len),
                };
                // Distinct sets, but some duplicates on purpose (index 5 copies index 4).
                let mut raw = [0u8; 16];
                raw[0] = u8::try_from(if index == 5 { 4 } else { index }).unwrap();
                header.backup_set_guid = Some(crate::Guid(raw));
                files.push(file(&name, header));
            }
            let names: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
            let report = build_chains(files);
            for chain in &report.chains {
                let mut point = ChainPoint::after_full(&chain.full.info).unwrap();
                for step in chain.steps().into_iter().skip(1) {
                    point = point.apply(&step.info, &step.path).unwrap();
                }
                proptest::prop_assert_eq!(&point, &chain.end);
            }
            for name in names {
                let in_chain = report.chains.iter().any(|c| c.steps().iter().any(|f| f.path == name));
                let skipped = report.skipped.iter().any(|s| s.path == name);
                let problem = report.problems.iter().any(|p| p.files.contains(&name));
                proptest::prop_assert!(in_chain || skipped || problem, "{} unaccounted: {:?}", name.display(), report);
            }
        }
    }
}

//! The batch-level pre-flight: what no single migration can see, judged before anything is
//! uploaded. Duplicate names and keys in the plan, the sum of restored sizes against the free
//! space, the database count after the batch, and the daily task quotas (rds-api.md §1.1:
//! 20 migrations per database and 500 per instance a day, 3 TB per .bak).
//!
//! Pure: the facts are gathered by [`super::run`].

use std::collections::HashMap;

use crate::migrate::Problem;
use bak2rds_cloud::rds::preflight::InstanceFacts;
use bak2rds_cloud::rds::quota::{DAILY_MIGRATIONS_PER_DATABASE, DAILY_MIGRATIONS_PER_INSTANCE};

use super::plan::BatchEntry;

/// `BakFileSizeExceeded`: a .bak holds at most 3 TB (§1.1). Alibaba's storage units are binary
/// (`DBInstanceStorage` GB are 2^30 bytes, §1.8), so 3 × 2^40.
pub const MAX_BAK_BYTES: u64 = 3 << 40;

/// Everything the batch pre-flight judges.
#[derive(Debug, Clone)]
pub struct BatchFacts<'a> {
    /// The plan's databases.
    pub entries: &'a [BatchEntry],
    /// The instance (free space, database limit).
    pub instance: &'a InstanceFacts,
    /// Databases on the instance now.
    pub databases: &'a [String],
    /// The database of every CreateMigrateTask call in the last 24 hours, one name per call
    /// (a migration's task counts once per backup); `None` when RDS could not tell.
    pub recent_tasks: Option<&'a [String]>,
}

/// The findings, refusals first (severities as in [`bak2rds_cloud::rds::preflight::Severity`]).
pub fn check(facts: &BatchFacts<'_>) -> Vec<Problem> {
    let mut out = Vec::new();
    for entry in facts.entries {
        judge_entry(entry, facts.instance, &mut out);
    }
    duplicate_names(facts.entries, &mut out);
    duplicate_keys(facts.entries, &mut out);
    file_sizes(facts.entries, &mut out);
    let new = new_entries(facts);
    space(facts.instance, &new, &mut out);
    database_count(facts, &new, &mut out);
    quotas(facts, &new, &mut out);
    out.sort_by_key(|p| p.severity != "refuse");
    out
}

/// What the migration of one entry would refuse on its own, found before the first upload of
/// the batch: an unreadable header, a backup that is not a full one, one newer than the
/// instance, a name RDS does not take. Said in the plan's words.
fn judge_entry(entry: &BatchEntry, instance: &InstanceFacts, out: &mut Vec<Problem>) {
    let table = format!(
        "[[database]] name = {:?} (file {})",
        entry.database,
        entry.file.display()
    );
    if let Some(problem) = &entry.problem {
        out.push(refuse(
            &problem.code,
            format!("{table}: {}", problem.message),
            problem.fix.clone(),
        ));
        return;
    }
    if let Some(problem) = mssql_backup::database_name_problem(&entry.database) {
        out.push(refuse(
            "invalid_database_name",
            format!("{table}: {problem}"),
            "Set name = \"...\" in that file's [[database]] table to a name that keeps the rule \
             (for a folder, write a plan file with a [[database]] table for it)."
                .into(),
        ));
    }
    let Some(facts) = &entry.facts else {
        return;
    };
    match facts.backup_type {
        Some(mssql_backup::BackupType::Full) => {}
        other => {
            let kind = other.map_or_else(|| "an unknown".to_owned(), |k| format!("a {k}"));
            out.push(refuse(
                "not_full_backup",
                format!("{table}: {kind} backup, and RDS restores a full backup only"),
                format!(
                    "Point file = \"...\" of that table at a full backup of {}, or remove the table.",
                    facts.database_in_backup
                ),
            ));
        }
    }
    let target = bak2rds_cloud::rds::preflight::target_of(&instance.engine_version);
    if let Some(target) = target.filter(|t| facts.database_version > t.max_database_version) {
        out.push(refuse(
            "backup_newer_than_instance",
            format!(
                "{table}: written by {} (database version {}), newer than the instance's {target}; \
                 RDS would fail the task with \"Failed to verify …: the backup file may be \
                 corrupted or from a version newer than the destination RDS instance\"",
                mssql_backup::target::release_text(facts.database_version),
                facts.database_version
            ),
            "Migrate it to an instance of the same or a later SQL Server (RDS can upgrade the \
             instance's engine), or remove the table."
                .into(),
        ));
    }
}

fn refuse(code: &str, message: String, fix: String) -> Problem {
    Problem {
        severity: "refuse".into(),
        code: code.into(),
        message,
        fix,
    }
}

fn warn(code: &str, message: String, fix: String) -> Problem {
    Problem {
        severity: "warn".into(),
        code: code.into(),
        message,
        fix,
    }
}

/// Entries that will create a database: a name already on the instance is either this batch's
/// own earlier success (a rerun: nothing new) or a clash its own pre-flight refuses. Counting
/// them would make every rerun of a finished batch fail the space and quota checks.
fn new_entries<'a>(facts: &BatchFacts<'a>) -> Vec<&'a BatchEntry> {
    facts
        .entries
        .iter()
        .filter(|e| e.problem.is_none())
        .filter(|e| {
            !facts
                .databases
                .iter()
                .any(|d| d.eq_ignore_ascii_case(&e.database))
        })
        .collect()
}

fn duplicate_names(entries: &[BatchEntry], out: &mut Vec<Problem>) {
    let mut seen: HashMap<String, &BatchEntry> = HashMap::new();
    for entry in entries {
        // SQL Server compares names case-insensitively under the default collations.
        match seen.get(&entry.database.to_lowercase()) {
            Some(first) => out.push(refuse(
                "duplicate_database_name",
                format!(
                    "{} and {} would both be restored as database {}.",
                    first.file.display(),
                    entry.file.display(),
                    entry.database
                ),
                format!(
                    "Keep one of {} and {} (move the other out of the folder or the plan), or \
                     give one of them another name = \"...\" in a plan file.",
                    first.file.display(),
                    entry.file.display()
                ),
            )),
            None => {
                seen.insert(entry.database.to_lowercase(), entry);
            }
        }
    }
}

fn duplicate_keys(entries: &[BatchEntry], out: &mut Vec<Problem>) {
    let mut seen: HashMap<&str, &BatchEntry> = HashMap::new();
    for entry in entries {
        match seen.get(entry.key.as_str()) {
            Some(first) => out.push(refuse(
                "duplicate_object_key",
                format!(
                    "{} and {} would both be uploaded to the object {}: one would overwrite the \
                     other.",
                    first.file.display(),
                    entry.file.display(),
                    entry.key
                ),
                "Rename one file, or give it its own key = \"...\" in the plan.".into(),
            )),
            None => {
                seen.insert(&entry.key, entry);
            }
        }
    }
}

fn file_sizes(entries: &[BatchEntry], out: &mut Vec<Problem>) {
    for entry in entries {
        let Some(bytes) = entry.facts.as_ref().map(|f| f.file_bytes) else {
            continue;
        };
        if bytes > MAX_BAK_BYTES {
            out.push(refuse(
                "backup_file_too_large",
                format!(
                    "{} is {} GiB; RDS takes .bak files up to 3 TB (BakFileSizeExceeded).",
                    entry.file.display(),
                    bytes >> 30
                ),
                format!(
                    "Back up {} WITH COMPRESSION, or migrate it another way (e.g. DTS).",
                    entry.database
                ),
            ));
        }
    }
}

fn mib(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

/// RDS downloads each .bak onto the instance's disk before restoring it (§5 "space left < bak
/// file"), so the batch needs every restored database plus room for the largest download.
fn space(instance: &InstanceFacts, new: &[&BatchEntry], out: &mut Vec<Problem>) {
    let Some(free) = instance.free_bytes() else {
        return; // each migration's own pre-flight warns about unknown usage
    };
    let mut needed: u64 = 0;
    let mut largest_file: u64 = 0;
    let mut unknown = Vec::new();
    for entry in new {
        match entry.facts.as_ref().and_then(|f| f.restored_bytes) {
            Some(bytes) => needed = needed.saturating_add(bytes),
            None => unknown.push(entry.database.as_str()),
        }
        let file = entry.facts.as_ref().map_or(0, |f| f.file_bytes);
        largest_file = largest_file.max(file);
    }
    let total = needed.saturating_add(largest_file);
    if total > free {
        out.push(refuse(
            "batch_not_enough_space",
            format!(
                "The {} new databases need {} MB once restored (plus {} MB for the largest .bak \
                 while it is downloaded), and instance {} has {} MB free.",
                new.len(),
                mib(needed),
                mib(largest_file),
                instance.id,
                mib(free)
            ),
            format!(
                "Enlarge the instance's storage by at least {} GB, or split the batch into \
                 smaller plans.",
                total.saturating_sub(free).div_ceil(1 << 30)
            ),
        ));
    }
    if !unknown.is_empty() {
        out.push(warn(
            "batch_restored_size_unknown",
            format!(
                "The restored size of {} is unknown, so the batch's total was not checked for it.",
                unknown.join(", ")
            ),
            "Check these files with `bak2rds inspect`.".into(),
        ));
    }
}

fn database_count(facts: &BatchFacts<'_>, new: &[&BatchEntry], out: &mut Vec<Problem>) {
    let Some(max) = facts.instance.db_max_quantity else {
        return;
    };
    let mut distinct: Vec<String> = new.iter().map(|e| e.database.to_lowercase()).collect();
    distinct.sort();
    distinct.dedup();
    let after = facts.databases.len().saturating_add(distinct.len());
    if u64::try_from(after).unwrap_or(u64::MAX) > max {
        out.push(refuse(
            "batch_database_count_limit",
            format!(
                "Instance {} holds {} databases and allows {max}; this batch adds {}, {} too many.",
                facts.instance.id,
                facts.databases.len(),
                distinct.len(),
                after.saturating_sub(usize::try_from(max).unwrap_or(usize::MAX))
            ),
            "Drop databases on the instance, move to a larger instance class, or split the \
             batch."
                .into(),
        ));
    }
}

fn quotas(facts: &BatchFacts<'_>, new: &[&BatchEntry], out: &mut Vec<Problem>) {
    let Some(recent) = facts.recent_tasks else {
        out.push(warn(
            "daily_quota_unknown",
            "The instance's migrations of the last 24 hours could not be counted, so the \
             daily quotas were not checked."
                .into(),
            format!(
                "Make sure fewer than {DAILY_MIGRATIONS_PER_INSTANCE} migrations ran on the \
                 instance today (`bak2rds tasks --days 1`)."
            ),
        ));
        return;
    };
    let after = recent.len().saturating_add(new.len());
    if after > DAILY_MIGRATIONS_PER_INSTANCE {
        out.push(refuse(
            "daily_instance_quota",
            format!(
                "Instance {} ran {} migrations in the last 24 hours; {} more would exceed the \
                 {DAILY_MIGRATIONS_PER_INSTANCE} a day RDS allows (ConcurrentTaskExceeded).",
                facts.instance.id,
                recent.len(),
                new.len()
            ),
            format!(
                "Migrate at most {} databases now and the rest tomorrow (split the plan).",
                DAILY_MIGRATIONS_PER_INSTANCE.saturating_sub(recent.len())
            ),
        ));
    }
    for entry in new {
        let done = recent
            .iter()
            .filter(|d| d.eq_ignore_ascii_case(&entry.database))
            .count();
        if done >= DAILY_MIGRATIONS_PER_DATABASE {
            out.push(refuse(
                "daily_database_quota",
                format!(
                    "Database {} had {done} restores (CreateMigrateTask calls) on instance {} \
                     in the last 24 hours; RDS allows {DAILY_MIGRATIONS_PER_DATABASE} a day \
                     (UploadLimitExceeded).",
                    entry.database, facts.instance.id
                ),
                format!(
                    "Wait until tomorrow for {}, or restore it under another name.",
                    entry.database
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::batch::plan::EntryFacts;

    fn entry(name: &str, file: &str, restored: u64) -> BatchEntry {
        BatchEntry {
            file: PathBuf::from(file),
            database: name.into(),
            key: format!("{file}.bak"),
            facts: Some(EntryFacts {
                database_in_backup: name.into(),
                backup_type: Some(mssql_backup::BackupType::Full),
                file_bytes: 1 << 20,
                restored_bytes: Some(restored),
                database_version: 904,
            }),
            problem: None,
        }
    }

    fn instance(free_gb: u64, max: Option<u64>) -> InstanceFacts {
        InstanceFacts {
            id: "rm-1".into(),
            engine: "SQLServer".into(),
            engine_version: "2019_std_ha".into(),
            status: "Running".into(),
            lock_mode: "Unlock".into(),
            storage_gb: free_gb,
            disk_used_bytes: Some(0),
            category: "HighAvailability".into(),
            storage_type: "cloud_essd".into(),
            region: "cn-hangzhou".into(),
            db_max_quantity: max,
        }
    }

    fn codes(problems: &[Problem]) -> Vec<&str> {
        problems.iter().map(|p| p.code.as_str()).collect()
    }

    #[test]
    fn a_plan_that_fits_passes() {
        let entries = [entry("Aa", "a", 1 << 30), entry("Bb", "b", 1 << 30)];
        let recent = vec!["Aa".to_string(); 19];
        let problems = check(&BatchFacts {
            entries: &entries,
            instance: &instance(3, Some(2)),
            databases: &[],
            recent_tasks: Some(&recent),
        });
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn each_limit_refuses_with_a_fix() {
        let entries = [
            entry("Aa", "a", 2 << 30),
            entry("aa", "a2", 2 << 30),
            entry("Cc", "c", 2 << 30),
        ];
        let mut recent = vec!["Cc".to_string(); 20];
        recent.extend(std::iter::repeat_n("X".to_string(), 479));
        let problems = check(&BatchFacts {
            entries: &entries,
            instance: &instance(5, Some(2)),
            databases: &["Old".into()],
            recent_tasks: Some(&recent),
        });
        let found = codes(&problems);
        for code in [
            "duplicate_database_name",
            "batch_not_enough_space",
            "batch_database_count_limit",
            "daily_instance_quota",
            "daily_database_quota",
        ] {
            assert!(found.contains(&code), "{code} missing from {found:?}");
        }
        assert!(problems.iter().all(|p| !p.fix.is_empty()));
        let duplicate = problems
            .iter()
            .find(|p| p.code == "duplicate_database_name")
            .unwrap();
        assert!(duplicate.fix.contains('a') && duplicate.fix.contains("a2"));
    }

    #[test]
    fn databases_already_on_the_instance_are_not_counted_again() {
        // A rerun of a finished batch: both names exist, nothing new is needed.
        let entries = [entry("Aa", "a", 4 << 30), entry("Bb", "b", 4 << 30)];
        let problems = check(&BatchFacts {
            entries: &entries,
            instance: &instance(1, Some(2)),
            databases: &["aa".into(), "Bb".into()],
            recent_tasks: Some(&["Aa".into(), "Bb".into()]),
        });
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn huge_files_and_unknown_quotas() {
        let mut big = entry("Aa", "a", 1);
        if let Some(facts) = big.facts.as_mut() {
            facts.file_bytes = MAX_BAK_BYTES + 1;
        }
        let problems = check(&BatchFacts {
            entries: &[big],
            instance: &instance(10_000, None),
            databases: &[],
            recent_tasks: None,
        });
        let found = codes(&problems);
        assert_eq!(found, ["backup_file_too_large", "daily_quota_unknown"]);
    }
}

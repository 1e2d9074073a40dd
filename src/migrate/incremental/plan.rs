//! What to restore, decided before anything changes: the backups the instance cannot take,
//! the chain of the given files, and its agreement with what an earlier run restored.

use std::path::PathBuf;

use super::state::{State, StateFile};
use super::{IncrementalSpec, backup_set_of, lsn_text, problem_of_chain, refusal, type_of};
use mssql_backup::chain::{self, ChainFile, ChainProblem, ChainProblemKind};
use mssql_backup::{BackupType, Rules, Severity, Verdict};
use tokio::sync::mpsc;

use crate::migrate::{Clients, MigrateError, MigrateEvent, Problem, json_name};
use crate::source::SourceFile;
use bak2rds_cloud::rds::gather::find_task_for_object;
use bak2rds_cloud::rds::model::TaskStatus;
use bak2rds_cloud::rds::preflight::target_of;

/// Backups the instance cannot restore at all: written by a newer SQL Server, damaged, striped,
/// password-protected, not database backups. (Their type is the chain's business, not this.)
pub(super) fn unfit_for_target(files: &[ChainFile], engine_version: &str) -> Vec<Problem> {
    let rules = Rules {
        target_version: target_of(engine_version),
        ..Rules::default()
    };
    let mut unfit = Vec::new();
    for file in files {
        let report = match SourceFile::open(&file.path) {
            Ok(source) => mssql_backup::examine(source.bytes(), &rules),
            Err(error) => {
                unfit.push(refusal(
                    "unreadable",
                    error.to_string(),
                    "check the path and permissions",
                ));
                continue;
            }
        };
        let fit = matches!(
            report.verdict,
            Verdict::Accept
                | Verdict::WarnMultipleSets
                | Verdict::RejectDifferential
                | Verdict::RejectLog
        );
        if !fit {
            unfit.extend(
                report
                    .findings
                    .iter()
                    .filter(|f| f.severity == mssql_backup::Severity::Error)
                    .map(|f| Problem {
                        severity: json_name(f.severity),
                        code: f.code.to_string(),
                        message: format!("{}: {}", file.path.display(), f.message),
                        fix: f.fix.to_string(),
                    }),
            );
        }
    }
    unfit
}

pub(super) type Plan = Result<Steps, Vec<Problem>>;

/// The backups to restore, and those left out because the database already has what they hold.
#[derive(Debug, Default)]
pub(super) struct Steps {
    /// In restore order.
    pub restore: Vec<ChainFile>,
    /// Each file left out, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    /// What the plan goes on despite: warnings (duplicates, other databases' backups left
    /// out) and, for the follower, the gap it stops at.
    pub notes: Vec<Problem>,
}

/// The chain of the given files, checked against what an earlier run already applied.
pub(super) async fn plan_chain(
    files: Vec<ChainFile>,
    state: &mut StateFile,
    clients: &Clients,
    spec: &IncrementalSpec,
) -> Result<Plan, MigrateError> {
    // A migration under way keeps its full even when a newer one has joined the folder (the
    // weekly full taken meanwhile): its logs continue the chain already restored.
    let files = match &state.state.full_backup_set {
        Some(full) if files.iter().any(|f| &backup_set_of(f) == full) => files
            .into_iter()
            .filter(|f| type_of(f) != BackupType::Full || &backup_set_of(f) == full)
            .collect(),
        _ => files,
    };
    let report = match database_of_full(&files, state).filter(|_| spec.following) {
        Some(database) => chain::build_chains_for(files, Some(&database)),
        None => chain::build_chains(files),
    };
    // The follower restores up to a gap in the logs and waits there for the missing ones (or a
    // differential that covers them); a one-shot run refuses the chain whole.
    let waits_at = |p: &ChainProblem| spec.following && p.kind == ChainProblemKind::Gap;
    let stops = |p: &&ChainProblem| p.severity == Severity::Error && !waits_at(p);
    if report.problems.iter().any(|p| stops(&p)) {
        return Ok(Err(report.problems.iter().map(problem_of_chain).collect()));
    }
    let notes: Vec<Problem> = report.problems.iter().map(problem_of_chain).collect();
    let mut chains = report.chains;
    let chain = match chains.len() {
        1 => chains.remove(0),
        0 => {
            return Ok(Err(vec![refusal(
                "no-full",
                "no full backup among the files: an incremental migration starts from one",
                "add the full backup the differential and log backups are based on",
            )]));
        }
        _ => {
            let names: Vec<&str> = chains.iter().map(|c| c.database.as_str()).collect();
            return Ok(Err(vec![refusal(
                "several-databases",
                format!(
                    "the files hold backups of several databases: {}",
                    names.join(", ")
                ),
                "run one incremental migration per database, passing only its files \
                 (or use --batch for full migrations of many databases)",
            )]));
        }
    };
    let full_set = backup_set_of(&chain.full);
    if state.state.full_backup_set.as_deref() != Some(full_set.as_str()) {
        if let Some(problem) = other_migration(state, clients, spec).await? {
            return Ok(Err(vec![problem]));
        }
        state.state = State {
            full_backup_set: Some(full_set),
            ..State::default()
        };
    }
    let steps: Vec<ChainFile> = chain.steps().into_iter().cloned().collect();
    Ok(against_state(steps, state, Vec::new())
        .map(|steps| Steps { notes, ..steps })
        .map_err(|problem| vec![problem_of_chain(&problem)]))
}

/// The source database of the migration under way: the one its full backup is of.
fn database_of_full(files: &[ChainFile], state: &StateFile) -> Option<String> {
    let full = state.state.full_backup_set.as_ref()?;
    files
        .iter()
        .find(|f| &backup_set_of(f) == full)
        .map(|f| f.info.database_name.clone())
}

/// Another chain is being restored into the same database: refuse to start a second one
/// unless that migration is over (online or failed).
async fn other_migration(
    state: &StateFile,
    clients: &Clients,
    spec: &IncrementalSpec,
) -> Result<Option<Problem>, MigrateError> {
    let Some(task_id) = &state.state.task_id else {
        return Ok(None);
    };
    if state.state.online {
        return Ok(None);
    }
    let task = clients
        .rds
        .describe_migrate_task_by_id(&spec.instance_id, task_id)
        .await?;
    // Over (failed, or opened by a cutover run elsewhere): a new chain may start; pre-flight
    // then judges the name.
    if matches!(task.status, TaskStatus::Failed | TaskStatus::Success) {
        return Ok(None);
    }
    Ok(Some(refusal(
        "other-chain",
        format!(
            "task {task_id} ({}) is restoring another backup chain into database {} (state file {})",
            task.status,
            task.db_name,
            state.path.display()
        ),
        format!(
            "continue that migration with its own files, cut it over (`bak2rds cutover {task_id} \
             --instance {}`), or terminate it on RDS and delete the state file",
            spec.instance_id
        ),
    )))
}

/// The backups not yet applied must continue from where the database stands; those it already
/// contains (restoring them would be refused as too early) are left out.
fn against_state(
    steps: Vec<ChainFile>,
    state: &StateFile,
    mut skipped: Vec<(PathBuf, String)>,
) -> Result<Steps, ChainProblem> {
    let Some(mut point) = state.state.point.clone() else {
        return Ok(Steps {
            restore: steps,
            skipped,
            notes: Vec::new(),
        });
    };
    let mut kept = Vec::with_capacity(steps.len());
    for file in steps {
        let done = state.is_applied(&backup_set_of(&file)) || type_of(&file) == BackupType::Full;
        if !done {
            match point.apply(&file.info, &file.path) {
                Ok(next) => point = next,
                Err(problem) if problem.kind == ChainProblemKind::AlreadyCovered => {
                    let ends = lsn_text(file.info.last_lsn).unwrap_or_else(|| "?".into());
                    skipped.push((
                        file.path.clone(),
                        format!(
                            "already covered: it ends at LSN {ends}, and the database already \
                             stands at or past it"
                        ),
                    ));
                    continue;
                }
                Err(problem) => return Err(problem),
            }
        }
        kept.push(file);
    }
    Ok(Steps {
        restore: kept,
        skipped,
        notes: Vec::new(),
    })
}

/// `--task ID FILES`: the next backups of a migration this machine started.
pub(super) fn plan_continuation(
    mut files: Vec<ChainFile>,
    state: &StateFile,
    task_id: &str,
    spec: &IncrementalSpec,
) -> Plan {
    if state.state.task_id.as_deref() == Some(task_id) && state.state.point.is_none() {
        return Err(vec![refusal(
            "full-not-restored",
            format!("task {task_id} has not finished restoring the full backup yet"),
            "rerun the command that started the migration (it follows the task to the end), then \
             add the new backups",
        )]);
    }
    if state.state.task_id.as_deref() != Some(task_id) {
        return Err(vec![refusal(
            "unknown-task",
            format!(
                "no record of task {task_id} on instance {} in {}: where its database stands \
                 (the last LSN restored) is unknown, so the new backups cannot be checked",
                spec.instance_id,
                spec.state_dir.display()
            ),
            "run from the machine and --state-dir that started the migration, or pass the whole \
             chain (full, differential, logs) without --task: uploaded objects are not sent again",
        )]);
    }
    // The migration's own full (a folder passed again) is not news; any other full is.
    let own_full = state.state.full_backup_set.clone();
    files.retain(|f| type_of(f) != BackupType::Full || Some(backup_set_of(f)) != own_full);
    if let Some(full) = files.iter().find(|f| type_of(f) == BackupType::Full) {
        return Err(vec![refusal(
            "full-in-continuation",
            format!(
                "{} is a full backup; a running incremental migration accepts only differential \
                 and log backups",
                full.path.display()
            ),
            "pass only the new differential or log backups",
        )]);
    }
    // Differentials first (at most one applies), then logs in LSN order.
    files.sort_by_key(|f| {
        (
            type_of(f) != BackupType::Differential,
            f.info.first_lsn.map(|l| l.as_decimal()),
        )
    });
    let (applied, files): (Vec<ChainFile>, Vec<ChainFile>) = files
        .into_iter()
        .partition(|f| state.is_applied(&backup_set_of(f)));
    let skipped = applied
        .into_iter()
        .map(|f| {
            let reason = format!("already restored by task {task_id}");
            (f.path, reason)
        })
        .collect();
    against_state(files, state, skipped).map_err(|problem| vec![problem_of_chain(&problem)])
}

/// Brings the state in line with the recorded task: a failed task cannot take more files, so the
/// chain starts over on a new one (uploads kept); a task in Success means the database is open;
/// and a full submitted by a run that crashed before recording the answer is found again.
pub(super) async fn reconcile_task(
    spec: &IncrementalSpec,
    clients: &Clients,
    state: &mut StateFile,
    database: &str,
    databases: &[String],
    events: &mpsc::UnboundedSender<MigrateEvent>,
) -> Result<(), MigrateError> {
    let Some(task_id) = state.state.task_id.clone() else {
        return find_unrecorded_task(spec, clients, state, database, events).await;
    };
    let task = match clients
        .rds
        .describe_migrate_task_by_id(&spec.instance_id, &task_id)
        .await
    {
        Err(error) if error.code() == Some(crate::migrate::TASK_NOT_FOUND) => {
            return forgotten_task(spec, state, database, databases, &task_id, events);
        }
        answer => answer?,
    };
    match task.status {
        TaskStatus::Failed => {
            state.restart_chain();
            state.save()?;
            let _ = events.send(MigrateEvent::TaskRetried {
                failed_task_id: task_id,
                description: task.description,
            });
        }
        TaskStatus::Success if !state.state.online => {
            state.state.online = true;
            state.save()?;
        }
        _ => {}
    }
    Ok(())
}

/// The state names a task RDS no longer knows (records age out; an emulator forgets its tasks
/// when restarted). A migration recorded as cut over is done. With no database of its name on
/// the instance nothing of the task remains, so the chain starts over on a new task (uploads
/// kept). A database left restoring by it blocks the name: the user is told how to go on.
fn forgotten_task(
    spec: &IncrementalSpec,
    state: &mut StateFile,
    database: &str,
    databases: &[String],
    task_id: &str,
    events: &mpsc::UnboundedSender<MigrateEvent>,
) -> Result<(), MigrateError> {
    let why = "RDS keeps migration records for a limited time, and an emulator forgets its \
               tasks when it restarts";
    if state.state.online {
        let _ = events.send(MigrateEvent::Warning {
            message: format!(
                "instance {} no longer lists task {task_id} ({why}); {} records its cutover: \
                 database {database} was opened",
                spec.instance_id,
                state.path.display()
            ),
        });
        return Ok(());
    }
    if databases.iter().any(|d| d.eq_ignore_ascii_case(database)) {
        return Err(MigrateError::ChainForgotten {
            state: state.path.clone(),
            task_id: task_id.to_owned(),
            instance_id: spec.instance_id.clone(),
            database: database.to_owned(),
        });
    }
    let _ = events.send(MigrateEvent::Warning {
        message: format!(
            "{} names task {task_id}, which instance {} no longer knows ({why}); no database \
             {database} is on the instance, so the chain starts over on a new task (uploads kept)",
            state.path.display(),
            spec.instance_id
        ),
    });
    state.restart_chain();
    state.save()
}

async fn find_unrecorded_task(
    spec: &IncrementalSpec,
    clients: &Clients,
    state: &mut StateFile,
    database: &str,
    events: &mpsc::UnboundedSender<MigrateEvent>,
) -> Result<(), MigrateError> {
    let Some(full) = state
        .state
        .full_backup_set
        .clone()
        .and_then(|full| state.record(&full).cloned())
    else {
        return Ok(());
    };
    // A minute of slack for the two clocks; tasks of older uploads are never adopted.
    let since = time::OffsetDateTime::from_unix_timestamp(full.object.uploaded_unix - 60)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc() - time::Duration::days(7));
    let found = find_task_for_object(
        &clients.rds,
        &spec.instance_id,
        database,
        &full.object.key,
        since,
    )
    .await?;
    if let Some(task) = found.filter(|t| t.status != TaskStatus::Failed) {
        state.state.task_id = Some(task.migrate_task_id.clone());
        if let Some(record) = state.record_mut(&full.backup_set) {
            record.submitted = true;
        }
        state.save()?;
        let _ = events.send(MigrateEvent::TaskAttached {
            task_id: task.migrate_task_id,
        });
    }
    Ok(())
}

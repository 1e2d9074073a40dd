//! Incremental migration (rds-api.md §1.6): the full backup restored without recovery
//! (`BackupMode=UPDF`, `IsOnlineDB=False`), then each differential and log backup in chain order
//! on the same MigrateTaskId, each watched until RDS waits for the next file; at cutover,
//! CreateOnlineDatabaseTask opens the database.
//!
//! The chain is built and checked locally first ([`mssql_backup::chain`]), so a gap is reported
//! before a byte is uploaded, not hours later as an LSN error. A state file per instance and
//! target database records every step (uploaded, submitted, applied) and where the database
//! stands (a [`ChainPoint`](mssql_backup::ChainPoint)): a rerun resumes at the right step, and log backups added later
//! (the same command with more files, or `--task ID NEWLOG.trn`) are checked against what was
//! applied.

pub mod follow_logs;
mod plan;
mod state;
mod step;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use self::plan::{plan_chain, plan_continuation, reconcile_task, unfit_for_target};
use self::state::StateFile;
use self::step::{Job, StepResult};
use super::{
    Clients, MigrateError, MigrateEvent, Problem, json_name, preflight_backup, problem_of_preflight,
};
use crate::source::SourceFile;
use crate::upload::checkpoint::CheckpointStore;
use crate::upload::engine::UploadOptions;
use crate::upload::progress::Counters;
use bak2rds_cloud::rds::diagnose::Diagnosis;
use bak2rds_cloud::rds::gather::gather_instance;
use bak2rds_cloud::rds::model::CheckDbMode;
use bak2rds_cloud::rds::preflight::PreflightReport;
use bak2rds_cloud::rds::quota::{DAILY_MIGRATIONS_PER_DATABASE, recent_migrations_of};
use bak2rds_cloud::rds::wait::{TaskReport, WaitOptions};
use mssql_backup::BackupType;
use mssql_backup::chain::{self, ChainFile, ChainProblem};

pub use self::step::cut_over;

/// An incremental migration to run or continue.
#[derive(Debug, Clone)]
pub struct IncrementalSpec {
    /// Backup files and folders: the whole chain, or (with `task_id`) the next backups.
    pub files: Vec<PathBuf>,
    /// Continue this migration (MigrateTaskId) with the next backups only.
    pub task_id: Option<String>,
    /// RDS instance ID.
    pub instance_id: String,
    /// Database name on RDS; with `task_id` it may be left out (the task names it).
    pub database: Option<String>,
    /// Bucket (in the instance's region).
    pub bucket: String,
    /// Prepended to every object key (e.g. `migrations/sales/`).
    pub key_prefix: String,
    /// CheckDBMode of the cutover.
    pub check_db: CheckDbMode,
    /// Open the database once every backup is applied.
    pub cutover: bool,
    /// Once the database is open, delete the objects this migration uploaded.
    pub delete_after: bool,
    /// Check the chain and the instance only; change nothing.
    pub dry_run: bool,
    /// Upload tuning.
    pub upload: UploadOptions,
    /// Upload checkpoints.
    pub checkpoints: CheckpointStore,
    /// Where migration state files live.
    pub state_dir: PathBuf,
    /// Polling of the task.
    pub wait: WaitOptions,
    /// Set by the log follower: restore the chain up to a gap in its logs and wait for the
    /// rest (instead of refusing it whole), and leave out other databases' backups once the
    /// chain's database is known (a backup share holds many).
    pub following: bool,
}

/// One backup of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStep {
    /// The local file.
    pub file: PathBuf,
    /// `full`, `differential` or `log`.
    pub backup_type: String,
    /// First LSN (decimal), if any.
    pub first_lsn: Option<String>,
    /// Last LSN (decimal), if any.
    pub last_lsn: Option<String>,
    /// Object key.
    pub key: String,
    /// Already restored by an earlier run.
    pub applied: bool,
}

/// What happened to one backup in this run.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// The local file.
    pub file: PathBuf,
    /// `oss://bucket/key`.
    pub object: String,
    /// `full`, `differential` or `log`.
    pub backup_type: String,
    /// Bytes.
    pub size: u64,
    /// Sent by this run (false: an earlier run had uploaded it).
    pub uploaded: bool,
}

/// Why the migration stopped short.
#[derive(Debug, Clone, Serialize)]
pub struct StepFailure {
    /// The backup RDS refused, if the failure is about one file (not the cutover).
    pub file: Option<PathBuf>,
    /// RDS's Description, verbatim.
    pub description: String,
    /// Its explanation, if documented.
    pub diagnosis: Option<Diagnosis>,
    /// What to do next.
    pub fix: String,
}

/// The end of a run.
#[derive(Debug, Clone, Serialize)]
pub struct IncrementalReport {
    /// Database name on RDS.
    pub database: String,
    /// MigrateTaskId of the chain.
    pub task_id: String,
    /// Backups restored by this run, in order.
    pub steps: Vec<StepReport>,
    /// Backups restored in all, this run and earlier ones.
    pub applied_total: usize,
    /// The newest backup restored, by this run or an earlier one (the follower's lag when a
    /// round has nothing new to restore).
    #[serde(skip)]
    pub last_restored: Option<PathBuf>,
    /// The database is open (cutover done).
    pub online: bool,
    /// Set when RDS refused a backup or the cutover.
    pub failure: Option<StepFailure>,
    /// The task at the end.
    pub task: Option<TaskReport>,
    /// Once the database is online: accounts, what is left in OSS (or deleted), RDS's next
    /// backup.
    pub after: Option<super::after::AfterRestore>,
    /// Wall time of this run, seconds.
    pub elapsed_secs: f64,
}

impl IncrementalReport {
    /// True when nothing failed (the database is waiting for more backups, or online).
    pub fn succeeded(&self) -> bool {
        self.failure.is_none()
    }
}

/// How the run ended.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum IncrementalOutcome {
    /// The chain, a backup or pre-flight refused: nothing was uploaded or created.
    Refused {
        /// `chain`, `inspect` or `preflight`.
        stage: &'static str,
        /// Each reason with its fix.
        findings: Vec<Problem>,
    },
    /// `--dry-run`: the plan.
    Planned {
        /// Database name on RDS.
        database: String,
        /// The backups in restore order.
        steps: Vec<PlannedStep>,
        /// Pre-flight of the full (absent when continuing a task).
        preflight: Option<Box<PreflightReport>>,
    },
    /// The run went as far as it could.
    Finished(Box<IncrementalReport>),
}

/// A refusal before anything changed.
fn refused(stage: &'static str, findings: Vec<Problem>) -> IncrementalOutcome {
    IncrementalOutcome::Refused { stage, findings }
}

/// The task this machine's state file records for the spec's database, if any.
fn recorded_task(spec: &IncrementalSpec) -> Option<String> {
    let database = spec.database.as_deref()?;
    StateFile::open(&spec.state_dir, &spec.instance_id, database)
        .ok()?
        .state
        .task_id
}

/// A problem the plan goes on despite: a warning, or the gap a log follower waits at.
fn note_event(note: Problem, following: bool) -> MigrateEvent {
    if following && note.severity != "warning" {
        return MigrateEvent::Following {
            message: follow_logs::waiting_line(&note),
        };
    }
    MigrateEvent::Warning {
        message: format!("{} ({})", note.message, note.fix),
    }
}

fn refusal(code: &str, message: impl Into<String>, fix: impl Into<String>) -> Problem {
    Problem {
        severity: "refuse".into(),
        code: code.into(),
        message: message.into(),
        fix: fix.into(),
    }
}

fn problem_of_chain(problem: &ChainProblem) -> Problem {
    Problem {
        severity: json_name(problem.severity),
        code: problem.kind.as_str().to_owned(),
        message: problem.message.clone(),
        fix: problem.fix.clone(),
    }
}

/// The backup set GUID as the state records it.
fn backup_set_of(file: &ChainFile) -> String {
    file.info
        .backup_set_guid
        .map(|g| g.to_string())
        .unwrap_or_else(|| format!("{}#{}", file.path.display(), file.size))
}

fn type_of(file: &ChainFile) -> BackupType {
    file.info.backup_type.unwrap_or(BackupType::Full)
}

fn lsn_text(lsn: Option<mssql_backup::Lsn>) -> Option<String> {
    lsn.map(|l| l.as_decimal().to_string())
}

/// The daily-quota warning for `pending` backups, counting this database's migrations of the
/// last 24 hours. Advisory: when RDS cannot tell, this run's backups are counted alone.
async fn quota_warning(
    clients: &Clients,
    spec: &IncrementalSpec,
    state: &StateFile,
    database: &str,
    pending: usize,
) -> Option<String> {
    if pending == 0 {
        return None;
    }
    let own_task = state.state.task_id.as_deref();
    let recent = recent_migrations_of(&clients.rds, &spec.instance_id, database, own_task)
        .await
        .inspect_err(|error| tracing::debug!(%error, "could not count today's migrations"))
        .ok();
    daily_quota_warning(database, pending, recent)
        .or_else(|| quota_nearly_used(database, pending, recent))
}

/// Once three quarters of the day's CreateMigrateTask calls are used: warned well before RDS
/// refuses (a log follower restores one log per call, all day).
const QUOTA_EARLY_WARNING: usize = 15;

/// Says so when this round brings the day's count to [`QUOTA_EARLY_WARNING`] or more (while it
/// still fits), with what to do.
fn quota_nearly_used(database: &str, pending: usize, recent: Option<usize>) -> Option<String> {
    let after = recent? + pending;
    (QUOTA_EARLY_WARNING..=DAILY_MIGRATIONS_PER_DATABASE)
        .contains(&after)
        .then(|| {
            format!(
                "{after} of the {DAILY_MIGRATIONS_PER_DATABASE} migrations RDS allows a day for \
             {database} will have run in the last 24 hours: before the quota runs out, take a \
             differential backup (it replaces every log since the last one: one call instead \
             of many) and put it in the folder, or space the log backups further apart"
            )
        })
}

/// Each backup of a chain is one CreateMigrateTask call, and RDS allows 20 a day per database:
/// says so when the backups still to restore do not fit in what is left of the day's quota.
/// The last 24 hours are counted, as the batch pre-flight counts them: the docs do not say when
/// RDS's day starts.
fn daily_quota_warning(database: &str, pending: usize, recent: Option<usize>) -> Option<String> {
    let used = recent.unwrap_or(0);
    let left = DAILY_MIGRATIONS_PER_DATABASE.saturating_sub(used);
    if pending <= left {
        return None;
    }
    let counted = match recent {
        Some(0) => String::new(),
        Some(used) => format!("; {used} ran for {database} in the last 24 hours"),
        None => "; the instance's recent migrations could not be counted, so earlier ones \
                 are left out"
            .to_owned(),
    };
    let now = match left {
        0 => "RDS refuses more until some of those are a day old".to_owned(),
        left => format!("about {left} can start now"),
    };
    Some(format!(
        "{pending} backups to restore, but RDS allows {DAILY_MIGRATIONS_PER_DATABASE} migrations \
         per database per day{counted}: {now}. Once RDS answers UploadLimitExceeded, rerun the \
         same command the next day to continue, or take a new differential backup to replace \
         the older logs"
    ))
}

/// Runs or continues an incremental migration.
pub async fn run(
    spec: IncrementalSpec,
    clients: Clients,
    events: mpsc::UnboundedSender<MigrateEvent>,
    counters: Arc<Counters>,
    cancel: CancellationToken,
) -> Result<IncrementalOutcome, MigrateError> {
    let started = std::time::Instant::now();
    let (database, steps, mut state) = match decide(&spec, &clients, &events).await? {
        Decision::Go {
            database,
            steps,
            state,
        } => (database, steps, state),
        Decision::Done(outcome) => return Ok(outcome),
    };
    let job = Job {
        spec: &spec,
        clients: &clients,
        database: &database,
        events: &events,
        counters,
        cancel: &cancel,
    };
    let mut report = IncrementalReport {
        database: database.clone(),
        task_id: String::new(),
        steps: Vec::new(),
        applied_total: 0,
        last_restored: None,
        online: false,
        failure: None,
        task: None,
        after: None,
        elapsed_secs: 0.0,
    };
    restore_steps(&job, &steps, &mut state, &mut report).await?;
    report.task_id = state.state.task_id.clone().unwrap_or_default();
    if report.failure.is_none() && spec.cutover && !state.state.online {
        if cancel.is_cancelled() {
            return Err(interrupted(&spec, &state));
        }
        let (task, failure) = job.cut_over(&report.task_id).await?;
        if failure.is_none() {
            state.state.online = true;
            state.save()?;
        }
        report.task = Some(task);
        report.failure = failure;
    }
    report.online = state.state.online;
    report.applied_total = state.state.steps.iter().filter(|s| s.applied).count();
    report.last_restored = state
        .state
        .point
        .as_ref()
        .and_then(|point| point.last_backup_set_guid)
        .and_then(|guid| state.record(&guid.to_string()))
        .filter(|record| record.applied)
        .map(|record| record.file.clone());
    if report.online && report.failure.is_none() {
        report.after = Some(after_cutover(&spec, &clients, &mut state, &database).await);
    }
    report.elapsed_secs = started.elapsed().as_secs_f64();
    Ok(IncrementalOutcome::Finished(Box::new(report)))
}

/// What to do, decided before anything changes.
enum Decision {
    /// Refused, or a dry run: the outcome is known.
    Done(IncrementalOutcome),
    /// Restore these steps (those already applied are skipped).
    Go {
        database: String,
        steps: Vec<ChainFile>,
        state: Box<StateFile>,
    },
}

/// The chain, the instance and the state agree, or the refusal saying why not.
async fn decide(
    spec: &IncrementalSpec,
    clients: &Clients,
    events: &mpsc::UnboundedSender<MigrateEvent>,
) -> Result<Decision, MigrateError> {
    let refuse = |stage, findings| Ok(Decision::Done(refused(stage, findings)));
    let instance = gather_instance(&clients.rds, &spec.instance_id).await?;
    if instance.instance.is_2008_r2() {
        return refuse("preflight", vec![no_incremental_on_2008_r2(spec)]);
    }
    let database = match target_database(spec, clients).await? {
        Some(database) => database,
        None => {
            let problem = refusal(
                "no-database",
                "no target database name was given",
                "pass --database NAME (or --task ID to continue a migration)",
            );
            return refuse("chain", vec![problem]);
        }
    };
    let mut state = StateFile::open(&spec.state_dir, &spec.instance_id, &database)?;
    let (files, problems) =
        chain::read_chain_files(&spec.files, |path: &Path| SourceFile::open(path));
    if problems
        .iter()
        .any(|p| p.severity == mssql_backup::Severity::Error)
    {
        return refuse("chain", problems.iter().map(problem_of_chain).collect());
    }
    let unfit = unfit_for_target(&files, &instance.instance.engine_version);
    if !unfit.is_empty() {
        return refuse("inspect", unfit);
    }
    reconcile_task(
        spec,
        clients,
        &mut state,
        &database,
        &instance.databases,
        events,
    )
    .await?;
    let plan = match &spec.task_id {
        None => plan_chain(files, &mut state, clients, spec).await?,
        Some(task_id) => plan_continuation(files, &state, task_id, spec),
    };
    let steps = match plan {
        Ok(steps) => {
            for (file, reason) in steps.skipped {
                let _ = events.send(MigrateEvent::FileSkipped { file, reason });
            }
            for note in steps.notes {
                let _ = events.send(note_event(note, spec.following));
            }
            steps.restore
        }
        Err(findings) => return refuse("chain", findings),
    };
    let pending = steps.iter().any(|f| !state.is_applied(&backup_set_of(f)));
    if state.state.online && pending {
        let task = state.state.task_id.clone().unwrap_or_default();
        let problem = refusal(
            "already-online",
            format!(
                "database {database} is already open (task {task} was cut over): RDS restores no \
                 more backups into it"
            ),
            "nothing more to do for this migration; to restore newer backups, migrate them as a \
             new database (another --database name)",
        );
        return refuse("chain", vec![problem]);
    }
    // The full is judged like a one-shot migration's, but only before the task exists: after,
    // the restoring database is the migration's own.
    let mut preflight_report = None;
    if let (None, Some(full)) = (&state.state.task_id, steps.first()) {
        let report = preflight_backup(clients, &instance, &full.info, full.size, &database).await?;
        let _ = events.send(MigrateEvent::Preflight {
            report: Box::new(report.clone()),
        });
        if report.refused() {
            let findings = report.findings.iter().map(problem_of_preflight).collect();
            return refuse("preflight", findings);
        }
        preflight_report = Some(Box::new(report));
    }
    let planned = planned_steps(spec, &steps, &state);
    let pending = planned.iter().filter(|s| !s.applied).count();
    if let Some(message) = quota_warning(clients, spec, &state, &database, pending).await {
        let _ = events.send(MigrateEvent::Warning { message });
    }
    if spec.dry_run {
        return Ok(Decision::Done(IncrementalOutcome::Planned {
            database,
            steps: planned,
            preflight: preflight_report,
        }));
    }
    let _ = events.send(MigrateEvent::ChainPlanned {
        database: database.clone(),
        steps: planned,
    });
    Ok(Decision::Go {
        database,
        steps,
        state: Box::new(state),
    })
}

/// After the cutover: the notes, and `--delete-after`'s deletion of every object the chain
/// uploaded, each recorded before the next.
async fn after_cutover(
    spec: &IncrementalSpec,
    clients: &Clients,
    state: &mut StateFile,
    database: &str,
) -> super::after::AfterRestore {
    let objects = state.state.steps.iter().map(|s| s.object.clone()).collect();
    let mut after = super::after::clean_up(clients, objects, spec.delete_after, &mut |deleted| {
        for step in &mut state.state.steps {
            if step.object.key == deleted.key {
                step.object.deleted = deleted.deleted;
            }
        }
        state.save()
    })
    .await;
    after.accounts = super::after::accounts_note(&spec.instance_id, database);
    after.next_backup = super::after::next_backup_note(clients, &spec.instance_id).await;
    after
}

fn no_incremental_on_2008_r2(spec: &IncrementalSpec) -> Problem {
    refusal(
        "incremental-unsupported",
        format!(
            "instance {} runs SQL Server 2008 R2, where RDS restores only full backups and always \
             opens the database (IsOnlineDB is always True)",
            spec.instance_id
        ),
        "migrate the full backup alone (without --incremental), taken while writes are stopped, \
         or move to an instance of SQL Server 2012 or later",
    )
}

/// `--database`, or with `--task` the database the task restores.
async fn target_database(
    spec: &IncrementalSpec,
    clients: &Clients,
) -> Result<Option<String>, MigrateError> {
    Ok(match (&spec.database, &spec.task_id) {
        (Some(database), _) => Some(database.clone()),
        (None, Some(task_id)) => match clients
            .rds
            .describe_migrate_task_by_id(&spec.instance_id, task_id)
            .await
        {
            Ok(task) => Some(task.db_name),
            Err(error) if error.code() == Some(super::TASK_NOT_FOUND) => {
                return Err(MigrateError::UnknownTask {
                    task_id: task_id.clone(),
                    instance_id: spec.instance_id.clone(),
                });
            }
            Err(error) => return Err(error.into()),
        },
        (None, None) => None,
    })
}

fn planned_steps(
    spec: &IncrementalSpec,
    steps: &[ChainFile],
    state: &StateFile,
) -> Vec<PlannedStep> {
    steps
        .iter()
        .map(|file| PlannedStep {
            file: file.path.clone(),
            backup_type: type_of(file).to_string(),
            first_lsn: lsn_text(file.info.first_lsn),
            last_lsn: lsn_text(file.info.last_lsn),
            key: key_for(spec, file, state),
            applied: state.is_applied(&backup_set_of(file)),
        })
        .collect()
}

/// Restores the steps not yet applied, in order, until one is refused.
async fn restore_steps(
    job: &Job<'_>,
    steps: &[ChainFile],
    state: &mut StateFile,
    report: &mut IncrementalReport,
) -> Result<(), MigrateError> {
    let total = steps.len();
    for (index, file) in steps.iter().enumerate() {
        if state.is_applied(&backup_set_of(file)) {
            continue;
        }
        if job.cancel.is_cancelled() {
            return Err(interrupted(job.spec, state));
        }
        let _ = job.events.send(MigrateEvent::StepStarted {
            step: index + 1,
            of: total,
            file: file.path.clone(),
            backup_type: type_of(file).to_string(),
        });
        match job.apply(file, state).await? {
            StepResult::Applied(step, task) => {
                report.steps.push(step);
                report.task = Some(task);
                let _ = job.events.send(MigrateEvent::StepApplied {
                    step: index + 1,
                    of: total,
                    file: file.path.clone(),
                });
            }
            StepResult::Refused(failure, task) => {
                report.failure = Some(*failure);
                report.task = Some(task);
                return Ok(());
            }
        }
    }
    Ok(())
}

/// The object key of a backup: the one recorded for it, else the prefix, then a safe name with
/// the extension of its type, made unique with the backup set's GUID when another backup of the
/// migration already has that name (logs written to one file name `WITH INIT` every hour).
fn key_for(spec: &IncrementalSpec, file: &ChainFile, state: &StateFile) -> String {
    let backup_set = backup_set_of(file);
    if let Some(record) = state.record(&backup_set) {
        return record.object.key.clone();
    }
    let name = file
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let key = format!(
        "{}{}",
        spec.key_prefix,
        mssql_backup::object_key_for_backup(&name, type_of(file))
    );
    let taken = state
        .state
        .steps
        .iter()
        .any(|r| r.object.key == key && r.backup_set != backup_set);
    if !taken {
        return key;
    }
    let extension = mssql_backup::names::extension_for(type_of(file));
    let stem = key.strip_suffix(extension).unwrap_or(&key);
    let tag: String = backup_set
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(8)
        .collect();
    format!("{stem}_{tag}{extension}")
}

fn interrupted(spec: &IncrementalSpec, state: &StateFile) -> MigrateError {
    let task = state
        .state
        .task_id
        .as_deref()
        .map(|t| format!(" (task {t} keeps what was restored)"))
        .unwrap_or_default();
    MigrateError::Interrupted(format!(
        "interrupted{task}; rerun the same command to continue with the next backup on instance {}",
        spec.instance_id
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_that_fits_what_is_left_of_the_day_gets_no_warning() {
        assert_eq!(daily_quota_warning("Sales", 20, Some(0)), None);
        assert_eq!(daily_quota_warning("Sales", 5, Some(15)), None);
        assert_eq!(daily_quota_warning("Sales", 20, None), None);
    }

    #[test]
    fn earlier_tasks_of_the_database_count_against_the_quota() {
        let message = daily_quota_warning("Sales", 6, Some(15)).unwrap();
        assert!(message.contains("6 backups to restore"), "{message}");
        assert!(
            message.contains("15 ran for Sales in the last 24 hours"),
            "{message}"
        );
        assert!(message.contains("about 5 can start now"), "{message}");
    }

    #[test]
    fn a_spent_quota_and_an_unknown_count_are_both_said() {
        let spent = daily_quota_warning("Sales", 1, Some(20)).unwrap();
        assert!(spent.contains("RDS refuses more until"), "{spent}");
        let unknown = daily_quota_warning("Sales", 21, None).unwrap();
        assert!(unknown.contains("could not be counted"), "{unknown}");
        assert!(unknown.contains("about 20 can start now"), "{unknown}");
    }

    #[test]
    fn the_quota_is_warned_about_well_before_it_runs_out() {
        // A follower restoring one log at a time: quiet until 15 of the 20 are used.
        assert_eq!(quota_nearly_used("Sales", 1, Some(13)), None);
        let early = quota_nearly_used("Sales", 1, Some(14)).unwrap();
        assert!(
            early.contains("15 of the 20") && early.contains("differential backup"),
            "{early}"
        );
        // Past the quota the other warning speaks; unknown counts say nothing early.
        assert_eq!(quota_nearly_used("Sales", 2, Some(19)), None);
        assert_eq!(quota_nearly_used("Sales", 1, None), None);
    }
}

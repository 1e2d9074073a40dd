//! Incremental migration (rds-api.md §1.6): the full backup restored without recovery
//! (`BackupMode=UPDF`, `IsOnlineDB=False`), then each differential and log backup in chain order
//! on the same MigrateTaskId, each watched until RDS waits for the next file; at cutover,
//! CreateOnlineDatabaseTask opens the database.
//!
//! The chain is built and checked locally first ([`crate::bak::chain`]), so a gap is reported
//! before a byte is uploaded, not hours later as an LSN error. A state file per instance and
//! target database records every step (uploaded, submitted, applied) and where the database
//! stands (a [`ChainPoint`]): a rerun resumes at the right step, and log backups added later
//! (the same command with more files, or `--task ID NEWLOG.trn`) are checked against what was
//! applied.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    Clients, MigrateError, MigrateEvent, ObjectTarget, Problem, UploadedObject, host_without_port,
    json_name, problem_of_preflight, still_uploaded, upload_object,
};
use crate::bak::chain::{self, ChainFile, ChainPoint, ChainProblem, ChainProblemKind};
use crate::bak::{self, BackupType, Rules, Verdict};
use crate::durable;
use crate::rds::diagnose::{Diagnosis, diagnose};
use crate::rds::gather::{InstanceSide, find_task_for_object, gather_instance};
use crate::rds::model::{
    BackupMode, CheckDbMode, CreateMigrateTaskRequest, DescribeMigrateTaskByIdResponse,
    OssDownload, RestoreSource, TaskStatus,
};
use crate::rds::preflight::{BucketFacts, PreflightFacts, PreflightReport, preflight, target_of};
use crate::rds::wait::{TaskReport, WaitEvent, WaitOptions, wait_for_task, wait_until};
use crate::source::SourceFile;
use crate::upload::checkpoint::CheckpointStore;
use crate::upload::engine::UploadOptions;
use crate::upload::progress::Counters;

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
    /// The database is open (cutover done).
    pub online: bool,
    /// Set when RDS refused a backup or the cutover.
    pub failure: Option<StepFailure>,
    /// The task at the end.
    pub task: Option<TaskReport>,
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

/// The persisted progress of one incremental migration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    /// BackupSetGUID of the full backup the chain starts from.
    full_backup_set: Option<String>,
    /// MigrateTaskId, once the full was submitted.
    task_id: Option<String>,
    /// Where the database stands after the applied backups.
    point: Option<ChainPoint>,
    /// Every backup submitted or about to be, in order.
    steps: Vec<StepRecord>,
    /// CreateOnlineDatabaseTask succeeded.
    online: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StepRecord {
    /// BackupSetGUID: what identifies a backup whatever its file name.
    backup_set: String,
    file: PathBuf,
    object: UploadedObject,
    /// CreateMigrateTask accepted it.
    submitted: bool,
    /// RDS restored it.
    applied: bool,
}

struct StateFile {
    path: PathBuf,
    state: State,
}

impl StateFile {
    /// One state per instance and target database: RDS allows one restore chain per database.
    fn open(state_dir: &Path, instance_id: &str, database: &str) -> Result<Self, MigrateError> {
        let mut hash = sha2::Sha256::new();
        for part in ["incremental", instance_id, &database.to_lowercase()] {
            hash.update(part.as_bytes());
            hash.update(b"\0");
        }
        let path = state_dir.join(format!(
            "incremental-{}.json",
            hex::encode(&hash.finalize()[..16])
        ));
        let bytes = durable::read_optional(&path)
            .map_err(|e| crate::Error::io("read migration state", &path, e))?;
        let state = match bytes {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| MigrateError::State {
                path: path.clone(),
                reason: e.to_string(),
            })?,
            None => State::default(),
        };
        Ok(StateFile { path, state })
    }

    fn save(&self) -> Result<(), MigrateError> {
        let bytes = serde_json::to_vec_pretty(&self.state)
            .map_err(|e| crate::Error::io("encode migration state", &self.path, e.into()))?;
        durable::write_atomic(&self.path, &bytes)
            .map_err(|e| crate::Error::io("write migration state", &self.path, e).into())
    }

    fn record(&self, backup_set: &str) -> Option<&StepRecord> {
        self.state.steps.iter().find(|r| r.backup_set == backup_set)
    }

    fn record_mut(&mut self, backup_set: &str) -> Option<&mut StepRecord> {
        self.state
            .steps
            .iter_mut()
            .find(|r| r.backup_set == backup_set)
    }

    fn is_applied(&self, backup_set: &str) -> bool {
        self.record(backup_set).is_some_and(|r| r.applied)
    }
}

/// A refusal before anything changed.
fn refused(stage: &'static str, findings: Vec<Problem>) -> IncrementalOutcome {
    IncrementalOutcome::Refused { stage, findings }
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

fn lsn_text(lsn: Option<bak::Lsn>) -> Option<String> {
    lsn.map(|l| l.as_decimal().to_string())
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
    let instance = gather_instance(&clients.rds, &spec.instance_id).await?;
    if instance.instance.is_2008_r2() {
        return Ok(refused(
            "preflight",
            vec![refusal(
                "incremental-unsupported",
                format!(
                    "instance {} runs SQL Server 2008 R2, where RDS restores only full backups \
                     and always opens the database (IsOnlineDB is always True)",
                    spec.instance_id
                ),
                "migrate the full backup alone (without --incremental), taken while writes are \
                 stopped, or move to an instance of SQL Server 2012 or later",
            )],
        ));
    }
    let database = match (&spec.database, &spec.task_id) {
        (Some(database), _) => database.clone(),
        (None, Some(task_id)) => {
            clients
                .rds
                .describe_migrate_task_by_id(&spec.instance_id, task_id)
                .await?
                .db_name
        }
        (None, None) => {
            return Ok(refused(
                "chain",
                vec![refusal(
                    "no-database",
                    "no target database name was given",
                    "pass --database NAME (or --task ID to continue a migration)",
                )],
            ));
        }
    };
    let mut state = StateFile::open(&spec.state_dir, &spec.instance_id, &database)?;

    let (files, problems) = chain::read_chain_files(&spec.files);
    if problems.iter().any(|p| p.severity == bak::Severity::Error) {
        return Ok(refused(
            "chain",
            problems.iter().map(problem_of_chain).collect(),
        ));
    }
    let engine_version = instance.instance.engine_version.clone();
    let unfit = unfit_for_target(&files, &engine_version);
    if !unfit.is_empty() {
        return Ok(refused("inspect", unfit));
    }
    let plan = match &spec.task_id {
        None => plan_chain(files, &mut state, &clients, &spec).await?,
        Some(task_id) => plan_continuation(files, &state, task_id, &spec),
    };
    let steps = match plan {
        Ok(steps) => steps,
        Err(findings) => return Ok(refused("chain", findings)),
    };
    let planned: Vec<PlannedStep> = steps
        .iter()
        .map(|file| PlannedStep {
            file: file.path.clone(),
            backup_type: type_of(file).to_string(),
            first_lsn: lsn_text(file.info.first_lsn),
            last_lsn: lsn_text(file.info.last_lsn),
            key: key_for(&spec, file),
            applied: state.is_applied(&backup_set_of(file)),
        })
        .collect();

    // The full is judged like a one-shot migration's, but only before the task exists: after,
    // the restoring database is the migration's own.
    let mut preflight_report = None;
    if state.state.task_id.is_none() {
        if let Some(full) = steps.first() {
            let report = preflight_full(&clients, &instance, full, &database).await?;
            let _ = events.send(MigrateEvent::Preflight {
                report: Box::new(report.clone()),
            });
            if report.refused() {
                return Ok(refused(
                    "preflight",
                    report.findings.iter().map(problem_of_preflight).collect(),
                ));
            }
            preflight_report = Some(Box::new(report));
        }
    }
    if spec.dry_run {
        return Ok(IncrementalOutcome::Planned {
            database,
            steps: planned,
            preflight: preflight_report,
        });
    }
    let _ = events.send(MigrateEvent::ChainPlanned {
        database: database.clone(),
        steps: planned,
    });

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
        task_id: state.state.task_id.clone().unwrap_or_default(),
        steps: Vec::new(),
        applied_total: 0,
        online: state.state.online,
        failure: None,
        task: None,
        elapsed_secs: 0.0,
    };
    let total = steps.len();
    for (index, file) in steps.iter().enumerate() {
        if state.is_applied(&backup_set_of(file)) {
            continue;
        }
        if cancel.is_cancelled() {
            return Err(interrupted(&spec, &state));
        }
        let _ = events.send(MigrateEvent::StepStarted {
            step: index + 1,
            of: total,
            file: file.path.clone(),
            backup_type: type_of(file).to_string(),
        });
        match job.apply(file, &mut state).await? {
            StepResult::Applied(step, task) => {
                report.steps.push(step);
                report.task = Some(task);
                let _ = events.send(MigrateEvent::StepApplied {
                    step: index + 1,
                    of: total,
                    file: file.path.clone(),
                });
            }
            StepResult::Refused(failure, task) => {
                report.failure = Some(*failure);
                report.task = Some(task);
                break;
            }
        }
    }
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
    report.elapsed_secs = started.elapsed().as_secs_f64();
    Ok(IncrementalOutcome::Finished(Box::new(report)))
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

/// Backups the instance cannot restore at all: written by a newer SQL Server, damaged, striped,
/// password-protected, not database backups. (Their type is the chain's business, not this.)
fn unfit_for_target(files: &[ChainFile], engine_version: &str) -> Vec<Problem> {
    let rules = Rules {
        target_version: target_of(engine_version),
        ..Rules::default()
    };
    let mut unfit = Vec::new();
    for file in files {
        let report = match SourceFile::open(&file.path) {
            Ok(source) => bak::examine(source.bytes(), &rules),
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
                    .filter(|f| f.severity == bak::Severity::Error)
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

type Plan = Result<Vec<ChainFile>, Vec<Problem>>;

/// The chain of the given files, checked against what an earlier run already applied.
async fn plan_chain(
    files: Vec<ChainFile>,
    state: &mut StateFile,
    clients: &Clients,
    spec: &IncrementalSpec,
) -> Result<Plan, MigrateError> {
    let report = chain::build_chains(files);
    if !report.is_clean() {
        return Ok(Err(report.problems.iter().map(problem_of_chain).collect()));
    }
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
    Ok(against_state(steps, state).map_err(|problem| vec![problem_of_chain(&problem)]))
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
fn against_state(steps: Vec<ChainFile>, state: &StateFile) -> Result<Vec<ChainFile>, ChainProblem> {
    let Some(mut point) = state.state.point.clone() else {
        return Ok(steps);
    };
    let mut kept = Vec::with_capacity(steps.len());
    for file in steps {
        let done = state.is_applied(&backup_set_of(&file)) || type_of(&file) == BackupType::Full;
        if !done {
            match point.apply(&file.info, &file.path) {
                Ok(next) => point = next,
                Err(problem) if problem.kind == ChainProblemKind::AlreadyCovered => continue,
                Err(problem) => return Err(problem),
            }
        }
        kept.push(file);
    }
    Ok(kept)
}

/// `--task ID FILES`: the next backups of a migration this machine started.
fn plan_continuation(
    mut files: Vec<ChainFile>,
    state: &StateFile,
    task_id: &str,
    spec: &IncrementalSpec,
) -> Plan {
    if state.state.task_id.as_deref() != Some(task_id) || state.state.point.is_none() {
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
    files.retain(|f| !state.is_applied(&backup_set_of(f)));
    against_state(files, state).map_err(|problem| vec![problem_of_chain(&problem)])
}

fn key_for(spec: &IncrementalSpec, file: &ChainFile) -> String {
    let name = file
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(
        "{}{}",
        spec.key_prefix,
        bak::object_key_for_backup(&name, type_of(file))
    )
}

async fn preflight_full(
    clients: &Clients,
    instance: &InstanceSide,
    full: &ChainFile,
    database: &str,
) -> Result<PreflightReport, MigrateError> {
    let bucket = clients.oss.get_bucket_info().await?;
    let facts = PreflightFacts {
        instance: instance.instance.clone(),
        databases: instance.databases.clone(),
        accounts: instance.accounts.clone(),
        bucket: Some(BucketFacts {
            name: bucket.name,
            region: bucket.region,
            storage_class: bucket.storage_class,
            server_side_encryption: bucket.server_side_encryption,
        }),
        backup: super::backup_facts(&full.info, full.size),
        target_database: database.to_owned(),
    };
    Ok(preflight(&facts))
}

/// What one backup came to.
enum StepResult {
    Applied(StepReport, TaskReport),
    Refused(Box<StepFailure>, TaskReport),
}

/// The per-run context of the steps.
struct Job<'a> {
    spec: &'a IncrementalSpec,
    clients: &'a Clients,
    database: &'a str,
    events: &'a mpsc::UnboundedSender<MigrateEvent>,
    counters: Arc<Counters>,
    cancel: &'a CancellationToken,
}

impl Job<'_> {
    /// Uploads, submits and watches one backup; records each stage in the state.
    async fn apply(
        &self,
        file: &ChainFile,
        state: &mut StateFile,
    ) -> Result<StepResult, MigrateError> {
        let backup_set = backup_set_of(file);
        let key = key_for(self.spec, file);
        let (object, uploaded) = self.ensure_uploaded(file, &key, &backup_set, state).await?;
        if self.cancel.is_cancelled() {
            return Err(interrupted(self.spec, state));
        }
        let submitted = state.record(&backup_set).is_some_and(|r| r.submitted)
            || self.submitted_before(&object, state).await?;
        if !submitted {
            self.submit(&key, state).await?;
        }
        if let Some(record) = state.record_mut(&backup_set) {
            record.submitted = true;
        }
        state.save()?;
        let task_id = state.state.task_id.clone().unwrap_or_default();
        let (task, file_entry) = self.watch_step(&task_id, &key).await?;
        let failure = step_failure(&task, file_entry.as_ref(), &file.path, self.spec);
        if let Some(failure) = failure {
            // Resubmitted by the next run, once the user has fixed the chain.
            if let Some(record) = state.record_mut(&backup_set) {
                record.submitted = false;
            }
            state.save()?;
            return Ok(StepResult::Refused(Box::new(failure), task));
        }
        let point = match &state.state.point {
            None => ChainPoint::after_full(&file.info),
            Some(point) => point.apply(&file.info, &file.path),
        };
        state.state.point = Some(point.map_err(|problem| {
            MigrateError::Interrupted(format!(
                "RDS restored {} but the local chain check disagrees: {} — {}",
                file.path.display(),
                problem.message,
                problem.fix
            ))
        })?);
        if let Some(record) = state.record_mut(&backup_set) {
            record.applied = true;
        }
        state.save()?;
        Ok(StepResult::Applied(
            StepReport {
                file: file.path.clone(),
                object: object.name(),
                backup_type: type_of(file).to_string(),
                size: object.size,
                uploaded,
            },
            task,
        ))
    }

    async fn ensure_uploaded(
        &self,
        file: &ChainFile,
        key: &str,
        backup_set: &str,
        state: &mut StateFile,
    ) -> Result<(UploadedObject, bool), MigrateError> {
        if let Some(record) = state.record(backup_set) {
            if record.object.key == key
                && record.object.bucket == self.spec.bucket
                && still_uploaded(self.clients, &record.object).await?
            {
                let _ = self.events.send(MigrateEvent::UploadSkipped {
                    object: record.object.name(),
                });
                return Ok((record.object.clone(), false));
            }
        }
        let source = Arc::new(SourceFile::open(&file.path)?);
        self.counters.reset();
        let target = ObjectTarget {
            bucket: &self.spec.bucket,
            key,
            checkpoints: &self.spec.checkpoints,
            options: &self.spec.upload,
        };
        let (object, _) = upload_object(
            self.clients,
            &source,
            target,
            self.events,
            Arc::clone(&self.counters),
            self.cancel.clone(),
        )
        .await?;
        let record = StepRecord {
            backup_set: backup_set.to_owned(),
            file: file.path.clone(),
            object: object.clone(),
            submitted: false,
            applied: false,
        };
        state.state.steps.retain(|r| r.backup_set != backup_set);
        state.state.steps.push(record);
        state.save()?;
        Ok((object, true))
    }

    /// After a crash between CreateMigrateTask and the state write, the task (first step) or
    /// the task's file list (later steps) shows whether the backup was already submitted.
    async fn submitted_before(
        &self,
        object: &UploadedObject,
        state: &mut StateFile,
    ) -> Result<bool, MigrateError> {
        match state.state.task_id.clone() {
            None => {
                let since = time::OffsetDateTime::from_unix_timestamp(object.uploaded_unix - 60)
                    .unwrap_or_else(|_| time::OffsetDateTime::now_utc() - time::Duration::days(7));
                let found = find_task_for_object(
                    &self.clients.rds,
                    &self.spec.instance_id,
                    self.database,
                    &object.key,
                    since,
                )
                .await?;
                Ok(match found {
                    Some(task) if task.status != TaskStatus::Failed => {
                        state.state.task_id = Some(task.migrate_task_id);
                        state.save()?;
                        true
                    }
                    _ => false,
                })
            }
            Some(task_id) => {
                let files = self
                    .clients
                    .rds
                    .describe_oss_downloads(&self.spec.instance_id, &task_id)
                    .await?;
                Ok(files
                    .items
                    .oss_download
                    .iter()
                    .any(|f| names_object(f, &object.key) && !file_failed(f)))
            }
        }
    }

    /// CreateMigrateTask(UPDF, IsOnlineDB=False): the first backup opens the task, the next ones
    /// join it.
    async fn submit(&self, key: &str, state: &mut StateFile) -> Result<(), MigrateError> {
        let request = CreateMigrateTaskRequest {
            db_instance_id: self.spec.instance_id.clone(),
            db_name: self.database.to_owned(),
            backup_mode: BackupMode::Incremental,
            is_online_db: false,
            check_db_mode: None,
            source: RestoreSource::OssObject {
                endpoint: host_without_port(self.clients.oss.endpoint().authority()).to_string(),
                bucket: self.spec.bucket.clone(),
                key: key.to_owned(),
            },
            migrate_task_id: state.state.task_id.clone(),
        };
        let created = self.clients.rds.create_migrate_task(&request).await?;
        let first = state.state.task_id.is_none();
        if first {
            state.state.task_id = Some(created.migrate_task_id.clone());
        }
        state.save()?;
        if first {
            let _ = self.events.send(MigrateEvent::TaskCreated {
                task_id: created.migrate_task_id.clone(),
            });
        }
        let _ = self.events.send(MigrateEvent::StepSubmitted {
            task_id: created.migrate_task_id,
            key: key.to_owned(),
        });
        Ok(())
    }

    /// Watches until RDS has restored (or refused) `key` and waits for the next file.
    async fn watch_step(
        &self,
        task_id: &str,
        key: &str,
    ) -> Result<(TaskReport, Option<OssDownload>), MigrateError> {
        let mut seen_busy = false;
        let settled = |task: &DescribeMigrateTaskByIdResponse, files: &[OssDownload]| {
            seen_busy |= matches!(task.status, TaskStatus::Running | TaskStatus::NoStart);
            match task.status {
                TaskStatus::Success | TaskStatus::Failed => true,
                TaskStatus::Waiting => match files.iter().find(|f| names_object(f, key)) {
                    Some(entry) => file_settled(entry),
                    // No per-file detail on this edition: the status alone must have moved.
                    None => files.is_empty() && seen_busy,
                },
                _ => false,
            }
        };
        let watching = wait_until(
            &self.clients.rds,
            &self.spec.instance_id,
            task_id,
            self.spec.wait,
            settled,
            forward_status(self.events),
        );
        let task = tokio::select! {
            task = watching => task?,
            _ = self.cancel.cancelled() => {
                return Err(MigrateError::Interrupted(format!(
                    "stopped watching; task {task_id} keeps restoring {key} on RDS: rerun the \
                     same command to follow it and continue"
                )));
            }
        };
        let entry = task.files.iter().find(|f| names_object(f, key)).cloned();
        Ok((task, entry))
    }

    /// CreateOnlineDatabaseTask, then watch until the database is open.
    async fn cut_over(
        &self,
        task_id: &str,
    ) -> Result<(TaskReport, Option<StepFailure>), MigrateError> {
        let _ = self.events.send(MigrateEvent::CutoverStarted {
            task_id: task_id.to_owned(),
        });
        cut_over(
            &self.clients.rds,
            &self.spec.instance_id,
            self.database,
            task_id,
            self.spec.check_db,
            self.spec.wait,
            self.events,
            self.cancel,
        )
        .await
    }
}

/// Opens a database restored by an incremental migration: CreateOnlineDatabaseTask unless the
/// task is already past it, then watch to the end. Shared by `migrate --cutover` and
/// `bak2rds cutover`.
#[allow(clippy::too_many_arguments)]
pub async fn cut_over(
    rds: &crate::rds::client::RdsClient,
    instance_id: &str,
    database: &str,
    task_id: &str,
    check_db: CheckDbMode,
    wait: WaitOptions,
    events: &mpsc::UnboundedSender<MigrateEvent>,
    cancel: &CancellationToken,
) -> Result<(TaskReport, Option<StepFailure>), MigrateError> {
    let task = rds
        .describe_migrate_task_by_id(instance_id, task_id)
        .await?;
    // Running: a cutover of an earlier run (crashed before it saw the answer) is under way.
    if task.status == TaskStatus::Waiting {
        rds.create_online_database_task(instance_id, database, task_id, check_db)
            .await?;
    }
    let watching = wait_for_task(rds, instance_id, task_id, wait, forward_status(events));
    let task = tokio::select! {
        task = watching => task?,
        _ = cancel.cancelled() => {
            return Err(MigrateError::Interrupted(format!(
                "stopped watching; the cutover of task {task_id} keeps running on RDS: follow \
                 it with `bak2rds watch {task_id} --instance {instance_id}`"
            )));
        }
    };
    let failure = (!task.succeeded()).then(|| StepFailure {
        file: None,
        description: task.description.clone(),
        diagnosis: task.diagnosis.clone(),
        fix: task
            .diagnosis
            .as_ref()
            .map(|d| d.fix.to_owned())
            .unwrap_or_else(|| {
                "read the Description; the restored data stays on the instance until the \
                 database is dropped"
                    .to_owned()
            }),
    });
    Ok((task, failure))
}

fn forward_status(events: &mpsc::UnboundedSender<MigrateEvent>) -> impl FnMut(WaitEvent) + use<> {
    let events = events.clone();
    move |event| {
        if let WaitEvent::Status {
            status,
            description,
        } = event
        {
            let _ = events.send(MigrateEvent::TaskStatus {
                status: status.to_string(),
                description,
            });
        }
    }
}

/// Whether a DescribeOssDownloads entry is this object (RDS may list the key with a leading `/`
/// or only its file name).
fn names_object(entry: &OssDownload, key: &str) -> bool {
    let listed = entry.file_name.trim_start_matches('/');
    let key = key.trim_start_matches('/');
    listed == key || key.rsplit('/').next() == Some(listed)
}

/// Per-file statuses after which nothing more happens to the file (§1.5).
fn file_settled(entry: &OssDownload) -> bool {
    entry.status == "Restored" || file_failed(entry)
}

fn file_failed(entry: &OssDownload) -> bool {
    matches!(
        entry.status.as_str(),
        "RestoreFailed" | "DownloadFailed" | "VerifyFailed" | "CheckFailed"
    )
}

/// The refusal of a step: the task failed, or RDS marked this file failed.
fn step_failure(
    task: &TaskReport,
    entry: Option<&OssDownload>,
    file: &Path,
    spec: &IncrementalSpec,
) -> Option<StepFailure> {
    let description = match (entry, &task.status) {
        (Some(entry), _) if file_failed(entry) => entry.description.clone(),
        (_, TaskStatus::Failed) => task.description.clone(),
        _ => return None,
    };
    let diagnosis = diagnose(&description);
    let fix = match &diagnosis {
        Some(diagnosis) => diagnosis.fix.to_owned(),
        None if task.status == TaskStatus::Failed => format!(
            "the task failed; start the incremental migration again from the full backup (delete \
             the state in {})",
            spec.state_dir.display()
        ),
        None => "read the Description, fix the backup chain and rerun the same command".to_owned(),
    };
    Some(StepFailure {
        file: Some(file.to_path_buf()),
        description,
        diagnosis,
        fix,
    })
}

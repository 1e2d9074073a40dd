//! Instance-level migration of many databases: one [`crate::migrate::run`] per database, at
//! most `parallel` at a time, all sharing one bandwidth cap and one cancellation token.
//!
//! Before anything starts, a batch pre-flight ([`preflight`]) judges what single jobs cannot:
//! duplicate names, the total space, the database count and the daily quotas. After that, one
//! database's refusal, failure or error never stops the others (the complaint about batch
//! restores in rds-api.md §4.2). Each database keeps its own state file, so rerunning the same
//! batch resumes it, and finished databases are only reported.
//!
//! Prints nothing: sends [`BatchEvent`]s and returns a [`BatchReport`].

pub mod plan;
pub mod preflight;

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::migrate::{
    self, Clients, MigrateError, MigrateEvent, MigrateOutcome, MigrateSpec, Problem,
};
use crate::upload::checkpoint::CheckpointStore;
use crate::upload::engine::UploadOptions;
use crate::upload::progress::Counters;
use bak2rds_cloud::rds::client::RdsClient;
use bak2rds_cloud::rds::diagnose::Cause;
use bak2rds_cloud::rds::error::RdsError;
use bak2rds_cloud::rds::gather::gather_instance;
use bak2rds_cloud::rds::model::CheckDbMode;
use bak2rds_cloud::rds::quota::recent_migrations;
use bak2rds_cloud::rds::wait::WaitOptions;

pub use plan::{BatchEntry, EntryFacts, Plan, PlanError, Skipped};

/// Databases migrated at once unless told otherwise: two keep the uplink busy while one waits
/// for its restore, without piling many concurrent restores onto the instance.
pub const DEFAULT_PARALLEL: usize = 2;

/// What to migrate where, and how.
#[derive(Debug, Clone)]
pub struct BatchSpec {
    /// RDS instance ID.
    pub instance_id: String,
    /// Bucket (in the instance's region).
    pub bucket: String,
    /// The databases.
    pub entries: Vec<BatchEntry>,
    /// Folder files left out, reported as they are.
    pub skipped: Vec<Skipped>,
    /// Databases at once (at least 1).
    pub parallel: usize,
    /// CheckDBMode of every task.
    pub check_db: CheckDbMode,
    /// Inspect and pre-flight only; change nothing.
    pub dry_run: bool,
    /// Rehearsal: run despite pre-flight refusals (the batch's and each database's).
    pub skip_preflight: bool,
    /// Delete each database's uploaded object once it is online.
    pub delete_after: bool,
    /// Upload tuning of each database; its limiter, if any, is shared by the whole batch.
    pub upload: UploadOptions,
    /// Upload checkpoints.
    pub checkpoints: CheckpointStore,
    /// Migration state files.
    pub state_dir: PathBuf,
    /// Polling of the tasks.
    pub wait: WaitOptions,
}

/// What the batch reports as it goes.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BatchEvent {
    /// A folder file is not part of the batch.
    #[serde(rename = "batch_skipped")]
    Skipped {
        /// The file and why.
        skipped: Skipped,
    },
    /// The batch pre-flight's findings (only sent when there are some).
    #[serde(rename = "batch_preflight")]
    Preflight {
        /// Refusals first.
        findings: Vec<Problem>,
    },
    /// A database's migration started.
    #[serde(rename = "database_started")]
    Started {
        /// Database name.
        database: String,
        /// The local file.
        file: PathBuf,
        /// `oss://bucket/key`.
        object: String,
    },
    /// Something happened in one database's migration.
    Database {
        /// Database name.
        database: String,
        /// The migration's own event.
        migrate: MigrateEvent,
    },
    /// A database's migration ended.
    #[serde(rename = "database_ended")]
    Ended {
        /// Its row of the summary.
        result: DatabaseResult,
    },
}

/// How one database ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Online on the instance (possibly with a warning, possibly by an earlier run).
    Success,
    /// `--dry-run`: everything checked, nothing changed.
    Planned,
    /// The restore task failed; the fix comes from its Description.
    Failed,
    /// Inspect or pre-flight said no; nothing was uploaded for it.
    Refused,
    /// I/O, network or service error; rerunning resumes it.
    Error,
    /// Stopped by Ctrl-C (or never started because of it).
    Interrupted,
}

impl Outcome {
    /// The name shown in the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "Success",
            Outcome::Planned => "Planned",
            Outcome::Failed => "Failed",
            Outcome::Refused => "Refused",
            Outcome::Error => "Error",
            Outcome::Interrupted => "Interrupted",
        }
    }
}

/// One row of the summary.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseResult {
    /// Database name.
    pub database: String,
    /// The local file.
    pub file: PathBuf,
    /// `oss://bucket/key`.
    pub object: String,
    /// Size of the `.bak`, when known.
    pub size: Option<u64>,
    /// This run's upload rate in bytes/s, when it uploaded.
    pub upload_bytes_per_sec: Option<f64>,
    /// The restore task, once created.
    pub task_id: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// An earlier run had already migrated it: this run only reported it.
    pub already_migrated: bool,
    /// What happened: the task's Description, the refusal or the error.
    pub detail: String,
    /// What to do: the diagnosis's fix, the first refusal's fix, or how to resume.
    pub fix: Option<String>,
    /// The full outcome of the migration, when it ran to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration: Option<MigrateOutcome>,
}

/// How the batch ended.
#[derive(Debug, Clone, Serialize)]
pub struct BatchReport {
    /// Instance ID.
    pub instance_id: String,
    /// Bucket.
    pub bucket: String,
    /// Folder files left out.
    pub skipped: Vec<Skipped>,
    /// The batch pre-flight's findings.
    pub preflight: Vec<Problem>,
    /// The batch pre-flight refused: no database was started.
    pub refused: bool,
    /// One row per database, in plan order (empty when refused).
    pub databases: Vec<DatabaseResult>,
    /// Wall time, seconds.
    pub elapsed_secs: f64,
}

impl BatchReport {
    /// Every database is online (or, for a dry run, planned).
    pub fn all_succeeded(&self) -> bool {
        !self.refused
            && self
                .databases
                .iter()
                .all(|d| matches!(d.outcome, Outcome::Success | Outcome::Planned))
    }

    /// Some database stopped on an error or an interruption (not a refusal or a failed task).
    pub fn any_error(&self) -> bool {
        self.databases
            .iter()
            .any(|d| matches!(d.outcome, Outcome::Error | Outcome::Interrupted))
    }
}

/// Live byte counts of every database's upload (one [`Counters`] each: the engine sets them
/// absolutely on resume, so they cannot be shared).
#[derive(Debug, Default)]
pub struct BatchProgress {
    counters: Vec<Arc<Counters>>,
}

impl BatchProgress {
    /// Counters for `databases` databases.
    pub fn new(databases: usize) -> Self {
        BatchProgress {
            counters: (0..databases).map(|_| Arc::default()).collect(),
        }
    }

    /// Bytes acknowledged so far, over all databases (resumed parts included).
    pub fn bytes(&self) -> u64 {
        self.counters
            .iter()
            .map(|c| c.snapshot().bytes)
            .fold(0, u64::saturating_add)
    }

    fn of(&self, index: usize) -> Arc<Counters> {
        self.counters.get(index).cloned().unwrap_or_default()
    }
}

/// Why the batch could not start (as opposed to a refusal, or one database's trouble).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// Reading the instance's facts for the batch pre-flight failed.
    #[error("batch pre-flight: {0}")]
    Rds(#[from] RdsError),
}

/// Runs the batch: pre-flight, then every database.
pub async fn run(
    spec: BatchSpec,
    clients: Clients,
    events: mpsc::UnboundedSender<BatchEvent>,
    progress: Arc<BatchProgress>,
    cancel: CancellationToken,
) -> Result<BatchReport, BatchError> {
    let started = std::time::Instant::now();
    for skipped in &spec.skipped {
        let _ = events.send(BatchEvent::Skipped {
            skipped: skipped.clone(),
        });
    }
    let findings = batch_preflight(&spec, &clients.rds).await?;
    if !findings.is_empty() {
        let _ = events.send(BatchEvent::Preflight {
            findings: findings.clone(),
        });
    }
    let refused = !spec.skip_preflight && findings.iter().any(|p| p.severity == "refuse");
    let databases = if refused {
        Vec::new()
    } else {
        run_all(&spec, &clients, &events, &progress, &cancel).await
    };
    Ok(BatchReport {
        instance_id: spec.instance_id,
        bucket: spec.bucket,
        skipped: spec.skipped,
        preflight: findings,
        refused,
        databases,
        elapsed_secs: started.elapsed().as_secs_f64(),
    })
}

async fn batch_preflight(spec: &BatchSpec, rds: &RdsClient) -> Result<Vec<Problem>, RdsError> {
    let (instance, recent) = tokio::join!(
        gather_instance(rds, &spec.instance_id),
        recent_migrations(rds, &spec.instance_id)
    );
    let instance = instance?;
    let recent = recent
        // Reported as the `daily_quota_unknown` finding; the detail is for -v.
        .inspect_err(|error| tracing::debug!(%error, "could not count the last day's migrations"))
        .ok();
    Ok(preflight::check(&preflight::BatchFacts {
        entries: &spec.entries,
        instance: &instance.instance,
        databases: &instance.databases,
        recent_tasks: recent.as_deref(),
    }))
}

/// Runs every database, at most `parallel` at a time, in plan order; results in plan order.
async fn run_all(
    spec: &BatchSpec,
    clients: &Clients,
    events: &mpsc::UnboundedSender<BatchEvent>,
    progress: &Arc<BatchProgress>,
    cancel: &CancellationToken,
) -> Vec<DatabaseResult> {
    // Tokio's semaphore is fair: databases start in plan order as slots free up.
    let slots = Arc::new(Semaphore::new(spec.parallel.max(1)));
    let handles: Vec<_> = spec
        .entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let job = Job {
                spec: migrate_spec(spec, entry),
                entry: entry.clone(),
                clients: clients.clone(),
                events: events.clone(),
                counters: progress.of(index),
                cancel: cancel.clone(),
            };
            let slots = Arc::clone(&slots);
            tokio::spawn(async move {
                let permit = tokio::select! {
                    permit = slots.acquire_owned() => permit.ok(),
                    _ = job.cancel.cancelled() => None,
                };
                match permit {
                    Some(_permit) if !job.cancel.is_cancelled() => job.run().await,
                    _ => not_started(&job.entry, &job.spec),
                }
            })
        })
        .collect();
    let mut results = Vec::with_capacity(handles.len());
    for (handle, entry) in handles.into_iter().zip(&spec.entries) {
        results.push(match handle.await {
            Ok(result) => result,
            Err(error) => DatabaseResult {
                detail: format!("the migration task stopped abnormally: {error}"),
                fix: Some(
                    "This is a bak2rds bug; rerun the batch to resume, and report it.".into(),
                ),
                ..row(entry, &object_of(spec, entry), Outcome::Error)
            },
        });
    }
    results
}

fn migrate_spec(spec: &BatchSpec, entry: &BatchEntry) -> MigrateSpec {
    MigrateSpec {
        file: entry.file.clone(),
        instance_id: spec.instance_id.clone(),
        database: entry.database.clone(),
        bucket: spec.bucket.clone(),
        key: entry.key.clone(),
        check_db: spec.check_db,
        dry_run: spec.dry_run,
        skip_preflight: spec.skip_preflight,
        delete_after: spec.delete_after,
        // The limiter inside is an `Arc`: every database draws from the same cap.
        upload: spec.upload.clone(),
        checkpoints: spec.checkpoints.clone(),
        state_dir: spec.state_dir.clone(),
        wait: spec.wait,
    }
}

fn object_of(spec: &BatchSpec, entry: &BatchEntry) -> String {
    format!("oss://{}/{}", spec.bucket, entry.key)
}

/// One database's migration, owned by its task.
struct Job {
    spec: MigrateSpec,
    entry: BatchEntry,
    clients: Clients,
    events: mpsc::UnboundedSender<BatchEvent>,
    counters: Arc<Counters>,
    cancel: CancellationToken,
}

impl Job {
    async fn run(self) -> DatabaseResult {
        let object = self.spec.object_name();
        let result = match &self.entry.problem {
            Some(problem) => DatabaseResult {
                detail: problem.message.clone(),
                fix: Some(problem.fix.clone()),
                ..row(&self.entry, &object, Outcome::Refused)
            },
            None => self.migrate(&object).await,
        };
        let _ = self.events.send(BatchEvent::Ended {
            result: result.clone(),
        });
        result
    }

    async fn migrate(&self, object: &str) -> DatabaseResult {
        let database = self.entry.database.clone();
        let _ = self.events.send(BatchEvent::Started {
            database: database.clone(),
            file: self.entry.file.clone(),
            object: object.to_owned(),
        });
        let (sender, mut received) = mpsc::unbounded_channel();
        let forward = {
            let events = self.events.clone();
            tokio::spawn(async move {
                while let Some(migrate) = received.recv().await {
                    let _ = events.send(BatchEvent::Database {
                        database: database.clone(),
                        migrate,
                    });
                }
            })
        };
        let outcome = migrate::run(
            self.spec.clone(),
            self.clients.clone(),
            sender,
            Arc::clone(&self.counters),
            self.cancel.clone(),
        )
        .await;
        let _ = forward.await;
        // Ctrl-C stops an upload with the upload's own error: still an interruption.
        let outcome = match outcome {
            Err(error) if self.cancel.is_cancelled() => {
                Err(MigrateError::Interrupted(error_chain(&error)))
            }
            other => other,
        };
        result_of(&self.entry, object, outcome)
    }
}

/// A row with nothing known yet beyond the plan.
fn row(entry: &BatchEntry, object: &str, outcome: Outcome) -> DatabaseResult {
    DatabaseResult {
        database: entry.database.clone(),
        file: entry.file.clone(),
        object: object.to_owned(),
        size: entry.facts.as_ref().map(|f| f.file_bytes),
        upload_bytes_per_sec: None,
        task_id: None,
        outcome,
        already_migrated: false,
        detail: String::new(),
        fix: None,
        migration: None,
    }
}

fn not_started(entry: &BatchEntry, spec: &MigrateSpec) -> DatabaseResult {
    DatabaseResult {
        detail: "not started: the batch was interrupted".into(),
        fix: Some("Rerun the same batch to continue.".into()),
        ..row(entry, &spec.object_name(), Outcome::Interrupted)
    }
}

fn result_of(
    entry: &BatchEntry,
    object: &str,
    outcome: Result<MigrateOutcome, MigrateError>,
) -> DatabaseResult {
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(MigrateError::Interrupted(message)) => {
            return DatabaseResult {
                detail: message,
                fix: Some("Rerun the same batch to continue where it stopped.".into()),
                ..row(entry, object, Outcome::Interrupted)
            };
        }
        Err(error) => {
            return DatabaseResult {
                detail: error_chain(&error),
                fix: Some(
                    "Rerun the same batch once the cause is fixed: finished uploads and tasks \
                     are not repeated."
                        .into(),
                ),
                ..row(entry, object, Outcome::Error)
            };
        }
    };
    let mut result = match &outcome {
        MigrateOutcome::Refused { stage, findings } => {
            let first = findings
                .iter()
                .find(|f| matches!(f.severity.as_str(), "error" | "refuse"))
                .or_else(|| findings.first());
            DatabaseResult {
                detail: first.map_or_else(
                    || format!("refused at {stage}"),
                    |f| format!("refused at {stage}: {}", f.message),
                ),
                fix: first.map(|f| in_plan_words(&f.fix)),
                ..row(entry, object, Outcome::Refused)
            }
        }
        MigrateOutcome::Planned { .. } => row(entry, object, Outcome::Planned),
        MigrateOutcome::Finished(report) => finished_row(entry, report),
    };
    result.migration = Some(outcome);
    result
}

/// A single migration's fix names `--database`; in a batch the name is the plan's.
fn in_plan_words(fix: &str) -> String {
    fix.replace("--database", "name = \"...\" in its [[database]] table")
}

fn finished_row(entry: &BatchEntry, report: &migrate::MigrateReport) -> DatabaseResult {
    let rate = report
        .upload
        .as_ref()
        .filter(|u| !u.already_uploaded && u.elapsed_ms > 0)
        .map(|u| u.transferred_bytes as f64 / (u.elapsed_ms as f64 / 1000.0));
    let diagnosis = report.task.diagnosis.as_ref();
    DatabaseResult {
        size: Some(report.size),
        upload_bytes_per_sec: rate,
        task_id: Some(report.task.task_id.clone()),
        already_migrated: report.already_migrated,
        detail: report.task.description.clone(),
        // A clean asynchronous CHECKDB is diagnosed too, with nothing to fix.
        fix: diagnosis
            .filter(|d| d.cause != Cause::AsyncCheckDbPassed)
            .map(|d| d.fix.to_owned()),
        ..row(
            entry,
            &report.object,
            if report.succeeded() {
                Outcome::Success
            } else {
                Outcome::Failed
            },
        )
    }
}

/// An error and its causes on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // `transparent` wrappers repeat their source's message.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

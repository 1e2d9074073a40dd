//! The whole job: inspect → pre-flight → upload → CreateMigrateTask → watch, resumable.
//!
//! The only module that uses `bak`, `upload`, `oss` and `rds` together. It prints nothing: it
//! sends [`MigrateEvent`]s and returns a [`MigrateOutcome`]. A small state file (one per file,
//! instance and database, written atomically) records how far the job got, so rerunning the same
//! command after a crash resumes at the right step: a finished upload is not repeated, and a task
//! already created is attached to, never created twice.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::durable;
use crate::source::{FileIdentity, SourceFile};
use crate::upload::checkpoint::CheckpointStore;
use crate::upload::engine::{self, UploadJob, UploadOptions, UploadReport};
use crate::upload::error::UploadError;
use crate::upload::progress::{Counters, UploadEvent};
use bak2rds_cloud::oss::{OssClient, OssError};
use bak2rds_cloud::ram::RamClient;
use bak2rds_cloud::rds::client::RdsClient;
use bak2rds_cloud::rds::error::RdsError;
use bak2rds_cloud::rds::gather::{InstanceSide, find_task_for_object, gather_instance};
use bak2rds_cloud::rds::model::{
    BackupMode, CheckDbMode, CreateMigrateTaskRequest, RestoreSource, TaskStatus,
};
use bak2rds_cloud::rds::preflight::{
    BackupFacts, BucketFacts, ImportRole, PreflightFacts, PreflightReport, RestoreMethod,
    preflight, target_of,
};
use bak2rds_cloud::rds::wait::{TaskReport, WaitEvent, WaitOptions, wait_for_task};
use mssql_backup::{BackupInfo, Rules};

pub mod after;
pub mod following;
pub mod incremental;

/// What to migrate where.
#[derive(Debug, Clone)]
pub struct MigrateSpec {
    /// The local `.bak`.
    pub file: PathBuf,
    /// RDS instance ID.
    pub instance_id: String,
    /// Database name to restore as.
    pub database: String,
    /// Bucket (in the instance's region).
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// CheckDBMode of the task.
    pub check_db: CheckDbMode,
    /// Inspect and pre-flight only; change nothing.
    pub dry_run: bool,
    /// Let RDS judge what pre-flight would refuse (rehearsing RDS's own messages).
    pub skip_preflight: bool,
    /// Delete the uploaded object once the database is online (never before, never on failure,
    /// never an object this migration did not upload).
    pub delete_after: bool,
    /// Upload tuning.
    pub upload: UploadOptions,
    /// Upload checkpoints.
    pub checkpoints: CheckpointStore,
    /// Where migration state files live.
    pub state_dir: PathBuf,
    /// Polling of the task.
    pub wait: WaitOptions,
}

impl MigrateSpec {
    /// `oss://bucket/key`.
    pub fn object_name(&self) -> String {
        format!("oss://{}/{}", self.bucket, self.key)
    }
}

/// The services the job talks to.
#[derive(Debug, Clone)]
pub struct Clients {
    /// OSS, for the bucket of [`MigrateSpec::bucket`].
    pub oss: OssClient,
    /// OSS client whose presigned URLs RDS can download from (the region's internal endpoint
    /// for real OSS); used only for SQL Server 2008 R2 on local SSD.
    pub oss_for_rds: OssClient,
    /// RDS OpenAPI.
    pub rds: RdsClient,
    /// RAM, to check that RDS may read OSS (`AliyunRDSImportRole`); `None` skips the check
    /// (a rehearsal without a RAM endpoint).
    pub ram: Option<RamClient>,
}

impl Clients {
    /// Clients of one OSS endpoint, which RDS downloads from too, and one RDS endpoint, both
    /// signed with one key: a rehearsal on `bak2rds serve`, the demo, the tests.
    pub fn one_endpoint(
        oss: bak2rds_cloud::oss::OssConfig,
        rds: bak2rds_cloud::rds::RdsClientConfig,
        credentials: bak2rds_cloud::oss::Credentials,
    ) -> Result<Self, MigrateError> {
        let oss = OssClient::new(oss, credentials.clone())?;
        Ok(Clients {
            oss_for_rds: oss.clone(),
            oss,
            rds: RdsClient::new(rds, credentials)?,
            ram: None,
        })
    }
}

/// What the job reports as it goes.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum MigrateEvent {
    /// The backup was inspected (its warnings are in the report).
    Inspected {
        /// The inspection.
        report: Box<mssql_backup::Report>,
    },
    /// Pre-flight ran (its warnings are in the report).
    Preflight {
        /// Findings and plan.
        report: Box<PreflightReport>,
    },
    /// An earlier run already uploaded the object; it is still there, unchanged.
    UploadSkipped {
        /// `oss://bucket/key`.
        object: String,
    },
    /// The upload started: the file's size, for a progress bar.
    UploadStarted {
        /// Bytes to send.
        len: u64,
    },
    /// Something happened in the upload.
    Upload {
        /// The upload's own event.
        upload: UploadEvent,
    },
    /// The object is in OSS, verified.
    Uploaded {
        /// The upload's summary.
        report: UploadReport,
    },
    /// CreateMigrateTask accepted the job.
    TaskCreated {
        /// MigrateTaskId.
        task_id: String,
    },
    /// A task of an earlier run restores this object; following it instead of creating another.
    TaskAttached {
        /// MigrateTaskId.
        task_id: String,
    },
    /// An earlier run's task failed; a new one is created for the same object.
    TaskRetried {
        /// The failed task.
        failed_task_id: String,
        /// Its Description.
        description: String,
    },
    /// The incremental chain to restore (the steps already applied are marked).
    ChainPlanned {
        /// Database name on RDS.
        database: String,
        /// The backups in restore order.
        steps: Vec<incremental::PlannedStep>,
    },
    /// A backup given for an incremental migration adds nothing to the database: left out.
    FileSkipped {
        /// The backup.
        file: PathBuf,
        /// Why, e.g. "already covered: it ends at LSN …".
        reason: String,
    },
    /// An incremental step begins: upload (unless done), submit, watch.
    StepStarted {
        /// 1-based position in the chain.
        step: usize,
        /// Steps in the chain.
        of: usize,
        /// The backup.
        file: PathBuf,
        /// `full`, `differential` or `log`.
        backup_type: String,
    },
    /// CreateMigrateTask accepted the step's backup (the first one opens the task).
    StepSubmitted {
        /// MigrateTaskId.
        task_id: String,
        /// The object submitted.
        key: String,
    },
    /// RDS restored the step's backup and waits for the next.
    StepApplied {
        /// 1-based position in the chain.
        step: usize,
        /// Steps in the chain.
        of: usize,
        /// The backup.
        file: PathBuf,
    },
    /// CreateOnlineDatabaseTask: the database is being opened.
    CutoverStarted {
        /// MigrateTaskId.
        task_id: String,
    },
    /// `--follow`: a part went out; the backup being written has this many bytes so far (the
    /// progress display's total, until the backup is finished).
    FileGrowing {
        /// Bytes written so far.
        written: u64,
    },
    /// `--follow`, on every look at the file: whether the upload has caught up with the writer,
    /// and since when the file has not changed (for the progress display; not in `--json`).
    FollowPolled {
        /// Every part written so far is sent.
        caught_up: bool,
        /// Milliseconds since the file last changed.
        unchanged_ms: u64,
    },
    /// `--follow`: where the upload of the backup being written stands.
    Following {
        /// What happened.
        message: String,
    },
    /// Something the user should know before it bites (nothing was refused).
    Warning {
        /// What and what to do.
        message: String,
    },
    /// The task's status changed.
    TaskStatus {
        /// New status.
        status: String,
        /// Description at that moment.
        description: String,
    },
}

/// How the job ended.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum MigrateOutcome {
    /// The backup or the pre-flight refused: nothing was uploaded or created.
    Refused {
        /// `inspect` or `preflight`.
        stage: &'static str,
        /// The refusing findings (and any warnings), each with its fix.
        findings: Vec<Problem>,
    },
    /// `--dry-run`: everything checked, nothing changed.
    Planned {
        /// What would be uploaded where.
        object: String,
        /// How the restore would be requested.
        report: Box<PreflightReport>,
    },
    /// The task ended (Success or Failed).
    Finished(Box<MigrateReport>),
}

/// One reason to refuse, with its fix (from inspect or pre-flight).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `error`/`refuse` or `warning`/`warn`.
    pub severity: String,
    /// Stable code.
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub fix: String,
}

/// The final report.
#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    /// The local file.
    pub file: PathBuf,
    /// `oss://bucket/key`.
    pub object: String,
    /// Object size.
    pub size: u64,
    /// Object CRC-64 (equal to the file's).
    pub crc64: u64,
    /// This run's upload, if it uploaded.
    pub upload: Option<UploadReport>,
    /// The task's end.
    pub task: TaskReport,
    /// Wall time of this run, seconds.
    pub elapsed_secs: f64,
    /// An earlier run's task had already restored this file: this run only reported it
    /// (nothing checked against the bucket, uploaded or created).
    pub already_migrated: bool,
    /// Once the database is online: accounts, what is left in OSS (or deleted), RDS's next
    /// backup.
    pub after: Option<after::AfterRestore>,
}

impl MigrateReport {
    /// True when the database is online on RDS.
    pub fn succeeded(&self) -> bool {
        self.task.succeeded()
    }
}

/// Why the job could not finish (as opposed to a refusal or a failed task).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// Opening or mapping the file, or writing the state file.
    #[error(transparent)]
    Io(#[from] crate::Error),
    /// The upload stopped.
    #[error(transparent)]
    Upload(#[from] UploadError),
    /// An OSS call outside the upload (bucket info, HEAD, presign).
    #[error(transparent)]
    Oss(#[from] OssError),
    /// An RDS call.
    #[error(transparent)]
    Rds(#[from] RdsError),
    /// Stopped on request; the message says what is left and how to go on.
    #[error("{0}")]
    Interrupted(String),
    /// Another run holds this migration's lock.
    #[error(
        "another bak2rds run is migrating database {database} on {instance_id} (it holds {lock}); \
         wait for it to finish, or stop it first"
    )]
    Busy {
        /// Database name on RDS.
        database: String,
        /// Instance ID.
        instance_id: String,
        /// The lock file.
        lock: PathBuf,
    },
    /// An incremental migration's state names a task RDS no longer knows, and a database of its
    /// name is on the instance (left restoring, or opened some other way).
    #[error(
        "migration state {state} names task {task_id}, which instance {instance_id} no longer \
         knows (RDS keeps migration records for a limited time; an emulator forgets its tasks \
         when it restarts). Database {database} is on the instance, but this chain's restore \
         cannot go on without its task: drop {database} on the instance, move {state} aside, \
         and rerun the command with the whole chain (full, differential, logs; uploads are not \
         repeated)"
    )]
    ChainForgotten {
        /// The state file.
        state: PathBuf,
        /// The task it names.
        task_id: String,
        /// Instance ID.
        instance_id: String,
        /// Database name on RDS.
        database: String,
    },
    /// `--task ID` names a task the instance does not know.
    #[error(
        "instance {instance_id} knows no migration task {task_id}: check the ID (`bak2rds tasks \
         --instance {instance_id}` lists recent ones; RDS keeps migration records for a limited \
         time), or pass the whole chain with --database instead of --task"
    )]
    UnknownTask {
        /// The ID given.
        task_id: String,
        /// Instance ID.
        instance_id: String,
    },
    /// The state file names a task RDS no longer knows, and a database of its name exists.
    #[error(
        "migration state {state} names task {task_id}, which instance {instance_id} no longer \
         knows (RDS keeps migration records for a limited time; an emulator forgets its tasks \
         when it restarts), and database {database} is on the instance with no record here of how \
         it ended. If that task restored it, the migration is done: check the database and stop \
         here. To migrate this backup again, drop {database} on the instance, move {state} aside \
         and rerun the same command (the upload is not repeated)"
    )]
    TaskForgotten {
        /// The state file.
        state: PathBuf,
        /// The task it names.
        task_id: String,
        /// Instance ID.
        instance_id: String,
        /// Database name on RDS.
        database: String,
    },
    /// The state file is unreadable.
    #[error(
        "migration state {path} is unreadable ({reason}); move it aside and rerun: a full \
         migration finds its upload and its task again, an incremental one starts over from the \
         full backup (terminate its task on RDS first: the database it restores blocks the name)"
    )]
    State {
        /// The state file.
        path: PathBuf,
        /// The parser's complaint.
        reason: String,
    },
}

/// How far a migration got, persisted between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    /// The file the state belongs to; a changed file starts over.
    file: Option<FileIdentity>,
    /// The verified object, once uploaded.
    object: Option<UploadedObject>,
    /// The task restoring it, once created.
    task_id: Option<String>,
    /// How that task ended in Success, kept to report the result once RDS no longer lists the
    /// task (its records age out; an emulator forgets them when restarted).
    restored: Option<Restored>,
}

/// The end of the task that restored the file, as RDS reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Restored {
    task_id: String,
    description: String,
    create_time: String,
    end_time: String,
}

impl Restored {
    fn of(task: &TaskReport) -> Self {
        Restored {
            task_id: task.task_id.clone(),
            description: task.description.clone(),
            create_time: task.create_time.clone(),
            end_time: task.end_time.clone(),
        }
    }

    /// The recorded end as a task report (no per-file detail: RDS no longer has it).
    fn report(&self, spec: &MigrateSpec) -> TaskReport {
        TaskReport {
            instance_id: spec.instance_id.clone(),
            task_id: self.task_id.clone(),
            db_name: spec.database.clone(),
            status: TaskStatus::Success,
            description: self.description.clone(),
            diagnosis: bak2rds_cloud::rds::diagnose::diagnose(&self.description),
            create_time: self.create_time.clone(),
            end_time: self.end_time.clone(),
            files: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct UploadedObject {
    bucket: String,
    key: String,
    size: u64,
    crc64: u64,
    /// When the upload finished (Unix seconds): a task restoring this very upload was created
    /// after it, which is how a rerun recognises its own task after a crash.
    uploaded_unix: i64,
    /// This migration's upload sent it (false: it was already in OSS, so it is never deleted).
    #[serde(default)]
    sent: bool,
    /// Deleted by `--delete-after` once the database was online.
    #[serde(default)]
    deleted: bool,
}

impl UploadedObject {
    fn name(&self) -> String {
        format!("oss://{}/{}", self.bucket, self.key)
    }
}

/// The state file of one migration, written atomically at every step.
struct StateFile {
    path: PathBuf,
    state: State,
}

impl StateFile {
    fn open(spec: &MigrateSpec, identity: &FileIdentity) -> Result<Self, MigrateError> {
        let mut hash = sha2::Sha256::new();
        let absolute = std::path::absolute(&spec.file).unwrap_or_else(|_| spec.file.clone());
        for part in [
            absolute.as_os_str().as_encoded_bytes(),
            spec.instance_id.as_bytes(),
            spec.database.as_bytes(),
            spec.bucket.as_bytes(),
            spec.key.as_bytes(),
        ] {
            hash.update(part);
            hash.update(b"\0");
        }
        let path = spec
            .state_dir
            .join(format!("{}.json", hex::encode(&hash.finalize()[..16])));
        let bytes = durable::read_optional(&path)
            .map_err(|e| crate::Error::io("read migration state", &path, e))?;
        let state: State = match bytes {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| MigrateError::State {
                path: path.clone(),
                reason: e.to_string(),
            })?,
            None => State::default(),
        };
        // A different file (new backup under the same name) starts from scratch.
        let state = match &state.file {
            // The same file version: resume.
            Some(file) if file.same_contents(identity) => state,
            _ => State {
                file: Some(identity.clone()),
                ..State::default()
            },
        };
        Ok(StateFile { path, state })
    }

    fn save(&self) -> Result<(), MigrateError> {
        let bytes = serde_json::to_vec_pretty(&self.state)
            .map_err(|e| crate::Error::io("encode migration state", &self.path, e.into()))?;
        durable::write_atomic(&self.path, &bytes)
            .map_err(|e| crate::Error::io("write migration state", &self.path, e).into())
    }
}

/// Runs the job. `counters` carries the upload's live byte counts; `cancel` stops the upload
/// cleanly (checkpoint kept). Once the database is online, what comes after the restore is done
/// or told ([`after`]).
pub async fn run(
    spec: MigrateSpec,
    clients: Clients,
    events: mpsc::UnboundedSender<MigrateEvent>,
    counters: Arc<Counters>,
    cancel: CancellationToken,
) -> Result<MigrateOutcome, MigrateError> {
    restore(spec, clients, events, counters, cancel).await
}

/// `report` with the notes of an online database, and `--delete-after`'s deletion, from this
/// run's state. A dry run changes nothing and reports nothing more.
async fn with_after(
    spec: &MigrateSpec,
    clients: &Clients,
    state: &mut StateFile,
    mut report: MigrateReport,
) -> MigrateReport {
    if !report.succeeded() || spec.dry_run {
        return report;
    }
    let objects: Vec<UploadedObject> = state.state.object.clone().into_iter().collect();
    let mut after = after::clean_up(clients, objects, spec.delete_after, &mut |deleted| {
        if let Some(object) = state.state.object.as_mut() {
            object.deleted = deleted.deleted;
        }
        state.save()
    })
    .await;
    after.accounts = after::accounts_note(&spec.instance_id, &spec.database);
    after.next_backup = after::next_backup_note(clients, &spec.instance_id).await;
    report.after = Some(after);
    report
}

/// Inspect, pre-flight, upload, create the task and follow it to its end.
async fn restore(
    spec: MigrateSpec,
    clients: Clients,
    events: mpsc::UnboundedSender<MigrateEvent>,
    counters: Arc<Counters>,
    cancel: CancellationToken,
) -> Result<MigrateOutcome, MigrateError> {
    let started = std::time::Instant::now();
    let source = Arc::new(SourceFile::open(&spec.file)?);
    let mut state = StateFile::open(&spec, source.identity())?;
    if !spec.dry_run {
        // Before any request: an upload that could not record itself could not resume.
        spec.checkpoints
            .check_writable()
            .map_err(|e| MigrateError::Upload(e.into()))?;
    }
    let object_name = spec.object_name();

    // Always inspect: milliseconds, and the verdict may depend on the target's version.
    let instance = gather_instance(&clients.rds, &spec.instance_id).await?;
    let backup = match inspect(&spec, &source, &instance.instance.engine_version, &events) {
        Inspection::Accepted(backup) => backup,
        Inspection::Refused(findings) => {
            return Ok(MigrateOutcome::Refused {
                stage: "inspect",
                findings,
            });
        }
    };

    if state.state.task_id.is_none()
        && state.state.object.is_none()
        && database_exists(&spec, &instance)
    {
        recover_lost_state(&spec, &clients, &source, &mut state, &events).await?;
    }
    // A task of an earlier run that is not Failed is followed, not repeated; pre-flight would
    // wrongly refuse it, since the database it creates now exists.
    let earlier = match earlier_task(&spec, &clients, &state).await {
        Err(MigrateError::Rds(error)) if error.code() == Some(TASK_NOT_FOUND) => {
            match forgotten_task(&spec, &instance, &mut state, &events)? {
                Some(report) => {
                    let report = MigrateReport {
                        elapsed_secs: started.elapsed().as_secs_f64(),
                        ..report
                    };
                    let report = with_after(&spec, &clients, &mut state, report).await;
                    return Ok(MigrateOutcome::Finished(Box::new(report)));
                }
                None => None,
            }
        }
        earlier => earlier?,
    };
    if let Some(report) = already_migrated(&spec, &clients, &mut state, earlier.as_ref()).await? {
        let report = MigrateReport {
            elapsed_secs: started.elapsed().as_secs_f64(),
            ..report
        };
        let report = with_after(&spec, &clients, &mut state, report).await;
        return Ok(MigrateOutcome::Finished(Box::new(report)));
    }
    let live_task = earlier
        .as_ref()
        .filter(|task| task.status != TaskStatus::Failed)
        .map(|task| task.task_id.clone());
    let report =
        preflight_backup(&clients, &instance, &backup, source.len(), &spec.database).await?;
    let _ = events.send(MigrateEvent::Preflight {
        report: Box::new(report.clone()),
    });
    if report.refused() && live_task.is_none() && !spec.skip_preflight {
        return Ok(MigrateOutcome::Refused {
            stage: "preflight",
            findings: report.findings.iter().map(problem_of_preflight).collect(),
        });
    }
    if spec.dry_run {
        return Ok(MigrateOutcome::Planned {
            object: object_name,
            report: Box::new(report),
        });
    }

    let (object, upload_report) = ensure_uploaded(
        &spec,
        &clients,
        &source,
        &mut state,
        &events,
        counters,
        cancel.clone(),
    )
    .await?;
    if cancel.is_cancelled() {
        return Err(MigrateError::Interrupted(
            "interrupted after the upload: no restore task was created; rerun the same command \
             to continue (the upload is not repeated)"
                .into(),
        ));
    }
    let task_id = match live_task {
        Some(task_id) => {
            state.state.task_id = Some(task_id.clone());
            state.save()?;
            let _ = events.send(MigrateEvent::TaskAttached {
                task_id: task_id.clone(),
            });
            task_id
        }
        None => {
            if let Some(failed) = earlier {
                let _ = events.send(MigrateEvent::TaskRetried {
                    failed_task_id: failed.task_id,
                    description: failed.description,
                });
            }
            match create_task(&spec, &clients, &mut state, &report, &events).await {
                Err(MigrateError::Rds(error)) if error.code() == Some("IncorrectDBState") => {
                    adopt_busy_task(&spec, &clients, &mut state, &events, error).await?
                }
                created => created?,
            }
        }
    };

    let forward = events.clone();
    let waiting = wait_for_task(
        &clients.rds,
        &spec.instance_id,
        &task_id,
        spec.wait,
        move |event| {
            if let WaitEvent::Status {
                status,
                description,
            } = event
            {
                let _ = forward.send(MigrateEvent::TaskStatus {
                    status: status.to_string(),
                    description,
                });
            }
        },
    );
    let task = tokio::select! {
        task = waiting => task?,
        _ = cancel.cancelled() => {
            return Err(MigrateError::Interrupted(format!(
                "stopped watching; task {task_id} keeps running on RDS: follow it with \
                 `bak2rds watch {task_id} --instance {}`, or rerun the same command",
                spec.instance_id
            )));
        }
    };
    if task.succeeded() {
        state.state.restored = Some(Restored::of(&task));
        state.save()?;
    }
    let report = MigrateReport {
        file: spec.file.clone(),
        object: object_name,
        size: object.size,
        crc64: object.crc64,
        upload: upload_report,
        task,
        elapsed_secs: started.elapsed().as_secs_f64(),
        already_migrated: false,
        after: None,
    };
    let report = with_after(&spec, &clients, &mut state, report).await;
    Ok(MigrateOutcome::Finished(Box::new(report)))
}

/// When an earlier run's task already restored this very upload, its report, at the cost of
/// one status and one per-file call: a rerun (e.g. of a whole batch) skips the bucket, pre-flight
/// (which would refuse: the database now exists) and HEAD calls of a full run.
async fn already_migrated(
    spec: &MigrateSpec,
    clients: &Clients,
    state: &mut StateFile,
    earlier: Option<&EarlierTask>,
) -> Result<Option<MigrateReport>, MigrateError> {
    let (Some(task), Some(object)) = (earlier, state.state.object.clone()) else {
        return Ok(None);
    };
    if task.status != TaskStatus::Success {
        return Ok(None);
    }
    if state.state.task_id.as_deref() != Some(task.task_id.as_str()) {
        // Found by searching the instance: record it so the next rerun need not search.
        state.state.task_id = Some(task.task_id.clone());
        state.save()?;
    }
    let report = wait_for_task(
        &clients.rds,
        &spec.instance_id,
        &task.task_id,
        spec.wait,
        |_| {},
    )
    .await?;
    if report.succeeded() && state.state.restored.is_none() {
        state.state.restored = Some(Restored::of(&report));
        state.save()?;
    }
    Ok(Some(MigrateReport {
        file: spec.file.clone(),
        object: object.name(),
        size: object.size,
        crc64: object.crc64,
        upload: None,
        task: report,
        elapsed_secs: 0.0,
        already_migrated: true,
        after: None,
    }))
}

enum Inspection {
    Accepted(Box<BackupInfo>),
    Refused(Vec<Problem>),
}

fn inspect(
    spec: &MigrateSpec,
    source: &SourceFile,
    engine_version: &str,
    events: &mpsc::UnboundedSender<MigrateEvent>,
) -> Inspection {
    let rules = Rules {
        target_version: target_of(engine_version),
        database: Some(spec.database.clone()),
        verify_pages: false,
        file_name: None,
    };
    let report = mssql_backup::examine(source.bytes(), &rules);
    let _ = events.send(MigrateEvent::Inspected {
        report: Box::new(report.clone()),
    });
    let mut problems: Vec<Problem> = report.findings.iter().map(problem_of_finding).collect();
    // The object's name is RDS's to judge too, after the upload: judge it now instead.
    let key_problem = report
        .backup
        .as_ref()
        .and_then(|b| mssql_backup::names::object_key_problem(&spec.key, b.backup_type?));
    if let Some(message) = &key_problem {
        problems.insert(
            0,
            Problem {
                severity: "error".to_owned(),
                code: "object_key".to_owned(),
                message: format!("--key {:?}: {message}", spec.key),
                fix: "give --key such a name, or leave --key out and bak2rds names the object"
                    .to_owned(),
            },
        );
    }
    let refused = (report.verdict.is_refusal() || key_problem.is_some()) && !spec.skip_preflight;
    match report.backup {
        Some(backup) if !refused => Inspection::Accepted(Box::new(backup)),
        _ => Inspection::Refused(problems),
    }
}

/// Pre-flight of restoring `backup` (a file of `file_bytes`) as `database`: the instance's facts
/// gathered earlier, the bucket's read now.
async fn preflight_backup(
    clients: &Clients,
    instance: &InstanceSide,
    backup: &BackupInfo,
    file_bytes: u64,
    database: &str,
) -> Result<PreflightReport, MigrateError> {
    let import_role = async {
        match &clients.ram {
            Some(ram) => ram.import_role().await,
            None => ImportRole::NotChecked,
        }
    };
    let (bucket, import_role) = tokio::join!(clients.oss.get_bucket_info(), import_role);
    let bucket = bucket?;
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
        backup: backup_facts(backup, file_bytes),
        target_database: database.to_owned(),
        import_role,
    };
    Ok(preflight(&facts))
}

fn backup_facts(backup: &BackupInfo, file_bytes: u64) -> BackupFacts {
    BackupFacts {
        database_name: backup.database_name.clone(),
        database_version: Some(backup.database_version),
        backup_file_bytes: file_bytes,
        restored_bytes: Some(backup.files.iter().map(|f| f.size).sum()),
    }
}

/// A unit enum as its JSON name (`error`, `warning`, `refuse`, `gap`...), for [`Problem`].
/// A finding of the backup's inspection, as the outcome reports it.
fn problem_of_finding(finding: &mssql_backup::Finding) -> Problem {
    Problem {
        severity: json_name(finding.severity),
        code: finding.code.to_string(),
        message: finding.message.clone(),
        fix: finding.fix.to_string(),
    }
}

fn json_name(severity: impl Serialize) -> String {
    serde_json::to_value(severity)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn problem_of_preflight(finding: &bak2rds_cloud::rds::preflight::Finding) -> Problem {
    Problem {
        severity: json_name(finding.severity),
        code: finding.code.to_string(),
        message: finding.message.clone(),
        fix: finding.fix.clone(),
    }
}

/// Uploads the file unless an earlier run did and the object is still exactly there.
async fn ensure_uploaded(
    spec: &MigrateSpec,
    clients: &Clients,
    source: &Arc<SourceFile>,
    state: &mut StateFile,
    events: &mpsc::UnboundedSender<MigrateEvent>,
    counters: Arc<Counters>,
    cancel: CancellationToken,
) -> Result<(UploadedObject, Option<UploadReport>), MigrateError> {
    if let Some(object) = &state.state.object
        && object.bucket == spec.bucket
        && object.key == spec.key
        && still_uploaded(clients, object).await?
    {
        let _ = events.send(MigrateEvent::UploadSkipped {
            object: object.name(),
        });
        return Ok((object.clone(), None));
    }
    let target = ObjectTarget {
        bucket: &spec.bucket,
        key: &spec.key,
        checkpoints: &spec.checkpoints,
        options: &spec.upload,
    };
    let (object, report) = upload_object(clients, source, target, events, counters, cancel).await?;
    state.state.object = Some(object.clone());
    state.save()?;
    Ok((object, Some(report)))
}

/// Records an object `--follow` uploaded from the finished file (its CRC-64 checked part by
/// part against the final bytes), so the run that follows finds it with one HEAD instead of
/// reading the whole file again.
fn record_followed_upload(
    spec: &MigrateSpec,
    source: &SourceFile,
    len: u64,
    crc64: u64,
) -> Result<(), MigrateError> {
    let mut state = StateFile::open(spec, source.identity())?;
    state.state.object = Some(UploadedObject {
        bucket: spec.bucket.clone(),
        key: spec.key.clone(),
        size: len,
        crc64,
        uploaded_unix: time::OffsetDateTime::now_utc().unix_timestamp(),
        sent: true,
        deleted: false,
    });
    state.save()
}

/// Whether an object an earlier run uploaded is still in OSS, unchanged.
async fn still_uploaded(clients: &Clients, object: &UploadedObject) -> Result<bool, MigrateError> {
    let meta = clients.oss.head_object(&object.key).await?;
    Ok(meta.is_some_and(|meta| meta.size == object.size && meta.crc64 == Some(object.crc64)))
}

/// Where and how one file is uploaded.
#[derive(Clone, Copy)]
struct ObjectTarget<'a> {
    bucket: &'a str,
    key: &'a str,
    checkpoints: &'a CheckpointStore,
    options: &'a UploadOptions,
}

/// Uploads (or resumes uploading) one file, forwarding the upload's events.
async fn upload_object(
    clients: &Clients,
    source: &Arc<SourceFile>,
    target: ObjectTarget<'_>,
    events: &mpsc::UnboundedSender<MigrateEvent>,
    counters: Arc<Counters>,
    cancel: CancellationToken,
) -> Result<(UploadedObject, UploadReport), MigrateError> {
    let _ = events.send(MigrateEvent::UploadStarted { len: source.len() });
    let (upload_events, mut received) = mpsc::unbounded_channel();
    let forward = {
        let events = events.clone();
        tokio::spawn(async move {
            while let Some(upload) = received.recv().await {
                let _ = events.send(MigrateEvent::Upload { upload });
            }
        })
    };
    let job = UploadJob {
        source: Arc::clone(source),
        bucket: target.bucket.to_owned(),
        key: target.key.to_owned(),
        checkpoints: target.checkpoints.clone(),
        options: target.options.clone(),
    };
    let result = engine::run(
        Arc::new(clients.oss.clone()),
        job,
        upload_events,
        counters,
        cancel,
    )
    .await;
    let _ = forward.await;
    let report = result?;
    let object = UploadedObject {
        bucket: target.bucket.to_owned(),
        key: target.key.to_owned(),
        size: report.size,
        crc64: report.crc64,
        uploaded_unix: time::OffsetDateTime::now_utc().unix_timestamp(),
        sent: !report.already_uploaded,
        deleted: false,
    };
    let _ = events.send(MigrateEvent::Uploaded {
        report: report.clone(),
    });
    Ok((object, report))
}

/// How far back a rerun looks for its own task when the upload time is unreadable.
const TASK_LOOKBACK: time::Duration = time::Duration::days(7);

/// A task an earlier run created for this object.
struct EarlierTask {
    task_id: String,
    status: TaskStatus,
    description: String,
}

/// The task recorded in the state file or, when a crash came between CreateMigrateTask and the
/// state write, the one the instance lists for this database and object created after this
/// run's upload of this very file. Tasks of other uploads (an older backup under the same name)
/// are never adopted: attaching to them would report a restore that did not happen.
async fn earlier_task(
    spec: &MigrateSpec,
    clients: &Clients,
    state: &StateFile,
) -> Result<Option<EarlierTask>, MigrateError> {
    let task_id = match (&state.state.task_id, &state.state.object) {
        (Some(task_id), _) => task_id.clone(),
        (None, Some(object)) => {
            // A minute of slack for the two clocks.
            let since = time::OffsetDateTime::from_unix_timestamp(object.uploaded_unix - 60)
                .unwrap_or_else(|_| time::OffsetDateTime::now_utc() - TASK_LOOKBACK);
            let found = find_task_for_object(
                &clients.rds,
                &spec.instance_id,
                &spec.database,
                &spec.key,
                since,
            )
            .await?;
            match found {
                Some(task) => task.migrate_task_id,
                None => return Ok(None),
            }
        }
        // Nothing uploaded by an earlier run of this file: no task can exist for it.
        (None, None) => return Ok(None),
    };
    let task = clients
        .rds
        .describe_migrate_task_by_id(&spec.instance_id, &task_id)
        .await?;
    Ok(Some(EarlierTask {
        task_id,
        status: task.status,
        description: task.description,
    }))
}

/// RDS's answer for a migration task it does not know.
pub(crate) const TASK_NOT_FOUND: &str = "InvalidMigrateTaskId.NotFound";

fn database_exists(spec: &MigrateSpec, instance: &InstanceSide) -> bool {
    instance
        .databases
        .iter()
        .any(|d| d.eq_ignore_ascii_case(&spec.database))
}

/// The state file names a task RDS no longer knows. A restore recorded as finished is reported
/// from the record; with no database of that name on the instance nothing of the task remains,
/// so the restore starts again (the upload is kept); a database of that name with no record of
/// how it came to be is the user's call, said with the commands for either answer.
fn forgotten_task(
    spec: &MigrateSpec,
    instance: &InstanceSide,
    state: &mut StateFile,
    events: &mpsc::UnboundedSender<MigrateEvent>,
) -> Result<Option<MigrateReport>, MigrateError> {
    let task_id = state.state.task_id.clone().unwrap_or_default();
    let path = state.path.display().to_string();
    let why = "RDS keeps migration records for a limited time, and an emulator forgets its \
               tasks when it restarts";
    let exists = database_exists(spec, instance);
    if let (true, Some(restored), Some(object)) =
        (exists, &state.state.restored, &state.state.object)
    {
        let _ = events.send(MigrateEvent::Warning {
            message: format!(
                "instance {} no longer lists task {task_id} ({why}); reporting its end as \
                 recorded in {path}",
                spec.instance_id
            ),
        });
        return Ok(Some(MigrateReport {
            file: spec.file.clone(),
            object: object.name(),
            size: object.size,
            crc64: object.crc64,
            upload: None,
            task: restored.report(spec),
            elapsed_secs: 0.0,
            already_migrated: true,
            after: None,
        }));
    }
    if exists {
        return Err(MigrateError::TaskForgotten {
            state: state.path.clone(),
            task_id,
            instance_id: spec.instance_id.clone(),
            database: spec.database.clone(),
        });
    }
    let _ = events.send(MigrateEvent::Warning {
        message: format!(
            "{path} names task {task_id}, which instance {} no longer knows ({why}); no database \
             {} is on the instance, so the restore starts again (the upload is kept)",
            spec.instance_id, spec.database
        ),
    });
    state.state.task_id = None;
    if !spec.dry_run {
        state.save()?;
    }
    Ok(None)
}

/// The state file is gone (or was moved aside) but the database exists: the task of an earlier
/// run restoring this very file is looked for on the instance. The object must still be the
/// file: same size, same first and last MiB (the backup's header and trailer, which name the
/// backup set), and a CRC-64 to record. Found, the state is rebuilt so the run reports (or
/// follows) that task instead of refusing the name it created.
async fn recover_lost_state(
    spec: &MigrateSpec,
    clients: &Clients,
    source: &SourceFile,
    state: &mut StateFile,
    events: &mpsc::UnboundedSender<MigrateEvent>,
) -> Result<(), MigrateError> {
    let since = time::OffsetDateTime::now_utc() - TASK_LOOKBACK;
    let Some(task) = find_task_for_object(
        &clients.rds,
        &spec.instance_id,
        &spec.database,
        &spec.key,
        since,
    )
    .await?
    else {
        return Ok(());
    };
    if task.status == TaskStatus::Failed {
        return Ok(());
    }
    let Some((crc64, uploaded_at)) = object_is_file(clients, &spec.key, source).await? else {
        return Ok(());
    };
    // The task must be younger than the object: an older task restored an earlier backup that
    // was under the same key then. Unreadable times prove nothing, so nothing is adopted.
    let created = time::OffsetDateTime::parse(
        &task.create_time,
        &time::format_description::well_known::Rfc3339,
    );
    match (created, uploaded_at) {
        (Ok(created), Some(uploaded)) if created >= uploaded => {}
        _ => return Ok(()),
    }
    state.state.object = Some(UploadedObject {
        bucket: spec.bucket.clone(),
        key: spec.key.clone(),
        size: source.len(),
        crc64,
        uploaded_unix: time::OffsetDateTime::now_utc().unix_timestamp(),
        // Found, not sent: whoever uploaded it, this run cannot tell it was this migration.
        sent: false,
        deleted: false,
    });
    state.state.task_id = Some(task.migrate_task_id.clone());
    if !spec.dry_run {
        state.save()?;
    }
    let _ = events.send(MigrateEvent::Warning {
        message: format!(
            "no migration state for this file; task {} on instance {} restores {} from the same \
             backup in oss://{}/{}, so this run continues from it",
            task.migrate_task_id, spec.instance_id, spec.database, spec.bucket, spec.key
        ),
    });
    Ok(())
}

/// The object's CRC-64 and time of upload when it holds the same bytes as `source` at both ends
/// and has its size.
async fn object_is_file(
    clients: &Clients,
    key: &str,
    source: &SourceFile,
) -> Result<Option<(u64, Option<time::OffsetDateTime>)>, MigrateError> {
    const END: u64 = 1 << 20;
    let Some(meta) = clients.oss.head_object(key).await? else {
        return Ok(None);
    };
    let (Some(crc64), true) = (meta.crc64, meta.size == source.len()) else {
        return Ok(None);
    };
    let head = 0..END.min(source.len());
    let tail = source.len().saturating_sub(END)..source.len();
    for range in [head, tail] {
        let remote = clients.oss.get_object(key, Some(range.clone())).await?;
        if remote.body.as_ref() != source.slice(range)?.as_ref() {
            return Ok(None);
        }
    }
    let uploaded_at = meta
        .last_modified
        .as_deref()
        .and_then(bak2rds_cloud::oss::sign::parse_http_date);
    Ok(Some((crc64, uploaded_at)))
}

/// CreateMigrateTask (`BackupMode=FULL`, `IsOnlineDB=True`), recorded in the state at once.
async fn create_task(
    spec: &MigrateSpec,
    clients: &Clients,
    state: &mut StateFile,
    plan: &PreflightReport,
    events: &mpsc::UnboundedSender<MigrateEvent>,
) -> Result<String, MigrateError> {
    if matches!(plan.plan.method, RestoreMethod::PresignedUrl { .. }) {
        presign_with_fresh_credentials(clients, events).await?;
    }
    let request = CreateMigrateTaskRequest {
        db_instance_id: spec.instance_id.clone(),
        db_name: spec.database.clone(),
        backup_mode: BackupMode::Full,
        is_online_db: true,
        check_db_mode: Some(spec.check_db),
        source: restore_source(spec, clients, plan)?,
        migrate_task_id: None,
    };
    // Forget a failed earlier task first: should we crash before recording the new one, the
    // rerun then searches the instance (and finds the new task) instead of creating a third.
    if state.state.task_id.take().is_some() {
        state.save()?;
    }
    let created = clients.rds.create_migrate_task(&request).await?;
    state.state.task_id = Some(created.migrate_task_id.clone());
    state.save()?;
    let _ = events.send(MigrateEvent::TaskCreated {
        task_id: created.migrate_task_id.clone(),
    });
    Ok(created.migrate_task_id)
}

/// RDS says a migration already runs on the database: when a crashed run's CreateMigrateTask
/// was still being handled as this run looked for it, that migration is ours. Follow it if it
/// restores this very upload; otherwise the refusal stands.
async fn adopt_busy_task(
    spec: &MigrateSpec,
    clients: &Clients,
    state: &mut StateFile,
    events: &mpsc::UnboundedSender<MigrateEvent>,
    refusal: RdsError,
) -> Result<String, MigrateError> {
    let Some(task) = earlier_task(spec, clients, state).await? else {
        return Err(refusal.into());
    };
    if task.status == TaskStatus::Failed {
        return Err(refusal.into());
    }
    state.state.task_id = Some(task.task_id.clone());
    state.save()?;
    let _ = events.send(MigrateEvent::TaskAttached {
        task_id: task.task_id.clone(),
    });
    Ok(task.task_id)
}

/// A presigned URL is signed with the credentials in hand, without I/O: make them fresh, and
/// warn when they are temporary, since the URL stops working when its token expires.
async fn presign_with_fresh_credentials(
    clients: &Clients,
    events: &mpsc::UnboundedSender<MigrateEvent>,
) -> Result<(), MigrateError> {
    let provider = clients.oss_for_rds.credentials();
    provider
        .credentials()
        .await
        .map_err(bak2rds_cloud::oss::OssError::from)?;
    if let Some(expires) = provider.expires_at() {
        let _ = events.send(MigrateEvent::Warning {
            message: format!(
                "the download URL RDS gets (SQL Server 2008 R2 on local SSD) is signed with \
                 temporary credentials and stops working when they expire ({expires}); if the \
                 restore fails to download, run it with a long-term AccessKey"
            ),
        });
    }
    Ok(())
}

/// `OssObjectPositions`, or for SQL Server 2008 R2 on local SSD a presigned URL (rds-api.md
/// §1.1) valid as long as pre-flight's plan says.
fn restore_source(
    spec: &MigrateSpec,
    clients: &Clients,
    plan: &PreflightReport,
) -> Result<RestoreSource, MigrateError> {
    match plan.plan.method {
        RestoreMethod::PresignedUrl { valid_for_secs, .. } => {
            let url = clients.oss_for_rds.presign_url(
                reqwest::Method::GET,
                &spec.key,
                std::time::Duration::from_secs(valid_for_secs),
            )?;
            Ok(RestoreSource::PresignedUrl(url))
        }
        RestoreMethod::OssObjectPositions => Ok(RestoreSource::OssObject {
            // `endpoint:bucket:key` has no room for a port (real OSS endpoints have none; the
            // emulator's does, and the emulated RDS reads its own store whatever the host).
            endpoint: host_without_port(clients.oss.endpoint().authority()).to_string(),
            bucket: spec.bucket.clone(),
            key: spec.key.clone(),
        }),
    }
}

fn host_without_port(authority: &str) -> &str {
    match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    }
}

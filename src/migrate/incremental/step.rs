//! One backup through the service: upload (unless there already), CreateMigrateTask on the
//! chain's task, and watching until RDS restored it; and the cutover.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::state::{StateFile, StepRecord};
use super::{
    IncrementalSpec, StepFailure, StepReport, backup_set_of, interrupted, key_for, type_of,
};
use crate::migrate::{
    Clients, MigrateError, MigrateEvent, ObjectTarget, UploadedObject, host_without_port,
    still_uploaded, upload_object,
};
use crate::source::SourceFile;
use crate::upload::progress::Counters;
use bak2rds_cloud::rds::diagnose::{Cause, diagnose};
use bak2rds_cloud::rds::gather::find_task_for_object;
use bak2rds_cloud::rds::model::{
    BackupMode, CheckDbMode, CreateMigrateTaskRequest, DescribeMigrateTaskByIdResponse,
    OssDownload, RestoreSource, TaskStatus,
};
use bak2rds_cloud::rds::wait::{TaskReport, WaitEvent, WaitOptions, wait_for_task, wait_until};
use mssql_backup::chain::{ChainFile, ChainPoint};

/// What one backup came to.
pub(super) enum StepResult {
    Applied(StepReport, TaskReport),
    Refused(Box<StepFailure>, TaskReport),
}

/// The per-run context of the steps.
pub(super) struct Job<'a> {
    pub(super) spec: &'a IncrementalSpec,
    pub(super) clients: &'a Clients,
    pub(super) database: &'a str,
    pub(super) events: &'a mpsc::UnboundedSender<MigrateEvent>,
    pub(super) counters: Arc<Counters>,
    pub(super) cancel: &'a CancellationToken,
}

impl Job<'_> {
    /// Uploads, submits and watches one backup; records each stage in the state.
    pub(super) async fn apply(
        &self,
        file: &ChainFile,
        state: &mut StateFile,
    ) -> Result<StepResult, MigrateError> {
        let backup_set = backup_set_of(file);
        let key = key_for(self.spec, file, state);
        let submitted_record = state.record(&backup_set).filter(|r| r.submitted).cloned();
        // Submitted by an earlier run: RDS has (or had) the object; never upload it again.
        let (object, uploaded) = match submitted_record {
            Some(record) => (record.object, false),
            None => self.ensure_uploaded(file, &key, &backup_set, state).await?,
        };
        if self.cancel.is_cancelled() {
            return Err(interrupted(self.spec, state));
        }
        // Only an object an earlier run uploaded can have been submitted without a record of it
        // (a crash between CreateMigrateTask and the state write).
        let reattached = state.record(&backup_set).is_some_and(|r| r.submitted)
            || (!uploaded && self.submitted_before(&object, state).await?);
        let submitted = reattached;
        if !submitted {
            self.submit(&object.key, &backup_set, state).await?;
        } else if let Some(record) = state.record_mut(&backup_set).filter(|r| !r.submitted) {
            record.submitted = true;
            state.save()?;
        }
        let task_id = state.state.task_id.clone().unwrap_or_default();
        let (task, file_entry) = self.watch_step(&task_id, &object.key, reattached).await?;
        let failure = step_failure(&task, file_entry.as_ref(), &file.path, self.spec);
        // RDS already holds everything in this log (restored out of band, e.g. from the
        // console): the database is where the chain expects it after this file, so go on.
        let already_there = failure
            .as_ref()
            .and_then(|f| f.diagnosis.as_ref())
            .is_some_and(|d| d.cause == Cause::LogTooEarly);
        if already_there {
            let _ = self.events.send(MigrateEvent::TaskStatus {
                status: task.status.to_string(),
                description: format!(
                    "{key} was already restored on the instance (RDS: too early); continuing"
                ),
            });
        } else if let Some(failure) = failure {
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

    pub(super) async fn ensure_uploaded(
        &self,
        file: &ChainFile,
        key: &str,
        backup_set: &str,
        state: &mut StateFile,
    ) -> Result<(UploadedObject, bool), MigrateError> {
        if let Some(record) = state.record(backup_set)
            && record.object.key == key
            && record.object.bucket == self.spec.bucket
            && still_uploaded(self.clients, &record.object).await?
        {
            let _ = self.events.send(MigrateEvent::UploadSkipped {
                object: record.object.name(),
            });
            return Ok((record.object.clone(), false));
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
    pub(super) async fn submitted_before(
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
                let newest = latest_entry(&files.items.oss_download, &object.key);
                Ok(newest.is_some_and(|f| !file_failed(f)))
            }
        }
    }

    /// CreateMigrateTask(UPDF, IsOnlineDB=False): the first backup opens the task, the next ones
    /// join it.
    pub(super) async fn submit(
        &self,
        key: &str,
        backup_set: &str,
        state: &mut StateFile,
    ) -> Result<(), MigrateError> {
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
        if let Some(record) = state.record_mut(backup_set) {
            record.submitted = true;
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
    /// `reattached`: an earlier run submitted it, so the task may already be past it.
    pub(super) async fn watch_step(
        &self,
        task_id: &str,
        key: &str,
        reattached: bool,
    ) -> Result<(TaskReport, Option<OssDownload>), MigrateError> {
        let mut seen_busy = reattached;
        let settled = |task: &DescribeMigrateTaskByIdResponse, files: &[OssDownload]| {
            seen_busy |= matches!(task.status, TaskStatus::Running | TaskStatus::NoStart);
            match task.status {
                TaskStatus::Success | TaskStatus::Failed => true,
                TaskStatus::Waiting => match latest_entry(files, key) {
                    // Back to Waiting after being busy: RDS is done with the file, whatever
                    // per-file status it ends on (the life-cycle of §1.5 is inferred).
                    Some(entry) => file_settled(entry) || seen_busy,
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
        let entry = latest_entry(&task.files, key).cloned();
        Ok((task, entry))
    }

    /// CreateOnlineDatabaseTask, then watch until the database is open.
    pub(super) async fn cut_over(
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
    rds: &bak2rds_cloud::rds::client::RdsClient,
    instance_id: &str,
    database: &str,
    task_id: &str,
    check_db: CheckDbMode,
    wait: WaitOptions,
    events: &mpsc::UnboundedSender<MigrateEvent>,
    cancel: &CancellationToken,
) -> Result<(TaskReport, Option<StepFailure>), MigrateError> {
    // A backup still restoring must finish first; a task Running with every file done is a
    // cutover an earlier run started (and crashed before it saw the answer).
    let ready = |task: &DescribeMigrateTaskByIdResponse, files: &[OssDownload]| match task.status {
        TaskStatus::Waiting | TaskStatus::Success | TaskStatus::Failed => true,
        TaskStatus::Running => !files.is_empty() && files.iter().all(file_settled),
        _ => false,
    };
    let before = tokio::select! {
        task = wait_until(rds, instance_id, task_id, wait, ready, forward_status(events)) => task?,
        _ = cancel.cancelled() => {
            return Err(MigrateError::Interrupted(format!(
                "stopped before the cutover: task {task_id} is still restoring a backup; nothing \
                 was opened — run `bak2rds cutover {task_id} --instance {instance_id}` later"
            )));
        }
    };
    if before.status == TaskStatus::Waiting {
        let opened = rds
            .create_online_database_task(instance_id, database, task_id, check_db)
            .await;
        if let Err(error) = opened {
            // A cut answer: the call may have acted. Go on only if the task says it did.
            let now = rds
                .describe_migrate_task_by_id(instance_id, task_id)
                .await?;
            if !matches!(now.status, TaskStatus::Running | TaskStatus::Success) {
                return Err(error.into());
            }
        }
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

/// The newest entry for `key`: a resubmitted file is listed again after its failed attempt.
fn latest_entry<'a>(files: &'a [OssDownload], key: &str) -> Option<&'a OssDownload> {
    files.iter().rev().find(|f| names_object(f, key))
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

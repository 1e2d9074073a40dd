//! Waiting for a migration task: poll DescribeMigrateTaskById with a growing interval until
//! `Success` or `Failed` (rds-api.md §1.6, §1.7) or a deadline, emitting events instead of
//! printing; then fetch the per-file detail and explain the Description (§5).

use std::time::Duration;

use serde::Serialize;

use super::client::RdsClient;
use super::diagnose::{Diagnosis, diagnose};
use super::error::RdsError;
use super::model::{DescribeMigrateTaskByIdResponse, OssDownload, TaskStatus};

/// Polling cadence and patience.
#[derive(Debug, Clone, Copy)]
pub struct WaitOptions {
    /// First interval between polls.
    pub first_interval: Duration,
    /// The interval doubles up to this.
    pub max_interval: Duration,
    /// Give up after this long ([`RdsError::WaitDeadline`]); the task keeps running.
    pub deadline: Duration,
}

impl Default for WaitOptions {
    /// 2 s growing to 30 s, for up to 24 h: restores of large databases take hours, and the
    /// console itself only shows a status, so a poll every 30 s is plenty.
    fn default() -> Self {
        WaitOptions {
            first_interval: Duration::from_secs(2),
            max_interval: Duration::from_secs(30),
            deadline: Duration::from_secs(24 * 3600),
        }
    }
}

/// What the waiter reports as it goes. Exhaustive on purpose: `bak2rds watch` must show every
/// kind of event, so a new one fails its build until it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitEvent {
    /// The task's status changed (also sent for the first poll).
    Status {
        /// New status.
        status: TaskStatus,
        /// The Description at that moment.
        description: String,
    },
    /// Per-file detail changed (DescribeOssDownloads).
    Files(Vec<OssDownload>),
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskReport {
    /// Instance ID.
    pub instance_id: String,
    /// Task ID.
    pub task_id: String,
    /// Database name.
    pub db_name: String,
    /// Final status.
    pub status: TaskStatus,
    /// The Description, verbatim.
    pub description: String,
    /// Its explanation, if it is a documented message.
    pub diagnosis: Option<Diagnosis>,
    /// `CreateTime` as given.
    pub create_time: String,
    /// `EndTime` as given.
    pub end_time: String,
    /// Per-file detail at the end (empty if the call is unsupported on this edition).
    pub files: Vec<OssDownload>,
}

impl TaskReport {
    /// Builds the report of a task snapshot.
    pub fn from_snapshot(
        instance_id: &str,
        task: DescribeMigrateTaskByIdResponse,
        files: Vec<OssDownload>,
    ) -> Self {
        TaskReport {
            instance_id: instance_id.to_owned(),
            task_id: task.migrate_task_id,
            db_name: task.db_name,
            diagnosis: diagnose(&task.description),
            status: task.status,
            description: task.description,
            create_time: task.create_time,
            end_time: task.end_time,
            files,
        }
    }

    /// Whether the database is online and usable: Success (possibly with a warning).
    pub fn succeeded(&self) -> bool {
        self.status == TaskStatus::Success
    }
}

/// Polls until the task ends. Transient failures are retried inside the client; an error here
/// means the task state is unknown, not that the task failed.
pub async fn wait_for_task(
    client: &RdsClient,
    instance_id: &str,
    task_id: &str,
    options: WaitOptions,
    on_event: impl FnMut(WaitEvent),
) -> Result<TaskReport, RdsError> {
    wait_until(
        client,
        instance_id,
        task_id,
        options,
        |task, _| task.status.is_terminal(),
        on_event,
    )
    .await
}

/// Polls until `settled(task, files)` holds: for an incremental step, the task waits for the
/// next file again and this file's restore has ended, which `Success`/`Failed` alone do not say.
pub async fn wait_until(
    client: &RdsClient,
    instance_id: &str,
    task_id: &str,
    options: WaitOptions,
    mut settled: impl FnMut(&DescribeMigrateTaskByIdResponse, &[OssDownload]) -> bool,
    mut on_event: impl FnMut(WaitEvent),
) -> Result<TaskReport, RdsError> {
    let started = tokio::time::Instant::now();
    let mut interval = options.first_interval;
    let mut last_status: Option<TaskStatus> = None;
    let mut last_files: Vec<OssDownload> = Vec::new();
    loop {
        let task = client
            .describe_migrate_task_by_id(instance_id, task_id)
            .await?;
        if last_status.as_ref() != Some(&task.status) {
            last_status = Some(task.status.clone());
            on_event(WaitEvent::Status {
                status: task.status.clone(),
                description: task.description.clone(),
            });
        }
        let files = per_file_detail(client, instance_id, task_id).await;
        if files != last_files {
            last_files = files.clone();
            on_event(WaitEvent::Files(files));
        }
        if settled(&task, &last_files) {
            return Ok(TaskReport::from_snapshot(instance_id, task, last_files));
        }
        if started.elapsed() >= options.deadline {
            return Err(RdsError::WaitDeadline {
                instance_id: instance_id.to_owned(),
                task_id: task_id.to_owned(),
                status: task.status.to_string(),
                waited_secs: started.elapsed().as_secs(),
            });
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(options.max_interval);
    }
}

/// DescribeOssDownloads is not supported on the cluster editions (§1.5): its detail is a
/// nicety, so a failure yields no detail rather than failing the wait.
async fn per_file_detail(client: &RdsClient, instance_id: &str, task_id: &str) -> Vec<OssDownload> {
    match client.describe_oss_downloads(instance_id, task_id).await {
        Ok(answer) => answer.items.oss_download,
        Err(error) => {
            tracing::debug!(%error, "no per-file detail");
            Vec::new()
        }
    }
}

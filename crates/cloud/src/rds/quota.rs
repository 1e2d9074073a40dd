//! RDS's daily migration quotas (§1.1) and how much of them the last 24 hours used, counted
//! from the instance as the quotas count: one per CreateMigrateTask call. A one-shot task is
//! one call; a migration's task (UPDF) is one call per backup, each file with its own
//! CreateTime (§1.5). The docs do not say when RDS's day starts, so the last 24 hours are
//! counted: never fewer calls than a calendar day would hold.
//! Network only; the judging is the caller's.

use futures::{StreamExt as _, TryStreamExt as _};

use super::client::RdsClient;
use super::error::RdsError;
use super::gather::list_tasks;
use super::model::MigrateTask;
use super::sign::parse_timestamp;

/// `UploadLimitExceeded`: at most 20 migrations per database per instance per day (§1.1).
pub const DAILY_MIGRATIONS_PER_DATABASE: usize = 20;
/// `ConcurrentTaskExceeded`: at most 500 migrations per instance per day (§1.1).
pub const DAILY_MIGRATIONS_PER_INSTANCE: usize = 500;

/// 100 tasks a page (§1.3): 500 a day fit in 5, and one more page tells a full quota from an
/// overflowing one.
const QUOTA_PAGES: u32 = 6;

/// More calls than this for one task make no difference to either quota; the cap keeps a
/// hostile file list from inflating the count without bound.
const MOST_CALLS_PER_TASK: usize = DAILY_MIGRATIONS_PER_INSTANCE + 1;

/// How many DescribeOssDownloads calls run at once: a busy instance may list hundreds of
/// migration tasks, and the API is rate limited.
const CONCURRENT_LOOKUPS: usize = 8;

/// One database name per CreateMigrateTask call on the instance in the last 24 hours.
pub async fn recent_migrations(
    rds: &RdsClient,
    instance_id: &str,
) -> Result<Vec<String>, RdsError> {
    let (since, tasks) = recent_tasks(rds, instance_id).await?;
    let tasks = tasks.into_iter().map(TaskCalls::from).collect();
    let counted = count_calls(rds, instance_id, tasks, since).await?;
    Ok(counted
        .into_iter()
        .flat_map(|(database, calls)| std::iter::repeat_n(database, calls))
        .collect())
}

/// How many CreateMigrateTask calls restored into `database` in the last 24 hours.
/// `own_task`, an incremental migration's task, is counted even when it was created earlier
/// (DescribeMigrateTasks finds tasks by their creation time only), and always per file.
pub async fn recent_migrations_of(
    rds: &RdsClient,
    instance_id: &str,
    database: &str,
    own_task: Option<&str>,
) -> Result<usize, RdsError> {
    let (since, mut tasks) = recent_tasks(rds, instance_id).await?;
    tasks.retain(|t| t.db_name.eq_ignore_ascii_case(database));
    let mut to_count: Vec<TaskCalls> = tasks.into_iter().map(TaskCalls::from).collect();
    if let Some(own) = own_task {
        match to_count.iter_mut().find(|t| t.task_id == own) {
            Some(listed) => listed.per_file = true,
            None => to_count.push(TaskCalls {
                task_id: own.to_owned(),
                database: database.to_owned(),
                per_file: true,
            }),
        }
    }
    let counted = count_calls(rds, instance_id, to_count, since).await?;
    Ok(counted.iter().map(|(_, calls)| calls).sum())
}

/// A listed task and whether its calls are counted per file (a migration's task) or as one.
struct TaskCalls {
    task_id: String,
    database: String,
    per_file: bool,
}

impl From<MigrateTask> for TaskCalls {
    fn from(task: MigrateTask) -> Self {
        let per_file = task.backup_mode.eq_ignore_ascii_case("UPDF");
        TaskCalls {
            task_id: task.migrate_task_id,
            database: task.db_name,
            per_file,
        }
    }
}

/// The tasks of the last 24 hours, and when that window starts.
async fn recent_tasks(
    rds: &RdsClient,
    instance_id: &str,
) -> Result<(time::OffsetDateTime, Vec<MigrateTask>), RdsError> {
    let now = time::OffsetDateTime::now_utc();
    let since = now - time::Duration::days(1);
    let end = now + time::Duration::minutes(1);
    let tasks = list_tasks(rds, instance_id, since, end, QUOTA_PAGES).await?;
    Ok((since, tasks))
}

/// Each task's database and its calls since `since`.
async fn count_calls(
    rds: &RdsClient,
    instance_id: &str,
    tasks: Vec<TaskCalls>,
    since: time::OffsetDateTime,
) -> Result<Vec<(String, usize)>, RdsError> {
    futures::stream::iter(tasks)
        .map(|task| calls_of(rds, instance_id, task, since))
        .buffered(CONCURRENT_LOOKUPS)
        .try_collect()
        .await
}

async fn calls_of(
    rds: &RdsClient,
    instance_id: &str,
    task: TaskCalls,
    since: time::OffsetDateTime,
) -> Result<(String, usize), RdsError> {
    let calls = if task.per_file {
        files_added_since(rds, instance_id, &task.task_id, since).await?
    } else {
        1
    };
    Ok((task.database, calls.min(MOST_CALLS_PER_TASK)))
}

/// The files of a migration's task added since `since`; a file whose time cannot be read
/// counts, and a task without per-file detail (cluster editions, §1.5) counts as one.
async fn files_added_since(
    rds: &RdsClient,
    instance_id: &str,
    task_id: &str,
    since: time::OffsetDateTime,
) -> Result<usize, RdsError> {
    match rds.describe_oss_downloads(instance_id, task_id).await {
        Ok(files) => Ok(files
            .items
            .oss_download
            .iter()
            .filter(|f| parse_timestamp(&f.create_time).is_none_or(|t| t >= since))
            .count()),
        Err(error) if error.code().is_some() => Ok(1),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::rds::{Credentials, RdsClientConfig};

    /// A server that ignores paging: every DescribeMigrateTasks page holds 250 entries (three
    /// task IDs over and over) and claims a trillion in all; every task holds 100,000 files
    /// without a CreateTime.
    async fn server_ignoring_paging(listings: Arc<AtomicUsize>) -> String {
        let tasks: Vec<serde_json::Value> = (0..250)
            .map(|i| {
                serde_json::json!({"MigrateTaskId": (i % 3 + 1).to_string(), "DBName": "Sales",
                                   "BackupMode": "UPDF", "Status": "Success"})
            })
            .collect();
        let page = serde_json::json!({"TotalRecordCount": 1_000_000_000_000_i64,
                                      "Items": {"MigrateTask": tasks}})
        .to_string();
        let files =
            serde_json::json!({"Items": {"OssDownload": vec![serde_json::json!({}); 100_000]}})
                .to_string();
        let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
            let listings = Arc::clone(&listings);
            let (page, files) = (page.clone(), files.clone());
            async move {
                let action = headers
                    .get("x-acs-action")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if action == "DescribeMigrateTasks" {
                    listings.fetch_add(1, Ordering::SeqCst);
                    page
                } else {
                    files
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn a_server_that_ignores_paging_cannot_inflate_the_count_or_the_calls() {
        let listings = Arc::new(AtomicUsize::new(0));
        let mut config = RdsClientConfig::new("cn-hangzhou");
        config.endpoint = Some(server_ignoring_paging(Arc::clone(&listings)).await);
        let rds = RdsClient::new(config, Credentials::new("id", "secret")).unwrap();

        let calls = recent_migrations_of(&rds, "rm-1", "Sales", Some("2"))
            .await
            .unwrap();
        // Three distinct tasks, each capped: duplicates and surplus files count for nothing.
        assert_eq!(calls, 3 * MOST_CALLS_PER_TASK);
        let listed = listings.load(Ordering::SeqCst);
        assert!(
            listed <= QUOTA_PAGES as usize,
            "{listed} DescribeMigrateTasks calls"
        );
        let names = recent_migrations(&rds, "rm-1").await.unwrap();
        assert_eq!(names.len(), 3 * MOST_CALLS_PER_TASK);
    }
}

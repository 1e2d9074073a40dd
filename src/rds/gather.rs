//! Fetching what pre-flight and resumption need from RDS: the instance's attributes, usage,
//! databases and accounts in one go, the task that already restores a given object, and the
//! tasks of the last day (the daily quotas).
//! Network only; the judging is [`super::preflight`]'s.

use futures::{StreamExt as _, TryStreamExt as _};

use super::client::RdsClient;
use super::error::RdsError;
use super::model::MigrateTask;
use super::preflight::{AccountFacts, InstanceFacts};
use super::sign::parse_timestamp;

/// The instance side of [`super::preflight::PreflightFacts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSide {
    /// Attributes and usage.
    pub instance: InstanceFacts,
    /// Database names.
    pub databases: Vec<String>,
    /// Accounts.
    pub accounts: Vec<AccountFacts>,
}

/// Calls DescribeDBInstanceAttribute, DescribeResourceUsage, DescribeDatabases and
/// DescribeAccounts concurrently (§1.8). A failed DescribeResourceUsage falls back to the
/// attribute's `DBInstanceDiskUsed`; every other failure is returned.
pub async fn gather_instance(
    client: &RdsClient,
    instance_id: &str,
) -> Result<InstanceSide, RdsError> {
    let (attribute, usage, databases, accounts) = tokio::join!(
        client.describe_db_instance_attribute(instance_id),
        client.describe_resource_usage(instance_id),
        client.describe_databases(instance_id),
        client.describe_accounts(instance_id),
    );
    let attribute = attribute?;
    let usage = usage
        .inspect_err(|error| tracing::debug!(%error, "no resource usage; using DBInstanceDiskUsed"))
        .ok();
    Ok(InstanceSide {
        instance: InstanceFacts::from_api(&attribute, usage.as_ref()),
        databases: databases?
            .databases
            .database
            .into_iter()
            .map(|d| d.db_name)
            .collect(),
        accounts: accounts?
            .accounts
            .db_instance_account
            .iter()
            .map(AccountFacts::from)
            .collect(),
    })
}

/// DescribeMigrateTasks pages hold at most 100 entries (§1.3); a week of tasks on one instance
/// is capped at 500 a day, so 50 pages cover it.
const MAX_PAGES: u32 = 50;

/// The newest task since `since` that restores `object_key` into `db_name`, if any: lets a
/// rerun attach to it instead of creating a second one. A task whose per-file detail is
/// unavailable (cluster editions, §1.5) matches on the database name alone.
pub async fn find_task_for_object(
    client: &RdsClient,
    instance_id: &str,
    db_name: &str,
    object_key: &str,
    since: time::OffsetDateTime,
) -> Result<Option<MigrateTask>, RdsError> {
    let end = time::OffsetDateTime::now_utc() + time::Duration::minutes(1);
    let mut candidates: Vec<MigrateTask> = Vec::new();
    for page in 1..=MAX_PAGES {
        let answer = client
            .describe_migrate_tasks(instance_id, since, end, page)
            .await?;
        let got = answer.items.migrate_task.len();
        candidates.extend(
            answer
                .items
                .migrate_task
                .into_iter()
                .filter(|t| t.db_name.eq_ignore_ascii_case(db_name)),
        );
        let total = usize::try_from(answer.total_record_count).unwrap_or(0);
        if got == 0 || page.saturating_mul(100) >= u32::try_from(total).unwrap_or(u32::MAX) {
            break;
        }
    }
    // Newest first: IDs grow with time.
    candidates.sort_by_key(|t| std::cmp::Reverse(t.migrate_task_id.parse::<u64>().unwrap_or(0)));
    for task in candidates {
        match client
            .describe_oss_downloads(instance_id, &task.migrate_task_id)
            .await
        {
            Ok(files) => {
                let key = object_key.trim_start_matches('/');
                if files
                    .items
                    .oss_download
                    .iter()
                    .any(|f| f.file_name.trim_start_matches('/') == key)
                {
                    return Ok(Some(task));
                }
            }
            Err(error) if error.code().is_some() => return Ok(Some(task)),
            Err(error) => return Err(error),
        }
    }
    Ok(None)
}

/// DescribeMigrateTasks pages hold at most 100 tasks (rds-api.md §1.3); 500 a day fit in 5, and
/// one more page tells a full quota from an overflowing one.
const QUOTA_PAGES: u32 = 6;

/// One database name per CreateMigrateTask call on the instance in the last 24 hours, as the
/// daily quotas (§1.1) count them. A one-shot task is one call; a migration's task (UPDF) is
/// one call per backup, each file with its own CreateTime. `own_task` (task ID, database), an
/// incremental migration's task, is counted even if it was created earlier: DescribeMigrateTasks
/// finds tasks by their creation time only.
pub async fn recent_migrations(
    rds: &RdsClient,
    instance_id: &str,
    own_task: Option<(&str, &str)>,
) -> Result<Vec<String>, RdsError> {
    let (since, tasks) = recent_tasks(rds, instance_id).await?;
    let own_unlisted = own_task.filter(|(id, _)| !tasks.iter().any(|t| t.migrate_task_id == *id));
    let mut to_count: Vec<(String, String, bool)> = tasks
        .into_iter()
        .map(|t| {
            let updf = is_updf(&t);
            (t.migrate_task_id, t.db_name, updf)
        })
        .collect();
    if let Some((id, db)) = own_unlisted {
        to_count.push((id.to_owned(), db.to_owned(), true));
    }
    // Concurrently, but gently: a busy instance may list hundreds of UPDF tasks.
    let counted: Vec<(String, usize)> = futures::stream::iter(to_count)
        .map(|(id, db, updf)| calls_of_task(rds, instance_id, id, db, updf, since))
        .buffered(8)
        .try_collect()
        .await?;
    Ok(counted
        .into_iter()
        .flat_map(|(db, calls)| std::iter::repeat_n(db, calls))
        .collect())
}

/// The database of one listed task and how many calls it stands for.
async fn calls_of_task(
    rds: &RdsClient,
    instance_id: &str,
    task_id: String,
    db_name: String,
    updf: bool,
    since: time::OffsetDateTime,
) -> Result<(String, usize), RdsError> {
    let calls = if updf {
        files_added_since(rds, instance_id, &task_id, since).await?
    } else {
        1
    };
    Ok((db_name, calls))
}

fn is_updf(task: &MigrateTask) -> bool {
    task.backup_mode.eq_ignore_ascii_case("UPDF")
}

/// Every migration task created on the instance in the last 24 hours, and when that window
/// starts.
async fn recent_tasks(
    rds: &RdsClient,
    instance_id: &str,
) -> Result<(time::OffsetDateTime, Vec<MigrateTask>), RdsError> {
    let end = time::OffsetDateTime::now_utc() + time::Duration::minutes(1);
    let start = end - time::Duration::days(1);
    let mut tasks = Vec::new();
    for page in 1..=QUOTA_PAGES {
        let answer = rds
            .describe_migrate_tasks(instance_id, start, end, page)
            .await?;
        let got = answer.items.migrate_task.len();
        tasks.extend(answer.items.migrate_task);
        let total = usize::try_from(answer.total_record_count).unwrap_or(0);
        if got == 0 || tasks.len() >= total {
            break;
        }
    }
    Ok((start, tasks))
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

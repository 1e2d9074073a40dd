//! Fetching what pre-flight and resumption need from RDS: the instance's attributes, usage,
//! databases and accounts in one go, the task that already restores a given object, and the
//! migration tasks of a time window, page by page.
//! Network only; the judging is [`super::preflight`]'s.

use std::collections::HashSet;

use super::client::RdsClient;
use super::error::RdsError;
use super::model::MigrateTask;
use super::preflight::{AccountFacts, InstanceFacts};

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
    let mut candidates = list_tasks(client, instance_id, since, end, MAX_PAGES).await?;
    candidates.retain(|t| t.db_name.eq_ignore_ascii_case(db_name));
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

/// DescribeMigrateTasks' page size, the documented maximum (§1.3).
const PAGE_SIZE: usize = 100;

/// The migration tasks created on the instance between `start` and `end`, at most `max_pages`
/// pages of them. A page holding more than it should is cut to [`PAGE_SIZE`] and a task listed
/// twice is kept once, so a server that ignores paging cannot make the list grow without bound.
pub(super) async fn list_tasks(
    client: &RdsClient,
    instance_id: &str,
    start: time::OffsetDateTime,
    end: time::OffsetDateTime,
    max_pages: u32,
) -> Result<Vec<MigrateTask>, RdsError> {
    let mut tasks: Vec<MigrateTask> = Vec::new();
    let mut seen = HashSet::new();
    for page in 1..=max_pages {
        let answer = client
            .describe_migrate_tasks(instance_id, start, end, page)
            .await?;
        let listed = answer.items.migrate_task;
        let got = listed.len();
        for task in listed.into_iter().take(PAGE_SIZE) {
            if seen.insert(task.migrate_task_id.clone()) {
                tasks.push(task);
            }
        }
        // Without a usable TotalRecordCount, a full page says there may be another.
        let more = match usize::try_from(answer.total_record_count) {
            Ok(total) if total > 0 => {
                usize::try_from(page).unwrap_or(usize::MAX) < total.div_ceil(PAGE_SIZE)
            }
            _ => got >= PAGE_SIZE,
        };
        if got == 0 || !more {
            break;
        }
    }
    Ok(tasks)
}

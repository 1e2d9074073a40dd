//! `bak2rds tasks --instance ID`: the instance's recent migration tasks, newest first, each
//! failed one with the cause and fix of its Description.

use anyhow::Context as _;

use super::watch::rds_client;
use crate::cli::Status;
use crate::cli::args::TasksArgs;
use crate::cli::printer::Printer;
use bak2rds_cloud::rds::diagnose::diagnose;
use bak2rds_cloud::rds::model::MigrateTask;

/// DescribeMigrateTasks pages hold at most 100 entries (rds-api.md §1.3); stop after this many
/// pages so a huge history cannot loop for long.
const MAX_PAGES: u32 = 50;

/// Runs `bak2rds tasks`.
pub fn run(args: TasksArgs, printer: &Printer) -> anyhow::Result<Status> {
    let runtime = tokio::runtime::Runtime::new().context("start the async runtime")?;
    runtime.block_on(tasks(args, printer))
}

async fn tasks(args: TasksArgs, printer: &Printer) -> anyhow::Result<Status> {
    let client = rds_client(&args.target)?;
    let instance = &args.target.instance;
    let end = time::OffsetDateTime::now_utc() + time::Duration::minutes(1);
    let start = end - time::Duration::days(i64::from(args.days));
    let mut all: Vec<MigrateTask> = Vec::new();
    for page in 1..=MAX_PAGES {
        let answer = client
            .describe_migrate_tasks(instance, start, end, page)
            .await
            .with_context(|| format!("list the migration tasks of {instance}"))?;
        let got = answer.items.migrate_task.len();
        all.extend(answer.items.migrate_task);
        let total = usize::try_from(answer.total_record_count).unwrap_or(0);
        if got == 0 || all.len() >= total {
            break;
        }
    }
    if printer.json() {
        printer.json_document(&all).context("write the task list")?;
        return Ok(Status::Done);
    }
    // The console's Restoration page shows the last week by default; say which window this is.
    let window = if args.days == 7 {
        "the last 7 days (the console's default window; --days N for more)".to_owned()
    } else {
        format!("the last {} days", args.days)
    };
    if all.is_empty() {
        printer.line(format!("no migration tasks on {instance} in {window}"))?;
        return Ok(Status::Done);
    }
    printer.line(format!("migration tasks on {instance} in {window}:"))?;
    printer.line(format!(
        "{:>10}  {:<8}  {:<20}  {:<20}  {}",
        "TASK", "STATUS", "CREATED", "ENDED", "DATABASE"
    ))?;
    for task in &all {
        printer.line(format!(
            "{:>10}  {:<8}  {:<20}  {:<20}  {}",
            task.migrate_task_id, task.status, task.create_time, task.end_time, task.db_name
        ))?;
        if !task.description.is_empty() {
            printer.line(format!("            RDS says: {}", task.description))?;
        }
        if let Some(diagnosis) = diagnose(&task.description)
            && !diagnosis.restored
        {
            printer.line(format!("            fix: {}", diagnosis.fix))?;
        }
    }
    Ok(Status::Done)
}

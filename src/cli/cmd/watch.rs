//! `bak2rds watch TASK_ID --instance ID`: attach to a migration task, follow it to Success or
//! Failed, and print how it ended with the cause and fix of a documented Description.

use anyhow::Context as _;

use crate::cli::Status;
use crate::cli::args::{RdsTargetArgs, WatchArgs};
use crate::cli::printer::Printer;
use crate::cli::settings;
use bak2rds_cloud::rds::RdsClient;
use bak2rds_cloud::rds::wait::{TaskReport, WaitEvent, WaitOptions, wait_for_task};

/// Runs `bak2rds watch`.
pub fn run(args: WatchArgs, printer: &Printer) -> anyhow::Result<Status> {
    let runtime = tokio::runtime::Runtime::new().context("start the async runtime")?;
    runtime.block_on(watch(args, printer))
}

async fn watch(args: WatchArgs, printer: &Printer) -> anyhow::Result<Status> {
    let client = rds_client(&args.target)?;
    let instance = &args.target.instance;
    let report = wait_for_task(
        &client,
        instance,
        &args.task_id,
        WaitOptions::default(),
        |event| match event {
            WaitEvent::Status {
                status,
                description,
            } if description.is_empty() => printer.note(format!("task {}: {status}", args.task_id)),
            WaitEvent::Status {
                status,
                description,
            } => printer.note(format!("task {}: {status} — {description}", args.task_id)),
            WaitEvent::Files(files) => {
                for file in files {
                    printer.note(format!("  {}: {}", file.file_name, file.status));
                }
            }
        },
    )
    .await
    .with_context(|| format!("watch migration task {} on {instance}", args.task_id))?;
    print_report(printer, &report)?;
    Ok(status_of(&report))
}

/// The RDS client for these arguments, with credentials from the environment or the aliyun
/// CLI profile.
pub(super) fn rds_client(target: &RdsTargetArgs) -> anyhow::Result<RdsClient> {
    settings::rds_client(
        Some(&target.region),
        target.rds_endpoint.as_deref(),
        settings::credentials(target.profile.as_deref(), target.ca_bundle.as_deref())?,
        target.insecure_http,
        target.ca_bundle.as_deref(),
    )
}

/// Success (possibly with a warning) is done; Failed is a refusal with its reason (exit 2).
pub(super) fn status_of(report: &TaskReport) -> Status {
    if report.succeeded() {
        Status::Done
    } else {
        Status::Refused
    }
}

/// The final report: the Description verbatim, then what it means and what to do.
pub(super) fn print_report(printer: &Printer, report: &TaskReport) -> anyhow::Result<()> {
    if printer.json() {
        printer.json_document(report).context("write the report")?;
        return Ok(());
    }
    printer.line(format!(
        "migration task {} ({} on {}): {}",
        report.task_id, report.db_name, report.instance_id, report.status
    ))?;
    printer.line(format!(
        "  started {}  ended {}",
        or_dash(&report.create_time),
        or_dash(&report.end_time)
    ))?;
    if !report.description.is_empty() {
        printer.line(format!("  RDS says: {}", report.description))?;
    }
    if let Some(diagnosis) = &report.diagnosis {
        printer.line(format!("  cause: {}", diagnosis.explanation))?;
        printer.line(format!("  fix:   {}", diagnosis.fix))?;
        if report.succeeded() && diagnosis.fix != "Nothing to do." {
            printer.warn(format!(
                "the database {} was restored, with a warning: {}",
                report.db_name, diagnosis.fix
            ));
        }
    }
    for file in &report.files {
        printer.line(format!(
            "  file {} ({} MB, {}): {}",
            file.file_name, file.file_size, file.backup_mode, file.status
        ))?;
    }
    Ok(())
}

fn or_dash(text: &str) -> &str {
    if text.is_empty() { "-" } else { text }
}

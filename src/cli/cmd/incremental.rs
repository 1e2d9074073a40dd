//! `bak2rds migrate --incremental FULL [DIFF] [LOG...]` and `bak2rds cutover TASK`: the
//! near-zero-downtime migration, with the chain printed before anything is sent, one progress
//! bar per upload, and the outcome with its fix.

use std::sync::Arc;

use anyhow::Context as _;
use indicatif::BinaryBytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::migrate::{
    check_db_mode, clients, instance_and_bucket, print_problems, show_migrate_event,
};
use super::watch::{print_report, rds_client};
use crate::cli::Status;
use crate::cli::args::{CutoverArgs, MigrateArgs};
use crate::cli::printer::Printer;
use crate::cli::settings;
use crate::cli::transfer::drive;
use crate::migrate::incremental::follow_logs::{LogFollowOptions, follow_logs};
use crate::migrate::incremental::{self, IncrementalOutcome, IncrementalReport, IncrementalSpec};
use crate::upload::checkpoint::CheckpointStore;
use crate::upload::progress::Counters;
use bak2rds_cloud::rds::wait::WaitOptions;

/// Runs `bak2rds migrate --incremental`.
pub(super) fn run(args: MigrateArgs, printer: &Printer) -> anyhow::Result<Status> {
    if args.key.is_some() {
        anyhow::bail!(
            "--key names one object; an incremental migration uploads several: use --key-prefix"
        );
    }
    let (instance, bucket) = instance_and_bucket(&args)?;
    if let Some(problem) = mssql_backup::names::key_prefix_problem(&args.key_prefix) {
        anyhow::bail!("--key-prefix: {problem}");
    }
    let spec = IncrementalSpec {
        files: args.files.clone(),
        task_id: args.task.clone(),
        instance_id: instance.to_owned(),
        database: args.database.clone(),
        bucket: bucket.to_owned(),
        key_prefix: mssql_backup::names::normal_key_prefix(&args.key_prefix),
        check_db: check_db_mode(args.check_db),
        cutover: args.cutover,
        delete_after: args.delete_after,
        dry_run: args.dry_run,
        upload: settings::upload_options(&args.transfer, true)?,
        checkpoints: CheckpointStore::new(settings::checkpoint_dir(
            args.folders.checkpoint_dir.clone(),
        )?),
        state_dir: settings::state_dir(args.folders.state_dir.clone())?,
        wait: WaitOptions::default(),
        following: false,
    };
    let follow = log_follow_options(&args)?;
    let clients = clients(&args, bucket)?;
    super::migrate::note_credentials(&clients, printer);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(incremental_with_output(spec, follow, clients, printer))
}

/// `--follow` with `--incremental`: the log follower's settings.
fn log_follow_options(args: &MigrateArgs) -> anyhow::Result<Option<LogFollowOptions>> {
    if !args.follow.enabled {
        if args.cutover_after_lag_below.is_some() {
            anyhow::bail!("--cutover-after-lag-below needs --follow");
        }
        return Ok(None);
    }
    if args.dry_run || args.task.is_some() || args.cutover {
        anyhow::bail!(
            "--follow watches the chain's folder until cutover; it does not combine with \
             --dry-run, --task or --cutover (cut over with `bak2rds cutover TASK` from another \
             shell, or --cutover-after-lag-below)"
        );
    }
    let cutover_below_lag = args
        .cutover_after_lag_below
        .as_deref()
        .map(crate::units::parse_duration)
        .transpose()
        .context("--cutover-after-lag-below")?;
    Ok(Some(LogFollowOptions {
        settle: crate::units::parse_duration(&args.follow.follow_settle)
            .context("--follow-settle")?,
        cutover_below_lag,
    }))
}

/// Runs the job with progress on stderr and the outcome on stdout; a refusal or a failed step
/// is exit status 2.
pub(super) async fn incremental_with_output(
    spec: IncrementalSpec,
    follow: Option<LogFollowOptions>,
    clients: crate::migrate::Clients,
    printer: &Printer,
) -> anyhow::Result<Status> {
    let counters = Arc::new(Counters::default());
    let (events, received) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let bar = printer.byte_bar(0);
    let names = Names {
        instance: spec.instance_id.clone(),
        bucket: spec.bucket.clone(),
    };
    let job = async {
        let counters = Arc::clone(&counters);
        match follow {
            Some(follow) => {
                follow_logs(spec, follow, clients, events, counters, cancel.clone()).await
            }
            None => incremental::run(spec, clients, events, counters, cancel.clone()).await,
        }
    };
    let outcome = drive(
        job,
        received,
        &counters,
        printer,
        &bar,
        &cancel,
        |event, bar| show_migrate_event(event, printer, bar),
    )
    .await;
    bar.finish_and_clear();
    let outcome = outcome.context("incremental migration")?;
    print_outcome(&outcome, printer, &names)
}

/// The instance and bucket, as the next commands to type name them.
struct Names {
    instance: String,
    bucket: String,
}

fn print_outcome(
    outcome: &IncrementalOutcome,
    printer: &Printer,
    names: &Names,
) -> anyhow::Result<Status> {
    let status = match outcome {
        IncrementalOutcome::Finished(report) if report.succeeded() => Status::Done,
        IncrementalOutcome::Planned { .. } => Status::Done,
        _ => Status::Refused,
    };
    if printer.json() {
        printer.json_line(outcome)?;
        return Ok(status);
    }
    match outcome {
        IncrementalOutcome::Refused { stage, findings } => {
            printer.line(format!(
                "refused at {stage}: nothing was uploaded and nothing was created on RDS"
            ))?;
            print_problems(findings, printer)?;
        }
        IncrementalOutcome::Planned {
            database,
            steps,
            preflight,
        } => {
            printer.line(format!(
                "dry run: the chain is complete; {} backups would be restored into {database}:",
                steps.len()
            ))?;
            for (n, step) in steps.iter().enumerate() {
                printer.line(format!(
                    "  {:>2}. {:<12} {} → oss://{}/{}{}",
                    n + 1,
                    step.backup_type,
                    step.file.display(),
                    names.bucket,
                    step.key,
                    if step.applied {
                        "  (restored earlier)"
                    } else {
                        ""
                    }
                ))?;
            }
            if let Some(preflight) = preflight {
                for finding in &preflight.findings {
                    printer.line(format!(
                        "  pre-flight {}: {} — {}",
                        finding.code, finding.message, finding.fix
                    ))?;
                }
            }
        }
        IncrementalOutcome::Finished(report) => print_finished(report, printer, names)?,
    }
    Ok(status)
}

fn print_finished(
    report: &IncrementalReport,
    printer: &Printer,
    names: &Names,
) -> anyhow::Result<()> {
    for step in &report.steps {
        printer.line(format!(
            "restored {} {} ({}{})",
            step.backup_type,
            step.file.display(),
            BinaryBytes(step.size),
            if step.uploaded {
                ""
            } else {
                ", uploaded earlier"
            }
        ))?;
    }
    if let Some(task) = &report.task {
        print_report(printer, task)?;
    }
    if let Some(failure) = &report.failure {
        let what = failure
            .file
            .as_ref()
            .map(|f| format!("RDS refused {}", f.display()))
            .unwrap_or_else(|| "the cutover failed".to_owned());
        printer.line(format!("incremental migration stopped: {what}"))?;
        printer.line(format!("  RDS says: {}", failure.description))?;
        printer.line(format!("  fix: {}", failure.fix))?;
        return Ok(());
    }
    let (instance, bucket) = (&names.instance, &names.bucket);
    if report.online {
        printer.line(format!(
            "database {} is online: {} backups restored (task {}) in {:.1} s",
            report.database, report.applied_total, report.task_id, report.elapsed_secs
        ))?;
        if let Some(after) = &report.after {
            super::migrate::print_after(after, printer)?;
        }
    } else {
        printer.line(format!(
            "database {} is restoring and waits for more backups: {} restored (task {})",
            report.database, report.applied_total, report.task_id
        ))?;
        printer.line(format!(
            "  next: add log backups with `bak2rds migrate --incremental --task {} --instance {} \
             --bucket {} LOG.trn`; at cutover stop writes, take the last log backup and add \
             --cutover (or run `bak2rds cutover {} --instance {}`)",
            report.task_id, instance, bucket, report.task_id, instance
        ))?;
    }
    Ok(())
}

/// Runs `bak2rds cutover`.
pub(super) fn run_cutover(args: CutoverArgs, printer: &Printer) -> anyhow::Result<Status> {
    let client = rds_client(&args.target)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let instance = &args.target.instance;
        let database = match &args.database {
            Some(database) => database.clone(),
            None => {
                client
                    .describe_migrate_task_by_id(instance, &args.task_id)
                    .await
                    .with_context(|| format!("read task {} on {instance}", args.task_id))?
                    .db_name
            }
        };
        let (events, mut received) = mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        let job = incremental::cut_over(
            &client,
            instance,
            &database,
            &args.task_id,
            check_db_mode(args.check_db),
            WaitOptions::default(),
            &events,
            &cancel,
        );
        let show = |event: crate::migrate::MigrateEvent| {
            if printer.json() {
                let _ = printer.json_line(&event);
            } else if let crate::migrate::MigrateEvent::TaskStatus {
                status,
                description,
            } = event
            {
                printer.note(format!("task {}: {status} {description}", args.task_id));
            }
        };
        let mut job = std::pin::pin!(job);
        let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
        let result = loop {
            tokio::select! {
                result = &mut job => break result,
                Some(event) = received.recv() => show(event),
                // The job ends itself on cancel and says truthfully where the task stands.
                _ = &mut ctrl_c, if !cancel.is_cancelled() => cancel.cancel(),
            }
        };
        while let Ok(event) = received.try_recv() {
            show(event);
        }
        let (task, failure) =
            result.with_context(|| format!("cut over task {} on {instance}", args.task_id))?;
        print_report(printer, &task)?;
        Ok(if failure.is_none() {
            Status::Done
        } else {
            Status::Refused
        })
    })
}

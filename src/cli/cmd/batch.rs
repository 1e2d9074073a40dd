//! `bak2rds migrate --batch PLAN.toml|FOLDER --instance ID oss://BUCKET[/PREFIX]`: many
//! databases of one instance, each line prefixed with its database, one aggregate byte bar, and
//! a summary table at the end. Exit 0 when every database succeeded, 2 when some were refused or
//! failed, 1 when some stopped on an error (a rerun resumes them).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use indicatif::{BinaryBytes, ProgressBar};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::migrate::{check_db_mode, clients};
use crate::batch::{self, BatchEvent, BatchProgress, BatchReport, BatchSpec, DEFAULT_PARALLEL};
use crate::cli::Status;
use crate::cli::args::MigrateArgs;
use crate::cli::printer::Printer;
use crate::cli::settings;
use crate::cli::transfer::{say, summary};
use crate::migrate::{Clients, MigrateEvent};
use crate::upload::checkpoint::CheckpointStore;
use crate::upload::progress::UploadEvent;
use bak2rds_cloud::http::limit::BandwidthLimiter;
use bak2rds_cloud::rds::wait::WaitOptions;

/// How often the aggregate bar (and, with `--json`, a progress line) is refreshed.
const TICK: Duration = Duration::from_millis(200);
/// With `--json`, one progress line every this many ticks (1 s).
const JSON_PROGRESS_EVERY: u32 = 5;

/// Runs `bak2rds migrate --batch`.
pub fn run(args: MigrateArgs, printer: &Printer) -> anyhow::Result<Status> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let (spec, clients) = prepare(&args)?;
        super::migrate::note_credentials(&clients, printer);
        let report = run_with_output(spec, clients, printer).await?;
        print_summary(&report, printer)?;
        status_of(&report)
    })
}

/// `oss://BUCKET[/PREFIX]` as bucket and prefix (empty when absent).
fn parse_destination(text: &str) -> anyhow::Result<(String, String)> {
    let Some(rest) = text.strip_prefix("oss://") else {
        bail!(
            "with --batch the argument is the destination, oss://BUCKET[/PREFIX], not {text:?} \
             (the files come from the plan or the folder)"
        );
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!("destination {text:?} names no bucket: write it as oss://BUCKET[/PREFIX]");
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

fn prepare(args: &MigrateArgs) -> anyhow::Result<(BatchSpec, Clients)> {
    let plan_path = args.batch.as_deref().context("--batch PLAN.toml|FOLDER")?;
    // Checked here, not by clap: a clap conflict would also waive `--parallel`'s need of --batch.
    if args.database.is_some() || args.key.is_some() {
        bail!(
            "--database and --key name one database; with --batch write name = \"...\" and \
             key = \"...\" in the plan's [[database]] tables"
        );
    }
    let destination = match args.files.as_slice() {
        [] => None,
        [destination] => Some(parse_destination(&destination.to_string_lossy())?),
        more => bail!(
            "with --batch the only argument is the destination oss://BUCKET[/PREFIX] ({} given); \
             the backups are listed in the plan or found in the folder",
            more.len()
        ),
    };
    // A prefix on the command line wins over the plan's; an absent one leaves it.
    let prefix = destination
        .as_ref()
        .map(|(_, prefix)| prefix.as_str())
        .filter(|p| !p.is_empty());
    let plan = batch::plan::load(plan_path, prefix)?;
    let instance = args.instance.clone().or(plan.instance).context(
        "no instance: pass --instance ID, or write instance = \"rm-...\" in the plan file",
    )?;
    let bucket = destination
        .map(|(bucket, _)| bucket)
        .or_else(|| args.bucket.clone())
        .or(plan.bucket)
        .context(
            "no bucket: pass the destination oss://BUCKET[/PREFIX], or write bucket = \"...\" in \
             the plan file",
        )?;
    let parallel = args.parallel.or(plan.parallel).unwrap_or(DEFAULT_PARALLEL);
    if parallel == 0 {
        bail!("--parallel must be at least 1");
    }
    let mut upload = settings::upload_options(&args.transfer, true)?;
    // The databases share one link and one open-file limit: their parts in flight share the
    // ceiling.
    let open_files_share = (settings::parts_the_open_file_limit_allows() / parallel).max(1);
    if upload.adaptive {
        upload.concurrency = (upload.concurrency / parallel)
            .max(crate::upload::controller::START)
            .min(open_files_share);
    } else if upload.concurrency > open_files_share {
        bail!(
            "--concurrency {} for each of {parallel} databases at once needs more open files \
             than this process may have (`ulimit -n` allows about {open_files_share} parts in \
             flight per database); raise the limit (e.g. `ulimit -n 4096`), or lower \
             --concurrency or --parallel",
            upload.concurrency
        );
    }
    // --max-rate (or the plan's max_rate) caps the whole batch: one limiter for every database.
    if upload.limiter.is_none()
        && let Some(rate) = plan.max_rate
    {
        upload.limiter = Some(Arc::new(
            BandwidthLimiter::new(rate).context("max_rate in the plan")?,
        ));
    }
    let clients = clients(args, &bucket)?;
    let spec = BatchSpec {
        instance_id: instance,
        bucket,
        entries: plan.entries,
        skipped: plan.skipped,
        parallel,
        check_db: check_db_mode(args.check_db),
        dry_run: args.dry_run,
        skip_preflight: args.skip_preflight,
        delete_after: args.delete_after || plan.delete_after.unwrap_or(false),
        upload,
        checkpoints: CheckpointStore::new(settings::checkpoint_dir(
            args.folders.checkpoint_dir.clone(),
        )?),
        state_dir: settings::state_dir(args.folders.state_dir.clone())?,
        wait: WaitOptions::default(),
    };
    Ok((spec, clients))
}

/// Runs the batch showing its events; the first Ctrl-C stops every database cleanly, the second
/// quits at once (state files and checkpoints are written atomically).
async fn run_with_output(
    spec: BatchSpec,
    clients: Clients,
    printer: &Printer,
) -> anyhow::Result<BatchReport> {
    let total: u64 = spec
        .entries
        .iter()
        .filter_map(|e| e.facts.as_ref().map(|f| f.file_bytes))
        .sum();
    let progress = Arc::new(BatchProgress::new(spec.entries.len()));
    let (events, mut received) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let bar = printer.byte_bar(total);
    let job = batch::run(spec, clients, events, Arc::clone(&progress), cancel.clone());
    let mut job = std::pin::pin!(job);
    let mut tick = tokio::time::interval(TICK);
    let mut ticks = 0u32;
    let mut interrupted = false;
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    let result = loop {
        tokio::select! {
            result = &mut job => break result,
            Some(event) = received.recv() => show(event, printer, &bar),
            _ = tick.tick() => {
                ticks = ticks.wrapping_add(1);
                let bytes = progress.bytes().min(total);
                bar.set_position(bytes);
                if printer.json() && ticks.is_multiple_of(JSON_PROGRESS_EVERY) {
                    let _ = printer.json_line(&serde_json::json!({
                        "event": "batch_progress", "bytes": bytes, "total": total,
                    }));
                }
            }
            _ = &mut ctrl_c => {
                ctrl_c.set(tokio::signal::ctrl_c());
                if interrupted {
                    bar.abandon();
                    std::process::exit(130);
                }
                interrupted = true;
                cancel.cancel();
                say(printer, &bar, "stopping every database cleanly (Ctrl-C again to quit at once)…");
            }
        }
    };
    while let Ok(event) = received.try_recv() {
        show(event, printer, &bar);
    }
    bar.finish_and_clear();
    Ok(result?)
}

fn show(event: BatchEvent, printer: &Printer, bar: &ProgressBar) {
    if printer.json() {
        let _ = printer.json_line(&json_of(&event));
        return;
    }
    let line = match event {
        BatchEvent::Skipped { skipped } => Some(format!(
            "skipped {}: {}",
            skipped.file.display(),
            skipped.reason
        )),
        BatchEvent::Preflight { findings } => {
            for finding in findings {
                say(
                    printer,
                    bar,
                    &format!(
                        "batch pre-flight [{}] {}: {} — fix: {}",
                        finding.severity, finding.code, finding.message, finding.fix
                    ),
                );
            }
            None
        }
        BatchEvent::Started {
            database,
            file,
            object,
        } => Some(format!("[{database}] {} → {object}", file.display())),
        BatchEvent::Database { database, migrate } => {
            line_of(migrate).map(|line| format!("[{database}] {line}"))
        }
        BatchEvent::Ended { result } => Some(format!(
            "[{}] {}{}{}",
            result.database,
            result.outcome.as_str(),
            if result.already_migrated {
                " (already migrated by an earlier run)"
            } else {
                ""
            },
            if result.detail.is_empty() {
                String::new()
            } else {
                format!(": {}", result.detail)
            }
        )),
    };
    if let Some(line) = line {
        say(printer, bar, &line);
    }
}

/// A database's event as one JSON object with its `database` alongside the event's own fields.
fn json_of(event: &BatchEvent) -> serde_json::Value {
    match event {
        BatchEvent::Database { database, migrate } => {
            let mut value = serde_json::to_value(migrate).unwrap_or_default();
            if let Some(object) = value.as_object_mut() {
                object.insert("database".into(), database.clone().into());
            }
            value
        }
        other => serde_json::to_value(other).unwrap_or_default(),
    }
}

/// One line for a migration event, or none for the chatty ones (each part).
fn line_of(event: MigrateEvent) -> Option<String> {
    Some(match event {
        MigrateEvent::Inspected { report } => {
            let backup = report.backup.as_ref()?;
            format!(
                "backup of {} (SQL Server {}), {}",
                backup.database_name,
                backup.database_release.unwrap_or("?"),
                report.verdict.as_str()
            )
        }
        MigrateEvent::Preflight { report } => {
            let codes: Vec<&str> = report.findings.iter().map(|f| f.code).collect();
            if codes.is_empty() {
                "pre-flight passed".into()
            } else {
                format!("pre-flight: {}", codes.join(", "))
            }
        }
        MigrateEvent::UploadSkipped { object } => {
            format!("{object} was uploaded by an earlier run: not sending it again")
        }
        MigrateEvent::UploadStarted { len } => format!("uploading {}", BinaryBytes(len)),
        MigrateEvent::Upload { upload } => match upload {
            UploadEvent::Planned {
                resumed_parts,
                resumed_bytes,
                ..
            } if resumed_parts > 0 => format!(
                "resuming: {resumed_parts} parts ({}) already on the server",
                BinaryBytes(resumed_bytes)
            ),
            UploadEvent::PartRetry {
                part_number,
                attempt,
                reason,
                ..
            } => format!("part {part_number}: attempt {attempt} failed ({reason}); retrying"),
            _ => return None,
        },
        MigrateEvent::Uploaded { report } => summary(&report),
        MigrateEvent::TaskCreated { task_id } => format!("task {task_id} created"),
        MigrateEvent::TaskAttached { task_id } => {
            format!("following task {task_id} of an earlier run")
        }
        MigrateEvent::TaskRetried {
            failed_task_id,
            description,
        } => format!("earlier task {failed_task_id} failed ({description}); creating a new one"),
        MigrateEvent::TaskStatus {
            status,
            description,
        } => {
            if description.is_empty() {
                format!("task: {status}")
            } else {
                format!("task: {status} — {description}")
            }
        }
        // A batch runs full migrations only: the incremental steps never occur.
        MigrateEvent::ChainPlanned { .. }
        | MigrateEvent::FileSkipped { .. }
        | MigrateEvent::StepStarted { .. }
        | MigrateEvent::StepSubmitted { .. }
        | MigrateEvent::StepApplied { .. }
        | MigrateEvent::CutoverStarted { .. } => return None,
        MigrateEvent::Warning { message } => format!("warning: {message}"),
        MigrateEvent::Following { message } => message.clone(),
        MigrateEvent::FileGrowing { .. } | MigrateEvent::FollowPolled { .. } => return None,
    })
}

fn print_summary(report: &BatchReport, printer: &Printer) -> anyhow::Result<()> {
    if printer.json() {
        printer.json_line(report)?;
        return Ok(());
    }
    for skipped in &report.skipped {
        printer.line(format!(
            "skipped {}: {}",
            skipped.file.display(),
            skipped.reason
        ))?;
    }
    if report.refused {
        printer.line(
            "batch refused by pre-flight: nothing was uploaded and nothing was created on RDS",
        )?;
        for finding in &report.preflight {
            printer.line(format!(
                "  [{}] {}: {}",
                finding.severity, finding.code, finding.message
            ))?;
            printer.line(format!("      fix: {}", finding.fix))?;
        }
        return Ok(());
    }
    let rows: Vec<[String; 6]> = report
        .databases
        .iter()
        .map(|d| {
            [
                d.database.clone(),
                d.size
                    .map_or_else(|| "-".into(), |s| BinaryBytes(s).to_string()),
                match (d.upload_bytes_per_sec, d.already_migrated) {
                    (_, true) => "already migrated".into(),
                    (Some(rate), _) => format!("{}/s", BinaryBytes(rate as u64)),
                    (None, _) => "-".into(),
                },
                d.task_id.clone().unwrap_or_else(|| "-".into()),
                d.outcome.as_str().into(),
                d.fix.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["DATABASE", "SIZE", "UPLOAD", "TASK", "OUTCOME", "FIX"].map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for ((cell, width), last) in row
            .iter()
            .zip(widths)
            .zip([false, false, false, false, false, true])
        {
            if last {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  "));
            }
        }
        printer.line(line.trim_end())?;
    }
    let succeeded = report
        .databases
        .iter()
        .filter(|d| d.outcome == batch::Outcome::Success)
        .count();
    printer.line(format!(
        "{succeeded} of {} databases migrated in {:.1} s",
        report.databases.len(),
        report.elapsed_secs
    ))?;
    for database in &report.databases {
        if let Some(crate::migrate::MigrateOutcome::Finished(migrated)) = &database.migration
            && let Some(after) = &migrated.after
        {
            printer.line(format!("{}:", database.database))?;
            super::migrate::print_after(after, printer)?;
        }
    }
    Ok(())
}

fn status_of(report: &BatchReport) -> anyhow::Result<Status> {
    if report.all_succeeded() {
        return Ok(Status::Done);
    }
    if report.any_error() {
        bail!(
            "some databases stopped on an error or were interrupted (see the summary); rerun the \
             same command to resume them — finished databases are not redone"
        );
    }
    Ok(Status::Refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_bucket_and_prefix() {
        assert_eq!(
            parse_destination("oss://b/m/2026/").unwrap(),
            ("b".into(), "m/2026/".into())
        );
        assert_eq!(
            parse_destination("oss://b").unwrap(),
            ("b".into(), "".into())
        );
        assert!(parse_destination("/backups/Sales.bak").is_err());
        assert!(parse_destination("oss:///x").is_err());
    }

    #[test]
    fn batch_mode_relaxes_the_single_flags_and_parallel_needs_it() {
        use clap::Parser as _;
        let parse = |args: &[&str]| {
            crate::cli::args::Cli::try_parse_from(
                ["bak2rds", "migrate"].iter().chain(args).copied(),
            )
        };
        assert!(parse(&["--batch", "p.toml", "oss://b/p"]).is_ok());
        assert!(
            parse(&[
                "f.bak",
                "--instance",
                "i",
                "--database",
                "d",
                "--bucket",
                "b"
            ])
            .is_ok()
        );
        let error = parse(&[
            "f.bak",
            "--instance",
            "i",
            "--database",
            "d",
            "--bucket",
            "b",
            "--parallel",
            "3",
        ]);
        assert!(error.is_err(), "--parallel without --batch");
        let Ok(crate::cli::args::Cli {
            command: crate::cli::args::Command::Migrate(args),
            ..
        }) = parse(&["--batch", "p.toml", "--database", "D"])
        else {
            panic!("parses; refused by prepare");
        };
        let error = prepare(&args)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("--database"), "{error}");
    }
}

//! `bak2rds migrate FILE --instance ID --database NAME --bucket B`: the whole job, with
//! progress, and a final report (or the refusal with its fixes).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{BinaryBytes, ProgressBar};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::watch::print_report;
use crate::cli::Status;
use crate::cli::args::{CheckDbArg, MigrateArgs};
use crate::cli::printer::Printer;
use crate::cli::settings;
use crate::cli::transfer::{drive, say, show_event, show_following, summary};
use crate::migrate::{Clients, MigrateEvent, MigrateOutcome, MigrateSpec, Problem};
use crate::upload::checkpoint::CheckpointStore;
use crate::upload::follow::FollowOptions;
use crate::upload::progress::Counters;
use bak2rds_cloud::oss::OssConfig;
use bak2rds_cloud::rds::model::CheckDbMode;
use bak2rds_cloud::rds::wait::WaitOptions;

/// Runs `bak2rds migrate` of one full backup (`cmd::dispatch` sends `--batch` and
/// `--incremental` to their own modules).
pub fn run(args: MigrateArgs, printer: &Printer) -> anyhow::Result<Status> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let (spec, clients) = prepare(&args)?;
        note_credentials(&clients, printer);
        let follow = settings::follow_options(&args.follow, &args.transfer)?;
        migrate_with_output(spec, follow, clients, printer).await
    })
}

/// Says where the credentials come from (never the secret), before the first request.
pub(super) fn note_credentials(clients: &Clients, printer: &Printer) {
    printer.note(format!(
        "credentials: {}",
        clients.oss.credentials().describe()
    ));
}

/// The OSS and RDS clients of a migration staging its backups in `bucket`.
pub(super) fn clients(args: &MigrateArgs, bucket: &str) -> anyhow::Result<Clients> {
    let credentials =
        settings::credentials(args.oss.profile.as_deref(), args.oss.ca_bundle.as_deref())?;
    let oss = settings::oss_client_with(&args.oss, bucket, credentials.clone())?;
    // RDS downloads from inside the region: presigned URLs (2008 R2) name the internal endpoint
    // of real OSS; an explicit endpoint (the emulator) is used as it is.
    let oss_for_rds = match (&args.oss.oss_endpoint, &args.oss.region) {
        (None, Some(region)) => bak2rds_cloud::oss::OssClient::new(
            OssConfig::for_region(region, bucket, true),
            credentials.clone(),
        )?,
        _ => oss.clone(),
    };
    let rds_config = settings::rds_config(
        args.oss.region.as_deref(),
        args.rds_endpoint.as_deref(),
        args.oss.insecure_http,
        args.oss.ca_bundle.as_deref(),
    )?;
    let ram = settings::ram_client(&rds_config, credentials.clone())?;
    Ok(Clients {
        oss,
        oss_for_rds,
        rds: bak2rds_cloud::rds::RdsClient::new(rds_config, credentials)?,
        ram,
    })
}

pub(super) fn check_db_mode(arg: CheckDbArg) -> CheckDbMode {
    match arg {
        CheckDbArg::Async => CheckDbMode::Async,
        CheckDbArg::Sync => CheckDbMode::Sync,
    }
}

/// `--instance` and `--bucket`, which clap requires unless `--batch` is given.
pub(super) fn instance_and_bucket(args: &MigrateArgs) -> anyhow::Result<(&str, &str)> {
    match (&args.instance, &args.bucket) {
        (Some(instance), Some(bucket)) => Ok((instance, bucket)),
        _ => anyhow::bail!("migrate needs --instance ID and --bucket NAME (or --batch PLAN)"),
    }
}

fn prepare(args: &MigrateArgs) -> anyhow::Result<(MigrateSpec, Clients)> {
    let (instance, bucket) = instance_and_bucket(args)?;
    let [file] = args.files.as_slice() else {
        anyhow::bail!(
            "a full migration takes one backup file ({} given); to restore a full backup with \
             its differential and log backups, add --incremental",
            args.files.len()
        );
    };
    let Some(database) = &args.database else {
        anyhow::bail!("--database NAME is required: the database to create on the instance");
    };
    let key = match &args.key {
        Some(key) => key.clone(),
        None => settings::OssUrl::parse(&format!("oss://{bucket}/"), file)?.key,
    };
    let spec = MigrateSpec {
        file: file.clone(),
        instance_id: instance.to_owned(),
        database: database.clone(),
        bucket: bucket.to_owned(),
        key,
        check_db: check_db_mode(args.check_db),
        dry_run: args.dry_run,
        skip_preflight: args.skip_preflight,
        delete_after: args.delete_after,
        upload: settings::upload_options(&args.transfer, true)?,
        checkpoints: CheckpointStore::new(settings::checkpoint_dir(
            args.folders.checkpoint_dir.clone(),
        )?),
        state_dir: settings::state_dir(args.folders.state_dir.clone())?,
        wait: WaitOptions::default(),
    };
    Ok((spec, clients(args, bucket)?))
}

/// Runs the job with progress on stderr and the outcome on stdout; the exit status follows the
/// outcome (refused or failed task: 2).
pub(super) async fn migrate_with_output(
    spec: MigrateSpec,
    follow: Option<FollowOptions>,
    clients: Clients,
    printer: &Printer,
) -> anyhow::Result<Status> {
    let counters = Arc::new(Counters::default());
    let (events, received) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let bar = match follow {
        Some(_) => printer.following_bar(),
        None => printer.byte_bar(0),
    };
    let file = spec.file.clone();
    let job = async {
        let counters = Arc::clone(&counters);
        match follow {
            Some(follow) => {
                crate::migrate::following::run_following(
                    spec,
                    follow,
                    clients,
                    events,
                    counters,
                    cancel.clone(),
                )
                .await
            }
            None => crate::migrate::run(spec, clients, events, counters, cancel.clone()).await,
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
    let outcome = outcome.with_context(|| format!("migrating {}", file.display()))?;
    print_outcome(&outcome, printer)
}

pub(super) fn show_migrate_event(event: MigrateEvent, printer: &Printer, bar: &ProgressBar) {
    // The total of a backup being written grows: `--json` progress events carry it.
    match event {
        MigrateEvent::FileGrowing { written } => return bar.set_length(written),
        MigrateEvent::FollowPolled {
            caught_up,
            unchanged_ms,
        } => return show_following(bar, caught_up, Duration::from_millis(unchanged_ms)),
        _ => {}
    }
    if printer.json() {
        let _ = printer.json_line(&event);
        return;
    }
    match event {
        MigrateEvent::Inspected { report } => {
            if let Some(backup) = &report.backup {
                say(
                    printer,
                    bar,
                    &format!(
                        "backup: database {} from {} (SQL Server {}, database version {}), {}",
                        backup.database_name,
                        backup.server_name,
                        backup.database_release.unwrap_or("?"),
                        backup.database_version,
                        report.verdict.as_str()
                    ),
                );
            }
            for finding in report.findings.iter().filter(|f| f.class.is_none()) {
                say(
                    printer,
                    bar,
                    &format!("  note: {} — {}", finding.message, finding.fix),
                );
            }
        }
        MigrateEvent::Preflight { report } => {
            for finding in &report.findings {
                say(
                    printer,
                    bar,
                    &format!(
                        "pre-flight {}: {} — {}",
                        finding.code, finding.message, finding.fix
                    ),
                );
            }
        }
        MigrateEvent::UploadSkipped { object } => say(
            printer,
            bar,
            &format!(
                "{object} is in OSS already, unchanged (its size and CRC-64 match): not sending it again"
            ),
        ),
        MigrateEvent::UploadStarted { len } => {
            bar.set_length(len);
            bar.reset();
        }
        MigrateEvent::Upload { upload } => show_event(&upload, printer, bar),
        MigrateEvent::Uploaded { report } => {
            bar.finish_and_clear();
            say(printer, bar, &summary(&report));
        }
        MigrateEvent::TaskCreated { task_id } => say(
            printer,
            bar,
            &format!("CreateMigrateTask: task {task_id} restores the backup; watching it"),
        ),
        MigrateEvent::TaskAttached { task_id } => say(
            printer,
            bar,
            &format!("task {task_id} of an earlier run restores this backup; watching it"),
        ),
        MigrateEvent::TaskRetried {
            failed_task_id,
            description,
        } => say(
            printer,
            bar,
            &format!(
                "the earlier task {failed_task_id} failed ({description}); creating a new one"
            ),
        ),
        MigrateEvent::ChainPlanned { database, steps } => {
            say(
                printer,
                bar,
                &format!("restore chain for database {database}:"),
            );
            for (n, step) in steps.iter().enumerate() {
                say(
                    printer,
                    bar,
                    &format!(
                        "  {:>2}. {:<12} {}  LSN {} → {}{}",
                        n + 1,
                        step.backup_type,
                        step.file.display(),
                        step.first_lsn.as_deref().unwrap_or("?"),
                        step.last_lsn.as_deref().unwrap_or("?"),
                        if step.applied {
                            "  (restored earlier)"
                        } else {
                            ""
                        }
                    ),
                );
            }
        }
        MigrateEvent::FileSkipped { file, reason } => say(
            printer,
            bar,
            &format!("{} skipped: {reason}", file.display()),
        ),
        MigrateEvent::StepStarted {
            step,
            of,
            file,
            backup_type,
        } => say(
            printer,
            bar,
            &format!("step {step}/{of}: {backup_type} backup {}", file.display()),
        ),
        MigrateEvent::StepSubmitted { task_id, key } => say(
            printer,
            bar,
            &format!("CreateMigrateTask (UPDF): {key} submitted on task {task_id}; watching it"),
        ),
        MigrateEvent::StepApplied { step, of, file } => say(
            printer,
            bar,
            &format!(
                "step {step}/{of}: restored {}; RDS waits for the next backup",
                file.display()
            ),
        ),
        MigrateEvent::Warning { message } => say(printer, bar, &format!("warning: {message}")),
        MigrateEvent::Following { message } => {
            // The follow has moved on (the backup is finished, or uploaded): it no longer waits
            // on the writer.
            bar.set_prefix("");
            say(printer, bar, &message);
        }
        MigrateEvent::FileGrowing { .. } | MigrateEvent::FollowPolled { .. } => {}
        MigrateEvent::CutoverStarted { task_id } => say(
            printer,
            bar,
            &format!("cutover: CreateOnlineDatabaseTask on task {task_id}; opening the database"),
        ),
        MigrateEvent::TaskStatus {
            status,
            description,
        } => {
            let line = if description.is_empty() {
                format!("task: {status}")
            } else {
                format!("task: {status} — {description}")
            };
            say(printer, bar, &line);
        }
    }
}

fn print_outcome(outcome: &MigrateOutcome, printer: &Printer) -> anyhow::Result<Status> {
    if printer.json() {
        printer.json_line(outcome)?;
        return Ok(match outcome {
            MigrateOutcome::Finished(report) if report.succeeded() => Status::Done,
            MigrateOutcome::Planned { .. } => Status::Done,
            _ => Status::Refused,
        });
    }
    match outcome {
        MigrateOutcome::Refused { stage, findings } => {
            printer.line(format!(
                "refused at {stage}: nothing was uploaded and nothing was created on RDS"
            ))?;
            print_problems(findings, printer)?;
            Ok(Status::Refused)
        }
        MigrateOutcome::Planned { object, report } => {
            printer.line("dry run: the backup and the instance passed pre-flight")?;
            printer.line(format!("  would upload to {object}"))?;
            printer.line(format!(
                "  then CreateMigrateTask with BackupMode={}, IsOnlineDB={}, {}",
                report.plan.backup_mode.as_str(),
                if report.plan.is_online_db {
                    "True"
                } else {
                    "False"
                },
                match report.plan.method {
                    bak2rds_cloud::rds::preflight::RestoreMethod::OssObjectPositions =>
                        "OssObjectPositions".to_string(),
                    bak2rds_cloud::rds::preflight::RestoreMethod::PresignedUrl {
                        valid_for_secs,
                        ..
                    } => format!("a presigned internal URL valid {} h", valid_for_secs / 3600),
                }
            ))?;
            Ok(Status::Done)
        }
        MigrateOutcome::Finished(report) => {
            printer.line(format!(
                "{} {} → {} ({}, CRC-64 {}) in {:.1} s",
                if report.succeeded() {
                    "migrated"
                } else {
                    "migration FAILED:"
                },
                report.file.display(),
                report.object,
                BinaryBytes(report.size),
                report.crc64,
                report.elapsed_secs
            ))?;
            print_report(printer, &report.task)?;
            if let Some(after) = &report.after {
                print_after(after, printer)?;
            }
            Ok(if report.succeeded() {
                Status::Done
            } else {
                Status::Refused
            })
        }
    }
}

/// What comes after the restore, as Alibaba's guide lists it.
pub(super) fn print_after(
    after: &crate::migrate::after::AfterRestore,
    printer: &Printer,
) -> anyhow::Result<()> {
    printer.line("next steps:")?;
    printer.line(format!("  accounts: {}", after.accounts))?;
    if !after.deleted.is_empty() {
        printer.line(format!(
            "  deleted from OSS: {} ({} freed)",
            after.deleted.join(", "),
            BinaryBytes(after.freed_bytes)
        ))?;
    }
    if !after.left.is_empty() {
        printer.line(format!(
            "  left in OSS: {} ({}), a copy of the data that OSS bills for",
            after.left.join(", "),
            BinaryBytes(after.left_bytes)
        ))?;
        if let Some(fix) = &after.left_fix {
            printer.line(format!("    {fix}"))?;
        }
    }
    for note in &after.notes {
        printer.line(format!("  note: {note}"))?;
    }
    if let Some(next) = &after.next_backup {
        printer.line(format!("  backup: {next}"))?;
    }
    Ok(())
}

pub(super) fn print_problems(findings: &[Problem], printer: &Printer) -> anyhow::Result<()> {
    for finding in findings {
        printer.line(format!(
            "  [{}] {}: {}",
            finding.severity, finding.code, finding.message
        ))?;
        printer.line(format!("      fix: {}", finding.fix))?;
    }
    Ok(())
}

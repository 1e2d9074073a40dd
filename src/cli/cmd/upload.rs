//! `bak2rds upload FILE oss://BUCKET/KEY`: the upload pipeline on its own, and `--abort` to
//! discard an unfinished one.

use std::sync::Arc;

use anyhow::Context as _;

use crate::cli::Status;
use crate::cli::args::UploadArgs;
use crate::cli::printer::Printer;
use crate::cli::settings::{self, OssUrl};
use crate::cli::transfer::{drive, say, show_following, summary, upload_with_progress};
use crate::source::SourceFile;
use crate::upload::checkpoint::CheckpointStore;
use crate::upload::engine::{UploadJob, checkpoint_path};
use crate::upload::follow::{FollowEvent, FollowOptions};
use crate::upload::progress::Counters;
use bak2rds_cloud::oss::OssClient;
use indicatif::{BinaryBytes, ProgressBar};
use tokio_util::sync::CancellationToken;

/// Runs `bak2rds upload`.
pub fn run(args: UploadArgs, printer: &Printer) -> anyhow::Result<Status> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(upload(args, printer))
}

async fn upload(args: UploadArgs, printer: &Printer) -> anyhow::Result<Status> {
    // Every argument is checked before anything reaches the network or the disk.
    let options = settings::upload_options(&args.transfer, !args.no_resume)?;
    let destination = OssUrl::parse(&args.destination, &args.file)?;
    let client = settings::oss_client(&args.oss, &destination.bucket)?;
    let checkpoints = CheckpointStore::new(settings::checkpoint_dir(args.checkpoint_dir.clone())?);
    if args.abort && args.follow.enabled {
        anyhow::bail!("--abort and --follow do not go together: leave one of them out");
    }
    if args.abort {
        return abort(&client, &checkpoints, &args, &destination, printer).await;
    }
    printer.note(format!("credentials: {}", client.credentials().describe()));
    if let Some(follow_options) = settings::follow_options(&args.follow, &args.transfer)? {
        return follow(
            client,
            &args,
            &follow_options,
            &checkpoints,
            destination,
            printer,
        )
        .await;
    }
    let source = SourceFile::open(&args.file)?;
    let job = UploadJob {
        source: Arc::new(source),
        bucket: destination.bucket.clone(),
        key: destination.key.clone(),
        checkpoints,
        options,
    };
    let report = upload_with_progress(Arc::new(client), job, printer)
        .await
        .with_context(|| format!("uploading {} to {destination}", args.file.display()))?;
    if printer.json() {
        printer.json_line(&serde_json::json!({ "event": "done", "report": report }))?;
    } else {
        printer.line(summary(&report))?;
    }
    Ok(Status::Done)
}

/// Aborts the multipart upload recorded for this file and destination (or, without a record,
/// every unfinished upload of that key) and deletes the checkpoint.
async fn abort(
    client: &OssClient,
    checkpoints: &CheckpointStore,
    args: &UploadArgs,
    destination: &OssUrl,
    printer: &Printer,
) -> anyhow::Result<Status> {
    let path = checkpoint_path(
        checkpoints,
        &args.file,
        crate::upload::remote::Remote::endpoint(client),
        &destination.bucket,
        &destination.key,
    );
    let upload_ids = match checkpoints.load(&path) {
        Ok(Some(checkpoint)) => vec![checkpoint.upload_id],
        // Unreadable or absent record: fall back to what the server lists for the key.
        Ok(None) | Err(_) => client
            .list_multipart_uploads(Some(&destination.key))
            .await?
            .into_iter()
            .filter(|upload| upload.key == destination.key)
            .map(|upload| upload.upload_id)
            .collect(),
    };
    for upload_id in &upload_ids {
        client
            .abort_multipart_upload(&destination.key, upload_id)
            .await
            .or_else(|e| match e.code() {
                Some("NoSuchUpload") => Ok(()),
                _ => Err(e),
            })
            .with_context(|| format!("aborting upload {upload_id} of {destination}"))?;
    }
    checkpoints.remove(&path)?;
    // A record an earlier version wrote under its spelling of the endpoint goes too (its upload,
    // if any, was found above by listing the key's uploads).
    if let Some(legacy) = crate::upload::remote::Remote::legacy_endpoint(client) {
        let legacy_path = checkpoint_path(
            checkpoints,
            &args.file,
            legacy,
            &destination.bucket,
            &destination.key,
        );
        checkpoints.remove(&legacy_path)?;
    }
    let message = match upload_ids.len() {
        0 => format!("no unfinished upload of {destination}; nothing to abort"),
        n => {
            format!("aborted {n} unfinished upload(s) of {destination} and removed the checkpoint")
        }
    };
    if printer.json() {
        printer.json_line(&serde_json::json!({
            "event": "aborted",
            "destination": destination.to_string(),
            "upload_ids": upload_ids,
        }))?;
    } else {
        printer.line(message)?;
    }
    Ok(Status::Done)
}

/// `--follow`: the upload of a backup SQL Server is still writing.
async fn follow(
    client: OssClient,
    args: &UploadArgs,
    follow_options: &FollowOptions,
    checkpoints: &CheckpointStore,
    mut destination: OssUrl,
    printer: &Printer,
) -> anyhow::Result<Status> {
    printer.note(format!(
        "following {} as it is written: parts of {} go out once written",
        args.file.display(),
        BinaryBytes(follow_options.part_size)
    ));
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.cancel();
        }
    });
    if let Some(folder) = destination.folder.clone() {
        // Named like a finished backup's (`.diff`, `.trn` by its type): from its header, once
        // SQL Server has written it.
        let header = crate::upload::follow::read_header(
            &args.file,
            &Default::default(),
            follow_options,
            &cancel,
        )
        .await
        .with_context(|| format!("following {}", args.file.display()))?;
        if let Some(kind) = header.backup.and_then(|backup| backup.backup_type) {
            let name = args.file.file_name().unwrap_or_default().to_string_lossy();
            destination.key = format!(
                "{folder}{}",
                mssql_backup::object_key_for_backup(&name, kind)
            );
        }
    }
    let record = follow_record(&client, checkpoints, &args.file, &destination);
    let counters = Arc::new(Counters::default());
    let bar = printer.following_bar();
    let (events, received) = tokio::sync::mpsc::unbounded_channel();
    let job = crate::upload::follow::follow(
        Arc::new(client),
        &args.file,
        &destination.key,
        &record,
        follow_options,
        Arc::clone(&counters),
        &cancel,
        |event| {
            let _ = events.send(event);
        },
    );
    let report = drive(
        job,
        received,
        &counters,
        printer,
        &bar,
        &cancel,
        |event, bar| show_follow_event(&event, printer, bar),
    )
    .await;
    bar.finish_and_clear();
    ctrl_c.abort();
    let report =
        report.with_context(|| format!("following {} to {destination}", args.file.display()))?;
    if printer.json() {
        printer.json_line(&serde_json::json!({
            "event": "done",
            "follow": {
                "bytes": report.len,
                "parts": report.parts,
                "crc64": report.crc64,
                "sent_while_growing": report.sent_while_growing,
                "resent": report.resent,
                "secs_after_last_write": report.after_last_change.as_secs_f64(),
                "pages": report.pages,
            }
        }))?;
    } else {
        printer.line(format!(
            "uploaded {destination}: {} in {} parts, CRC-64 {} verified; {} parts sent while \
             the backup was being written ({} sent again after it changed), completed {:.1} s \
             after its last write; {}",
            BinaryBytes(report.len),
            report.parts,
            report.crc64,
            report.sent_while_growing,
            report.resent,
            report.after_last_change.as_secs_f64(),
            report.pages
        ))?;
    }
    Ok(Status::Done)
}

/// Where a follow of `file` to `destination` records its multipart upload: beside the
/// upload's checkpoint.
fn follow_record(
    client: &OssClient,
    checkpoints: &CheckpointStore,
    file: &std::path::Path,
    destination: &OssUrl,
) -> std::path::PathBuf {
    crate::upload::follow::record_path(
        checkpoints,
        file,
        crate::upload::remote::Remote::endpoint(client),
        &destination.bucket,
        &destination.key,
    )
}

fn show_follow_event(event: &FollowEvent, printer: &Printer, bar: &ProgressBar) {
    match event {
        FollowEvent::Header(backup) => say(
            printer,
            bar,
            &format!(
                "the backup's header is written: {} backup of {:?} by SQL Server {}",
                backup
                    .backup_type
                    .map_or_else(|| "an unknown".to_owned(), |kind| kind.to_string()),
                backup.database_name,
                backup.software_version
            ),
        ),
        // The bar's total is what is written so far; one line per part would flood a
        // terminal on a TB backup: `-v` shows them.
        FollowEvent::PartSent {
            part_number,
            file_len,
            ..
        } => {
            bar.set_length(*file_len);
            tracing::info!(
                part_number,
                file_len,
                "part sent while the backup is written"
            );
        }
        FollowEvent::Polled {
            caught_up,
            unchanged_for,
        } => show_following(bar, *caught_up, *unchanged_for),
        FollowEvent::Finished { len } => {
            bar.set_length(*len);
            // No longer waiting on the writer: the final check runs.
            bar.set_prefix("");
            say(
                printer,
                bar,
                &format!(
                    "the backup is finished ({}): checking every part against the final file",
                    BinaryBytes(*len)
                ),
            );
        }
    }
}

//! `bak2rds upload FILE oss://BUCKET/KEY`: the upload pipeline on its own, and `--abort` to
//! discard an unfinished one.

use std::sync::Arc;

use anyhow::Context as _;

use crate::cli::Status;
use crate::cli::args::UploadArgs;
use crate::cli::printer::Printer;
use crate::cli::settings::{self, OssUrl};
use crate::cli::transfer::{summary, upload_with_progress};
use crate::source::SourceFile;
use crate::upload::checkpoint::CheckpointStore;
use crate::upload::engine::{UploadJob, checkpoint_path};
use bak2rds_cloud::oss::OssClient;

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
    if args.abort {
        return abort(&client, &checkpoints, &args, &destination, printer).await;
    }
    let source = SourceFile::open(&args.file)?;
    printer.note(format!("credentials: {}", client.credentials().describe()));
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

//! The engine: N workers pull the next missing part, send it as a stream of zero-copy chunks
//! (CRC-64 computed as each chunk goes out, bandwidth charged per chunk), compare the server's
//! CRC, record the part in the checkpoint, and finally complete and confirm the object.
//!
//! Failure policy: *retain*. Whatever stops the upload, the multipart upload and the checkpoint
//! stay, so the same command resumes; only a verified-bad assembled object is deleted.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rayon::prelude::*;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::body::{AttemptTracker, Part, chunks};
use super::checkpoint::{Checkpoint, CheckpointStore, CheckpointWriter, DonePart, Target};
use super::controller::{Controller, Decision, Limit};
use super::error::UploadError;
use super::pages::{PageGuard, PageSummary, PageTally};
use super::plan::PartPlan;
use super::progress::{Counters, UploadEvent};
use super::read_ahead::ReadAhead;
use super::remote::{ListedPart, ObjectReceipt, Remote, RemoteError};
use crate::source::SourceFile;
use bak2rds_cloud::checksum::{content_md5, crc64, crc64_of_pieces};
use bak2rds_cloud::http::limit::BandwidthLimiter;
use bak2rds_cloud::http::{Backoff, RetryConfig};
use mssql_backup::pages::PageFailure;

/// Tuning and behaviour of one upload.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Part size; `None` chooses one (see [`PartPlan`]).
    pub part_size: Option<u64>,
    /// Parts in flight. 8 reaches the loopback ceiling (`perf-anchors.md` row 26: ≥4 suffice).
    /// With `adaptive`, the most the controller may choose.
    pub concurrency: usize,
    /// Let the controller choose the parts in flight (see [`super::controller`]), up to
    /// `concurrency`.
    pub adaptive: bool,
    /// Send `Content-MD5` with every part (costs ~1.9 CPU-s/GiB: `perf-anchors.md` row 25).
    pub content_md5: bool,
    /// Shared bandwidth cap.
    pub limiter: Option<Arc<BandwidthLimiter>>,
    /// Resume from a matching checkpoint (otherwise start over and discard it).
    pub resume: bool,
    /// Re-send a part in parallel when it lags far behind the others near the end: when it has
    /// run 3× the median part time and at least this long. `None` turns hedging off.
    pub hedge_after: Option<Duration>,
    /// Retries per part (and for Complete) and their backoff. Only the count and the delays
    /// apply: a part's first attempt on a slow link may alone outlast any time budget.
    pub retry: RetryConfig,
    /// An attempt that moves no byte for this long is abandoned and retried.
    pub stall_timeout: Duration,
    /// Check the checksum of every data page of a backup as its chunk goes out; a damaged page
    /// stops the upload before Complete.
    pub verify_pages: bool,
    /// File size beyond which the page cache is not expected to keep the file, so sent parts
    /// are dropped from the mapping. `None`: half the machine's memory.
    pub residency_budget: Option<u64>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            part_size: None,
            concurrency: 8,
            adaptive: false,
            content_md5: false,
            limiter: None,
            resume: true,
            // At least 5 s, so quick parts never double the traffic.
            hedge_after: Some(Duration::from_secs(5)),
            // The v2 SDK tries 3 times, ossutil 10 (`oss-protocol.md` §5.2–5.3); a multi-hour
            // upload over a flaky link is better served by the larger number. Delays from 200 ms
            // to 20 s, the v2 SDK's bounds (§5.5 point 6).
            retry: RetryConfig {
                max_retries: 9,
                base: Duration::from_millis(200),
                max_backoff: Duration::from_secs(20),
                ..RetryConfig::default()
            },
            stall_timeout: Duration::from_secs(60),
            verify_pages: true,
            residency_budget: None,
        }
    }
}

/// What to upload where.
#[derive(Debug)]
pub struct UploadJob {
    /// The mapped file.
    pub source: Arc<SourceFile>,
    /// Bucket name (for the checkpoint key and the report).
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Where checkpoints live.
    pub checkpoints: CheckpointStore,
    /// Tuning.
    pub options: UploadOptions,
}

/// The result of a finished upload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UploadReport {
    /// Bucket name.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Object length.
    pub size: u64,
    /// CRC-64/XZ of the object, equal to the file's.
    pub crc64: u64,
    /// The object's ETag.
    pub etag: String,
    /// Parts in the object (0 for an empty object).
    pub part_count: u32,
    /// Part size used (the largest part's, when the plan is graded).
    pub part_size: u64,
    /// The smallest part's size, the last left out.
    pub smallest_part_size: u64,
    /// Parts found finished from an earlier run.
    pub resumed_parts: u32,
    /// True when the object was already there and nothing was sent.
    pub already_uploaded: bool,
    /// Bytes sent by this run (re-sent bytes included).
    pub transferred_bytes: u64,
    /// Bytes sent but discarded (failed attempts, lost hedges).
    pub resent_bytes: u64,
    /// Part attempts retried.
    pub retries: u64,
    /// Parts sent a second time in parallel because they lagged far behind the others.
    pub hedged_parts: u64,
    /// Wall time of this run.
    pub elapsed_ms: u64,
    /// From the first body byte handed to the network to Complete's answer (0 when no part was
    /// sent): the transfer itself, without the requests and connection handshakes before it
    /// and the HEAD that checks the object after it (a round trip each on a long path).
    #[serde(default)]
    pub sending_ms: u64,
    /// The page checks of the parts this run sent.
    pub pages: PageSummary,
    /// With `adaptive`: the parts in flight settled on, why, and the levels tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<ConcurrencyReport>,
}

/// What the adaptive controller did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConcurrencyReport {
    /// Parts in flight at the end.
    pub settled_on: usize,
    /// Why it stopped changing (`None`: the upload ended first).
    pub limit: Option<Limit>,
    /// Each level tried and the rate measured there, bytes per second.
    pub tried: Vec<(usize, u64)>,
}

/// Uploads `job.source` to `job.key`, resuming when possible.
pub async fn run<R: Remote>(
    remote: Arc<R>,
    job: UploadJob,
    events: mpsc::UnboundedSender<UploadEvent>,
    counters: Arc<Counters>,
    cancel: CancellationToken,
) -> Result<UploadReport, UploadError> {
    let started = Instant::now();
    // The counters may come from an earlier phase (a follower's, before the finished file).
    counters.forget_first_byte();
    let target = Target {
        endpoint: remote.endpoint(),
        bucket: job.bucket.clone(),
        key: job.key.clone(),
    };
    let checkpoint_path = job.checkpoints.path_for(job.source.path(), &target);
    carry_over_legacy_checkpoint(remote.as_ref(), &job, &target, &checkpoint_path);
    let plan = match (
        job.options.part_size,
        resumable_plan(&job, &checkpoint_path),
    ) {
        (None, Some(saved)) => saved,
        (requested, _) => PartPlan::new(job.source.len(), requested)?,
    };
    let report = |crc64: u64,
                  etag: String,
                  resumed_parts: u32,
                  already_uploaded: bool,
                  pages: PageSummary| {
        let snapshot = counters.snapshot();
        UploadReport {
            bucket: job.bucket.clone(),
            key: job.key.clone(),
            size: plan.len(),
            crc64,
            etag,
            part_count: plan.part_count(),
            part_size: plan.largest_part_size(),
            smallest_part_size: plan.smallest_part_size(),
            resumed_parts,
            already_uploaded,
            transferred_bytes: snapshot.transferred,
            resent_bytes: snapshot.resent,
            retries: snapshot.retries,
            hedged_parts: snapshot.hedged,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            sending_ms: 0,
            pages,
            concurrency: None,
        }
    };
    let nothing_sent = || PageSummary::NotCheckable {
        reason: "no part was sent".into(),
    };

    job.checkpoints.check_writable()?;
    refuse_known_damage(&job, &checkpoint_path)?;
    let existing = tokio::select! {
        biased;
        _ = cancel.cancelled() => {
            return Err(interrupted(&job, checkpoint_path));
        }
        existing = already_there(remote.as_ref(), &job, &plan) => existing?,
    };
    if let Some(existing) = existing {
        // A checkpoint left from an earlier attempt holds parts OSS still bills: discard them.
        if let Ok(Some(stale)) = job.checkpoints.load(&checkpoint_path) {
            let _ = remote.abort(&stale.key, &stale.upload_id).await;
        }
        job.checkpoints.remove(&checkpoint_path)?;
        let _ = events.send(UploadEvent::AlreadyUploaded {
            len: plan.len(),
            crc64: existing.crc64.unwrap_or_default(),
        });
        return Ok(report(
            existing.crc64.unwrap_or_default(),
            existing.etag,
            0,
            true,
            nothing_sent(),
        ));
    }
    if plan.is_empty() {
        let object = put_empty(remote.as_ref(), &job).await?;
        return Ok(report(0, object.etag, 0, false, nothing_sent()));
    }
    // The walk reads headers all over the file: off the async workers, a cold file's reads
    // must not stall them.
    let page_guard = {
        let (source, verify) = (Arc::clone(&job.source), job.options.verify_pages);
        tokio::task::spawn_blocking(move || page_guard(&source, verify))
            .await
            .map_err(|e| UploadError::Internal(e.to_string()))?
    };

    let (checkpoint, round_trip) = open_checkpoint(
        remote.as_ref(),
        &job,
        &target,
        &plan,
        &checkpoint_path,
        &events,
    )
    .await?;
    let controller = job.options.adaptive.then(|| {
        let cap = job.options.limiter.as_ref().map(|l| l.bytes_per_second());
        Controller::new(job.options.concurrency, cap, round_trip)
    });
    let first_level = controller
        .as_ref()
        .map_or(job.options.concurrency.max(1), Controller::level);
    let resumed_parts = u32::try_from(checkpoint.parts.len()).unwrap_or(u32::MAX);
    counters.set_resumed(checkpoint.done_bytes(), u64::from(resumed_parts));
    let _ = events.send(UploadEvent::Planned {
        len: plan.len(),
        part_size: plan.largest_part_size(),
        smallest_part_size: plan.smallest_part_size(),
        part_count: plan.part_count(),
        resumed_parts,
        resumed_bytes: checkpoint.done_bytes(),
        upload_id: checkpoint.upload_id.clone(),
    });

    let release_finished = plan.len() > residency_budget(&job.options);
    if release_finished {
        // The inspection's walk and the page layout touched headers all over the file, each
        // fault mapping its neighbours: dropped now, so only the parts in flight stay mapped.
        job.source.release(0..plan.len());
    }
    let writer = CheckpointWriter::start(job.checkpoints.clone(), checkpoint_path.clone());
    let transfer = Arc::new(Transfer {
        remote: Arc::clone(&remote),
        source: Arc::clone(&job.source),
        key: job.key.clone(),
        upload_id: checkpoint.upload_id.clone(),
        plan,
        release_finished,
        pages: page_guard.as_ref().ok().cloned(),
        part_pages: Mutex::new(HashMap::new()),
        slots: Arc::new(Semaphore::new(first_level)),
        first_controller: Mutex::new(controller),
        controller: Mutex::new(None),
        options: job.options.clone(),
        counters: Arc::clone(&counters),
        events: events.clone(),
        cancel: cancel.child_token(),
        schedule: Mutex::new(Schedule::new(&plan, &checkpoint)),
        wake: Notify::new(),
        checkpoint: Mutex::new(checkpoint),
        writer,
    });
    // Asked beside the parts, not before them: a round trip of the path saved.
    let naming = (resumed_parts == 0).then(|| {
        let (remote, events) = (Arc::clone(&remote), events.clone());
        let (job_key, bucket, own) = (
            job.key.clone(),
            job.bucket.clone(),
            transfer.upload_id.clone(),
        );
        tokio::spawn(async move {
            name_other_uploads(remote.as_ref(), &bucket, &job_key, &own, &events).await;
        })
    });
    let outcome = send_missing_parts(&transfer).await;
    if let Some(naming) = naming {
        let _ = naming.await;
    }
    let Ok(transfer) = Arc::try_unwrap(transfer) else {
        return Err(UploadError::Internal("a worker outlived the upload".into()));
    };
    let concurrency = job.options.adaptive.then(|| {
        transfer
            .controller
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or(ConcurrencyReport {
                settled_on: first_level,
                limit: None,
                tried: Vec::new(),
            })
    });
    let checkpoint = transfer
        .checkpoint
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    if let Err(error) = transfer.writer.finish().await {
        // The server's part list is the truth; a stale checkpoint only costs a rerun CRC work.
        let _ = events.send(UploadEvent::CheckpointDiscarded {
            reason: format!("the checkpoint could not be saved ({error}); going on without it"),
        });
    }
    if let Err(UploadError::DamagedPage { page, .. }) = outcome {
        let aborted =
            record_damage(remote.as_ref(), &job, checkpoint, page, &checkpoint_path).await;
        return Err(damaged(&job, page, false, aborted));
    }
    outcome?;
    if cancel.is_cancelled() {
        return Err(interrupted(&job, checkpoint_path));
    }

    job.source.check_unchanged().map_err(UploadError::Source)?;
    let object = complete_and_verify(remote.as_ref(), &job, &plan, &checkpoint, &events).await;
    if matches!(object, Err(UploadError::ObjectMismatch { .. })) {
        // The bad object was deleted; its parts are useless to a resume.
        job.checkpoints.remove(&checkpoint_path)?;
    }
    let (object, completed_at) = object?;
    // 0 when every part was already there (resumed): nothing was transferred.
    let sending_ms = counters
        .first_byte()
        .map_or(0, |first| completed_at.duration_since(first).as_millis());
    job.checkpoints.remove(&checkpoint_path)?;
    let pages = match page_guard {
        Ok(guard) => guard.summary(resumed_parts),
        Err(unchecked) => unchecked,
    };
    Ok(UploadReport {
        concurrency,
        sending_ms: u64::try_from(sending_ms).unwrap_or(u64::MAX),
        ..report(
            object.crc64.unwrap_or_default(),
            object.etag,
            resumed_parts,
            false,
            pages,
        )
    })
}

/// The page checks for this upload, or what the report says instead of their totals.
fn page_guard(source: &SourceFile, verify: bool) -> Result<Arc<PageGuard>, PageSummary> {
    if !verify {
        return Err(PageSummary::Off);
    }
    PageGuard::for_source(source)
        .map(Arc::new)
        .map_err(|reason| PageSummary::NotCheckable { reason })
}

/// A file an earlier run found damaged is refused until it changes: its upload was aborted and
/// resending it would only stop at the same page. `--no-verify-pages` lets it through.
fn refuse_known_damage(job: &UploadJob, checkpoint: &std::path::Path) -> Result<(), UploadError> {
    if !job.options.verify_pages {
        return Ok(());
    }
    let Ok(Some(saved)) = job.checkpoints.load(checkpoint) else {
        return Ok(());
    };
    match saved.damaged_page {
        Some(page) if saved.file.same_contents(job.source.identity()) => {
            Err(damaged(job, page, true, true))
        }
        _ => Ok(()),
    }
}

fn damaged(job: &UploadJob, page: PageFailure, earlier: bool, aborted: bool) -> UploadError {
    UploadError::DamagedPage {
        page,
        file: job.source.path().to_path_buf(),
        object: format!("oss://{}/{}", job.bucket, job.key),
        earlier,
        aborted,
    }
}

/// After a damaged page: the parts already sent are of no use (the file must be backed up
/// again), so the multipart upload is aborted, and the record remembers the page so a rerun on
/// the same file is refused at once. Returns whether the abort succeeded; when it did not, the
/// record keeps the upload id, for `upload --abort`.
async fn record_damage<R: Remote>(
    remote: &R,
    job: &UploadJob,
    mut checkpoint: Checkpoint,
    page: PageFailure,
    path: &std::path::Path,
) -> bool {
    let aborted = remote.abort(&job.key, &checkpoint.upload_id).await.is_ok();
    if aborted {
        checkpoint.parts.clear();
    }
    checkpoint.damaged_page = Some(page);
    let store = job.checkpoints.clone();
    let path = path.to_path_buf();
    // Unsaved, the next run finds the damage again at the same page: slower, never wrong.
    let _ = tokio::task::spawn_blocking(move || store.save(&path, &checkpoint)).await;
    aborted
}

pub(super) fn remote_error<E: RemoteError>(
    operation: &'static str,
    part_number: Option<u32>,
) -> impl FnOnce(E) -> UploadError {
    move |e| UploadError::Remote {
        operation,
        part_number,
        source: Box::new(e),
    }
}

/// The object if it already holds exactly this file (same size and CRC-64), so nothing is sent.
async fn already_there<R: Remote>(
    remote: &R,
    job: &UploadJob,
    plan: &PartPlan,
) -> Result<Option<ObjectReceipt>, UploadError> {
    let Some(existing) = remote
        .head(&job.key)
        .await
        .map_err(remote_error("HeadObject", None))?
    else {
        return Ok(None);
    };
    let Some(server_crc) = existing.crc64 else {
        return Ok(None);
    };
    if existing.size != Some(plan.len()) {
        return Ok(None);
    }
    let source = Arc::clone(&job.source);
    let local_crc = tokio::task::spawn_blocking(move || parallel_crc64(source.bytes()))
        .await
        .map_err(|e| UploadError::Internal(e.to_string()))?;
    Ok((local_crc == server_crc).then_some(existing))
}

/// CRC-64 of a large buffer on the rayon pool: 64 MiB pieces, combined.
fn parallel_crc64(bytes: &[u8]) -> u64 {
    const PIECE: usize = 64 << 20;
    let pieces: Vec<(u64, u64)> = bytes
        .par_chunks(PIECE)
        .map(|piece| (crc64(piece), piece.len() as u64))
        .collect();
    crc64_of_pieces(pieces)
}

async fn put_empty<R: Remote>(remote: &R, job: &UploadJob) -> Result<ObjectReceipt, UploadError> {
    let object = remote
        .put(&job.key, Bytes::new())
        .await
        .map_err(remote_error("PutObject", None))?;
    match object.crc64 {
        Some(0) => Ok(object),
        Some(other) => Err(UploadError::ObjectMismatch {
            what: "CRC-64",
            expected: format!("{:#018x}", 0),
            actual: format!("{other:#018x}"),
            deleted: remote.delete(&job.key).await.is_ok(),
        }),
        None => Err(UploadError::MissingServerCrc {
            operation: "PutObject",
        }),
    }
}

/// The plan of the upload a checkpoint records for this very file, which a resume keeps when no
/// part size is asked: parts already in OSS stay valid even if the default plan has changed
/// since (as ossutil keeps its checkpoint's part size). Any trouble reading it is left to
/// [`open_checkpoint`] to report.
fn resumable_plan(job: &UploadJob, path: &std::path::Path) -> Option<PartPlan> {
    let saved = job.checkpoints.load(path).ok().flatten()?;
    let same_file = saved.file.same_contents(job.source.identity());
    (job.options.resume && same_file && saved.plan.len() == job.source.len()).then_some(saved.plan)
}

/// Loads and reconciles the checkpoint, or initiates a new upload and records it at once (so a
/// crash right after initiating still leaves a way to resume or abort it).
async fn open_checkpoint<R: Remote>(
    remote: &R,
    job: &UploadJob,
    target: &Target,
    plan: &PartPlan,
    path: &std::path::Path,
    events: &mpsc::UnboundedSender<UploadEvent>,
) -> Result<(Checkpoint, Option<Duration>), UploadError> {
    // InitiateMultipartUpload or ListParts, on the connection the HEAD opened: about one round
    // trip of the path, which sizes the controller's first level.
    let mut round_trip = None;
    if let Some(saved) = job.checkpoints.load(path)? {
        let unusable = if job.options.resume {
            saved.mismatch(target, job.source.identity(), plan)
        } else {
            Some("--no-resume was given".to_string())
        };
        match unusable {
            None => {
                let (reconciled, listing) = reconcile(remote, job, saved.clone()).await?;
                round_trip = Some(listing);
                if let Some(reconciled) = reconciled {
                    return Ok((reconciled, round_trip));
                }
                discard(events, "the server no longer has its multipart upload");
            }
            Some(reason) => {
                // Its parts cannot be reused: free the server-side storage they hold.
                let _ = remote.abort(&saved.key, &saved.upload_id).await;
                discard(events, &reason);
            }
        }
    }
    let asked = Instant::now();
    let upload_id = remote
        .initiate(&job.key)
        .await
        .map_err(remote_error("InitiateMultipartUpload", None))?;
    let round_trip = round_trip.or(Some(asked.elapsed()));
    let checkpoint = Checkpoint::new(target, job.source.identity().clone(), upload_id, *plan);
    let store = job.checkpoints.clone();
    let (path, record) = (path.to_path_buf(), checkpoint.clone());
    let saved = tokio::task::spawn_blocking(move || store.save(&path, &record))
        .await
        .map_err(|e| UploadError::Internal(e.to_string()))?;
    if let Err(error) = saved {
        // Without its record nothing could resume or find this upload: abort it now.
        let _ = remote.abort(&job.key, &checkpoint.upload_id).await;
        return Err(error.into());
    }
    Ok((checkpoint, round_trip))
}

/// Unfinished uploads of the same key other than this run's (a lost or damaged checkpoint's, a
/// crashed run's) hold parts OSS bills for: named, with the command that aborts them. Not
/// aborted here: one of them may be another uploader's, still running.
async fn name_other_uploads<R: Remote>(
    remote: &R,
    bucket: &str,
    key: &str,
    own: &str,
    events: &mpsc::UnboundedSender<UploadEvent>,
) {
    let Ok(uploads) = remote.list_uploads(key).await else {
        return;
    };
    let others: Vec<String> = uploads.into_iter().filter(|id| id != own).collect();
    if others.is_empty() {
        return;
    }
    let _ = events.send(UploadEvent::OtherUploads {
        object: format!("oss://{bucket}/{key}"),
        upload_ids: others,
    });
}

fn discard(events: &mpsc::UnboundedSender<UploadEvent>, reason: &str) {
    let _ = events.send(UploadEvent::CheckpointDiscarded {
        reason: format!("previous checkpoint not used: {reason}; starting over"),
    });
}

/// Keeps exactly the parts the server holds whose CRC matches the file: the server is the truth,
/// the checkpoint only a cache of it. `None` when the upload is gone.
async fn reconcile<R: Remote>(
    remote: &R,
    job: &UploadJob,
    mut checkpoint: Checkpoint,
) -> Result<(Option<Checkpoint>, Duration), UploadError> {
    let asked = Instant::now();
    let listed = remote
        .list_parts(&checkpoint.key, &checkpoint.upload_id)
        .await
        .map_err(remote_error("ListParts", None))?;
    // About a round trip per page of 1,000 parts; the local checks below are not the path's.
    let pages = listed
        .as_ref()
        .map_or(1, |parts| parts.len().div_ceil(1000).max(1));
    let round_trip = asked.elapsed() / u32::try_from(pages).unwrap_or(u32::MAX);
    let Some(listed) = listed else {
        return Ok((None, round_trip));
    };
    let plan = checkpoint.plan;
    let mut verified = std::collections::BTreeMap::new();
    for part in listed {
        if let Some(done) = verify_listed(job, &plan, &checkpoint, &part).await? {
            verified.insert(part.part_number, done);
        }
    }
    checkpoint.parts = verified;
    Ok((Some(checkpoint), round_trip))
}

async fn verify_listed(
    job: &UploadJob,
    plan: &PartPlan,
    checkpoint: &Checkpoint,
    part: &ListedPart,
) -> Result<Option<DonePart>, UploadError> {
    let Some(range) = plan.index_of(part.part_number).and_then(|i| plan.range(i)) else {
        return Ok(None);
    };
    if part.size != range.end - range.start {
        return Ok(None);
    }
    let recorded = checkpoint.parts.get(&part.part_number);
    let local_crc = match recorded {
        Some(done) if done.etag == part.etag => done.crc64,
        // Finished on the server but not yet recorded (crash between the two): check the bytes.
        _ => {
            let source = Arc::clone(&job.source);
            tokio::task::spawn_blocking(move || source.slice(range).map(|bytes| crc64(&bytes)))
                .await
                .map_err(|e| UploadError::Internal(e.to_string()))?
                .map_err(UploadError::Source)?
        }
    };
    // Trust only what the server confirms: without its CRC a listed part is re-sent.
    Ok((part.crc64 == Some(local_crc)).then(|| DonePart {
        etag: part.etag.clone(),
        crc64: local_crc,
        size: part.size,
    }))
}

/// Shared state of the part transfers.
struct Transfer<R> {
    remote: Arc<R>,
    source: Arc<SourceFile>,
    key: String,
    upload_id: String,
    plan: PartPlan,
    /// Drop finished parts from the mapping (files beyond [`residency_budget`]).
    release_finished: bool,
    /// The backup's pages, checked as each chunk goes out; `None` when not checked.
    pages: Option<Arc<PageGuard>>,
    /// Pages checked by a part's successful attempt, until `record` counts them.
    part_pages: Mutex<HashMap<u32, PageTally>>,
    /// One permit per part allowed in flight: the adaptive controller adds and removes them.
    slots: Arc<Semaphore>,
    /// The adaptive controller, until its task takes it.
    first_controller: Mutex<Option<Controller>>,
    /// The controller's report, once the parts are sent.
    controller: Mutex<Option<ConcurrencyReport>>,
    options: UploadOptions,
    counters: Arc<Counters>,
    events: mpsc::UnboundedSender<UploadEvent>,
    /// Cancelled on Ctrl-C (by the caller) or when any part fails for good.
    cancel: CancellationToken,
    /// Which parts wait, run, or are done; guarded by a std mutex, never held across an await.
    schedule: Mutex<Schedule>,
    /// Wakes idle workers when a part ends (to hedge, or to exit).
    wake: Notify,
    /// The verified parts, saved through `writer` after every change.
    checkpoint: Mutex<Checkpoint>,
    writer: CheckpointWriter,
}

/// Which parts wait, which run, and how long finished ones took (for hedging).
struct Schedule {
    waiting: VecDeque<u32>,
    running: HashMap<u32, Running>,
    durations: Vec<Duration>,
}

struct Running {
    started: Instant,
    hedged: bool,
    /// Cancels the other attempt when one attempt of a hedged part wins.
    cancel: CancellationToken,
}

enum Next {
    Send(u32, CancellationToken),
    Hedge(u32, CancellationToken),
    Wait,
    Finished,
}

/// Files larger than half the machine's memory have each finished part's pages dropped from
/// the mapping, so a TB upload's resident set stays at the parts in flight. Smaller files skip
/// it: tearing down the page-table entries costs system CPU on every part (measured here, 8 GiB
/// in 16 MiB parts: 0.58–0.62 CPU-s/GiB with, 0.48 without), and their pages are clean page
/// cache the kernel reclaims anyway. Without a readable memory size, 8 GiB.
fn residency_budget(options: &UploadOptions) -> u64 {
    const FALLBACK: u64 = 8 << 30;
    options
        .residency_budget
        .unwrap_or_else(|| crate::source::physical_memory().map_or(FALLBACK, |total| total / 2))
}

/// A part lags when it has run this many times longer than the median finished part (and at
/// least [`UploadOptions::hedge_after`]).
const HEDGE_FACTOR: u32 = 3;
/// Finished parts needed before the median means anything.
const HEDGE_MIN_SAMPLES: usize = 3;

impl Schedule {
    fn new(plan: &PartPlan, checkpoint: &Checkpoint) -> Self {
        let waiting = (0..plan.part_count())
            .filter(|index| {
                !checkpoint
                    .parts
                    .contains_key(&PartPlan::part_number(*index))
            })
            .collect();
        Schedule {
            waiting,
            running: HashMap::new(),
            durations: Vec::new(),
        }
    }

    fn next(&mut self, hedge_after: Option<Duration>, cancel: &CancellationToken) -> Next {
        if let Some(index) = self.waiting.pop_front() {
            let token = cancel.child_token();
            self.running.insert(
                index,
                Running {
                    started: Instant::now(),
                    hedged: false,
                    cancel: token.clone(),
                },
            );
            return Next::Send(index, token);
        }
        if self.running.is_empty() {
            return Next::Finished;
        }
        if let Some(min_lag) = hedge_after
            && let Some((index, token)) = self.laggard(min_lag)
        {
            return Next::Hedge(index, token);
        }
        Next::Wait
    }

    /// The longest-running part, if it lags far behind the median part time.
    fn laggard(&mut self, min_lag: Duration) -> Option<(u32, CancellationToken)> {
        if self.durations.len() < HEDGE_MIN_SAMPLES {
            return None;
        }
        let mut sorted = self.durations.clone();
        sorted.sort_unstable();
        let median = sorted.get(sorted.len() / 2).copied()?;
        let threshold = (median * HEDGE_FACTOR).max(min_lag);
        let (index, running) = self
            .running
            .iter_mut()
            .filter(|(_, running)| !running.hedged && running.started.elapsed() > threshold)
            .max_by_key(|(_, running)| running.started.elapsed())?;
        running.hedged = true;
        Some((*index, running.cancel.clone()))
    }

    /// Records the first successful attempt of `index`; false if another attempt won already.
    fn finish(&mut self, index: u32) -> bool {
        match self.running.remove(&index) {
            Some(running) => {
                running.cancel.cancel();
                self.durations.push(running.started.elapsed());
                true
            }
            None => false,
        }
    }
}

/// Runs the workers until every part is verified, one fails for good, or the caller cancels.
async fn send_missing_parts<R: Remote>(transfer: &Arc<Transfer<R>>) -> Result<(), UploadError> {
    let mut workers = tokio::task::JoinSet::new();
    // As many workers as parts may ever be in flight; the slots say how many send at once.
    for _ in 0..transfer.options.concurrency.max(1) {
        let transfer = Arc::clone(transfer);
        workers.spawn(async move { transfer.work().await });
    }
    let controller = transfer.options.adaptive.then(|| {
        let transfer = Arc::clone(transfer);
        tokio::spawn(async move { transfer.adapt().await })
    });
    let outcome = join_workers(transfer, workers).await;
    if let Some(controller) = controller {
        controller.abort();
        let _ = controller.await;
    }
    outcome
}

async fn join_workers<R: Remote>(
    transfer: &Arc<Transfer<R>>,
    mut workers: tokio::task::JoinSet<Result<(), UploadError>>,
) -> Result<(), UploadError> {
    let mut first_error = None;
    while let Some(joined) = workers.join_next().await {
        let result = joined.map_err(|e| UploadError::Internal(e.to_string()));
        if let Err(error) = result.and_then(|r| r) {
            transfer.cancel.cancel();
            transfer.wake.notify_waiters();
            // A damaged page is the verdict that matters (the upload is aborted and the file
            // refused): it replaces whatever another worker failed with first.
            let damaged = matches!(error, UploadError::DamagedPage { .. });
            if damaged || first_error.is_none() {
                first_error = Some(error);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Why one attempt at a part failed.
enum AttemptError {
    /// Worth another attempt.
    Retry(String),
    /// The bytes arrived damaged; worth another attempt.
    Corrupted { local: u64, server: u64 },
    /// Not worth another attempt.
    Fatal(UploadError),
}

impl<R: Remote> Transfer<R> {
    fn schedule(&self) -> std::sync::MutexGuard<'_, Schedule> {
        self.schedule.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One worker: take the next part (or a laggard to hedge) until none is left.
    async fn work(&self) -> Result<(), UploadError> {
        loop {
            if self.cancel.is_cancelled() {
                return Ok(());
            }
            let slot = tokio::select! {
                _ = self.cancel.cancelled() => return Ok(()),
                slot = Arc::clone(&self.slots).acquire_owned() => slot,
            };
            let Ok(slot) = slot else {
                return Ok(()); // the slots are never closed; if they were, nothing more to send
            };
            let wake = self.wake.notified();
            let next = self.schedule().next(self.options.hedge_after, &self.cancel);
            let (index, token) = match next {
                Next::Send(index, token) => (index, token),
                Next::Hedge(index, token) => {
                    self.counters.add_hedge();
                    let _ = self.events.send(UploadEvent::PartHedged {
                        part_number: PartPlan::part_number(index),
                    });
                    (index, token)
                }
                Next::Finished => return Ok(()),
                Next::Wait => {
                    drop(slot);
                    // Re-check now and then: a part may start to lag without any part ending.
                    let _ = tokio::time::timeout(Duration::from_secs(1), wake).await;
                    continue;
                }
            };
            let outcome = self.send_part(index, &token, slot).await;
            let recorded = match outcome {
                Ok(Some(done)) => {
                    self.record(index, done);
                    Ok(())
                }
                Ok(None) => Ok(()), // cancelled: the other attempt won, or the upload stopped
                Err(error) => Err(error),
            };
            // Only once the part is recorded: a worker woken earlier would still see it in
            // flight and go back to sleep for a whole second, which held every upload's
            // Complete back by up to 1 s after its last part.
            self.wake.notify_waiters();
            recorded?;
        }
    }

    /// The adaptive controller: measures the rate at each level and moves the slots, until it
    /// settles (or the upload ends and this task is dropped).
    async fn adapt(&self) {
        let Some(mut controller) = self
            .first_controller
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let mut level = controller.level();
        loop {
            tokio::time::sleep(super::controller::SETTLE).await;
            let Some((rate, retried)) = self.measure().await else {
                return; // no part finishes any more: the upload is ending
            };
            let (next, settled) = match controller.observe(rate, retried) {
                Decision::Try(next) => (next, false),
                Decision::Settle(next) => (next, true),
            };
            self.resize(level, next);
            level = next;
            *self
                .controller
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(ConcurrencyReport {
                settled_on: level,
                limit: controller.limit,
                tried: controller
                    .history
                    .iter()
                    .map(|(level, rate)| (*level, *rate as u64))
                    .collect(),
            });
            let _ = self.events.send(UploadEvent::Concurrency {
                parts_in_flight: level,
                rate_bytes_per_sec: rate as u64,
                settled,
            });
            if settled {
                return;
            }
        }
    }

    /// The rate the link carries now, bytes/s, and whether parts were retried meanwhile. Timed
    /// from one part's completion to another's, at least [`super::controller::MEASURE`]
    /// apart: parts finish one at a time, and a clock started between two completions would
    /// count a part more or less by chance (one part in five at low rates).
    ///
    /// Both counts are wrong in their own way, so the lower is taken: verified parts come in
    /// bunches when many parts share a link (a window that ends inside the bunch it started in
    /// read 240 MiB/s on a 119 MiB/s link) and lag behind it while the parts grow, and the bytes
    /// handed to the sockets run ahead by what the send buffers swallow while they grow. Under
    /// a rate cap the handed count is the one to trust: the cap holds it to the cap, buffers
    /// or not.
    async fn measure(&self) -> Option<(f64, bool)> {
        let (start, first) = self
            .next_completion(self.counters.snapshot().verified)
            .await?;
        tokio::time::sleep(super::controller::MEASURE).await;
        let (end, last) = self
            .next_completion(self.counters.snapshot().verified)
            .await?;
        let seconds = end.duration_since(start).as_secs_f64().max(f64::EPSILON);
        let verified = last.verified.saturating_sub(first.verified) as f64 / seconds;
        let handed = last.bytes.saturating_sub(first.bytes) as f64 / seconds;
        let rate = match self.options.limiter {
            Some(_) => handed,
            None => verified.min(handed),
        };
        Some((rate, last.retries > first.retries))
    }

    /// Waits (polling every 10 ms, at most a minute) until a part is verified past `verified`.
    async fn next_completion(
        &self,
        verified: u64,
    ) -> Option<(Instant, super::progress::ProgressSnapshot)> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let now = self.counters.snapshot();
            if now.verified > verified {
                return Some((Instant::now(), now));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }

    /// Moves the parts allowed in flight from `from` to `to`. Fewer: the extra slots are taken
    /// back as the parts holding them finish (a part in flight is never cut).
    fn resize(&self, from: usize, to: usize) {
        if to > from {
            self.slots.add_permits(to - from);
        } else if to < from {
            let slots = Arc::clone(&self.slots);
            let extra = u32::try_from(from - to).unwrap_or(u32::MAX);
            tokio::spawn(async move {
                if let Ok(taken) = slots.acquire_many_owned(extra).await {
                    taken.forget();
                }
            });
        }
    }

    fn record(&self, index: u32, done: DonePart) {
        let pages = self
            .part_pages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&index);
        if !self.schedule().finish(index) {
            return; // a hedged twin finished first and was recorded
        }
        if let (Some(guard), Some(tally)) = (&self.pages, pages) {
            guard.count(tally);
        }
        self.counters.add_verified(done.size);
        let part_number = PartPlan::part_number(index);
        let _ = self.events.send(UploadEvent::PartDone {
            part_number,
            size: done.size,
            crc64: done.crc64,
        });
        if self.release_finished
            && let Some(range) = self.plan.range(index)
        {
            // A little past the part too: a page that starts at its end was read from the next
            // part, and fault-around mapped up to 64 KiB there, which that part's own release
            // may already have passed.
            let end = range.end.saturating_add(64 << 10).min(self.plan.len());
            self.source.release(range.start..end);
        }
        let snapshot = {
            let mut checkpoint = self
                .checkpoint
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            checkpoint.parts.insert(part_number, done);
            checkpoint.clone()
        };
        self.writer.save(snapshot);
    }

    /// Sends part `index` until it is verified; `Ok(None)` when cancelled. `slot` is the first
    /// attempt's place among the parts in flight; a retry, after its back-off, waits for a
    /// place of its own (a part backing off holds none).
    async fn send_part(
        &self,
        index: u32,
        cancel: &CancellationToken,
        slot: OwnedSemaphorePermit,
    ) -> Result<Option<DonePart>, UploadError> {
        let part_number = PartPlan::part_number(index);
        let mut last_corruption = None;
        let mut backoff = Backoff::new(&self.options.retry);
        let attempts = self.options.retry.max_retries.saturating_add(1);
        let mut slot = Some(slot);
        for attempt in 1..=attempts {
            self.source.check_unchanged().map_err(UploadError::Source)?;
            let slot = match slot.take() {
                Some(slot) => slot,
                None => tokio::select! {
                    _ = cancel.cancelled() => return Ok(None),
                    slot = Arc::clone(&self.slots).acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => return Ok(None), // never closed
                    },
                },
            };
            self.counters.part_started();
            let result = tokio::select! {
                _ = cancel.cancelled() => None,
                result = self.attempt_part(index, slot) => Some(result),
            };
            self.counters
                .part_ended(matches!(result, Some(Ok(_))) && !cancel.is_cancelled());
            let reason = match result {
                None => return Ok(None),
                Some(Ok(done)) => return Ok(Some(done)),
                Some(Err(AttemptError::Fatal(error))) => return Err(error),
                Some(Err(AttemptError::Retry(reason))) => reason,
                Some(Err(AttemptError::Corrupted { local, server })) => {
                    last_corruption = Some((local, server));
                    format!("CRC-64 mismatch (local {local:#018x}, server {server:#018x})")
                }
            };
            if attempt == attempts {
                return Err(match last_corruption {
                    Some((local, server)) => UploadError::PartCorrupted {
                        part_number,
                        attempts: attempt,
                        local,
                        server,
                    },
                    None => UploadError::Remote {
                        operation: "UploadPart",
                        part_number: Some(part_number),
                        source: format!("gave up after {attempt} attempts; last error: {reason}")
                            .into(),
                    },
                });
            }
            let delay = backoff.next_delay();
            self.counters.add_retry();
            let _ = self.events.send(UploadEvent::PartRetry {
                part_number,
                attempt,
                delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                reason,
            });
            tokio::select! {
                _ = cancel.cancelled() => return Ok(None),
                _ = tokio::time::sleep(delay) => {}
            }
        }
        Ok(None)
    }

    /// One attempt: stream the part, then compare the server's CRC with ours, holding `slot`.
    async fn attempt_part(
        &self,
        index: u32,
        slot: OwnedSemaphorePermit,
    ) -> Result<DonePart, AttemptError> {
        let range = self.plan.range(index).ok_or_else(|| {
            AttemptError::Fatal(UploadError::Internal(format!("no part {index}")))
        })?;
        let offset = range.start;
        // Started before the request: the first window is read while the connection is found.
        let read_ahead = Some(ReadAhead::start(Arc::clone(&self.source), range.clone()));
        let data = self
            .source
            .slice(range)
            .map_err(|e| AttemptError::Fatal(UploadError::Source(e)))?;
        let len = data.len() as u64;
        let md5 = if self.options.content_md5 {
            let bytes = data.clone();
            let digest = tokio::task::spawn_blocking(move || content_md5(&bytes))
                .await
                .map_err(|e| AttemptError::Fatal(UploadError::Internal(e.to_string())))?;
            Some(digest)
        } else {
            None
        };
        let tracker = Arc::new(AttemptTracker::default());
        // Held until the answer: a part's slot also bounds the connections (a body handed to
        // the socket early may still be megabytes from sent).
        let _slot = slot;
        let body = reqwest::Body::wrap_stream(chunks(
            Part {
                data,
                offset,
                read_ahead,
            },
            self.options.limiter.clone(),
            self.pages.clone(),
            Arc::clone(&self.counters),
            Arc::clone(&tracker),
        ));
        let request = self.remote.upload_part(
            &self.key,
            &self.upload_id,
            PartPlan::part_number(index),
            body,
            len,
            md5,
        );
        let answer = watch_for_stall(request, &tracker, self.options.stall_timeout).await;
        if let Some(page) = tracker.damaged() {
            return Err(AttemptError::Fatal(UploadError::DamagedPage {
                page,
                // Named in full by `run`, which knows the bucket and aborts the upload.
                file: self.source.path().to_path_buf(),
                object: self.key.clone(),
                earlier: false,
                aborted: false,
            }));
        }
        let verdict = judge_part(answer, &tracker, len, PartPlan::part_number(index));
        if verdict.is_ok() {
            // Counted by `record`, once, for the attempt that wins (a hedged twin checked the
            // same pages).
            self.part_pages
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(index, tracker.pages());
        } else {
            self.counters.add_wasted(tracker.sent());
        }
        verdict
    }
}

fn judge_part<E: RemoteError>(
    answer: Option<Result<super::remote::PartReceipt, E>>,
    tracker: &AttemptTracker,
    len: u64,
    part_number: u32,
) -> Result<DonePart, AttemptError> {
    let receipt = match answer {
        None => {
            return Err(AttemptError::Retry(
                "no progress: the connection stalled".into(),
            ));
        }
        Some(Err(e)) if e.is_retryable() => return Err(AttemptError::Retry(e.to_string())),
        Some(Err(e)) => {
            return Err(AttemptError::Fatal(UploadError::Remote {
                operation: "UploadPart",
                part_number: Some(part_number),
                source: Box::new(e),
            }));
        }
        Some(Ok(receipt)) => receipt,
    };
    let Some(local) = tracker.crc() else {
        return Err(AttemptError::Retry(
            "the server answered before the whole part was sent".into(),
        ));
    };
    match receipt.crc64 {
        None => Err(AttemptError::Fatal(UploadError::MissingServerCrc {
            operation: "UploadPart",
        })),
        Some(server) if server != local => Err(AttemptError::Corrupted { local, server }),
        Some(_) => Ok(DonePart {
            etag: receipt.etag,
            crc64: local,
            size: len,
        }),
    }
}

/// Runs `request`, giving up (`None`) when it moves no byte for `stall` — a half-dead connection
/// otherwise hangs a part forever, and a total timeout would wrongly cut slow-but-alive links.
async fn watch_for_stall<F: std::future::Future>(
    request: F,
    tracker: &AttemptTracker,
    stall: Duration,
) -> Option<F::Output> {
    tokio::pin!(request);
    let mut tick = tokio::time::interval((stall / 4).max(Duration::from_millis(50)));
    let mut last_sent = tracker.sent();
    let mut last_change = Instant::now();
    loop {
        tokio::select! {
            output = &mut request => return Some(output),
            _ = tick.tick() => {
                let sent = tracker.sent();
                if sent != last_sent {
                    last_sent = sent;
                    last_change = Instant::now();
                } else if last_change.elapsed() >= stall {
                    return None;
                }
            }
        }
    }
}

/// Completes with every part in ascending order, then proves the object is the file: Complete's
/// CRC and HEAD's size and CRC must equal the CRC combined from the verified parts. Also returns
/// when Complete answered, the end of the transfer proper.
async fn complete_and_verify<R: Remote>(
    remote: &R,
    job: &UploadJob,
    plan: &PartPlan,
    checkpoint: &Checkpoint,
    events: &mpsc::UnboundedSender<UploadEvent>,
) -> Result<(ObjectReceipt, Instant), UploadError> {
    let holes: Vec<u32> = (0..plan.part_count())
        .map(PartPlan::part_number)
        .filter(|n| !checkpoint.parts.contains_key(n))
        .collect();
    if !holes.is_empty() {
        return Err(UploadError::Internal(format!(
            "refusing to complete with missing parts {holes:?}"
        )));
    }
    let expected_crc = crc64_of_pieces(checkpoint.parts.values().map(|p| (p.crc64, p.size)));
    let parts: Vec<(u32, String)> = checkpoint
        .parts
        .iter()
        .map(|(number, part)| (*number, part.etag.clone()))
        .collect();
    let _ = events.send(UploadEvent::Completing {
        part_count: plan.part_count(),
    });
    let completed =
        complete_with_retries(remote, job, checkpoint, parts, plan.len(), expected_crc).await?;
    let completed_at = Instant::now();
    check_object(
        remote,
        job,
        &completed,
        plan.len(),
        expected_crc,
        "CompleteMultipartUpload",
    )
    .await?;
    let head = remote
        .head(&job.key)
        .await
        .map_err(remote_error("HeadObject", None))?
        .ok_or_else(|| UploadError::ObjectMismatch {
            what: "existence",
            expected: "present".into(),
            actual: "absent after Complete".into(),
            deleted: true,
        })?;
    check_object(remote, job, &head, plan.len(), expected_crc, "HeadObject").await?;
    Ok((head, completed_at))
}

/// Complete, retried; before a retry, HEAD tells whether an earlier attempt already succeeded
/// (OSS goes on assembling after a client timeout: `oss-protocol.md` §5.5 point 7).
async fn complete_with_retries<R: Remote>(
    remote: &R,
    job: &UploadJob,
    checkpoint: &Checkpoint,
    parts: Vec<(u32, String)>,
    len: u64,
    expected_crc: u64,
) -> Result<ObjectReceipt, UploadError> {
    let attempts = job.options.retry.max_retries.saturating_add(1);
    let mut backoff = Backoff::new(&job.options.retry);
    let mut attempt = 1;
    loop {
        let result = remote
            .complete(&job.key, &checkpoint.upload_id, parts.clone())
            .await;
        let error = match result {
            Ok(object) => return Ok(object),
            Err(error) => error,
        };
        // Whatever went wrong, an answer lost after OSS assembled the object (a reset, a
        // timeout, NoSuchUpload on a repeat) leaves the object in place: look before failing.
        if let Ok(Some(object)) = remote.head(&job.key).await
            && object.size == Some(len)
            && object.crc64 == Some(expected_crc)
        {
            return Ok(object);
        }
        if !error.is_retryable() || attempt >= attempts {
            return Err(remote_error("CompleteMultipartUpload", None)(error));
        }
        tokio::time::sleep(backoff.next_delay()).await;
        attempt += 1;
    }
}

/// Deletes the object and fails if its size or CRC is not the file's.
async fn check_object<R: Remote>(
    remote: &R,
    job: &UploadJob,
    object: &ObjectReceipt,
    len: u64,
    expected_crc: u64,
    operation: &'static str,
) -> Result<(), UploadError> {
    let Some(crc) = object.crc64 else {
        return Err(UploadError::MissingServerCrc { operation });
    };
    let mismatch = if crc != expected_crc {
        Some((
            "CRC-64",
            format!("{expected_crc:#018x}"),
            format!("{crc:#018x}"),
        ))
    } else if object.size.is_some_and(|size| size != len) {
        let size = object
            .size
            .map_or_else(String::new, |size| size.to_string());
        Some(("size", len.to_string(), size))
    } else {
        None
    };
    let Some((what, expected, actual)) = mismatch else {
        return Ok(());
    };
    // Never leave a damaged object behind under the name RDS will restore from.
    let deleted = remote.delete(&job.key).await.is_ok();
    Err(UploadError::ObjectMismatch {
        what,
        expected,
        actual,
        deleted,
    })
}

fn interrupted(job: &UploadJob, checkpoint: PathBuf) -> UploadError {
    UploadError::Interrupted {
        checkpoint,
        file: job.source.path().to_path_buf(),
        object: format!("oss://{}/{}", job.bucket, job.key),
    }
}

/// A checkpoint an earlier version wrote under its endpoint spelling is moved to this one's
/// name, so the upload it records resumes instead of being orphaned. Best effort: if it cannot
/// be moved, the run starts a new upload as it would without it (`--abort` still finds the old
/// one by listing the key's uploads).
fn carry_over_legacy_checkpoint<R: Remote>(
    remote: &R,
    job: &UploadJob,
    target: &Target,
    path: &std::path::Path,
) {
    let Some(endpoint) = remote.legacy_endpoint() else {
        return;
    };
    let legacy = Target {
        endpoint,
        ..target.clone()
    };
    let legacy_path = job.checkpoints.path_for(job.source.path(), &legacy);
    if path.exists() || !legacy_path.exists() {
        return;
    }
    if let Ok(Some(mut checkpoint)) = job.checkpoints.load(&legacy_path) {
        checkpoint.endpoint = target.endpoint.clone();
        if job.checkpoints.save(path, &checkpoint).is_ok() {
            let _ = job.checkpoints.remove(&legacy_path);
        }
    }
}

/// Checkpoint path the upload of `source` to `bucket/key` at `endpoint` uses (for `--abort`).
pub fn checkpoint_path(
    store: &CheckpointStore,
    source: &std::path::Path,
    endpoint: String,
    bucket: &str,
    key: &str,
) -> PathBuf {
    store.path_for(
        source,
        &Target {
            endpoint,
            bucket: bucket.to_string(),
            key: key.to_string(),
        },
    )
}

//! `upload --follow`: send a backup while SQL Server is still writing it.
//!
//! The file grows, so it is read with plain positioned reads (a mapping has a fixed length).
//! A part goes out once the writer is past it: the file is longer than the part plus a
//! look-ahead window, and neither the part nor that window is all zeros (SQL Server
//! pre-allocates a compressed backup's file to its estimated size, so length alone proves
//! nothing; a part of zeros waits for the end). The backup is finished when its own structure
//! is whole (the container walks to its end) and the file has not changed for `settle`. Then
//! every part already sent is read again and compared by CRC-64 (re-sent if the writer changed
//! it, or if the file was cut shorter), the rest goes out, and the object is completed and
//! checked against the final file's CRC-64: the object is the final file, whatever the writer
//! did meanwhile.
//!
//! Resume: the multipart upload is recorded beside the checkpoints (`<checkpoint>.follow`);
//! after Ctrl-C, a crash, a network failure or a writer that stalled past `--follow-timeout`,
//! the same command takes its parts from ListParts and goes on (the final check compares each
//! with the file anyway). A file that is not a backup, or a backup already finished when the
//! follow starts (not being written), aborts the upload: no part is left behind. The file's
//! stamp is compared once more before and after Complete: a writer still at work means no
//! object. Not yet
//! here: adaptive parts in flight, page checks during the upload.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bak2rds_cloud::checksum::{crc64, crc64_of_pieces};
use bytes::Bytes;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use mssql_backup::{Report, Rules};

use super::body::{AttemptTracker, Part, chunks};
use super::engine::remote_error;
use super::error::UploadError;
use super::pages::{PageGuard, PageSummary, PageTally};
use super::plan::{MAX_PARTS, PlanError};
use super::progress::Counters;
use super::remote::Remote;
use crate::source::SourceFile;
use bak2rds_cloud::http::limit::BandwidthLimiter;

/// Bytes past a part that must already be written (not all zeros) before the part is sent.
const LOOK_AHEAD: u64 = 1 << 20;
/// Bytes read to find the backup's header while it is being written.
const HEADER_BYTES: u64 = 4 << 20;
/// The finding of a backup whose structure is cut short: expected while it is being written.
pub const UNFINISHED: &str = "corrupt";
/// Attempts per part before the upload gives up.
const PART_ATTEMPTS: u32 = 4;

/// How to follow a growing file.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// Part size (fixed from the start: the final size is not known yet).
    pub part_size: u64,
    /// `part_size` is the default, to be raised when the backup's header says the database
    /// is too large for 10,000 parts of it (`--part-size` given: kept as it is).
    pub part_size_is_default: bool,
    /// Parts in flight.
    pub in_flight: usize,
    /// The file is finished once unchanged (size and modification time) this long.
    pub settle: Duration,
    /// Give up when the file has not grown for this long and its end is not written.
    pub timeout: Duration,
    /// How often the file is looked at.
    pub poll: Duration,
    /// The bandwidth cap (`--max-rate`), shared with whatever else this process uploads.
    pub limiter: Option<Arc<BandwidthLimiter>>,
    /// Check the finished backup's page checksums before the object is completed
    /// (`--no-verify-pages` turns it off).
    pub verify_pages: bool,
}

/// What happened, for the caller to show.
#[derive(Debug, Clone)]
pub enum FollowEvent {
    /// The backup's header is readable: what it is.
    Header(Box<mssql_backup::BackupInfo>),
    /// A part went out while the file was still being written.
    PartSent {
        /// OSS part number.
        part_number: u32,
        /// Bytes of the file seen so far.
        file_len: u64,
    },
    /// Sent on every look at the file: whether every part written so far is sent (the upload
    /// waits on the writer), and how long the file has not changed.
    Polled {
        /// Nothing is in flight and nothing written is left to send.
        caught_up: bool,
        /// Since the file last changed.
        unchanged_for: Duration,
    },
    /// The writer finished: the backup's end is written and the file stopped changing.
    Finished {
        /// The final length.
        len: u64,
    },
}

/// The outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowReport {
    /// The object's length (the final file's).
    pub len: u64,
    /// Its CRC-64, confirmed by OSS.
    pub crc64: u64,
    /// Parts in the object.
    pub parts: u32,
    /// Parts sent while the file was still being written.
    pub sent_while_growing: u32,
    /// Parts sent again because the final bytes differed from what was sent.
    pub resent: u32,
    /// From the file's last change to the completed object.
    pub after_last_change: Duration,
    /// The page checks of the finished file.
    pub pages: PageSummary,
}

/// A part the writer is past.
enum Settled {
    /// Bytes to send.
    Data(Bytes),
    /// Zeros (a pre-allocated file's unwritten part, or real zeros): kept for the end.
    Zeros,
}

/// A part on the server: its CRC-64 and length, and the ETag Complete needs.
#[derive(Debug, Clone)]
struct SentPart {
    crc64: u64,
    len: u64,
    etag: String,
}

/// Where the multipart upload of a follow is recorded, for a rerun to resume it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct FollowRecord {
    key: String,
    upload_id: String,
    part_size: u64,
}

/// Follows `path` until the backup is finished and uploads it to `key`; `record` is where the
/// multipart upload is remembered for a rerun (the upload's checkpoint path + `.follow`).
/// `counters` count the bytes and parts as they go, for the progress display.
#[allow(clippy::too_many_arguments)] // each is a different thing the caller owns
pub async fn follow<R: Remote>(
    remote: Arc<R>,
    path: &Path,
    key: &str,
    record: &Path,
    options: &FollowOptions,
    counters: Arc<Counters>,
    cancel: &CancellationToken,
    on_event: impl Fn(FollowEvent),
) -> Result<FollowReport, UploadError> {
    let reader = Reader::open_when_created(path, options, cancel).await?;
    let header = wait_for_header(&reader, &Rules::default(), options, cancel).await?;
    let options = &sized_for(options, header.backup.as_ref());
    if let Some(backup) = header.backup {
        on_event(FollowEvent::Header(Box::new(backup)));
    }
    let (upload_id, resumed) = start_or_resume(remote.as_ref(), key, record, options).await?;
    let upload = Upload {
        remote: Arc::clone(&remote),
        key: key.to_owned(),
        upload_id,
        reader,
        limiter: options.limiter.clone(),
        counters,
    };
    let outcome = upload.run(resumed, options, cancel, &on_event).await;
    match &outcome {
        Ok(_) => {
            let _ = crate::durable::remove(record);
        }
        // Not a backup, or not one being written: nothing half-done is left behind.
        Err(UploadError::Source(crate::Error::Config(_)) | UploadError::ObjectMismatch { .. }) => {
            let _ = remote.abort(&upload.key, &upload.upload_id).await;
            let _ = crate::durable::remove(record);
        }
        // A damaged page: the parts are of no use (the backup must be taken again).
        Err(UploadError::DamagedPage {
            page,
            file,
            object,
            earlier,
            ..
        }) => {
            let aborted = remote.abort(&upload.key, &upload.upload_id).await.is_ok();
            let _ = crate::durable::remove(record);
            return Err(UploadError::DamagedPage {
                page: *page,
                file: file.clone(),
                object: object.clone(),
                earlier: *earlier,
                aborted,
            });
        }
        // Kept for a rerun (Ctrl-C, a network failure, a writer that stalled): up to terabytes
        // of parts are not thrown away; `upload --abort` discards them.
        Err(_) => {}
    }
    outcome
}

/// `options` with a part size the backup fits in: the header lists the database's files, whose
/// sizes bound an uncompressed full backup, so a default part size is raised to keep it under
/// 10,000 parts (with room to spare: the log may grow while the backup is written).
fn sized_for(options: &FollowOptions, backup: Option<&mssql_backup::BackupInfo>) -> FollowOptions {
    const MIB: u64 = 1 << 20;
    let mut sized = options.clone();
    if let (true, Some(backup)) = (options.part_size_is_default, backup) {
        let bound: u64 = backup.files.iter().map(|file| file.size).sum();
        let needed = bound.div_ceil(MAX_PARTS * 8 / 10).div_ceil(MIB) * MIB;
        sized.part_size = options.part_size.max(needed);
    }
    sized
}

/// Where a follow of `file` to `bucket/key` at `endpoint` records its multipart upload: beside
/// that upload's checkpoint.
pub fn record_path(
    checkpoints: &super::checkpoint::CheckpointStore,
    file: &Path,
    endpoint: String,
    bucket: &str,
    key: &str,
) -> PathBuf {
    super::engine::checkpoint_path(checkpoints, file, endpoint, bucket, key)
        .with_extension("follow")
}

/// The recorded multipart upload and its parts (from ListParts) when it can go on, else a new
/// one, recorded.
async fn start_or_resume<R: Remote>(
    remote: &R,
    key: &str,
    record: &Path,
    options: &FollowOptions,
) -> Result<(String, BTreeMap<u32, SentPart>), UploadError> {
    let earlier = crate::durable::read_optional(record)
        .ok()
        .flatten()
        .and_then(|bytes| serde_json::from_slice::<FollowRecord>(&bytes).ok())
        .filter(|earlier| earlier.key == key && earlier.part_size == options.part_size);
    if let Some(earlier) = earlier {
        let listed = remote
            .list_parts(key, &earlier.upload_id)
            .await
            .map_err(remote_error("ListParts", None))?;
        if let Some(listed) = listed {
            // Only parts whose CRC-64 the server states; the final check compares each again.
            let parts = listed
                .into_iter()
                .filter_map(|part| {
                    let crc64 = part.crc64?;
                    let sent = SentPart {
                        crc64,
                        len: part.size,
                        etag: part.etag,
                    };
                    Some((part.part_number, sent))
                })
                .collect();
            return Ok((earlier.upload_id, parts));
        }
    }
    let upload_id = remote
        .initiate(key)
        .await
        .map_err(remote_error("InitiateMultipartUpload", None))?;
    let new = FollowRecord {
        key: key.to_owned(),
        upload_id: upload_id.clone(),
        part_size: options.part_size,
    };
    let bytes = serde_json::to_vec(&new).map_err(|e| UploadError::Internal(e.to_string()))?;
    crate::durable::write_atomic(record, &bytes)
        .map_err(|e| UploadError::Source(crate::Error::io("write", record, e)))?;
    Ok((upload_id, BTreeMap::new()))
}

/// The multipart upload of one followed file.
struct Upload<R> {
    remote: Arc<R>,
    key: String,
    upload_id: String,
    reader: Reader,
    limiter: Option<Arc<BandwidthLimiter>>,
    counters: Arc<Counters>,
}

impl<R: Remote> Upload<R> {
    async fn run(
        &self,
        mut sent: BTreeMap<u32, SentPart>,
        options: &FollowOptions,
        cancel: &CancellationToken,
        on_event: &impl Fn(FollowEvent),
    ) -> Result<FollowReport, UploadError> {
        let mut tasks = JoinSet::new();
        let mut next = 0u32;
        let mut last = self.reader.stamp()?;
        let mut changed_at = Instant::now();
        // A file already whole when the follow starts, and unchanged since, is not being
        // written: yesterday's backup about to be overwritten would otherwise be uploaded as
        // today's. (A rerun that resumes parts saw it being written before.)
        let mut seen_a_change = !sent.is_empty();
        // An earlier run's parts: the display counts them as done.
        let resumed: u64 = sent.values().map(|part| part.len).sum();
        self.counters
            .set_resumed(resumed, u64::try_from(sent.len()).unwrap_or(u64::MAX));
        let (len, stamp) = loop {
            if cancel.is_cancelled() {
                return Err(interrupted(&self.reader.path));
            }
            let stamp = self.reader.stamp()?;
            if stamp != last {
                (last, changed_at, seen_a_change) = (stamp, Instant::now(), true);
            }
            while tasks.len() < options.in_flight
                && let Some(part) = self
                    .settled_part(next, options.part_size, stamp.len)
                    .await?
            {
                next += 1;
                // A part of an earlier run is on the server already (checked at the end).
                if let Settled::Data(bytes) = part
                    && !sent.contains_key(&next)
                {
                    tasks.spawn(self.send(next, bytes));
                }
            }
            while let Some(done) = tasks.try_join_next() {
                let (number, part) = joined(done)?;
                sent.insert(number, part);
                on_event(FollowEvent::PartSent {
                    part_number: number,
                    file_len: stamp.len,
                });
            }
            let quiet = changed_at.elapsed();
            on_event(FollowEvent::Polled {
                caught_up: tasks.is_empty(),
                unchanged_for: quiet,
            });
            if quiet >= options.settle && self.reader.backup_is_whole().await? {
                if !seen_a_change {
                    return Err(already_finished(&self.reader.path));
                }
                // Every part in flight is in before the final check.
                while let Some(done) = tasks.join_next().await {
                    let (number, part) = joined(done)?;
                    sent.insert(number, part);
                }
                break (stamp.len, stamp);
            }
            if quiet >= options.timeout {
                return Err(stopped_growing(&self.reader.path, stamp.len, quiet));
            }
            tokio::time::sleep(options.poll).await;
        };
        on_event(FollowEvent::Finished { len });
        let sent_while_growing = u32::try_from(sent.len()).unwrap_or(u32::MAX);
        let (parts, resent, pages) = self.finish(sent, len, options, cancel).await?;
        // The writer may still cut or touch the file (a pre-allocated tail): what is
        // completed must be what was read.
        if self.reader.stamp()? != stamp {
            return Err(changed_at_the_end(&self.reader.path));
        }
        let crc64 = self.complete(&parts, len).await?;
        if self.reader.stamp()? != stamp {
            let _ = self.remote.delete(&self.key).await;
            return Err(changed_at_the_end(&self.reader.path));
        }
        Ok(FollowReport {
            len,
            crc64,
            parts: u32::try_from(parts.len()).unwrap_or(u32::MAX),
            sent_while_growing,
            resent,
            after_last_change: changed_at.elapsed(),
            pages,
        })
    }

    /// Part `index` if the writer is past it, or `None` when it is not written yet.
    async fn settled_part(
        &self,
        index: u32,
        part_size: u64,
        file_len: u64,
    ) -> Result<Option<Settled>, UploadError> {
        let start = u64::from(index) * part_size;
        let end = start + part_size;
        if file_len < end + LOOK_AHEAD {
            return Ok(None);
        }
        if u64::from(index) >= MAX_PARTS {
            return Err(UploadError::Plan(PlanError::TooManyParts {
                part_size,
                len: file_len,
                minimum: file_len.div_ceil(MAX_PARTS),
            }));
        }
        let ahead = self.reader.read_async(end, LOOK_AHEAD).await?;
        if is_zeros(&ahead) {
            return Ok(None);
        }
        let bytes = self.reader.read_async(start, part_size).await?;
        Ok(Some(if is_zeros(&bytes) {
            Settled::Zeros
        } else {
            Settled::Data(bytes)
        }))
    }

    /// Re-reads every part of the final file, checking its pages on the way (the parts left
    /// before the page layout could be read): those sent with other bytes go again, with the
    /// missing ones. Returns the parts in order, how many were sent again, and the page checks.
    async fn finish(
        &self,
        mut sent: BTreeMap<u32, SentPart>,
        len: u64,
        options: &FollowOptions,
        cancel: &CancellationToken,
    ) -> Result<(Vec<(u32, SentPart)>, u32, PageSummary), UploadError> {
        let count = u32::try_from(len.div_ceil(options.part_size).max(1))
            .map_err(|_| UploadError::Internal("too many parts".into()))?;
        let guard = self.page_guard(options.verify_pages).await?;
        let mut resent = 0;
        let mut tasks = JoinSet::new();
        for number in 1..=count {
            if cancel.is_cancelled() {
                return Err(interrupted(&self.reader.path));
            }
            let start = u64::from(number - 1) * options.part_size;
            let part = options.part_size.min(len - start.min(len));
            let (bytes, crc) = self.read_final_part(start, part, &guard).await?;
            let unchanged = sent
                .get(&number)
                .is_some_and(|part| part.len == bytes.len() as u64 && part.crc64 == crc);
            if unchanged {
                continue;
            }
            if sent.remove(&number).is_some() {
                resent += 1;
            }
            if tasks.len() >= options.in_flight
                && let Some(done) = tasks.join_next().await
            {
                let (number, part) = joined(done)?;
                sent.insert(number, part);
            }
            tasks.spawn(self.send(number, bytes));
        }
        while let Some(done) = tasks.join_next().await {
            let (number, part) = joined(done)?;
            sent.insert(number, part);
        }
        // Parts past the final end (the file was cut shorter) are left out of the object.
        let parts = sent
            .into_iter()
            .filter(|(number, _)| *number <= count)
            .collect();
        let pages = match guard {
            Ok(guard) => guard.summary(0),
            Err(unchecked) => unchecked,
        };
        Ok((parts, resent, pages))
    }

    /// The page guard of the finished file, or what the summary says instead.
    async fn page_guard(
        &self,
        verify: bool,
    ) -> Result<Result<Arc<PageGuard>, PageSummary>, UploadError> {
        if !verify {
            return Ok(Err(PageSummary::Off));
        }
        let path = self.reader.path.clone();
        tokio::task::spawn_blocking(move || {
            let source = SourceFile::open(&path).map_err(UploadError::Source)?;
            Ok(PageGuard::for_source(&source)
                .map(Arc::new)
                .map_err(|reason| PageSummary::NotCheckable { reason }))
        })
        .await
        .map_err(|e| UploadError::Internal(e.to_string()))?
    }

    /// One part of the final file and its CRC-64, its pages checked while it is in the cache
    /// (one read of the file, not two); a damaged page stops the upload before Complete.
    async fn read_final_part(
        &self,
        start: u64,
        len: u64,
        guard: &Result<Arc<PageGuard>, PageSummary>,
    ) -> Result<(Bytes, u64), UploadError> {
        let (reader, guard) = (self.reader.clone(), guard.as_ref().ok().cloned());
        let object = self.key.clone();
        tokio::task::spawn_blocking(move || {
            let bytes = reader.read(start, len)?;
            if let Some(guard) = guard {
                let mut tally = PageTally::default();
                if let Some(page) = tally.add(&guard.check(start..start + bytes.len() as u64)) {
                    return Err(UploadError::DamagedPage {
                        page,
                        file: reader.path.clone(),
                        object,
                        earlier: false,
                        aborted: false,
                    });
                }
                guard.count(tally);
            }
            let crc = crc64(&bytes);
            Ok((bytes, crc))
        })
        .await
        .map_err(|e| UploadError::Internal(e.to_string()))?
    }

    /// Completes the object and checks its CRC-64 against the file's.
    async fn complete(&self, parts: &[(u32, SentPart)], len: u64) -> Result<u64, UploadError> {
        let expected = crc64_of_pieces(parts.iter().map(|(_, part)| (part.crc64, part.len)));
        let list = parts
            .iter()
            .map(|(number, part)| (*number, part.etag.clone()))
            .collect();
        let object = self
            .remote
            .complete(&self.key, &self.upload_id, list)
            .await
            .map_err(remote_error("CompleteMultipartUpload", None))?;
        let actual = object.crc64.ok_or(UploadError::MissingServerCrc {
            operation: "CompleteMultipartUpload",
        })?;
        if actual != expected || object.size.is_some_and(|size| size != len) {
            let deleted = self.remote.delete(&self.key).await.is_ok();
            return Err(UploadError::ObjectMismatch {
                what: "CRC-64",
                expected: expected.to_string(),
                actual: actual.to_string(),
                deleted,
            });
        }
        Ok(actual)
    }

    /// One part, retried on transient failures, its CRC-64 checked against OSS's; the bytes
    /// pay the bandwidth cap as they go out.
    fn send(
        &self,
        number: u32,
        bytes: Bytes,
    ) -> impl Future<Output = Result<(u32, SentPart), UploadError>> + Send + 'static {
        let remote = Arc::clone(&self.remote);
        let (key, upload_id) = (self.key.clone(), self.upload_id.clone());
        let limiter = self.limiter.clone();
        let counters = Arc::clone(&self.counters);
        async move {
            let local = crc64(&bytes);
            let len = bytes.len() as u64;
            let mut attempt = 1;
            counters.part_started();
            // Ended as done or not on every way out, or the display counts it in flight.
            let outcome = loop {
                let part = Part {
                    data: bytes.clone(),
                    offset: 0,
                    read_ahead: None,
                };
                let tracker = Arc::new(AttemptTracker::default());
                let stream = chunks(
                    part,
                    limiter.clone(),
                    None,
                    Arc::clone(&counters),
                    Arc::clone(&tracker),
                );
                let body = reqwest::Body::wrap_stream(stream);
                match remote
                    .upload_part(&key, &upload_id, number, body, len, None)
                    .await
                {
                    Ok(receipt) if receipt.crc64 == Some(local) => {
                        let part = SentPart {
                            crc64: local,
                            len,
                            etag: receipt.etag,
                        };
                        counters.add_verified(len);
                        break Ok((number, part));
                    }
                    Ok(receipt) if attempt >= PART_ATTEMPTS => {
                        break Err(UploadError::PartCorrupted {
                            part_number: number,
                            attempts: attempt,
                            local,
                            server: receipt.crc64.unwrap_or_default(),
                        });
                    }
                    Err(error)
                        if attempt >= PART_ATTEMPTS
                            || !super::remote::RemoteError::is_retryable(&error) =>
                    {
                        break Err(remote_error("UploadPart", Some(number))(error));
                    }
                    _ => {}
                }
                // What this attempt sent is sent again: not progress.
                counters.add_wasted(tracker.sent());
                counters.add_retry();
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                attempt += 1;
            };
            counters.part_ended(outcome.is_ok());
            outcome
        }
    }
}

/// Waits until `path` holds a readable backup header and judges what is written by `rules`
/// (the report's `backup` is then set; a finding `corrupt` only says the file is not finished).
/// Refuses a file that is not a backup.
pub async fn read_header(
    path: &Path,
    rules: &Rules,
    options: &FollowOptions,
    cancel: &CancellationToken,
) -> Result<Report, UploadError> {
    let reader = Reader::open_when_created(path, options, cancel).await?;
    wait_for_header(&reader, rules, options, cancel).await
}

async fn wait_for_header(
    reader: &Reader,
    rules: &Rules,
    options: &FollowOptions,
    cancel: &CancellationToken,
) -> Result<Report, UploadError> {
    let started = Instant::now();
    let mut last_len = 0;
    let mut grew_at = Instant::now();
    loop {
        if cancel.is_cancelled() {
            return Err(interrupted(&reader.path));
        }
        let len = reader.stamp()?.len;
        if len != last_len {
            (last_len, grew_at) = (len, Instant::now());
        }
        let prefix = reader.read(0, len.min(HEADER_BYTES))?;
        let report = mssql_backup::examine(&prefix, rules);
        if report.backup.is_some() {
            return Ok(report);
        }
        if report.verdict == mssql_backup::Verdict::RejectNotBackup && !is_zeros(&prefix) {
            return Err(UploadError::Source(crate::Error::Config(format!(
                "{} is not a SQL Server backup: --follow uploads a backup while SQL Server \
                 writes it",
                reader.path.display()
            ))));
        }
        if grew_at.elapsed() >= options.timeout {
            return Err(stopped_growing(&reader.path, len, started.elapsed()));
        }
        tokio::time::sleep(options.poll).await;
    }
}

/// The file being written, read by position.
#[derive(Clone)]
struct Reader {
    path: PathBuf,
    file: Arc<std::fs::File>,
}

/// What tells that a file changed: its length and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

impl Reader {
    /// Opens `path`, waiting up to `--follow-timeout` for SQL Server to create it: a follow may
    /// start before the backup does.
    async fn open_when_created(
        path: &Path,
        options: &FollowOptions,
        cancel: &CancellationToken,
    ) -> Result<Self, UploadError> {
        let started = Instant::now();
        loop {
            match std::fs::File::open(path) {
                Ok(file) => {
                    return Ok(Reader {
                        path: path.to_owned(),
                        file: Arc::new(file),
                    });
                }
                Err(error)
                    if error.kind() == std::io::ErrorKind::NotFound
                        && started.elapsed() < options.timeout
                        && !cancel.is_cancelled() =>
                {
                    tokio::time::sleep(options.poll).await;
                }
                Err(error) => return Err(source_error(path, error)),
            }
        }
    }

    fn stamp(&self) -> Result<Stamp, UploadError> {
        let meta = self
            .file
            .metadata()
            .map_err(|e| source_error(&self.path, e))?;
        Ok(Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }

    /// Up to `len` bytes at `offset` (fewer at the end of the file).
    fn read(&self, offset: u64, len: u64) -> Result<Bytes, UploadError> {
        use std::os::unix::fs::FileExt as _;
        let mut buffer = vec![0; usize::try_from(len).unwrap_or(usize::MAX)];
        let mut filled = 0;
        while filled < buffer.len() {
            match self
                .file
                .read_at(&mut buffer[filled..], offset + filled as u64)
            {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(source_error(&self.path, e)),
            }
        }
        buffer.truncate(filled);
        Ok(Bytes::from(buffer))
    }

    /// [`Reader::read`] on the blocking pool: a part is megabytes of disk reading.
    async fn read_async(&self, offset: u64, len: u64) -> Result<Bytes, UploadError> {
        let reader = self.clone();
        tokio::task::spawn_blocking(move || reader.read(offset, len))
            .await
            .map_err(|e| UploadError::Internal(e.to_string()))?
    }

    /// Whether the backup's structure is whole: its container walks to the end with nothing
    /// missing (a backup still being written is cut short). Also fails when the path no longer
    /// names the file being read (replaced by a rename).
    async fn backup_is_whole(&self) -> Result<bool, UploadError> {
        self.check_same_file()?;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let source = crate::source::SourceFile::open(&path).map_err(UploadError::Source)?;
            let report = mssql_backup::examine(source.bytes(), &Rules::default());
            Ok(report.backup.is_some() && !report.findings.iter().any(|f| f.code == UNFINISHED))
        })
        .await
        .map_err(|e| UploadError::Internal(e.to_string()))?
    }

    /// The path still names the open file (same device and inode).
    fn check_same_file(&self) -> Result<(), UploadError> {
        use std::os::unix::fs::MetadataExt as _;
        let open = self
            .file
            .metadata()
            .map_err(|e| source_error(&self.path, e))?;
        let named = std::fs::metadata(&self.path).map_err(|e| source_error(&self.path, e))?;
        if (open.dev(), open.ino()) == (named.dev(), named.ino()) {
            Ok(())
        } else {
            Err(UploadError::Source(crate::Error::Config(format!(
                "{} was replaced by another file while it was being followed; run the command \
                 again on the new file",
                self.path.display()
            ))))
        }
    }
}

fn is_zeros(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

fn joined(
    done: Result<Result<(u32, SentPart), UploadError>, tokio::task::JoinError>,
) -> Result<(u32, SentPart), UploadError> {
    done.map_err(|e| UploadError::Internal(e.to_string()))?
}

fn source_error(path: &Path, error: std::io::Error) -> UploadError {
    UploadError::Source(crate::Error::io("read", path, error))
}

fn interrupted(path: &Path) -> UploadError {
    UploadError::FollowStopped {
        file: path.to_owned(),
    }
}

fn already_finished(path: &Path) -> UploadError {
    UploadError::Source(crate::Error::Config(format!(
        "{} is already a finished backup and did not change while followed: upload it without \
         --follow (or, if SQL Server is about to write it again, start --follow once the new \
         backup has begun)",
        path.display()
    )))
}

fn changed_at_the_end(path: &Path) -> UploadError {
    UploadError::ChangedAtTheEnd {
        file: path.to_owned(),
    }
}

fn stopped_growing(path: &Path, len: u64, quiet: Duration) -> UploadError {
    UploadError::NotGrowing {
        file: path.to_owned(),
        len,
        quiet_secs: quiet.as_secs(),
    }
}

//! Where the emulator keeps bytes and the catalog of buckets, objects and multipart uploads.
//!
//! Bodies are written as *blobs*: one per PutObject body or uploaded part, either in memory
//! (tests) or as a file in the data folder. Blob files are named by a counter, never by the
//! object key, so no key (`../`, absolute paths, NUL, 1023 bytes) can reach outside the folder.
//! A body is streamed to its blob in batches of [`FLUSH_BYTES`] while its CRC-64 (and MD5, unless
//! ETags are derived from the CRC) is computed on the same pass, so memory stays bounded
//! whatever the object size. Complete builds the object as a list of its parts' blobs (a
//! manifest): nothing is copied. A blob is deleted when the last object, part or reader holding
//! it lets go (`Arc` + `Drop`), so a GET streaming an object that is overwritten meanwhile keeps
//! reading the old bytes.
//!
//! The catalog lives in memory. With a data folder, every object also has a small JSON
//! manifest (`objects/<sha256 of bucket and key>.json`: metadata plus the list of its blob files)
//! written when it is stored, so a restarted emulator serves the same objects. Multipart uploads
//! in progress are not persisted: their part files are removed at the next start.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use futures::Stream;
use md5::Digest as _;
use time::OffsetDateTime;

use bak2rds_cloud::checksum::Crc64;

use super::config::BucketConfig;
use super::error::OssError;

/// Body bytes gathered before one write to the blob file: large enough that the per-write
/// overhead of a blocking-pool hop is small next to the copy, small enough to stay bounded
/// (a few MiB per request in flight).
pub const FLUSH_BYTES: usize = 4 << 20;
/// Size of the chunks a GET streams out of a blob file.
const READ_CHUNK: usize = 1 << 20;

/// Where blobs live.
#[derive(Debug, Clone)]
pub enum Backend {
    /// In memory (tests, small rehearsals).
    Memory,
    /// Bodies are checked (length, CRC-64, MD5) and dropped; objects keep their metadata, so
    /// PUT, UploadPart, Complete, HEAD and the listings behave as usual, but GET is refused.
    /// For throughput benchmarks: storing bytes costs the server a copy per byte, which on a
    /// two-core box makes the emulator, not the client, the bottleneck. Measured on the project
    /// machine (release build, 8 concurrent 8 MiB PutObjects, 8 GiB, `--fast-etag`): the server
    /// spends ≈1.0 CPU-s/GiB with the disk store and 0.44–0.6 CPU-s/GiB discarding (socket copy
    /// plus CRC-64), against 0.26 for the bare hyper + CRC server of `perf-anchors.md` row 25.
    Discard,
    /// Files in this folder.
    Disk(PathBuf),
}

/// One stored body: a PutObject body or an uploaded part.
#[derive(Debug)]
pub struct Blob {
    len: u64,
    crc: u64,
    data: BlobData,
}

#[derive(Debug)]
enum BlobData {
    Memory(Bytes),
    Discarded,
    Disk {
        path: PathBuf,
        /// Set when the storage shuts down: blobs dropped then stay on disk for the next start.
        keep: Arc<AtomicBool>,
    },
}

impl Drop for Blob {
    fn drop(&mut self) {
        if let BlobData::Disk { path, keep } = &self.data
            && !keep.load(Ordering::Acquire)
        {
            // Nothing else refers to this file any more; a failure only leaks disk space.
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Blob {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty body.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// CRC-64/XZ of the stored bytes.
    pub fn crc(&self) -> u64 {
        self.crc
    }
}

/// A body received into a blob, with the digests computed while it streamed in.
#[derive(Debug)]
pub struct Received {
    /// The stored blob.
    pub blob: Arc<Blob>,
    /// MD5 of the stored bytes, when it was computed.
    pub md5: Option<[u8; 16]>,
}

/// Streams one body into a new blob. Dropping it before [`BlobWriter::finish`] deletes the
/// partial file.
#[derive(Debug)]
pub struct BlobWriter {
    sink: Option<Sink>,
    keep: Arc<AtomicBool>,
    pending: Vec<Bytes>,
    pending_len: usize,
    /// Flip one byte of the body as it is stored (fault injection).
    flip_pending: bool,
}

/// The part of a writer that moves to the blocking pool for each batch.
#[derive(Debug)]
struct Sink {
    target: Target,
    crc: Crc64,
    md5: Option<md5::Md5>,
    len: u64,
    budget: Option<Arc<WriteBudget>>,
}

/// Bytes the data folder may still take before writes fail as on a full disk (the
/// `disk_full_after_bytes` fault). Shared by every writer, so the disk "fills up" whichever
/// request happens to be writing.
#[derive(Debug)]
pub struct WriteBudget {
    left: AtomicU64,
}

impl WriteBudget {
    /// A budget of `bytes`.
    pub fn new(bytes: u64) -> Self {
        WriteBudget {
            left: AtomicU64::new(bytes),
        }
    }

    /// Takes up to `want` bytes; returns how many may be written.
    fn take(&self, want: usize) -> usize {
        let want = len_u64(want);
        let mut granted = 0;
        let _ = self
            .left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                granted = left.min(want);
                Some(left - granted)
            });
        usize::try_from(granted).unwrap_or(usize::MAX)
    }

    /// Writes `bytes` to `out` as far as the budget allows, then fails like a full disk would
    /// (a short write followed by ENOSPC).
    fn write_all(&self, out: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
        let granted = self.take(bytes.len());
        out.write_all(bytes.get(..granted).unwrap_or(bytes))?;
        if granted < bytes.len() {
            return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
        }
        Ok(())
    }
}

#[derive(Debug)]
enum Target {
    Memory(BytesMut),
    Discard,
    Disk { file: File, path: PathBuf },
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if let Some(Sink {
            target: Target::Disk { path, .. },
            ..
        }) = &self.sink
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Sink {
    /// MD5 and storage of a batch; the CRC and the length were taken as the chunks arrived.
    fn write(&mut self, chunks: &[Bytes]) -> std::io::Result<()> {
        for chunk in chunks {
            if let Some(md5) = &mut self.md5 {
                md5.update(chunk);
            }
            match &mut self.target {
                Target::Memory(buffer) => buffer.extend_from_slice(chunk),
                Target::Discard => {}
                Target::Disk { file, .. } => match &self.budget {
                    Some(budget) => budget.write_all(file, chunk)?,
                    None => file.write_all(chunk)?,
                },
            }
        }
        Ok(())
    }

    /// True when a batch needs the blocking pool (MD5, or a file write).
    fn needs_blocking(&self) -> bool {
        self.md5.is_some() || matches!(self.target, Target::Disk { .. })
    }
}

impl BlobWriter {
    /// Adds body bytes; writes a batch out once [`FLUSH_BYTES`] have gathered.
    pub async fn push(&mut self, chunk: Bytes) -> std::io::Result<()> {
        let chunk = if self.flip_pending && !chunk.is_empty() {
            self.flip_pending = false;
            flip_middle_byte(chunk)
        } else {
            chunk
        };
        let Some(sink) = self.sink.as_mut() else {
            return Err(std::io::Error::other("blob writer already failed"));
        };
        // CRC-64 here, on the thread that just copied the chunk out of the socket, while it is
        // still in this core's cache: handing it to the blocking pool first cost the emulator
        // a cross-core cache transfer per byte.
        sink.crc.update(&chunk);
        sink.len += len_u64(chunk.len());
        if !sink.needs_blocking() {
            return sink.write(std::slice::from_ref(&chunk));
        }
        self.pending_len += chunk.len();
        self.pending.push(chunk);
        if self.pending_len >= FLUSH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        let chunks = std::mem::take(&mut self.pending);
        self.pending_len = 0;
        let Some(mut sink) = self.sink.take() else {
            return Err(std::io::Error::other("blob writer already failed"));
        };
        let (sink, result) = tokio::task::spawn_blocking(move || {
            let result = sink.write(&chunks);
            (sink, result)
        })
        .await
        .map_err(std::io::Error::other)?;
        self.sink = Some(sink);
        result
    }

    /// Writes what is left and returns the blob with its digests.
    pub async fn finish(mut self) -> std::io::Result<Received> {
        self.flush().await?;
        let Some(sink) = self.sink.take() else {
            return Err(std::io::Error::other("blob writer already failed"));
        };
        let crc = sink.crc.value();
        let md5 = sink.md5.map(|md5| md5.finalize().into());
        let data = match sink.target {
            Target::Memory(buffer) => BlobData::Memory(buffer.freeze()),
            Target::Discard => BlobData::Discarded,
            // No fsync: the emulator rehearses the protocol, not OSS's durability, and a sync per
            // part would make throughput benchmarks measure the disk instead of the client.
            Target::Disk { file, path } => {
                drop(file);
                BlobData::Disk {
                    path,
                    keep: Arc::clone(&self.keep),
                }
            }
        };
        Ok(Received {
            blob: Arc::new(Blob {
                len: sink.len,
                crc,
                data,
            }),
            md5,
        })
    }
}

fn flip_middle_byte(chunk: Bytes) -> Bytes {
    let mut copy = BytesMut::from(chunk.as_ref());
    let middle = copy.len() / 2;
    if let Some(byte) = copy.get_mut(middle) {
        *byte ^= 0x01;
    }
    copy.freeze()
}

/// What kind of object OSS reports in `x-oss-object-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// Written by PutObject.
    Normal,
    /// Built by CompleteMultipartUpload.
    Multipart,
}

impl ObjectKind {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Normal => "Normal",
            ObjectKind::Multipart => "Multipart",
        }
    }
}

/// Metadata a client sets at PutObject or InitiateMultipartUpload.
#[derive(Debug, Clone, Default)]
pub struct ObjectMeta {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `x-oss-meta-*` headers (lower-case names, as received).
    pub user: Vec<(String, String)>,
}

/// One stored object.
#[derive(Debug, Clone)]
pub struct Object {
    /// Total length.
    pub len: u64,
    /// CRC-64/XZ of the whole object (combined from the pieces for multipart objects).
    pub crc: u64,
    /// ETag without quotes.
    pub etag: String,
    /// Normal or Multipart.
    pub kind: ObjectKind,
    /// Content type and user metadata.
    pub meta: ObjectMeta,
    /// When it was written.
    pub last_modified: OffsetDateTime,
    /// Its bytes, in order.
    pub pieces: Vec<Arc<Blob>>,
}

impl Object {
    /// True when the bytes were dropped ([`Backend::Discard`]).
    pub fn is_discarded(&self) -> bool {
        self.pieces
            .iter()
            .any(|piece| matches!(piece.data, BlobData::Discarded))
    }

    /// A reader over the object's bytes.
    pub fn reader(&self) -> ObjectReader {
        ObjectReader {
            pieces: self.pieces.clone(),
            len: self.len,
        }
    }
}

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone)]
pub struct Part {
    /// The part's bytes.
    pub blob: Arc<Blob>,
    /// ETag without quotes.
    pub etag: String,
    /// When it was uploaded.
    pub last_modified: OffsetDateTime,
}

/// One multipart upload in progress.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The upload ID.
    pub id: String,
    /// The object key.
    pub key: String,
    /// When it was initiated.
    pub initiated: OffsetDateTime,
    /// Metadata given at initiate, applied at Complete.
    pub meta: ObjectMeta,
    /// Uploaded parts by number.
    pub parts: BTreeMap<u32, Part>,
}

/// One bucket's contents.
#[derive(Debug)]
pub struct Bucket {
    /// Its declaration.
    pub config: BucketConfig,
    /// When the emulator created it.
    pub created: OffsetDateTime,
    /// Objects by key.
    pub objects: BTreeMap<String, Object>,
    /// Uploads in progress by upload ID.
    pub uploads: BTreeMap<String, Upload>,
}

/// The catalog: every bucket, object and upload. Held under one lock for short, non-async steps.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Buckets by name.
    pub buckets: BTreeMap<String, Bucket>,
}

impl Catalog {
    /// The bucket, or `NoSuchBucket`.
    pub fn bucket(&mut self, name: &str) -> Result<&mut Bucket, OssError> {
        self.buckets
            .get_mut(name)
            .ok_or_else(|| OssError::no_such_bucket(name))
    }
}

/// The emulator's storage: blobs plus catalog.
#[derive(Debug)]
pub struct Storage {
    backend: Backend,
    catalog: Mutex<Catalog>,
    next_blob: AtomicU64,
    keep: Arc<AtomicBool>,
    /// Set by the `disk_full_after_bytes` fault.
    budget: Option<Arc<WriteBudget>>,
}

impl Drop for Storage {
    fn drop(&mut self) {
        // Runs before the catalog is dropped: stored bodies outlive the process.
        self.keep.store(true, Ordering::Release);
    }
}

impl Storage {
    /// Storage with these buckets. For [`Backend::Disk`] the folder is created, objects stored
    /// there by an earlier run are loaded, and part files nothing refers to are removed.
    pub fn new(backend: Backend, buckets: &[BucketConfig]) -> std::io::Result<Self> {
        let storage = Self::empty(backend, buckets)?;
        if let Backend::Disk(dir) = &storage.backend {
            let next = persist::load(dir, &mut storage.catalog(), &storage.keep)?;
            storage.next_blob.store(next, Ordering::Relaxed);
        }
        Ok(storage)
    }

    fn empty(backend: Backend, buckets: &[BucketConfig]) -> std::io::Result<Self> {
        if let Backend::Disk(dir) = &backend {
            std::fs::create_dir_all(blob_dir(dir))?;
            std::fs::create_dir_all(persist::manifest_dir(dir))?;
        }
        let now = OffsetDateTime::now_utc();
        let buckets = buckets
            .iter()
            .map(|config| {
                let bucket = Bucket {
                    config: config.clone(),
                    created: now,
                    objects: BTreeMap::new(),
                    uploads: BTreeMap::new(),
                };
                (config.name.clone(), bucket)
            })
            .collect();
        Ok(Storage {
            backend,
            catalog: Mutex::new(Catalog { buckets }),
            next_blob: AtomicU64::new(1),
            keep: Arc::new(AtomicBool::new(false)),
            budget: None,
        })
    }

    /// Makes the data folder behave as full once `bytes` more body and manifest bytes were
    /// written (fault injection; only a disk store writes anything).
    pub fn fail_writes_after(&mut self, bytes: u64) {
        self.budget = Some(Arc::new(WriteBudget::new(bytes)));
    }

    /// Stores an object under `key`, replacing any previous one; with a data folder, its
    /// manifest is written first (atomically), so the folder never names a missing object.
    pub fn insert_object(
        &self,
        bucket: &mut Bucket,
        key: &str,
        object: Object,
    ) -> std::io::Result<()> {
        if let Backend::Disk(dir) = &self.backend {
            persist::write(
                dir,
                &bucket.config.name,
                key,
                &object,
                self.budget.as_deref(),
            )?;
        }
        bucket.objects.insert(key.to_owned(), object);
        Ok(())
    }

    /// Deletes the object under `key`, if any, and its manifest.
    pub fn remove_object(&self, bucket: &mut Bucket, key: &str) -> std::io::Result<()> {
        if bucket.objects.remove(key).is_some()
            && let Backend::Disk(dir) = &self.backend
        {
            persist::remove(dir, &bucket.config.name, key)?;
        }
        Ok(())
    }

    /// The catalog, locked. Never hold it across an `.await`.
    pub fn catalog(&self) -> MutexGuard<'_, Catalog> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than refusing every later request, so a poisoned lock is taken as is.
        self.catalog
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A writer for a new blob. `with_md5` also computes the MD5; `flip_byte` stores the body
    /// with one byte flipped (fault injection).
    pub fn blob_writer(&self, with_md5: bool, flip_byte: bool) -> std::io::Result<BlobWriter> {
        let target = match &self.backend {
            Backend::Memory => Target::Memory(BytesMut::new()),
            Backend::Discard => Target::Discard,
            Backend::Disk(dir) => {
                let id = self.next_blob.fetch_add(1, Ordering::Relaxed);
                let path = blob_dir(dir).join(format!("{id:016x}.blob"));
                let file = File::options().write(true).create_new(true).open(&path)?;
                Target::Disk { file, path }
            }
        };
        Ok(BlobWriter {
            keep: Arc::clone(&self.keep),
            sink: Some(Sink {
                target,
                crc: Crc64::new(),
                md5: with_md5.then(md5::Md5::new),
                len: 0,
                budget: self.budget.clone(),
            }),
            pending: Vec::new(),
            pending_len: 0,
            flip_pending: flip_byte,
        })
    }

    /// A reader over a stored object's bytes, or `None` when the bucket or object is absent.
    /// The RDS emulator uses this to judge an uploaded backup.
    pub fn read_object(&self, bucket: &str, key: &str) -> Option<ObjectReader> {
        let catalog = self.catalog();
        let object = catalog.buckets.get(bucket)?.objects.get(key)?;
        Some(object.reader())
    }
}

fn blob_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("blobs")
}

/// Object manifests in the data folder.
mod persist {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use serde::{Deserialize, Serialize};
    use sha2::Digest as _;
    use time::OffsetDateTime;

    use super::{Blob, BlobData, Catalog, Object, ObjectKind, ObjectMeta, blob_dir};

    /// One object as written to `objects/<name>.json`.
    #[derive(Debug, Serialize, Deserialize)]
    struct Manifest {
        bucket: String,
        key: String,
        len: u64,
        crc: u64,
        etag: String,
        multipart: bool,
        content_type: Option<String>,
        user_meta: Vec<(String, String)>,
        last_modified_unix: i64,
        pieces: Vec<Piece>,
    }

    /// One blob of an object: its counter id (the file is `blobs/<id as 16 hex>.blob`).
    #[derive(Debug, Serialize, Deserialize)]
    struct Piece {
        blob: u64,
        len: u64,
        crc: u64,
    }

    pub(super) fn manifest_dir(data_dir: &Path) -> PathBuf {
        data_dir.join("objects")
    }

    /// The manifest file of a key: named by a hash, so no key reaches the file system.
    fn manifest_path(data_dir: &Path, bucket: &str, key: &str) -> PathBuf {
        let mut digest = sha2::Sha256::new();
        digest.update(bucket.as_bytes());
        digest.update([0]);
        digest.update(key.as_bytes());
        manifest_dir(data_dir).join(format!("{}.json", hex::encode(digest.finalize())))
    }

    fn blob_path(data_dir: &Path, id: u64) -> PathBuf {
        blob_dir(data_dir).join(format!("{id:016x}.blob"))
    }

    fn blob_id(path: &Path) -> Option<u64> {
        let name = path.file_name()?.to_str()?.strip_suffix(".blob")?;
        u64::from_str_radix(name, 16).ok()
    }

    pub(super) fn write(
        data_dir: &Path,
        bucket: &str,
        key: &str,
        object: &Object,
        budget: Option<&super::WriteBudget>,
    ) -> std::io::Result<()> {
        let mut pieces = Vec::with_capacity(object.pieces.len());
        for blob in &object.pieces {
            let BlobData::Disk { path, .. } = &blob.data else {
                return Err(std::io::Error::other("a memory blob in a disk store"));
            };
            let id =
                blob_id(path).ok_or_else(|| std::io::Error::other("unexpected blob file name"))?;
            pieces.push(Piece {
                blob: id,
                len: blob.len,
                crc: blob.crc,
            });
        }
        let manifest = Manifest {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            len: object.len,
            crc: object.crc,
            etag: object.etag.clone(),
            multipart: object.kind == ObjectKind::Multipart,
            content_type: object.meta.content_type.clone(),
            user_meta: object.meta.user.clone(),
            last_modified_unix: object.last_modified.unix_timestamp(),
            pieces,
        };
        let json = serde_json::to_vec(&manifest).map_err(std::io::Error::other)?;
        let path = manifest_path(data_dir, bucket, key);
        let temp = path.with_extension("json.tmp");
        let written = write_file(&temp, &json, budget).and_then(|()| std::fs::rename(&temp, &path));
        if written.is_err() {
            // A half-written manifest must not be mistaken for an object at the next start.
            let _ = std::fs::remove_file(&temp);
        }
        written
    }

    fn write_file(
        path: &Path,
        bytes: &[u8],
        budget: Option<&super::WriteBudget>,
    ) -> std::io::Result<()> {
        let mut file = std::fs::File::create(path)?;
        match budget {
            Some(budget) => budget.write_all(&mut file, bytes),
            None => std::io::Write::write_all(&mut file, bytes),
        }
    }

    pub(super) fn remove(data_dir: &Path, bucket: &str, key: &str) -> std::io::Result<()> {
        match std::fs::remove_file(manifest_path(data_dir, bucket, key)) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }

    /// Loads every readable manifest of a configured bucket, removes blob files no manifest
    /// names (parts of uploads that were in progress), and returns the next free blob id.
    pub(super) fn load(
        data_dir: &Path,
        catalog: &mut Catalog,
        keep: &Arc<AtomicBool>,
    ) -> std::io::Result<u64> {
        let mut loaded: BTreeMap<u64, Arc<Blob>> = BTreeMap::new();
        for entry in std::fs::read_dir(manifest_dir(data_dir))? {
            let path = entry?.path();
            let manifest: Option<Manifest> = std::fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok());
            let Some(manifest) = manifest else {
                tracing::warn!(path = %path.display(), "unreadable object manifest skipped");
                continue;
            };
            let Some(bucket) = catalog.buckets.get_mut(&manifest.bucket) else {
                continue;
            };
            let intact = manifest.pieces.iter().all(|piece| {
                std::fs::metadata(blob_path(data_dir, piece.blob))
                    .is_ok_and(|m| m.len() == piece.len)
            });
            if !intact {
                tracing::warn!(key = %manifest.key, "object with missing part files skipped");
                continue;
            }
            let pieces = manifest
                .pieces
                .iter()
                .map(|piece| {
                    // One `Blob` per file, shared by every object that names it (CopyObject
                    // shares its source's bytes): a file is removed only when the last of
                    // them goes.
                    let blob = loaded.entry(piece.blob).or_insert_with(|| {
                        Arc::new(Blob {
                            len: piece.len,
                            crc: piece.crc,
                            data: BlobData::Disk {
                                path: blob_path(data_dir, piece.blob),
                                keep: Arc::clone(keep),
                            },
                        })
                    });
                    Arc::clone(blob)
                })
                .collect();
            let object = Object {
                len: manifest.len,
                crc: manifest.crc,
                etag: manifest.etag,
                kind: if manifest.multipart {
                    ObjectKind::Multipart
                } else {
                    ObjectKind::Normal
                },
                meta: ObjectMeta {
                    content_type: manifest.content_type,
                    user: manifest.user_meta,
                },
                last_modified: OffsetDateTime::from_unix_timestamp(manifest.last_modified_unix)
                    .unwrap_or_else(|_| OffsetDateTime::now_utc()),
                pieces,
            };
            bucket.objects.insert(manifest.key, object);
        }
        let mut next = 1;
        for entry in std::fs::read_dir(blob_dir(data_dir))? {
            let path = entry?.path();
            match blob_id(&path) {
                Some(id) if loaded.contains_key(&id) => next = next.max(id + 1),
                // Parts of an unfinished upload, or a body cut short: nothing refers to it.
                _ => std::fs::remove_file(&path)?,
            }
        }
        Ok(next)
    }
}

/// Reads an object's bytes across its pieces. Holding it keeps the bytes alive even if the
/// object is overwritten or deleted meanwhile.
#[derive(Debug, Clone)]
pub struct ObjectReader {
    pieces: Vec<Arc<Blob>>,
    len: u64,
}

impl ObjectReader {
    /// The object's length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty object.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies the whole object into `out` (blocking I/O; call from a blocking context).
    pub fn copy_to(&self, out: &mut impl std::io::Write) -> std::io::Result<u64> {
        let mut written = 0u64;
        for piece in &self.pieces {
            match &piece.data {
                BlobData::Memory(bytes) => out.write_all(bytes)?,
                BlobData::Discarded => return Err(discarded()),
                BlobData::Disk { path, .. } => {
                    let mut file = File::open(path)?;
                    std::io::copy(&mut file, out)?;
                }
            }
            written += piece.len;
        }
        Ok(written)
    }

    /// Streams `range` of the object (already clamped to the object's length by the caller).
    pub fn stream(
        &self,
        range: Range<u64>,
    ) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
        let state = ReadState {
            pieces: self.pieces.clone(),
            index: 0,
            piece_start: 0,
            position: range.start,
            end: range.end.min(self.len),
            open: None,
        };
        futures::stream::try_unfold(state, ReadState::next_chunk)
    }
}

/// Cursor of [`ObjectReader::stream`].
struct ReadState {
    pieces: Vec<Arc<Blob>>,
    /// Index of the piece holding `position`.
    index: usize,
    /// Object offset where piece `index` starts.
    piece_start: u64,
    /// Next object offset to send.
    position: u64,
    /// Object offset to stop at.
    end: u64,
    /// The open file of piece `index`, when it is on disk.
    open: Option<(usize, File)>,
}

impl ReadState {
    async fn next_chunk(mut self) -> std::io::Result<Option<(Bytes, Self)>> {
        loop {
            if self.position >= self.end {
                return Ok(None);
            }
            let Some(piece) = self.pieces.get(self.index).map(Arc::clone) else {
                return Ok(None);
            };
            let piece_end = self.piece_start + piece.len;
            if self.position >= piece_end {
                self.piece_start = piece_end;
                self.index += 1;
                self.open = None;
                continue;
            }
            let offset = self.position - self.piece_start;
            let want = (self.end.min(piece_end) - self.position).min(len_u64(READ_CHUNK));
            let chunk = match &piece.data {
                BlobData::Memory(bytes) => slice_bytes(bytes, offset, want)?,
                BlobData::Discarded => return Err(discarded()),
                BlobData::Disk { path, .. } => self.read_file(path.clone(), offset, want).await?,
            };
            if chunk.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "stored part is shorter than recorded",
                ));
            }
            self.position += len_u64(chunk.len());
            return Ok(Some((chunk, self)));
        }
    }

    async fn read_file(&mut self, path: PathBuf, offset: u64, want: u64) -> std::io::Result<Bytes> {
        let index = self.index;
        let open = self.open.take().filter(|(at, _)| *at == index);
        let want = usize::try_from(want).unwrap_or(READ_CHUNK);
        let (file, chunk) = tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::FileExt as _;
            let file = match open {
                Some((_, file)) => file,
                None => File::open(&path)?,
            };
            let mut buffer = BytesMut::zeroed(want);
            let mut filled = 0;
            while filled < want {
                let Some(rest) = buffer.get_mut(filled..) else {
                    break;
                };
                let read = file.read_at(rest, offset + len_u64(filled))?;
                if read == 0 {
                    break;
                }
                filled += read;
            }
            buffer.truncate(filled);
            Ok::<_, std::io::Error>((file, buffer.freeze()))
        })
        .await
        .map_err(std::io::Error::other)??;
        self.open = Some((index, file));
        Ok(chunk)
    }
}

fn discarded() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "the emulator runs with bodies discarded (benchmark mode)",
    )
}

/// A buffer length as `u64` (lossless on every platform Rust supports).
pub fn len_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

fn slice_bytes(bytes: &Bytes, offset: u64, want: u64) -> std::io::Result<Bytes> {
    let start = usize::try_from(offset).map_err(std::io::Error::other)?;
    let end = usize::try_from(offset + want).map_err(std::io::Error::other)?;
    if end > bytes.len() || start > end {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "stored part is shorter than recorded",
        ));
    }
    Ok(bytes.slice(start..end))
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt as _;

    use super::*;
    use bak2rds_cloud::checksum::crc64;

    async fn store(storage: &Storage, body: &[u8], split: usize) -> Arc<Blob> {
        let mut writer = storage.blob_writer(true, false).unwrap();
        for chunk in body.chunks(split) {
            writer.push(Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        let received = writer.finish().await.unwrap();
        assert_eq!(received.md5, Some(bak2rds_cloud::checksum::md5(body)));
        received.blob
    }

    async fn round_trip(backend: Backend) {
        let storage = Storage::new(backend, &[]).unwrap();
        let a: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let b = b"tail bytes".to_vec();
        let blob_a = store(&storage, &a, 70_000).await;
        let blob_b = store(&storage, &b, 3).await;
        assert_eq!(blob_a.crc(), crc64(&a));
        let reader = ObjectReader {
            len: blob_a.len() + blob_b.len(),
            pieces: vec![blob_a, blob_b],
        };
        let whole: Vec<u8> = [a.clone(), b.clone()].concat();
        let mut copied = Vec::new();
        reader.copy_to(&mut copied).unwrap();
        assert_eq!(copied, whole);
        for range in [
            0..whole.len(),
            5..2_999_995,
            2_999_999..3_000_004,
            3_000_002..3_000_010,
        ] {
            let chunks: Vec<Bytes> = reader
                .stream(range.start as u64..range.end as u64)
                .try_collect()
                .await
                .unwrap();
            assert_eq!(chunks.concat(), whole[range.clone()], "range {range:?}");
        }
    }

    #[tokio::test]
    async fn memory_blobs_round_trip_across_pieces() {
        round_trip(Backend::Memory).await;
    }

    #[tokio::test]
    async fn disk_blobs_round_trip_and_are_removed_when_released() {
        let dir = tempfile::tempdir().unwrap();
        round_trip(Backend::Disk(dir.path().to_owned())).await;
        let left = std::fs::read_dir(dir.path().join("blobs")).unwrap().count();
        assert_eq!(left, 0, "blob files outlived their last reference");
    }

    #[tokio::test]
    async fn a_dropped_writer_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::new(Backend::Disk(dir.path().to_owned()), &[]).unwrap();
        let mut writer = storage.blob_writer(false, false).unwrap();
        writer.push(Bytes::from_static(b"partial")).await.unwrap();
        drop(writer);
        assert_eq!(
            std::fs::read_dir(dir.path().join("blobs")).unwrap().count(),
            0
        );
    }

    #[tokio::test]
    async fn a_full_disk_fails_the_write_with_storage_full_and_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut storage = Storage::new(Backend::Disk(dir.path().to_owned()), &[]).unwrap();
        storage.fail_writes_after(FLUSH_BYTES as u64 + 10);
        let fits = store(&storage, &[1u8; 100], 100).await;
        let mut writer = storage.blob_writer(false, false).unwrap();
        let error = writer
            .push(Bytes::from(vec![2u8; FLUSH_BYTES]))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::StorageFull);
        drop(writer);
        let files = std::fs::read_dir(dir.path().join("blobs")).unwrap().count();
        assert_eq!(files, 1, "only the blob that fitted is on disk");
        assert_eq!(fits.len(), 100);
    }

    #[tokio::test]
    async fn flipped_byte_changes_the_stored_crc() {
        let storage = Storage::new(Backend::Memory, &[]).unwrap();
        let mut writer = storage.blob_writer(false, true).unwrap();
        writer
            .push(Bytes::from_static(b"0123456789"))
            .await
            .unwrap();
        let received = writer.finish().await.unwrap();
        assert_ne!(received.blob.crc(), crc64(b"0123456789"));
        assert_eq!(received.blob.len(), 10);
    }
}

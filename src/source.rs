//! The local backup file: opened once, memory-mapped, identified, and handed out as zero-copy
//! `Bytes` ranges.
//!
//! Why mmap: a part is then a slice of the page cache that reqwest sends without a user-space copy
//! (`perf-anchors.md` rows 6–8: faulting a cached mapping costs ~25 ns per 4 KiB page, while
//! `read(2)` + CRC serialises a copy). Residency stays bounded for files larger than RAM because
//! the uploader calls [`SourceFile::release`] on finished ranges.
//!
//! No advice on the whole map. How many faults a mapping costs depends on how its file
//! entered the page cache: read cold through the map or by `read(2)`, or written in large
//! writes, it sits in large folios and a 4 GiB upload takes ≈ 550 minor faults per GiB
//! (≈ 0.006 CPU-s/GiB); a file whose cache was built 4 KiB at a time takes ≈ 16,000 per GiB
//! (one per 64 KiB of fault-around), ≈ 0.07 CPU-s/GiB. `MADV_SEQUENTIAL`, `MADV_WILLNEED`,
//! `MADV_POPULATE_READ` and `MAP_POPULATE` walk the same per-page path and lowered neither;
//! `MADV_HUGEPAGE` makes cold reads build 2 MiB folios but cost more CPU on the cold read itself
//! (0.73 against 0.40 CPU-s/GiB), so it is not used either. What a cold file does gain from is
//! *where* it is read: [`SourceFile::populate`] reads a window in from a blocking thread, ahead
//! of the sender (`upload::read_ahead`), where [`SourceFile::is_cached`] finds it missing.
//!
//! Nor does sendfile(2): sending mapped parts from the file with sendfile (hyper's client over a
//! TCP stream that recognised mapped buffers) was measured against write(2) from the mapping and
//! gave no lower client CPU per GiB (0.45–0.61 against 0.47–0.60 over 6 interleaved runs) and no
//! more throughput: the CRC pass already pulls each 256 KiB chunk into L2, so the copy into the
//! socket is cheap, and the receiver then reads page-cache pages that are no longer in cache.
//!
//! Must not know about parts, HTTP or checkpoints. One of two modules allowed `unsafe` (with
//! `checksum/folding.rs`).
#![allow(unsafe_code)]

mod cache;
mod vanished;

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use memmap2::Mmap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What makes "the same file" for resume and change detection: path, size and mtime.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    /// The path as given (canonicalised when possible).
    pub path: PathBuf,
    /// Size in bytes.
    pub len: u64,
    /// Modification time, nanoseconds since the Unix epoch (0 when the platform has none).
    pub modified_ns: u128,
}

impl FileIdentity {
    /// Reads the identity of `path` from the file system now.
    pub fn of(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io("stat", path, e))?;
        Ok(Self::from_metadata(path, &meta))
    }

    /// Same size and modification time: the same file contents as far as the file system
    /// tells (the path aside, which a moved file may change).
    pub fn same_contents(&self, other: &FileIdentity) -> bool {
        self.len == other.len && self.modified_ns == other.modified_ns
    }

    fn from_metadata(path: &Path, meta: &std::fs::Metadata) -> Self {
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        FileIdentity {
            path: path.to_path_buf(),
            len: meta.len(),
            modified_ns,
        }
    }
}

/// The mapping, shared by every `Bytes` handed out so it lives until the last part is sent.
/// While it lives, a SIGBUS on its pages (the file shrank) ends the process with a clear error.
#[derive(Debug)]
struct Mapping {
    // Fields drop in declaration order: the guard goes before the pages are unmapped, so the
    // handler never claims an address range that may already belong to another mapping.
    _guard: Option<vanished::Registration>,
    map: Option<Mmap>,
}

impl Mapping {
    fn new(map: Option<Mmap>) -> Self {
        let guard = map
            .as_ref()
            .map(|map| vanished::register(map.as_ptr() as usize, map.len()));
        Mapping { _guard: guard, map }
    }

    fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

/// A slice of the mapping that owns a reference to it: the owner behind a zero-copy `Bytes`.
#[derive(Debug)]
struct MappedRange {
    mapping: Arc<Mapping>,
    start: usize,
    end: usize,
}

impl AsRef<[u8]> for MappedRange {
    fn as_ref(&self) -> &[u8] {
        // In range by construction: `SourceFile::slice` checked it against the mapping's length.
        self.mapping
            .bytes()
            .get(self.start..self.end)
            .unwrap_or(&[])
    }
}

/// An opened, memory-mapped backup file.
#[derive(Debug)]
pub struct SourceFile {
    mapping: Arc<Mapping>,
    identity: FileIdentity,
    /// Whether the page cache's state of this file can be seen (see `cache::residency_visible`).
    cache_visible: bool,
}

/// The whole mapped file, so a `SourceFile` is what [`mssql_backup::read_chain_files`] opens.
impl AsRef<[u8]> for SourceFile {
    fn as_ref(&self) -> &[u8] {
        self.bytes()
    }
}

impl SourceFile {
    /// Opens and maps `path` read-only.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
        let meta = file.metadata().map_err(|e| Error::io("stat", path, e))?;
        if !meta.is_file() {
            return Err(Error::io(
                "open",
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
            ));
        }
        // A zero-length mapping is an error on Linux; an empty file is simply empty.
        let map = if meta.len() == 0 {
            None
        } else {
            // SAFETY: the mapping is read-only and private to this process. Another process may
            // still truncate the file underneath it (SIGBUS on access): `check_unchanged` detects
            // size and mtime changes between parts, and `vanished` turns a SIGBUS inside a part
            // into a clear error and exit instead of a crash.
            Some(unsafe { Mmap::map(&file) }.map_err(|e| Error::io("map", path, e))?)
        };
        use std::os::unix::fs::MetadataExt as _;
        Ok(SourceFile {
            mapping: Arc::new(Mapping::new(map)),
            identity: FileIdentity::from_metadata(path, &meta),
            cache_visible: cache::residency_visible(path, meta.uid()),
        })
    }

    /// The whole file as a byte slice (for the parser).
    pub fn bytes(&self) -> &[u8] {
        self.mapping.bytes()
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.identity.len
    }

    /// True for an empty file.
    pub fn is_empty(&self) -> bool {
        self.identity.len == 0
    }

    /// The identity recorded when the file was opened.
    pub fn identity(&self) -> &FileIdentity {
        &self.identity
    }

    /// The path the file was opened from.
    pub fn path(&self) -> &Path {
        &self.identity.path
    }

    /// A zero-copy `Bytes` over `range`; it keeps the mapping alive while it exists.
    pub fn slice(&self, range: Range<u64>) -> Result<Bytes> {
        let (start, end) = self.checked_range(&range)?;
        Ok(Bytes::from_owner(MappedRange {
            mapping: Arc::clone(&self.mapping),
            start,
            end,
        }))
    }

    fn checked_range(&self, range: &Range<u64>) -> Result<(usize, usize)> {
        let len = self.mapping.bytes().len();
        let start = usize::try_from(range.start).ok();
        let end = usize::try_from(range.end).ok();
        match (start, end) {
            (Some(start), Some(end)) if start <= end && end <= len => Ok((start, end)),
            _ => Err(Error::Config(format!(
                "byte range {}..{} is outside {} ({} bytes)",
                range.start,
                range.end,
                self.identity.path.display(),
                len
            ))),
        }
    }

    /// Tells the kernel the pages of `range` will not be read again, so a multi-TB upload does
    /// not keep every sent part resident. Advisory: a failure is ignored.
    pub fn release(&self, range: Range<u64>) {
        let Some(map) = self.mapping.map.as_ref() else {
            return;
        };
        let Ok((start, end)) = self.checked_range(&range) else {
            return;
        };
        // madvise works on whole pages: shrink the range inwards to page boundaries.
        let page = cache::page_size();
        let start = start.div_ceil(page) * page;
        let end = end / page * page;
        if start < end {
            // SAFETY: MADV_DONTNEED on a read-only, file-backed private mapping only drops the
            // page-table entries; a later access faults the same file contents back in, so no
            // live `Bytes` can observe different data.
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
            };
        }
    }

    /// Whether `range` looks cached, so reading it costs no disk access: its first and last
    /// pages are in the page cache. False when it cannot be told (a file this process neither
    /// owns nor may write to, whose residency the kernel hides).
    pub fn is_cached(&self, range: Range<u64>) -> bool {
        let Some(map) = self.mapping.map.as_ref() else {
            return true;
        };
        match self.checked_range(&range) {
            Ok((start, end)) => self.cache_visible && cache::ends_cached(map, start..end),
            Err(_) => false,
        }
    }

    /// Reads `range` in now and maps it (`MADV_POPULATE_READ`): one call, off the async
    /// workers, instead of a page fault per 64 KiB while the part is being sent. A range the
    /// file no longer holds is an error here, not a SIGBUS.
    pub fn populate(&self, range: Range<u64>) -> std::io::Result<()> {
        let Some(map) = self.mapping.map.as_ref() else {
            return Ok(());
        };
        let (start, end) = self
            .checked_range(&range)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        cache::populate(map, start..end)
    }

    /// Fails when the file on disk no longer has the size and mtime it had when opened.
    pub fn check_unchanged(&self) -> Result<()> {
        let now = FileIdentity::of(&self.identity.path)?;
        if !now.same_contents(&self.identity) {
            return Err(Error::Config(format!(
                "{} changed while it was being read (size {} → {} bytes, or modification time); \
                 wait until the backup has finished writing, then run the command again",
                self.identity.path.display(),
                self.identity.len,
                now.len
            )));
        }
        Ok(())
    }
}

/// Drops `path`'s clean pages from the page cache (`POSIX_FADV_DONTNEED`; no root needed), so
/// the next read of it comes from the disk: how `bench --cold` measures a TB backup that was
/// never in memory. Pages mapped by a live mapping stay; callers drop their mappings first.
pub fn evict_from_cache(path: &Path) -> Result<()> {
    use std::os::fd::AsRawFd as _;
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    // Dirty pages (a file just written) are not dropped: write them out first.
    file.sync_data()
        .map_err(|e| Error::io("write out before evicting", path, e))?;
    // SAFETY: posix_fadvise only reads its arguments; the descriptor is open for the call.
    let code = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if code != 0 {
        let error = std::io::Error::from_raw_os_error(code);
        return Err(Error::io("evict from the page cache", path, error));
    }
    Ok(())
}

/// Total physical memory in bytes (Linux `/proc/meminfo`), if it can be read.
pub fn physical_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn slices_share_the_mapping_and_outlive_the_source() {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(b"0123456789").expect("write");
        let source = SourceFile::open(file.path()).expect("open");
        let part = source.slice(2..5).expect("slice");
        drop(source);
        assert_eq!(&part[..], b"234");
    }

    #[test]
    fn out_of_range_slice_is_an_error() {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(b"abc").expect("write");
        let source = SourceFile::open(file.path()).expect("open");
        assert!(source.slice(1..4).is_err());
        assert!(source.slice(3..3).is_ok());
    }

    #[test]
    fn physical_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(physical_memory().is_some_and(|bytes| bytes > 64 << 20));
        }
    }

    #[test]
    fn empty_file_maps_to_an_empty_slice() {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        let source = SourceFile::open(file.path()).expect("open");
        assert!(source.is_empty());
        assert_eq!(source.bytes(), b"");
    }

    #[test]
    fn a_change_on_disk_is_detected() {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(b"abc").expect("write");
        let source = SourceFile::open(file.path()).expect("open");
        assert!(source.check_unchanged().is_ok());
        file.write_all(b"more").expect("append");
        file.flush().expect("flush");
        assert!(source.check_unchanged().is_err());
    }
}

//! Reads a part's bytes from disk a few windows ahead of its sender, off the async workers.
//!
//! A part is a slice of the file's mapping. Without this, its pages are faulted in by the first
//! touch, the CRC pass on an async worker: on a cold file each fault waits for the disk, and the
//! worker, one of two on a two-core host, feeds no socket meanwhile. Instead blocking threads
//! map the next windows (`MADV_POPULATE_READ`: one call each, the kernel's large sequential
//! reads) while the window before them is being sent. A window whose ends are already in the
//! page cache is left to the sender, as before: a cached file is sent with no thread involved.
//!
//! Resident at most: per part in flight, the window being sent and the [`WINDOWS_IN_FLIGHT`]
//! being read (24 MiB); pages already sent stay mapped until the part ends and is released, as
//! before. An attempt given up (retried, cancelled, or a hedge that lost) releases the windows it
//! was still reading once their reads end, so a late read cannot map pages the finished part
//! already released.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::source::SourceFile;

/// Bytes read ahead of the sender per window: large enough for the kernel to issue large
/// sequential reads, small enough that the first bytes go out soon after a part starts.
/// On a cold 35 GiB file 8 MiB did best, 16 MiB as well, 4 and 32 MiB worse (docs/PERFORMANCE.md,
/// "Backups larger than memory").
pub(super) const WINDOW: u64 = 8 * 1024 * 1024;

/// Windows read at once per part. With one, a part's next read started only when the sender
/// caught up with the last, and the disk idled in between: two raised a cold upload from
/// 90 % to 94 % of the disk's rate on average; three gained nothing (docs/PERFORMANCE.md,
/// "Backups larger than memory").
const WINDOWS_IN_FLIGHT: usize = 2;

/// Cached windows checked per step: a cached part is looked at a little ahead of its sender,
/// not all at once (a `mincore` per window, on the async worker).
const CACHED_WINDOWS_PER_STEP: usize = 2;

/// A window being read: its blocking task and its byte range.
type Reading = (JoinHandle<()>, Range<u64>);

/// One part's read-ahead: the bytes before `read_to` are mapped, cached, or being read in
/// `reading`.
pub(super) struct ReadAhead {
    source: Arc<SourceFile>,
    end: u64,
    read_to: u64,
    /// The windows being read, in file order, all before `read_to` (cached windows between
    /// them were skipped).
    reading: VecDeque<Reading>,
}

impl ReadAhead {
    /// Starts reading the first windows of `range` at once.
    pub(super) fn start(source: Arc<SourceFile>, range: Range<u64>) -> Self {
        let mut read_ahead = ReadAhead {
            source,
            end: range.end,
            read_to: range.start,
            reading: VecDeque::new(),
        };
        read_ahead.look_ahead(range.start);
        read_ahead
    }

    /// Waits until every byte before `offset` is mapped, and keeps the windows after it being
    /// read.
    pub(super) async fn ready(&mut self, offset: u64) {
        // Past the part there is nothing to wait for (and no window would ever cover it).
        let offset = offset.min(self.end);
        loop {
            while let Some((reading, window)) = self.reading.front_mut()
                && window.start < offset
            {
                // A failed read (a file cut short) is not an error here: the sender's own
                // access reports it, as without read-ahead. Awaited in place, so an attempt
                // dropped meanwhile still holds the read for `Drop`.
                let _ = reading.await;
                self.reading.pop_front();
            }
            if self.read_to >= offset {
                break;
            }
            self.look_ahead(offset);
        }
        self.look_ahead(offset);
    }

    /// Starts reading the windows after `read_to` that the page cache lacks, up to
    /// [`WINDOWS_IN_FLIGHT`] at once and no further than that many windows past `offset` (the
    /// sender's position). Cached windows need nothing: a cached file is sent as before, from
    /// the mapping, with no thread involved.
    fn look_ahead(&mut self, offset: u64) {
        let horizon = offset
            .saturating_add(WINDOW * WINDOWS_IN_FLIGHT as u64)
            .min(self.end);
        let mut cached_checks = CACHED_WINDOWS_PER_STEP;
        while self.reading.len() < WINDOWS_IN_FLIGHT && self.read_to < horizon && cached_checks > 0
        {
            let window = self.read_to..self.end.min(self.read_to + WINDOW);
            self.read_to = window.end;
            if self.source.is_cached(window.clone()) {
                cached_checks -= 1;
                continue;
            }
            let (source, read) = (Arc::clone(&self.source), window.clone());
            let reading = tokio::task::spawn_blocking(move || {
                let _ = source.populate(read);
            });
            self.reading.push_back((reading, window));
        }
    }
}

impl Drop for ReadAhead {
    /// Windows still being read when the attempt is given up are released once read: the part
    /// may already be finished and released by another attempt.
    fn drop(&mut self) {
        if self.reading.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (source, reading) = (Arc::clone(&self.source), std::mem::take(&mut self.reading));
        runtime.spawn(async move {
            for (read, window) in reading {
                let _ = read.await;
                source.release(window);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    const MIB: u64 = 1024 * 1024;

    /// A 128 MiB file written, flushed and dropped from the page cache, opened afresh; `None`
    /// (with the reason printed) where the cache cannot be emptied, as on tmpfs.
    fn cold_file(dir: &std::path::Path) -> Option<Arc<SourceFile>> {
        let path = dir.join("cold.bak");
        let mut file = std::fs::File::create(&path).unwrap();
        let block = vec![0x5a_u8; MIB as usize];
        for _ in 0..128 {
            file.write_all(&block).unwrap();
        }
        file.sync_all().unwrap();
        drop(file);
        crate::source::evict_from_cache(&path).unwrap();
        let source = SourceFile::open(&path).unwrap();
        if source.is_cached(0..source.len()) {
            eprintln!("skipped: this file system keeps the file cached (tmpfs?)");
            return None;
        }
        Some(Arc::new(source))
    }

    #[tokio::test]
    async fn reads_a_cold_part_in_ahead_of_the_sender_and_no_further_than_a_few_windows() {
        let dir = tempfile::tempdir().unwrap();
        let Some(source) = cold_file(dir.path()) else {
            return;
        };
        let mut read_ahead = ReadAhead::start(Arc::clone(&source), 0..source.len());
        assert_eq!(
            read_ahead.reading.len(),
            WINDOWS_IN_FLIGHT,
            "the first windows are all being read before the sender asks"
        );
        read_ahead.ready(MIB).await;
        assert!(
            source.is_cached(0..MIB),
            "the sender's first chunk is read in"
        );
        // The window being sent and the ones after it; the kernel's own read-ahead may add a
        // few MiB, but the second half of the part is not read before it is needed.
        assert!(
            !source.is_cached(64 * MIB..128 * MIB),
            "read far ahead of the sender"
        );
        read_ahead.ready(100 * MIB).await;
        assert!(source.is_cached(0..100 * MIB));
        read_ahead.ready(128 * MIB).await;
        assert!(
            source.is_cached(0..128 * MIB),
            "every window was read by the end"
        );
    }

    #[tokio::test]
    async fn a_cached_part_is_ready_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("warm.bak");
        std::fs::write(&path, vec![7_u8; 20 * MIB as usize]).unwrap();
        let source = Arc::new(SourceFile::open(&path).unwrap());
        assert!(
            source.is_cached(0..source.len()),
            "a file just written is cached"
        );
        let mut read_ahead = ReadAhead::start(Arc::clone(&source), 0..source.len());
        // Nothing to read: the windows looked at were found cached and no thread was started.
        assert!(read_ahead.reading.is_empty());
        assert_eq!(read_ahead.read_to, CACHED_WINDOWS_PER_STEP as u64 * WINDOW);
        read_ahead.ready(source.len()).await;
        assert!(read_ahead.reading.is_empty());
        assert_eq!(read_ahead.read_to, source.len());
        // Past the part: nothing to wait for (this once spun for ever).
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            read_ahead.ready(source.len() + 1),
        )
        .await
        .expect("ready past the end returns");
    }

    /// Resident bytes of the mapping that starts at `start` (`/proc/self/smaps`).
    fn mapping_rss(start: usize) -> Option<u64> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let header = format!("{start:x}-");
        let mut lines = smaps.lines().skip_while(|line| !line.starts_with(&header));
        lines.next()?;
        let rss = lines.find(|line| line.starts_with("Rss:"))?;
        let kib: u64 = rss.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    #[tokio::test]
    async fn a_given_up_attempt_does_not_map_pages_back_after_the_part_was_released() {
        let dir = tempfile::tempdir().unwrap();
        let Some(source) = cold_file(dir.path()) else {
            return;
        };
        let start = source.bytes().as_ptr() as usize;
        // The attempt is dropped while its first window is being read from disk, and the part
        // is released (another attempt finished it) before that read ends.
        drop(ReadAhead::start(Arc::clone(&source), 0..source.len()));
        source.release(0..source.len());
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        assert_eq!(
            mapping_rss(start),
            Some(0),
            "the late read's pages were released"
        );
    }
}

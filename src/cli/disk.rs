//! How fast this machine's disk reads a file that is not in memory: the reference a cold
//! upload figure (`bench --cold`) is a share of. Measured as `dd` would with several streams:
//! parallel sequential readers over disjoint regions of the same file, in large reads, after
//! its pages were evicted from the page cache.

use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;

use crate::source::evict_from_cache;

/// Readers in parallel: enough to keep a virtual disk's queue full (the issue's `dd` reference
/// used 8).
pub const READERS: u64 = 8;
/// Bytes per read: large sequential reads, like `dd bs=16M`.
pub const READ_SIZE: usize = 16 << 20;

/// Evicts `path` from the page cache, then reads all of it with [`READERS`] parallel sequential
/// readers; returns bytes per second. Memory: one [`READ_SIZE`] buffer per reader.
pub fn cold_read_rate(path: &Path) -> anyhow::Result<f64> {
    evict_from_cache(path)?;
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let len = file
        .metadata()
        .with_context(|| format!("reading the size of {}", path.display()))?
        .len();
    let region = len.div_ceil(READERS).max(1);
    let started = Instant::now();
    std::thread::scope(|scope| {
        let readers: Vec<_> = (0..READERS)
            .map(|i| {
                let file = &file;
                let start = (i * region).min(len);
                let end = (start + region).min(len);
                scope.spawn(move || read_region(file, start, end))
            })
            .collect();
        readers.into_iter().try_for_each(|reader| {
            reader
                .join()
                .map_err(|_| anyhow::anyhow!("a disk reader panicked"))?
        })
    })
    .with_context(|| format!("reading {} to measure the disk", path.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    // Leave the file cold for the upload that follows.
    evict_from_cache(path)?;
    Ok(if seconds > 0.0 {
        len as f64 / seconds
    } else {
        0.0
    })
}

fn read_region(file: &std::fs::File, start: u64, end: u64) -> anyhow::Result<()> {
    let mut buffer = vec![0u8; READ_SIZE];
    let mut at = start;
    while at < end {
        let want = usize::try_from(end - at).map_or(READ_SIZE, |left| left.min(READ_SIZE));
        let read = file.read_at(&mut buffer[..want], at)?;
        if read == 0 {
            break; // the file shrank: what is there was read
        }
        at += read as u64;
    }
    Ok(())
}

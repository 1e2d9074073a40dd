//! One part as an HTTP request body: a stream of zero-copy chunks, each paid for under the
//! bandwidth cap, its pages checked, and fed to the CRC-64 just before the HTTP client takes it.
//!
//! The bytes come from the file's mapping (a cached file: zero-copy slices of the page cache) or
//! from direct reads of [`BLOCK`]-sized blocks, one block read ahead of the one being sent (a
//! cold file: see `source::direct`).

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures::Stream;
use mssql_backup::pages::{PAGE_SIZE, PageFailure};
use tokio::task::JoinHandle;

use super::pages::{PageGuard, PageTally};
use super::progress::Counters;
use crate::source::direct::{BLOCK, DirectReader};
use bak2rds_cloud::checksum::Crc64;
use bak2rds_cloud::http::limit::{BandwidthLimiter, MAX_CHUNK};

/// Where a part's bytes come from.
pub(super) enum PartBytes {
    /// A zero-copy slice of the mapping, starting at file offset `offset`.
    Mapped { data: Bytes, offset: u64 },
    /// Read block by block from `range` of the file.
    Direct {
        reader: Arc<DirectReader>,
        range: Range<u64>,
    },
}

/// What one attempt's body stream has done: bytes handed out and, once all are, their CRC.
#[derive(Debug, Default)]
pub(super) struct AttemptTracker {
    sent: AtomicU64,
    crc: Mutex<Option<u64>>,
    pages: Mutex<PageTally>,
    /// The first page of this part that failed its checksum: the part was not sent whole.
    damaged: Mutex<Option<PageFailure>>,
}

impl AttemptTracker {
    pub(super) fn pages(&self) -> PageTally {
        *self.pages.lock().unwrap_or_else(PoisonError::into_inner)
    }
    pub(super) fn damaged(&self) -> Option<PageFailure> {
        *self.damaged.lock().unwrap_or_else(PoisonError::into_inner)
    }
    pub(super) fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
    pub(super) fn crc(&self) -> Option<u64> {
        *self.crc.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a page check's result; true when a page is damaged (recorded as the first).
    fn found_damage(&self, check: &mssql_backup::pages::PageCheck) -> bool {
        let damaged = self
            .pages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(check);
        if let Some(page) = damaged {
            *self.damaged.lock().unwrap_or_else(PoisonError::into_inner) = Some(page);
        }
        damaged.is_some()
    }
}

/// The part as a stream of zero-copy chunks. The cap is paid in charges of up to
/// [`BandwidthLimiter::max_charge`], each spent on several chunks, so a capped upload sleeps on
/// the timer once per charge rather than once per chunk. A damaged page ends the stream in an
/// error before any byte of its chunk is handed out, which aborts the request.
pub(super) fn chunks(
    part: PartBytes,
    limiter: Option<Arc<BandwidthLimiter>>,
    pages: Option<Arc<PageGuard>>,
    counters: Arc<Counters>,
    tracker: Arc<AttemptTracker>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let chunk_size = limiter
        .as_ref()
        .map_or(MAX_CHUNK, |limiter| limiter.max_chunk());
    let (rest, offset, blocks) = match part {
        PartBytes::Mapped { data, offset } => (data, offset, None),
        PartBytes::Direct { reader, range } => {
            let start = range.start;
            (Bytes::new(), start, Some(Blocks::new(reader, range)))
        }
    };
    let state = ChunkState {
        rest,
        offset,
        blocks,
        block: None,
        crc: Crc64::new(),
        paid: 0,
    };
    futures::stream::unfold(state, move |mut state| {
        let limiter = limiter.clone();
        let pages = pages.clone();
        let counters = Arc::clone(&counters);
        let tracker = Arc::clone(&tracker);
        async move {
            if state.rest.is_empty() {
                match next_block(&mut state).await {
                    BlockStep::Ready => {}
                    BlockStep::End => return None,
                    BlockStep::Failed(error) => {
                        state.blocks = None;
                        return Some((Err(error), state));
                    }
                }
            }
            let n = state.rest.len().min(chunk_size);
            if let Some(limiter) = &limiter {
                if state.paid < n {
                    // Paid ahead only for bytes this part still has to send.
                    let charge = state.rest.len().min(limiter.max_charge()).max(n);
                    limiter.acquire(charge - state.paid).await;
                    state.paid = charge;
                }
                state.paid -= n;
            }
            let chunk = state.rest.split_to(n);
            let start = state.offset;
            state.offset += n as u64;
            // Checked chunk by chunk, while the chunk is in cache for the CRC: a direct block
            // from its own buffer (which reaches a page past it), a mapped part from the mapping.
            let window = start..state.offset;
            if let Some(pages) = &pages
                && tracker.found_damage(&match &state.block {
                    Some((block, block_start)) => pages.check_in(block, *block_start, window),
                    None => pages.check(window),
                })
            {
                state.rest = Bytes::new();
                return Some((Err(damaged_page()), state));
            }
            state.crc.update(&chunk);
            counters.add_transferred(n as u64);
            tracker.sent.fetch_add(n as u64, Ordering::Relaxed);
            if state.rest.is_empty() && state.blocks.as_ref().is_none_or(Blocks::is_done) {
                // Recorded with the last chunk: a client may stop polling once Content-Length
                // bytes are out, so the end of the stream is not a reliable signal.
                *tracker.crc.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(state.crc.value());
            }
            Some((Ok(chunk), state))
        }
    })
}

fn damaged_page() -> std::io::Error {
    std::io::Error::other("a data page failed its checksum")
}

enum BlockStep {
    Ready,
    End,
    Failed(std::io::Error),
}

/// Moves the next direct block into `state.rest`.
async fn next_block(state: &mut ChunkState) -> BlockStep {
    let Some(blocks) = state.blocks.as_mut() else {
        return BlockStep::End;
    };
    let Some((block, window)) = blocks.next().await else {
        return BlockStep::End;
    };
    let block = match block {
        Ok(block) => block,
        Err(error) => return BlockStep::Failed(error),
    };
    let len = usize::try_from(window.end - window.start).unwrap_or(usize::MAX);
    state.rest = block.slice(..len.min(block.len()));
    state.block = Some((block, window.start));
    BlockStep::Ready
}

/// What [`chunks`] carries from one chunk to the next.
struct ChunkState {
    /// The bytes not yet handed to the HTTP client (of the part, or of the current block).
    rest: Bytes,
    /// The file offset of `rest`.
    offset: u64,
    /// Direct reads still to come; `None` for a mapped part.
    blocks: Option<Blocks>,
    /// The direct block `rest` is part of, whole (a page past the window), and its offset.
    block: Option<(Bytes, u64)>,
    crc: Crc64,
    /// Bytes already paid for under the cap and not yet sent.
    paid: usize,
}

/// Direct reads in flight per part, ahead of the block being sent: a disk serves several
/// requests at once, and one at a time per part left it idle between them.
const READS_AHEAD: usize = 3;

/// A part's direct reads, [`READS_AHEAD`] blocks ahead of the one being sent.
struct Blocks {
    reader: Arc<DirectReader>,
    /// File bytes of the part not yet asked for.
    unread: Range<u64>,
    /// The blocks being read, in file order: each read and the window of the part it holds.
    ahead: VecDeque<(JoinHandle<std::io::Result<Bytes>>, Range<u64>)>,
}

impl Blocks {
    fn new(reader: Arc<DirectReader>, range: Range<u64>) -> Self {
        let mut blocks = Blocks {
            reader,
            unread: range,
            ahead: VecDeque::new(),
        };
        blocks.read_ahead();
        blocks
    }

    fn is_done(&self) -> bool {
        self.ahead.is_empty() && self.unread.is_empty()
    }

    /// Starts reading blocks until [`READS_AHEAD`] are on their way. Each reads one page past
    /// its window (where the file goes on), so a page that starts in a block and ends in the
    /// next is checked whole.
    fn read_ahead(&mut self) {
        while self.ahead.len() < READS_AHEAD && !self.unread.is_empty() {
            self.read_next();
        }
    }

    fn read_next(&mut self) {
        let end = (self.unread.start + BLOCK as u64).min(self.unread.end);
        let window = self.unread.start..end;
        self.unread.start = end;
        let reader = Arc::clone(&self.reader);
        let read = window.start..end.saturating_add(PAGE_SIZE as u64);
        let handle = tokio::task::spawn_blocking(move || reader.read(read));
        self.ahead.push_back((handle, window));
    }

    /// The next block and the window of the part it holds; `None` after the last.
    async fn next(&mut self) -> Option<(std::io::Result<Bytes>, Range<u64>)> {
        let (handle, window) = self.ahead.pop_front()?;
        self.read_ahead();
        let block = handle
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        Some((block, window))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use futures::StreamExt as _;

    use super::*;
    use bak2rds_cloud::checksum::crc64;

    #[tokio::test(flavor = "current_thread")]
    async fn a_capped_part_streams_exactly_in_small_chunks_and_pays_for_every_byte() {
        // 3 MiB and an odd tail at 8 MiB/s: charges of up to the burst (≈ 410 KiB), chunks of
        // at most 256 KiB, so charges and chunks never line up and the carry-over is exercised.
        let rate = 8 * 1024 * 1024;
        let limiter = Arc::new(BandwidthLimiter::new(rate).unwrap());
        let data: Bytes = (0..3 * 1024 * 1024 + 777)
            .map(|i| (i % 251) as u8)
            .collect();
        let tracker = Arc::new(AttemptTracker::default());
        let started = Instant::now();
        let pieces: Vec<Bytes> = chunks(
            PartBytes::Mapped {
                data: data.clone(),
                offset: 0,
            },
            Some(Arc::clone(&limiter)),
            None,
            Arc::new(Counters::default()),
            Arc::clone(&tracker),
        )
        .map(|chunk| chunk.unwrap())
        .collect()
        .await;
        let elapsed = started.elapsed().as_secs_f64();

        assert!(
            pieces
                .iter()
                .all(|piece| piece.len() <= limiter.max_chunk())
        );
        assert_eq!(pieces.concat(), data.as_ref());
        assert_eq!(tracker.sent(), data.len() as u64);
        assert_eq!(tracker.crc(), Some(crc64(&data)));
        // Every byte was paid for: only the first burst is free.
        let floor = (data.len() as f64 - limiter.max_charge() as f64) / rate as f64;
        assert!(
            elapsed >= floor * 0.99,
            "{} bytes passed an {rate} B/s cap in {elapsed:.3} s (at least {floor:.3})",
            data.len()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_direct_part_streams_the_exact_bytes_of_its_range_block_by_block() {
        use std::io::Write as _;
        let data: Vec<u8> = (0..2 * BLOCK + 3 * 4096 + 99)
            .map(|i| (i * 13 + i / 8192) as u8)
            .collect();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&data).unwrap();
        file.flush().unwrap();
        let Ok(reader) = DirectReader::open(file.path(), data.len() as u64) else {
            eprintln!("skipped: this file system refuses O_DIRECT");
            return;
        };
        let reader = Arc::new(reader);
        // A part that starts and ends off any alignment, spanning three blocks.
        let range = 4097..data.len() as u64 - 5;
        let tracker = Arc::new(AttemptTracker::default());
        let pieces: Vec<Bytes> = chunks(
            PartBytes::Direct {
                reader,
                range: range.clone(),
            },
            None,
            None,
            Arc::new(Counters::default()),
            Arc::clone(&tracker),
        )
        .map(|chunk| chunk.unwrap())
        .collect()
        .await;
        let expected = &data[range.start as usize..range.end as usize];
        assert_eq!(pieces.concat(), expected);
        assert!(pieces.iter().all(|piece| piece.len() <= MAX_CHUNK));
        assert_eq!(tracker.crc(), Some(crc64(expected)));
    }
}

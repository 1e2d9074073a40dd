//! One part as an HTTP request body: a stream of zero-copy chunks of the file's mapping, each
//! paid for under the bandwidth cap, read in from disk ahead of time (`read_ahead`), its pages
//! checked, and fed to the CRC-64 just before the HTTP client takes it.
//!
//! Not direct reads: `O_DIRECT` reads of a cold file in 4 MiB blocks, three read ahead per
//! part into pooled buffers, were built (commit 3fe7783) and measured here on a 36 GiB file
//! against the mapping, interleaved: 0.88–1.09 GiB/s against 1.24–1.40, with 0.50–0.61 client
//! CPU-s/GiB against 0.75–0.83. They save CPU and leave the page cache alone, but this machine's
//! virtual disk serves `O_DIRECT` at 1.1–1.3 GiB/s whatever the queue depth, while buffered reads
//! with its 8 MiB read-ahead reach 2.2. Worth measuring again on a disk that serves direct reads
//! at full rate (local NVMe).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures::Stream;
use mssql_backup::pages::PageFailure;

use super::pages::{PageGuard, PageTally};
use super::progress::Counters;
use super::read_ahead::ReadAhead;
use bak2rds_cloud::checksum::Crc64;
use bak2rds_cloud::http::limit::{BandwidthLimiter, MAX_CHUNK};

/// One part's bytes (a zero-copy slice of the mapping) and where they sit in the file.
pub(super) struct Part {
    pub(super) data: Bytes,
    pub(super) offset: u64,
    /// Reads the part's pages in ahead of the sender, when they are the file's.
    pub(super) read_ahead: Option<ReadAhead>,
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
    part: Part,
    limiter: Option<Arc<BandwidthLimiter>>,
    pages: Option<Arc<PageGuard>>,
    counters: Arc<Counters>,
    tracker: Arc<AttemptTracker>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let chunk_size = limiter
        .as_ref()
        .map_or(MAX_CHUNK, |limiter| limiter.max_chunk());
    let state = ChunkState {
        rest: part.data,
        offset: part.offset,
        crc: Crc64::new(),
        paid: 0,
        read_ahead: part.read_ahead,
    };
    futures::stream::unfold(state, move |mut state| {
        let limiter = limiter.clone();
        let pages = pages.clone();
        let counters = Arc::clone(&counters);
        let tracker = Arc::clone(&tracker);
        async move {
            if state.rest.is_empty() {
                return None;
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
            if let Some(read_ahead) = &mut state.read_ahead {
                read_ahead.ready(state.offset + n as u64).await;
            }
            let chunk = state.rest.split_to(n);
            let start = state.offset;
            state.offset += n as u64;
            // Checked chunk by chunk, while the chunk is in cache for the CRC.
            if let Some(pages) = &pages
                && tracker.found_damage(&pages.check(start..state.offset))
            {
                state.rest = Bytes::new();
                return Some((Err(damaged_page()), state));
            }
            state.crc.update(&chunk);
            if tracker.sent() == 0 {
                counters.mark_first_byte();
            }
            counters.add_transferred(n as u64);
            tracker.sent.fetch_add(n as u64, Ordering::Relaxed);
            if state.rest.is_empty() {
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

/// What [`chunks`] carries from one chunk to the next.
struct ChunkState {
    /// The part's bytes not yet handed to the HTTP client.
    rest: Bytes,
    /// The file offset of `rest`.
    offset: u64,
    crc: Crc64,
    /// Bytes already paid for under the cap and not yet sent.
    paid: usize,
    read_ahead: Option<ReadAhead>,
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
            Part {
                data: data.clone(),
                offset: 0,
                read_ahead: None,
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
}

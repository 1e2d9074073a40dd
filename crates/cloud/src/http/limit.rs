//! A process-wide bandwidth cap shared by every part in flight.
//!
//! Bytes are charged as small body chunks are handed to the HTTP client, not per part: charging a
//! whole part lets it burst out at line rate and then stall, which is how peers overshoot or
//! undershoot their caps (`perf-anchors.md` §2 and §5: rclone 76–89 %, boto3 84–93 %). The bucket
//! is governor's GCRA with 1 KiB cells, the Go SDK's granularity (`oss-protocol.md` §5.3). Over any
//! one-second window GCRA lets through at most `rate + burst`, so the burst is kept at 1/20 of a
//! second of traffic: a window can overshoot by 5 %, within the 10 % the upload issue allows.
//!
//! Knows nothing of OSS or RDS.

use std::num::NonZeroU32;

use governor::clock::{Clock as _, DefaultClock};
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// Bytes per governor cell.
const CELL: u64 = 1024;
/// The burst, as a fraction of one second's worth of the rate (see the module docs).
const BURST_DIVISOR: u64 = 20;
/// Largest body chunk we ever charge at once; ≤256 KiB keeps socket writes cache-friendly
/// (`perf-anchors.md` row 21). Also the chunk size with no cap: 512 KiB and 1 MiB chunks were
/// measured and saved no client CPU (the socket buffer, not the chunk, bounds each write), while
/// 256 KiB still fits this machine's 512 KiB L2 between the CRC and the copy into the socket.
pub const MAX_CHUNK: usize = 256 * 1024;
/// Largest charge a body stream pays at once, then spends on several chunks. Paying per 256 KiB
/// chunk meant one timer wake per chunk (400 a second at 100 MiB/s); a 1 MiB charge wakes a
/// quarter as often and cut a capped upload's CPU by 10–15 % (docs/PERFORMANCE.md, "The cap's
/// timer wakes"). The burst bounds it for caps below 20 MiB/s, so a window still overshoots by
/// at most the burst.
pub const MAX_CHARGE: usize = 1024 * 1024;

/// A shared byte-rate limiter.
pub struct BandwidthLimiter {
    limiter: RateLimiter<NotKeyed, InMemoryState, DefaultClock>,
    /// Waiters take turns (tokio's mutex is first come, first served): only the one at the
    /// front sleeps on the bucket, instead of every part in flight waking at the same instant
    /// for one of them to win.
    turn: tokio::sync::Mutex<()>,
    bytes_per_second: u64,
    burst_bytes: u64,
}

impl std::fmt::Debug for BandwidthLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BandwidthLimiter")
            .field("bytes_per_second", &self.bytes_per_second)
            .field("burst_bytes", &self.burst_bytes)
            .finish()
    }
}

/// The cap cannot be represented.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "bandwidth cap of {0} bytes/s is out of range: use at least 1 KiB/s and at most 4 TiB/s \
     (or leave --max-rate out for no cap)"
)]
pub struct RateOutOfRange(pub u64);

impl BandwidthLimiter {
    /// A limiter that lets `bytes_per_second` through on average.
    pub fn new(bytes_per_second: u64) -> Result<Self, RateOutOfRange> {
        let cells_per_second = u32::try_from(bytes_per_second / CELL)
            .ok()
            .and_then(NonZeroU32::new)
            .ok_or(RateOutOfRange(bytes_per_second))?;
        let burst_cells = (u64::from(cells_per_second.get()) / BURST_DIVISOR).max(1);
        let burst = NonZeroU32::new(u32::try_from(burst_cells).unwrap_or(u32::MAX))
            .unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(cells_per_second).allow_burst(burst);
        Ok(BandwidthLimiter {
            limiter: RateLimiter::direct(quota),
            turn: tokio::sync::Mutex::new(()),
            bytes_per_second,
            burst_bytes: u64::from(burst.get()) * CELL,
        })
    }

    /// The cap in bytes per second.
    pub fn bytes_per_second(&self) -> u64 {
        self.bytes_per_second
    }

    /// The largest chunk one [`acquire`](Self::acquire) may charge: callers cut bodies into
    /// chunks of at most this size.
    pub fn max_chunk(&self) -> usize {
        self.burst_at_most(MAX_CHUNK)
    }

    /// The largest charge one [`acquire`](Self::acquire) may pay: a caller pays up to this much
    /// ahead and hands the HTTP client [`max_chunk`](Self::max_chunk)-sized pieces of it. Never
    /// more than the burst, so a charge always passes the bucket in one step.
    pub fn max_charge(&self) -> usize {
        self.burst_at_most(MAX_CHARGE)
    }

    fn burst_at_most(&self, limit: usize) -> usize {
        usize::try_from(self.burst_bytes).map_or(limit, |burst| burst.min(limit))
    }

    /// Waits until `bytes` (at most [`max_charge`](Self::max_charge)) may be sent.
    pub async fn acquire(&self, bytes: usize) {
        let cells = u64::try_from(bytes).unwrap_or(u64::MAX).div_ceil(CELL);
        let Some(cells) = u32::try_from(cells).ok().and_then(NonZeroU32::new) else {
            return;
        };
        // A request larger than the burst can never pass at once; callers charge at most
        // `max_charge`, so that only happens if a caller breaks the contract: then charge in
        // burst-sized steps.
        let burst = NonZeroU32::new(u32::try_from(self.burst_bytes / CELL).unwrap_or(1).max(1))
            .unwrap_or(NonZeroU32::MIN);
        let mut left = cells.get();
        while let Some(step) = NonZeroU32::new(left.min(burst.get())) {
            self.wait_for(step).await;
            left -= step.get();
        }
    }

    /// Waits until `cells` (at most the burst) pass the bucket. Sleeps on tokio's timer rather
    /// than governor's `until_n_ready`, whose timer runs on a thread of its own: with hundreds of
    /// waits a second, waking a task through that thread cost a capped upload more CPU per byte
    /// than sending it.
    async fn wait_for(&self, cells: NonZeroU32) {
        let _turn = self.turn.lock().await;
        loop {
            match self.limiter.check_n(cells) {
                Ok(Ok(())) | Err(_) => return,
                Ok(Err(not_until)) => {
                    let wait = not_until.wait_time_from(self.limiter.clock().now());
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_and_huge_rates_are_refused() {
        assert!(BandwidthLimiter::new(10).is_err());
        assert!(BandwidthLimiter::new(u64::MAX).is_err());
        assert!(BandwidthLimiter::new(1024).is_ok());
    }

    #[test]
    fn chunks_never_exceed_the_burst_or_the_socket_sweet_spot() {
        let slow = BandwidthLimiter::new(100 * 1024).unwrap();
        assert_eq!(slow.max_chunk(), 5 * 1024);
        let fast = BandwidthLimiter::new(1 << 30).unwrap();
        assert_eq!(fast.max_chunk(), MAX_CHUNK);
    }

    #[test]
    fn a_charge_covers_whole_chunks_and_never_exceeds_the_burst() {
        for rate in [100 * 1024, 4 << 20, 8 << 20, 100 << 20, 1 << 30] {
            let limiter = BandwidthLimiter::new(rate).unwrap();
            assert!(limiter.max_charge() >= limiter.max_chunk(), "at {rate} B/s");
            assert!(
                limiter.max_charge() as u64 <= limiter.burst_bytes,
                "at {rate} B/s"
            );
        }
        assert_eq!(
            BandwidthLimiter::new(1 << 30).unwrap().max_charge(),
            MAX_CHARGE
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn average_rate_holds_over_a_short_run() {
        // 4 MiB/s for ~0.5 s: the first burst is free, the rest is paced.
        let limiter = BandwidthLimiter::new(4 * 1024 * 1024).unwrap();
        let chunk = limiter.max_chunk();
        let started = std::time::Instant::now();
        let total = 2 * 1024 * 1024;
        let mut sent = 0;
        while sent < total {
            limiter.acquire(chunk).await;
            sent += chunk;
        }
        let elapsed = started.elapsed().as_secs_f64();
        // 2 MiB at 4 MiB/s minus one burst (1/20 s) ≈ 0.45 s; never faster than that.
        assert!(
            elapsed >= 0.40,
            "2 MiB went through a 4 MiB/s cap in {elapsed:.3} s"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parts_waiting_together_share_the_cap() {
        // Eight parts in flight take turns at the bucket; together they still never beat it.
        let rate = 8 * 1024 * 1024;
        let limiter = std::sync::Arc::new(BandwidthLimiter::new(rate).unwrap());
        let chunk = limiter.max_chunk();
        let per_part = 8;
        let started = std::time::Instant::now();
        let parts: Vec<_> = (0..8)
            .map(|_| {
                let limiter = std::sync::Arc::clone(&limiter);
                tokio::spawn(async move {
                    for _ in 0..per_part {
                        limiter.acquire(chunk).await;
                    }
                })
            })
            .collect();
        for part in parts {
            part.await.unwrap();
        }
        let elapsed = started.elapsed().as_secs_f64();
        let total = (8 * per_part * chunk) as f64;
        let floor = (total - limiter.burst_bytes as f64) / rate as f64;
        assert!(
            elapsed >= floor * 0.99,
            "{total} bytes went through a {rate} B/s cap in {elapsed:.3} s (at least {floor:.3})"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_request_larger_than_the_burst_is_paced_in_steps() {
        let rate = 4 * 1024 * 1024;
        let limiter = BandwidthLimiter::new(rate).unwrap();
        let bytes = 1024 * 1024; // five bursts' worth
        let started = std::time::Instant::now();
        limiter.acquire(bytes).await;
        let elapsed = started.elapsed().as_secs_f64();
        let floor = (bytes as f64 - limiter.burst_bytes as f64) / rate as f64;
        assert!(elapsed >= floor * 0.99, "{elapsed:.3} s < {floor:.3} s");
    }
}

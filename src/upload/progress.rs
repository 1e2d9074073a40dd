//! What the engine tells its caller while it works. Discrete happenings are [`UploadEvent`]s on a
//! channel (the CLI prints them, or writes them as JSON lines); the byte count, which changes
//! thousands of times a second, lives in shared atomic [`Counters`] that the progress bar polls.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use serde::Serialize;

/// One happening during an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum UploadEvent {
    /// The plan, and what a previous run already finished.
    Planned {
        /// Object length in bytes.
        len: u64,
        /// Size of the largest part (of every part but the last unless the plan is graded).
        part_size: u64,
        /// Size of the smallest part, the last left out (below `part_size` when graded).
        smallest_part_size: u64,
        /// Number of parts.
        part_count: u32,
        /// Parts already on the server from an earlier run and verified.
        resumed_parts: u32,
        /// Bytes of those parts.
        resumed_bytes: u64,
        /// The multipart upload id.
        upload_id: String,
    },
    /// A checkpoint was found but could not be used; the upload starts over.
    CheckpointDiscarded {
        /// Why.
        reason: String,
    },
    /// The object already exists with this file's size and CRC-64: nothing to send.
    AlreadyUploaded {
        /// Object length.
        len: u64,
        /// Its CRC-64/XZ.
        crc64: u64,
    },
    /// A part's server CRC matched the bytes sent.
    PartDone {
        /// OSS part number (1-based).
        part_number: u32,
        /// Bytes in the part.
        size: u64,
        /// CRC-64/XZ of the part.
        crc64: u64,
    },
    /// A part attempt failed and will be tried again after `delay_ms`.
    PartRetry {
        /// OSS part number.
        part_number: u32,
        /// The attempt that failed (1 = first).
        attempt: u32,
        /// Wait before the next attempt.
        delay_ms: u64,
        /// What went wrong.
        reason: String,
    },
    /// Other unfinished multipart uploads of the same key exist (a lost checkpoint's, a crashed
    /// run's): they hold parts OSS bills for until aborted.
    OtherUploads {
        /// `oss://bucket/key`.
        object: String,
        /// Their upload ids.
        upload_ids: Vec<String>,
    },
    /// A part lagging far behind the others is being sent a second time in parallel.
    PartHedged {
        /// OSS part number.
        part_number: u32,
    },
    /// The adaptive controller measured a level and chose the next (`settled`: for good).
    Concurrency {
        /// Parts in flight from now on.
        parts_in_flight: usize,
        /// The rate measured at the previous level, bytes per second.
        rate_bytes_per_sec: u64,
        /// The controller will not change it again.
        settled: bool,
    },
    /// Every part is on the server; asking OSS to assemble the object.
    Completing {
        /// Number of parts.
        part_count: u32,
    },
}

/// Live byte counters shared by the workers and the progress display.
#[derive(Debug, Default)]
pub struct Counters {
    /// Bytes handed to the network, retries and hedges included.
    transferred: AtomicU64,
    /// Bytes of attempts that failed or lost a hedge race (sent, but not part of the result).
    wasted: AtomicU64,
    /// Bytes already on the server before this run started.
    resumed: AtomicU64,
    /// Part attempts that failed and were retried.
    retries: AtomicU64,
    /// Parts being sent right now.
    in_flight: AtomicU64,
    /// Parts finished (verified), resumed ones included.
    parts_done: AtomicU64,
    /// Hedged parts (sent again in parallel).
    hedged: AtomicU64,
    /// Bytes of the parts this run verified on the server: what the link really carried
    /// (bytes handed to the socket also count what its buffers hold).
    verified: AtomicU64,
    /// When this run handed the network its first body byte: the transfer's start, after the
    /// requests before the parts and the new connections' handshakes.
    first_byte: Mutex<Option<Instant>>,
}

impl Counters {
    pub(crate) fn add_verified(&self, bytes: u64) {
        self.verified.fetch_add(bytes, Ordering::Relaxed);
    }
    pub(crate) fn add_transferred(&self, bytes: u64) {
        self.transferred.fetch_add(bytes, Ordering::Relaxed);
    }
    pub(crate) fn add_wasted(&self, bytes: u64) {
        self.wasted.fetch_add(bytes, Ordering::Relaxed);
    }
    pub(crate) fn set_resumed(&self, bytes: u64, parts: u64) {
        self.resumed.store(bytes, Ordering::Relaxed);
        self.parts_done.store(parts, Ordering::Relaxed);
    }
    pub(crate) fn add_hedge(&self) {
        self.hedged.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn add_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }
    /// Records the first body byte's time; called once per part attempt, at its first chunk.
    pub(crate) fn mark_first_byte(&self) {
        self.first_byte
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(Instant::now);
    }
    /// Starts the transfer's clock afresh, for the next upload that shares these counters.
    pub(crate) fn forget_first_byte(&self) {
        *self
            .first_byte
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }
    /// When this run handed the network its first body byte, if it has.
    pub(crate) fn first_byte(&self) -> Option<Instant> {
        *self
            .first_byte
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
    pub(crate) fn part_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn part_ended(&self, done: bool) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        if done {
            self.parts_done.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Zero again, for the next file of a job that uploads several.
    pub fn reset(&self) {
        for counter in [
            &self.transferred,
            &self.wasted,
            &self.resumed,
            &self.retries,
            &self.in_flight,
            &self.parts_done,
            &self.hedged,
            &self.verified,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        self.forget_first_byte();
    }

    /// A consistent-enough view for display.
    pub fn snapshot(&self) -> ProgressSnapshot {
        let transferred = self.transferred.load(Ordering::Relaxed);
        let wasted = self.wasted.load(Ordering::Relaxed);
        let resumed = self.resumed.load(Ordering::Relaxed);
        ProgressSnapshot {
            bytes: resumed + transferred.saturating_sub(wasted),
            transferred,
            resent: wasted,
            retries: self.retries.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            parts_done: self.parts_done.load(Ordering::Relaxed),
            resumed,
            hedged: self.hedged.load(Ordering::Relaxed),
            verified: self.verified.load(Ordering::Relaxed),
        }
    }
}

/// Counters at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProgressSnapshot {
    /// Bytes of the object that are on the server or on their way (for the bar).
    pub bytes: u64,
    /// Bytes sent by this run, including re-sent ones.
    pub transferred: u64,
    /// Bytes sent but thrown away (failed attempts, lost hedges).
    pub resent: u64,
    /// Part attempts retried.
    pub retries: u64,
    /// Parts in flight.
    pub in_flight: u64,
    /// Parts finished.
    pub parts_done: u64,
    /// Bytes already on the server when this run started (part of `bytes`, not sent now).
    pub resumed: u64,
    /// Parts sent a second time because they lagged far behind the others.
    pub hedged: u64,
    /// Bytes of the parts this run verified on the server.
    pub verified: u64,
}

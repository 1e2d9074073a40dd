//! Page checksums checked on the way out: every data page of a backup is verified while its
//! chunk is in cache for the CRC-64 anyway, so a damaged backup stops before Complete instead of
//! failing RDS's restore hours later, and a TB file is never read a second time for it.
//!
//! Knows where pages are (from `mssql_backup::page_layout`, the container's structure only) and
//! how to total what was checked; the engine decides when a window is checked and what a damaged
//! page stops.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use mssql_backup::pages::{PageCheck, PageFailure, verify_window};
use mssql_backup::{PageLayout, page_layout};
use serde::Serialize;

use crate::source::SourceFile;

/// What the upload did about page checksums, for the report and its summary line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PageSummary {
    /// Every page of the parts this run sent was checked.
    Checked {
        /// Pages whose checksum matched.
        checked: u64,
        /// Pages that carry no checksum (PAGE_VERIFY was not CHECKSUM when they were written).
        without_checksum: u64,
        /// Parts resumed from an earlier run: their pages were not checked by this one (and
        /// not at all if that run had `--no-verify-pages`).
        resumed_parts: u32,
    },
    /// The file's pages cannot be checked: why.
    NotCheckable {
        /// e.g. "a compressed backup".
        reason: String,
    },
    /// `--no-verify-pages`.
    Off,
}

/// What the page check did, said so that a check that did not happen is never taken for one.
impl std::fmt::Display for PageSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PageSummary::Checked {
                checked: 0,
                without_checksum: 0,
                resumed_parts: 0,
            } => f.write_str("no data pages to check (a log backup holds log records)"),
            PageSummary::Checked {
                checked,
                without_checksum,
                resumed_parts,
            } => {
                write!(f, "{checked} data pages match their checksums")?;
                if *without_checksum > 0 {
                    write!(
                        f,
                        ", {without_checksum} carry none and were not checked (PAGE_VERIFY was \
                         not CHECKSUM when they were written)"
                    )?;
                }
                if *resumed_parts > 0 {
                    write!(
                        f,
                        "; the pages of the {resumed_parts} parts resumed from an earlier run \
                         were not checked again (`bak2rds inspect --verify-pages FILE` checks \
                         them all)"
                    )?;
                }
                Ok(())
            }
            PageSummary::NotCheckable { reason } => {
                write!(f, "page checksums not checked: {reason}")
            }
            PageSummary::Off => f.write_str("page checksums not checked (--no-verify-pages)"),
        }
    }
}

/// The pages of one upload's file and the running totals of those checked.
#[derive(Debug)]
pub struct PageGuard {
    /// The whole file, zero-copy: a page that straddles two parts is read whole from here.
    file: Bytes,
    regions: Vec<Range<u64>>,
    checked: AtomicU64,
    without_checksum: AtomicU64,
}

impl PageGuard {
    /// The guard for `source`, or why its pages cannot be checked.
    pub fn for_source(source: &SourceFile) -> Result<PageGuard, String> {
        let regions = match page_layout(source.bytes()) {
            PageLayout::Pages(regions) => regions,
            PageLayout::Compressed => {
                return Err("a compressed backup (its pages are inside compressed blocks)".into());
            }
            PageLayout::Unreadable(error) => {
                return Err(format!(
                    "the backup's structure could not be read ({error})"
                ));
            }
            PageLayout::NotABackup => return Err("not a SQL Server backup".into()),
        };
        if !mssql_backup::pages::look_like_pages(source.bytes(), &regions) {
            return Err("its data does not read as SQL Server pages (an encrypted backup?)".into());
        }
        let file = source.slice(0..source.len()).map_err(|e| e.to_string())?;
        Ok(PageGuard {
            file,
            regions,
            checked: AtomicU64::new(0),
            without_checksum: AtomicU64::new(0),
        })
    }

    /// Checks the pages that start inside `window` (absolute file offsets), from the mapping.
    pub fn check(&self, window: Range<u64>) -> PageCheck {
        verify_window(&self.file, 0, &self.regions, window)
    }

    /// Adds a verified part's page counts to the totals.
    pub fn count(&self, tally: PageTally) {
        self.checked.fetch_add(tally.checked, Ordering::Relaxed);
        self.without_checksum
            .fetch_add(tally.without_checksum, Ordering::Relaxed);
    }

    /// The totals so far; `resumed_parts` were sent by an earlier run, unchecked by this one.
    pub fn summary(&self, resumed_parts: u32) -> PageSummary {
        PageSummary::Checked {
            checked: self.checked.load(Ordering::Relaxed),
            without_checksum: self.without_checksum.load(Ordering::Relaxed),
            resumed_parts,
        }
    }
}

/// Pages one attempt of one part checked; counted only for the attempt recorded as the part's,
/// so retries and hedges do not count a page twice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageTally {
    /// Pages whose checksum matched.
    pub checked: u64,
    /// Pages without a checksum.
    pub without_checksum: u64,
}

impl PageTally {
    /// Adds one window's result; the first failing page, if any.
    pub fn add(&mut self, check: &PageCheck) -> Option<PageFailure> {
        self.checked += check.checked - check.failed;
        self.without_checksum += check.skipped;
        check.first_failures.first().copied()
    }
}

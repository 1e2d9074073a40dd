//! SQL Server page checksums over the `MQDA` data pages [note §7.5, RE: 13,682 pages matched,
//! 0 false alarms]. Pages are checked in parallel with rayon; only formatted pages that carry a
//! checksum are checked (never-formatted pages of old disk content are skipped).

use std::ops::Range;

use rayon::prelude::*;

/// SQL Server's page size.
pub const PAGE_SIZE: usize = 8192;
/// Offset of the u32 checksum in the page header.
pub const CHECKSUM_OFFSET: usize = 60;
/// Page header flag bit: the page carries a checksum (not torn-page detection).
pub const FLAG_HAS_CHECKSUM: u16 = 0x200;
/// A page is 16 sectors of 512 bytes; each sector's XOR is rotated by `15 - sector`.
const SECTOR: usize = 512;
/// How many failing pages a report lists.
pub const MAX_REPORTED: usize = 10;
/// Pages per parallel task: big enough that scheduling costs nothing (8 MiB).
const PAGES_PER_TASK: usize = 1024;

/// The result of checking every page.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct PageCheck {
    /// Pages whose checksum was recomputed.
    pub checked: u64,
    /// Pages skipped: unformatted, or no checksum flag.
    pub skipped: u64,
    /// Total failing pages.
    pub failed: u64,
    /// The first failing pages (at most [`MAX_REPORTED`]), in file order.
    pub first_failures: Vec<PageFailure>,
}

/// One page whose stored checksum does not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PageFailure {
    /// The page id in the page header (the page number in its database file).
    pub page_id: u32,
    /// The database file id in the page header.
    pub file_id: u16,
    /// Where the page starts in the backup file.
    pub offset: u64,
}

/// The checksum SQL Server would store in `page` (the stored field counts as zero).
pub fn page_checksum(page: &[u8; PAGE_SIZE]) -> u32 {
    let mut sum = 0u32;
    for (sector_index, sector) in page.chunks_exact(SECTOR).enumerate() {
        let mut x = sector.chunks_exact(4).fold(0u32, |acc, w| {
            acc ^ u32::from_le_bytes([w[0], w[1], w[2], w[3]])
        });
        if sector_index == 0 {
            x ^= stored_checksum(page);
        }
        let rotation = u32::try_from(15 - sector_index).unwrap_or(0);
        sum ^= x.rotate_left(rotation);
    }
    sum
}

/// The checksum stored at offset 60.
pub fn stored_checksum(page: &[u8; PAGE_SIZE]) -> u32 {
    u32::from_le_bytes([page[60], page[61], page[62], page[63]])
}

/// Whether the page is formatted and carries a checksum [note §7.5].
pub fn has_checksum(page: &[u8; PAGE_SIZE]) -> bool {
    let header_version = page[0];
    let page_type = page[1];
    let flags = u16::from_le_bytes([page[4], page[5]]);
    header_version == 1 && page_type != 0 && flags & FLAG_HAS_CHECKSUM != 0
}

/// Whether the bytes in `regions` read as SQL Server pages: of up to 64 pages sampled evenly,
/// at least half carry a page header (version 1, a page type). An encrypted backup's data does
/// not, and checking it would report noise that happens to look like a page (1 in ~512) as a
/// damaged page.
pub fn look_like_pages(data: &[u8], regions: &[Range<u64>]) -> bool {
    const SAMPLES: u64 = 64;
    let page = PAGE_SIZE as u64;
    let total: u64 = regions
        .iter()
        .map(|r| r.end.saturating_sub(r.start) / page)
        .sum();
    if total == 0 {
        return true; // nothing to check, nothing to misjudge
    }
    let samples = total.min(SAMPLES);
    let mut headers = 0;
    for i in 0..samples {
        let mut nth = i * total / samples;
        let Some(start) = regions.iter().find_map(|r| {
            let pages = r.end.saturating_sub(r.start) / page;
            if nth < pages {
                Some(r.start + nth * page)
            } else {
                nth -= pages;
                None
            }
        }) else {
            continue;
        };
        let header = usize::try_from(start)
            .ok()
            .and_then(|at| data.get(at..at.checked_add(2)?));
        if let Some(&[version, page_type]) = header
            && version == 1
            && page_type != 0
        {
            headers += 1;
        }
    }
    headers * 2 >= samples
}

/// Checks every whole page in `ranges` of `data` in parallel.
pub fn verify(data: &[u8], ranges: &[Range<u64>]) -> PageCheck {
    let mut check = PageCheck::default();
    for range in ranges {
        let (Ok(start), Ok(end)) = (usize::try_from(range.start), usize::try_from(range.end))
        else {
            continue;
        };
        let Some(region) = data.get(start..end.min(data.len())) else {
            continue;
        };
        let partial = region
            .par_chunks(PAGE_SIZE * PAGES_PER_TASK)
            .enumerate()
            .map(|(task, chunk)| {
                let base =
                    range.start + u64::try_from(task * PAGE_SIZE * PAGES_PER_TASK).unwrap_or(0);
                check_chunk(chunk, base)
            })
            .reduce(PageCheck::default, merge);
        check = merge(check, partial);
    }
    check
}

/// Checks the whole pages of `regions` that *start* inside `window`, on one thread: what a
/// reader that already holds `window` in memory (an upload's chunk) checks on the way.
/// `data` holds the file's bytes from offset `data_start` on (the whole file: 0), and must reach
/// one page past `window` where the file does: a page that starts in `window` and ends past it
/// is checked whole, so windows that tile the file check every page exactly once. `regions` are
/// ascending (as the walk gives them).
pub fn verify_window(
    data: &[u8],
    data_start: u64,
    regions: &[Range<u64>],
    window: Range<u64>,
) -> PageCheck {
    let mut check = PageCheck::default();
    let first = regions.partition_point(|region| region.end <= window.start);
    for region in regions.get(first..).unwrap_or(&[]) {
        if region.start >= window.end {
            break;
        }
        let page = PAGE_SIZE as u64;
        let pages_in_region = region.end.saturating_sub(region.start) / page;
        // Page k of the region starts at region.start + k·page; keep the ks inside `window`.
        let first_page = window.start.saturating_sub(region.start).div_ceil(page);
        // Whole pages only, as `verify` checks them: none past the end of `data`.
        let data_end = data_start.saturating_add(data.len() as u64);
        let end_page = window
            .end
            .saturating_sub(region.start)
            .div_ceil(page)
            .min(pages_in_region)
            .min(data_end.saturating_sub(region.start) / page);
        if first_page >= end_page {
            continue;
        }
        let start = region.start + first_page * page;
        let end = region.start + end_page * page;
        // Pages before `data` are not in it: never read other bytes in their place.
        let (Some(from), Some(to)) = (start.checked_sub(data_start), end.checked_sub(data_start))
        else {
            continue;
        };
        let (Ok(from), Ok(to)) = (usize::try_from(from), usize::try_from(to)) else {
            continue;
        };
        if let Some(bytes) = data.get(from..to) {
            check = merge(check, check_chunk(bytes, start));
        }
    }
    check
}

fn check_chunk(chunk: &[u8], base: u64) -> PageCheck {
    let mut check = PageCheck::default();
    for (i, page) in chunk.chunks_exact(PAGE_SIZE).enumerate() {
        let Ok(page) = <&[u8; PAGE_SIZE]>::try_from(page) else {
            continue;
        };
        if !has_checksum(page) {
            check.skipped += 1;
            continue;
        }
        check.checked += 1;
        if page_checksum(page) != stored_checksum(page) {
            check.failed += 1;
            if check.first_failures.len() < MAX_REPORTED {
                check.first_failures.push(PageFailure {
                    page_id: u32::from_le_bytes([page[32], page[33], page[34], page[35]]),
                    file_id: u16::from_le_bytes([page[36], page[37]]),
                    offset: base + u64::try_from(i * PAGE_SIZE).unwrap_or(0),
                });
            }
        }
    }
    check
}

/// Adds two results; `a` covers earlier pages than `b`.
fn merge(mut a: PageCheck, b: PageCheck) -> PageCheck {
    a.checked += b.checked;
    a.skipped += b.skipped;
    a.failed += b.failed;
    let room = MAX_REPORTED.saturating_sub(a.first_failures.len());
    a.first_failures
        .extend(b.first_failures.into_iter().take(room));
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{SynthDatabase, SynthKind, SynthSpec, write_synthetic};
    use crate::{PageLayout, TargetVersion, page_layout};

    fn backup() -> (Vec<u8>, Vec<Range<u64>>) {
        let version = TargetVersion::parse("2019").expect("version");
        let spec = SynthSpec::single(
            SynthDatabase::new("Pages", version),
            SynthKind::Full,
            3 << 20,
        );
        let mut bytes = Vec::new();
        write_synthetic(&mut bytes, &spec).expect("synthetic backup");
        let PageLayout::Pages(regions) = page_layout(&bytes) else {
            panic!("a synthetic full backup has data pages");
        };
        (bytes, regions)
    }

    /// Checks `data` in windows of `step` bytes, as an upload's chunks tile the file.
    fn tiled(data: &[u8], regions: &[Range<u64>], step: u64) -> PageCheck {
        let len = data.len() as u64;
        (0..len.div_ceil(step))
            .map(|i| verify_window(data, 0, regions, i * step..((i + 1) * step).min(len)))
            .fold(PageCheck::default(), merge)
    }

    #[test]
    fn windows_that_tile_the_file_check_every_page_once() {
        let (bytes, regions) = backup();
        let whole = verify(&bytes, &regions);
        assert!(whole.checked > 100, "{whole:?}");
        // Unaligned steps: pages straddle windows; a page is checked where it starts.
        for step in [4096, 8192, 100_003, 256 << 10, 1 << 30] {
            assert_eq!(tiled(&bytes, &regions, step), whole, "step {step}");
        }
        // The same from blocks that hold only their window and one page more.
        let len = bytes.len() as u64;
        let step = 1_000_003u64;
        let from_blocks = (0..len.div_ceil(step))
            .map(|i| {
                let window = i * step..((i + 1) * step).min(len);
                let end = (window.end + PAGE_SIZE as u64).min(len);
                let block = &bytes[window.start as usize..end as usize];
                verify_window(block, window.start, &regions, window)
            })
            .fold(PageCheck::default(), merge);
        assert_eq!(from_blocks, whole);
    }

    #[test]
    fn pages_are_told_from_bytes_that_are_not_pages() {
        let (bytes, regions) = backup();
        assert!(look_like_pages(&bytes, &regions));
        // The same regions filled with noise, as an encrypted backup's would be.
        let mut noise = bytes.clone();
        let mut x = 0x9e37_79b9_u32;
        for region in &regions {
            for byte in &mut noise[region.start as usize..region.end as usize] {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *byte = x as u8;
            }
        }
        assert!(!look_like_pages(&noise, &regions));
    }

    #[test]
    fn a_flipped_byte_is_found_whichever_window_holds_its_page() {
        let (mut bytes, regions) = backup();
        let page_start = regions[0].start + 7 * PAGE_SIZE as u64;
        let at = usize::try_from(page_start).expect("small") + 5000;
        bytes[at] ^= 0x40;
        for step in [8192, 100_003, 1 << 20] {
            let check = tiled(&bytes, &regions, step);
            assert_eq!(check.failed, 1, "step {step}");
            assert_eq!(check.first_failures[0].offset, page_start);
        }
        // A window that ends before the page starts does not see it.
        assert_eq!(verify_window(&bytes, 0, &regions, 0..page_start).failed, 0);
        assert_eq!(
            verify_window(&bytes, 0, &regions, page_start..page_start + 1).failed,
            1
        );
    }
}

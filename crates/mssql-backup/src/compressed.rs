//! The `MSSQLBAK` container of `BACKUP ... WITH COMPRESSION` [note §6, RE on 2 files]: a 4 KiB
//! header, a compressed record holding `TAPE` at 0x1E0, an uncompressed `SFMB` at one physical
//! block, then compressed records end to end, with uncompressed `SFMB`s at physical-block
//! boundaries. Records are MS-XCA XPRESS-Huffman ([MS-XCA] §2.2.4), decoded with the
//! `xpress-huffman` crate (pure Rust, panic-free). Only records that hold descriptor blocks are
//! decoded; page records are stepped over by their length.

use super::cursor::{Bytes, Parse, add, align_up};
use super::error::ParseErrorKind;
use super::mtf::{self, Walk};
use super::raw::tag;

/// The first 8 bytes of a compressed backup.
pub const MAGIC: &[u8; 8] = b"MSSQLBAK";
/// Where the record holding the `TAPE` block sits [note §6].
const TAPE_RECORD: u64 = 0x1E0;
/// Record header: u32 tag, 24 bytes of unknown use, then the payload [note §6].
const RECORD_HEADER_LEN: u64 = 28;
/// The low byte of every record tag [note §6].
const RECORD_TAG_LOW: u32 = 0x21;
/// Tag bit of records that hold descriptor blocks (0x1021 first, 0x1821 later) [note §6].
const RECORD_HAS_BLOCKS: u32 = 0x1000;
/// A record decompresses to at most one 64 KiB extent [note §6].
const MAX_RECORD_OUTPUT: usize = 64 * 1024;
/// The bit reader may look 4 bytes past a record's nominal end [note §6].
const DECODER_OVERREAD: u64 = 4;
/// DBLKs lie on 4-byte boundaries inside a decompressed record (streams are 4-aligned).
const BLOCK_SCAN_STEP: usize = 4;

/// Walks the record chain to the end of the file, decodes the descriptor records, and returns
/// the same [`Walk`] an uncompressed file gives (without page ranges: pages are compressed).
pub fn walk(bytes: &Bytes<'_>) -> (Walk, Parse<()>) {
    let mut walk = Walk::default();
    let outcome = walk_into(bytes, &mut walk);
    (walk, outcome)
}

fn walk_into(bytes: &Bytes<'_>, walk: &mut Walk) -> Parse<()> {
    let tape_payload = decode_record(bytes, TAPE_RECORD)?;
    let tape_bytes = Bytes::with_base(&tape_payload.1, bytes.file_offset(TAPE_RECORD));
    let tape_block = mtf::parse_block(&tape_bytes, 0)?;
    walk.media = tape_block
        .media
        .ok_or_else(|| bytes.error(ParseErrorKind::Missing { tag: tag::TAPE }, TAPE_RECORD))?;
    let physical = walk.media.physical_block;
    // The uncompressed SFMB after the media header sits one physical block in.
    let mut at = skip_filemark(bytes, physical)?;
    let mut last_was_filemark = true;
    while at < bytes.len() {
        match record_len(bytes, at)? {
            Some((record_tag, len)) => {
                if record_tag & RECORD_HAS_BLOCKS != 0 {
                    let (_, plain) = decode_record(bytes, at)?;
                    for block in blocks_in(&plain, bytes.file_offset(at)) {
                        mtf::absorb(walk, block);
                    }
                }
                at = add(bytes, add(bytes, at, RECORD_HEADER_LEN)?, len)?;
                last_was_filemark = false;
            }
            None => {
                // Filler up to the next physical block, which must hold an SFMB [note §6].
                let boundary = align_up(bytes, at, physical)?;
                if boundary >= bytes.len() {
                    break;
                }
                at = skip_filemark(bytes, boundary)?;
                last_was_filemark = true;
            }
        }
    }
    let closed = !walk.sets.is_empty() && walk.sets.iter().all(|s| s.closed);
    if !closed || !last_was_filemark || at > bytes.len() {
        return Err(bytes.error(ParseErrorKind::MissingTrailer, at.min(bytes.len())));
    }
    Ok(())
}

/// Checks the SFMB at `at` and returns where it ends.
fn skip_filemark(bytes: &Bytes<'_>, at: u64) -> Parse<u64> {
    let block = mtf::parse_block(bytes, at)?;
    if block.tag != tag::SFMB {
        return Err(bytes.error(ParseErrorKind::NotABlock { found: block.tag }, at));
    }
    Ok(block.next)
}

/// The record at `at`: `Some((tag, payload length))`, or `None` when the bytes there are not a
/// record header (filler before a filemark). A record running past the file is an error.
fn record_len(bytes: &Bytes<'_>, at: u64) -> Parse<Option<(u32, u64)>> {
    if !bytes.has(at, RECORD_HEADER_LEN) {
        return Ok(None);
    }
    let record_tag = bytes.u32_le(at)?;
    let len = u64::from(record_tag >> 16);
    if record_tag & 0xFF != RECORD_TAG_LOW || len == 0 {
        return Ok(None);
    }
    let payload = add(bytes, at, RECORD_HEADER_LEN)?;
    if !bytes.has(payload, len) {
        return Err(bytes.error(ParseErrorKind::BadRecord { tag: record_tag }, at));
    }
    Ok(Some((record_tag, len)))
}

/// Decompresses the record at `at`; returns its tag and the plain bytes.
fn decode_record(bytes: &Bytes<'_>, at: u64) -> Parse<(u32, Vec<u8>)> {
    let (record_tag, len) = record_len(bytes, at)?.ok_or_else(|| {
        let found = bytes.u32_le(at).unwrap_or_default();
        bytes.error(ParseErrorKind::BadRecord { tag: found }, at)
    })?;
    let payload = add(bytes, at, RECORD_HEADER_LEN)?;
    let readable = (len + DECODER_OVERREAD).min(bytes.len().saturating_sub(payload));
    let input = bytes.slice(payload, readable)?;
    let plain = xpress_huffman::decompress(input, MAX_RECORD_OUTPUT)
        .map_err(|_| bytes.error(ParseErrorKind::Decompress, at))?;
    Ok((record_tag, plain))
}

/// The descriptor blocks found in a decompressed record, in order. A record is a slice of the
/// MTF stream that need not start on a block, so candidates are found by tag and header
/// checksum; a block whose streams run past the record is skipped.
fn blocks_in(plain: &[u8], file_offset: u64) -> Vec<mtf::Block> {
    let bytes = Bytes::with_base(plain, file_offset);
    let mut blocks = Vec::new();
    let mut at = 0usize;
    while at < plain.len() {
        let here = u64::try_from(at).unwrap_or(u64::MAX);
        let found = match mtf::parse_block(&bytes, here) {
            // Page ranges inside a decompressed record are not file ranges.
            Ok(block) => Some(mtf::Block {
                pages: Vec::new(),
                ..block
            }),
            // A block whose streams continue in the next record: keep its tag only.
            Err(_) => mtf::read_block_header(&bytes, here)
                .ok()
                .map(|(tag, _)| mtf::Block {
                    tag,
                    next: here,
                    ..mtf::Block::default()
                }),
        }
        .filter(|b| is_set_block(&b.tag));
        match found {
            Some(block) => {
                let next = usize::try_from(block.next).unwrap_or(usize::MAX);
                blocks.push(block);
                at = next.max(at.saturating_add(BLOCK_SCAN_STEP));
            }
            None => at = at.saturating_add(BLOCK_SCAN_STEP),
        }
    }
    blocks
}

fn is_set_block(t: &[u8; 4]) -> bool {
    [
        tag::SSET,
        tag::VOLB,
        tag::MSCI,
        tag::MSDA,
        tag::MSTL,
        tag::MSLS,
        tag::ESET,
    ]
    .contains(t)
}

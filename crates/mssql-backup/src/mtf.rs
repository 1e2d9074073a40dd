//! The Microsoft Tape Format walk: every descriptor block (DBLK) and stream header, with their
//! XOR checksums, from `TAPE` to the final `SFMB` [MTF §3-§6, note §2]. Only headers are read:
//! data streams (`MQDA`, `MQTL`) are stepped over by their length, so a 1 TB file costs the same
//! as a 1 MB one. The walk remembers where the data pages are for `--verify-pages`.

use std::ops::Range;

use super::cursor::{Bytes, Parse, add, align_up};
use super::error::ParseErrorKind;
use super::raw::{
    self, DBLK_HEADER_LEN, STREAM_ALIGN, STREAM_HEADER_LEN, dblk, raid, sset, stream, tag, tape,
};
use super::sqlmeta::{self, ConfigInfo};
use super::types::Guid;

/// Media-set facts from the `TAPE` block and its `RAID` stream [note §3.1].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MediaInfo {
    /// Physical block size: 512 or 4096.
    pub physical_block: u64,
    /// `MEDIAPASSWORD` is set (password algorithm or media password present).
    pub media_password: bool,
    /// Media-set GUID (identical in every file of a striped set).
    pub media_set_id: Option<Guid>,
    /// Family count (stripes).
    pub family_count: u16,
    /// This file's family number, 1-based.
    pub family_sequence: u16,
}

/// Facts from one `SSET` block [note §3.2].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetInfo {
    /// SSET attributes (0x4 NORMAL, 0x8 DIFFERENTIAL).
    pub attributes: u32,
    /// A backup-set `PASSWORD=` is set.
    pub password: bool,
    /// Data set number (HEADERONLY Position).
    pub position: u16,
    /// BackupSetGUID.
    pub backup_set_guid: Option<Guid>,
    /// BackupName.
    pub name: String,
}

/// What one DBLK and its stream chain hold.
#[derive(Debug, Clone, Default)]
pub struct Block {
    /// The 4-character tag.
    pub tag: [u8; 4],
    /// Where the next DBLK starts.
    pub next: u64,
    /// TAPE: media facts.
    pub media: Option<MediaInfo>,
    /// SSET: set facts.
    pub set: Option<SetInfo>,
    /// MSCI/MSLS: the decoded `MQCI` stream.
    pub config: Option<ConfigInfo>,
    /// MSDA: payload ranges of `MQDA` streams after their 2 lead bytes (whole pages).
    pub pages: Vec<Range<u64>>,
    /// A `CSUM` stream follows a data stream (backup `WITH CHECKSUM`).
    pub has_csum: bool,
}

/// Reads and checks the 52-byte DBLK header at `at` [MTF §5.1]: tag, checksum, first-event offset.
pub fn read_block_header(bytes: &Bytes<'_>, at: u64) -> Parse<([u8; 4], u16)> {
    let header = bytes.slice(at, DBLK_HEADER_LEN)?;
    let block_tag: [u8; 4] = bytes.array(at)?;
    if !block_tag.iter().all(u8::is_ascii_uppercase) {
        return Err(bytes.error(ParseErrorKind::NotABlock { found: block_tag }, at));
    }
    let stored = bytes.u16_le(at + dblk::CHECKSUM)?;
    let computed = header.get(..50).map(raw::xor_u16).unwrap_or_default();
    if stored != computed {
        return Err(bytes.error(
            ParseErrorKind::BlockChecksum {
                tag: block_tag,
                stored,
                computed,
            },
            at,
        ));
    }
    let first_event = bytes.u16_le(at + dblk::OFFSET_TO_FIRST_EVENT)?;
    if u64::from(first_event) < DBLK_HEADER_LEN {
        return Err(bytes.error(ParseErrorKind::BadFirstEvent { value: first_event }, at));
    }
    Ok((block_tag, first_event))
}

/// Parses the DBLK at `at` and its stream chain up to `SPAD` [MTF §3.5, note §2.2].
pub fn parse_block(bytes: &Bytes<'_>, at: u64) -> Parse<Block> {
    let (block_tag, first_event) = read_block_header(bytes, at)?;
    let mut block = Block {
        tag: block_tag,
        ..Block::default()
    };
    match block_tag {
        tag::TAPE => block.media = Some(parse_tape(bytes, at)?),
        tag::SSET => block.set = Some(parse_sset(bytes, at)?),
        _ => {}
    }
    let first = add(bytes, at, u64::from(first_event))?;
    // A soft filemark has no streams: its first-event offset is its own size [note §2.1].
    if block_tag == tag::SFMB {
        require(bytes, at, first)?;
        block.next = first;
        return Ok(block);
    }
    let mut here = first;
    loop {
        let (id, len) = read_stream_header(bytes, here)?;
        let data = add(bytes, here, STREAM_HEADER_LEN)?;
        let data_end = add(bytes, data, len)?;
        if id == tag::SPAD {
            // The next DBLK starts exactly where the pad's data ends [note §2.2].
            require(bytes, data, data_end)?;
            block.next = data_end;
            return Ok(block);
        }
        take_stream(bytes, &mut block, id, data, len)?;
        here = align_up(bytes, data_end, STREAM_ALIGN)?;
    }
}

/// Checks the stream header at `at`; returns (id, data length).
fn read_stream_header(bytes: &Bytes<'_>, at: u64) -> Parse<([u8; 4], u64)> {
    let header = bytes.slice(at, STREAM_HEADER_LEN)?;
    let id: [u8; 4] = bytes.array(at)?;
    let stored = bytes.u16_le(at + stream::CHECKSUM)?;
    let computed = header.get(..20).map(raw::xor_u16).unwrap_or_default();
    if stored != computed {
        return Err(bytes.error(
            ParseErrorKind::StreamChecksum {
                id,
                stored,
                computed,
            },
            at,
        ));
    }
    let len = bytes.u64_le(at + stream::LENGTH)?;
    Ok((id, len))
}

/// Records what a stream tells about its block. Data streams are only located, never read.
fn take_stream(
    bytes: &Bytes<'_>,
    block: &mut Block,
    id: [u8; 4],
    data: u64,
    len: u64,
) -> Parse<()> {
    match id {
        tag::RAID => {
            if let Some(media) = block.media.as_mut() {
                let r = bytes.sub(data, len.min(raid::LEN))?;
                media.media_set_id = Guid::read(&r, raid::MEDIA_SET_ID)?;
                media.family_count = r.u16_le(raid::FAMILY_COUNT)?;
                media.family_sequence = r.u16_le(raid::FAMILY_SEQUENCE)?;
            }
        }
        tag::MQCI => {
            let config = sqlmeta::parse_config(&bytes.sub(data, len)?)?;
            block.config = Some(config);
        }
        // The MQDA payload is 2 lead bytes, then whole 8 KiB pages [note §2.5].
        tag::MQDA if len > 2 => {
            let end = add(bytes, data, len)?;
            // Pages of a file cut short are not there to check; the walk reports the cut.
            let end = end.min(bytes.len());
            block
                .pages
                .push(bytes.file_offset(data + 2)..bytes.file_offset(end));
        }
        tag::CSUM => block.has_csum = true,
        _ => {}
    }
    // Data streams must lie inside the file, even though they are not read.
    require(bytes, data, add(bytes, data, len)?)
}

/// Fails with `Truncated` unless `start..end` lies inside the bytes.
fn require(bytes: &Bytes<'_>, start: u64, end: u64) -> Parse<()> {
    if end <= bytes.len() {
        return Ok(());
    }
    Err(bytes.error(
        ParseErrorKind::Truncated {
            needed: end.saturating_sub(bytes.len()),
        },
        start,
    ))
}

fn parse_tape(bytes: &Bytes<'_>, at: u64) -> Parse<MediaInfo> {
    let soft_filemark = bytes.u16_le(at + tape::SOFT_FILEMARK_BLOCK_SIZE)?;
    // Only 512- and 4096-byte physical blocks exist in practice [note §2.3].
    if soft_filemark != 1 && soft_filemark != 8 {
        return Err(bytes.error(
            ParseErrorKind::BadPhysicalBlockSize {
                value: soft_filemark,
            },
            at + tape::SOFT_FILEMARK_BLOCK_SIZE,
        ));
    }
    let password_algorithm = bytes.u16_le(at + tape::PASSWORD_ALGORITHM)?;
    let password_size = raw::tape_address_size(bytes, at + tape::MEDIA_PASSWORD)?;
    Ok(MediaInfo {
        physical_block: u64::from(soft_filemark) * 512,
        media_password: password_algorithm != 0 || password_size != 0,
        media_set_id: None,
        family_count: 0,
        family_sequence: 0,
    })
}

fn parse_sset(bytes: &Bytes<'_>, at: u64) -> Parse<SetInfo> {
    let password_algorithm = bytes.u16_le(at + sset::PASSWORD_ALGORITHM)?;
    let password_size = raw::tape_address_size(bytes, at + sset::DATA_SET_PASSWORD)?;
    Ok(SetInfo {
        attributes: bytes.u32_le(at + sset::ATTRIBUTES)?,
        password: password_algorithm != 0 || password_size != 0,
        position: bytes.u16_le(at + sset::DATA_SET_NUMBER)?,
        backup_set_guid: Guid::read(bytes, at + sset::BACKUP_SET_GUID)?,
        // The name lies outside the checksummed header; a damaged one is not worth a refusal.
        name: raw::tape_address_string(bytes, at, at + sset::DATA_SET_NAME).unwrap_or_default(),
    })
}

/// One backup set as the walk saw it.
#[derive(Debug, Clone, Default)]
pub struct SetBlocks {
    /// The SSET facts.
    pub set: SetInfo,
    /// The leading `MSCI` config info.
    pub leading: Option<ConfigInfo>,
    /// The trailing `MSLS` config info.
    pub trailing: Option<ConfigInfo>,
    /// An `MSDA` (data) block was seen.
    pub has_data: bool,
    /// A `CSUM` stream was seen.
    pub has_csum: bool,
    /// The set's `ESET` was reached.
    pub closed: bool,
}

/// The result of walking a whole MTF file.
#[derive(Debug, Clone, Default)]
pub struct Walk {
    /// From the TAPE block.
    pub media: MediaInfo,
    /// Every backup set, in order.
    pub sets: Vec<SetBlocks>,
    /// Where the data pages are, for `--verify-pages`.
    pub pages: Vec<Range<u64>>,
}

/// Walks an uncompressed MTF file from `TAPE` to its last `SFMB`, checking every header. The
/// walk keeps what it read before a failure, so a damaged file still shows its header.
pub fn walk(bytes: &Bytes<'_>) -> (Walk, Parse<()>) {
    let mut walk = Walk::default();
    let outcome = walk_into(bytes, &mut walk);
    (walk, outcome)
}

fn walk_into(bytes: &Bytes<'_>, walk: &mut Walk) -> Parse<()> {
    let tape_block = parse_block(bytes, 0)?;
    walk.media = tape_block
        .media
        .clone()
        .ok_or_else(|| bytes.error(ParseErrorKind::Missing { tag: tag::TAPE }, 0))?;
    let mut at = tape_block.next;
    let mut last_tag = tape_block.tag;
    while at < bytes.len() {
        if is_zero_tail(bytes, at) {
            break;
        }
        let block = parse_block(bytes, at)?;
        if block.next <= at {
            return Err(bytes.error(ParseErrorKind::OffsetOverflow, at));
        }
        last_tag = block.tag;
        at = block.next;
        absorb(walk, block);
    }
    let all_closed = !walk.sets.is_empty() && walk.sets.iter().all(|s| s.closed);
    if !all_closed || last_tag != tag::SFMB {
        return Err(bytes.error(ParseErrorKind::MissingTrailer, at.min(bytes.len())));
    }
    Ok(())
}

/// Adds one block's facts to the walk: a new set at `SSET`, config and data inside it.
pub fn absorb(walk: &mut Walk, block: Block) {
    if let Some(set) = block.set {
        walk.sets.push(SetBlocks {
            set,
            ..SetBlocks::default()
        });
        return;
    }
    let Some(current) = walk.sets.last_mut() else {
        return;
    };
    if current.closed {
        return;
    }
    match block.tag {
        tag::MSCI => current.leading = block.config,
        tag::MSLS => current.trailing = block.config,
        tag::MSDA => current.has_data = true,
        tag::ESET => current.closed = true,
        _ => {}
    }
    current.has_csum |= block.has_csum;
    walk.pages.extend(block.pages);
}

/// SQL Server may leave zeros after the final SFMB; tolerate them [note §7.3].
fn is_zero_tail(bytes: &Bytes<'_>, at: u64) -> bool {
    bytes
        .slice(at, bytes.len().saturating_sub(at))
        .is_ok_and(|rest| rest.iter().all(|&b| b == 0))
}

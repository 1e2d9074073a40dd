//! Located parse errors: small, `Copy`, carrying the bad value and the byte offset where the
//! parser stopped (DESIGN.md habit 3). Offsets are absolute file offsets, except inside a
//! decompressed `MSSQLBAK` record, where the message says so.

use std::fmt;

/// Why a backup could not be parsed, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    /// What went wrong.
    pub kind: ParseErrorKind,
    /// Byte offset in the file (or in the decompressed record, for compressed backups).
    pub offset: u64,
}

impl ParseError {
    /// An error of `kind` at `offset`.
    pub fn new(kind: ParseErrorKind, offset: u64) -> Self {
        ParseError { kind, offset }
    }
}

/// The kinds of parse failure. New kinds may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The file ends before a structure that must be there; `needed` bytes were wanted.
    Truncated {
        /// How many bytes the structure needs.
        needed: u64,
    },
    /// An offset computation overflowed (a length field is absurd).
    OffsetOverflow,
    /// Expected a descriptor block (DBLK) here but the 4-byte tag is not one.
    NotABlock {
        /// The four bytes found.
        found: [u8; 4],
    },
    /// A DBLK header's XOR checksum (MTF §5.1) does not match.
    BlockChecksum {
        /// The block tag.
        tag: [u8; 4],
        /// The checksum stored in the header.
        stored: u16,
        /// The checksum computed over the header.
        computed: u16,
    },
    /// A stream header's XOR checksum (MTF §6.1) does not match.
    StreamChecksum {
        /// The stream id.
        id: [u8; 4],
        /// The checksum stored in the header.
        stored: u16,
        /// The checksum computed over the header.
        computed: u16,
    },
    /// A DBLK's "offset to first event" points inside its own 52-byte header.
    BadFirstEvent {
        /// The value found.
        value: u16,
    },
    /// The TAPE block's soft-filemark block size is not 1 (512 B) or 8 (4096 B).
    BadPhysicalBlockSize {
        /// The multiplier of 512 found.
        value: u16,
    },
    /// The media does not end with the set trailer `ESET ESET SFMB`.
    MissingTrailer,
    /// A backup set has no `MSCI`/`MSLS` config info to read the SQL Server header from.
    MissingConfigInfo,
    /// The `MQCI` chunk list does not add up (a chunk size runs past the stream).
    BadChunk {
        /// The chunk tag.
        tag: [u8; 4],
    },
    /// The compressed container's record chain is broken (a record header is not one).
    BadRecord {
        /// The record tag found.
        tag: u32,
    },
    /// An XPRESS-Huffman record does not decompress.
    Decompress,
    /// A structure after the first bytes is missing (no SSET, no RAID stream...).
    Missing {
        /// The 4-character tag of what is missing.
        tag: [u8; 4],
    },
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::Truncated { needed } => {
                write!(f, "file ends early ({needed} more bytes expected)")
            }
            ParseErrorKind::OffsetOverflow => f.write_str("a length field points past any file"),
            ParseErrorKind::NotABlock { found } => {
                write!(f, "expected a descriptor block, found {}", show_tag(found))
            }
            ParseErrorKind::BlockChecksum {
                tag,
                stored,
                computed,
            } => write!(
                f,
                "{} block header checksum is {stored:#06x}, computed {computed:#06x}",
                show_tag(tag)
            ),
            ParseErrorKind::StreamChecksum {
                id,
                stored,
                computed,
            } => write!(
                f,
                "{} stream header checksum is {stored:#06x}, computed {computed:#06x}",
                show_tag(id)
            ),
            ParseErrorKind::BadFirstEvent { value } => {
                write!(f, "block's offset to first stream is {value}, below 52")
            }
            ParseErrorKind::BadPhysicalBlockSize { value } => {
                write!(f, "physical block size {value}x512 is not 512 or 4096")
            }
            ParseErrorKind::MissingTrailer => {
                f.write_str("the backup set trailer (ESET ESET SFMB) is missing")
            }
            ParseErrorKind::MissingConfigInfo => {
                f.write_str("no SQL Server configuration block (MSCI/MSLS)")
            }
            ParseErrorKind::BadChunk { tag } => {
                write!(f, "{} chunk runs past its stream", show_tag(tag))
            }
            ParseErrorKind::BadRecord { tag } => {
                write!(f, "compressed record header {tag:#010x} is not valid")
            }
            ParseErrorKind::Decompress => f.write_str("compressed record does not decompress"),
            ParseErrorKind::Missing { tag } => write!(f, "no {} found", show_tag(tag)),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at offset {:#x}", self.kind, self.offset)
    }
}

impl std::error::Error for ParseError {}

/// A tag as text when it is printable ASCII, else as hex.
pub(crate) fn show_tag(tag: &[u8; 4]) -> String {
    if tag.iter().all(|b| b.is_ascii_graphic()) {
        tag.iter().map(|&b| char::from(b)).collect()
    } else {
        format!("0x{}", hex::encode(tag))
    }
}

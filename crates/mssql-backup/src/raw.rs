//! Spec-named layouts and encodings: MTF 1.00a (Seagate/Microsoft rev 1.8) field offsets, and the
//! SQL Server records reverse-engineered in `research/mtf-bak-format.md` (cited as "note §n").
//! Only constants and tiny decoders live here; walking the blocks is `mtf.rs`.

use super::cursor::{Bytes, Parse};

/// Size of the common block header `MTF_DB_HDR` [MTF §5.1, note §2.1].
pub const DBLK_HEADER_LEN: u64 = 52;
/// `MTF_DB_HDR` field offsets [MTF §5.1, note §2.1].
pub mod dblk {
    /// u16: offset from the DBLK start to its first stream header.
    pub const OFFSET_TO_FIRST_EVENT: u64 = 8;
    /// u64: format logical address (logical blocks since the SSET).
    pub const FORMAT_LOGICAL_ADDRESS: u64 = 20;
    /// u8: string type, 2 = UTF-16LE.
    pub const STRING_TYPE: u64 = 48;
    /// u16: XOR of the 25 u16 words before it.
    pub const CHECKSUM: u64 = 50;
}

/// Size of `MTF_STREAM_HDR` [MTF §6.1, note §2.2].
pub const STREAM_HEADER_LEN: u64 = 22;
/// `MTF_STREAM_HDR` field offsets [MTF §6.1, note §2.2].
pub mod stream {
    /// u16: media-format attributes (BIT1 VARIABLE, BIT2 VAR_END...).
    pub const MEDIA_FORMAT_ATTRIBUTES: u64 = 6;
    /// u64: stream length, without header and pad.
    pub const LENGTH: u64 = 8;
    /// u16: XOR of the 10 u16 words before it.
    pub const CHECKSUM: u64 = 20;
}
/// Stream data is padded to 4 bytes [MTF §3.5, note §2.2].
pub const STREAM_ALIGN: u64 = 4;

/// DBLK and stream tags [MTF §5, §6; SQL Server's own `MS**` tags, note §2.5].
pub mod tag {
    /// Media header.
    pub const TAPE: [u8; 4] = *b"TAPE";
    /// Soft filemark.
    pub const SFMB: [u8; 4] = *b"SFMB";
    /// Start of set.
    pub const SSET: [u8; 4] = *b"SSET";
    /// Volume.
    pub const VOLB: [u8; 4] = *b"VOLB";
    /// SQL Server config info at the start of the set.
    pub const MSCI: [u8; 4] = *b"MSCI";
    /// SQL Server data-file extents.
    pub const MSDA: [u8; 4] = *b"MSDA";
    /// SQL Server transaction-log portion.
    pub const MSTL: [u8; 4] = *b"MSTL";
    /// SQL Server trailing config info.
    pub const MSLS: [u8; 4] = *b"MSLS";
    /// End of set.
    pub const ESET: [u8; 4] = *b"ESET";
    /// Media-set/family info stream of TAPE (note §3.1).
    pub const RAID: [u8; 4] = *b"RAID";
    /// Pad stream that ends every stream chain.
    pub const SPAD: [u8; 4] = *b"SPAD";
    /// Alignment pad before MQDA/MQTL.
    pub const APAD: [u8; 4] = *b"APAD";
    /// SQL config info stream holding chunks (note §4).
    pub const MQCI: [u8; 4] = *b"MQCI";
    /// Data pages stream.
    pub const MQDA: [u8; 4] = *b"MQDA";
    /// Log blocks stream.
    pub const MQTL: [u8; 4] = *b"MQTL";
    /// Backup checksum stream.
    pub const CSUM: [u8; 4] = *b"CSUM";
    /// Backup-set header chunk.
    pub const SCIN: [u8; 4] = *b"SCIN";
    /// Filegroup chunk.
    pub const SFGI: [u8; 4] = *b"SFGI";
    /// Database file chunk.
    pub const SFIN: [u8; 4] = *b"SFIN";
}

/// TAPE DBLK field offsets [MTF §5.2.1, note §3.1].
pub mod tape {
    /// u16: password encryption algorithm (5 with `MEDIAPASSWORD`).
    pub const PASSWORD_ALGORITHM: u64 = 62;
    /// u16: soft filemark block size in 512-byte units = physical block size.
    pub const SOFT_FILEMARK_BLOCK_SIZE: u64 = 64;
    /// TA: media password.
    pub const MEDIA_PASSWORD: u64 = 76;
    /// TA: software name.
    pub const SOFTWARE_NAME: u64 = 80;
    /// u16: format logical block size (1024 in every sample).
    pub const FORMAT_LOGICAL_BLOCK_SIZE: u64 = 84;
}
/// The format logical block: every DBLK after SSET starts on a multiple of it [note §2.3].
pub const LOGICAL_BLOCK: u64 = 1024;

/// `RAID` stream data offsets [note §3.1, RE].
pub mod raid {
    /// 16 B: media-set GUID.
    pub const MEDIA_SET_ID: u64 = 0;
    /// u16: family count (stripes).
    pub const FAMILY_COUNT: u64 = 20;
    /// u16: this file's family sequence number.
    pub const FAMILY_SEQUENCE: u64 = 24;
    /// Data length.
    pub const LEN: u64 = 32;
}

/// SSET DBLK field offsets [MTF §5.2.2 + SQL Server extension, note §3.2].
pub mod sset {
    /// u32: attributes (0x4 NORMAL full/log, 0x8 DIFFERENTIAL).
    pub const ATTRIBUTES: u64 = 52;
    /// u16: backup-set password encryption algorithm.
    pub const PASSWORD_ALGORITHM: u64 = 56;
    /// u16: data set number (HEADERONLY Position).
    pub const DATA_SET_NUMBER: u64 = 62;
    /// TA: data set name (BackupName).
    pub const DATA_SET_NAME: u64 = 64;
    /// TA: data set password.
    pub const DATA_SET_PASSWORD: u64 = 72;
    /// TA: user name.
    pub const USER_NAME: u64 = 76;
    /// 16 B: BackupSetGUID (learned from real backups).
    pub const BACKUP_SET_GUID: u64 = 100;
}

/// SCIN chunk offsets, from the `S` of `SCIN` [note §4.2, RE].
pub mod scin {
    /// u32: flags (0x10 HasBackupChecksums, 0x800 differential).
    pub const FLAGS: u64 = 0x08;
    /// u16: SoftwareVersionBuild.
    pub const SOFTWARE_BUILD: u64 = 0x18;
    /// u8: SoftwareVersionMinor.
    pub const SOFTWARE_MINOR: u64 = 0x1A;
    /// u8: SoftwareVersionMajor.
    pub const SOFTWARE_MAJOR: u64 = 0x1B;
    /// LSN: FirstLSN.
    pub const FIRST_LSN: u64 = 0x20;
    /// LSN: LastLSN.
    pub const LAST_LSN: u64 = 0x2A;
    /// LSN: CheckpointLSN.
    pub const CHECKPOINT_LSN: u64 = 0x34;
    /// LSN: DatabaseBackupLSN.
    pub const DATABASE_BACKUP_LSN: u64 = 0x3E;
    /// MTF date: DatabaseCreationDate.
    pub const DATABASE_CREATION_DATE: u64 = 0x48;
    /// MTF date: BackupStartDate.
    pub const BACKUP_START_DATE: u64 = 0x4D;
    /// MTF date: BackupFinishDate (trailing copy only).
    pub const BACKUP_FINISH_DATE: u64 = 0x52;
    /// u8: msdb backupset.type letter (D, I, L, F, G, P, Q).
    pub const BACKUP_TYPE: u64 = 0x57;
    /// u8: CompatibilityLevel.
    pub const COMPATIBILITY_LEVEL: u64 = 0x5B;
    /// u16: DatabaseVersion.
    pub const DATABASE_VERSION: u64 = 0x5E;
    /// u64: BackupSize, all families.
    pub const BACKUP_SIZE: u64 = 0x60;
    /// TA: DatabaseName.
    pub const DATABASE_NAME: u64 = 0x68;
    /// TA: ServerName.
    pub const SERVER_NAME: u64 = 0x6C;
    /// 16 B: database-specific GUID (BindingID or FamilyGUID) (learned from real backups, weakly confirmed).
    pub const DATABASE_GUID: u64 = 0x7C;
    /// 16 B: BackupSetGUID of the most recent full backup (learned from real backups).
    pub const LAST_FULL_BACKUP_GUID: u64 = 0xC8;
    /// 5 B: SQL collation.
    pub const COLLATION: u64 = 0xD8;
    /// LSN: DifferentialBaseLSN.
    pub const DIFFERENTIAL_BASE_LSN: u64 = 0x104;
    /// 16 B: DifferentialBaseGUID.
    pub const DIFFERENTIAL_BASE_GUID: u64 = 0x110;
    /// u64: CompressedBackupSize (database version 655 / SQL 2008 and later).
    pub const COMPRESSED_BACKUP_SIZE: u64 = 0x158;
    /// Flag bit: the backup was taken `WITH CHECKSUM`.
    pub const FLAG_HAS_CHECKSUMS: u32 = 0x10;
}

/// SFIN chunk offsets [note §4.4, RE].
pub mod sfin {
    /// u32: FileId.
    pub const FILE_ID: u64 = 0x14;
    /// u32: 1 data, 2 log.
    pub const TYPE: u64 = 0x1C;
    /// u32: FileGroupId.
    pub const FILEGROUP_ID: u64 = 0x24;
    /// u64: Size in bytes.
    pub const SIZE: u64 = 0x28;
    /// TA: LogicalName.
    pub const LOGICAL_NAME: u64 = 0x30;
    /// TA: PhysicalName.
    pub const PHYSICAL_NAME: u64 = 0x34;
}

/// SFGI chunk offsets [note §4.3, RE].
pub mod sfgi {
    /// u32: filegroup id.
    pub const ID: u64 = 0x0C;
    /// TA: filegroup name.
    pub const NAME: u64 = 0x10;
}

/// XOR of the little-endian u16 words of `bytes` (MTF header checksums, MTF §5.1 and §6.1).
pub fn xor_u16(bytes: &[u8]) -> u16 {
    bytes
        .chunks_exact(2)
        .fold(0, |acc, w| acc ^ u16::from_le_bytes([w[0], w[1]]))
}

/// Reads an `MTF_TAPE_ADDRESS {u16 size, u16 offset}` at `at` and returns the UTF-16LE string it
/// points to, relative to `base` (the start of the structure holding it) [MTF §4.2]. Trailing
/// NULs are dropped; an empty address gives an empty string.
pub fn tape_address_string(bytes: &Bytes<'_>, base: u64, at: u64) -> Parse<String> {
    let size = bytes.u16_le(at)?;
    let offset = bytes.u16_le(at + 2)?;
    if size == 0 {
        return Ok(String::new());
    }
    let start = super::cursor::add(bytes, base, u64::from(offset))?;
    let raw = bytes.slice(start, u64::from(size))?;
    let units: Vec<u16> = raw
        .chunks_exact(2)
        .map(|w| u16::from_le_bytes([w[0], w[1]]))
        .collect();
    let text = String::from_utf16_lossy(&units);
    Ok(text.trim_end_matches('\0').to_owned())
}

/// Size in bytes of a tape address (0 when absent).
pub fn tape_address_size(bytes: &Bytes<'_>, at: u64) -> Parse<u16> {
    bytes.u16_le(at)
}

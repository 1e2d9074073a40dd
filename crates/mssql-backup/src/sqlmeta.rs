//! SQL Server's configuration info: the `MQCI` stream of `MSCI` (start of set) and `MSLS` (end
//! of set), a list of chunks `{tag[4], u32 size incl. these 8 bytes, payload}` [note §4]:
//! `SCIN` (the RESTORE HEADERONLY data), `SFGI` (filegroups), `SFIN` (RESTORE FILELISTONLY).

use serde::Serialize;

use super::cursor::{Bytes, Parse, add};
use super::error::ParseErrorKind;
use super::raw::{self, scin, sfgi, sfin, tag};
use super::types::{BackupType, Guid, Lsn, MtfDate, SoftwareVersion};

/// One `MQCI` stream, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigInfo {
    /// The `SCIN` chunk; `None` when the stream has none.
    pub header: Option<SetHeader>,
    /// The `SFGI` chunks.
    pub filegroups: Vec<Filegroup>,
    /// The `SFIN` chunks.
    pub files: Vec<DatabaseFile>,
}

/// The `SCIN` chunk: RESTORE HEADERONLY's columns [note §4.2].
#[derive(Debug, Clone, PartialEq)]
pub struct SetHeader {
    /// SCIN flags bitfield.
    pub flags: u32,
    /// Writer's version.
    pub software_version: SoftwareVersion,
    /// FirstLSN.
    pub first_lsn: Option<Lsn>,
    /// LastLSN.
    pub last_lsn: Option<Lsn>,
    /// CheckpointLSN.
    pub checkpoint_lsn: Option<Lsn>,
    /// DatabaseBackupLSN.
    pub database_backup_lsn: Option<Lsn>,
    /// DifferentialBaseLSN.
    pub differential_base_lsn: Option<Lsn>,
    /// DatabaseCreationDate.
    pub database_creation_date: Option<MtfDate>,
    /// BackupStartDate.
    pub backup_start_date: Option<MtfDate>,
    /// BackupFinishDate (trailing copy only).
    pub backup_finish_date: Option<MtfDate>,
    /// The type letter as stored.
    pub type_letter: u8,
    /// The decoded type; `None` for an unknown letter.
    pub backup_type: Option<BackupType>,
    /// CompatibilityLevel.
    pub compatibility_level: u8,
    /// DatabaseVersion.
    pub database_version: u16,
    /// BackupSize (all families).
    pub backup_size: u64,
    /// CompressedBackupSize (2008 and later).
    pub compressed_backup_size: Option<u64>,
    /// DatabaseName.
    pub database_name: String,
    /// ServerName.
    pub server_name: String,
    /// Database-specific GUID (BindingID or FamilyGUID) (learned from real backups, weakly confirmed).
    pub database_guid: Option<Guid>,
    /// BackupSetGUID of the most recent full backup before this one.
    pub last_full_backup_guid: Option<Guid>,
    /// DifferentialBaseGUID.
    pub differential_base_guid: Option<Guid>,
    /// The 5-byte SQL collation.
    pub collation: [u8; 5],
}

/// A filegroup (`SFGI`) [note §4.3].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Filegroup {
    /// Filegroup id (1 = PRIMARY).
    pub id: u32,
    /// Name.
    pub name: String,
}

/// The kind of a database file, as RESTORE FILELISTONLY's `Type` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileType {
    /// `D`: data file.
    Data,
    /// `L`: log file.
    Log,
    /// A type code not seen in the samples.
    Other,
}

impl FileType {
    /// The FILELISTONLY letter.
    pub fn letter(self) -> char {
        match self {
            FileType::Data => 'D',
            FileType::Log => 'L',
            FileType::Other => '?',
        }
    }
}

/// A database file (`SFIN`): RESTORE FILELISTONLY [note §4.4].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseFile {
    /// LogicalName.
    pub logical_name: String,
    /// PhysicalName on the source server.
    pub physical_name: String,
    /// Data or log.
    #[serde(rename = "type")]
    pub file_type: FileType,
    /// Size in bytes.
    pub size: u64,
    /// FileId.
    pub file_id: u32,
    /// FileGroupId (0 for the log).
    pub filegroup_id: u32,
}

/// SQL Server 2008's database version: CompressedBackupSize exists from here on [note §4.2].
const FIRST_VERSION_WITH_COMPRESSED_SIZE: u16 = 655;

/// Decodes the chunks of one `MQCI` stream's data.
pub fn parse_config(bytes: &Bytes<'_>) -> Parse<ConfigInfo> {
    let mut info = ConfigInfo {
        header: None,
        filegroups: Vec::new(),
        files: Vec::new(),
    };
    let mut at = 0u64;
    // Chunk headers are 8 bytes; a shorter tail is padding.
    while bytes.has(at, 8) {
        let chunk_tag: [u8; 4] = bytes.array(at)?;
        let size = u64::from(bytes.u32_le(at + 4)?);
        if chunk_tag == [0; 4] && size == 0 {
            break;
        }
        if size < 8 || !bytes.has(at, size) {
            return Err(bytes.error(ParseErrorKind::BadChunk { tag: chunk_tag }, at));
        }
        let chunk = bytes.sub(at, size)?;
        match chunk_tag {
            tag::SCIN if info.header.is_none() => info.header = Some(parse_scin(&chunk)?),
            tag::SFGI => info.filegroups.push(Filegroup {
                id: chunk.u32_le(sfgi::ID)?,
                name: raw::tape_address_string(&chunk, 0, sfgi::NAME)?,
            }),
            tag::SFIN => info.files.push(parse_sfin(&chunk)?),
            _ => {}
        }
        at = add(bytes, at, size)?;
    }
    Ok(info)
}

fn parse_scin(c: &Bytes<'_>) -> Parse<SetHeader> {
    let type_letter = c.u8(scin::BACKUP_TYPE)?;
    let database_version = c.u16_le(scin::DATABASE_VERSION)?;
    let compressed_backup_size = if database_version >= FIRST_VERSION_WITH_COMPRESSED_SIZE {
        Some(c.u64_le(scin::COMPRESSED_BACKUP_SIZE)?)
    } else {
        None
    };
    Ok(SetHeader {
        flags: c.u32_le(scin::FLAGS)?,
        software_version: SoftwareVersion {
            major: c.u8(scin::SOFTWARE_MAJOR)?,
            minor: c.u8(scin::SOFTWARE_MINOR)?,
            build: c.u16_le(scin::SOFTWARE_BUILD)?,
        },
        first_lsn: Lsn::read(c, scin::FIRST_LSN)?,
        last_lsn: Lsn::read(c, scin::LAST_LSN)?,
        checkpoint_lsn: Lsn::read(c, scin::CHECKPOINT_LSN)?,
        database_backup_lsn: Lsn::read(c, scin::DATABASE_BACKUP_LSN)?,
        differential_base_lsn: Lsn::read(c, scin::DIFFERENTIAL_BASE_LSN)?,
        database_creation_date: MtfDate::read(c, scin::DATABASE_CREATION_DATE)?,
        backup_start_date: MtfDate::read(c, scin::BACKUP_START_DATE)?,
        backup_finish_date: MtfDate::read(c, scin::BACKUP_FINISH_DATE)?,
        type_letter,
        backup_type: BackupType::from_letter(type_letter),
        compatibility_level: c.u8(scin::COMPATIBILITY_LEVEL)?,
        database_version,
        backup_size: c.u64_le(scin::BACKUP_SIZE)?,
        compressed_backup_size,
        database_name: raw::tape_address_string(c, 0, scin::DATABASE_NAME)?,
        server_name: raw::tape_address_string(c, 0, scin::SERVER_NAME)?,
        database_guid: Guid::read(c, scin::DATABASE_GUID)?,
        last_full_backup_guid: Guid::read(c, scin::LAST_FULL_BACKUP_GUID)?,
        differential_base_guid: Guid::read(c, scin::DIFFERENTIAL_BASE_GUID)?,
        collation: c.array(scin::COLLATION)?,
    })
}

fn parse_sfin(c: &Bytes<'_>) -> Parse<DatabaseFile> {
    let file_type = match c.u32_le(sfin::TYPE)? {
        1 => FileType::Data,
        2 => FileType::Log,
        _ => FileType::Other,
    };
    Ok(DatabaseFile {
        logical_name: raw::tape_address_string(c, 0, sfin::LOGICAL_NAME)?,
        physical_name: raw::tape_address_string(c, 0, sfin::PHYSICAL_NAME)?,
        file_type,
        size: c.u64_le(sfin::SIZE)?,
        file_id: c.u32_le(sfin::FILE_ID)?,
        filegroup_id: c.u32_le(sfin::FILEGROUP_ID)?,
    })
}

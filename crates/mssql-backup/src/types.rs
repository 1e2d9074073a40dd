//! Value types of the backup header: LSNs, GUIDs, MTF dates, backup types. Each serializes the
//! way a DBA reads it (LSNs as RESTORE HEADERONLY prints them, GUIDs in registry format).

use std::fmt;

use serde::{Serialize, Serializer};

use super::cursor::{Bytes, Parse};

/// A SQL Server log sequence number: VLF sequence, log block, slot [note §2.4].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn {
    /// Virtual log file sequence number.
    pub vlf: u32,
    /// Log block offset.
    pub block: u32,
    /// Slot in the block.
    pub slot: u16,
}

impl Lsn {
    /// Reads the 10-byte LSN at `at`; all zero is SQL NULL and gives `None`.
    pub fn read(bytes: &Bytes<'_>, at: u64) -> Parse<Option<Lsn>> {
        let lsn = Lsn {
            vlf: bytes.u32_le(at)?,
            block: bytes.u32_le(at + 4)?,
            slot: bytes.u16_le(at + 8)?,
        };
        Ok((lsn != Lsn::default()).then_some(lsn))
    }

    /// The decimal number RESTORE HEADERONLY prints: `vlf·10^15 + block·10^5 + slot`.
    pub fn as_decimal(&self) -> u128 {
        u128::from(self.vlf) * 1_000_000_000_000_000
            + u128::from(self.block) * 100_000
            + u128::from(self.slot)
    }

    /// The 10 bytes SQL Server stores.
    pub fn to_bytes(&self) -> [u8; 10] {
        let mut out = [0u8; 10];
        out[..4].copy_from_slice(&self.vlf.to_le_bytes());
        out[4..8].copy_from_slice(&self.block.to_le_bytes());
        out[8..].copy_from_slice(&self.slot.to_le_bytes());
        out
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_decimal())
    }
}

impl Serialize for Lsn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A Windows GUID, stored in `bytes_le` order (Data1-3 little-endian) [note §2.4].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// Reads the GUID at `at`; all zero gives `None`.
    pub fn read(bytes: &Bytes<'_>, at: u64) -> Parse<Option<Guid>> {
        let raw: [u8; 16] = bytes.array(at)?;
        Ok((raw != [0; 16]).then_some(Guid(raw)))
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{}",
            b[3],
            b[2],
            b[1],
            b[0],
            b[5],
            b[4],
            b[7],
            b[6],
            b[8],
            b[9],
            hex::encode(&b[10..])
        )
    }
}

impl Serialize for Guid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An `MTF_DATE_TIME`: 5 bytes, big-endian bit packing, server local time [MTF §4, note §2.4].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct MtfDate {
    /// Year.
    pub year: u16,
    /// Month 1-12.
    pub month: u8,
    /// Day 1-31.
    pub day: u8,
    /// Hour 0-23.
    pub hour: u8,
    /// Minute.
    pub minute: u8,
    /// Second.
    pub second: u8,
}

impl MtfDate {
    /// Reads the 5-byte date at `at`; all zero gives `None`.
    pub fn read(bytes: &Bytes<'_>, at: u64) -> Parse<Option<MtfDate>> {
        let raw: [u8; 5] = bytes.array(at)?;
        let v = raw.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        if v == 0 {
            return Ok(None);
        }
        let field = |shift: u32, mask: u64| u8::try_from((v >> shift) & mask).unwrap_or(0);
        Ok(Some(MtfDate {
            year: u16::try_from(v >> 26).unwrap_or(0),
            month: field(22, 15),
            day: field(17, 31),
            hour: field(12, 31),
            minute: field(6, 63),
            second: field(0, 63),
        }))
    }

    /// The 5 bytes MTF stores.
    pub fn to_bytes(&self) -> [u8; 5] {
        let v = (u64::from(self.year) << 26)
            | (u64::from(self.month) << 22)
            | (u64::from(self.day) << 17)
            | (u64::from(self.hour) << 12)
            | (u64::from(self.minute) << 6)
            | u64::from(self.second);
        let b = v.to_be_bytes();
        [b[3], b[4], b[5], b[6], b[7]]
    }
}

impl fmt::Display for MtfDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

impl Serialize for MtfDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What a backup set holds: the msdb `backupset.type` letter at SCIN+0x57 [note §4.2].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackupType {
    /// `D`: full database backup (HEADERONLY BackupType 1).
    Full,
    /// `I`: differential database backup (5).
    Differential,
    /// `L`: transaction log backup (2).
    Log,
    /// `F`: file or filegroup backup (4).
    File,
    /// `G`: differential file backup (6).
    DifferentialFile,
    /// `P`: partial backup (7).
    Partial,
    /// `Q`: differential partial backup (8).
    DifferentialPartial,
}

impl BackupType {
    /// From the type letter; `None` for an unknown letter.
    pub fn from_letter(letter: u8) -> Option<BackupType> {
        Some(match letter {
            b'D' => BackupType::Full,
            b'I' => BackupType::Differential,
            b'L' => BackupType::Log,
            b'F' => BackupType::File,
            b'G' => BackupType::DifferentialFile,
            b'P' => BackupType::Partial,
            b'Q' => BackupType::DifferentialPartial,
            _ => return None,
        })
    }

    /// The letter SQL Server stores.
    pub fn letter(self) -> u8 {
        match self {
            BackupType::Full => b'D',
            BackupType::Differential => b'I',
            BackupType::Log => b'L',
            BackupType::File => b'F',
            BackupType::DifferentialFile => b'G',
            BackupType::Partial => b'P',
            BackupType::DifferentialPartial => b'Q',
        }
    }

    /// The JSON name (`full`, `differential`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            BackupType::Full => "full",
            BackupType::Differential => "differential",
            BackupType::Log => "log",
            BackupType::File => "file",
            BackupType::DifferentialFile => "differential-file",
            BackupType::Partial => "partial",
            BackupType::DifferentialPartial => "differential-partial",
        }
    }
}

impl fmt::Display for BackupType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which container the backup uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Container {
    /// Plain Microsoft Tape Format, starting with `TAPE`.
    Mtf,
    /// `BACKUP ... WITH COMPRESSION`: the `MSSQLBAK` record container (note §6).
    Mssqlbak,
}

impl Container {
    /// `mtf` or `mssqlbak`.
    pub fn as_str(self) -> &'static str {
        match self {
            Container::Mtf => "mtf",
            Container::Mssqlbak => "mssqlbak",
        }
    }
}

/// The SQL Server version (`major.minor.build`) that wrote the backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct SoftwareVersion {
    /// 9 (2005) ... 16 (2022).
    pub major: u8,
    /// 0, or 50 for 2008 R2.
    pub minor: u8,
    /// Build number.
    pub build: u16,
}

impl fmt::Display for SoftwareVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.build)
    }
}

impl Serialize for SoftwareVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_guid_and_date_print_like_sql_server() {
        let lsn = Lsn {
            vlf: 25,
            block: 57,
            slot: 64,
        };
        assert_eq!(lsn.to_string(), "25000000005700064");
        let bytes = lsn.to_bytes();
        assert_eq!(Lsn::read(&Bytes::new(&bytes), 0).unwrap(), Some(lsn));
        assert_eq!(Lsn::read(&Bytes::new(&[0; 10]), 0).unwrap(), None);

        // MediaSetId of singlerestore.bak at 0xA2 (note §5).
        let raw = hex::decode("fae39b584ba77d438d983e56bac0d87d").unwrap();
        let guid = Guid::read(&Bytes::new(&raw), 0).unwrap().unwrap();
        assert_eq!(guid.to_string(), "589be3fa-a74b-437d-8d98-3e56bac0d87d");

        let date = MtfDate {
            year: 2017,
            month: 5,
            day: 18,
            hour: 13,
            minute: 51,
            second: 14,
        };
        let stored = date.to_bytes();
        assert_eq!(MtfDate::read(&Bytes::new(&stored), 0).unwrap(), Some(date));
        assert_eq!(date.to_string(), "2017-05-18T13:51:14");
    }
}

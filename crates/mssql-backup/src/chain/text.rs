//! LSNs and GUIDs as the text DBAs read (RESTORE HEADERONLY's decimal LSN, registry-format
//! GUID), and back: a migration's state file keeps a [`super::ChainPoint`] across restarts, so
//! the text must parse to the same value.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

use super::super::{Guid, Lsn};

const VLF_UNIT: u128 = 1_000_000_000_000_000;
const BLOCK_UNIT: u128 = 100_000;

/// The LSN whose decimal form (`vlf·10^15 + block·10^5 + slot`) is `text`. The form is
/// one-to-one because a block is below 10^10 and a slot below 10^5.
pub fn parse_lsn(text: &str) -> Option<Lsn> {
    let value: u128 = text.trim().parse().ok()?;
    Some(Lsn {
        vlf: u32::try_from(value / VLF_UNIT).ok()?,
        block: u32::try_from((value % VLF_UNIT) / BLOCK_UNIT).ok()?,
        slot: u16::try_from(value % BLOCK_UNIT).ok()?,
    })
}

/// The GUID printed as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (Data1-3 little-endian in memory).
pub fn parse_guid(text: &str) -> Option<Guid> {
    let parts: Vec<&str> = text.trim().split('-').collect();
    let lengths: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    if lengths != [8, 4, 4, 4, 12] {
        return None;
    }
    let raw = hex::decode(parts.concat()).ok()?;
    let b: [u8; 16] = raw.try_into().ok()?;
    let order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
    Some(Guid(order.map(|i| b[i])))
}

/// serde `with` module for an [`Lsn`].
pub mod lsn {
    use super::*;

    /// As its decimal text.
    pub fn serialize<S: Serializer>(lsn: &Lsn, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(lsn)
    }

    /// From its decimal text.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Lsn, D::Error> {
        let text = String::deserialize(d)?;
        parse_lsn(&text).ok_or_else(|| D::Error::custom(format!("not an LSN: {text:?}")))
    }
}

/// serde `with` module for an `Option<Guid>`.
pub mod guid_opt {
    use super::*;

    /// As registry-format text, or null.
    pub fn serialize<S: Serializer>(guid: &Option<Guid>, s: S) -> Result<S::Ok, S::Error> {
        match guid {
            Some(g) => s.collect_str(g),
            None => s.serialize_none(),
        }
    }

    /// From registry-format text, or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Guid>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| parse_guid(&text).ok_or_else(|| D::Error::custom("not a GUID")))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsn_and_guid_text_round_trip() {
        let lsn = Lsn {
            vlf: 39,
            block: 4_294_967_295,
            slot: 65_535,
        };
        assert_eq!(parse_lsn(&lsn.to_string()), Some(lsn));
        assert_eq!(
            parse_lsn("21000000015900037"),
            Some(Lsn {
                vlf: 21,
                block: 159,
                slot: 37
            })
        );
        assert_eq!(parse_lsn("x"), None);
        // vlf beyond u32.
        assert_eq!(parse_lsn("99999999999999999999999999"), None);

        let guid = Guid([
            0xfa, 0xe3, 0x9b, 0x58, 0x4b, 0xa7, 0x7d, 0x43, 0x8d, 0x98, 0x3e, 0x56, 0xba, 0xc0,
            0xd8, 0x7d,
        ]);
        let text = guid.to_string();
        assert_eq!(text, "589be3fa-a74b-437d-8d98-3e56bac0d87d");
        assert_eq!(parse_guid(&text), Some(guid));
        assert_eq!(parse_guid("589be3fa-a74b-437d-8d98"), None);
        assert_eq!(parse_guid("589be3fa-a74b-437d-8d98-3e56bac0d87z"), None);
    }
}

//! Human byte sizes on the command line: `4096`, `64MiB`, `1GiB`, `500MB`, `1.5GiB`.
//!
//! Forms (case-insensitive, optional space before the unit):
//! - no unit or `B`: bytes;
//! - IEC `KiB MiB GiB TiB` and the bare letters `K M G T`: powers of 1024;
//! - SI `KB MB GB TB` (and `kB`): powers of 1000.
//!
//! A fraction is allowed (`1.5GiB`) when the result is a whole number of bytes.

/// Why a size did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnitsError {
    /// Nothing was given.
    #[error("empty size: give a number such as 4096, 64MiB or 1GiB")]
    Empty,
    /// The number part is not a number.
    #[error("{0:?} is not a size: give a number such as 4096, 64MiB or 1GiB")]
    BadNumber(String),
    /// The unit is not one of the documented forms.
    #[error(
        "unknown unit {0:?}: use B, KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB (powers of 1000)"
    )]
    UnknownUnit(String),
    /// A minus sign: sizes and rates are never negative.
    #[error("{0:?} is negative: sizes and rates are positive numbers such as 64MiB or 100MiB/s")]
    Negative(String),
    /// The size does not fit in 64 bits, or is not a whole number of bytes.
    #[error("{0:?} is not a whole number of bytes that fits in 64 bits")]
    OutOfRange(String),
    /// Not a duration of the documented forms.
    #[error(
        "{0:?} is not a duration: give whole seconds, minutes or hours such as 90, 10s, 5m or 1h"
    )]
    BadDuration(String),
}

/// Parses a duration of whole seconds, minutes or hours (`90`, `90s`, `5m`, `1h`), at least
/// one second.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, UnitsError> {
    let trimmed = text.trim();
    let (number, scale) = if let Some(secs) = trimmed.strip_suffix('s') {
        (secs, 1)
    } else if let Some(minutes) = trimmed.strip_suffix('m') {
        (minutes, 60)
    } else if let Some(hours) = trimmed.strip_suffix('h') {
        (hours, 3600)
    } else {
        (trimmed, 1)
    };
    number
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|secs| *secs > 0)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| UnitsError::BadDuration(text.to_owned()))
}

/// Parses a size in bytes; see the module docs for the accepted forms.
pub fn parse_size(text: &str) -> Result<u64, UnitsError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(UnitsError::Empty);
    }
    if text.starts_with('-') {
        return Err(UnitsError::Negative(text.to_owned()));
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let multiplier = unit_multiplier(unit.trim())?;
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err(UnitsError::BadNumber(text.to_owned()));
    }
    let digits = format!("{whole}{fraction}");
    let mantissa: u128 = digits
        .parse()
        .map_err(|_| UnitsError::BadNumber(text.to_owned()))?;
    let scale = 10u128
        .checked_pow(u32::try_from(fraction.len()).unwrap_or(u32::MAX))
        .ok_or_else(|| UnitsError::OutOfRange(text.to_owned()))?;
    let scaled = mantissa
        .checked_mul(u128::from(multiplier))
        .ok_or_else(|| UnitsError::OutOfRange(text.to_owned()))?;
    if scaled % scale != 0 {
        return Err(UnitsError::OutOfRange(text.to_owned()));
    }
    u64::try_from(scaled / scale).map_err(|_| UnitsError::OutOfRange(text.to_owned()))
}

fn unit_multiplier(unit: &str) -> Result<u64, UnitsError> {
    const KI: u64 = 1024;
    const K: u64 = 1000;
    Ok(match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => KI,
        "m" | "mib" => KI.pow(2),
        "g" | "gib" => KI.pow(3),
        "t" | "tib" => KI.pow(4),
        "kb" => K,
        "mb" => K.pow(2),
        "gb" => K.pow(3),
        "tb" => K.pow(4),
        _ => return Err(UnitsError::UnknownUnit(unit.to_owned())),
    })
}

/// Parses a bandwidth in bytes per second: a size per second (`50MiB/s`, `100MB/s`, `4096`)
/// or a bit rate (`200Mbit/s`, `1Gbit/s`, `500kbit`, `800kbps`; bit prefixes are SI, as
/// network links are rated). The `/s` is optional.
pub fn parse_rate(text: &str) -> Result<u64, UnitsError> {
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(UnitsError::Negative(trimmed.to_owned()));
    }
    let per_second = trimmed.strip_suffix("/s").unwrap_or(trimmed);
    let lower = per_second.to_ascii_lowercase();
    let bits_prefix_len = lower
        .strip_suffix("bit")
        .or_else(|| lower.strip_suffix("bps"))
        .map(str::len);
    let Some(prefix_len) = bits_prefix_len else {
        return parse_size(per_second);
    };
    let head = per_second.get(..prefix_len).unwrap_or_default();
    let split = head
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(head.len());
    let (number, prefix) = head.split_at(split);
    let si_unit = match prefix.trim().to_ascii_lowercase().as_str() {
        "" => "",
        "k" => "KB",
        "m" => "MB",
        "g" => "GB",
        "t" => "TB",
        other => return Err(UnitsError::UnknownUnit(format!("{other}bit"))),
    };
    let bits = parse_size(&format!("{number}{si_unit}"))?;
    Ok(bits / 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_sizes_and_rates_are_called_negative() {
        for text in ["-5", "-5MiB/s", " -1GiB", "-100Mbit/s"] {
            assert!(
                matches!(parse_rate(text), Err(UnitsError::Negative(_))),
                "{text}"
            );
        }
        assert!(matches!(parse_size("-64MiB"), Err(UnitsError::Negative(_))));
        assert!(
            parse_rate("-5")
                .unwrap_err()
                .to_string()
                .contains("negative")
        );
    }

    #[test]
    fn rates_accept_bytes_and_bits_per_second() {
        assert_eq!(parse_rate("50MiB/s"), Ok(50 * 1024 * 1024));
        assert_eq!(parse_rate("100MB/s"), Ok(100_000_000));
        assert_eq!(parse_rate("200Mbit/s"), Ok(25_000_000));
        assert_eq!(parse_rate("1Gbit"), Ok(125_000_000));
        assert_eq!(parse_rate("800kbps"), Ok(100_000));
        assert_eq!(parse_rate("4096"), Ok(4096));
        assert!(matches!(
            parse_rate("5Xbit/s"),
            Err(UnitsError::UnknownUnit(_))
        ));
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn parses_documented_forms() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("1 gib"), Ok(1 << 30));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("16G"), Ok(16 << 30));
    }

    #[test]
    fn refuses_nonsense() {
        assert_eq!(parse_size(""), Err(UnitsError::Empty));
        assert!(matches!(parse_size("abc"), Err(UnitsError::UnknownUnit(_))));
        assert!(matches!(
            parse_size("12XB"),
            Err(UnitsError::UnknownUnit(_))
        ));
        assert!(matches!(parse_size("."), Err(UnitsError::BadNumber(_))));
        assert!(matches!(parse_size("1.2.3"), Err(UnitsError::BadNumber(_))));
        assert!(matches!(parse_size("0.1B"), Err(UnitsError::OutOfRange(_))));
        assert!(matches!(
            parse_size("99999999TiB"),
            Err(UnitsError::OutOfRange(_))
        ));
    }
}

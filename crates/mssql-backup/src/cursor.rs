//! A bounds-checked little-endian reader over a byte slice (DESIGN.md habit 1). Every read from
//! file bytes goes through here: offsets are u64, arithmetic is checked, and a short read is a
//! located [`ParseError`], never a panic.

use super::error::{ParseError, ParseErrorKind};

/// Read-only view of bytes whose offset 0 sits at `base` in the file (for located errors).
#[derive(Debug, Clone, Copy)]
pub struct Bytes<'a> {
    data: &'a [u8],
    base: u64,
}

/// Result of a parse step.
pub type Parse<T> = Result<T, ParseError>;

impl<'a> Bytes<'a> {
    /// A view of a whole file.
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data, base: 0 }
    }

    /// A view of decompressed bytes, reported at `base`.
    pub fn with_base(data: &'a [u8], base: u64) -> Self {
        Bytes { data, base }
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        u64::try_from(self.data.len()).unwrap_or(u64::MAX)
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The underlying slice.
    pub fn as_slice(&self) -> &'a [u8] {
        self.data
    }

    /// The file offset of local offset `at` (for error reporting).
    pub fn file_offset(&self, at: u64) -> u64 {
        self.base.saturating_add(at)
    }

    /// An error of `kind` at local offset `at`.
    pub fn error(&self, kind: ParseErrorKind, at: u64) -> ParseError {
        ParseError::new(kind, self.file_offset(at))
    }

    /// `len` bytes at `at`.
    pub fn slice(&self, at: u64, len: u64) -> Parse<&'a [u8]> {
        let end = at
            .checked_add(len)
            .ok_or_else(|| self.error(ParseErrorKind::OffsetOverflow, at))?;
        let truncated = || {
            self.error(
                ParseErrorKind::Truncated {
                    needed: end.saturating_sub(self.len()),
                },
                at,
            )
        };
        let start = usize::try_from(at).map_err(|_| truncated())?;
        let stop = usize::try_from(end).map_err(|_| truncated())?;
        self.data.get(start..stop).ok_or_else(truncated)
    }

    /// A sub-view of `len` bytes at `at`, keeping file offsets.
    pub fn sub(&self, at: u64, len: u64) -> Parse<Bytes<'a>> {
        Ok(Bytes {
            data: self.slice(at, len)?,
            base: self.file_offset(at),
        })
    }

    /// Whether `len` bytes at `at` are inside the view.
    pub fn has(&self, at: u64, len: u64) -> bool {
        at.checked_add(len).is_some_and(|end| end <= self.len())
    }

    /// N bytes at `at` as an array.
    pub fn array<const N: usize>(&self, at: u64) -> Parse<[u8; N]> {
        let bytes = self.slice(at, N as u64)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// u8 at `at`.
    pub fn u8(&self, at: u64) -> Parse<u8> {
        Ok(self.array::<1>(at)?[0])
    }

    /// Little-endian u16 at `at`.
    pub fn u16_le(&self, at: u64) -> Parse<u16> {
        Ok(u16::from_le_bytes(self.array(at)?))
    }

    /// Little-endian u32 at `at`.
    pub fn u32_le(&self, at: u64) -> Parse<u32> {
        Ok(u32::from_le_bytes(self.array(at)?))
    }

    /// Little-endian u64 at `at`.
    pub fn u64_le(&self, at: u64) -> Parse<u64> {
        Ok(u64::from_le_bytes(self.array(at)?))
    }
}

/// `a + b`, or an overflow error at `at`.
pub fn add(bytes: &Bytes<'_>, a: u64, b: u64) -> Parse<u64> {
    a.checked_add(b)
        .ok_or_else(|| bytes.error(ParseErrorKind::OffsetOverflow, a))
}

/// `value` rounded up to a multiple of `align` (a power of two), or an overflow error.
pub fn align_up(bytes: &Bytes<'_>, value: u64, align: u64) -> Parse<u64> {
    let mask = align.saturating_sub(1);
    Ok(add(bytes, value, mask)? & !mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_and_refuses_short_reads() {
        let b = Bytes::new(&[1, 2, 3, 4, 5]);
        assert_eq!(b.u16_le(0).unwrap(), 0x0201);
        assert_eq!(b.u32_le(1).unwrap(), 0x05040302);
        let err = b.u32_le(2).unwrap_err();
        assert_eq!(err.offset, 2);
        assert!(matches!(err.kind, ParseErrorKind::Truncated { needed: 1 }));
        assert!(b.slice(u64::MAX, 2).is_err());
    }
}

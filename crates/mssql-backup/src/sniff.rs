//! What a file is, from its first bytes: a SQL Server backup (`TAPE` or `MSSQLBAK`), or
//! something else we can name for the user [note §10.1].

use super::compressed::MAGIC as MSSQLBAK_MAGIC;

/// The container a file's first bytes announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// Starts with the MTF `TAPE` block.
    Mtf,
    /// Starts with `MSSQLBAK`.
    Mssqlbak,
    /// Not a SQL Server native backup; the text names what it is.
    Other(&'static str),
}

/// Recognisable non-backups, by prefix (file magic numbers from each format's documentation).
const KNOWN: &[(&[u8], &str)] = &[
    (
        b"version https://git-lfs",
        "a git-lfs pointer file, not the backup itself (run `git lfs pull`)",
    ),
    (b"PGDMP", "a PostgreSQL custom-format dump (pg_dump -Fc)"),
    (b"SQLite format 3\0", "an SQLite database file"),
    (
        b"PK\x03\x04",
        "a zip archive (extract the .bak from it first)",
    ),
    (
        b"7z\xBC\xAF\x27\x1C",
        "a 7z archive (extract the .bak from it first)",
    ),
    (
        b"Rar!\x1A\x07",
        "a rar archive (extract the .bak from it first)",
    ),
    (b"\x1F\x8B", "a gzip-compressed file (decompress it first)"),
    (b"-- MySQL dump", "a MySQL dump"),
];

/// Classifies `data` by its first bytes.
pub fn sniff(data: &[u8]) -> Sniffed {
    if data.starts_with(b"TAPE") {
        return Sniffed::Mtf;
    }
    if data.starts_with(MSSQLBAK_MAGIC) {
        return Sniffed::Mssqlbak;
    }
    if data.is_empty() {
        return Sniffed::Other("an empty file");
    }
    if let Some((_, what)) = KNOWN.iter().find(|(magic, _)| data.starts_with(magic)) {
        return Sniffed::Other(what);
    }
    let head = data.get(..512).unwrap_or(data);
    if head
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        return Sniffed::Other("a text file");
    }
    Sniffed::Other("an unrecognised file")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_a_non_backup_is() {
        assert_eq!(sniff(b"TAPE\0\0"), Sniffed::Mtf);
        assert_eq!(sniff(b"MSSQLBAK\x02\0\0\0"), Sniffed::Mssqlbak);
        let other = |data: &[u8]| match sniff(data) {
            Sniffed::Other(what) => what,
            found => panic!("{found:?}"),
        };
        assert!(other(b"").contains("empty"));
        assert!(
            other(b"version https://git-lfs.github.com/spec/v1\noid sha256:00").contains("git-lfs")
        );
        assert!(other(b"PGDMP\x01\x0e").contains("PostgreSQL"));
        assert!(other(b"SQLite format 3\0....").contains("SQLite"));
        assert!(other(b"PK\x03\x04....").contains("zip"));
        assert!(other(b"7z\xBC\xAF\x27\x1C..").contains("7z"));
        assert!(other(b"Rar!\x1A\x07\x01\x00").contains("rar"));
        assert!(other(b"TAP").contains("text"));
        assert!(other(&[0xFF, 0x00, 0x13]).contains("unrecognised"));
    }
}

//! The SQL Server version an RDS instance runs, and which backups it can restore.
//!
//! Database versions per release are from the research note §0 (observed on real backups of
//! every release 2005-2022). The oldest restorable backup per release follows Microsoft's
//! RESTORE documentation ("Compatibility support"): SQL Server 2012 and 2014 restore backups
//! from 2005 on; 2016 and later restore backups from 2008 on.

use std::fmt;

/// Database version of a SQL Server 2005 backup [note §0].
pub const DB_VERSION_2005: u16 = 611;
/// Database version of a SQL Server 2008 backup [note §0].
pub const DB_VERSION_2008: u16 = 655;

/// The database version each release writes, newest last [note §0].
const RELEASES: &[(&str, u16)] = &[
    ("2005", DB_VERSION_2005),
    ("2008", DB_VERSION_2008),
    ("2008 R2", 661),
    ("2012", 706),
    ("2014", 782),
    ("2016", 852),
    ("2017", 869),
    ("2019", 904),
    ("2022", 957),
    // Seen on SQL Server 2025 backups (software 17.x). Not an RDS target (yet): `parse` does
    // not accept it, so such a backup is refused against every RDS engine bak2rds knows.
    ("2025", 998),
];

/// The newest release bak2rds knows, and its database version.
pub fn newest_known() -> (&'static str, u16) {
    RELEASES.last().copied().unwrap_or(("2022", 957))
}

/// A target SQL Server release: what an RDS instance runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetVersion {
    /// Release name as a DBA says it: `2008 R2`, `2019`.
    pub release: &'static str,
    /// The newest database version this release restores (its own).
    pub max_database_version: u16,
    /// The oldest database version this release restores.
    pub min_database_version: u16,
}

/// A `--target-version` that names no known release.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown target version {0:?}: use 2008r2, 2012, 2014, 2016, 2017, 2019, 2022 or an RDS engine version such as 2019_std_ha"
)]
pub struct UnknownTargetVersion(pub String);

impl TargetVersion {
    /// Parses `2008r2|2012|2014|2016|2017|2019|2022`, or an RDS engine version string such as
    /// `2019_std_ha`, `2012_ent_ha`, `2017_web` (the release is what precedes the first `_`).
    pub fn parse(text: &str) -> Result<TargetVersion, UnknownTargetVersion> {
        let lower = text.trim().to_ascii_lowercase();
        let release = lower.split('_').next().unwrap_or_default();
        let key = match release {
            "2008r2" => "2008 R2",
            "2012" | "2014" | "2016" | "2017" | "2019" | "2022" => release,
            _ => return Err(UnknownTargetVersion(text.to_owned())),
        };
        let (release_name, max) = RELEASES
            .iter()
            .find(|(n, _)| *n == key)
            .copied()
            .ok_or_else(|| UnknownTargetVersion(text.to_owned()))?;
        let min = match release_name {
            // 2008 R2 restores everything back to SQL Server 2000 (539); 2005 is the oldest here.
            "2008 R2" | "2012" | "2014" => DB_VERSION_2005,
            _ => DB_VERSION_2008,
        };
        Ok(TargetVersion {
            release: release_name,
            max_database_version: max,
            min_database_version: min,
        })
    }

    /// The `--version` names `synth` and `--target-version` accept, oldest first.
    pub fn names() -> &'static [&'static str] {
        &["2008r2", "2012", "2014", "2016", "2017", "2019", "2022"]
    }
}

impl fmt::Display for TargetVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SQL Server {}", self.release)
    }
}

/// The release that writes `database_version` (the newest release not above it), e.g. "2019";
/// `None` below SQL Server 2005 and above the newest release known, which is never named as
/// an older one.
pub fn release_of(database_version: u16) -> Option<&'static str> {
    if database_version > newest_known().1 {
        return None;
    }
    RELEASES
        .iter()
        .rev()
        .find(|(_, v)| *v <= database_version)
        .map(|(name, _)| *name)
}

/// How a message names the release of `database_version`: `SQL Server 2019`, `a SQL Server
/// newer than 2025`, `an unknown SQL Server release`.
pub fn release_text(database_version: u16) -> String {
    match release_of(database_version) {
        Some(release) => format!("SQL Server {release}"),
        None if database_version > newest_known().1 => {
            format!("a SQL Server newer than {}", newest_known().0)
        }
        None => "an unknown SQL Server release".to_owned(),
    }
}

/// The software major version (`SoftwareVersionMajor`) of each release, for synthetic backups.
pub fn software_major(target: &TargetVersion) -> (u8, u8) {
    match target.release {
        "2008 R2" => (10, 50),
        "2012" => (11, 0),
        "2014" => (12, 0),
        "2016" => (13, 0),
        "2017" => (14, 0),
        "2019" => (15, 0),
        _ => (16, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_releases_and_engine_versions() {
        assert_eq!(
            TargetVersion::parse("2019").unwrap().max_database_version,
            904
        );
        assert_eq!(TargetVersion::parse("2019_std_ha").unwrap().release, "2019");
        assert_eq!(
            TargetVersion::parse("2008R2").unwrap().max_database_version,
            661
        );
        assert_eq!(
            TargetVersion::parse("2012_ent_ha")
                .unwrap()
                .min_database_version,
            611
        );
        assert_eq!(
            TargetVersion::parse("2016_web")
                .unwrap()
                .min_database_version,
            655
        );
        assert!(TargetVersion::parse("2000").is_err());
        assert!(TargetVersion::parse("").is_err());
    }

    #[test]
    fn names_the_release_of_a_database_version() {
        assert_eq!(release_of(904), Some("2019"));
        assert_eq!(release_of(661), Some("2008 R2"));
        assert_eq!(release_of(612), Some("2005"));
        assert_eq!(release_of(500), None);
        assert_eq!(release_of(998), Some("2025"));
        assert_eq!(release_of(1100), None, "never named as an older release");
        assert_eq!(release_text(1100), "a SQL Server newer than 2025");
        assert_eq!(release_text(957), "SQL Server 2022");
        assert!(
            TargetVersion::parse("2025").is_err(),
            "no RDS engine runs it"
        );
    }
}

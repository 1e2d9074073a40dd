//! The restore rules, in one place: where a database stands after some backups were restored,
//! and whether the next one can be. SQL Server's rules as the LSN fields show them [note §4.2]:
//!
//! * a differential restores on top of its own full only: its DifferentialBaseLSN is the full's
//!   CheckpointLSN and its DifferentialBaseGUID the full's BackupSetGUID. It holds every extent
//!   changed since that full, so it also moves a database forward that logs already moved, as
//!   long as it ends later than where the database stands;
//! * a log restores when it covers the point: FirstLSN <= point < LastLSN, where the point is
//!   the LastLSN of the last backup restored. A log that ends at or before the point adds nothing
//!   ("already covered"; that includes an empty log whose FirstLSN = LastLSN = point); a log that
//!   starts after the point leaves a gap.
//!
//! What the header cannot show: the recovery fork inside one database GUID (the fork GUIDs at
//! SCIN+0x9C/0xB8 are not proven, note §4.2). A log of another fork with matching LSNs passes
//! here and is refused by SQL Server itself.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::super::{BackupInfo, BackupType, Guid, Lsn};
use super::problem::{ChainProblem, ChainProblemKind, display};
use super::text;

/// Where a database stands after restoring a full backup and possibly a differential and logs.
/// Kept in a migration's state file, so it serializes (LSNs as decimal text, GUIDs as text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainPoint {
    /// DatabaseName of the backups.
    pub database: String,
    /// The database GUID shared by its backups (SCIN+0x7C), when the header has one.
    #[serde(with = "text::guid_opt")]
    pub database_guid: Option<Guid>,
    /// BackupSetGUID of the full the chain started from.
    #[serde(with = "text::guid_opt")]
    pub full_backup_set_guid: Option<Guid>,
    /// CheckpointLSN of that full: the DifferentialBaseLSN of its differentials.
    #[serde(with = "text::lsn")]
    pub full_checkpoint_lsn: Lsn,
    /// LastLSN of the last backup restored.
    #[serde(with = "text::lsn")]
    pub last_lsn: Lsn,
    /// BackupSetGUID of the last backup restored.
    #[serde(with = "text::guid_opt")]
    pub last_backup_set_guid: Option<Guid>,
    /// A differential was restored.
    pub differential_applied: bool,
    /// How many log backups were restored.
    pub logs_applied: u32,
}

impl ChainPoint {
    /// The point right after restoring `full` (WITH NORECOVERY).
    pub fn after_full(full: &BackupInfo) -> Result<ChainPoint, ChainProblem> {
        let what = format!("the full backup of \"{}\"", full.database_name);
        if full.backup_type != Some(BackupType::Full) {
            return Err(ChainProblem::error(
                ChainProblemKind::NoFull,
                Vec::new(),
                format!(
                    "a restore chain starts with a full backup; this is a {} backup of \"{}\"",
                    type_name(full),
                    full.database_name
                ),
                "start with the full database backup (BACKUP DATABASE ... TO DISK)",
            ));
        }
        let checkpoint = full
            .checkpoint_lsn
            .ok_or_else(|| ChainProblem::missing_lsn(&what, Vec::new(), "CheckpointLSN"))?;
        let last = full
            .last_lsn
            .ok_or_else(|| ChainProblem::missing_lsn(&what, Vec::new(), "LastLSN"))?;
        Ok(ChainPoint {
            database: full.database_name.clone(),
            database_guid: full.database_guid,
            full_backup_set_guid: full.backup_set_guid,
            full_checkpoint_lsn: checkpoint,
            last_lsn: last,
            last_backup_set_guid: full.backup_set_guid,
            differential_applied: false,
            logs_applied: 0,
        })
    }

    /// Whether `next` (a differential or a log, read from `path`) can be restored now; the new
    /// point, or the specific problem.
    pub fn apply(&self, next: &BackupInfo, path: &Path) -> Result<ChainPoint, ChainProblem> {
        self.same_database(next, path)?;
        match next.backup_type {
            Some(BackupType::Differential) => self.apply_differential(next, path),
            Some(BackupType::Log) => self.apply_log(next, path),
            Some(BackupType::Full) => Err(ChainProblem::error(
                ChainProblemKind::FullAgain,
                vec![path.to_path_buf()],
                format!(
                    "{} is a full backup: it starts a new restore chain instead of continuing the one at LSN {}",
                    display(path),
                    self.last_lsn
                ),
                "give the differential and log backups taken after the full already restored, or restore this full as a new migration",
            )),
            _ => Err(ChainProblem::error(
                ChainProblemKind::UnsupportedType,
                vec![path.to_path_buf()],
                format!(
                    "{} is a {} backup; a chain continues with differential or log backups",
                    display(path),
                    type_name(next)
                ),
                "give the database's differential and log backups",
            )),
        }
    }

    fn same_database(&self, next: &BackupInfo, path: &Path) -> Result<(), ChainProblem> {
        if next.database_name != self.database {
            return Err(ChainProblem::other_database(path, next, &self.database));
        }
        match (next.database_guid, self.database_guid) {
            (Some(theirs), Some(ours)) if theirs != ours => Err(ChainProblem::other_fork(
                vec![path.to_path_buf()],
                &self.database,
            )),
            _ => Ok(()),
        }
    }

    fn apply_differential(
        &self,
        diff: &BackupInfo,
        path: &Path,
    ) -> Result<ChainPoint, ChainProblem> {
        let base = diff
            .differential_base_lsn
            .ok_or_else(|| missing(path, "DifferentialBaseLSN"))?;
        let last = diff.last_lsn.ok_or_else(|| missing(path, "LastLSN"))?;
        let guid_differs = matches!(
            (diff.differential_base_guid, self.full_backup_set_guid),
            (Some(theirs), Some(ours)) if theirs != ours
        );
        if base != self.full_checkpoint_lsn || guid_differs {
            return Err(ChainProblem::error(
                ChainProblemKind::WrongBase,
                vec![path.to_path_buf()],
                format!(
                    "{} is a differential of another full backup (base checkpoint LSN {base}); the chain starts from the full with checkpoint LSN {}",
                    display(path),
                    self.full_checkpoint_lsn
                ),
                "use a differential taken after the full backup being restored (its differential_base_lsn must equal the full's checkpoint_lsn), or restore the differential's own full first",
            ));
        }
        if last <= self.last_lsn {
            return Err(ChainProblem::already_covered(path, last, self.last_lsn));
        }
        Ok(ChainPoint {
            last_lsn: last,
            last_backup_set_guid: diff.backup_set_guid,
            differential_applied: true,
            ..self.clone()
        })
    }

    fn apply_log(&self, log: &BackupInfo, path: &Path) -> Result<ChainPoint, ChainProblem> {
        let first = log.first_lsn.ok_or_else(|| missing(path, "FirstLSN"))?;
        let last = log.last_lsn.ok_or_else(|| missing(path, "LastLSN"))?;
        let point = self.last_lsn;
        if last <= point {
            return Err(ChainProblem::already_covered(path, last, point));
        }
        if first > point {
            return Err(ChainProblem::gap(point, path, first));
        }
        Ok(ChainPoint {
            last_lsn: last,
            last_backup_set_guid: log.backup_set_guid,
            logs_applied: self.logs_applied.saturating_add(1),
            ..self.clone()
        })
    }
}

fn missing(path: &Path, which: &str) -> ChainProblem {
    ChainProblem::missing_lsn(&display(path), vec![path.to_path_buf()], which)
}

fn type_name(info: &BackupInfo) -> &'static str {
    info.backup_type.map_or("unknown", BackupType::as_str)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::{Container, SoftwareVersion};

    pub fn lsn(block: u32) -> Lsn {
        Lsn {
            vlf: 21,
            block,
            slot: 1,
        }
    }

    pub fn guid(n: u8) -> Guid {
        Guid([n; 16])
    }

    /// A BackupSetGUID unique to one test backup.
    fn set_guid(kind: BackupType, first: u32, last: u32) -> Guid {
        let mut raw = [0xAB; 16];
        raw[..4].copy_from_slice(&first.to_le_bytes());
        raw[4..8].copy_from_slice(&last.to_le_bytes());
        raw[8] = kind.letter();
        Guid(raw)
    }

    /// A header with only what the chain rules read.
    pub fn info(kind: BackupType, first: u32, last: u32) -> BackupInfo {
        BackupInfo {
            container: Container::Mtf,
            backup_type: Some(kind),
            family_sequence: 1,
            family_count: 1,
            backup_sets: 1,
            set_databases: vec!["Sales".to_owned()],
            database_version: 904,
            database_release: Some("2019"),
            software_version: SoftwareVersion::default(),
            database_name: "Sales".to_owned(),
            server_name: "SRV".to_owned(),
            compatibility_level: 150,
            has_checksums: false,
            compressed: false,
            password_protected: false,
            first_lsn: Some(lsn(first)),
            last_lsn: Some(lsn(last)),
            checkpoint_lsn: Some(lsn(first)),
            database_backup_lsn: None,
            differential_base_lsn: None,
            backup_size: 0,
            compressed_backup_size: None,
            collation: String::new(),
            database_creation_date: None,
            backup_start_date: None,
            backup_finish_date: None,
            backup_name: String::new(),
            block_size: 512,
            media_set_id: None,
            backup_set_guid: Some(set_guid(kind, first, last)),
            database_guid: Some(guid(250)),
            last_full_backup_guid: None,
            differential_base_guid: None,
            filegroups: Vec::new(),
            files: Vec::new(),
        }
    }

    pub fn diff_of(full: &BackupInfo, first: u32, last: u32) -> BackupInfo {
        BackupInfo {
            differential_base_lsn: full.checkpoint_lsn,
            differential_base_guid: full.backup_set_guid,
            ..info(BackupType::Differential, first, last)
        }
    }

    fn p(name: &str) -> &Path {
        Path::new(name)
    }

    #[test]
    fn a_log_applies_only_when_it_covers_the_point() {
        let full = info(BackupType::Full, 100, 120);
        let at_full = ChainPoint::after_full(&full).unwrap();
        assert_eq!(at_full.last_lsn, lsn(120));

        // Covers the point from before it: the first log after a full.
        let log = info(BackupType::Log, 90, 150);
        let at_log = at_full.apply(&log, p("l1.trn")).unwrap();
        assert_eq!((at_log.last_lsn, at_log.logs_applied), (lsn(150), 1));

        // Entirely before the point, or empty at the point: already covered.
        for (first, last) in [(50, 90), (90, 120), (120, 120)] {
            let err = at_full
                .apply(&info(BackupType::Log, first, last), p("old.trn"))
                .unwrap_err();
            assert_eq!(
                err.kind,
                ChainProblemKind::AlreadyCovered,
                "{first}..{last}"
            );
        }

        // Starts after the point: a gap naming both LSNs.
        let err = at_log
            .apply(&info(BackupType::Log, 160, 170), p("l3.trn"))
            .unwrap_err();
        assert_eq!(err.kind, ChainProblemKind::Gap);
        assert_eq!(
            err.lsns,
            Some(super::super::LsnRange {
                from: lsn(150),
                to: lsn(160)
            })
        );
        assert!(
            err.message.contains(&lsn(150).to_string()),
            "{}",
            err.message
        );
        assert!(
            err.message.contains(&lsn(160).to_string()),
            "{}",
            err.message
        );
        assert!(err.fix.contains("msdb"), "{}", err.fix);

        // Continues exactly.
        let next = at_log.apply(&info(BackupType::Log, 150, 170), p("l2.trn"));
        assert_eq!(next.map(|p| p.last_lsn), Ok(lsn(170)));
    }

    #[test]
    fn a_differential_needs_its_own_full_and_must_move_forward() {
        let full = info(BackupType::Full, 100, 120);
        let other_full = info(BackupType::Full, 200, 220);
        let at_full = ChainPoint::after_full(&full).unwrap();

        let diff = diff_of(&full, 130, 140);
        let at_diff = at_full.apply(&diff, p("d.bak")).unwrap();
        assert!(at_diff.differential_applied);
        assert_eq!(at_diff.last_lsn, lsn(140));

        // After logs that went further than the differential: nothing to add.
        let far = at_full
            .apply(&info(BackupType::Log, 100, 300), p("l.trn"))
            .unwrap();
        let err = far.apply(&diff, p("d.bak")).unwrap_err();
        assert_eq!(err.kind, ChainProblemKind::AlreadyCovered);

        // Based on another full: by LSN, and by GUID with the same LSN.
        let err = at_full
            .apply(&diff_of(&other_full, 230, 240), p("d2.bak"))
            .unwrap_err();
        assert_eq!(err.kind, ChainProblemKind::WrongBase);
        let forged = BackupInfo {
            differential_base_guid: Some(guid(77)),
            ..diff.clone()
        };
        let err = at_full.apply(&forged, p("d3.bak")).unwrap_err();
        assert_eq!(err.kind, ChainProblemKind::WrongBase);
    }

    #[test]
    fn refuses_other_databases_forks_and_fulls() {
        let full = info(BackupType::Full, 100, 120);
        let at_full = ChainPoint::after_full(&full).unwrap();
        let log = info(BackupType::Log, 100, 150);

        let renamed = BackupInfo {
            database_name: "Other".to_owned(),
            ..log.clone()
        };
        let err = at_full.apply(&renamed, p("x.trn")).unwrap_err();
        assert_eq!(err.kind, ChainProblemKind::OtherDatabase);

        let forked = BackupInfo {
            database_guid: Some(guid(1)),
            ..log.clone()
        };
        let err = at_full.apply(&forked, p("x.trn")).unwrap_err();
        assert_eq!(err.kind, ChainProblemKind::OtherFork);

        let err = at_full.apply(&full, p("f.bak")).unwrap_err();
        assert_eq!(err.kind, ChainProblemKind::FullAgain);

        let no_lsn = BackupInfo {
            first_lsn: None,
            ..log.clone()
        };
        let err = at_full.apply(&no_lsn, p("x.trn")).unwrap_err();
        assert_eq!(err.kind, ChainProblemKind::Corrupt);

        let err = ChainPoint::after_full(&log).unwrap_err();
        assert_eq!(err.kind, ChainProblemKind::NoFull);
    }

    #[test]
    fn point_round_trips_through_json() {
        let full = info(BackupType::Full, 100, 120);
        let point = ChainPoint::after_full(&full)
            .unwrap()
            .apply(&info(BackupType::Log, 100, 150), p("l.trn"))
            .unwrap();
        let json = serde_json::to_string(&point).unwrap();
        assert!(
            json.contains("\"last_lsn\":\"21000000015000001\""),
            "{json}"
        );
        let back: ChainPoint = serde_json::from_str(&json).unwrap();
        assert_eq!(back, point);
        assert!(
            serde_json::from_str::<ChainPoint>(&json.replace("21000000015000001", "x")).is_err()
        );
    }
}

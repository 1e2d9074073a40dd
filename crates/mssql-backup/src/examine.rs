//! From bytes to a [`Report`]: sniff the container, walk it, read the first set's header, then
//! turn facts into findings, each with its fix [note §10 gives the order].

use super::cursor::Bytes;
use super::error::{ParseError, ParseErrorKind};
use super::mtf::{SetBlocks, Walk};
use super::sniff::{Sniffed, sniff};
use super::sqlmeta::SetHeader;
use super::target::{self, TargetVersion};
use super::verdict::{Finding, Rules, Severity, Verdict, verdict_of};
use super::{BackupInfo, BackupType, Container, PageLayout, Report, compressed, mtf, names, pages};

/// Examines one backup file's bytes against `rules`. Never panics, whatever the bytes.
pub fn examine(data: &[u8], rules: &Rules) -> Report {
    let container = match sniff(data) {
        Sniffed::Mtf => Container::Mtf,
        Sniffed::Mssqlbak => Container::Mssqlbak,
        Sniffed::Other(what) => return not_a_backup(what),
    };
    let bytes = Bytes::new(data);
    let (walk, structure) = match container {
        Container::Mtf => mtf::walk(&bytes),
        Container::Mssqlbak => compressed::walk(&bytes),
    };
    let backup = backup_info(&walk, container);
    let mut findings = Vec::new();
    if let Err(error) = structure {
        findings.push(corrupt(error));
    } else if backup.is_none() {
        findings.push(corrupt(ParseError::new(
            ParseErrorKind::MissingConfigInfo,
            0,
        )));
    }
    if let Some(info) = &backup {
        findings.extend(judge_backup(info, rules));
    }
    if let Some(file_name) = &rules.file_name {
        let backup_type = backup.as_ref().and_then(|b| b.backup_type);
        findings.extend(object_key_finding(file_name, backup_type));
    }
    let mut page_check = None;
    if rules.verify_pages && structure.is_ok() {
        match container {
            Container::Mtf => {
                let check = pages::verify(data, &walk.pages);
                findings.push(pages_finding(&check));
                page_check = Some(check);
            }
            Container::Mssqlbak => findings.push(Finding::note(
                Severity::Info,
                "pages-compressed",
                "page checksums cannot be recomputed in a compressed backup".to_owned(),
                "RESTORE VERIFYONLY ... WITH CHECKSUM on the source server checks them",
            )),
        }
    }
    findings.sort_by_key(|f| f.severity);
    Report {
        verdict: verdict_of(&findings),
        findings,
        backup,
        pages: page_check,
    }
}

/// Where `data`'s checksummed data pages are, for a reader that checks them as it goes (an
/// upload). Reads the container's structure only, like the header inspection.
pub fn page_layout(data: &[u8]) -> PageLayout {
    match sniff(data) {
        Sniffed::Mtf => match mtf::walk(&Bytes::new(data)) {
            (walk, Ok(())) => PageLayout::Pages(walk.pages),
            (_, Err(error)) => PageLayout::Unreadable(error),
        },
        Sniffed::Mssqlbak => PageLayout::Compressed,
        Sniffed::Other(_) => PageLayout::NotABackup,
    }
}

fn not_a_backup(what: &str) -> Report {
    let finding = Finding::for_class(
        Verdict::RejectNotBackup,
        "not-backup",
        format!("not a SQL Server native backup: this is {what}"),
        "give bak2rds the file written by BACKUP DATABASE ... TO DISK",
    );
    Report {
        verdict: Verdict::RejectNotBackup,
        findings: vec![finding],
        backup: None,
        pages: None,
    }
}

fn corrupt(error: ParseError) -> Finding {
    Finding::for_class(
        Verdict::RejectCorrupt,
        "corrupt",
        format!(
            "the backup is truncated or damaged: {error}; RDS would fail the task with \"Failed to verify …: the backup file may be corrupted or from a version newer than the destination RDS instance\""
        ),
        "copy the file again and compare its size and checksum with the original, or take a new backup",
    )
}

/// The first set's header: the trailing `MSLS` copy when readable (final sizes and dates),
/// else the leading `MSCI` copy [note §4, §10.4].
fn backup_info(walk: &Walk, container: Container) -> Option<BackupInfo> {
    let first = walk.sets.first()?;
    let (header, files, filegroups) = pick_config(first)?;
    let media = &walk.media;
    Some(BackupInfo {
        container,
        backup_type: header.backup_type,
        family_sequence: media.family_sequence,
        family_count: media.family_count,
        backup_sets: u32::try_from(walk.sets.len()).unwrap_or(u32::MAX),
        set_databases: walk
            .sets
            .iter()
            .map(|set| {
                pick_config(set).map_or_else(String::new, |(h, _, _)| h.database_name.clone())
            })
            .collect(),
        database_version: header.database_version,
        database_release: target::release_of(header.database_version),
        software_version: header.software_version,
        database_name: header.database_name.clone(),
        server_name: header.server_name.clone(),
        compatibility_level: header.compatibility_level,
        has_checksums: header.flags & super::raw::scin::FLAG_HAS_CHECKSUMS != 0,
        compressed: container == Container::Mssqlbak,
        password_protected: media.media_password || walk.sets.iter().any(|s| s.set.password),
        first_lsn: header.first_lsn,
        last_lsn: header.last_lsn,
        checkpoint_lsn: header.checkpoint_lsn,
        database_backup_lsn: header.database_backup_lsn,
        differential_base_lsn: header.differential_base_lsn,
        backup_size: header.backup_size,
        compressed_backup_size: header.compressed_backup_size,
        collation: hex::encode(header.collation),
        database_creation_date: header.database_creation_date,
        backup_start_date: header.backup_start_date,
        backup_finish_date: header.backup_finish_date,
        backup_name: first.set.name.clone(),
        block_size: media.physical_block,
        media_set_id: media.media_set_id,
        backup_set_guid: first.set.backup_set_guid,
        database_guid: header.database_guid,
        last_full_backup_guid: header.last_full_backup_guid,
        differential_base_guid: header.differential_base_guid,
        filegroups: filegroups.to_vec(),
        files: files.to_vec(),
    })
}

type Picked<'a> = (
    &'a SetHeader,
    &'a [super::DatabaseFile],
    &'a [super::Filegroup],
);

fn pick_config(set: &SetBlocks) -> Option<Picked<'_>> {
    [set.trailing.as_ref(), set.leading.as_ref()]
        .into_iter()
        .flatten()
        .find_map(|c| {
            c.header
                .as_ref()
                .map(|h| (h, c.files.as_slice(), c.filegroups.as_slice()))
        })
}

/// A file whose backup sets hold more than one database: each named with its positions, and
/// what RDS would restore (position 1 only).
fn mixed_databases(info: &BackupInfo) -> Option<Finding> {
    let mut names: Vec<(&str, Vec<usize>)> = Vec::new();
    // A set whose header could not be read has no name: it proves no second database.
    let named = info
        .set_databases
        .iter()
        .enumerate()
        .filter(|(_, n)| !n.is_empty());
    for (index, name) in named {
        match names.iter_mut().find(|(n, _)| *n == name.as_str()) {
            Some((_, positions)) => positions.push(index + 1),
            None => names.push((name, vec![index + 1])),
        }
    }
    if names.len() < 2 {
        return None;
    }
    let listed: Vec<String> = names
        .iter()
        .map(|(name, positions)| {
            let positions: Vec<String> = positions.iter().map(usize::to_string).collect();
            format!("\"{name}\" (set {})", positions.join(", "))
        })
        .collect();
    Some(Finding::for_class(
        Verdict::WarnMultipleSets,
        "mixed-databases",
        format!(
            "the file mixes backups of {} databases: {}; RDS restores the first set only, a \
             backup of \"{}\"",
            names.len(),
            listed.join(", "),
            info.set_databases.first().map_or("", String::as_str)
        ),
        "back up each database WITH INIT to a file of its own",
    ))
}

/// The RDS rules that depend on the header [note §0].
fn judge_backup(info: &BackupInfo, rules: &Rules) -> Vec<Finding> {
    let mut findings = Vec::new();
    if info.password_protected {
        findings.push(Finding::for_class(
            Verdict::RejectPassword,
            "password",
            "the backup is protected by MEDIAPASSWORD or PASSWORD; RDS cannot supply a password".to_owned(),
            "back up again without MEDIAPASSWORD/PASSWORD (use BACKUP ... WITH ENCRYPTION or TDE if the file must be protected at rest)",
        ));
    }
    if info.family_count > 1 {
        findings.push(Finding::for_class(
            Verdict::RejectStriped,
            "striped",
            format!(
                "striped backup: this file is family {} of {}; RDS restores from one file, and would fail the task with \"Failed to verify …: The media set has {} media families but only 1 are provided\"",
                info.family_sequence, info.family_count, info.family_count
            ),
            "back up again to a single file (BACKUP DATABASE ... TO DISK = one file)",
        ));
    }
    findings.extend(type_finding(info));
    let (newest, newest_version) = target::newest_known();
    if info.database_version > newest_version {
        findings.push(Finding::note(
            Severity::Warning,
            "newer-than-known",
            format!(
                "database version {} is newer than SQL Server {newest} ({newest_version}), the newest release bak2rds knows: no RDS engine known to restore it",
                info.database_version
            ),
            "check the SQL Server releases RDS offers; a backup never restores on an older release",
        ));
    }
    if let Some(target) = &rules.target_version {
        findings.extend(version_finding(info, target));
    }
    if let Some(name) = &rules.database
        && let Some(problem) = names::database_name_problem(name)
    {
        findings.push(Finding::for_class(
            Verdict::RejectDatabaseName,
            "database-name",
            problem,
            "choose another name with --database (letters, digits and underscores are always safe)",
        ));
    }
    if let Some(mixed) = mixed_databases(info) {
        findings.push(mixed);
    } else if info.backup_sets > 1 {
        findings.push(Finding::for_class(
            Verdict::WarnMultipleSets,
            "multiple-sets",
            format!(
                "the file holds {} backup sets (written WITH NOINIT); RDS restores the first one (position 1)",
                info.backup_sets
            ),
            "if you need a later set, back up again WITH INIT (or FORMAT) to a new file",
        ));
    }
    if info.has_checksums {
        findings.push(Finding::note(
            Severity::Info,
            "backup-checksums",
            "taken WITH CHECKSUM; RESTORE on RDS verifies those checksums (bak2rds cannot: the algorithm is undocumented)".to_owned(),
            "",
        ));
    }
    findings
}

fn type_finding(info: &BackupInfo) -> Option<Finding> {
    let fix_full =
        "take a full backup (BACKUP DATABASE ... TO DISK = one file WITH INIT) and upload that";
    Some(match info.backup_type {
        Some(BackupType::Full) => return None,
        Some(BackupType::Differential) => Finding::for_class(
            Verdict::RejectDifferential,
            "differential",
            "differential backup: RDS restores a single full database backup, and would fail the task with \"… is a database differential backup; we only accept a full backup\"".to_owned(),
            fix_full,
        ),
        Some(BackupType::Log) => Finding::for_class(
            Verdict::RejectLog,
            "log",
            "transaction log backup: RDS restores a single full database backup, and would fail the task with \"… is a transaction log backup; we only accept a full backup\"".to_owned(),
            fix_full,
        ),
        Some(other) => Finding::for_class(
            Verdict::RejectNotFull,
            "not-full",
            format!("{other} backup: RDS restores a full database backup only"),
            fix_full,
        ),
        None => Finding::for_class(
            Verdict::RejectCorrupt,
            "unknown-type",
            "the backup type is not one SQL Server writes".to_owned(),
            "take a new full backup",
        ),
    })
}

fn version_finding(info: &BackupInfo, target: &TargetVersion) -> Option<Finding> {
    let version = info.database_version;
    let release = target::release_text(version);
    if version > target.max_database_version {
        let fix = match info.database_release {
            Some(known) => format!("restore to an instance of SQL Server {known} or later"),
            None => {
                "no RDS engine bak2rds knows restores it: back up from a SQL Server that RDS offers"
                    .to_owned()
            }
        };
        return Some(Finding::for_class(
            Verdict::RejectVersion,
            "target-version",
            format!(
                "backup is from {release} (database version {version}); the target runs {target}, so RDS would fail the task with \"Failed to verify …: the backup file may be corrupted or from a version newer than the destination RDS instance\""
            ),
            &fix,
        ));
    }
    if version < target.min_database_version {
        return Some(Finding::for_class(
            Verdict::RejectVersion,
            "target-version-too-old",
            format!(
                "backup is from {release} (database version {version}); {target} cannot restore backups that old"
            ),
            "restore it on SQL Server 2012 or 2014 first, back up again there, and upload that backup",
        ));
    }
    None
}

/// The key bak2rds would give the object (by the backup's type: `.bak`, `.diff`, `.trn`), when
/// it differs from the file's name.
fn object_key_finding(file_name: &str, backup_type: Option<BackupType>) -> Option<Finding> {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let key = names::object_key_for_backup(base, backup_type.unwrap_or(BackupType::Full));
    (key != base).then(|| {
        Finding::note(
            Severity::Warning,
            "object-key",
            format!("RDS refuses object names with special characters or without the extension of the backup type (.bak, .diff, .trn); bak2rds will upload this file as {key:?}"),
            "nothing to do: bak2rds names the object; rename the file to match if you upload it by hand",
        )
    })
}

fn pages_finding(check: &pages::PageCheck) -> Finding {
    if check.checked == 0 && check.skipped == 0 {
        return Finding::note(
            Severity::Info,
            "pages-none",
            "no data pages to check (a log backup holds log records, not data pages)".to_owned(),
            "",
        );
    }
    if check.checked == 0 && check.failed == 0 {
        // Nothing was verified: saying "ok" would claim a check that did not happen.
        return Finding::note(
            Severity::Warning,
            "pages-unverifiable",
            format!(
                "page checksums not verifiable: none of the {} data pages carries a checksum (the database's PAGE_VERIFY option was not CHECKSUM when they were written)",
                check.skipped
            ),
            "run DBCC CHECKDB on the source before the backup; ALTER DATABASE ... SET PAGE_VERIFY CHECKSUM gives pages written from then on a checksum",
        );
    }
    if check.failed == 0 {
        return Finding::note(
            Severity::Info,
            "pages-ok",
            format!(
                "{} data pages match their checksums ({} without a checksum skipped)",
                check.checked, check.skipped
            ),
            "",
        );
    }
    let list: Vec<String> = check
        .first_failures
        .iter()
        .map(|p| format!("{}:{} (offset {:#x})", p.file_id, p.page_id, p.offset))
        .collect();
    Finding::for_class(
        Verdict::RejectCorruptPages,
        "corrupt-pages",
        format!(
            "{} of {} data pages fail their checksum; first: {}",
            check.failed,
            check.checked,
            list.join(", ")
        ),
        "the file was damaged after the backup was written (or the database has damaged pages): copy it again; if the copy fails too, run DBCC CHECKDB on the source and take a new backup WITH CHECKSUM",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_check_that_checked_nothing_is_not_reported_ok() {
        let nothing = pages::PageCheck {
            checked: 0,
            skipped: 432,
            ..pages::PageCheck::default()
        };
        let finding = pages_finding(&nothing);
        assert_eq!(
            (finding.code, finding.severity),
            ("pages-unverifiable", Severity::Warning)
        );
        assert!(
            finding.message.contains("not verifiable"),
            "{}",
            finding.message
        );
        assert!(finding.message.contains("432"));
        assert!(finding.class.is_none(), "a warning, not a refusal");

        let some = pages::PageCheck {
            checked: 10,
            skipped: 2,
            ..pages::PageCheck::default()
        };
        assert_eq!(pages_finding(&some).code, "pages-ok");
        // No pages at all (a log backup) is neither ok nor unverifiable.
        let none = pages_finding(&pages::PageCheck::default());
        assert_eq!((none.code, none.severity), ("pages-none", Severity::Info));
    }

    /// A header of a synthetic 2019 backup, with its database version set to `version`.
    fn header_with_version(version: u16) -> BackupInfo {
        use crate::synth::{SynthDatabase, SynthKind, SynthSpec, write_synthetic};
        let database = SynthDatabase::new("db", TargetVersion::parse("2019").unwrap());
        let mut bytes = Vec::new();
        write_synthetic(
            &mut bytes,
            &SynthSpec::single(database, SynthKind::Full, 1 << 20),
        )
        .unwrap();
        let mut info = examine(&bytes, &Rules::default()).backup.unwrap();
        info.database_version = version;
        info.database_release = target::release_of(version);
        info
    }

    /// First hour 25: every set is considered; a file mixing databases names each.
    #[test]
    fn a_file_mixing_databases_names_each() {
        let mut info = header_with_version(904);
        info.backup_sets = 3;
        info.set_databases = vec!["DB_A".into(), "DB_B".into(), "DB_A".into()];
        let findings = judge_backup(&info, &Rules::default());
        let mixed = findings
            .iter()
            .find(|f| f.code == "mixed-databases")
            .expect("mixed databases named");
        assert!(
            mixed.message.contains("\"DB_A\" (set 1, 3)")
                && mixed.message.contains("\"DB_B\" (set 2)")
                && mixed.message.contains("a backup of \"DB_A\""),
            "{}",
            mixed.message
        );
        assert!(
            findings.iter().all(|f| f.code != "multiple-sets"),
            "said once"
        );
        info.set_databases = vec!["DB_A".into(); 3];
        let findings = judge_backup(&info, &Rules::default());
        assert!(findings.iter().any(|f| f.code == "multiple-sets"));
        assert!(findings.iter().all(|f| f.code != "mixed-databases"));
    }

    #[test]
    fn sql_server_2025_is_named_and_newer_versions_are_never_named_older() {
        let target = Rules {
            target_version: Some(TargetVersion::parse("2022").unwrap()),
            ..Rules::default()
        };
        let findings = judge_backup(&header_with_version(998), &target);
        let version = findings
            .iter()
            .find(|f| f.code == "target-version")
            .unwrap();
        assert!(
            version
                .message
                .contains("SQL Server 2025 (database version 998)"),
            "{}",
            version.message
        );
        assert!(findings.iter().all(|f| f.code != "newer-than-known"));

        let findings = judge_backup(&header_with_version(1100), &target);
        let version = findings
            .iter()
            .find(|f| f.code == "target-version")
            .unwrap();
        assert!(
            version.message.contains("a SQL Server newer than 2025"),
            "{}",
            version.message
        );
        assert!(
            !version.message.contains("SQL Server 2022 (database"),
            "{}",
            version.message
        );
        // Without a target, its own warning.
        let findings = judge_backup(&header_with_version(1100), &Rules::default());
        let newer = findings
            .iter()
            .find(|f| f.code == "newer-than-known")
            .unwrap();
        assert_eq!(newer.severity, Severity::Warning);
        assert!(newer.message.contains("no RDS engine known to restore it"));
    }
}

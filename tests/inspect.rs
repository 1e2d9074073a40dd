//! `bak2rds inspect` against the real fixtures: every MANIFEST.tsv column, golden output,
//! corruption built at test time, and mutated inputs that must never panic.

use std::path::Path;

use mssql_backup::{Report, Rules};

use crate::util::fixtures_dir;

/// One MANIFEST.tsv row, by column name.
struct Row {
    cells: std::collections::HashMap<String, String>,
}

impl Row {
    fn get(&self, column: &str) -> &str {
        self.cells.get(column).map(String::as_str).unwrap_or("")
    }
}

fn manifest(dir: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| Row {
            cells: header
                .iter()
                .zip(l.split('\t'))
                .map(|(h, v)| ((*h).to_owned(), v.to_owned()))
                .collect(),
        })
        .collect()
}

fn examine_file(path: &Path, rules: &Rules) -> Report {
    let data = std::fs::read(path).unwrap();
    mssql_backup::examine(&data, rules)
}

fn lsn_text(lsn: Option<mssql_backup::Lsn>) -> String {
    lsn.map(|l| l.to_string()).unwrap_or_default()
}

/// Every column the manifest gives, as `inspect` reports it, for comparison.
fn reported_columns(report: &Report) -> Vec<(&'static str, String)> {
    let mut out = vec![("expect", report.verdict.as_str().to_owned())];
    let Some(b) = &report.backup else {
        out.push(("container", "other".to_owned()));
        out.push(("sets", "0".to_owned()));
        return out;
    };
    let type_letter = b
        .backup_type
        .map(|t| char::from(t.letter()).to_string())
        .unwrap_or_default();
    out.extend([
        (
            "container",
            match b.container {
                mssql_backup::Container::Mtf => "MTF",
                mssql_backup::Container::Mssqlbak => "MSSQLBAK",
            }
            .to_owned(),
        ),
        (
            "family",
            format!("{}/{}", b.family_sequence, b.family_count),
        ),
        ("sets", b.backup_sets.to_string()),
        ("type", type_letter),
        ("database_version", b.database_version.to_string()),
        ("software_version", b.software_version.to_string()),
        ("database", b.database_name.clone()),
        ("server", b.server_name.clone()),
        ("compat", b.compatibility_level.to_string()),
        (
            "checksums",
            if b.has_checksums { "yes" } else { "no" }.to_owned(),
        ),
        ("first_lsn", lsn_text(b.first_lsn)),
        ("last_lsn", lsn_text(b.last_lsn)),
        ("checkpoint_lsn", lsn_text(b.checkpoint_lsn)),
        ("database_backup_lsn", lsn_text(b.database_backup_lsn)),
        ("differential_base_lsn", lsn_text(b.differential_base_lsn)),
    ]);
    out
}

#[test]
fn every_manifest_column_matches() {
    let Some(dir) = fixtures_dir() else { return };
    let rows = manifest(&dir);
    assert!(rows.len() > 100, "manifest has only {} rows", rows.len());
    let mut mismatches = Vec::new();
    for row in &rows {
        let path = row.get("path");
        let report = examine_file(&dir.join(path), &Rules::default());
        for (column, got) in reported_columns(&report) {
            let want = row.get(column);
            if got != want {
                mismatches.push(format!(
                    "{path}: {column}: manifest {want:?}, inspect {got:?}"
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// `tests/golden/<fixture path, '/' → '__'>.txt|.json`.
fn golden_path(fixture: &str, extension: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{}.{extension}", fixture.replace('/', "__")))
}

fn run_inspect(dir: &Path, args: &[&str]) -> String {
    let output = crate::util::bin()
        .current_dir(dir)
        .arg("inspect")
        .args(args)
        .output()
        .unwrap();
    let code = output.status.code().unwrap();
    assert!(code == 0 || code == 2, "exit {code} for {args:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn golden_text_and_json_for_every_fixture() {
    let Some(dir) = fixtures_dir() else { return };
    let update =
        std::env::var_os(bak2rds::env_vars::BAK2RDS_UPDATE_GOLDEN).is_some_and(|v| v == "1");
    let mut mismatches = Vec::new();
    for row in manifest(&dir) {
        let fixture = row.get("path");
        for (extension, json) in [("txt", false), ("json", true)] {
            let mut args = vec![fixture];
            if json {
                args.insert(0, "--json");
            }
            let got = run_inspect(&dir, &args);
            let path = golden_path(fixture, extension);
            if update {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &got).unwrap();
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(want) if want == got => {}
                Ok(want) => mismatches.push(format!(
                    "{}: differs\n--- want\n{want}\n--- got\n{got}",
                    path.display()
                )),
                Err(_) => mismatches.push(format!("{}: missing", path.display())),
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} golden mismatches (BAK2RDS_UPDATE_GOLDEN=1 rewrites them):\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

fn fixture_bytes(dir: &Path, path: &str) -> Vec<u8> {
    std::fs::read(dir.join(path)).unwrap()
}

const SINGLERESTORE: &str = "dbatools-appveyor-lab/singlerestore/singlerestore.bak";
const COMPRESSED: &str = "misc/JoeyCheung__Databases__TSQLV4.bak";
const SMALL_LOG: &str = "dbatools-appveyor-lab/RestoreTimeClean/RestoreTimeClean_1.trn";

fn verdict(data: &[u8], verify_pages: bool) -> mssql_backup::Verdict {
    let rules = Rules {
        verify_pages,
        ..Rules::default()
    };
    mssql_backup::examine(data, &rules).verdict
}

#[test]
fn corruption_built_from_fixtures_is_refused() {
    let Some(dir) = fixtures_dir() else { return };
    let original = fixture_bytes(&dir, SINGLERESTORE);
    assert_eq!(verdict(&original, true), mssql_backup::Verdict::Accept);

    for cut in [original.len() / 2, original.len() - 512, 0x700] {
        assert_eq!(
            verdict(&original[..cut], false),
            mssql_backup::Verdict::RejectCorrupt,
            "truncated at {cut:#x}"
        );
    }
    // 0x600 is the SSET DBLK, 0xE38 the MQCI stream header (note §5): flip a covered bit.
    for at in [0x600 + 20, 0xE38 + 8] {
        let mut flipped = original.clone();
        flipped[at] ^= 0x10;
        assert_eq!(
            verdict(&flipped, false),
            mssql_backup::Verdict::RejectCorrupt,
            "bit flip at {at:#x}"
        );
    }
    // Zero the set trailer (SFMB ESET ESET SFMB from 0x164200 in this file).
    let mut zeroed = original.clone();
    zeroed[0x164200..].fill(0);
    assert_eq!(
        verdict(&zeroed, false),
        mssql_backup::Verdict::RejectCorrupt
    );

    // A data byte in a page with a checksum (pages start at 0x1E00): only --verify-pages sees it.
    let page = (0..168)
        .map(|i| 0x1E00 + i * 8192)
        .find(|&p| original[p] == 1 && original[p + 1] != 0 && original[p + 5] & 0x2 != 0)
        .unwrap();
    let mut damaged = original.clone();
    damaged[page + 4000] ^= 0x01;
    assert_eq!(verdict(&damaged, false), mssql_backup::Verdict::Accept);
    let rules = Rules {
        verify_pages: true,
        ..Rules::default()
    };
    let report = mssql_backup::examine(&damaged, &rules);
    assert_eq!(report.verdict, mssql_backup::Verdict::RejectCorruptPages);
    let pages = report.pages.unwrap();
    assert_eq!(pages.failed, 1);
    assert_eq!(pages.first_failures[0].offset, page as u64);

    let compressed = fixture_bytes(&dir, COMPRESSED);
    assert_eq!(verdict(&compressed, false), mssql_backup::Verdict::Accept);
    assert_eq!(
        verdict(&compressed[..600_000], false),
        mssql_backup::Verdict::RejectCorrupt
    );
}

mod mutation {
    use proptest::prelude::*;

    use super::*;

    /// Fixture bytes loaded once per test run.
    fn load(path: &str) -> Option<Vec<u8>> {
        fixtures_dir().map(|dir| fixture_bytes(&dir, path))
    }

    /// Byte flips, biased towards the first 16 KiB where the headers live.
    fn flips() -> impl Strategy<Value = Vec<(bool, usize, u8)>> {
        proptest::collection::vec((any::<bool>(), any::<usize>(), 1u8..=255), 0..6)
    }

    fn mutate(original: &[u8], flips: &[(bool, usize, u8)], cut: Option<usize>) -> Vec<u8> {
        let mut data = original.to_vec();
        for &(in_headers, at, xor) in flips {
            let span = if in_headers {
                data.len().min(16 * 1024)
            } else {
                data.len()
            };
            if span > 0 {
                data[at % span] ^= xor;
            }
        }
        if let Some(cut) = cut {
            data.truncate(cut % (original.len() + 1));
        }
        data
    }

    fn check(original: &[u8], flips: &[(bool, usize, u8)], cut: Option<usize>) {
        let data = mutate(original, flips, cut);
        let report = mssql_backup::examine(&data, &Rules::default());
        // A report, never a panic; a pure truncation is corrupt, or not a backup when even the
        // magic is cut.
        if flips.is_empty() && data.len() < original.len() {
            let magic_len = if original.starts_with(b"MSSQLBAK") {
                8
            } else {
                4
            };
            let expected = if data.len() < magic_len {
                mssql_backup::Verdict::RejectNotBackup
            } else {
                mssql_backup::Verdict::RejectCorrupt
            };
            assert_eq!(report.verdict, expected, "cut at {}", data.len());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1200, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn mtf_full_never_panics(flips in flips(), cut in proptest::option::of(any::<usize>())) {
            if let Some(original) = load(SINGLERESTORE) {
                check(&original, &flips, cut);
            }
        }

        #[test]
        fn mtf_log_never_panics(flips in flips(), cut in proptest::option::of(any::<usize>())) {
            if let Some(original) = load(SMALL_LOG) {
                check(&original, &flips, cut);
            }
        }

        #[test]
        fn compressed_never_panics(flips in flips(), cut in proptest::option::of(any::<usize>())) {
            if let Some(original) = load(COMPRESSED) {
                check(&original, &flips, cut);
            }
        }
    }
}

mod cli {
    use super::*;

    fn synth(dir: &Path, name: &str, extra: &[&str]) -> std::path::PathBuf {
        let out = dir.join(name);
        let status = crate::util::bin()
            .args(["--quiet", "synth", out.to_str().unwrap(), "--size", "2MiB"])
            .args(extra)
            .status()
            .unwrap();
        assert!(status.success());
        out
    }

    fn inspect_code(args: &[&std::ffi::OsStr]) -> (i32, String) {
        let output = crate::util::bin()
            .arg("inspect")
            .args(args)
            .output()
            .unwrap();
        (
            output.status.code().unwrap(),
            String::from_utf8(output.stdout).unwrap(),
        )
    }

    #[test]
    fn exit_codes_follow_the_verdicts() {
        let tmp = tempfile::tempdir().unwrap();
        let full = synth(tmp.path(), "full.bak", &[]);
        let log = synth(tmp.path(), "log.bak", &["--kind", "log"]);
        let missing = tmp.path().join("missing.bak");

        let (code, out) = inspect_code(&[full.as_os_str()]);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("verdict   accept"), "{out}");
        let (code, _) = inspect_code(&[full.as_os_str(), log.as_os_str()]);
        assert_eq!(code, 2);
        let (code, out) = inspect_code(&[missing.as_os_str(), full.as_os_str()]);
        assert_eq!(code, 1);
        assert!(
            out.contains("verdict   accept"),
            "the readable file is still reported: {out}"
        );

        let (code, out) = inspect_code(&["--json".as_ref(), full.as_os_str(), missing.as_os_str()]);
        assert_eq!(code, 1);
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(json[0]["verdict"], "accept");
        assert_eq!(json[0]["backup"]["database_version"], 904);
        assert_eq!(json[0]["backup"]["container"], "mtf");
        assert!(json[1]["error"].is_string());
    }

    #[test]
    fn target_version_and_database_name_refuse() {
        let tmp = tempfile::tempdir().unwrap();
        let full = synth(tmp.path(), "new.bak", &["--version", "2022"]);
        let (code, out) = inspect_code(&[
            full.as_os_str(),
            "--target-version".as_ref(),
            "2019_std_ha".as_ref(),
        ]);
        assert_eq!(code, 2);
        assert!(
            out.contains("reject:version") && out.contains("database version 957"),
            "{out}"
        );
        let (code, out) =
            inspect_code(&[full.as_os_str(), "--database".as_ref(), "tempdb".as_ref()]);
        assert_eq!(code, 2);
        assert!(out.contains("reject:database-name"), "{out}");
    }

    #[test]
    fn striped_synth_writes_every_family() {
        let tmp = tempfile::tempdir().unwrap();
        synth(tmp.path(), "set.bak", &["--stripes", "3"]);
        for (name, family) in [("set.bak", 1), ("set_2.bak", 2), ("set_3.bak", 3)] {
            let data = std::fs::read(tmp.path().join(name)).unwrap();
            let report = mssql_backup::examine(&data, &Rules::default());
            assert_eq!(report.verdict, mssql_backup::Verdict::RejectStriped);
            let info = report.backup.unwrap();
            assert_eq!((info.family_sequence, info.family_count), (family, 3));
        }
    }
}

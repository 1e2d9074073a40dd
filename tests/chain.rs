//! Restore chains (`bak::chain`, `inspect --chain`) on real backup histories, checked against the
//! LSNs of MANIFEST.tsv; broken variants of them (a missing log, a stripe, a duplicate, a
//! differential without its full, two databases); synthetic histories for what no fixture has
//! (another database GUID, overlapping logs); and the CLI's text, JSON and exit codes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mssql_backup::chain::{
    ChainFile, ChainProblemKind, ChainReport, SkipReason, build_chains, build_chains_for,
    read_chain_files,
};
use mssql_backup::synth::{SynthChain, SynthDatabase, SynthSpec, write_synthetic_file};
use mssql_backup::{Lsn, TargetVersion};

use crate::util::{bin, fixtures_dir};

const COMPLEX: &str = "dbatools-appveyor-lab/OlaMsFilter/complex";
const DB_WITHOUT_OWNER: &str = "dbatools-appveyor-lab/sql2008-backups/DBWithoutOwner";
const CLEAN_2016: &str = "dbatools-appveyor-lab/restoretimeclean2016";
const CLEAN_2008: &str = "dbatools-appveyor-lab/RestoreTimeClean";

/// MANIFEST.tsv rows by path, each a map of column → value.
struct Manifest(HashMap<String, HashMap<String, String>>);

impl Manifest {
    fn read(dir: &Path) -> Manifest {
        let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
        let rows = lines
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let row: HashMap<String, String> = header
                    .iter()
                    .zip(line.split('\t'))
                    .map(|(h, v)| ((*h).to_owned(), v.to_owned()))
                    .collect();
                (row["path"].clone(), row)
            })
            .collect();
        Manifest(rows)
    }

    fn get(&self, path: &str, column: &str) -> &str {
        self.0
            .get(path)
            .and_then(|row| row.get(column))
            .unwrap_or_else(|| panic!("manifest has no {column} for {path}"))
    }

    fn lsn(&self, path: &str, column: &str) -> String {
        self.get(path, column).to_owned()
    }

    /// Paths of every row under `folder`.
    fn under(&self, folder: &str) -> Vec<String> {
        let prefix = format!("{folder}/");
        let mut paths: Vec<String> = self
            .0
            .keys()
            .filter(|p| p.starts_with(&prefix))
            .cloned()
            .collect();
        paths.sort();
        paths
    }

    /// The first row whose family column is `family`.
    fn with_family(&self, family: &str) -> String {
        let mut paths: Vec<&String> = self
            .0
            .iter()
            .filter(|(_, row)| row.get("family").map(String::as_str) == Some(family))
            .map(|(path, _)| path)
            .collect();
        paths.sort();
        paths.first().map(|p| (*p).clone()).expect("a striped file")
    }
}

/// The fixture path of `file` relative to the fixtures folder.
fn relative(dir: &Path, file: &Path) -> String {
    file.strip_prefix(dir)
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

fn read(paths: &[PathBuf]) -> (Vec<ChainFile>, ChainReport) {
    let (files, problems) = read_chain_files(paths, |path: &std::path::Path| {
        bak2rds::source::SourceFile::open(path)
    });
    assert!(problems.is_empty(), "{problems:?}");
    let report = build_chains(files.clone());
    (files, report)
}

fn lsn_text(lsn: Option<Lsn>) -> String {
    lsn.map(|l| l.to_string()).unwrap_or_default()
}

/// Asserts the one chain of `report` is `expected` (fixture paths, restore order), that each
/// step's LSNs are the manifest's and follow SQL Server's rules by the manifest's numbers, and
/// that every other file of `all` is skipped.
fn assert_chain(
    dir: &Path,
    manifest: &Manifest,
    report: &ChainReport,
    expected: &[&str],
    all: &[String],
) {
    assert!(report.is_clean(), "{:#?}", report.problems);
    assert_eq!(report.chains.len(), 1, "{:#?}", report.chains);
    let chain = &report.chains[0];
    let steps: Vec<String> = chain
        .steps()
        .iter()
        .map(|f| relative(dir, &f.path))
        .collect();
    assert_eq!(steps, expected);
    for file in chain.steps() {
        let path = relative(dir, &file.path);
        assert_eq!(
            lsn_text(file.info.first_lsn),
            manifest.lsn(&path, "first_lsn"),
            "{path}"
        );
        assert_eq!(
            lsn_text(file.info.last_lsn),
            manifest.lsn(&path, "last_lsn"),
            "{path}"
        );
    }
    // The rules, by the manifest's decimal LSNs (same width within one database).
    let number = |path: &str, column: &str| manifest.lsn(path, column).parse::<u128>().unwrap();
    let full = expected[0];
    let mut point = number(full, "last_lsn");
    let mut after_log = false;
    for step in &expected[1..] {
        match manifest.get(step, "type") {
            "I" => {
                assert_eq!(
                    manifest.get(step, "differential_base_lsn"),
                    manifest.get(full, "checkpoint_lsn"),
                    "{step}"
                );
            }
            "L" if after_log => assert_eq!(number(step, "first_lsn"), point, "{step}"),
            "L" => {
                let (first, last) = (number(step, "first_lsn"), number(step, "last_lsn"));
                assert!(
                    first <= point && point < last,
                    "{step} does not cover {point}"
                );
            }
            other => panic!("{step}: type {other} in a chain"),
        }
        after_log = manifest.get(step, "type") == "L";
        point = number(step, "last_lsn");
    }
    assert_eq!(chain.end.last_lsn.to_string(), point.to_string());
    let mut skipped: Vec<String> = report
        .skipped
        .iter()
        .map(|s| relative(dir, &s.path))
        .collect();
    skipped.sort();
    let mut rest: Vec<String> = all
        .iter()
        .filter(|p| !expected.contains(&p.as_str()))
        .cloned()
        .collect();
    rest.sort();
    assert_eq!(skipped, rest);
}

fn complex_folders(dir: &Path) -> Vec<PathBuf> {
    ["Full", "Diff", "Log"]
        .iter()
        .map(|sub| dir.join(COMPLEX).join(sub))
        .collect()
}

#[test]
fn real_histories_give_the_chains_sql_server_restores() {
    let Some(dir) = fixtures_dir() else { return };
    let manifest = Manifest::read(&dir);

    // 2 fulls, 4 differentials, 12 logs: the later full and its later differential; every log
    // (the empty ones included) ends at or before that differential's LastLSN.
    let (_, report) = read(&complex_folders(&dir));
    let all = manifest.under(COMPLEX);
    assert_eq!(all.len(), 18);
    let full2 = format!("{COMPLEX}/Full/test_FULL_20160629_142200.bak");
    let diff4 = format!("{COMPLEX}/Diff/test_DIFF_20160629_142800.bak");
    assert_chain(&dir, &manifest, &report, &[&full2, &diff4], &all);
    let why = |name: &str| {
        report
            .skipped
            .iter()
            .find(|s| s.path.ends_with(name))
            .map(|s| s.why)
    };
    assert_eq!(
        why("test_FULL_20160629_141300.bak"),
        Some(SkipReason::OtherFull)
    );
    assert_eq!(
        why("test_DIFF_20160629_142500.bak"),
        Some(SkipReason::SupersededDifferential)
    );
    assert_eq!(
        why("test_DIFF_20160629_141600.bak"),
        Some(SkipReason::DifferentialOfOtherFull)
    );

    // Without the differentials, the logs carry the chain from the later full.
    let no_diffs: Vec<PathBuf> = ["Full", "Log"]
        .iter()
        .map(|s| dir.join(COMPLEX).join(s))
        .collect();
    let (_, report) = read(&no_diffs);
    let logs: Vec<String> = ["142300", "142600", "142900"]
        .iter()
        .map(|t| format!("{COMPLEX}/Log/test_LOG_20160629_{t}.trn"))
        .collect();
    let expected: Vec<&str> = std::iter::once(full2.as_str())
        .chain(logs.iter().map(String::as_str))
        .collect();
    let all: Vec<String> = all.into_iter().filter(|p| !p.contains("/Diff/")).collect();
    assert_chain(&dir, &manifest, &report, &expected, &all);

    // DBWithoutOwner (WITH CHECKSUM, 2008 R2): full, the later differential; both logs covered.
    let folders: Vec<PathBuf> = ["FULL", "DIFF", "LOG"]
        .iter()
        .map(|s| dir.join(DB_WITHOUT_OWNER).join(s))
        .collect();
    let (_, report) = read(&folders);
    assert_chain(
        &dir,
        &manifest,
        &report,
        &[
            &format!("{DB_WITHOUT_OWNER}/FULL/SQL2008_DBWithoutOwner_FULL_20170518_041741.bak"),
            &format!("{DB_WITHOUT_OWNER}/DIFF/SQL2008_DBWithoutOwner_DIFF_20170518_041826.bak"),
        ],
        &manifest.under(DB_WITHOUT_OWNER),
    );

    // RestoreTimeClean on 2016: full, differential, then the three logs after it; the first
    // log starts before the differential's end and covers it.
    let (_, report) = read(&[dir.join(CLEAN_2016)]);
    let expected: Vec<String> = [
        "RestoreTimeClean.bak",
        "RestoreTimeClean2.bak",
        "RestoreTimeClean2_1.trn",
        "RestoreTimeClean2_2.trn",
        "RestoreTimeClean2_3.trn",
    ]
    .iter()
    .map(|f| format!("{CLEAN_2016}/{f}"))
    .collect();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_chain(
        &dir,
        &manifest,
        &report,
        &expected,
        &manifest.under(CLEAN_2016),
    );
}

#[test]
fn a_missing_middle_log_is_a_gap_naming_both_lsns() {
    let Some(dir) = fixtures_dir() else { return };
    let manifest = Manifest::read(&dir);
    let removed = format!("{CLEAN_2016}/RestoreTimeClean2_2.trn");
    let paths: Vec<PathBuf> = manifest
        .under(CLEAN_2016)
        .iter()
        .filter(|p| **p != removed)
        .map(|p| dir.join(p))
        .collect();
    let (_, report) = read(&paths);
    assert!(!report.is_clean());
    let gaps: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.kind == ChainProblemKind::Gap)
        .collect();
    assert_eq!(gaps.len(), 1, "{:#?}", report.problems);
    let from = manifest.lsn(&format!("{CLEAN_2016}/RestoreTimeClean2_1.trn"), "last_lsn");
    let to = manifest.lsn(
        &format!("{CLEAN_2016}/RestoreTimeClean2_3.trn"),
        "first_lsn",
    );
    assert_eq!(from, manifest.lsn(&removed, "first_lsn"));
    let message = &gaps[0].message;
    assert!(
        message.contains(&from) && message.contains(&to),
        "{message}"
    );
    assert!(gaps[0].fix.contains("msdb") && gaps[0].fix.contains("differential"));
    let range = gaps[0].lsns.unwrap();
    assert_eq!((range.from.to_string(), range.to.to_string()), (from, to));
    // The chain stops before the gap; the log after it waits.
    let chain = &report.chains[0];
    assert!(
        chain
            .logs
            .last()
            .unwrap()
            .path
            .ends_with("RestoreTimeClean2_1.trn")
    );
    assert!(
        report
            .skipped
            .iter()
            .any(|s| s.why == SkipReason::AfterGap && s.path.ends_with("RestoreTimeClean2_3.trn"))
    );
}

#[test]
fn other_databases_and_other_copies_of_one() {
    let Some(dir) = fixtures_dir() else { return };
    let manifest = Manifest::read(&dir);
    let both = [
        dir.join(CLEAN_2016),
        dir.join(DB_WITHOUT_OWNER).join("FULL"),
    ];
    let (files, report) = read(&both);
    assert!(report.is_clean(), "{:#?}", report.problems);
    let names: Vec<&str> = report.chains.iter().map(|c| c.database.as_str()).collect();
    assert_eq!(names, ["DBWithoutOwner", "RestoreTimeClean"]);

    // Asking for one database sets the other's files aside with a warning.
    let only = build_chains_for(files, Some("DBWithoutOwner"));
    assert!(only.is_clean());
    assert_eq!(only.chains.len(), 1);
    let others: Vec<_> = only
        .problems
        .iter()
        .filter(|p| p.kind == ChainProblemKind::OtherDatabase)
        .collect();
    assert_eq!(others.len(), 1);
    assert_eq!(others[0].files.len(), manifest.under(CLEAN_2016).len());

    // The same name on two servers (2008 R2 and 2016): two databases, told apart by GUID.
    let (_, report) = read(&[dir.join(CLEAN_2008), dir.join(CLEAN_2016)]);
    assert_eq!(report.chains.len(), 2, "{:#?}", report.problems);
    assert!(
        report
            .chains
            .iter()
            .all(|c| c.database == "RestoreTimeClean")
    );
    assert_ne!(
        report.chains[0].full.info.database_guid,
        report.chains[1].full.info.database_guid
    );

    // The 2008 R2 full with only the 2016 copy's logs: those logs belong to another copy.
    let mut paths = vec![dir.join(CLEAN_2008).join("RestoreTimeClean.bak")];
    paths.extend(
        manifest
            .under(CLEAN_2016)
            .iter()
            .filter(|p| p.ends_with(".trn"))
            .map(|p| dir.join(p)),
    );
    let (_, report) = read(&paths);
    let fork: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.kind == ChainProblemKind::OtherFork)
        .collect();
    assert_eq!(fork.len(), 1, "{:#?}", report.problems);
    assert_eq!(fork[0].files.len(), 6);
    assert!(!report.is_clean());
}

#[test]
fn stripes_duplicates_and_missing_fulls_are_problems() {
    let Some(dir) = fixtures_dir() else { return };
    let manifest = Manifest::read(&dir);
    let stripe = manifest.with_family("1/2");
    let full = dir
        .join(DB_WITHOUT_OWNER)
        .join("FULL/SQL2008_DBWithoutOwner_FULL_20170518_041741.bak");
    let same_full = dir
        .join(DB_WITHOUT_OWNER)
        .join("FULL/./SQL2008_DBWithoutOwner_FULL_20170518_041741.bak");
    let (_, report) = read(&[full.clone(), dir.join(&stripe), same_full.clone()]);
    let kinds: Vec<ChainProblemKind> = report.problems.iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        [ChainProblemKind::Striped, ChainProblemKind::Duplicate]
    );
    assert_eq!(report.problems[0].files, [dir.join(&stripe)]);
    assert!(report.problems[0].message.contains("family 1 of 2"));
    assert_eq!(report.problems[1].files, [full.clone(), same_full]);
    assert!(!report.is_clean(), "a stripe cannot be restored");
    assert_eq!(report.chains.len(), 1);

    // Differentials and logs without any full.
    let (_, report) = read(&[
        dir.join(DB_WITHOUT_OWNER).join("DIFF"),
        dir.join(DB_WITHOUT_OWNER).join("LOG"),
    ]);
    let kinds: Vec<ChainProblemKind> = report.problems.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, [ChainProblemKind::NoFull]);
    assert_eq!(report.problems[0].files.len(), 4);
    assert!(report.chains.is_empty());

    // A differential whose full is not given, next to another full.
    let (_, report) = read(&[
        dir.join(COMPLEX).join("Full/test_FULL_20160629_142200.bak"),
        dir.join(COMPLEX).join("Diff/test_DIFF_20160629_141600.bak"),
    ]);
    let kinds: Vec<ChainProblemKind> = report.problems.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, [ChainProblemKind::MissingBaseFull]);
    let base = manifest.lsn(
        &format!("{COMPLEX}/Diff/test_DIFF_20160629_141600.bak"),
        "differential_base_lsn",
    );
    assert!(report.problems[0].message.contains(&base));
}

/// Writes `specs` as `name.ext` files into `dir`.
fn write_all(dir: &Path, specs: &[(&str, &SynthSpec)]) -> Vec<PathBuf> {
    specs
        .iter()
        .map(|(name, spec)| {
            let path = dir.join(name);
            write_synthetic_file(&path, spec).unwrap();
            path
        })
        .collect()
}

fn synth_db(seed: u64) -> SynthDatabase {
    SynthDatabase {
        seed,
        ..SynthDatabase::new("Shop", TargetVersion::parse("2019").unwrap())
    }
}

#[test]
fn synthetic_histories_cover_forks_and_overlaps() {
    let tmp = tempfile::tempdir().unwrap();
    let mut history = SynthChain::new(synth_db(1));
    let size = 64 * 1024;
    let full = history.full(size);
    let log1 = history.log(size);
    let diff = history.differential(size);
    let log2 = history.log(size);
    let log3 = history.log(size);
    // A log of another copy of "Shop" (another database GUID).
    let mut elsewhere = SynthChain::new(synth_db(2));
    elsewhere.full(0);
    let foreign = elsewhere.log(size);
    // A log overlapping log3: starts inside log2's range, ends past log2 (another log chain).
    let mut overlapping = log3.clone();
    overlapping.ordinal += 100;
    overlapping.lsns.first = Lsn {
        slot: 7,
        ..log2.lsns.first
    };
    overlapping.lsns.last = Lsn {
        block: log2.lsns.last.block + 4,
        ..log2.lsns.last
    };

    let clean = write_all(
        tmp.path(),
        &[
            ("full.bak", &full),
            ("diff.bak", &diff),
            ("log1.trn", &log1),
            ("log2.trn", &log2),
            ("log3.trn", &log3),
        ],
    );
    let (_, report) = read(&[tmp.path().to_path_buf()]);
    assert!(report.is_clean(), "{:#?}", report.problems);
    let steps: Vec<&Path> = report.chains[0]
        .steps()
        .iter()
        .map(|f| f.path.as_path())
        .collect();
    // log1 ends before the differential; log2 covers the differential's end.
    assert_eq!(steps, [&clean[0], &clean[1], &clean[3], &clean[4]]);
    assert_eq!(report.chains[0].end.last_lsn, log3.lsns.last);

    write_all(
        tmp.path(),
        &[("foreign.trn", &foreign), ("overlap.trn", &overlapping)],
    );
    let (_, report) = read(&[tmp.path().to_path_buf()]);
    let mut kinds: Vec<&str> = report.problems.iter().map(|p| p.kind.as_str()).collect();
    kinds.sort();
    assert_eq!(kinds, ["other_fork", "overlap"], "{:#?}", report.problems);
    let overlap = report
        .problems
        .iter()
        .find(|p| p.kind == ChainProblemKind::Overlap)
        .unwrap();
    assert!(overlap.files.iter().any(|f| f.ends_with("overlap.trn")));
    assert!(!report.is_clean());
}

#[test]
fn cli_prints_the_chain_as_text_and_json() {
    let Some(dir) = fixtures_dir() else { return };
    let folders = complex_folders(&dir);

    let out = bin()
        .arg("inspect")
        .arg("--chain")
        .args(&folders)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("database \"OlaMsFilterTest\""), "{text}");
    let step_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with(['1', '2', '3']))
        .collect();
    assert_eq!(step_lines.len(), 2, "{text}");
    assert!(
        step_lines[0].contains("full") && step_lines[0].ends_with("test_FULL_20160629_142200.bak")
    );
    assert!(step_lines[1].contains("differential") && step_lines[1].contains("21000000024100001"));
    assert!(text.contains("skipped") && text.contains("superseded by the later differential"));
    assert!(text.contains("clean: restore the steps in order"));

    let out = bin()
        .args(["--json", "inspect", "--chain"])
        .args(&folders)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["clean"], true);
    let steps = doc["chains"][0]["steps"].as_array().unwrap();
    let types: Vec<&str> = steps.iter().map(|s| s["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["full", "differential"]);
    assert_eq!(steps[1]["last_lsn"], "21000000024100001");
    assert_eq!(doc["chains"][0]["end"]["last_lsn"], "21000000024100001");
    assert_eq!(doc["skipped"].as_array().unwrap().len(), 16);
    assert_eq!(doc["problems"].as_array().unwrap().len(), 0);

    // A broken chain: exit 2, the problem and its fix in text and JSON.
    let logs_only = dir.join(COMPLEX).join("Log");
    let out = bin()
        .args(["inspect", "--chain"])
        .arg(&logs_only)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("[no_full]") && text.contains("fix: "),
        "{text}"
    );
    let out = bin()
        .args(["--json", "inspect", "--chain=OlaMsFilterTest"])
        .arg(&logs_only)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["clean"], false);
    assert_eq!(doc["problems"][0]["kind"], "no_full");
    assert_eq!(doc["problems"][0]["severity"], "error");
}

/// `synth DIR --chain --logs N` (issue 19, part 3): a full, a differential and N logs that
/// `inspect --chain` restores in order, every step of them, with no problem.
#[test]
fn synth_writes_a_chain_that_inspect_restores_step_by_step() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("Orders");
    let out = bin()
        .args([
            "synth",
            "--chain",
            "--logs",
            "3",
            "--size",
            "4MiB",
            "--database",
            "Orders",
        ])
        .arg(&folder)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bin()
        .args(["--json", "inspect", "--chain"])
        .arg(&folder)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["clean"], true, "{doc}");
    let steps = doc["chains"][0]["steps"].as_array().unwrap();
    let types: Vec<&str> = steps.iter().map(|s| s["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["full", "differential", "log", "log", "log"],
        "{doc}"
    );

    // Written again: refused without --force, so a real backup of that name is never lost.
    let again = bin()
        .args(["synth", "--chain", "--database", "Orders"])
        .arg(&folder)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
}

//! `bak2rds inspect` against the real fixtures: every MANIFEST.tsv column, golden output,
//! corruption built at test time, and mutated inputs that must never panic.

use std::path::Path;

use bak2rds::bak::{self, Report, Rules};

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
    bak::examine(&data, rules)
}

fn lsn_text(lsn: Option<bak::Lsn>) -> String {
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
                bak::Container::Mtf => "MTF",
                bak::Container::Mssqlbak => "MSSQLBAK",
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

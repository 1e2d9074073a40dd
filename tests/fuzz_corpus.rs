//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the very functions the
//! fuzz targets call (each crate's `fuzzing` module), on stable Rust, so a parser regression on any input
//! the fuzzer ever kept fails `cargo test`. Every failing file is reported, not just the first.

use std::path::PathBuf;

fn replay(target: &str, entry: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (the corpus is committed)", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    let failed: Vec<String> = files
        .iter()
        .filter(|path| {
            let data = std::fs::read(path).unwrap();
            std::panic::catch_unwind(|| entry(&data)).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{target}: inputs that panic: {failed:#?}"
    );
}

#[test]
fn bak_examine_corpus() {
    replay("bak_examine", mssql_backup::fuzzing::bak_examine);
}

#[test]
fn bak_compressed_corpus() {
    replay("bak_compressed", mssql_backup::fuzzing::bak_compressed);
}

#[test]
fn oss_xml_corpus() {
    replay("oss_xml", bak2rds_cloud::fuzzing::oss_xml);
}

#[test]
fn rds_json_corpus() {
    replay("rds_json", bak2rds_cloud::fuzzing::rds_json);
}

#[test]
fn emulator_request_corpus() {
    replay(
        "emulator_request",
        bak2rds_emulator::fuzzing::emulator_request,
    );
}

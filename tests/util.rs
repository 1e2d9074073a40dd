//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The folder of real backups (`../shared/fixtures/bak`, or `BAK2RDS_FIXTURES`), or `None` with a
/// printed reason when it is absent (a fresh clone without the shared folder).
pub fn fixtures_dir() -> Option<PathBuf> {
    let dir = std::env::var_os(bak2rds::env_vars::BAK2RDS_FIXTURES)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/bak")
        });
    if dir.join("MANIFEST.tsv").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: no fixtures at {} (set BAK2RDS_FIXTURES to the folder holding MANIFEST.tsv)",
            dir.display()
        );
        None
    }
}

/// The built `bak2rds` binary.
pub fn bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_bak2rds"))
}

/// The environment that points the `bak2rds` binary at an emulator: its endpoints and key (never
/// on the command line). Callers also remove `ALIBABA_CLOUD_PROFILE`, so a profile of the machine
/// running the tests cannot interfere.
pub fn emulator_env(emulator: &bak2rds_emulator::EmulatorHandle) -> [(&'static str, String); 4] {
    use bak2rds::env_vars as var;
    [
        (var::BAK2RDS_OSS_ENDPOINT, emulator.oss_endpoint()),
        (var::BAK2RDS_RDS_ENDPOINT, emulator.rds_endpoint()),
        (
            var::ALIBABA_CLOUD_ACCESS_KEY_ID,
            emulator.access_key_id().to_owned(),
        ),
        (
            var::ALIBABA_CLOUD_ACCESS_KEY_SECRET,
            emulator.access_key_secret().to_owned(),
        ),
    ]
}

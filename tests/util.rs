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

/// Stops a `bak2rds serve` child as a service manager would: SIGTERM, so it removes its
/// temporary data folder (SIGKILL left a 256 MiB folder in the temp dir per test run), then
/// SIGKILL if it has not exited within 10 s.
pub fn stop(child: &mut std::process::Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) only sends a signal to the child this handle owns and has not reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

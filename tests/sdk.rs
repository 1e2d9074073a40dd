//! Alibaba's official Python OSS SDKs and credentials library against `bak2rds serve`
//! (`scripts/sdk/`): the emulator is faithful only if every scenario passes.
//!
//! Needs Python 3 with venv/pip and PyPI (the first run installs the pinned SDKs into
//! `target/sdk-venv`; later runs reuse it). Without PyPI the test fails and says so.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const STS_ID: &str = "STS.SdkSuiteTempKey0001";
const STS_SECRET: &str = "SdkSuiteStsSecret0123456789abcd";
const STS_TOKEN: &str = "CAISsdkSuiteToken+/==";

/// Kills the emulator when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        crate::util::stop(&mut self.0);
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `setup-venv.sh` and returns the venv's python.
fn sdk_python() -> PathBuf {
    let output = Command::new("bash")
        .arg(repo().join("scripts/sdk/setup-venv.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/sdk/setup-venv.sh");
    assert!(
        output.status.success(),
        "scripts/sdk/setup-venv.sh failed ({}): the official SDKs could not be installed from \
         PyPI. This test needs network access to PyPI (or PIP_INDEX_URL pointing at a mirror).",
        output.status
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    PathBuf::from(
        stdout
            .lines()
            .last()
            .expect("setup-venv.sh printed the python path"),
    )
}

fn start_server(config: &Path) -> (Server, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bak2rds"));
    command.args(["serve", "--config"]).arg(config);
    start_serve(command)
}

/// Starts `command` (a `bak2rds serve`) and returns it with the JSON line it printed.
fn start_serve(mut command: Command) -> (Server, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start bak2rds serve");
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    assert!(line.starts_with('{'), "bak2rds serve printed {line:?}");
    (server, line.trim().to_owned())
}

#[test]
fn official_sdks_pass_every_scenario_against_the_emulator() {
    let python = sdk_python();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("emulator.toml");
    std::fs::write(
        &config,
        format!(
            "[[bucket]]\nname = \"sqlbak-test\"\nregion = \"cn-hangzhou\"\n\n\
             [[key]]\nid = \"LTAI5tSdkSuiteKey000001\"\nsecret = \"SdkSuiteSecret0123456789abcdefgh\"\n\n\
             [[key]]\nid = \"{STS_ID}\"\nsecret = \"{STS_SECRET}\"\nsecurity_token = \"{STS_TOKEN}\"\n"
        ),
    )
    .unwrap();
    let (_server, line) = start_server(&config);
    let output = Command::new(python)
        .arg(repo().join("scripts/sdk/oss_scenarios.py"))
        .arg(&line)
        .args([
            "--sts-id",
            STS_ID,
            "--sts-secret",
            STS_SECRET,
            "--sts-token",
            STS_TOKEN,
        ])
        .env("TMPDIR", dir.path())
        .output()
        .expect("run oss_scenarios.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    let summary = stdout
        .lines()
        .rfind(|l| l.starts_with("sdk-oss: "))
        .expect("the suite printed its summary line");
    assert!(
        output.status.success() && summary.ends_with(" 0 failed"),
        "official SDK scenarios failed: {summary}"
    );
    assert_eq!(summary, "sdk-oss: 29 passed, 0 failed");
}

/// Alibaba's official credentials library (`alibabacloud-credentials`) gets temporary keys from
/// the emulated STS (AssumeRole, AssumeRoleWithOIDC) and ECS metadata service, refreshes them
/// when they expire, and the official OSS and RDS SDKs sign with them
/// (`scripts/sdk/credential_scenarios.py`). Keys live 5 s so the refresh is seen in seconds.
#[test]
fn official_credentials_library_gets_credentials_from_the_emulator() {
    let python = sdk_python();
    let dir = tempfile::tempdir().unwrap();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_bak2rds"));
    serve.args(["serve", "--sts-token-ttl", "5s"]);
    let (_server, line) = start_serve(serve);
    let output = Command::new(python)
        .arg(repo().join("scripts/sdk/credential_scenarios.py"))
        .arg(&line)
        .env("TMPDIR", dir.path())
        .output()
        .expect("run credential_scenarios.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    let summary = stdout
        .lines()
        .rfind(|l| l.starts_with("sdk-credentials: "))
        .expect("the suite printed its summary line");
    assert!(
        output.status.success() && summary.ends_with(" 0 failed"),
        "official credentials library scenarios failed: {summary}"
    );
    assert_eq!(summary, "sdk-credentials: 5 passed, 0 failed");
}

/// `scripts/bench-sdk.sh`, the comparison users rerun, still works end to end on a small file:
/// every tool uploads it and gets a row with a real throughput.
#[test]
fn bench_sdk_script_compares_the_three_tools() {
    let python = sdk_python();
    let venv = python
        .parent()
        .and_then(Path::parent)
        .expect("the venv's python is in VENV/bin");
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new("bash")
        .arg(repo().join("scripts/bench-sdk.sh"))
        .args(["--size", "48MiB", "--work-dir"])
        .arg(dir.path())
        .arg("--venv")
        .arg(venv)
        .env("BAK2RDS_BIN", env!("CARGO_BIN_EXE_bak2rds"))
        .output()
        .expect("run scripts/bench-sdk.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "bench-sdk.sh failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("bench-sdk: 5 runs"), "{all}");
    for tool in ["bak2rds", "oss2", "v2"] {
        let rows: Vec<&str> = all.lines().filter(|l| l.starts_with(tool)).collect();
        assert!(!rows.is_empty(), "no row for {tool}:\n{all}");
        for row in rows {
            // Columns after the settings: parts x in flight, seconds, GiB/s, ...
            let gib_per_s: f64 = row
                .split_whitespace()
                .rev()
                .nth(3)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no GiB/s in {row:?}"));
            assert!(gib_per_s > 0.0, "{row}");
        }
    }
    // The scratch folder (synthetic file, emulator data) is removed at exit.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

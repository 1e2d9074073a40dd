//! Secrets never leak: runs of `upload` and `migrate` (successful, failing on a wrong secret,
//! killed half-way, with `--json` and with `RUST_LOG=trace`) use a distinctive AccessKey secret
//! and STS token; everything they print and every file they leave (checkpoints, migration state,
//! the home folder) is searched for the secret, the token, and every signature the emulator
//! verified (recorded on its side, OSS and RDS). `Debug` of every value holding credentials is
//! checked too.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use bak2rds_cloud::oss::{Credentials, OssClient, OssConfig};
use bak2rds_cloud::rds::{RdsClient, RdsClientConfig};
use bak2rds_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use mssql_backup::TargetVersion;
use mssql_backup::synth::{SynthDatabase, SynthKind, SynthSpec, write_synthetic_file};

const KEY_ID: &str = "LTAI5tSecretsProbe0001";
const SECRET: &str = "SECRETxQ7vR2mZ9pL4wK8nB3tY6";
const TOKEN: &str = "CAISTOKENxF5hJ1dS6gA0cVe4uI2oP";
const WRONG_SECRET: &str = "WRONGSECRETk3Jd8Fs0Lq2Wm7Zx";
const INSTANCE: &str = "rm-secret0001";

async fn emulator() -> EmulatorHandle {
    let config = EmulatorConfig::from_toml(&format!(
        "restore_ms = 200\n\
         [[key]]\nid = \"{KEY_ID}\"\nsecret = \"{SECRET}\"\nsecurity_token = \"{TOKEN}\"\n\
         [[instance]]\nid = \"{INSTANCE}\"\n"
    ))
    .unwrap();
    let emulator = Emulator::builder().config(config).start().await.unwrap();
    emulator.requests().keep_records();
    emulator
}

struct Runner<'a> {
    emulator: &'a EmulatorHandle,
    dir: &'a Path,
}

impl Runner<'_> {
    fn command(&self, secret: &str, log: &str) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bak2rds"));
        command
            .env("HOME", self.dir.join("home"))
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", KEY_ID)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", secret)
            .env("ALIBABA_CLOUD_SECURITY_TOKEN", TOKEN)
            .env("RUST_LOG", log)
            .env_remove("ALIBABA_CLOUD_PROFILE")
            .stdin(Stdio::null());
        command
    }

    fn upload(&self, file: &Path, secret: &str, log: &str, extra: &[&str]) -> Command {
        let mut command = self.command(secret, log);
        command
            .arg("upload")
            .arg(file)
            .arg(format!("oss://{}/up/", self.emulator.bucket()))
            .args(["--oss-endpoint", &self.emulator.oss_endpoint(), "--json"])
            .args(["--part-size", "1MiB"])
            .arg("--checkpoint-dir")
            .arg(self.dir.join("checkpoints"))
            .args(extra);
        command
    }

    fn migrate(&self, file: &Path, secret: &str, log: &str) -> Command {
        let mut command = self.command(secret, log);
        command
            .arg("migrate")
            .arg(file)
            .args(["--instance", INSTANCE, "--database", "Vault", "--json"])
            .args(["--bucket", self.emulator.bucket()])
            .args(["--oss-endpoint", &self.emulator.oss_endpoint()])
            .args(["--rds-endpoint", &self.emulator.rds_endpoint()])
            .args(["--part-size", "1MiB"])
            .arg("--checkpoint-dir")
            .arg(self.dir.join("checkpoints"))
            .arg("--state-dir")
            .arg(self.dir.join("state"));
        command
    }
}

async fn output(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// Starts `command`, lets it work for `after`, and SIGKILLs it (its checkpoint stays behind).
async fn killed(mut command: Command, after: Duration) -> Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(after).await;
    tokio::task::spawn_blocking(move || {
        let mut child = child;
        let _ = child.kill();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

fn all_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            all_files(&path, found);
        } else {
            found.push(path);
        }
    }
}

fn percent_encoded(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_token_or_signature_in_output_or_files() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("home")).unwrap();
    let runner = Runner {
        emulator: &emulator,
        dir: dir.path(),
    };
    let backup = dir.path().join("Vault_FULL.bak");
    let database = SynthDatabase::new("Vault", TargetVersion::parse("2019").unwrap());
    write_synthetic_file(
        &backup,
        &SynthSpec::single(database, SynthKind::Full, 3 << 20),
    )
    .unwrap();
    let other = dir.path().join("other.bak");
    std::fs::write(&other, vec![0x5a; 5 << 20]).unwrap();

    let mut outputs = Vec::new();
    // Successes, with every log line tracing emits (ours and the HTTP stack's).
    let up = output(runner.upload(&backup, SECRET, "trace", &[])).await;
    let log = String::from_utf8_lossy(&up.stderr);
    assert!(up.status.success(), "{log}");
    assert!(
        log.contains("TRACE") && log.contains("hyper"),
        "the HTTP stack's trace logs were on"
    );
    outputs.push(("upload v4 trace", up));
    let up_v1 =
        output(runner.upload(&backup, SECRET, "trace", &["--signature-version", "v1"])).await;
    assert!(up_v1.status.success());
    outputs.push(("upload v1 trace", up_v1));
    let done = output(runner.migrate(&backup, SECRET, "bak2rds=debug")).await;
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    outputs.push(("migrate", done));
    // Failures: the server echoes its string to sign (which, for V1, holds the token).
    for (what, command) in [
        (
            "upload wrong secret v4",
            runner.upload(&other, WRONG_SECRET, "trace", &[]),
        ),
        (
            "upload wrong secret v1",
            runner.upload(
                &other,
                WRONG_SECRET,
                "trace",
                &["--signature-version", "v1"],
            ),
        ),
        (
            "migrate wrong secret",
            runner.migrate(&backup, WRONG_SECRET, "trace"),
        ),
    ] {
        let failed = output(command).await;
        assert_eq!(failed.status.code(), Some(1), "{what} fails");
        outputs.push((what, failed));
    }
    let mut tasks = runner.command(WRONG_SECRET, "trace");
    tasks.args(["tasks", "--instance", INSTANCE, "--json"]);
    tasks.args(["--rds-endpoint", &emulator.rds_endpoint()]);
    let tasks = output(tasks).await;
    assert_eq!(tasks.status.code(), Some(1));
    outputs.push(("tasks wrong secret", tasks));
    // Killed half-way: the checkpoint stays on disk.
    let slow = runner.upload(&other, SECRET, "debug", &["--max-rate", "2MiB/s"]);
    outputs.push((
        "upload killed",
        killed(slow, Duration::from_millis(1200)).await,
    ));
    let mut files = Vec::new();
    all_files(dir.path(), &mut files);
    assert!(
        files
            .iter()
            .any(|f| f.starts_with(dir.path().join("checkpoints"))),
        "a checkpoint was left to search"
    );
    assert!(
        files
            .iter()
            .any(|f| f.starts_with(dir.path().join("state")))
    );

    let signatures = emulator.requests().signatures();
    let rds_calls = emulator.requests().count("CreateMigrateTask");
    assert!(
        signatures.len() > 20,
        "{} signatures recorded",
        signatures.len()
    );
    assert!(rds_calls >= 1, "the RDS side was exercised");
    let mut needles = vec![SECRET.to_owned(), TOKEN.to_owned(), WRONG_SECRET.to_owned()];
    for signature in signatures {
        needles.push(percent_encoded(&signature));
        needles.push(signature);
    }
    needles.sort();
    needles.dedup();

    let mut haystacks: Vec<(String, Vec<u8>)> = Vec::new();
    for (what, output) in outputs {
        haystacks.push((format!("{what}: stdout"), output.stdout));
        haystacks.push((format!("{what}: stderr"), output.stderr));
    }
    for file in files {
        haystacks.push((file.display().to_string(), std::fs::read(&file).unwrap()));
    }
    for (what, bytes) in &haystacks {
        let text = String::from_utf8_lossy(bytes);
        for needle in &needles {
            assert!(
                !text.contains(needle.as_str()),
                "{what} contains a secret, token or signature ({} chars)",
                needle.len()
            );
        }
    }
    // The search looked at real output: the object's name is in it.
    assert!(
        haystacks
            .iter()
            .any(|(_, bytes)| String::from_utf8_lossy(bytes).contains("Vault_FULL")),
        "the outputs were captured"
    );
}

#[tokio::test]
async fn debug_of_everything_holding_credentials_redacts() {
    let emulator = emulator().await;
    let credentials = Credentials::new(KEY_ID, SECRET).with_security_token(TOKEN);
    let oss = OssClient::new(
        OssConfig::with_endpoint(&emulator.oss_endpoint(), "cn-hangzhou", emulator.bucket()),
        credentials.clone(),
    )
    .unwrap();
    let mut config = RdsClientConfig::new("cn-hangzhou");
    config.endpoint = Some(emulator.rds_endpoint());
    let rds = RdsClient::new(config, credentials.clone()).unwrap();
    // Exercise the clients so any cached state is populated.
    oss.head_object("nothing").await.unwrap();
    let clients = bak2rds::migrate::Clients {
        oss: oss.clone(),
        oss_for_rds: oss.clone(),
        rds: rds.clone(),
        ram: None,
    };
    let dumps = [
        format!("{credentials:?}"),
        format!("{oss:?}"),
        format!("{rds:?}"),
        format!("{clients:?}"),
        format!("{:?}", emulator.connection_info()),
        format!("{:?}", emulator.state().config),
        format!("{emulator:?}"),
        format!("{:?}", emulator.requests().records()),
    ];
    for dump in &dumps {
        assert!(
            !dump.contains(SECRET) && !dump.contains(TOKEN),
            "Debug shows a secret: {dump}"
        );
    }
    assert!(
        dumps[0].contains(KEY_ID),
        "the key id is not secret and helps debugging"
    );
}

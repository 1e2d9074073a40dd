//! Regression tests of the first-hour issue: defects a new user met trying bak2rds with careless
//! input. One test per point fixed here (the point's number in the test's comment).

use std::process::Stdio;

use bak2rds_emulator::Emulator;
use mssql_backup::TargetVersion;
use mssql_backup::synth::{SynthDatabase, SynthKind, SynthSpec, write_synthetic_file};

use crate::util::bin;

/// A synthetic backup of database Sales, `kind`, `size` bytes, at `path`.
fn sales_backup(path: &std::path::Path, kind: SynthKind, size: u64) {
    let database = SynthDatabase::new("Sales", TargetVersion::parse("2019").unwrap());
    write_synthetic_file(path, &SynthSpec::single(database, kind, size)).unwrap();
}

/// `bak2rds migrate FILE --instance … --database DATABASE --bucket …` against `emulator`, with
/// its checkpoint and state folders in `dir`.
fn migrate_command(
    emulator: &bak2rds_emulator::EmulatorHandle,
    dir: &std::path::Path,
    file: &std::path::Path,
    database: &str,
) -> std::process::Command {
    let mut command = bin();
    command
        .arg("migrate")
        .arg(file)
        .args([
            "--instance",
            &emulator.instance_id(),
            "--database",
            database,
        ])
        .args(["--bucket", emulator.bucket()])
        .arg("--checkpoint-dir")
        .arg(dir.join("checkpoints"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .envs(crate::util::emulator_env(emulator))
        .env_remove("ALIBABA_CLOUD_PROFILE")
        .stdin(Stdio::null());
    command
}

/// An AccessKey pair for servers that never check it (refused before, or not OSS at all).
const TEST_KEYS: [(&str, &str); 2] = [
    ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI5tTestKeyId"),
    ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "test-secret"),
];

/// Standard output then standard error, as one text.
fn all_output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// 10: a usage error exits 1 (2 is "refused"); help and version still exit 0.
#[test]
fn usage_errors_exit_1_not_the_refused_code() {
    for args in [
        &["upload"][..],
        &["upload", "f.bak", "oss://b/k", "--concurrency", "-1"][..],
        &["migrate", "f.bak", "--no-such-flag"][..],
    ] {
        let out = bin().args(args).stdin(Stdio::null()).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}: says what is wrong");
    }
    for args in [
        &["--help"][..],
        &["--version"][..],
        &["upload", "--help"][..],
    ] {
        let out = bin().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!out.stdout.is_empty());
    }
}

/// 20: synth never overwrites a file unless told to.
#[test]
fn synth_keeps_an_existing_file_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("real.trn");
    std::fs::write(&existing, b"a real log backup").unwrap();
    let out = bin()
        .args(["synth", existing.to_str().unwrap(), "--size", "1MiB"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("already exists") && text.contains("--force"),
        "{text}"
    );
    assert_eq!(std::fs::read(&existing).unwrap(), b"a real log backup");
    let out = bin()
        .args([
            "synth",
            existing.to_str().unwrap(),
            "--size",
            "1MiB",
            "--force",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(std::fs::metadata(&existing).unwrap().len() > 1_000_000);
}

/// 2: `upload FILE oss://bucket/prefix/` names the object by the backup's type, as inspect and
/// migrate do: a differential gets `.diff`, a log `.trn`, any other file keeps its name.
// Multi-threaded: the emulator serves while this thread waits for the child process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_names_objects_by_backup_type() {
    let emulator = Emulator::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = SynthDatabase::new("ChainDb", TargetVersion::parse("2019").unwrap());
    let write = |name: &str, kind| {
        let path = dir.path().join(name);
        write_synthetic_file(&path, &SynthSpec::single(database.clone(), kind, 1 << 20)).unwrap();
        path
    };
    let files = [
        (write("diff.bak", SynthKind::Differential), "dd/diff.diff"),
        (
            write("ChainDb_log.bak", SynthKind::Log),
            "dd/ChainDb_log.trn",
        ),
        (
            write("Full Backup (1).bak", SynthKind::Full),
            "dd/Full_Backup_1.bak",
        ),
    ];
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, b"migration notes").unwrap();
    for (file, key) in files.iter().chain([&(notes, "dd/notes.txt")]) {
        let out = bin()
            .arg("upload")
            .arg(file)
            .arg(format!("oss://{}/dd/", emulator.bucket()))
            .args(["--oss-endpoint", &emulator.oss_endpoint()])
            .arg("--checkpoint-dir")
            .arg(dir.path().join("checkpoints"))
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", emulator.access_key_id())
            .env(
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                emulator.access_key_secret(),
            )
            .env_remove("ALIBABA_CLOUD_PROFILE")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            emulator
                .storage()
                .read_object(emulator.bucket(), key)
                .is_some(),
            "{} should be stored as {key}",
            file.display()
        );
    }
}

/// 19: `demo --work-dir DIR` creates DIR and keeps the demo's files there.
#[test]
fn demo_creates_and_keeps_its_work_dir() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("not/yet/there");
    let out = bin()
        .args(["demo", "--size", "4MiB", "--work-dir"])
        .arg(&work)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let runs: Vec<_> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(runs[0].join("DemoSales_FULL.bak").is_file(), "kept: {text}");
    assert!(text.contains("kept in"), "{text}");
}

/// `bak2rds upload f.bak oss://b/k ARGS` with no credentials anywhere (no variables, an empty
/// home folder, so no profile file, and a metadata service that does not answer: not an ECS
/// instance).
fn upload_without_credentials(args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.bak");
    std::fs::write(&file, b"x").unwrap();
    bin()
        .arg("upload")
        .arg(&file)
        .arg("oss://bucket/k.bak")
        .args(args)
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        .env_remove("ALIBABA_CLOUD_PROFILE")
        .env_remove("ALIBABA_CLOUD_CREDENTIALS_URI")
        .env("BAK2RDS_ECS_METADATA_ENDPOINT", "http://127.0.0.1:9")
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs `bak2rds ARGS` with at most 150 open files (`ulimit -n`), expects it refused (exit 1),
/// and returns what it said.
fn refused_under_ulimit_150(args: &[&str]) -> String {
    let out = std::process::Command::new("sh")
        .args(["-c", "ulimit -n 150 && exec \"$0\" \"$@\""])
        .arg(bin().get_program())
        .args(args)
        .env("BAK2RDS_ECS_METADATA_ENDPOINT", "http://127.0.0.1:9")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    text
}

/// 15 and 12: arguments are judged before credentials or the network: a negative rate is
/// called negative, `--days 0` is refused locally.
#[test]
fn bad_numbers_are_refused_before_anything_else() {
    let out = upload_without_credentials(&["--max-rate", "-5"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("negative"), "{text}");
    assert!(
        !text.contains("credentials"),
        "the rate is judged first: {text}"
    );

    // 17: parts in flight are bounded, with the reason.
    let out = upload_without_credentials(&["--concurrency", "100000", "--part-size", "100KiB"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("--concurrency 100000") && text.contains("at most"),
        "{text}"
    );

    // #18: and by the open-file limit, with how to raise it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.bak");
    std::fs::write(&file, b"x").unwrap();
    let text = refused_under_ulimit_150(&[
        "upload",
        file.to_str().unwrap(),
        "oss://bucket/k.bak",
        "--concurrency",
        "64",
    ]);
    assert!(
        text.contains("ulimit -n") && text.contains("at most 43"),
        "{text}"
    );

    // A batch's databases share that limit.
    let folder = dir.path().join("batch");
    std::fs::create_dir(&folder).unwrap();
    for name in ["a.bak", "b.bak"] {
        let synth = bin()
            .args(["synth", "--size", "1MiB"])
            .arg(folder.join(name))
            .output()
            .unwrap();
        assert!(synth.status.success());
    }
    let batch = [
        "migrate",
        "--batch",
        folder.to_str().unwrap(),
        "oss://bucket",
    ];
    let options = [
        "--instance",
        "rm-x",
        "--parallel",
        "4",
        "--concurrency",
        "16",
    ];
    let text = refused_under_ulimit_150(&[&batch[..], &options[..]].concat());
    assert!(
        text.contains("4 databases") && text.contains("about 10 parts"),
        "{text}"
    );

    let out = bin()
        .args(["tasks", "--instance", "rm-x", "--days", "0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--days"));
}

/// 8 and 11: missing credentials are said once, without advice of a flag the command lacks.
#[test]
fn missing_credentials_are_said_once() {
    let out = upload_without_credentials(&["--region", "cn-hangzhou"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(
        text.matches("no Alibaba Cloud credentials").count(),
        1,
        "{text}"
    );
}

/// 1: an object name RDS would refuse is refused before the upload (exit 2, nothing sent),
/// with --dry-run too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_key_rds_refuses_is_refused_before_the_upload() {
    let emulator = Emulator::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("Sales_FULL.bak");
    sales_backup(&file, SynthKind::Full, 2 << 20);
    for dry_run in [true, false] {
        let mut command = migrate_command(&emulator, dir.path(), &file, "Sales");
        command.args(["--key", "we ird/na me!.txt"]);
        if dry_run {
            command.arg("--dry-run");
        }
        let out = command.output().unwrap();
        let text = all_output(&out);
        assert_eq!(out.status.code(), Some(2), "dry run {dry_run}: {text}");
        assert!(
            text.contains("object_key") || text.contains("RDS refuses the object name"),
            "{text}"
        );
        assert!(
            text.contains("na_me_txt.bak"),
            "the fix names a key RDS takes: {text}"
        );
    }
    assert_eq!(
        emulator.requests().count("UploadPart") + emulator.requests().count("PutObject"),
        0
    );
}

/// 5: database names outside RDS's rule are refused before the upload (exit 2), citing the rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_names_outside_rds_rule_are_refused_before_the_upload() {
    let emulator = Emulator::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("Sales_FULL.bak");
    sales_backup(&file, SynthKind::Full, 2 << 20);
    let long = "n".repeat(70);
    for name in ["my db", long.as_str(), "a;drop", "é数据库"] {
        let out = migrate_command(&emulator, dir.path(), &file, name)
            .output()
            .unwrap();
        let text = all_output(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {text}");
        assert!(
            text.contains("CreateDatabase"),
            "{name}: cites the rule: {text}"
        );
    }
    assert_eq!(
        emulator.requests().count("UploadPart") + emulator.requests().count("PutObject"),
        0
    );
}

/// A web server on 127.0.0.1 that answers every request `501 Not Implemented` with an HTML
/// page, as `python3 -m http.server` does to a PUT: not OSS, not RDS. Returns its URL and the
/// count of requests it answered.
async fn not_a_cloud_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counted = std::sync::Arc::clone(&counted);
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 1 << 16];
                while let Ok(n) = stream.read(&mut buffer).await {
                    if n == 0 {
                        break;
                    }
                    if buffer[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                        counted.fetch_add(1, Ordering::SeqCst);
                        let body = "<html><body>Unsupported method</body></html>";
                        let answer = format!(
                            "HTTP/1.1 501 Not Implemented\r\nContent-Type: text/html\r\n\
                             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = stream.write_all(answer.as_bytes()).await;
                        break;
                    }
                }
            });
        }
    });
    (url, count)
}

/// 9: an endpoint that is an HTTP server but not OSS (or not RDS) is named as such at once,
/// not retried as a transient failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_is_not_oss_or_rds_is_named_and_not_retried() {
    let (url, requests) = not_a_cloud_server().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("Sales_FULL.bak");
    sales_backup(&file, SynthKind::Full, 1 << 20);
    let out = bin()
        .arg("upload")
        .arg(&file)
        .arg("oss://bucket/Sales_FULL.bak")
        .args(["--oss-endpoint", &url, "--region", "cn-hangzhou"])
        .arg("--checkpoint-dir")
        .arg(dir.path().join("checkpoints"))
        .envs(TEST_KEYS)
        .env_remove("ALIBABA_CLOUD_PROFILE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("does not answer like OSS") && text.contains("--oss-endpoint"),
        "{text}"
    );
    assert!(!text.contains("transient"), "{text}");
    let sent = requests.load(std::sync::atomic::Ordering::SeqCst);
    assert!(sent <= 3, "not retried: {sent} requests");

    let out = bin()
        .args(["tasks", "--instance", "rm-test", "--rds-endpoint", &url])
        .envs(TEST_KEYS)
        .env_remove("ALIBABA_CLOUD_PROFILE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("does not answer like RDS") && text.contains("--rds-endpoint"),
        "{text}"
    );
    assert!(!text.contains("[request id ]"), "{text}");
}

/// 8: an error names each cause once, and says what to do when the server cannot be reached.
#[test]
fn an_error_names_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.bak");
    let cases: Vec<Vec<std::ffi::OsString>> = vec![
        vec![
            "upload".into(),
            missing.clone().into(),
            "oss://bucket/k.bak".into(),
            "--oss-endpoint".into(),
            "http://127.0.0.1:1".into(),
        ],
        vec![
            "upload".into(),
            dir.path().into(),
            "oss://bucket/k.bak".into(),
            "--oss-endpoint".into(),
            "http://127.0.0.1:1".into(),
        ],
    ];
    for args in cases {
        let out = bin()
            .args(&args)
            .envs(TEST_KEYS)
            .env_remove("ALIBABA_CLOUD_PROFILE")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}");
        for line in text.lines().filter(|l| l.starts_with("error:")) {
            let clauses: Vec<&str> = line.split(": ").collect();
            let unique: std::collections::HashSet<&&str> = clauses.iter().collect();
            assert_eq!(unique.len(), clauses.len(), "a clause repeats: {line}");
        }
    }
    // Nothing listens on port 1: the upload cannot reach OSS, and the fix says what to check.
    let file = dir.path().join("a.bak");
    sales_backup(&file, SynthKind::Full, 1 << 20);
    let out = bin()
        .arg("upload")
        .arg(&file)
        .args(["oss://bucket/a.bak", "--oss-endpoint", "http://127.0.0.1:1"])
        .arg("--checkpoint-dir")
        .arg(dir.path().join("checkpoints"))
        .envs(TEST_KEYS)
        .env_remove("ALIBABA_CLOUD_PROFILE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    let error = text
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default();
    assert_eq!(error.matches("error sending request").count(), 1, "{text}");
    assert!(text.contains("fix: OSS could not be reached"), "{text}");
}

/// 15: an unknown region and an IP endpoint without a scheme are refused locally, before
/// credentials or the network.
#[test]
fn regions_and_endpoints_are_checked_locally() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.bak");
    sales_backup(&file, SynthKind::Full, 1 << 20);
    let file = file.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["upload", file, "oss://bucket/a.bak", "--region", "mars-1"],
            "unknown region \"mars-1\"",
        ),
        (
            &["tasks", "--instance", "rm-x", "--region", "mars-1"],
            "unknown region \"mars-1\"",
        ),
        (
            &[
                "upload",
                file,
                "oss://bucket/a.bak",
                "--oss-endpoint",
                "127.0.0.1:9",
            ],
            "write http://127.0.0.1:9",
        ),
        (
            &[
                "tasks",
                "--instance",
                "rm-x",
                "--rds-endpoint",
                "localhost:9",
            ],
            "write http://localhost:9",
        ),
    ];
    for (args, expected) in cases {
        let out = bin()
            .args(args)
            .env_remove("ALIBABA_CLOUD_PROFILE")
            .envs(TEST_KEYS)
            .env_remove("BAK2RDS_OSS_ENDPOINT")
            .env_remove("BAK2RDS_RDS_ENDPOINT")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {text}");
        assert!(text.contains(expected), "{args:?}: {text}");
    }
}

/// 12: bench judges its arguments before writing its backup, naming the variable an endpoint
/// came from.
#[test]
fn bench_checks_its_arguments_before_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["bench", "--size", "64MiB", "--work-dir"])
        .arg(dir.path())
        .env("BAK2RDS_OSS_ENDPOINT", "http://127.0.0.1:1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("BAK2RDS_OSS_ENDPOINT") && text.contains("--bucket"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

/// 11: every command that calls RDS takes --profile; the environment's keys come before
/// ALIBABA_CLOUD_PROFILE, as in Alibaba's credential chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_flags_are_the_same_everywhere() {
    for command in ["tasks", "watch", "cutover", "upload", "migrate"] {
        let out = bin().args([command, "--help"]).output().unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("--profile"),
            "{command}"
        );
    }
    let emulator = Emulator::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["tasks", "--instance", &emulator.instance_id()])
        .envs(crate::util::emulator_env(&emulator))
        .env("ALIBABA_CLOUD_PROFILE", "nonexist")
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Issue 23: the console's window of a week, said.
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("the console's default window"),
        "{listing}"
    );
    let out = bin()
        .args([
            "tasks",
            "--instance",
            &emulator.instance_id(),
            "--profile",
            "nonexist",
        ])
        .envs(crate::util::emulator_env(&emulator))
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("\"nonexist\" was asked for"), "{text}");
}

/// 22: help reads alike everywhere: short placeholders, global flags under their own heading,
/// the connection and transfer flags grouped, ossutil's name for the rate cap accepted.
#[test]
fn help_reads_alike_in_every_command() {
    let commands = [
        "inspect", "synth", "serve", "upload", "bench", "migrate", "demo", "watch", "tasks",
        "cutover", "explain",
    ];
    for command in commands {
        let out = bin().args([command, "--help"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        for placeholder in text
            .split('<')
            .skip(1)
            .filter_map(|rest| rest.split('>').next())
        {
            assert!(
                !placeholder.contains('_') && placeholder.len() <= 12,
                "{command}: <{placeholder}>"
            );
        }
        let global = text
            .find("Global options:")
            .unwrap_or_else(|| panic!("{command}"));
        let json = text.find("--json").unwrap_or(0);
        assert!(
            json > global,
            "{command}: --json among the command's own flags"
        );
    }
    let out = bin().args(["upload", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for heading in ["OSS connection:", "Transfer:"] {
        assert!(text.contains(heading), "{heading}");
    }
    assert!(text.contains("bwlimit"), "{text}");
    let out = bin().args(["migrate", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("and for `migrate` the RDS one"),
        "the region picks both"
    );
}

/// 21: a refusal is printed once (stdout), not again on stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_is_printed_once() {
    let emulator = Emulator::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("Sales.diff");
    sales_backup(&file, SynthKind::Differential, 1 << 20);
    let out = migrate_command(&emulator, dir.path(), &file, "Sales")
        .output()
        .unwrap();
    let all = all_output(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert_eq!(
        all.matches("is a database differential backup").count(),
        1,
        "{all}"
    );
}

/// 13: a --json run that ends in an error still answers on stdout.
#[test]
fn a_json_run_that_fails_answers_json_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["--json", "upload"])
        .arg(dir.path().join("missing.bak"))
        .arg("oss://bucket-b/k.bak")
        .args(["--oss-endpoint", "http://127.0.0.1:9"])
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "id")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "secret")
        .env_remove("ALIBABA_CLOUD_PROFILE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(json["exit"], 1);
    assert!(
        json["error"].as_str().unwrap().contains("missing.bak"),
        "{json}"
    );
    assert!(!json["error"].as_str().unwrap().contains("secret"));
}

/// Issue 19: `synth --write-rate --preallocate` writes like SQL Server writing a compressed
/// backup: the file is at its (slightly high) final size from the start, zeros behind what is
/// written, filled in at the rate asked, and cut to the written length at the end.
#[test]
fn synth_writes_progressively_into_a_preallocated_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("growing.bak");
    let started = std::time::Instant::now();
    let mut child = bin()
        .arg("synth")
        .arg(&path)
        .args(["--size", "6MiB", "--write-rate", "3MiB", "--preallocate"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let written_prefix =
        |data: &[u8]| data.len() - data.iter().rev().take_while(|&&b| b == 0).count();
    let mut samples = Vec::new();
    while child.try_wait().unwrap().is_none() {
        if let Ok(data) = std::fs::read(&path) {
            samples.push((data.len(), written_prefix(&data)));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(child.wait().unwrap().success());
    let elapsed = started.elapsed();
    let final_len = std::fs::metadata(&path).unwrap().len() as usize;
    // Preallocated: while being written, longer than the final file, with zeros at the end.
    let growing: Vec<_> = samples
        .iter()
        .filter(|(len, prefix)| *len > final_len && prefix < len)
        .collect();
    assert!(growing.len() >= 3, "{samples:?} (final {final_len})");
    assert!(
        growing.windows(2).all(|w| w[0].1 <= w[1].1)
            && growing.first().unwrap().1 < growing.last().unwrap().1,
        "the written part does not grow: {samples:?}"
    );
    // 6 MiB at 3 MiB/s.
    assert!(
        elapsed >= std::time::Duration::from_millis(1500),
        "{elapsed:?}"
    );
    let out = bin().arg("inspect").arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

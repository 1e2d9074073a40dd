//! Issue 19, part 1: `upload --follow` sends a backup while it is being written (`synth
//! --write-rate --preallocate` plays SQL Server), and completes the object once the backup is
//! finished; the object is the final file. A file that stops growing before its end is refused
//! with its parts kept for a rerun (`upload --abort` discards them); a file that is not a
//! backup is refused at once.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use bak2rds_cloud::checksum::crc64;
use bak2rds_emulator::{Emulator, EmulatorHandle};

use crate::util::{bin, emulator_env};

fn follow_command(emulator: &EmulatorHandle, file: &Path, extra: &[&str]) -> Command {
    let mut command = bin();
    command
        .arg("upload")
        .arg(file)
        .arg(format!("oss://{}/followed.bak", emulator.bucket()))
        .args([
            "--follow",
            "--part-size",
            "1MiB",
            "--follow-settle",
            "1s",
            "--json",
        ])
        .args(extra)
        .envs(emulator_env(emulator))
        .env_remove("ALIBABA_CLOUD_PROFILE")
        .stdin(Stdio::null());
    command
}

fn writer(file: &Path, size: &str, rate: &str) -> Child {
    writer_of(file, size, rate, &[])
}

/// `synth FILE --size SIZE --write-rate RATE --preallocate EXTRA...`, running.
fn writer_of(file: &Path, size: &str, rate: &str, extra: &[&str]) -> Child {
    bin()
        .arg("synth")
        .arg(file)
        .args(["--size", size, "--write-rate", rate, "--preallocate"])
        .args(extra)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A finished synthetic backup of `size` at `path`.
fn synth_file(path: &Path, size: &str) {
    let status = bin()
        .arg("synth")
        .arg(path)
        .args(["--size", size])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

fn done_line(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|value| value["event"] == "done")
        .unwrap_or_else(|| {
            panic!(
                "no done line:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

fn stored(emulator: &EmulatorHandle) -> Option<Vec<u8>> {
    let object = emulator
        .storage()
        .read_object(emulator.bucket(), "followed.bak")?;
    let mut bytes = Vec::new();
    object.copy_to(&mut bytes).unwrap();
    Some(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_is_uploaded_while_it_is_written() {
    let emulator = Emulator::builder().memory().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("growing.bak");
    // 12 MiB at 3 MiB/s: about 4 s of writing, into a pre-allocated file.
    let mut synth = writer(&file, "12MiB", "3MiB");
    while !file.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut upload = follow_command(&emulator, &file, &[]);
    let output = tokio::task::spawn_blocking(move || upload.output().unwrap())
        .await
        .unwrap();
    assert!(synth.wait().unwrap().success());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let done = done_line(&output);
    let final_file = std::fs::read(&file).unwrap();
    let object = stored(&emulator).expect("the object exists");
    assert_eq!(object.len(), final_file.len());
    assert_eq!(
        crc64(&object),
        crc64(&final_file),
        "the object is not the final file"
    );
    let follow = &done["follow"];
    assert_eq!(follow["bytes"], final_file.len() as u64);
    // Most parts went out while the writer was still at work.
    assert!(
        follow["sent_while_growing"].as_u64().unwrap() >= 4,
        "{done}"
    );
    // The settle time (1 s) and a poll after the writer's last byte.
    assert!(
        follow["secs_after_last_write"].as_f64().unwrap() < 10.0,
        "{done}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_that_stops_before_its_end_is_refused_and_its_parts_kept() {
    let emulator = Emulator::builder().memory().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.bak");
    synth_file(&whole, "6MiB");
    // The writer died half-way: the header and 3 MiB, no end.
    let cut = dir.path().join("cut.bak");
    std::fs::write(&cut, &std::fs::read(&whole).unwrap()[..3 << 20]).unwrap();
    let mut upload = follow_command(&emulator, &cut, &["--follow-timeout", "2s"]);
    let output = tokio::task::spawn_blocking(move || upload.output().unwrap())
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{text}");
    assert!(
        text.contains("has not changed") && text.contains("--follow-timeout"),
        "{text}"
    );
    // Nothing is passed off as complete; the parts sent are kept for a rerun, and
    // `upload --abort` discards them.
    assert!(text.contains("kept") && text.contains("--abort"), "{text}");
    assert!(stored(&emulator).is_none());
    let client =
        bak2rds_cloud::oss::OssClient::new(emulator.oss_config(), emulator.credentials()).unwrap();
    assert_eq!(client.list_multipart_uploads(None).await.unwrap().len(), 1);
    let abort = bin()
        .arg("upload")
        .arg(&cut)
        .arg(format!("oss://{}/followed.bak", emulator.bucket()))
        .arg("--abort")
        .envs(emulator_env(&emulator))
        .env_remove("ALIBABA_CLOUD_PROFILE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        abort.status.success(),
        "{}",
        String::from_utf8_lossy(&abort.stderr)
    );
    let uploads = client.list_multipart_uploads(None).await.unwrap();
    assert!(uploads.is_empty(), "parts left behind: {uploads:?}");

    // A file that is not a backup is refused at once.
    let other = dir.path().join("notes.bak");
    std::fs::write(&other, vec![b'x'; 200_000]).unwrap();
    let mut upload = follow_command(&emulator, &other, &[]);
    let output = tokio::task::spawn_blocking(move || upload.output().unwrap())
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(text.contains("not a SQL Server backup"), "{text}");
}

/// A part the writer changes after it went out is sent again from the final bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_changed_after_it_was_sent_is_sent_again() {
    use std::io::{Seek as _, SeekFrom, Write as _};
    let emulator = Emulator::builder().memory().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.bak");
    synth_file(&whole, "8MiB");
    let bytes = std::fs::read(&whole).unwrap();
    let file = dir.path().join("rewritten.bak");
    std::fs::write(&file, &bytes[..5 << 20]).unwrap();
    emulator.requests().keep_records();
    // The rewritten byte breaks its page's checksum (SQL Server would rewrite the page whole):
    // pages are not checked here, the re-send is.
    let mut upload = follow_command(&emulator, &file, &["--no-verify-pages"]);
    let running = tokio::task::spawn_blocking(move || upload.output().unwrap());
    // Parts 1 and 2 go out meanwhile; then the writer rewrites a byte of part 2 and finishes.
    let started = std::time::Instant::now();
    while emulator.requests().count_succeeded("UploadPart") < 2 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "no part went out"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut handle = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    handle
        .seek(SeekFrom::Start((1 << 20) + 4096 + 100))
        .unwrap();
    handle
        .write_all(&[bytes[(1 << 20) + 4096 + 100] ^ 0xFF])
        .unwrap();
    handle.seek(SeekFrom::End(0)).unwrap();
    handle.write_all(&bytes[5 << 20..]).unwrap();
    drop(handle);
    let output = running.await.unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let done = done_line(&output);
    assert!(done["follow"]["resent"].as_u64().unwrap() >= 1, "{done}");
    let object = stored(&emulator).unwrap();
    assert_eq!(crc64(&object), crc64(&std::fs::read(&file).unwrap()));
}

/// A damaged page in a part written after the follow began (so sent before any page could be
/// checked) stops the upload before Complete: the page is named, and neither object nor parts
/// are left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_page_stops_a_followed_upload_before_complete() {
    use std::io::Write as _;
    let emulator = Emulator::builder().memory().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (whole, regions) = crate::page_check::backup(dir.path());
    let (page, _) = crate::page_check::damage_a_page(&whole, &regions);
    let bytes = std::fs::read(&whole).unwrap();
    let file = dir.path().join("damaged.bak");
    std::fs::write(&file, &bytes[..5 << 20]).unwrap();
    emulator.requests().keep_records();
    let mut upload = follow_command(&emulator, &file, &[]);
    let running = tokio::task::spawn_blocking(move || upload.output().unwrap());
    let started = std::time::Instant::now();
    while emulator.requests().count_succeeded("UploadPart") < 2 {
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut handle = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    handle.write_all(&bytes[5 << 20..]).unwrap();
    drop(handle);
    let output = running.await.unwrap();
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains(&page), "the page {page} is named: {text}");
    let client = crate::page_check::client(&emulator);
    crate::page_check::nothing_left(&client, "followed.bak").await;
}

fn migrate_follow(emulator: &EmulatorHandle, dir: &Path, file: &Path) -> Command {
    let mut command = bin();
    command
        .arg("migrate")
        .arg(file)
        .args(["--instance", &emulator.instance_id()])
        .args(["--database", "FollowedDb", "--bucket", emulator.bucket()])
        .args(["--follow", "--part-size", "1MiB", "--follow-settle", "1s"])
        .arg("--checkpoint-dir")
        .arg(dir.join("checkpoints"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .envs(emulator_env(emulator))
        .env_remove("ALIBABA_CLOUD_PROFILE")
        .stdin(Stdio::null());
    command
}

/// `migrate --follow`: judged at the header, uploaded while written, then restored; a
/// differential being written is refused at its header, long before its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_follows_a_full_and_refuses_a_differential_at_its_header() {
    let emulator = Emulator::builder().memory().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("Sales_FULL.bak");
    let mut synth = writer(&file, "8MiB", "3MiB");
    while !file.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut migrate = migrate_follow(&emulator, dir.path(), &file);
    let output = tokio::task::spawn_blocking(move || migrate.output().unwrap())
        .await
        .unwrap();
    assert!(synth.wait().unwrap().success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(text.contains("uploaded while written"), "{text}");
    assert!(text.contains("data pages match their checksums"), "{text}");
    assert!(text.contains("in OSS already, unchanged"), "{text}");
    // The finished file's run found the object recorded (one HEAD, no second read of the
    // file): nothing sent twice.
    let object = emulator
        .storage()
        .read_object(emulator.bucket(), "Sales_FULL.bak")
        .expect("the object");
    let mut bytes = Vec::new();
    object.copy_to(&mut bytes).unwrap();
    assert_eq!(crc64(&bytes), crc64(&std::fs::read(&file).unwrap()));

    let diff = dir.path().join("Sales_DIFF.bak");
    let mut synth = bin()
        .arg("synth")
        .arg(&diff)
        .args(["--kind", "diff", "--size", "40MiB", "--write-rate", "2MiB"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while !diff.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let started = std::time::Instant::now();
    let mut migrate = migrate_follow(&emulator, dir.path(), &diff);
    let output = tokio::task::spawn_blocking(move || migrate.output().unwrap())
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let _ = synth.kill();
    let _ = synth.wait();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.to_lowercase().contains("differential"), "{text}");
    // Refused at the header: the writer (20 s) was far from done.
    assert!(elapsed < std::time::Duration::from_secs(10), "{elapsed:?}");
    assert!(
        emulator
            .storage()
            .read_object(emulator.bucket(), "Sales_DIFF.diff")
            .is_none()
    );
}

/// Ctrl-C keeps the parts sent; the same command then goes on from them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_stopped_with_ctrl_c_resumes() {
    let emulator = Emulator::builder().memory().start().await.unwrap();
    emulator.requests().keep_records();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("growing.bak");
    let mut synth = writer(&file, "12MiB", "3MiB");
    while !file.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let checkpoints = dir.path().join("checkpoints");
    let resumable = |command: &mut Command| {
        command.arg("--checkpoint-dir").arg(&checkpoints);
    };
    let mut first = follow_command(&emulator, &file, &[]);
    resumable(&mut first);
    let child = first
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("rerun the same command"), "{text}");
    let parts_first = emulator
        .requests()
        .records()
        .iter()
        .filter(|r| r.operation.as_deref() == Some("UploadPart"))
        .count();
    assert!(parts_first >= 2, "only {parts_first} parts before Ctrl-C");

    assert!(synth.wait().unwrap().success());
    let mut second = follow_command(&emulator, &file, &[]);
    resumable(&mut second);
    let output = tokio::task::spawn_blocking(move || second.output().unwrap())
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parts_total = emulator
        .requests()
        .records()
        .iter()
        .filter(|r| r.operation.as_deref() == Some("UploadPart"))
        .count();
    let object = stored(&emulator).unwrap();
    let final_file = std::fs::read(&file).unwrap();
    assert_eq!(crc64(&object), crc64(&final_file));
    let parts = final_file.len().div_ceil(1 << 20);
    // The parts of the first run were not sent again.
    assert!(
        parts_total - parts_first < parts,
        "{parts_first} parts, then {} more of {parts}",
        parts_total - parts_first
    );
}

/// An emulator whose restores take 50 ms, with one instance, keeping its request records.
async fn restoring_emulator(instance: &str) -> EmulatorHandle {
    restoring_emulator_with(instance, "").await
}

/// The same, with more top-level settings (`key = value` lines).
async fn restoring_emulator_with(instance: &str, settings: &str) -> EmulatorHandle {
    let config = bak2rds_emulator::EmulatorConfig::from_toml(&format!(
        "restore_ms = 50\n{settings}\n[[instance]]\nid = \"{instance}\"\n"
    ))
    .unwrap();
    let emulator = Emulator::builder()
        .config(config)
        .memory()
        .start()
        .await
        .unwrap();
    emulator.requests().keep_records();
    emulator
}

/// `synth DIR --chain --logs N` of database Sales: Sales_FULL.bak, Sales_DIFF.bak,
/// Sales_LOG_k.trn.
fn synth_chain(dir: &Path, logs: &str) {
    let status = bin()
        .arg("synth")
        .arg(dir)
        .args([
            "--chain",
            "--logs",
            logs,
            "--size",
            "3MiB",
            "--database",
            "Sales",
        ])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

/// `migrate --incremental WATCHED --follow` into database SalesDb, its output piped.
fn log_follower(
    emulator: &EmulatorHandle,
    instance: &str,
    dir: &Path,
    watched: &Path,
    extra: &[&str],
) -> Command {
    let mut command = bin();
    command
        .arg("migrate")
        .arg("--incremental")
        .arg(watched)
        .args(["--instance", instance, "--database", "SalesDb"])
        .args([
            "--bucket",
            emulator.bucket(),
            "--follow",
            "--follow-settle",
            "1s",
        ])
        .args(extra)
        .arg("--checkpoint-dir")
        .arg(dir.join("checkpoints"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .envs(emulator_env(emulator))
        .env_remove("ALIBABA_CLOUD_PROFILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn create_migrate_tasks(emulator: &EmulatorHandle) -> usize {
    emulator
        .requests()
        .records()
        .iter()
        .filter(|r| r.operation.as_deref() == Some("CreateMigrateTask") && r.status == 200)
        .count()
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A running follower whose notes (stderr) are collected line by line as it writes them.
struct Notes {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Notes {
    fn spawn(mut command: Command) -> Self {
        let mut child = command.spawn().unwrap();
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let reader = {
            let lines = Arc::clone(&lines);
            let stderr = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            })
        };
        Notes {
            child,
            lines,
            reader,
        }
    }

    /// How many lines so far contain `text`.
    fn said(&self, text: &str) -> usize {
        let lines = self.lines.lock().unwrap();
        lines.iter().filter(|line| line.contains(text)).count()
    }

    fn text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    fn interrupt(&self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
    }

    /// Waits for the follower to end: its exit status and everything it said.
    async fn finish(self) -> (std::process::ExitStatus, String) {
        let Notes {
            mut child,
            lines,
            reader,
        } = self;
        let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
            .await
            .unwrap();
        reader.join().unwrap();
        let text = lines.lock().unwrap().join("\n");
        (status, text)
    }
}

/// `migrate --incremental FOLDER --follow`: the full, the differential and the first log are
/// restored; a log that leaves a gap waits for the missing one; logs arriving later are
/// restored on the same task; `bak2rds cutover` from another shell ends the follower.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_restored_as_they_appear_until_cutover() {
    let emulator = restoring_emulator("rm-follow0001").await;
    let dir = tempfile::tempdir().unwrap();
    let stage = dir.path().join("stage");
    let watched = dir.path().join("watched");
    synth_chain(&stage, "3");
    std::fs::create_dir_all(&watched).unwrap();
    let bring = |name: &str| std::fs::copy(stage.join(name), watched.join(name)).unwrap();
    for name in ["Sales_FULL.bak", "Sales_DIFF.bak", "Sales_LOG_1.trn"] {
        bring(name);
    }
    let follower = Notes::spawn(log_follower(
        &emulator,
        "rm-follow0001",
        dir.path(),
        &watched,
        &[],
    ));
    let said = |text: &str| follower.said(text);
    let idle = "waiting for the next log backup";
    wait_until("the full, the differential and a log", || said(idle) >= 1).await;
    assert_eq!(create_migrate_tasks(&emulator), 3);
    // Log 3 without log 2: a gap, refused; the follower waits for the missing one.
    bring("Sales_LOG_3.trn");
    wait_until("the gap reported", || said("are missing") >= 1).await;
    wait_until("the round at the gap over", || said(idle) >= 2).await;
    assert_eq!(
        create_migrate_tasks(&emulator),
        3,
        "a log past a gap was restored"
    );
    bring("Sales_LOG_2.trn");
    wait_until("logs 2 and 3", || said(idle) >= 3).await;
    assert_eq!(create_migrate_tasks(&emulator), 5);

    let tasks = bin()
        .args(["tasks", "--instance", "rm-follow0001", "--json"])
        .envs(emulator_env(&emulator))
        .output()
        .unwrap();
    let list: serde_json::Value = serde_json::from_slice(&tasks.stdout).unwrap();
    let task_id = list[0]["MigrateTaskId"].as_str().unwrap().to_owned();
    let cutover = bin()
        .args(["cutover", &task_id, "--instance", "rm-follow0001"])
        .envs(emulator_env(&emulator))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        cutover.status.success(),
        "{}",
        String::from_utf8_lossy(&cutover.stderr)
    );
    let (status, text) = follower.finish().await;
    assert!(status.success(), "{text}");
    assert!(
        text.matches("behind the source").count() >= 2,
        "no lag: {text}"
    );
    assert!(text.matches("was cut over").count() == 1, "{text}");
}

/// `--max-rate` holds under `--follow` too: 4 MiB at 1 MiB/s take more than three seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_cap_holds_while_following() {
    let emulator = Emulator::builder().memory().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("capped.bak");
    let mut synth = writer(&file, "4MiB", "2MiB");
    while !file.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let started = std::time::Instant::now();
    let mut upload = follow_command(&emulator, &file, &["--max-rate", "1MiB"]);
    let output = tokio::task::spawn_blocking(move || upload.output().unwrap())
        .await
        .unwrap();
    assert!(synth.wait().unwrap().success());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let len = std::fs::metadata(&file).unwrap().len();
    let least = std::time::Duration::from_secs_f64((len as f64 / f64::from(1 << 20)) - 1.0);
    assert!(started.elapsed() >= least, "{:?}", started.elapsed());
    assert_eq!(stored(&emulator).unwrap().len() as u64, len);
}

/// A finished backup is not followed: it was not being written (yesterday's file, about to be
/// overwritten), and plain `upload` is the command for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_backup_is_not_followed() {
    let emulator = Emulator::builder().memory().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("yesterday.bak");
    synth_file(&file, "2MiB");
    let mut upload = follow_command(&emulator, &file, &[]);
    let output = tokio::task::spawn_blocking(move || upload.output().unwrap())
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{text}");
    assert!(
        text.contains("already a finished backup") && text.contains("without"),
        "{text}"
    );
    assert!(stored(&emulator).is_none());
}

/// A follow may start before SQL Server creates the file: it waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_started_before_the_backup_waits_for_its_file() {
    let emulator = Emulator::builder().memory().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("soon.bak");
    let mut upload = follow_command(&emulator, &file, &[]);
    let running = tokio::task::spawn_blocking(move || upload.output().unwrap());
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let mut synth = writer(&file, "4MiB", "4MiB");
    let output = running.await.unwrap();
    assert!(synth.wait().unwrap().success());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let object = stored(&emulator).unwrap();
    assert_eq!(crc64(&object), crc64(&std::fs::read(&file).unwrap()));
}

/// `--cutover-after-lag-below`: once the newest restored log is that recent, the follower
/// cuts over by itself; a follower stopped with Ctrl-C before goes on where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_stopped_then_rerun_cuts_over_once_the_lag_is_small() {
    let emulator = restoring_emulator("rm-follow0002").await;
    let dir = tempfile::tempdir().unwrap();
    let watched = dir.path().join("watched");
    synth_chain(&watched, "2");
    let follower =
        |extra: &[&str]| log_follower(&emulator, "rm-follow0002", dir.path(), &watched, extra);
    // First run: stopped with Ctrl-C once the full is submitted.
    let first = follower(&[]).spawn().unwrap();
    wait_until("the full submitted", || {
        create_migrate_tasks(&emulator) >= 1
    })
    .await;
    let interrupted = Command::new("kill")
        .args(["-INT", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let output = tokio::task::spawn_blocking(move || first.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(!output.status.success());
    let before = create_migrate_tasks(&emulator);
    // The rerun goes on from what was restored and cuts over by itself: the files were
    // written seconds ago, well under the hour asked.
    let mut second = follower(&["--cutover-after-lag-below", "1h"]);
    let output = tokio::task::spawn_blocking(move || second.output().unwrap())
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("cutting over"), "{text}");
    assert!(text.contains("is online: 4 backups restored"), "{text}");
    // Nothing restored twice: four backups, four CreateMigrateTask calls in all.
    assert_eq!(
        create_migrate_tasks(&emulator),
        4,
        "{before} before the rerun"
    );
}

/// Stopped once everything in the folder is restored, a rerun has nothing new to restore: it
/// still judges the lag by the newest backup restored and cuts over (it used to wait for a next
/// log forever). The follower also stops on its one Ctrl-C while idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_stopped_after_its_last_log_cuts_over_on_rerun() {
    let emulator = restoring_emulator("rm-follow0005").await;
    let dir = tempfile::tempdir().unwrap();
    let watched = dir.path().join("watched");
    synth_chain(&watched, "2");
    let follower = |extra: &[&str]| {
        Notes::spawn(log_follower(
            &emulator,
            "rm-follow0005",
            dir.path(),
            &watched,
            extra,
        ))
    };
    let first = follower(&[]);
    wait_until("all four restored", || {
        first.said("waiting for the next log backup") >= 1
    })
    .await;
    first.interrupt();
    let (status, text) = first.finish().await;
    assert!(!status.success(), "{text}");
    assert_eq!(create_migrate_tasks(&emulator), 4);

    let second = follower(&["--cutover-after-lag-below", "1h"]);
    let cut_over = || second.said("cutting over") >= 1;
    wait_until("the rerun cut over", cut_over).await;
    let (status, text) = second.finish().await;
    assert!(status.success(), "{text}");
    assert!(text.contains("cutting over"), "{text}");
    assert_eq!(create_migrate_tasks(&emulator), 4, "nothing restored twice");
}

/// A log lost from the chain leaves a gap the follower cannot cross; a differential taken
/// afterwards closes it. The follower picks it up by itself, restores it on the same task and
/// goes on with the logs after it, leaving out the log the differential already covers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_differential_closes_a_gap_in_the_logs() {
    use mssql_backup::TargetVersion;
    use mssql_backup::synth::{SynthChain, SynthDatabase, write_synthetic_file};

    let emulator = restoring_emulator("rm-follow0003").await;
    let dir = tempfile::tempdir().unwrap();
    let watched = dir.path().join("watched");
    std::fs::create_dir_all(&watched).unwrap();
    let version = TargetVersion::parse("2019").unwrap();
    let mut chain = SynthChain::new(SynthDatabase::new("Sales", version));
    const MIB: u64 = 1 << 20;
    let history = [
        ("Sales_FULL.bak", chain.full(3 * MIB)),
        ("Sales_DIFF_1.bak", chain.differential(MIB)),
        ("Sales_LOG_1.trn", chain.log(MIB)),
        ("Sales_LOG_2.trn", chain.log(MIB)),
        ("Sales_LOG_3.trn", chain.log(MIB)),
        ("Sales_DIFF_2.bak", chain.differential(MIB)),
        ("Sales_LOG_4.trn", chain.log(MIB)),
    ];
    let bring = |wanted: &str| {
        let (name, spec) = history.iter().find(|(name, _)| *name == wanted).unwrap();
        write_synthetic_file(&watched.join(name), spec).unwrap();
    };
    // Log 2 never arrives (deleted by a cleanup job, say).
    for name in [
        "Sales_FULL.bak",
        "Sales_DIFF_1.bak",
        "Sales_LOG_1.trn",
        "Sales_LOG_3.trn",
    ] {
        bring(name);
    }
    let follower = Notes::spawn(log_follower(
        &emulator,
        "rm-follow0003",
        dir.path(),
        &watched,
        &[],
    ));
    let said = |text: &str| follower.said(text);
    // The chain is restored up to the gap, which is reported with its fix.
    let idle = "waiting for the next log backup";
    wait_until("the first round", || said(idle) >= 1).await;
    assert_eq!(create_migrate_tasks(&emulator), 3, "full, diff 1, log 1");
    let gap = follower.text();
    assert!(said("are missing") >= 1, "{gap}");
    assert!(gap.contains("new differential backup"), "{gap}");

    // The backup share also receives another database's log: left out, not a refusal.
    let mut other = SynthChain::new(SynthDatabase::new(
        "Billing",
        TargetVersion::parse("2019").unwrap(),
    ));
    let _ = other.full(MIB);
    write_synthetic_file(&watched.join("Billing_LOG_1.trn"), &other.log(MIB)).unwrap();
    bring("Sales_DIFF_2.bak");
    bring("Sales_LOG_4.trn");
    wait_until("the differential and log 4", || {
        create_migrate_tasks(&emulator) >= 5
    })
    .await;
    wait_until("the follower idle again", || said(idle) >= 2).await;
    follower.interrupt();
    let (status, text) = follower.finish().await;
    assert!(!status.success(), "Ctrl-C is not a success: {text}");
    // Exactly the differential and log 4: log 3 is inside the differential.
    assert_eq!(create_migrate_tasks(&emulator), 5, "{text}");
    assert!(text.contains("Sales_LOG_4.trn"), "{text}");
    assert!(
        text.contains("Billing_LOG_1.trn: backups of database \"Billing\""),
        "{text}"
    );
}

/// RDS's daily quota of migrations per database (here 3) does not end a follower: it says
/// so, with what to do, and waits for a slot; Ctrl-C still stops it at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_waits_out_the_daily_quota() {
    let emulator =
        restoring_emulator_with("rm-follow0004", "migrations_per_database_per_day = 3").await;
    let dir = tempfile::tempdir().unwrap();
    let watched = dir.path().join("watched");
    synth_chain(&watched, "2");
    let mut follower = Notes::spawn(log_follower(
        &emulator,
        "rm-follow0004",
        dir.path(),
        &watched,
        &[],
    ));
    wait_until("the quota reported", || {
        follower.said("UploadLimitExceeded") >= 1
    })
    .await;
    assert!(follower.child.try_wait().unwrap().is_none(), "it ended");
    assert_eq!(create_migrate_tasks(&emulator), 3);
    let started = std::time::Instant::now();
    follower.interrupt();
    let (status, text) = follower.finish().await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "Ctrl-C waited for the quota: {text}"
    );
    assert!(!status.success(), "{text}");
    assert!(text.contains("differential backup"), "{text}");
    assert!(text.contains("rerun the same command"), "{text}");
}

/// `upload --follow oss://BUCKET/PREFIX/` names the object once the header is written, as a
/// finished backup's would be named: a differential in `Nightly.bak` becomes `Nightly.diff`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_backup_is_named_by_its_header() {
    let emulator = Emulator::builder().memory().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("Nightly.bak");
    let mut synth = writer_of(&file, "3MiB", "3MiB", &["--kind", "diff"]);
    let mut upload = bin();
    upload
        .arg("upload")
        .arg(&file)
        .arg(format!("oss://{}/nightly/", emulator.bucket()))
        .args([
            "--follow",
            "--follow-settle",
            "1s",
            "--follow-timeout",
            "30s",
        ])
        .arg("--json")
        .envs(emulator_env(&emulator))
        .env_remove("ALIBABA_CLOUD_PROFILE")
        .stdin(Stdio::null());
    let output = tokio::task::spawn_blocking(move || upload.output().unwrap())
        .await
        .unwrap();
    assert!(synth.wait().unwrap().success());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let object = emulator
        .storage()
        .read_object(emulator.bucket(), "nightly/Nightly.diff")
        .expect("the object is named by the backup's type");
    let mut bytes = Vec::new();
    object.copy_to(&mut bytes).unwrap();
    assert_eq!(bytes, std::fs::read(&file).unwrap());
}

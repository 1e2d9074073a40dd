//! The upload pipeline end to end against the embedded emulator on 127.0.0.1: faults injected by
//! the emulator, a process killed half-way and resumed, the CLI's output and exit codes.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bak2rds::source::SourceFile;
use bak2rds::upload::checkpoint::CheckpointStore;
use bak2rds::upload::engine::{UploadJob, UploadOptions, UploadReport, run};
use bak2rds::upload::error::UploadError;
use bak2rds::upload::progress::Counters;
use bak2rds_cloud::checksum::crc64;
use bak2rds_cloud::oss::{Credentials, OssClient, OssConfig};
use bak2rds_emulator::faults::{ErrorFault, FaultConfig, RateFault};
use bak2rds_emulator::{Emulator, EmulatorHandle};
use tokio_util::sync::CancellationToken;

const MIB: u64 = 1 << 20;

fn write_file(dir: &Path, len: usize) -> (PathBuf, Vec<u8>) {
    let path = dir.join("db.bak");
    // Not a repeating pattern of the part size, so a part sent at the wrong offset is caught.
    let data: Vec<u8> = (0..len)
        .map(|i| ((i as u64).wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&data)
        .unwrap();
    (path, data)
}

fn client(emulator: &EmulatorHandle) -> OssClient {
    let config = OssConfig::with_endpoint(
        &emulator.oss_endpoint(),
        emulator.region(),
        emulator.bucket(),
    );
    let credentials = Credentials::new(emulator.access_key_id(), emulator.access_key_secret());
    OssClient::new(config, credentials).unwrap()
}

fn fast_retries(options: UploadOptions) -> UploadOptions {
    UploadOptions {
        retry: bak2rds_cloud::http::RetryConfig {
            base: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
            ..options.retry
        },
        ..options
    }
}

async fn upload(
    client: &OssClient,
    file: &Path,
    checkpoints: &Path,
    options: UploadOptions,
) -> Result<UploadReport, UploadError> {
    let job = UploadJob {
        source: Arc::new(SourceFile::open(file).unwrap()),
        bucket: client.bucket().to_string(),
        key: "db.bak".into(),
        checkpoints: CheckpointStore::new(checkpoints),
        options,
    };
    let (events, _received) = tokio::sync::mpsc::unbounded_channel();
    run(
        Arc::new(client.clone()),
        job,
        events,
        Arc::new(Counters::default()),
        CancellationToken::new(),
    )
    .await
}

async fn stored_crc(client: &OssClient) -> Option<u64> {
    client
        .head_object("db.bak")
        .await
        .unwrap()
        .and_then(|meta| meta.crc64)
}

#[tokio::test]
async fn a_clean_upload_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (file, data) = write_file(dir.path(), (5 * MIB + 12_345) as usize);
    let emulator = Emulator::builder().temp_dir().start().await.unwrap();
    let client = client(&emulator);
    let options = UploadOptions {
        part_size: Some(MIB),
        ..UploadOptions::default()
    };
    let report = upload(&client, &file, &dir.path().join("cp"), options)
        .await
        .unwrap();
    assert_eq!(report.part_count, 6);
    assert_eq!(report.crc64, crc64(&data));
    assert_eq!(stored_crc(&client).await, Some(crc64(&data)));
    let body = client.get_object("db.bak", None).await.unwrap().body;
    assert_eq!(&body[..], &data[..]);
}

#[tokio::test]
async fn errors_and_dropped_connections_are_retried_to_an_exact_object() {
    let dir = tempfile::tempdir().unwrap();
    let (file, data) = write_file(dir.path(), (24 * MIB) as usize);
    let faults = FaultConfig {
        seed: 11,
        errors: vec![ErrorFault {
            operation: "UploadPart".into(),
            rate: 0.05,
            status: 500,
            code: "InternalError".into(),
            times: None,
        }],
        drop_connection: vec![RateFault {
            operation: "UploadPart".into(),
            rate: 0.05,
            times: Some(2),
        }],
        ..FaultConfig::default()
    };
    let emulator = Emulator::builder()
        .memory()
        .faults(faults)
        .start()
        .await
        .unwrap();
    let client = client(&emulator);
    let options = fast_retries(UploadOptions {
        part_size: Some(256 * 1024),
        concurrency: 6,
        ..UploadOptions::default()
    });
    let report = upload(&client, &file, &dir.path().join("cp"), options)
        .await
        .unwrap();
    assert!(
        report.retries > 0,
        "96 parts at 5 % + drops should retry some"
    );
    assert_eq!(report.crc64, crc64(&data));
    assert_eq!(stored_crc(&client).await, Some(crc64(&data)));
}

#[tokio::test]
async fn a_corrupted_stored_part_is_caught_and_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let (file, data) = write_file(dir.path(), (4 * MIB) as usize);
    let faults = FaultConfig {
        seed: 3,
        flip_byte: vec![RateFault {
            operation: "UploadPart".into(),
            rate: 1.0,
            times: Some(2),
        }],
        ..FaultConfig::default()
    };
    let emulator = Emulator::builder()
        .memory()
        .faults(faults)
        .start()
        .await
        .unwrap();
    let client = client(&emulator);
    let options = fast_retries(UploadOptions {
        part_size: Some(MIB),
        ..UploadOptions::default()
    });
    let report = upload(&client, &file, &dir.path().join("cp"), options)
        .await
        .unwrap();
    assert_eq!(report.retries, 2);
    assert_eq!(stored_crc(&client).await, Some(crc64(&data)));
}

#[tokio::test]
async fn a_part_corrupted_every_time_stops_with_a_clear_error_and_no_object() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = write_file(dir.path(), (2 * MIB) as usize);
    let faults = FaultConfig {
        flip_byte: vec![RateFault {
            operation: "UploadPart".into(),
            rate: 1.0,
            times: None,
        }],
        ..FaultConfig::default()
    };
    let emulator = Emulator::builder()
        .memory()
        .faults(faults)
        .start()
        .await
        .unwrap();
    let client = client(&emulator);
    let mut options = fast_retries(UploadOptions {
        part_size: Some(MIB),
        ..UploadOptions::default()
    });
    options.retry.max_retries = 2;
    let error = upload(&client, &file, &dir.path().join("cp"), options)
        .await
        .unwrap_err();
    assert!(
        matches!(error, UploadError::PartCorrupted { attempts: 3, .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("rerun the same command to resume")
    );
    assert_eq!(client.head_object("db.bak").await.unwrap(), None);
}

/// The official SDKs keep going after a 403 they cannot fix; we stop at once and say why.
#[tokio::test]
async fn a_wrong_secret_stops_at_once_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = write_file(dir.path(), MIB as usize);
    let emulator = Emulator::builder().memory().start().await.unwrap();
    let config = OssConfig::with_endpoint(
        &emulator.oss_endpoint(),
        emulator.region(),
        emulator.bucket(),
    );
    let client =
        OssClient::new(config, Credentials::new(emulator.access_key_id(), "wrong")).unwrap();
    let started = Instant::now();
    let error = upload(
        &client,
        &file,
        &dir.path().join("cp"),
        UploadOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(20));
    let message = format!("{error}");
    assert!(message.contains("SignatureDoesNotMatch"), "{message}");
    assert!(!message.contains(emulator.access_key_secret()));
}

fn cli_upload(emulator: &EmulatorHandle, file: &Path, checkpoints: &Path) -> std::process::Command {
    cli_upload_parts(emulator, file, checkpoints, "512KiB", 2)
}

fn cli_upload_parts(
    emulator: &EmulatorHandle,
    file: &Path,
    checkpoints: &Path,
    part_size: &str,
    concurrency: usize,
) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_bak2rds"));
    command
        .arg("upload")
        .arg(file)
        .arg(format!("oss://{}/db.bak", emulator.bucket()))
        .args(["--oss-endpoint", &emulator.oss_endpoint()])
        .args(["--part-size", part_size, "--json"])
        .args(["--concurrency", &concurrency.to_string()])
        .arg("--checkpoint-dir")
        .arg(checkpoints)
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", emulator.access_key_id())
        .env(
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            emulator.access_key_secret(),
        )
        .env_remove("ALIBABA_CLOUD_PROFILE")
        .stdin(Stdio::null());
    command
}

fn recorded_parts(checkpoints: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(checkpoints) else {
        return 0;
    };
    // Temporary files a killed writer left behind (`.tmp-…`) are not records.
    entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            !path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .filter_map(|path| std::fs::read(path).ok())
        .filter_map(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .map(|record| record["parts"].as_object().map_or(0, |parts| parts.len()))
        .max()
        .unwrap_or(0)
}

/// Waits (at most a minute) until the checkpoint records `at_least` parts, or until `child`, if
/// given, has ended early (the caller's assertions then say how).
async fn wait_for_recorded_parts(
    checkpoints: &Path,
    at_least: usize,
    mut child: Option<&mut std::process::Child>,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while recorded_parts(checkpoints) < at_least && Instant::now() < deadline {
        if let Some(child) = child.as_mut()
            && child.try_wait().unwrap().is_some()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn recorded_files(checkpoints: &Path) -> usize {
    std::fs::read_dir(checkpoints).map_or(0, |entries| entries.count())
}

fn events(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// Issue 4's proof: SIGKILL half-way, rerun, only the missing parts are sent, CRC exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_half_way_the_rerun_sends_only_the_missing_parts() {
    let dir = tempfile::tempdir().unwrap();
    let (file, data) = write_file(dir.path(), (8 * MIB) as usize); // 16 parts of 512 KiB
    let checkpoints = dir.path().join("cp");
    // 2 MiB/s makes the first run last ~4 s, so the kill lands in the middle.
    let faults = FaultConfig {
        bandwidth_bytes_per_sec: Some(2 * MIB),
        ..FaultConfig::default()
    };
    let emulator = Emulator::builder()
        .temp_dir()
        .faults(faults)
        .start()
        .await
        .unwrap();

    let mut first = cli_upload(&emulator, &file, &checkpoints)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_recorded_parts(&checkpoints, 4, None).await;
    first.kill().unwrap(); // SIGKILL: no chance to clean up
    first.wait().unwrap();
    let finished_before = recorded_parts(&checkpoints);
    assert!(
        (4..16).contains(&finished_before),
        "killed after {finished_before} parts"
    );
    // First hour 21: the record names the endpoint plainly (it read `…/bucket//bucket`). A
    // record left under that older spelling by an earlier version still resumes: moved there.
    let record_path = std::fs::read_dir(&checkpoints)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    assert_eq!(record["endpoint"], emulator.oss_endpoint());
    let legacy_endpoint = format!(
        "{}/{}//{}",
        emulator.oss_endpoint(),
        emulator.bucket(),
        emulator.bucket()
    );
    record["endpoint"] = legacy_endpoint.clone().into();
    let legacy_path = bak2rds::upload::checkpoint::CheckpointStore::new(&checkpoints).path_for(
        &file,
        &bak2rds::upload::checkpoint::Target {
            endpoint: legacy_endpoint,
            bucket: emulator.bucket().into(),
            key: "db.bak".into(),
        },
    );
    std::fs::remove_file(&record_path).unwrap();
    std::fs::write(&legacy_path, serde_json::to_vec(&record).unwrap()).unwrap();

    let output = tokio::task::spawn_blocking({
        let mut rerun = cli_upload(&emulator, &file, &checkpoints);
        move || rerun.output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events = events(&output.stdout);
    let planned = events.iter().find(|e| e["event"] == "planned").unwrap();
    let resumed = planned["resumed_parts"].as_u64().unwrap();
    let sent = events.iter().filter(|e| e["event"] == "part_done").count() as u64;
    // First hour 16: progress says what was already there apart from what this run sends.
    for progress in events.iter().filter(|e| e["event"] == "progress") {
        let resumed_bytes = progress["resumed_bytes"].as_u64().unwrap();
        assert!(
            resumed_bytes >= finished_before as u64 * 512 * 1024,
            "{progress}"
        );
    }
    assert!(resumed >= finished_before as u64);
    assert_eq!(
        resumed + sent,
        16,
        "every part once: {resumed} resumed + {sent} sent"
    );
    let done = events.iter().find(|e| e["event"] == "done").unwrap();
    assert_eq!(done["report"]["crc64"].as_u64(), Some(crc64(&data)));
    assert_eq!(stored_crc(&client(&emulator)).await, Some(crc64(&data)));
    assert_eq!(
        recorded_parts(&checkpoints),
        0,
        "checkpoint removed after success"
    );
}

/// A backup overwritten in the middle of a part: the mapped pages vanish under the CRC pass
/// (SIGBUS). The process must end with a clear error and exit code 1, not "Bus error", and keep
/// the checkpoint of the parts it had verified. In the rare case that the truncation lands while
/// the kernel copies a chunk into the socket, that write fails with EFAULT instead and the
/// uploader's own check reports the change: also a clear error with exit code 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_truncated_in_the_middle_of_a_part_ends_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = write_file(dir.path(), (12 * MIB) as usize); // 3 parts of 4 MiB
    let checkpoints = dir.path().join("cp");
    let emulator = Emulator::builder().temp_dir().start().await.unwrap();

    // One part at a time, each taking about 2 s: once part 1 is recorded, part 2 has passed its
    // between-parts check and is being read chunk by chunk.
    let mut child = cli_upload_parts(&emulator, &file, &checkpoints, "4MiB", 1)
        .args(["--max-rate", "2MiB/s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_recorded_parts(&checkpoints, 1, Some(&mut child)).await;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(0)
        .unwrap();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("shrank, was overwritten, or could not be read (I/O error) while bak2rds")
            || stderr.contains("changed while it was being read"),
        "{stderr}"
    );
    assert!(
        (1..3).contains(&recorded_parts(&checkpoints)),
        "the checkpoint keeps the verified parts"
    );
    assert_eq!(stored_crc(&client(&emulator)).await, None, "no object");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_reports_bad_input_with_exit_code_1_and_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = write_file(dir.path(), 1024);
    let emulator = Emulator::builder().memory().start().await.unwrap();
    let output = tokio::task::spawn_blocking({
        let mut command = cli_upload_parts(&emulator, &file, &dir.path().join("cp"), "10KiB", 2);
        move || command.output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--part-size"), "{stderr}");
    assert!(stderr.contains("choose a size in that range"), "{stderr}");
}

/// An in-memory emulator that refuses the first UploadPart with AccessDenied (not retried), so
/// a run stops after InitiateMultipartUpload and leaves an unfinished upload behind.
async fn emulator_denying_the_first_part() -> EmulatorHandle {
    let faults = FaultConfig {
        errors: vec![ErrorFault {
            operation: "UploadPart".into(),
            rate: 1.0,
            status: 403,
            code: "AccessDenied".into(),
            times: Some(1),
        }],
        ..FaultConfig::default()
    };
    Emulator::builder()
        .memory()
        .faults(faults)
        .start()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_discards_the_unfinished_upload_and_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (file, _) = write_file(dir.path(), (4 * MIB) as usize);
    let checkpoints = dir.path().join("cp");
    let emulator = emulator_denying_the_first_part().await;
    let failed = tokio::task::spawn_blocking({
        let mut command = cli_upload(&emulator, &file, &checkpoints);
        move || command.output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(failed.status.code(), Some(1));
    assert_eq!(recorded_files(&checkpoints), 1);
    let client = client(&emulator);
    assert_eq!(client.list_multipart_uploads(None).await.unwrap().len(), 1);

    let aborted = tokio::task::spawn_blocking({
        let mut command = cli_upload(&emulator, &file, &checkpoints);
        command.arg("--abort");
        move || command.output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        aborted.status.success(),
        "{}",
        String::from_utf8_lossy(&aborted.stderr)
    );
    assert_eq!(recorded_files(&checkpoints), 0);
    assert!(
        client
            .list_multipart_uploads(None)
            .await
            .unwrap()
            .is_empty()
    );
}

/// First hour 18: a checkpoint folder that cannot be written stops the upload before any
/// request; a checkpoint whose upload id is not the server's starts over and names the upload
/// it leaves behind, which `--abort` then removes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_upload_is_orphaned_by_a_checkpoint_folder_or_a_bad_record() {
    let dir = tempfile::tempdir().unwrap();
    let (file, data) = write_file(dir.path(), (2 * MIB) as usize);
    let emulator = emulator_denying_the_first_part().await;

    let blocked = dir.path().join("a-file");
    std::fs::write(&blocked, b"not a folder").unwrap();
    let output = tokio::task::spawn_blocking({
        let mut command = cli_upload(&emulator, &file, &blocked.join("cp"));
        move || command.output().unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot be written") && stderr.contains("--checkpoint-dir"),
        "{stderr}"
    );
    assert_eq!(emulator.requests().count("InitiateMultipartUpload"), 0);
    assert_eq!(
        emulator.requests().count("HeadObject"),
        0,
        "before any request"
    );

    let checkpoints = dir.path().join("cp");
    let failed = tokio::task::spawn_blocking({
        let mut command = cli_upload(&emulator, &file, &checkpoints);
        move || command.output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(failed.status.code(), Some(1));
    let client = client(&emulator);
    let original = client.list_multipart_uploads(None).await.unwrap();
    assert_eq!(original.len(), 1);
    let record_path = std::fs::read_dir(&checkpoints)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    record["upload_id"] = "0000BOGUS0000".into();
    std::fs::write(&record_path, serde_json::to_vec(&record).unwrap()).unwrap();

    let output = tokio::task::spawn_blocking({
        let mut command = cli_upload(&emulator, &file, &checkpoints);
        move || command.output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events = events(&output.stdout);
    let named = events
        .iter()
        .find(|e| e["event"] == "other_uploads")
        .expect("the upload left behind is named");
    assert_eq!(named["upload_ids"][0], original[0].upload_id.as_str());
    assert_eq!(stored_crc(&client).await, Some(crc64(&data)));

    let aborted = tokio::task::spawn_blocking({
        let mut command = cli_upload(&emulator, &file, &checkpoints);
        command.arg("--abort");
        move || command.output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        aborted.status.success(),
        "{}",
        String::from_utf8_lossy(&aborted.stderr)
    );
    assert!(
        client
            .list_multipart_uploads(None)
            .await
            .unwrap()
            .is_empty()
    );
}

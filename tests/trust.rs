//! Trust and recovery at the edges: plain HTTP only to this machine unless `--insecure-http`,
//! clock skew corrected *and* reported (OSS and RDS), a full disk on the emulator answered
//! cleanly with nothing partial kept, an aliyun profile others can read warned about, and the
//! emulator's own trust rules (loopback by default, unsigned requests refused unless the bucket
//! is declared public-read).

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bak2rds::source::SourceFile;
use bak2rds::upload::checkpoint::CheckpointStore;
use bak2rds::upload::engine::{UploadJob, UploadOptions, run};
use bak2rds::upload::progress::Counters;
use bak2rds_cloud::oss::{Credentials, OssClient, OssConfig};
use bak2rds_cloud::rds::{RdsClient, RdsClientConfig};
use bak2rds_emulator::{Emulator, EmulatorConfig, EmulatorHandle, FaultConfig};
use tokio_util::sync::CancellationToken;

fn write_file(dir: &Path, len: usize) -> PathBuf {
    let path = dir.join("db.bak");
    let data: Vec<u8> = (0..len)
        .map(|i| ((i as u64).wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&data)
        .unwrap();
    path
}

fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bak2rds"));
    command
        .env_remove("ALIBABA_CLOUD_PROFILE")
        .env_remove("ALIBABA_CLOUD_SECURITY_TOKEN")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    command
}

fn with_keys(command: &mut Command, emulator: &EmulatorHandle) {
    command
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", emulator.access_key_id())
        .env(
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            emulator.access_key_secret(),
        );
}

fn client(emulator: &EmulatorHandle) -> OssClient {
    let mut config = OssConfig::with_endpoint(
        &emulator.oss_endpoint(),
        emulator.region(),
        emulator.bucket(),
    );
    config.retry.base = Duration::from_millis(5);
    config.retry.max_backoff = Duration::from_millis(20);
    let credentials = Credentials::new(emulator.access_key_id(), emulator.access_key_secret());
    OssClient::new(config, credentials).unwrap()
}

// ---------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------

/// 192.0.2.1 is TEST-NET-1 (RFC 5737): nothing answers there, so a refusal that came after a
/// connection attempt would take the 10 s connect timeout. It must come at once.
#[test]
fn plain_http_off_this_machine_is_refused_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), 1024);
    let started = Instant::now();
    let upload = bin()
        .arg("upload")
        .arg(&file)
        .args([
            "oss://bucket-x/k.bak",
            "--oss-endpoint",
            "http://192.0.2.1:9000",
        ])
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI-not-used")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "not-used")
        .output()
        .unwrap();
    let tasks = bin()
        .args([
            "tasks",
            "--instance",
            "rm-x",
            "--rds-endpoint",
            "http://192.0.2.1:9000",
        ])
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI-not-used")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "not-used")
        .output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused at once"
    );
    for (what, output) in [("upload", upload), ("tasks", tasks)] {
        assert_eq!(output.status.code(), Some(1), "{what}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("plain HTTP")
                && stderr.contains("https://")
                && stderr.contains("--insecure-http"),
            "{what}: {stderr}"
        );
    }
}

#[test]
fn insecure_http_lets_a_remote_http_endpoint_through_and_loopback_needs_nothing() {
    let credentials = Credentials::new("id", "secret");
    let remote = |allow_http| {
        let mut config = OssConfig::with_endpoint("http://192.0.2.1:9000", "cn-hangzhou", "b-x1");
        config.allow_http = allow_http;
        OssClient::new(config, credentials.clone())
    };
    assert!(remote(false).is_err());
    assert!(
        remote(true).is_ok(),
        "no connection is made to build a client"
    );
    for loopback in [
        "http://127.0.0.1:9000",
        "http://localhost:1",
        "http://[::1]:2",
    ] {
        let config = OssConfig::with_endpoint(loopback, "cn-hangzhou", "b-x1");
        assert!(
            OssClient::new(config, credentials.clone()).is_ok(),
            "{loopback}"
        );
    }
    let rds = |endpoint: &str, allow_http| {
        let mut config = RdsClientConfig::new("cn-hangzhou");
        config.endpoint = Some(endpoint.to_owned());
        config.allow_http = allow_http;
        RdsClient::new(config, credentials.clone())
    };
    assert!(rds("http://192.0.2.1:9000", false).is_err());
    assert!(rds("http://192.0.2.1:9000", true).is_ok());
    assert!(rds("http://127.0.0.1:9000", false).is_ok());
    assert!(rds("https://rds.aliyuncs.com", false).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Clock skew
// ---------------------------------------------------------------------------------------------

/// The emulator's clock runs an hour ahead: the first signed request meets
/// `RequestTimeTooSkewed`, the client adopts the server's time from `Date`, the upload succeeds,
/// and the user is told their clock is off and how to fix it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oss_clock_skew_is_corrected_and_the_user_is_told() {
    let emulator = Emulator::builder()
        .faults(FaultConfig {
            clock_skew_secs: 3600,
            ..FaultConfig::default()
        })
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), 300 << 10);
    let mut command = bin();
    command
        .arg("upload")
        .arg(&file)
        .arg(format!("oss://{}/skew.bak", emulator.bucket()))
        .args(["--oss-endpoint", &emulator.oss_endpoint()])
        .arg("--checkpoint-dir")
        .arg(dir.path().join("checkpoints"));
    with_keys(&mut command, &emulator);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("local clock"))
        .collect();
    assert_eq!(warnings.len(), 1, "warned once: {stderr}");
    assert!(
        warnings[0].contains("WARN")
            && (warnings[0].contains("3600 s behind OSS's")
                || warnings[0].contains("3599 s behind OSS's"))
            && warnings[0].contains("NTP"),
        "{stderr}"
    );
    let stored = emulator
        .storage()
        .read_object(emulator.bucket(), "skew.bak");
    assert_eq!(stored.map(|o| o.len()), Some(300 << 10));
}

/// A stand-in RDS gateway whose clock is two hours ahead: it refuses requests stamped more
/// than 15 minutes off with `InvalidTimeStamp.Expired` and its `Date`, like the real one, and
/// answers the rest with an empty (valid) result.
async fn skewed_rds_gateway() -> (String, Arc<std::sync::atomic::AtomicU32>) {
    use axum::http::{HeaderMap, StatusCode, header};
    let refused = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = Arc::clone(&refused);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let counter = Arc::clone(&counter);
        async move {
            let server_now = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
            let date = bak2rds_cloud::oss::sign::http_date(server_now);
            // V3 (the client's default) stamps `x-acs-date` as ISO 8601.
            let stamped = headers
                .get("x-acs-date")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
                        .ok()
                });
            let fresh = stamped.is_some_and(|at| (server_now - at).abs() < time::Duration::minutes(15));
            if fresh {
                (StatusCode::OK, [(header::DATE, date)], r#"{"RequestId":"R-OK"}"#.to_owned())
            } else {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                (
                    StatusCode::BAD_REQUEST,
                    [(header::DATE, date)],
                    r#"{"RequestId":"R-EXP","Code":"InvalidTimeStamp.Expired","Message":"Specified time stamp or date value is expired."}"#.to_owned(),
                )
            }
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rds_clock_skew_is_corrected_from_the_gateway_date_and_the_user_is_told() {
    let (endpoint, refused) = skewed_rds_gateway().await;
    // The library: one refusal, then the call succeeds with the adopted offset.
    let mut config = RdsClientConfig::new("cn-hangzhou");
    config.endpoint = Some(endpoint.clone());
    let client = RdsClient::new(config, Credentials::new("LTAI-id", "secret")).unwrap();
    client.describe_databases("rm-x").await.unwrap();
    assert_eq!(refused.load(std::sync::atomic::Ordering::Relaxed), 1);
    let skew = client.clock_skew_secs();
    assert!((7195..=7205).contains(&skew), "offset {skew}");
    // The CLI: the same, with the warning on stderr.
    let output = tokio::task::spawn_blocking(move || {
        bin()
            .args(["tasks", "--instance", "rm-x", "--rds-endpoint", &endpoint])
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI-id")
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "secret")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("s behind RDS's") && stderr.contains("NTP"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// Disk full on the emulator's data folder
// ---------------------------------------------------------------------------------------------

async fn full_disk_emulator(dir: &Path, budget: u64) -> EmulatorHandle {
    Emulator::builder()
        .data_dir(dir)
        .faults(FaultConfig {
            disk_full_after_bytes: Some(budget),
            ..FaultConfig::default()
        })
        .start()
        .await
        .unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

async fn upload_with_few_retries(
    client: &OssClient,
    file: &Path,
    checkpoints: &Path,
) -> Result<bak2rds::upload::engine::UploadReport, bak2rds::upload::error::UploadError> {
    let mut options = UploadOptions {
        part_size: Some(1 << 20),
        concurrency: 1,
        ..UploadOptions::default()
    };
    options.retry.max_retries = 2;
    options.retry.base = Duration::from_millis(5);
    options.retry.max_backoff = Duration::from_millis(20);
    let job = UploadJob {
        source: Arc::new(SourceFile::open(file).unwrap()),
        bucket: client.bucket().to_owned(),
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

/// The disk fills up in the middle of the third part: that part fails with a clean
/// `500 InternalError` saying the data folder is full, its partial file is removed, and only
/// the two whole parts remain (exactly the file's bytes).
#[tokio::test]
async fn a_full_disk_answers_a_clean_error_and_keeps_no_partial_part() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("emulator");
    let emulator = full_disk_emulator(&data, (2 << 20) + (300 << 10)).await;
    let file = write_file(dir.path(), 4 << 20);
    let client = client(&emulator);
    let error = upload_with_few_retries(&client, &file, &dir.path().join("cp"))
        .await
        .unwrap_err();
    let text = format!("{error:#}");
    assert!(
        text.contains("InternalError") && text.contains("data folder is full"),
        "{text}"
    );
    assert_eq!(client.head_object("db.bak").await.unwrap(), None);
    let uploads = client.list_multipart_uploads(None).await.unwrap();
    assert_eq!(uploads.len(), 1);
    let parts = client
        .list_parts("db.bak", &uploads[0].upload_id)
        .await
        .unwrap();
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(parts.len(), 2, "only the whole parts are kept");
    for part in &parts {
        let start = (part.part_number as usize - 1) << 20;
        let expected = bak2rds_cloud::checksum::crc64(&bytes[start..start + (1 << 20)]);
        assert_eq!(part.size, 1 << 20);
        assert_eq!(part.crc64, Some(expected));
    }
    assert_eq!(
        files_in(&data.join("blobs")).len(),
        2,
        "no partial part file is left"
    );

    // A PutObject once the disk is full: the OSS error XML, and nothing stored.
    let body = vec![7u8; 64 << 10];
    let error = client
        .put_object("small.bin", body.into(), None)
        .await
        .unwrap_err();
    let text = format!("{error:#}");
    assert!(
        text.contains("InternalError") && text.contains("full"),
        "{text}"
    );
    assert_eq!(client.head_object("small.bin").await.unwrap(), None);
    assert_eq!(files_in(&data.join("blobs")).len(), 2);
    assert!(files_in(&data.join("objects")).is_empty());
}

/// The parts fit but the object's manifest does not: Complete fails cleanly, no object and no
/// half-written manifest exist, and a restarted emulator serves nothing under the key.
#[tokio::test]
async fn a_disk_full_at_complete_leaves_no_object_or_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("emulator");
    let emulator = full_disk_emulator(&data, (2 << 20) + 16).await;
    let file = write_file(dir.path(), 2 << 20);
    let client = client(&emulator);
    let error = upload_with_few_retries(&client, &file, &dir.path().join("cp"))
        .await
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("data folder is full"),
        "{error:#}"
    );
    assert_eq!(client.head_object("db.bak").await.unwrap(), None);
    assert!(
        files_in(&data.join("objects")).is_empty(),
        "no manifest, no temporary file"
    );
    drop(client);
    emulator.shutdown().await.unwrap();
    let restarted = Emulator::builder().data_dir(&data).start().await.unwrap();
    assert!(
        restarted
            .storage()
            .read_object(restarted.bucket(), "db.bak")
            .is_none()
    );
}

/// Unmounts a test mount when dropped, whatever the test's outcome.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// The same through a real file system that fills up: the data folder on a 4 MiB tmpfs.
/// Needs root: `cargo test --test main trust::a_real_full -- --ignored`.
#[tokio::test]
#[ignore = "mounts a tmpfs, which needs root"]
async fn a_real_full_tmpfs_gets_the_same_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("small");
    std::fs::create_dir(&mount).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "bak2rds-test"])
        .arg(&mount)
        .status();
    if !mounted.is_ok_and(|status| status.success()) {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    }
    // Declared before the emulator, so dropped after it: no file is open at unmount.
    let _unmount = Unmount(mount.clone());
    let data = mount.join("emulator");
    let emulator = Emulator::builder().data_dir(&data).start().await.unwrap();
    let file = write_file(dir.path(), 8 << 20);
    let client = client(&emulator);
    let error = upload_with_few_retries(&client, &file, &dir.path().join("cp"))
        .await
        .unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains("data folder is full"), "{text}");
    assert_eq!(client.head_object("db.bak").await.unwrap(), None);
    let uploads = client.list_multipart_uploads(None).await.unwrap();
    let parts = client
        .list_parts("db.bak", &uploads[0].upload_id)
        .await
        .unwrap();
    let bytes = std::fs::read(&file).unwrap();
    assert!(
        !parts.is_empty() && parts.len() < 8,
        "{} parts",
        parts.len()
    );
    for part in &parts {
        let start = (part.part_number as usize - 1) << 20;
        let expected = bak2rds_cloud::checksum::crc64(&bytes[start..start + (1 << 20)]);
        assert_eq!(part.crc64, Some(expected));
    }
    assert_eq!(files_in(&data.join("blobs")).len(), parts.len());
}

// ---------------------------------------------------------------------------------------------
// Profile permissions
// ---------------------------------------------------------------------------------------------

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aliyun_profile_others_can_read_draws_a_chmod_warning() {
    use std::os::unix::fs::PermissionsExt as _;
    let config = EmulatorConfig::from_toml("[[instance]]\nid = \"rm-perm0001\"\n").unwrap();
    let emulator = Emulator::builder().config(config).start().await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let profile = home.path().join(".aliyun/config.json");
    std::fs::create_dir_all(profile.parent().unwrap()).unwrap();
    std::fs::write(
        &profile,
        format!(
            r#"{{"current":"default","profiles":[{{"name":"default","mode":"AK",
            "access_key_id":"{}","access_key_secret":"{}"}}]}}"#,
            emulator.access_key_id(),
            emulator.access_key_secret()
        ),
    )
    .unwrap();
    let run = |mode| {
        std::fs::set_permissions(&profile, std::fs::Permissions::from_mode(mode)).unwrap();
        let mut command = bin();
        command
            .args(["tasks", "--instance", "rm-perm0001"])
            .args(["--rds-endpoint", &emulator.rds_endpoint()])
            .env("HOME", home.path())
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
        command
    };
    let open = run(0o644);
    let open = tokio::task::spawn_blocking(move || {
        let mut c = open;
        c.output().unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&open.stderr);
    assert!(open.status.success(), "{stderr}");
    assert!(
        stderr.contains("chmod 600") && stderr.contains("config.json"),
        "{stderr}"
    );
    let closed = run(0o600);
    let closed = tokio::task::spawn_blocking(move || {
        let mut c = closed;
        c.output().unwrap()
    })
    .await
    .unwrap();
    assert!(closed.status.success());
    assert!(!String::from_utf8_lossy(&closed.stderr).contains("chmod"));
}

// ---------------------------------------------------------------------------------------------
// The emulator's own trust rules
// ---------------------------------------------------------------------------------------------

/// Unsigned requests are refused (`AccessDenied`, as for OSS's default private ACL); a bucket
/// declared `allow_anonymous = true` serves unsigned reads (public-read) but never writes.
#[tokio::test]
async fn unsigned_requests_are_refused_unless_the_bucket_is_public_read() {
    let config = EmulatorConfig::from_toml(
        "[[bucket]]\nname = \"private-b\"\n[[bucket]]\nname = \"public-b\"\nallow_anonymous = true\n",
    )
    .unwrap();
    let emulator = Emulator::builder().config(config).start().await.unwrap();
    let endpoint = emulator.oss_endpoint();
    let credentials = Credentials::new(emulator.access_key_id(), emulator.access_key_secret());
    for bucket in ["private-b", "public-b"] {
        let signed = OssClient::new(
            OssConfig::with_endpoint(&endpoint, emulator.region(), bucket),
            credentials.clone(),
        )
        .unwrap();
        signed
            .put_object("k.bin", vec![1u8; 10].into(), None)
            .await
            .unwrap();
    }
    let http = reqwest::Client::new();
    let status = |method: reqwest::Method, path: &str| {
        let request = http.request(method, format!("{endpoint}/{path}"));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let denied = http
        .get(format!("{endpoint}/private-b/k.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status().as_u16(), 403);
    assert!(
        denied
            .text()
            .await
            .unwrap()
            .contains("<Code>AccessDenied</Code>")
    );
    assert_eq!(status(reqwest::Method::HEAD, "private-b/k.bin").await, 403);
    assert_eq!(status(reqwest::Method::GET, "private-b/").await, 403);

    assert_eq!(status(reqwest::Method::GET, "public-b/k.bin").await, 200);
    assert_eq!(status(reqwest::Method::HEAD, "public-b/k.bin").await, 200);
    assert_eq!(status(reqwest::Method::GET, "public-b/").await, 200);
    assert_eq!(
        status(reqwest::Method::PUT, "public-b/other.bin").await,
        403
    );
    assert_eq!(status(reqwest::Method::DELETE, "public-b/k.bin").await, 403);
    assert_eq!(status(reqwest::Method::GET, "public-b/?uploads").await, 403);
    assert_eq!(
        status(reqwest::Method::POST, "public-b/k2.bin?uploads").await,
        403
    );
    assert!(
        emulator
            .storage()
            .read_object("public-b", "k.bin")
            .is_some()
    );
    assert!(
        emulator
            .storage()
            .read_object("public-b", "other.bin")
            .is_none()
    );
}

/// `bak2rds serve` listens on loopback unless told otherwise, and warns when told otherwise.
#[test]
fn serve_binds_loopback_by_default_and_warns_for_other_addresses() {
    let first_line = |listen: Option<&str>| {
        let mut command = bin();
        command.arg("serve");
        if let Some(listen) = listen {
            command.args(["--listen", listen]);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // SIGTERM: serve shuts down gracefully and removes its temporary data folder.
        let terminated = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(terminated.success());
        assert!(
            child.wait().unwrap().success(),
            "serve stops cleanly on SIGTERM"
        );
        let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
        let info: serde_json::Value = serde_json::from_str(&line).unwrap();
        (info, stderr)
    };
    let (info, stderr) = first_line(None);
    assert!(
        info["oss_endpoint"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"),
        "{info}"
    );
    assert!(
        info["rds_endpoint"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert!(!stderr.contains("warning"), "{stderr}");
    let (_, stderr) = first_line(Some("0.0.0.0:0"));
    assert!(
        stderr.contains("warning") && stderr.contains("other machines can reach"),
        "{stderr}"
    );
}

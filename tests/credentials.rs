//! Issue 20: uploads that outlive their STS tokens. The emulator plays STS and the ECS metadata
//! service with tokens of a few seconds; `bak2rds upload` runs at `--max-rate` for several token
//! lifetimes with a `RamRoleArn` profile, an `EcsRamRole` profile and the OIDC variables, and
//! must complete with the object equal to the file, the refreshes seen in the emulator's log,
//! and no secret in any output or file it wrote.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use bak2rds_cloud::checksum::crc64;
use bak2rds_emulator::{Emulator, EmulatorHandle};

use crate::util::bin;

/// Token lifetime in the emulator: the upload below lasts about five of them.
const TOKEN_TTL: Duration = Duration::from_secs(4);
/// 20 MiB at 1 MiB/s: about 20 s of upload.
const FILE_BYTES: usize = 20 << 20;
const MAX_RATE: &str = "1MiB";

/// A sample OIDC token (a JWT's shape: header.payload.signature, base64url).
const OIDC_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.\
                          eyJpc3MiOiJodHRwczovL29pZGMuZXhhbXBsZSIsInN1YiI6ImJhazJyZHMifQ.\
                          c2lnbmF0dXJlLW9mLXRoZS10ZXN0LXRva2Vu";

/// How the upload gets its credentials.
enum Way {
    RamRoleArnProfile,
    EcsRamRoleProfile,
    OidcVariables,
}

struct Run {
    output: Output,
    dir: tempfile::TempDir,
    data: Vec<u8>,
}

fn write_data(path: &Path) -> Vec<u8> {
    let data: Vec<u8> = (0..FILE_BYTES)
        .map(|i| ((i as u64).wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    std::fs::write(path, &data).unwrap();
    data
}

fn write_private(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// The aliyun CLI file with one profile (`current`).
fn cli_profile(home: &Path, profile: serde_json::Value) {
    let config = serde_json::json!({ "current": "mig", "profiles": [profile] });
    write_private(&home.join(".aliyun/config.json"), &config.to_string());
}

async fn upload(emulator: &EmulatorHandle, way: Way) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let file = dir.path().join("big.bak");
    let data = write_data(&file);
    let mut command = bin();
    command
        .arg("upload")
        .arg(&file)
        .arg(format!("oss://{}/big.bak", emulator.bucket()))
        .args([
            "--max-rate",
            MAX_RATE,
            "--part-size",
            "1MiB",
            "--concurrency",
            "4",
        ])
        .arg("--checkpoint-dir")
        .arg(dir.path().join("checkpoints"))
        .env("HOME", &home)
        .env("BAK2RDS_OSS_ENDPOINT", emulator.oss_endpoint())
        .env("BAK2RDS_STS_ENDPOINT", emulator.sts_endpoint())
        .env(
            "BAK2RDS_ECS_METADATA_ENDPOINT",
            emulator.ecs_metadata_endpoint(),
        )
        .env("RUST_LOG", "trace")
        .stdin(Stdio::null());
    for variable in [
        "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        "ALIBABA_CLOUD_SECURITY_TOKEN",
        "ALIBABA_CLOUD_PROFILE",
        "ALIBABA_CLOUD_CREDENTIALS_URI",
        "ALIBABA_CLOUD_ROLE_ARN",
        "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
        "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
    ] {
        command.env_remove(variable);
    }
    match way {
        Way::RamRoleArnProfile => cli_profile(
            &home,
            serde_json::json!({
                "name": "mig", "mode": "RamRoleArn",
                "access_key_id": emulator.access_key_id(),
                "access_key_secret": emulator.access_key_secret(),
                "ram_role_arn": emulator.role_arn(),
                "ram_session_name": "nightly-migration",
                "expired_seconds": 900,
            }),
        ),
        Way::EcsRamRoleProfile => cli_profile(
            &home,
            serde_json::json!({
                "name": "mig", "mode": "EcsRamRole", "ram_role_name": emulator.ecs_role_name(),
            }),
        ),
        Way::OidcVariables => {
            let token_file = dir.path().join("oidc-token");
            std::fs::write(&token_file, OIDC_TOKEN).unwrap();
            command
                .env("ALIBABA_CLOUD_ROLE_ARN", emulator.role_arn())
                .env(
                    "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
                    emulator.oidc_provider_arn(),
                )
                .env("ALIBABA_CLOUD_OIDC_TOKEN_FILE", &token_file);
        }
    }
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    Run { output, dir, data }
}

/// Every file under `dir`, read as text where it is text.
fn files_under(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else if let Ok(text) = std::fs::read(&path) {
            found.push((path, String::from_utf8_lossy(&text).into_owned()));
        }
    }
    found
}

/// The run completed, the object is the file, the credentials were refreshed several times,
/// and nothing the emulator handed out (nor the long-term secret) shows anywhere.
async fn check(emulator: &EmulatorHandle, run: &Run, fetches: &[&str]) {
    let stderr = String::from_utf8_lossy(&run.output.stderr);
    let stdout = String::from_utf8_lossy(&run.output.stdout);
    assert!(run.output.status.success(), "{stdout}\n{stderr}");
    let object = emulator
        .storage()
        .read_object(emulator.bucket(), "big.bak")
        .expect("the object exists");
    let mut stored = Vec::new();
    object.copy_to(&mut stored).unwrap();
    assert_eq!(
        crc64(&stored),
        crc64(&run.data),
        "the object is not the file"
    );

    let records = emulator.requests().records();
    let issued = records
        .iter()
        .filter(|r| {
            r.operation
                .as_deref()
                .is_some_and(|op| fetches.contains(&op))
                && r.status == 200
        })
        .count();
    // About five lifetimes: the first fetch and at least three refreshes.
    assert!(
        issued >= 4,
        "credentials fetched {issued} times: {records:?}"
    );
    let refused_for_expiry = records.iter().filter(|r| r.status == 403).count();
    assert_eq!(refused_for_expiry, 0, "requests refused: {records:?}");
    assert!(
        stderr.contains("credentials: "),
        "the source is not said: {stderr}"
    );

    let mut secrets = vec![
        emulator.access_key_secret().to_owned(),
        OIDC_TOKEN.to_owned(),
    ];
    for issued in emulator.state().key_ring.issued() {
        secrets.push(issued.secret.clone());
        secrets.extend(issued.security_token.clone());
    }
    let mut places = vec![
        ("stdout".into(), stdout.into_owned()),
        ("stderr".into(), stderr.into_owned()),
    ];
    places.extend(
        files_under(run.dir.path())
            .into_iter()
            .filter(|(path, _)| !path.ends_with("big.bak") && !path.ends_with("oidc-token"))
            .filter(|(path, _)| !path.ends_with("config.json"))
            .map(|(path, text)| (path.display().to_string(), text)),
    );
    for (place, text) in &places {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a secret in {place}");
        }
    }
}

async fn emulator() -> EmulatorHandle {
    let emulator = Emulator::builder()
        .sts_token_ttl(TOKEN_TTL)
        .start()
        .await
        .unwrap();
    emulator.requests().keep_records();
    emulator
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ram_role_profile_outlives_its_tokens() {
    let emulator = emulator().await;
    let run = upload(&emulator, Way::RamRoleArnProfile).await;
    check(&emulator, &run, &["AssumeRole"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ecs_role_profile_outlives_its_tokens() {
    let emulator = emulator().await;
    let run = upload(&emulator, Way::EcsRamRoleProfile).await;
    check(&emulator, &run, &["EcsRamRoleCredentials"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_variables_outlive_their_tokens() {
    let emulator = emulator().await;
    let run = upload(&emulator, Way::OidcVariables).await;
    check(&emulator, &run, &["AssumeRoleWithOIDC"]).await;
}

/// A bak2rds run configured with `profile`, without sending a byte: an upload of a small file.
fn upload_with_profile(emulator: &EmulatorHandle, profile: serde_json::Value) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    cli_profile(&home, profile);
    let file = dir.path().join("small.bak");
    std::fs::write(&file, b"small").unwrap();
    bin()
        .arg("upload")
        .arg(&file)
        .arg(format!("oss://{}/small.bak", emulator.bucket()))
        .arg("--checkpoint-dir")
        .arg(dir.path().join("checkpoints"))
        .env("HOME", &home)
        .env("BAK2RDS_OSS_ENDPOINT", emulator.oss_endpoint())
        .env("BAK2RDS_STS_ENDPOINT", emulator.sts_endpoint())
        // A port nothing listens on: the metadata service of a machine that is not ECS.
        .env("BAK2RDS_ECS_METADATA_ENDPOINT", "http://127.0.0.1:9")
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        .env_remove("ALIBABA_CLOUD_PROFILE")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A broken source is an error that names it and the fix, not a fall-through to another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_source_is_named_with_its_fix() {
    let emulator = Emulator::builder().start().await.unwrap();
    let bad_role = "acs:ram::1234567890123456:role/no-such-role";
    let out = upload_with_profile(
        &emulator,
        serde_json::json!({
            "name": "mig", "mode": "RamRoleArn",
            "access_key_id": emulator.access_key_id(),
            "access_key_secret": emulator.access_key_secret(),
            "ram_role_arn": bad_role,
        }),
    );
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for needed in [
        "EntityNotExist.Role",
        "no-such-role",
        "aliyun CLI profile \"mig\"",
        "check the role ARN",
    ] {
        assert!(text.contains(needed), "{needed:?} missing: {text}");
    }
    assert!(!text.contains(emulator.access_key_secret()), "{text}");

    let out = upload_with_profile(
        &emulator,
        serde_json::json!({"name": "mig", "mode": "EcsRamRole", "ram_role_name": "host-role"}),
    );
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for needed in [
        "ECS metadata service",
        "host-role",
        "did not answer",
        "ECS instance",
    ] {
        assert!(text.contains(needed), "{needed:?} missing: {text}");
    }
}

/// A client whose clock is behind the services' keeps its credentials past their real expiry:
/// OSS refuses the token, and each refused request is signed again with fresh credentials and
/// sent once more — none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_refused_for_an_expired_token_is_signed_again() {
    use bak2rds_cloud::credentials::{CredentialProvider, RoleSession, Source, SourceKind};
    use bak2rds_cloud::oss::OssClient;
    use bak2rds_emulator::faults::FaultConfig;

    let faults = FaultConfig {
        clock_skew_secs: 3,
        ..FaultConfig::default()
    };
    let emulator = Emulator::builder()
        .sts_token_ttl(Duration::from_secs(4))
        .faults(faults)
        .start()
        .await
        .unwrap();
    emulator.requests().keep_records();
    let source = Source {
        kind: SourceKind::RamRole {
            base: Box::new(Source::fixed(emulator.credentials(), "the test")),
            session: RoleSession {
                role_arn: emulator.role_arn(),
                session_name: "skewed-client".to_owned(),
                duration_secs: 900,
                external_id: None,
                policy: None,
                sts_endpoint: emulator.sts_endpoint(),
            },
        },
        origin: "the test".to_owned(),
    };
    let provider = CredentialProvider::new(source, &Default::default()).unwrap();
    let client = OssClient::new(emulator.oss_config(), provider.clone()).unwrap();
    let started = std::time::Instant::now();
    let mut written = 0;
    while started.elapsed() < Duration::from_secs(12) {
        let key = format!("k{written}");
        client
            .put_object(&key, bytes::Bytes::from_static(b"x"), None)
            .await
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        written += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let records = emulator.requests().records();
    let refused = records.iter().filter(|r| r.status == 403).count();
    assert!(
        refused >= 1,
        "the skewed clock never met an expired token: {records:?}"
    );
    assert!(
        provider.refresh_count() >= 2,
        "{}",
        provider.refresh_count()
    );
    assert_eq!(
        records
            .iter()
            .filter(|r| r.operation.as_deref() == Some("PutObject") && r.status == 200)
            .count(),
        written
    );
}

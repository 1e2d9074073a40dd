//! Issue 24, enterprise networks: a TLS endpoint whose certificate comes from a company CA (a
//! test CA here), and an HTTP CONNECT proxy that wants credentials, both on 127.0.0.1 in front
//! of the emulator. The client must refuse the unknown CA with the way out, accept it through
//! `--ca-bundle` or `SSL_CERT_FILE`, and carry an upload through the proxy without ever showing
//! the proxy's password.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bak2rds_emulator::{Emulator, EmulatorHandle};
use base64::Engine as _;
use mssql_backup::TargetVersion;
use mssql_backup::synth::{SynthDatabase, SynthKind, SynthSpec, write_synthetic_file};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::util::bin;

/// A test CA and a server certificate it signed for `127.0.0.1` and `*.oss.test`.
struct TestCa {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

fn test_ca() -> TestCa {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "bak2rds test company CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let names = vec![
        "127.0.0.1".to_owned(),
        "oss.test".to_owned(),
        "*.oss.test".to_owned(),
    ];
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert = rcgen::CertificateParams::new(names)
        .unwrap()
        .signed_by(&server_key, &ca_cert, &ca_key)
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into());
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![server_cert.der().clone()], key)
    .unwrap();
    TestCa {
        ca_pem: ca_cert.pem(),
        server: Arc::new(server),
    }
}

/// Terminates TLS on 127.0.0.1 and passes the plain bytes to `backend` (the emulator).
async fn tls_front(server: Arc<rustls::ServerConfig>, backend: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(server);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return; // the client refused our certificate: that is a test case
                };
                if let Ok(mut plain) = TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    address
}

/// An HTTP CONNECT proxy on 127.0.0.1 that wants `user:password` and sends every tunnel to
/// `target`, whatever host was asked for (so `*.oss.test` never needs resolving). Counts the
/// tunnels it opened.
async fn connect_proxy(
    user: &str,
    password: &str,
    target: SocketAddr,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let expected = format!(
        "basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    let tunnels = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&tunnels);
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let (expected, counted) = (expected.clone(), Arc::clone(&counted));
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                let authorised = head.starts_with("connect ")
                    && head.lines().any(|l| {
                        l.trim() == format!("proxy-authorization: {expected}").to_ascii_lowercase()
                    });
                if !authorised {
                    let _ = client
                        .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n")
                        .await;
                    return;
                }
                let Ok(mut upstream) = TcpStream::connect(target).await else {
                    return;
                };
                counted.fetch_add(1, Ordering::SeqCst);
                if client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .is_ok()
                {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    (address, tunnels)
}

fn emulator_backend(emulator: &EmulatorHandle) -> SocketAddr {
    emulator
        .oss_endpoint()
        .trim_start_matches("http://")
        .parse()
        .unwrap()
}

/// `bak2rds upload FILE oss://<bucket>/db.bak` with these extra arguments and variables, no
/// proxy from the test's own environment.
fn upload(
    emulator: &EmulatorHandle,
    file: &std::path::Path,
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut command = bin();
    command
        .arg("upload")
        .arg(file)
        .arg(format!("oss://{}/db.bak", emulator.bucket()))
        .args(["--region", "cn-hangzhou"])
        .args(args)
        .arg("--checkpoint-dir")
        .arg(dir.join("checkpoints"))
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", emulator.access_key_id())
        .env(
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            emulator.access_key_secret(),
        )
        .env_remove("ALIBABA_CLOUD_PROFILE")
        .env_remove("BAK2RDS_OSS_ENDPOINT");
    for variable in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        command.env_remove(variable);
    }
    command.envs(env.iter().copied());
    command.stdin(Stdio::null()).output().unwrap()
}

fn backup(dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("Sales_FULL.bak");
    let database = SynthDatabase::new("Sales", TargetVersion::parse("2019").unwrap());
    write_synthetic_file(
        &file,
        &SynthSpec::single(database, SynthKind::Full, 2 << 20),
    )
    .unwrap();
    file
}

/// A certificate from an unknown CA is refused with the way out; `--ca-bundle` and
/// `SSL_CERT_FILE` each make it trusted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_ca_is_trusted_only_when_given() {
    let emulator = Emulator::builder().start().await.unwrap();
    let ca = test_ca();
    let front = tls_front(Arc::clone(&ca.server), emulator_backend(&emulator)).await;
    let dir = tempfile::tempdir().unwrap();
    let file = backup(dir.path());
    let ca_file = dir.path().join("company-ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let endpoint = format!("https://{front}");

    let refused = upload(
        &emulator,
        &file,
        dir.path(),
        &["--oss-endpoint", &endpoint],
        &[],
    );
    let text = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{text}");
    assert!(
        text.contains("--ca-bundle") && text.contains("SSL_CERT_FILE"),
        "{text}"
    );

    let ca_path = ca_file.to_str().unwrap();
    let with_flag = upload(
        &emulator,
        &file,
        dir.path(),
        &["--oss-endpoint", &endpoint, "--ca-bundle", ca_path],
        &[],
    );
    assert!(
        with_flag.status.success(),
        "{}",
        String::from_utf8_lossy(&with_flag.stderr)
    );

    let with_variable = upload(
        &emulator,
        &file,
        dir.path(),
        &["--oss-endpoint", &endpoint],
        &[("SSL_CERT_FILE", ca_path)],
    );
    assert!(
        with_variable.status.success(),
        "{}",
        String::from_utf8_lossy(&with_variable.stderr)
    );

    // The RDS client says the same.
    let rds = bin()
        .args(["tasks", "--instance", "rm-x", "--rds-endpoint", &endpoint])
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", emulator.access_key_id())
        .env(
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            emulator.access_key_secret(),
        )
        .env_remove("ALIBABA_CLOUD_PROFILE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&rds.stderr);
    assert_eq!(rds.status.code(), Some(1), "{text}");
    assert!(
        text.contains("not trusted") && text.contains("--ca-bundle"),
        "{text}"
    );

    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, b"hello").unwrap();
    let bad = upload(
        &emulator,
        &file,
        dir.path(),
        &[
            "--oss-endpoint",
            &endpoint,
            "--ca-bundle",
            not_pem.to_str().unwrap(),
        ],
        &[],
    );
    let text = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{text}");
    assert!(text.contains("holds no certificate"), "{text}");
}

/// An upload through a CONNECT proxy that wants credentials (given in HTTPS_PROXY) to the
/// emulator served over TLS: it arrives whole, `-v` names the proxy, and the proxy's password
/// appears nowhere in the output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_goes_through_a_proxy_with_credentials() {
    const PASSWORD: &str = "pr0xy-s3cret-pw";
    let emulator = Emulator::builder().start().await.unwrap();
    let ca = test_ca();
    let front = tls_front(Arc::clone(&ca.server), emulator_backend(&emulator)).await;
    let (proxy, tunnels) = connect_proxy("migrator", PASSWORD, front).await;
    let dir = tempfile::tempdir().unwrap();
    let file = backup(dir.path());
    let ca_file = dir.path().join("company-ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let proxy_url = format!("http://migrator:{PASSWORD}@{proxy}");

    let output = upload(
        &emulator,
        &file,
        dir.path(),
        &[
            "-v",
            "--oss-endpoint",
            &format!("https://oss.test:{}", front.port()),
            "--ca-bundle",
            ca_file.to_str().unwrap(),
        ],
        &[("HTTPS_PROXY", proxy_url.as_str())],
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{all}");
    assert!(
        tunnels.load(Ordering::SeqCst) >= 1,
        "the proxy carried the upload"
    );
    assert!(
        all.contains(&format!("through the proxy http://***@{proxy}")),
        "{all}"
    );
    assert!(
        !all.contains(PASSWORD),
        "the proxy's password leaked: {all}"
    );
    let client = {
        let config = bak2rds_cloud::oss::OssConfig::with_endpoint(
            &emulator.oss_endpoint(),
            emulator.region(),
            emulator.bucket(),
        );
        let credentials = bak2rds_cloud::oss::Credentials::new(
            emulator.access_key_id(),
            emulator.access_key_secret(),
        );
        bak2rds_cloud::oss::OssClient::new(config, credentials).unwrap()
    };
    let stored = client.head_object("db.bak").await.unwrap().unwrap();
    assert_eq!(
        stored.crc64,
        Some(bak2rds_cloud::checksum::crc64(
            &std::fs::read(&file).unwrap()
        ))
    );
}

/// `bak2rds doctor`: the page a security review reads, without a secret on it.
#[test]
fn doctor_names_everything_but_the_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let ca = test_ca();
    let ca_file = dir.path().join("company-ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let out = bin()
        .args(["doctor", "--region", "cn-shanghai", "--ca-bundle"])
        .arg(&ca_file)
        .arg("--checkpoint-dir")
        .arg(dir.path().join("cp"))
        .arg("--state-dir")
        .arg(dir.path())
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI5tDoctorKeyId99")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "doctor-secret-value")
        .env(
            "HTTPS_PROXY",
            "http://someone:proxy-password@proxy.corp.example:3128",
        )
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env_remove("ALIBABA_CLOUD_PROFILE")
        .env_remove("BAK2RDS_OSS_ENDPOINT")
        .env_remove("BAK2RDS_RDS_ENDPOINT")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "environment variables ALIBABA_CLOUD_ACCESS_KEY_ID",
        "LTAI…Id99",
        "oss-cn-shanghai.aliyuncs.com",
        "rds.aliyuncs.com",
        "http://***@proxy.corp.example:3128",
        "--ca-bundle",
        "not created yet",
        "version",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
    for secret in ["doctor-secret-value", "proxy-password", "someone"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

/// The emulator's loopback endpoints are reached directly, whatever proxy the environment names
/// (a company proxy could not reach this machine's loopback).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_endpoints_bypass_any_proxy() {
    let emulator = Emulator::builder().start().await.unwrap();
    // A proxy that refuses everything: a request sent through it would fail.
    let (proxy, tunnels) = connect_proxy("nobody", "nothing", emulator_backend(&emulator)).await;
    let dir = tempfile::tempdir().unwrap();
    let file = backup(dir.path());
    let proxy_url = format!("http://{proxy}");
    let output = upload(
        &emulator,
        &file,
        dir.path(),
        &["-v", "--oss-endpoint", &emulator.oss_endpoint()],
        &[
            ("HTTP_PROXY", proxy_url.as_str()),
            ("HTTPS_PROXY", proxy_url.as_str()),
            ("ALL_PROXY", proxy_url.as_str()),
        ],
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{all}");
    assert!(all.contains("go direct (no proxy)"), "{all}");
    assert_eq!(
        tunnels.load(Ordering::SeqCst),
        0,
        "nothing went through the proxy"
    );
}

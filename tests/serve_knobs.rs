//! `bak2rds serve`'s knobs. `--trust-content-md5` (used only by `bak2rds bench`): the child
//! emulator accepts a part's Content-MD5 without re-hashing, and without the flag it still
//! verifies, so the default emulator never lets a bad digest through. `--link`: the link model
//! in front of the OSS side.

use std::io::BufRead as _;

use bak2rds_cloud::checksum::content_md5;
use bak2rds_cloud::oss::{Credentials, OssClient, OssConfig};
use bytes::Bytes;

/// A `bak2rds serve` child, killed when dropped.
struct Serve {
    child: std::process::Child,
    client: OssClient,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(extra: &[&str]) -> Serve {
    let mut child = crate::util::bin()
        .arg("serve")
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start bak2rds serve");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("connection line");
    let info: serde_json::Value = serde_json::from_str(&line).expect("JSON connection line");
    let text = |name: &str| info[name].as_str().expect(name).to_owned();
    let config = OssConfig::with_endpoint(&text("oss_endpoint"), &text("region"), &text("bucket"));
    let credentials = Credentials::new(text("access_key_id"), text("access_key_secret"));
    let client = OssClient::new(config, credentials).expect("client");
    Serve { child, client }
}

/// PutObject of `body` claiming the MD5 of `claimed`; the OSS error code when refused.
async fn put_claiming(server: &Serve, body: &'static [u8], claimed: &[u8]) -> Option<String> {
    let md5 = content_md5(claimed);
    server
        .client
        .put_object("k.bak", Bytes::from_static(body), Some(&md5))
        .await
        .err()
        .map(|err| err.code().unwrap_or("no code").to_owned())
}

#[tokio::test]
async fn default_serve_refuses_a_wrong_content_md5() {
    let server = serve(&["--fast-etag", "--discard-bodies"]);
    assert_eq!(
        put_claiming(&server, b"real bytes", b"real bytes").await,
        None
    );
    assert_eq!(
        put_claiming(&server, b"real bytes", b"other bytes")
            .await
            .as_deref(),
        Some("InvalidDigest")
    );
}

#[tokio::test]
async fn trust_content_md5_accepts_the_header_without_hashing() {
    let server = serve(&["--fast-etag", "--discard-bodies", "--trust-content-md5"]);
    // A wrong digest gets through only because the body is not hashed: the knob is in effect.
    assert_eq!(
        put_claiming(&server, b"real bytes", b"other bytes").await,
        None
    );
}

/// `serve --link`: the OSS side answers through the link model. One PutObject of 2 MiB over a
/// 100 ms link with a 256 KiB window needs a round trip for the connection and one per window
/// (8), the answer included: at least 0.9 s, where loopback alone takes milliseconds.
#[tokio::test]
async fn serve_link_puts_a_wan_in_front_of_oss() {
    let server = serve(&[
        "--discard-bodies",
        "--link",
        "rtt=100ms,rate=100MiB/s,window=256KiB",
    ]);
    let body = Bytes::from(vec![5u8; 2 << 20]);
    let started = std::time::Instant::now();
    server
        .client
        .put_object("wan.bak", body, None)
        .await
        .expect("the upload passes the link");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= std::time::Duration::from_millis(900),
        "2 MiB through a 256 KiB window at 100 ms took only {elapsed:?}"
    );
}

/// A link spec that is incomplete or wrong is refused with what to write.
#[test]
fn serve_link_refuses_a_bad_spec_with_an_example() {
    for spec in [
        "rtt=100ms,rate=1Gbit/s",
        "rtt=fast,rate=1Gbit/s,window=1MiB",
        "speed=1",
    ] {
        let out = crate::util::bin()
            .args(["serve", "--link", spec])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run bak2rds serve");
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{spec}: {text}");
        assert!(text.contains("--link"), "{spec}: {text}");
    }
}

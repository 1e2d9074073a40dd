//! `bak2rds serve`'s knobs. `--trust-content-md5` (used only by `bak2rds bench`): the child
//! emulator accepts a part's Content-MD5 without re-hashing, and without the flag it still
//! verifies, so the default emulator never lets a bad digest through. `--link`: the link model
//! in front of the OSS side.

use std::io::BufRead as _;

use bak2rds_cloud::checksum::content_md5;
use bak2rds_cloud::oss::{Credentials, OssClient, OssConfig};
use bak2rds_cloud::rds::sign;
use bytes::Bytes;

/// A `bak2rds serve` child, killed when dropped.
struct Serve {
    child: std::process::Child,
    client: OssClient,
    /// The connection line.
    info: serde_json::Value,
}

impl Drop for Serve {
    fn drop(&mut self) {
        crate::util::stop(&mut self.child);
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
    Serve {
        child,
        client,
        info,
    }
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

/// `serve --sts-token-ttl 5s`: the line names STS and the role to assume, and AssumeRole issues
/// credentials that last at most five seconds although the client asks for an hour.
#[tokio::test]
async fn serve_sts_token_ttl_caps_issued_credentials() {
    let server = serve(&["--sts-token-ttl", "5s"]);
    let text = |name: &str| server.info[name].as_str().expect(name).to_owned();
    let now = time::OffsetDateTime::now_utc();
    let mut params: Vec<(String, String)> = [
        ("Action", "AssumeRole".to_owned()),
        ("Version", "2015-04-01".to_owned()),
        ("Format", "JSON".to_owned()),
        ("RoleArn", text("role_arn")),
        ("RoleSessionName", "knob".to_owned()),
        ("DurationSeconds", "3600".to_owned()),
        ("SignatureMethod", "HMAC-SHA1".to_owned()),
        ("SignatureVersion", "1.0".to_owned()),
        ("Timestamp", sign::format_timestamp(now)),
        (
            "SignatureNonce",
            format!("knob-{}", now.unix_timestamp_nanos()),
        ),
        ("AccessKeyId", text("access_key_id")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let signature = sign::v1_signature(
        &text("access_key_secret"),
        &sign::v1_string_to_sign("GET", &params),
    );
    params.push(("Signature".to_owned(), signature));
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", sign::percent_encode(k), sign::percent_encode(v)))
        .collect();
    let url = format!("{}/?{}", text("sts_endpoint"), query.join("&"));
    let answer = reqwest::get(url).await.expect("AssumeRole");
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value =
        serde_json::from_slice(&answer.bytes().await.expect("body")).expect("JSON");
    let expiration = body["Credentials"]["Expiration"]
        .as_str()
        .expect("Expiration");
    let left = sign::parse_timestamp(expiration).expect("a timestamp") - now;
    assert!(left <= time::Duration::seconds(6), "{left}");
}

/// A TTL that is not a duration is refused with an example.
#[test]
fn serve_sts_token_ttl_refuses_a_bad_duration() {
    let out = crate::util::bin()
        .args(["serve", "--sts-token-ttl", "0s"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run bak2rds serve");
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("--sts-token-ttl"), "{text}");
}

//! Hostile requests to the emulator over raw TCP and reqwest: traversal keys against the disk
//! store, unsigned and expired requests, oversized heads and bodies, entity-expansion XML and
//! replayed RDS nonces. Each is refused (or contained) and the server keeps serving.

use std::path::Path;
use std::time::{Duration, Instant};

use bak2rds_cloud::oss::sign::{self, SignableRequest};
use bak2rds_cloud::oss::{Credentials, OssClient, OssConfig};
use bak2rds_emulator::{Emulator, EmulatorHandle};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Sends `head` (CRLF lines, without the final blank line) and `body` over one raw connection;
/// returns the status (0 when the server closed without answering) and the whole answer.
async fn raw(handle: &EmulatorHandle, head: &str, body: &[u8]) -> (u16, String) {
    let host = handle.addr().to_string();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let mut request = format!(
        "{head}\r\nhost: {host}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    // The server may answer and close before reading everything: a write error is fine.
    let _ = stream.write_all(&request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// The V1 `Date` and `Authorization` header lines for `method` on `key` (as the emulator will
/// decode it) with `query`.
fn v1_headers(
    handle: &EmulatorHandle,
    method: &str,
    key: Option<&str>,
    query: &[(&str, &str)],
) -> String {
    let date = sign::http_date(OffsetDateTime::now_utc());
    let credentials = Credentials::new(handle.access_key_id(), handle.access_key_secret());
    let headers = [("date", date.as_str())];
    let signable = SignableRequest {
        method,
        bucket: Some(handle.bucket()),
        key,
        query,
        headers: &headers,
    };
    let authorization = sign::v1_sign_header(&credentials, &signable);
    format!("date: {date}\r\nauthorization: {authorization}")
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[tokio::test]
async fn traversal_keys_never_leave_the_data_folder() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let handle = Emulator::builder().data_dir(&data).start().await.unwrap();
    let bucket = handle.bucket().to_owned();
    // (key as the emulator decodes it, path as sent on the wire)
    let cases = [
        ("../escape-1", format!("/{bucket}/../escape-1")),
        (
            "../../escape-2",
            format!("/{bucket}/%2e%2e/%2E%2E/escape-2"),
        ),
        (
            "a/../../../escape-3",
            format!("/{bucket}/a/../../../escape-3"),
        ),
        ("..\\..\\escape-4", format!("/{bucket}/..%5c..%5cescape-4")),
        (
            "nul\0/../escape-5",
            format!("/{bucket}/nul%00/%2e%2e/escape-5"),
        ),
    ];
    for (key, path) in &cases {
        let auth = v1_headers(&handle, "PUT", Some(key), &[]);
        let (status, text) = raw(&handle, &format!("PUT {path} HTTP/1.1\r\n{auth}"), b"x").await;
        assert_eq!(status, 200, "{key:?}: {text}");
        // Stored under exactly that key, not under a resolved path.
        assert!(
            handle.storage().read_object(&bucket, key).is_some(),
            "{key:?}"
        );
    }
    // An absolute key is refused outright (§1.3).
    let auth = v1_headers(&handle, "PUT", Some("/etc/escape-6"), &[]);
    let (status, text) = raw(
        &handle,
        &format!("PUT /{bucket}//etc/escape-6 HTTP/1.1\r\n{auth}"),
        b"x",
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("InvalidObjectName"));

    let all = files_under(root.path());
    assert!(!all.is_empty());
    for file in &all {
        assert!(
            file.starts_with(&data),
            "{} is outside the data folder",
            file.display()
        );
        let name = file.file_name().unwrap().to_string_lossy();
        assert!(!name.contains("escape"), "a key became a file name: {name}");
    }
}

#[tokio::test]
async fn unsigned_and_expired_requests_are_refused() {
    let handle = Emulator::builder().memory().start().await.unwrap();
    let bucket = handle.bucket().to_owned();
    let (status, text) = raw(&handle, &format!("PUT /{bucket}/k HTTP/1.1"), b"x").await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("<Code>AccessDenied</Code>"), "{text}");
    assert!(handle.storage().read_object(&bucket, "k").is_none());

    // A V1 presigned URL replayed after its expiry.
    let credentials = Credentials::new(handle.access_key_id(), handle.access_key_secret());
    let signable = SignableRequest {
        method: "GET",
        bucket: Some(&bucket),
        key: Some("k"),
        query: &[],
        headers: &[],
    };
    let expired_at = OffsetDateTime::now_utc().unix_timestamp() - 1;
    let query = sign::v1_presign_query(&credentials, &signable, expired_at);
    let url = format!("/{bucket}/k?{}", sign::encode_query(&query));
    let (status, text) = raw(&handle, &format!("GET {url} HTTP/1.1"), b"").await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("Request has expired."), "{text}");
}

#[tokio::test]
async fn oversized_heads_and_bodies_are_refused_and_the_server_lives_on() {
    let handle = Emulator::builder().memory().start().await.unwrap();
    let bucket = handle.bucket().to_owned();
    // A 1 MiB header line, then 200 small headers.
    let big = format!("GET /{bucket}/k HTTP/1.1\r\nx-big: {}", "a".repeat(1 << 20));
    let (status, _) = raw(&handle, &big, b"").await;
    assert!(status == 431 || status == 0, "status {status}");
    let many: String = (0..200).map(|i| format!("\r\nx-h{i}: v")).collect();
    let (status, _) = raw(&handle, &format!("GET /{bucket}/k HTTP/1.1{many}"), b"").await;
    assert!(status == 431 || status == 0, "status {status}");

    // A 5 MiB CompleteMultipartUpload body, past the 4 MiB cap on XML bodies.
    let mut config = OssConfig::with_endpoint(&handle.oss_endpoint(), handle.region(), &bucket);
    config.allow_http = true;
    let client = OssClient::new(
        config,
        Credentials::new(handle.access_key_id(), handle.access_key_secret()),
    )
    .unwrap();
    let upload_id = client.initiate_multipart_upload("big").await.unwrap();
    let query = [("uploadId", upload_id.as_str())];
    let complete_head =
        |auth: String| format!("POST /{bucket}/big?uploadId={upload_id} HTTP/1.1\r\n{auth}");
    let mut body = b"<CompleteMultipartUpload>".to_vec();
    body.resize(5 << 20, b' ');
    body.extend_from_slice(b"</CompleteMultipartUpload>");
    let auth = v1_headers(&handle, "POST", Some("big"), &query);
    let (status, text) = raw(&handle, &complete_head(auth), &body).await;
    assert!(
        (status == 400 && text.contains("EntityTooLarge")) || status == 0,
        "status {status}: {}",
        text.get(..300).unwrap_or(&text)
    );

    // Billion laughs: refused as MalformedXML at once, nothing expanded.
    let mut laughs = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\">");
    for level in 1..10 {
        let previous = if level == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", level - 1)
        };
        laughs.push_str(&format!(
            "<!ENTITY lol{level} \"{}\">",
            format!("&{previous};").repeat(10)
        ));
    }
    laughs.push_str("]><CompleteMultipartUpload><Part><PartNumber>1</PartNumber>");
    laughs.push_str("<ETag>&lol9;</ETag></Part></CompleteMultipartUpload>");
    let started = Instant::now();
    let auth = v1_headers(&handle, "POST", Some("big"), &query);
    let (status, text) = raw(&handle, &complete_head(auth), laughs.as_bytes()).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("MalformedXML"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // Still serving.
    let auth = v1_headers(&handle, "PUT", Some("after"), &[]);
    let (status, _) = raw(
        &handle,
        &format!("PUT /{bucket}/after HTTP/1.1\r\n{auth}"),
        b"x",
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn rds_replayed_nonces_and_oversized_bodies_are_refused() {
    use bak2rds_cloud::rds::sign::{RequestStamp, format_timestamp, sign_v3};
    let handle = Emulator::builder().memory().start().await.unwrap();
    let endpoint = handle.rds_endpoint();
    let host = endpoint.trim_start_matches("http://").to_owned();
    let credentials =
        bak2rds_cloud::rds::Credentials::new(handle.access_key_id(), handle.access_key_secret());
    let params = vec![("DBInstanceId".to_owned(), handle.instance_id())];
    let timestamp = format_timestamp(OffsetDateTime::now_utc());
    let stamp = RequestStamp {
        timestamp: &timestamp,
        nonce: "the-same-nonce-twice",
    };
    let headers = sign_v3(
        "POST",
        &host,
        "DescribeDatabases",
        &params,
        &credentials,
        stamp,
    );
    let http = reqwest::Client::new();
    let send = || {
        let mut request = http.post(format!("{endpoint}/")).query(&params);
        for (name, value) in headers.iter().filter(|(n, _)| n != "host") {
            request = request.header(name.as_str(), value.as_str());
        }
        request.send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 200, "{}", first.text().await.unwrap());
    let replay = send().await.unwrap();
    assert_eq!(replay.status(), 400);
    assert!(replay.text().await.unwrap().contains("SignatureNonceUsed"));

    // A 3 MiB form body, past the RPC server's body limit.
    let form = format!("Action=DescribeDatabases&Pad={}", "a".repeat(3 << 20));
    let answer = http
        .post(format!("{endpoint}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 413);
}

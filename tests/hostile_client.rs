//! The OSS and RDS clients against a scripted, hostile server on 127.0.0.1: truncated and
//! oversized answers, bad CRC and ETag headers, HTTP 200 carrying an error, and a server that
//! trickles its answer. Each must end in bounded time and memory with a typed error.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bak2rds_cloud::http::RetryConfig;
use bak2rds_cloud::oss::{Credentials, OssClient, OssConfig, OssError};
use bak2rds_cloud::rds::{RdsClient, RdsClientConfig, RdsError};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// What the scripted server does once it has read a request.
#[derive(Clone)]
enum Script {
    /// Writes these bytes, then closes.
    Raw(Vec<u8>),
    /// A 200 with a chunked body of `<a>` repeated up to 1 GiB (stops when the client leaves).
    Huge,
    /// A 200 announcing a 1 GiB body, then nothing.
    HugeLength,
    /// A 200 whose body comes one byte per second.
    Trickle,
    /// Never answers.
    Silent,
}

/// A scripted server; `sent` counts body bytes written (to show the client stopped reading).
struct Server {
    addr: SocketAddr,
    sent: Arc<AtomicU64>,
}

impl Server {
    async fn start(script: Script) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&sent);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, script.clone(), Arc::clone(&counter)));
            }
        });
        Server { addr, sent }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Reads the request head and body (by `Content-Length`), then plays the script.
async fn serve(mut stream: TcpStream, script: Script, sent: Arc<AtomicU64>) {
    let mut request = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut have = request.len() - head_end;
    while have < length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => have += n,
        }
    }
    match script {
        Script::Raw(bytes) => {
            let _ = stream.write_all(&bytes).await;
        }
        Script::Huge => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                .await;
            let chunk = "<a>".repeat(21_845); // 64 KiB - 1
            let framed = format!("{:x}\r\n{chunk}\r\n", chunk.len());
            for _ in 0..(1u64 << 30) / chunk.len() as u64 {
                if stream.write_all(framed.as_bytes()).await.is_err() {
                    return;
                }
                sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
            let _ = stream.write_all(b"0\r\n\r\n").await;
        }
        Script::HugeLength => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1073741824\r\n\r\n<a>")
                .await;
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        Script::Trickle => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
                .await;
            for _ in 0..1000 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if stream.write_all(b"<").await.is_err() {
                    return;
                }
            }
        }
        Script::Silent => tokio::time::sleep(Duration::from_secs(60)).await,
    }
}

/// A complete HTTP/1.1 answer with a `Content-Length` body.
fn answer(status: &str, headers: &[(&str, &str)], body: &str) -> Script {
    let mut text = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("connection: close\r\n\r\n");
    text.push_str(body);
    Script::Raw(text.into_bytes())
}

/// One attempt per call, and a 2 s whole-request limit, so failures show at once.
fn oss_client(server: &Server) -> OssClient {
    let mut config = OssConfig::with_endpoint(&server.url(), "cn-hangzhou", "bucket");
    config.retry = RetryConfig {
        max_retries: 0,
        ..RetryConfig::default()
    };
    config.http.request_timeout = Duration::from_secs(2);
    OssClient::new(config, Credentials::new("ak", "secret-never-printed")).unwrap()
}

fn rds_client(server: &Server) -> RdsClient {
    let mut config = RdsClientConfig::new("cn-hangzhou");
    config.endpoint = Some(server.url());
    config.timeout = Duration::from_secs(2);
    config.retry = RetryConfig {
        max_retries: 0,
        ..RetryConfig::default()
    };
    RdsClient::new(config, bak2rds_cloud::rds::Credentials::new("ak", "secret")).unwrap()
}

fn invalid_detail(error: &OssError) -> &str {
    match error {
        OssError::InvalidResponse { detail, .. } => detail,
        other => panic!("expected InvalidResponse, got {other:?}"),
    }
}

#[tokio::test]
async fn truncated_xml_is_an_invalid_response() {
    let server = Server::start(answer(
        "200 OK",
        &[],
        "<InitiateMultipartUploadResult><UploadId>abc",
    ))
    .await;
    let error = oss_client(&server)
        .initiate_multipart_upload("k")
        .await
        .unwrap_err();
    assert!(invalid_detail(&error).contains("malformed XML"), "{error}");
}

#[tokio::test]
async fn a_body_cut_short_is_a_transport_error() {
    let cut = b"HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n<ListPartsResult>".to_vec();
    let server = Server::start(Script::Raw(cut)).await;
    let error = oss_client(&server).list_parts("k", "u").await.unwrap_err();
    assert!(
        matches!(error, OssError::Transport { .. }),
        "expected a transport error, got {error:?}"
    );
}

#[tokio::test]
async fn a_gigabyte_xml_answer_is_refused_after_a_few_mebibytes() {
    let server = Server::start(Script::Huge).await;
    let started = Instant::now();
    let error = oss_client(&server).list_parts("k", "u").await.unwrap_err();
    assert!(
        invalid_detail(&error).contains("larger than 4194304 bytes"),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // The client stopped reading: what the server managed to write is the cap plus socket
    // buffers, far from the gibibyte on offer.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = server.sent.load(Ordering::Relaxed);
    assert!(sent < 64 << 20, "server wrote {sent} bytes");

    let announced = Server::start(Script::HugeLength).await;
    let started = Instant::now();
    let error = oss_client(&announced).get_bucket_info().await.unwrap_err();
    assert!(invalid_detail(&error).contains("larger than"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused on the header"
    );
}

#[tokio::test]
async fn upload_part_answers_with_a_bad_crc_or_no_etag_are_refused() {
    let client_for = |server: &Server| oss_client(server);
    let not_decimal = Server::start(answer(
        "200 OK",
        &[("etag", "\"E\""), ("x-oss-hash-crc64ecma", "0xdeadbeef")],
        "",
    ))
    .await;
    let error = client_for(&not_decimal)
        .upload_part("k", "u", 1, reqwest::Body::from("abc"), 3, None)
        .await
        .unwrap_err();
    assert!(
        invalid_detail(&error).contains("not a decimal u64"),
        "{error}"
    );

    // A well-formed but wrong CRC is handed up unchanged: the engine compares it with its own
    // and sends the part again (tests/upload.rs, corrupted parts).
    let wrong = Server::start(answer(
        "200 OK",
        &[("etag", "\"E\""), ("x-oss-hash-crc64ecma", "12345")],
        "",
    ))
    .await;
    let output = client_for(&wrong)
        .upload_part("k", "u", 1, reqwest::Body::from("abc"), 3, None)
        .await
        .unwrap();
    assert_eq!(output.crc64, Some(12345));

    let no_etag = Server::start(answer("200 OK", &[("x-oss-hash-crc64ecma", "1")], "")).await;
    let error = client_for(&no_etag)
        .upload_part("k", "u", 1, reqwest::Body::from("abc"), 3, None)
        .await
        .unwrap_err();
    assert!(invalid_detail(&error).contains("no ETag"), "{error}");
}

#[tokio::test]
async fn complete_answering_200_with_an_error_body_fails_with_its_code() {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code>\
                <Message>We encountered an internal error.</Message><RequestId>R1</RequestId>\
                </Error>";
    // Even with an ETag header, which would otherwise be taken as success.
    let server = Server::start(answer("200 OK", &[("etag", "\"E\"")], body)).await;
    let parts = [bak2rds_cloud::oss::CompletedPart {
        part_number: 1,
        etag: "\"E\"".into(),
    }];
    let error = oss_client(&server)
        .complete_multipart_upload("k", "u", &parts)
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("InternalError"), "{error:?}");
    assert_eq!(error.status(), Some(200));
}

#[tokio::test]
async fn a_trickling_or_silent_server_is_cut_by_the_request_timeout() {
    for script in [Script::Trickle, Script::Silent] {
        let server = Server::start(script).await;
        let started = Instant::now();
        let error = oss_client(&server).list_parts("k", "u").await.unwrap_err();
        let elapsed = started.elapsed();
        match &error {
            OssError::Transport { source, .. } => assert!(source.is_timeout(), "{error:?}"),
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
        assert!(!error.to_string().contains("secret-never-printed"));
    }
}

#[tokio::test]
async fn rds_hostile_answers_end_in_typed_errors() {
    let huge = Server::start(Script::Huge).await;
    let error = rds_client(&huge)
        .describe_databases("rm-1")
        .await
        .unwrap_err();
    match &error {
        RdsError::Decode { detail, .. } => assert!(detail.contains("larger than"), "{error}"),
        other => panic!("expected Decode, got {other:?}"),
    }

    let truncated = Server::start(answer(
        "200 OK",
        &[],
        "{\"RequestId\":\"R\",\"Databases\":{",
    ))
    .await;
    let error = rds_client(&truncated)
        .describe_databases("rm-1")
        .await
        .unwrap_err();
    assert!(matches!(error, RdsError::Decode { .. }), "{error:?}");

    for script in [Script::Trickle, Script::Silent] {
        let server = Server::start(script).await;
        let started = Instant::now();
        let error = rds_client(&server)
            .describe_databases("rm-1")
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                RdsError::Transport {
                    timed_out: true,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

#[tokio::test]
async fn a_skew_answer_from_the_end_of_time_does_not_break_signing() {
    // `RequestTimeTooSkewed` with a `Date` in year 9999: the client adopts the offset, and a
    // second later its corrected clock would pass year 9999 (a panic before the fix).
    let body = "<Error><Code>RequestTimeTooSkewed</Code><Message>skewed</Message></Error>";
    let server = Server::start(answer(
        "403 Forbidden",
        &[("date", "Fri, 31 Dec 9999 23:59:59 GMT")],
        body,
    ))
    .await;
    let client = oss_client(&server);
    let error = client.list_parts("k", "u").await.unwrap_err();
    assert_eq!(error.code(), Some("RequestTimeTooSkewed"));
    assert!(client.clock_skew_secs() > 0);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let error = client.list_parts("k", "u").await.unwrap_err();
    assert_eq!(error.code(), Some("RequestTimeTooSkewed"));
}

#[tokio::test]
async fn head_of_a_large_object_is_not_mistaken_for_a_large_answer() {
    let head = b"HTTP/1.1 200 OK\r\ncontent-length: 5368709120\r\netag: \"E\"\r\n\
                 connection: close\r\n\r\n"
        .to_vec();
    let server = Server::start(Script::Raw(head)).await;
    let meta = oss_client(&server).head_object("k").await.unwrap().unwrap();
    assert_eq!(meta.size, 5 << 30);
}

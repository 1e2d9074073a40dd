//! The client against a scripted loopback server: what goes on the wire (URL, headers,
//! signature verified with the same `sign` functions a server uses) and how answers and
//! errors are read. The full protocol is exercised against the emulator in `tests/`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode as AxumStatus;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::*;
use crate::http::RetryConfig;

const AK: &str = "LTAI5tOssEmulatorTestAK";
const SK: &str = "OssEmulatorTestSecretKey0123456789ab";
const TOKEN: &str = "CAIStsTokenExample+/==";
const BUCKET: &str = "sqlbak-test";
const REGION: &str = "cn-hangzhou";

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    raw_query: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

/// One scripted answer.
struct Scripted {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn answer(status: u16, headers: &[(&'static str, &str)], body: &str) -> Scripted {
    Scripted {
        status,
        headers: headers.iter().map(|(n, v)| (*n, (*v).to_owned())).collect(),
        body: body.to_owned(),
    }
}

fn error_answer(status: u16, code: &str) -> Scripted {
    answer(
        status,
        &[("x-oss-request-id", "REQ-ERR")],
        &format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
             <Message>scripted {code}</Message><RequestId>REQ-ERR</RequestId>\
             <StringToSign>PUT\n\n</StringToSign><SignatureProvided>leak</SignatureProvided>\
             </Error>"
        ),
    )
}

#[derive(Default)]
struct Mock {
    answers: Mutex<VecDeque<Scripted>>,
    seen: Mutex<Vec<Seen>>,
}

async fn handle(State(mock): State<Arc<Mock>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    mock.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        raw_query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body,
    });
    let Some(scripted) = mock.answers.lock().unwrap().pop_front() else {
        return (AxumStatus::INTERNAL_SERVER_ERROR, "no scripted answer").into_response();
    };
    let mut response = Response::builder().status(scripted.status);
    for (name, value) in scripted.headers {
        response = response.header(name, value);
    }
    response
        .body(axum::body::Body::from(scripted.body))
        .unwrap()
}

struct Harness {
    mock: Arc<Mock>,
    endpoint: String,
}

impl Harness {
    async fn start(answers: Vec<Scripted>) -> Self {
        let mock = Arc::new(Mock {
            answers: Mutex::new(answers.into()),
            seen: Mutex::default(),
        });
        let app = Router::new().fallback(handle).with_state(Arc::clone(&mock));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Harness { mock, endpoint }
    }

    fn client(&self, version: SignatureVersion, credentials: Credentials) -> OssClient {
        let mut config = OssConfig::with_endpoint(&self.endpoint, REGION, BUCKET);
        config.signature_version = version;
        config.retry = RetryConfig {
            max_retries: 3,
            base: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            retry_timeout: Duration::from_secs(5),
        };
        OssClient::new(config, credentials).unwrap()
    }

    fn seen(&self) -> Vec<Seen> {
        self.mock.seen.lock().unwrap().clone()
    }
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// Verifies a received request's signature the way a server would, with the `sign` functions.
fn assert_signed(seen: &Seen, credentials: &Credentials) {
    let path = decode(&seen.path);
    let rest = path.strip_prefix('/').unwrap();
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    let key = (!key.is_empty()).then_some(key);
    let query: Vec<(String, String)> = seen
        .raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(n), decode(v))
        })
        .collect();
    let query: Vec<(&str, &str)> = query
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let headers: Vec<(&str, &str)> = seen
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let request = SignableRequest {
        method: &seen.method,
        bucket: Some(bucket),
        key,
        query: &query,
        headers: &headers,
    };
    let authorization = request.header("authorization").expect("Authorization sent");
    if let Some(parsed) = sign::parse_v4_authorization(&authorization) {
        assert_eq!(parsed.access_key_id, credentials.access_key_id());
        let time = sign::parse_v4_datetime(&request.header("x-oss-date").unwrap()).unwrap();
        let context = V4Context {
            region: parsed.region,
            product: parsed.product,
            time,
        };
        let expected = sign::v4_sign(
            credentials.access_key_secret(),
            &context,
            &request,
            &parsed.additional_headers,
        );
        assert_eq!(parsed.signature, expected, "V4 signature of {seen:?}");
    } else {
        assert_eq!(
            sign::v1_sign_header(credentials, &request),
            authorization,
            "V1 signature of {seen:?}"
        );
    }
    if let Some(token) = credentials.security_token() {
        assert_eq!(
            request.header("x-oss-security-token").as_deref(),
            Some(token)
        );
    }
}

fn header<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

const KEY: &str = "backups/db 01/full+1.bak";

#[tokio::test]
async fn upload_part_streams_one_signed_attempt() {
    for (version, credentials) in [
        (SignatureVersion::V4, Credentials::new(AK, SK)),
        (SignatureVersion::V1, Credentials::new(AK, SK)),
        (
            SignatureVersion::V4,
            Credentials::new(AK, SK).with_security_token(TOKEN),
        ),
        (
            SignatureVersion::V1,
            Credentials::new(AK, SK).with_security_token(TOKEN),
        ),
    ] {
        let harness = Harness::start(vec![answer(
            200,
            &[
                ("ETag", "\"5A1B\""),
                ("x-oss-hash-crc64ecma", "15511097709409610797"),
                ("x-oss-request-id", "REQ1"),
            ],
            "",
        )])
        .await;
        let client = harness.client(version, credentials.clone());
        let chunks: Vec<Result<Bytes, std::io::Error>> = (0..10)
            .map(|_| Ok(Bytes::from_static(b"0123456789")))
            .collect();
        let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
        let output = client
            .upload_part(KEY, "UP1", 3, body, 100, Some("egiwfoRkFwPl8sg2qlmhcA=="))
            .await
            .unwrap();
        assert_eq!(
            output,
            WriteOutput {
                etag: "\"5A1B\"".into(),
                crc64: Some(15511097709409610797),
                request_id: Some("REQ1".into()),
            }
        );
        let seen = harness.seen();
        assert_eq!(seen.len(), 1);
        let request = &seen[0];
        assert_eq!(request.method, "PUT");
        assert_eq!(request.path, "/sqlbak-test/backups/db%2001/full%2B1.bak");
        assert_eq!(request.raw_query, "partNumber=3&uploadId=UP1");
        assert_eq!(request.body, b"0123456789".repeat(10));
        assert_eq!(header(request, "content-length"), Some("100"));
        assert_eq!(
            header(request, "transfer-encoding"),
            None,
            "no chunked encoding"
        );
        assert_eq!(
            header(request, "content-md5"),
            Some("egiwfoRkFwPl8sg2qlmhcA==")
        );
        assert_signed(request, &credentials);
    }
}

#[tokio::test]
async fn upload_part_is_never_retried_but_says_retryable() {
    let harness = Harness::start(vec![error_answer(503, "ServiceUnavailable")]).await;
    let client = harness.client(SignatureVersion::V4, Credentials::new(AK, SK));
    let error = client
        .upload_part(KEY, "UP1", 1, reqwest::Body::from("x"), 1, None)
        .await
        .unwrap_err();
    assert!(error.is_retryable());
    assert_eq!(error.code(), Some("ServiceUnavailable"));
    assert_eq!(harness.seen().len(), 1);
}

#[tokio::test]
async fn other_calls_retry_transient_errors() {
    let info = "<BucketInfo><Bucket><Name>sqlbak-test</Name><Location>oss-cn-hangzhou</Location>\
                <StorageClass>IA</StorageClass><CreationDate>2024-01-01T00:00:00.000Z</CreationDate>\
                <ExtranetEndpoint>oss-cn-hangzhou.aliyuncs.com</ExtranetEndpoint>\
                <IntranetEndpoint>oss-cn-hangzhou-internal.aliyuncs.com</IntranetEndpoint>\
                <ServerSideEncryptionRule><SSEAlgorithm>None</SSEAlgorithm></ServerSideEncryptionRule>\
                </Bucket></BucketInfo>";
    let harness = Harness::start(vec![
        error_answer(500, "InternalError"),
        error_answer(503, "ServiceUnavailable"),
        answer(200, &[], info),
    ])
    .await;
    let client = harness.client(SignatureVersion::V4, Credentials::new(AK, SK));
    let bucket = client.get_bucket_info().await.unwrap();
    assert_eq!(bucket.region, "cn-hangzhou");
    assert_eq!(bucket.storage_class, "IA");
    assert_eq!(
        bucket.server_side_encryption, None,
        "\"None\" means no encryption"
    );
    let seen = harness.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].path, "/sqlbak-test/");
    assert_eq!(seen[2].raw_query, "bucketInfo");
    assert_signed(&seen[2], &Credentials::new(AK, SK));
}

#[tokio::test]
async fn final_errors_are_not_retried_and_leak_nothing() {
    let harness = Harness::start(vec![error_answer(403, "SignatureDoesNotMatch")]).await;
    let credentials = Credentials::new(AK, SK).with_security_token(TOKEN);
    let client = harness.client(SignatureVersion::V4, credentials);
    let error = client.initiate_multipart_upload(KEY).await.unwrap_err();
    assert_eq!(harness.seen().len(), 1);
    assert!(!error.is_retryable());
    assert_eq!(error.status(), Some(403));
    assert_eq!(error.request_id(), Some("REQ-ERR"));
    let shown = format!("{error} {error:?}");
    for needle in [
        "InitiateMultipartUpload",
        "oss://sqlbak-test/backups/db 01/full+1.bak",
        "AccessKey secret",
    ] {
        assert!(shown.contains(needle), "{needle:?} missing: {shown}");
    }
    for secret in [SK, TOKEN, "leak", "Signature="] {
        assert!(!shown.contains(secret), "{secret:?} leaked: {shown}");
    }
    assert_eq!(error.category(), crate::Category::Service);
}

#[tokio::test]
async fn clock_skew_is_corrected_and_retried_once() {
    let server_time = OffsetDateTime::now_utc() + time::Duration::hours(1);
    let date = sign::http_date(server_time);
    let skewed = || {
        let mut scripted = error_answer(403, "RequestTimeTooSkewed");
        scripted.headers.push(("Date", date.clone()));
        scripted
    };
    let harness = Harness::start(vec![
        skewed(),
        answer(200, &[("x-oss-request-id", "R")], ""),
        skewed(),
        skewed(),
    ])
    .await;
    let client = harness.client(SignatureVersion::V4, Credentials::new(AK, SK));
    client.abort_multipart_upload(KEY, "UP1").await.unwrap();
    let skew = client.clock_skew_secs();
    assert!((3590..=3610).contains(&skew), "{skew}");
    let seen = harness.seen();
    let signed_at = sign::parse_v4_datetime(header(&seen[1], "x-oss-date").unwrap()).unwrap();
    assert!(
        (signed_at - server_time).whole_seconds().abs() < 10,
        "re-signed on server time"
    );

    // Skewed twice in a row: one correction, then the error (with the advice) is returned.
    let error = client.abort_multipart_upload(KEY, "UP1").await.unwrap_err();
    assert_eq!(harness.seen().len(), 4);
    assert_eq!(error.code(), Some("RequestTimeTooSkewed"));
    assert!(error.to_string().contains("seconds"), "{error}");
}

#[tokio::test]
async fn head_reads_x_oss_err_and_metadata() {
    let no_such_key = base64::engine::general_purpose::STANDARD
        .encode("<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>");
    let no_such_bucket = base64::engine::general_purpose::STANDARD
        .encode("<Error><Code>NoSuchBucket</Code><Message>nope</Message></Error>");
    let harness = Harness::start(vec![
        answer(404, &[("x-oss-err", &no_such_key)], ""),
        answer(404, &[("x-oss-err", &no_such_bucket)], ""),
        answer(
            200,
            &[
                ("Content-Length", "1048576"),
                ("ETag", "\"ABC-3\""),
                ("x-oss-hash-crc64ecma", "16028127081582314172"),
                ("x-oss-object-type", "Multipart"),
                ("x-oss-storage-class", "Standard"),
                ("Last-Modified", "Tue, 02 Jan 2024 03:04:05 GMT"),
            ],
            "",
        ),
    ])
    .await;
    let client = harness.client(SignatureVersion::V1, Credentials::new(AK, SK));
    assert_eq!(client.head_object(KEY).await.unwrap(), None);
    let error = client.head_object(KEY).await.unwrap_err();
    assert_eq!(error.code(), Some("NoSuchBucket"));
    let meta = client.head_object(KEY).await.unwrap().unwrap();
    assert_eq!(meta.size, 1048576);
    assert_eq!(meta.crc64, Some(16028127081582314172));
    assert_eq!(meta.object_type.as_deref(), Some("Multipart"));
    for seen in harness.seen() {
        assert_eq!(seen.method, "HEAD");
        assert_signed(&seen, &Credentials::new(AK, SK));
    }
}

#[tokio::test]
async fn list_parts_follows_pages() {
    let page = |parts: &[(u32, &str)], truncated: bool, next: u32| {
        let mut xml = String::from("<ListPartsResult><Bucket>sqlbak-test</Bucket>");
        xml.push_str(&format!(
            "<NextPartNumberMarker>{next}</NextPartNumberMarker><IsTruncated>{truncated}</IsTruncated>"
        ));
        for (number, crc) in parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{number}</PartNumber><LastModified>2024-01-02T03:04:05.000Z\
                 </LastModified><ETag>\"E{number}\"</ETag><HashCrc64ecma>{crc}</HashCrc64ecma>\
                 <Size>102400</Size></Part>"
            ));
        }
        xml.push_str("</ListPartsResult>");
        answer(200, &[], &xml)
    };
    let harness = Harness::start(vec![
        page(&[(1, "11"), (2, "22")], true, 2),
        page(&[(3, "33")], false, 3),
        page(&[(1, "11")], true, 0),
    ])
    .await;
    let client = harness.client(SignatureVersion::V4, Credentials::new(AK, SK));
    let parts = client.list_parts(KEY, "UP1").await.unwrap();
    let summary: Vec<(u32, Option<u64>)> = parts.iter().map(|p| (p.part_number, p.crc64)).collect();
    assert_eq!(summary, [(1, Some(11)), (2, Some(22)), (3, Some(33))]);
    let seen = harness.seen();
    assert!(seen[0].raw_query.contains("part-number-marker=0"));
    assert!(seen[1].raw_query.contains("part-number-marker=2"));
    // A truncated page that does not advance is an error, not an endless loop.
    let error = client.list_parts(KEY, "UP1").await.unwrap_err();
    assert!(matches!(error, OssError::InvalidResponse { .. }), "{error}");
}

#[tokio::test]
async fn complete_sends_the_list_and_reads_the_object_crc() {
    let harness = Harness::start(vec![answer(
        200,
        &[("x-oss-hash-crc64ecma", "42"), ("x-oss-request-id", "RC")],
        "<CompleteMultipartUploadResult><Bucket>sqlbak-test</Bucket><Key>k</Key>\
         <ETag>\"FULL-2\"</ETag></CompleteMultipartUploadResult>",
    )])
    .await;
    let client = harness.client(SignatureVersion::V4, Credentials::new(AK, SK));
    let parts = [
        CompletedPart {
            part_number: 1,
            etag: "\"E1\"".into(),
        },
        CompletedPart {
            part_number: 2,
            etag: "\"E2\"".into(),
        },
    ];
    let output = client
        .complete_multipart_upload(KEY, "UP1", &parts)
        .await
        .unwrap();
    assert_eq!(output.etag, "\"FULL-2\"");
    assert_eq!(output.crc64, Some(42));
    let seen = harness.seen();
    let body = std::str::from_utf8(&seen[0].body).unwrap();
    assert!(
        body.contains("<PartNumber>2</PartNumber><ETag>\"E2\"</ETag>"),
        "{body}"
    );
    assert_eq!(
        header(&seen[0], "content-md5"),
        Some(crate::checksum::content_md5(&seen[0].body).as_str())
    );
    assert_signed(&seen[0], &Credentials::new(AK, SK));
}

#[tokio::test]
async fn presigned_urls_carry_the_signature_in_the_query() {
    let harness = Harness::start(vec![]).await;
    let v4 = harness.client(SignatureVersion::V4, Credentials::new(AK, SK));
    let url = v4
        .presign_url(Method::GET, KEY, Duration::from_secs(8 * 3600))
        .unwrap();
    assert!(url.starts_with(&format!(
        "{}/sqlbak-test/backups/db%2001/full%2B1.bak?",
        harness.endpoint
    )));
    assert!(
        url.contains("x-oss-expires=28800") && url.contains("x-oss-signature="),
        "{url}"
    );
    assert!(!url.contains(SK));
    let too_long = v4.presign_url(Method::GET, KEY, Duration::from_secs(8 * 24 * 3600));
    assert!(too_long.is_err());
    let v1 = harness.client(SignatureVersion::V1, Credentials::new(AK, SK));
    let url = v1
        .presign_url(Method::GET, KEY, Duration::from_secs(60))
        .unwrap();
    assert!(
        url.contains("OSSAccessKeyId=") && url.contains("&Signature="),
        "{url}"
    );
}

#[tokio::test]
async fn unreachable_endpoint_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut config = OssConfig::with_endpoint(&endpoint, REGION, BUCKET);
    config.retry = RetryConfig::none();
    let client = OssClient::new(config, Credentials::new(AK, SK)).unwrap();
    let error = client.head_object(KEY).await.unwrap_err();
    assert!(matches!(error, OssError::Transport { .. }), "{error}");
    assert!(error.is_retryable());
    assert!(
        !error.to_string().contains("127.0.0.1:"),
        "no URL in {error}"
    );
}

#[tokio::test]
async fn a_part_slower_than_the_read_timeout_still_uploads() {
    let harness = Harness::start(vec![answer(200, &[("ETag", "\"E\"")], "")]).await;
    let mut config = OssConfig::with_endpoint(&harness.endpoint, REGION, BUCKET);
    config.http.read_timeout = Duration::from_millis(200);
    let client = OssClient::new(config, Credentials::new(AK, SK)).unwrap();
    // Five chunks 100 ms apart: half a second of sending, more than the read timeout.
    let chunks = futures::stream::unfold(0u8, |n| async move {
        if n == 5 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((
            Ok::<_, std::io::Error>(Bytes::from_static(b"0123456789")),
            n + 1,
        ))
    });
    let output = client
        .upload_part(KEY, "UP1", 1, reqwest::Body::wrap_stream(chunks), 50, None)
        .await
        .unwrap();
    assert_eq!(output.etag, "\"E\"");
    assert_eq!(harness.seen()[0].body.len(), 50);
}

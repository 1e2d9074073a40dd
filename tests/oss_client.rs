//! The OSS client against the embedded emulator, for what needs the emulator's knobs: clock
//! skew, injected faults, expired STS tokens, bucket properties, and the multipart errors the
//! client itself refuses to provoke (sent here as raw requests signed with `oss::sign`).

use std::time::Duration;

use bak2rds_cloud::checksum::{content_md5, crc64};
use bak2rds_cloud::oss::sign::{self, SignableRequest, V4Context};
use bak2rds_cloud::oss::{CompletedPart, Credentials, OssClient, OssConfig, SignatureVersion};
use bak2rds_emulator::faults::{ErrorFault, RateFault};
use bak2rds_emulator::{
    BucketConfig, Emulator, EmulatorConfig, EmulatorHandle, FaultConfig, KeyPair,
};
use bytes::Bytes;
use time::OffsetDateTime;

use crate::conformance::{MIN_PART, pattern};

const AK: &str = "LTAI5tOssClientTestKey01";
const SK: &str = "OssClientTestSecret0123456789";

fn config_with(faults: FaultConfig) -> EmulatorConfig {
    EmulatorConfig {
        keys: vec![KeyPair::new(AK, SK)],
        faults,
        ..EmulatorConfig::default()
    }
}

async fn start(config: EmulatorConfig) -> EmulatorHandle {
    Emulator::builder()
        .config(config)
        .memory()
        .start()
        .await
        .expect("emulator starts")
}

fn client_for(
    emulator: &EmulatorHandle,
    version: SignatureVersion,
    credentials: Credentials,
) -> OssClient {
    let mut config = OssConfig::with_endpoint(
        &emulator.oss_endpoint(),
        emulator.region(),
        emulator.bucket(),
    );
    config.signature_version = version;
    config.retry.base = Duration::from_millis(5);
    config.retry.max_backoff = Duration::from_millis(20);
    OssClient::new(config, credentials).expect("client")
}

fn client(emulator: &EmulatorHandle, version: SignatureVersion) -> OssClient {
    client_for(emulator, version, Credentials::new(AK, SK))
}

#[tokio::test]
async fn clock_skew_is_measured_corrected_and_exposed() {
    let emulator = start(config_with(FaultConfig::default())).await;
    for version in [SignatureVersion::V4, SignatureVersion::V1] {
        let client = client(&emulator, version);
        // Pretend the local clock runs an hour fast: the emulator refuses, the client reads the
        // server's Date, corrects its offset and the call succeeds.
        client.set_clock_skew_secs(3600);
        client
            .get_bucket_info()
            .await
            .expect("succeeds after correction");
        let skew = client.clock_skew_secs();
        assert!(skew.abs() <= 5, "{version:?}: offset corrected to {skew}");
    }
}

#[tokio::test]
async fn transient_faults_are_retried_except_for_upload_part() {
    let faults = FaultConfig {
        errors: vec![
            ErrorFault {
                operation: "InitiateMultipartUpload".into(),
                rate: 1.0,
                status: 503,
                code: "ServiceUnavailable".into(),
                times: Some(2),
            },
            ErrorFault {
                operation: "UploadPart".into(),
                rate: 1.0,
                status: 500,
                code: "InternalError".into(),
                times: Some(1),
            },
        ],
        ..FaultConfig::default()
    };
    let emulator = start(config_with(faults)).await;
    let client = client(&emulator, SignatureVersion::V4);
    let upload_id = client
        .initiate_multipart_upload("faults/a.bak")
        .await
        .expect("two 503s are retried away");
    let body = pattern(1000, 1);
    let error = client
        .upload_part(
            "faults/a.bak",
            &upload_id,
            1,
            reqwest::Body::from(body.clone()),
            1000,
            None,
        )
        .await
        .expect_err("UploadPart makes one attempt");
    assert!(error.is_retryable(), "{error}");
    assert_eq!(error.code(), Some("InternalError"));
    let output = client
        .upload_part(
            "faults/a.bak",
            &upload_id,
            1,
            reqwest::Body::from(body.clone()),
            1000,
            None,
        )
        .await
        .expect("the engine's retry succeeds");
    assert_eq!(output.crc64, Some(crc64(&body)));
}

#[tokio::test]
async fn dropped_download_is_retried() {
    let faults = FaultConfig {
        drop_connection: vec![RateFault {
            operation: "GetObject".into(),
            rate: 1.0,
            times: Some(1),
        }],
        ..FaultConfig::default()
    };
    let emulator = start(config_with(faults)).await;
    let client = client(&emulator, SignatureVersion::V4);
    let body = pattern(200_000, 2);
    client
        .put_object("drop/x.bin", body.clone(), None)
        .await
        .expect("put");
    let got = client
        .get_object("drop/x.bin", None)
        .await
        .expect("retried GET");
    assert_eq!(got.body, body);
}

#[tokio::test]
async fn dropped_upload_part_is_a_retryable_transport_error() {
    let faults = FaultConfig {
        drop_connection: vec![RateFault {
            operation: "UploadPart".into(),
            rate: 1.0,
            times: Some(1),
        }],
        ..FaultConfig::default()
    };
    let emulator = start(config_with(faults)).await;
    let client = client(&emulator, SignatureVersion::V4);
    let upload_id = client
        .initiate_multipart_upload("drop/p.bak")
        .await
        .expect("init");
    let body = pattern(MIN_PART, 3);
    let length = u64::try_from(body.len()).unwrap();
    let error = client
        .upload_part(
            "drop/p.bak",
            &upload_id,
            1,
            reqwest::Body::from(body.clone()),
            length,
            None,
        )
        .await
        .expect_err("connection dropped mid-body");
    assert!(error.is_retryable(), "{error}");
    client
        .upload_part(
            "drop/p.bak",
            &upload_id,
            1,
            reqwest::Body::from(body),
            length,
            None,
        )
        .await
        .expect("second attempt");
}

#[tokio::test]
async fn a_flipped_byte_shows_in_the_returned_crc() {
    let faults = FaultConfig {
        flip_byte: vec![RateFault {
            operation: "UploadPart".into(),
            rate: 1.0,
            times: Some(1),
        }],
        ..FaultConfig::default()
    };
    let emulator = start(config_with(faults)).await;
    let client = client(&emulator, SignatureVersion::V4);
    let upload_id = client
        .initiate_multipart_upload("flip/p.bak")
        .await
        .expect("init");
    let body = pattern(5000, 4);
    let output = client
        .upload_part(
            "flip/p.bak",
            &upload_id,
            1,
            reqwest::Body::from(body.clone()),
            5000,
            None,
        )
        .await
        .expect("stored (corrupted)");
    assert_ne!(
        output.crc64,
        Some(crc64(&body)),
        "the engine can detect the corruption"
    );
}

#[tokio::test]
async fn expired_and_wrong_sts_tokens_are_refused() {
    let mut config = config_with(FaultConfig::default());
    let mut expired = KeyPair::new("STS.expired", "sts-secret");
    expired.security_token = Some("token-1".into());
    expired.expires_unix = Some(OffsetDateTime::now_utc().unix_timestamp() - 60);
    let mut valid = KeyPair::new("STS.valid", "sts-secret-2");
    valid.security_token = Some("token-2".into());
    config.keys.extend([expired, valid]);
    let emulator = start(config).await;

    let client = client_for(
        &emulator,
        SignatureVersion::V4,
        Credentials::new("STS.expired", "sts-secret").with_security_token("token-1"),
    );
    let error = client.get_bucket_info().await.expect_err("expired");
    assert_eq!(error.code(), Some("SecurityTokenExpired"));
    assert!(!error.is_retryable());
    let text = error.to_string();
    assert!(
        text.contains("STS token") && !text.contains("token-1"),
        "{text}"
    );

    let client = client_for(
        &emulator,
        SignatureVersion::V1,
        Credentials::new("STS.valid", "sts-secret-2").with_security_token("not-token-2"),
    );
    let error = client.get_bucket_info().await.expect_err("wrong token");
    assert_eq!(error.code(), Some("InvalidSecurityToken"));
}

#[tokio::test]
async fn bucket_properties_and_missing_bucket() {
    let mut config = config_with(FaultConfig::default());
    let mut bucket = BucketConfig::new("cold-and-encrypted");
    bucket.region = "ap-southeast-1".into();
    bucket.storage_class = "IA".into();
    bucket.server_side_encryption = true;
    config.buckets.push(bucket);
    let emulator = start(config).await;

    let mut oss = OssConfig::with_endpoint(
        &emulator.oss_endpoint(),
        "ap-southeast-1",
        "cold-and-encrypted",
    );
    oss.signature_version = SignatureVersion::V4;
    let client = OssClient::new(oss, Credentials::new(AK, SK)).expect("client");
    let info = client.get_bucket_info().await.expect("bucket info");
    assert_eq!(info.region, "ap-southeast-1");
    assert_eq!(info.location, "oss-ap-southeast-1");
    assert_eq!(info.storage_class, "IA");
    assert!(info.server_side_encryption.is_some(), "{info:?}");

    let oss = OssConfig::with_endpoint(
        &emulator.oss_endpoint(),
        "cn-hangzhou",
        "no-such-bucket-here",
    );
    let client = OssClient::new(oss, Credentials::new(AK, SK)).expect("client");
    let error = client.get_bucket_info().await.expect_err("missing bucket");
    assert_eq!(error.code(), Some("NoSuchBucket"));
    assert!(error.to_string().contains("bucket name"), "{error}");
    let error = client
        .head_object("k")
        .await
        .expect_err("HEAD in a missing bucket is an error");
    assert_eq!(error.code(), Some("NoSuchBucket"));
}

#[tokio::test]
async fn client_debug_shows_no_secret() {
    let emulator = start(config_with(FaultConfig::default())).await;
    let client = client_for(
        &emulator,
        SignatureVersion::V4,
        Credentials::new(AK, SK).with_security_token("SecretTokenValue"),
    );
    let shown = format!("{client:?}");
    assert!(shown.contains(AK), "{shown}");
    assert!(
        !shown.contains(SK) && !shown.contains("SecretTokenValue"),
        "{shown}"
    );
}

/// Sends a V4-signed request the client would refuse to build, with `reqwest` and `oss::sign`.
async fn raw_v4(
    emulator: &EmulatorHandle,
    method: reqwest::Method,
    key: &str,
    query: &[(&str, &str)],
    body: Bytes,
) -> reqwest::Response {
    let now = OffsetDateTime::now_utc();
    let datetime = sign::v4_datetime(now);
    let md5 = content_md5(&body);
    let headers = [
        ("x-oss-date", datetime.as_str()),
        ("x-oss-content-sha256", sign::UNSIGNED_PAYLOAD),
        ("Content-MD5", md5.as_str()),
    ];
    let request = SignableRequest {
        method: method.as_str(),
        bucket: Some(emulator.bucket()),
        key: Some(key),
        query,
        headers: &headers,
    };
    let context = V4Context {
        region: emulator.region(),
        product: sign::V4_PRODUCT_OSS,
        time: now,
    };
    let authorization = sign::v4_sign_header(&Credentials::new(AK, SK), &context, &request, &[]);
    let url = format!(
        "{}/{}/{}?{}",
        emulator.oss_endpoint(),
        emulator.bucket(),
        sign::uri_encode(key, true),
        sign::encode_query(query)
    );
    let mut builder = reqwest::Client::new()
        .request(method, url)
        .header("Authorization", authorization)
        .body(body);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    builder.send().await.expect("send")
}

#[tokio::test]
async fn multipart_errors_the_client_refuses_locally_are_refused_by_the_server_too() {
    let emulator = start(config_with(FaultConfig::default())).await;
    let client = client(&emulator, SignatureVersion::V4);
    let key = "raw/order.bak";
    let upload_id = client.initiate_multipart_upload(key).await.expect("init");
    let mut parts = Vec::new();
    for number in [1u32, 2] {
        let body = pattern(MIN_PART, u8::try_from(number).unwrap());
        let output = client
            .upload_part(
                key,
                &upload_id,
                number,
                reqwest::Body::from(body),
                u64::try_from(MIN_PART).unwrap(),
                None,
            )
            .await
            .expect("part");
        parts.push(CompletedPart {
            part_number: number,
            etag: output.etag,
        });
    }
    // Descending list: refused locally, and InvalidPartOrder when sent anyway.
    parts.reverse();
    assert!(
        client
            .complete_multipart_upload(key, &upload_id, &parts)
            .await
            .is_err()
    );
    let body = bak2rds_cloud::oss::xml::complete_multipart_upload_body(
        parts.iter().map(|p| (p.part_number, p.etag.as_str())),
    );
    let response = raw_v4(
        &emulator,
        reqwest::Method::POST,
        key,
        &[("uploadId", &upload_id)],
        Bytes::from(body),
    )
    .await;
    assert_eq!(response.status(), 400);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("<Code>InvalidPartOrder</Code>")
    );

    // Part numbers outside 1..=10000: refused locally, InvalidArgument when sent anyway.
    for number in ["0", "10001"] {
        let response = raw_v4(
            &emulator,
            reqwest::Method::PUT,
            key,
            &[("partNumber", number), ("uploadId", &upload_id)],
            Bytes::from_static(b"x"),
        )
        .await;
        assert_eq!(response.status(), 400, "part {number}");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("<Code>InvalidArgument</Code>")
        );
    }
    // Part 10000 itself is fine.
    let response = raw_v4(
        &emulator,
        reqwest::Method::PUT,
        key,
        &[("partNumber", "10000"), ("uploadId", &upload_id)],
        Bytes::from_static(b"x"),
    )
    .await;
    assert_eq!(response.status(), 200);
    client
        .abort_multipart_upload(key, &upload_id)
        .await
        .expect("abort");
}

#[tokio::test]
async fn list_parts_pages_through_more_than_a_thousand_parts() {
    use futures::StreamExt as _;
    let emulator = start(config_with(FaultConfig::default())).await;
    let client = client(&emulator, SignatureVersion::V4);
    let key = "paging/many.bak";
    let upload_id = client.initiate_multipart_upload(key).await.expect("init");
    let uploads = futures::stream::iter(1..=1005u32).map(|number| {
        let client = client.clone();
        let upload_id = upload_id.clone();
        async move {
            let body = Bytes::from(number.to_string());
            let length = u64::try_from(body.len()).unwrap();
            client
                .upload_part(
                    key,
                    &upload_id,
                    number,
                    reqwest::Body::from(body),
                    length,
                    None,
                )
                .await
                .expect("part")
        }
    });
    let done = uploads.buffer_unordered(16).count().await;
    assert_eq!(done, 1005);
    let parts = client.list_parts(key, &upload_id).await.expect("all pages");
    let numbers: Vec<u32> = parts.iter().map(|p| p.part_number).collect();
    assert_eq!(
        numbers,
        (1..=1005).collect::<Vec<u32>>(),
        "two pages, in order"
    );
    let listed = client
        .list_multipart_uploads(Some("paging/"))
        .await
        .expect("uploads");
    assert_eq!(listed.len(), 1);
    client
        .abort_multipart_upload(key, &upload_id)
        .await
        .expect("abort");
}

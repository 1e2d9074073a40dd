//! One conformance suite over `&OssClient`, run against every backend (DESIGN habit 11): the
//! emulator with memory storage, the emulator with disk storage, and real Alibaba Cloud OSS
//! only when `BAK2RDS_TEST_REAL=1` (otherwise skipped with a message).
//!
//! Each check uses its own key under a per-run prefix, so backends that keep data (real OSS,
//! a disk store) are not confused by earlier runs; each cleans up what it created.

use std::time::Duration;

use bak2rds_cloud::checksum::{content_md5, crc64, crc64_of_pieces};
use bak2rds_cloud::oss::{
    CompletedPart, Credentials, OssClient, OssConfig, OssError, SignatureVersion,
};
use bytes::Bytes;
use reqwest::Method;

/// The smallest size of a part that is not the last (§1.3: 100 KB).
pub const MIN_PART: usize = 102_400;

/// A backend under test: how to build clients for it and where to put keys.
pub struct OssBackend {
    /// Shown in failure messages.
    pub name: String,
    /// Endpoint URL, region and bucket.
    pub config: OssConfig,
    /// Valid credentials.
    pub credentials: Credentials,
    /// Temporary (STS) credentials, when the backend has some.
    pub sts_credentials: Option<Credentials>,
    /// Key prefix unique to this run.
    pub prefix: String,
}

impl OssBackend {
    /// A client with the given signature version and credentials.
    pub fn client_with(&self, version: SignatureVersion, credentials: Credentials) -> OssClient {
        let mut config = self.config.clone();
        config.signature_version = version;
        OssClient::new(config, credentials).expect("valid backend config")
    }

    /// A client with the given signature version and the valid credentials.
    pub fn client(&self, version: SignatureVersion) -> OssClient {
        self.client_with(version, self.credentials.clone())
    }

    fn key(&self, name: &str, version: SignatureVersion) -> String {
        format!("{}/{version:?}/{name}", self.prefix)
    }
}

/// Deterministic test bytes.
pub fn pattern(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| u8::try_from((i * 7 + usize::from(seed)) % 251).unwrap())
        .collect::<Vec<u8>>()
        .into()
}

/// Runs every check with V4 and V1 signatures, with long-term and (when the backend has
/// them) STS credentials, then the credential checks.
pub async fn run_all(backend: &OssBackend) {
    for version in [SignatureVersion::V4, SignatureVersion::V1] {
        let client = backend.client(version);
        bucket_info(backend, &client).await;
        put_head_get(backend, &client, version).await;
        multipart_round_trip(backend, &client, version).await;
        multipart_errors(backend, &client, version).await;
        presigned_get_and_put(backend, &backend.credentials, version).await;
        if let Some(sts) = &backend.sts_credentials {
            let client = backend.client_with(version, sts.clone());
            bucket_info(backend, &client).await;
            put_head_get(backend, &client, version).await;
            multipart_round_trip(backend, &client, version).await;
            presigned_get_and_put(backend, sts, version).await;
        }
    }
    wrong_secret_is_refused(backend).await;
}

async fn bucket_info(backend: &OssBackend, client: &OssClient) {
    let info = client.get_bucket_info().await.expect("GetBucketInfo");
    assert_eq!(info.name, backend.config.bucket, "{}", backend.name);
    assert_eq!(info.region, backend.config.region, "{}", backend.name);
    assert_eq!(info.location, format!("oss-{}", backend.config.region));
    assert!(!info.storage_class.is_empty());
}

async fn put_head_get(backend: &OssBackend, client: &OssClient, version: SignatureVersion) {
    let key = backend.key("simple.bin", version);
    let body = pattern(3000, 1);
    let md5 = content_md5(&body);
    let put = client
        .put_object(&key, body.clone(), Some(&md5))
        .await
        .expect("PutObject");
    assert_eq!(
        put.crc64,
        Some(crc64(&body)),
        "{}: PutObject CRC",
        backend.name
    );
    assert!(!put.etag.is_empty());

    let meta = client
        .head_object(&key)
        .await
        .expect("HeadObject")
        .expect("exists");
    assert_eq!(meta.size, 3000);
    assert_eq!(meta.crc64, Some(crc64(&body)));
    assert_eq!(meta.etag.as_deref(), Some(put.etag.as_str()));

    let whole = client.get_object(&key, None).await.expect("GetObject");
    assert_eq!(whole.body, body);
    let range = client
        .get_object(&key, Some(100..1100))
        .await
        .expect("ranged GetObject");
    assert_eq!(range.body, body.slice(100..1100));
    assert_eq!(
        range.meta.size, 3000,
        "size of the object, from Content-Range"
    );

    // A wrong Content-MD5 is refused by the server and nothing is stored.
    let other = backend.key("bad-md5.bin", version);
    let error = client
        .put_object(&other, body.clone(), Some(&content_md5(b"something else")))
        .await
        .expect_err("wrong Content-MD5");
    assert_eq!(error.code(), Some("InvalidDigest"), "{error}");
    assert_eq!(client.head_object(&other).await.expect("HeadObject"), None);

    let empty = backend.key("empty.bin", version);
    let put = client
        .put_object(&empty, Bytes::new(), None)
        .await
        .expect("empty PutObject");
    assert_eq!(put.crc64, Some(0));
    let meta = client
        .head_object(&empty)
        .await
        .expect("HEAD")
        .expect("exists");
    assert_eq!((meta.size, meta.crc64), (0, Some(0)));
    assert!(
        client
            .get_object(&empty, None)
            .await
            .expect("GET")
            .body
            .is_empty()
    );

    client.delete_object(&empty).await.expect("DeleteObject");
    assert_eq!(client.head_object(&empty).await.expect("HEAD"), None);
    client
        .delete_object(&empty)
        .await
        .expect("deleting a missing object succeeds");

    let missing = backend.key("never-written.bin", version);
    assert_eq!(
        client.head_object(&missing).await.expect("HeadObject"),
        None
    );
    let error = client
        .get_object(&missing, None)
        .await
        .expect_err("GET missing");
    assert_eq!(error.code(), Some("NoSuchKey"), "{error}");
}

/// Parts of 100 KiB, 100 KiB and 1000 bytes, uploaded out of order, one as a stream.
async fn multipart_round_trip(backend: &OssBackend, client: &OssClient, version: SignatureVersion) {
    let key = backend.key("multi.bak", version);
    let pieces = [pattern(MIN_PART, 2), pattern(MIN_PART, 3), pattern(1000, 4)];
    let upload_id = client
        .initiate_multipart_upload(&key)
        .await
        .expect("Initiate");

    let listed = client
        .list_multipart_uploads(Some(&backend.prefix))
        .await
        .expect("ListMultipartUploads");
    assert!(
        listed
            .iter()
            .any(|u| u.upload_id == upload_id && u.key == key),
        "{}: new upload listed",
        backend.name
    );

    let mut completed = Vec::new();
    for (index, piece) in pieces.iter().enumerate().rev() {
        let number = u32::try_from(index + 1).unwrap();
        let body = if index == 0 {
            // A stream of zero-copy chunks, as the upload engine sends.
            let chunks: Vec<Result<Bytes, std::io::Error>> = (0..piece.len())
                .step_by(4096)
                .map(|start| Ok(piece.slice(start..(start + 4096).min(piece.len()))))
                .collect();
            reqwest::Body::wrap_stream(futures::stream::iter(chunks))
        } else {
            reqwest::Body::from(piece.clone())
        };
        let length = u64::try_from(piece.len()).unwrap();
        let output = client
            .upload_part(
                &key,
                &upload_id,
                number,
                body,
                length,
                Some(&content_md5(piece)),
            )
            .await
            .expect("UploadPart");
        assert_eq!(
            output.crc64,
            Some(crc64(piece)),
            "{}: part CRC",
            backend.name
        );
        completed.push(CompletedPart {
            part_number: number,
            etag: output.etag,
        });
    }
    completed.sort_by_key(|p| p.part_number);

    let parts = client
        .list_parts(&key, &upload_id)
        .await
        .expect("ListParts");
    let numbers: Vec<u32> = parts.iter().map(|p| p.part_number).collect();
    assert_eq!(numbers, [1, 2, 3]);
    for (part, piece) in parts.iter().zip(&pieces) {
        assert_eq!(part.size, u64::try_from(piece.len()).unwrap());
        assert_eq!(part.crc64, Some(crc64(piece)));
    }

    let complete = client
        .complete_multipart_upload(&key, &upload_id, &completed)
        .await
        .expect("Complete");
    let expected_crc = crc64_of_pieces(
        pieces
            .iter()
            .map(|p| (crc64(p), u64::try_from(p.len()).unwrap())),
    );
    assert_eq!(
        complete.crc64,
        Some(expected_crc),
        "{}: object CRC",
        backend.name
    );

    let meta = client
        .head_object(&key)
        .await
        .expect("HEAD")
        .expect("exists");
    assert_eq!(meta.size, u64::try_from(MIN_PART * 2 + 1000).unwrap());
    assert_eq!(meta.crc64, Some(expected_crc));
    let whole = client.get_object(&key, None).await.expect("GET");
    let expected: Vec<u8> = pieces.iter().flat_map(|p| p.iter().copied()).collect();
    assert_eq!(whole.body, expected);
    // A range that spans the boundary between parts 1 and 2.
    let start = u64::try_from(MIN_PART - 10).unwrap();
    let across = client
        .get_object(&key, Some(start..start + 20))
        .await
        .expect("ranged GET");
    assert_eq!(across.body, &expected[MIN_PART - 10..MIN_PART + 10]);

    // The upload is finished: it is gone from the lists and refuses more calls.
    let error = client
        .list_parts(&key, &upload_id)
        .await
        .expect_err("finished upload");
    assert_eq!(error.code(), Some("NoSuchUpload"), "{error}");
    let listed = client
        .list_multipart_uploads(Some(&backend.prefix))
        .await
        .expect("ListMultipartUploads");
    assert!(!listed.iter().any(|u| u.upload_id == upload_id));
}

async fn upload(
    client: &OssClient,
    key: &str,
    upload_id: &str,
    number: u32,
    body: &Bytes,
) -> CompletedPart {
    let output = client
        .upload_part(
            key,
            upload_id,
            number,
            reqwest::Body::from(body.clone()),
            u64::try_from(body.len()).unwrap(),
            None,
        )
        .await
        .expect("UploadPart");
    CompletedPart {
        part_number: number,
        etag: output.etag,
    }
}

fn expect_code(
    result: Result<impl std::fmt::Debug, OssError>,
    code: &str,
    status: u16,
) -> OssError {
    let error = result.expect_err(code);
    assert_eq!(error.code(), Some(code), "{error}");
    assert_eq!(error.status(), Some(status), "{error}");
    assert!(!error.is_retryable(), "{error}");
    error
}

async fn multipart_errors(backend: &OssBackend, client: &OssClient, version: SignatureVersion) {
    let key = backend.key("errors.bak", version);
    let small = pattern(1000, 5);
    let big = pattern(MIN_PART, 6);

    // EntityTooSmall: a part before the last is under 100 KB; found only at Complete.
    let upload_id = client
        .initiate_multipart_upload(&key)
        .await
        .expect("Initiate");
    let parts = vec![
        upload(client, &key, &upload_id, 1, &small).await,
        upload(client, &key, &upload_id, 2, &small).await,
    ];
    let error = expect_code(
        client
            .complete_multipart_upload(&key, &upload_id, &parts)
            .await,
        "EntityTooSmall",
        400,
    );
    assert!(error.to_string().contains("100 KB"), "{error}");

    // InvalidPart: a listed part that was never uploaded, then a wrong ETag.
    let first = upload(client, &key, &upload_id, 1, &big).await;
    let missing = CompletedPart {
        part_number: 3,
        etag: first.etag.clone(),
    };
    expect_code(
        client
            .complete_multipart_upload(&key, &upload_id, &[first.clone(), missing])
            .await,
        "InvalidPart",
        400,
    );
    let wrong_etag = CompletedPart {
        part_number: 2,
        etag: "\"00000000000000000000000000000000\"".into(),
    };
    expect_code(
        client
            .complete_multipart_upload(&key, &upload_id, &[first.clone(), wrong_etag])
            .await,
        "InvalidPart",
        400,
    );

    // An unsorted list never leaves the machine.
    let second = upload(client, &key, &upload_id, 2, &small).await;
    let error = client
        .complete_multipart_upload(&key, &upload_id, &[second.clone(), first.clone()])
        .await
        .expect_err("unsorted");
    assert!(matches!(error, OssError::InvalidRequest { .. }), "{error}");

    // Abort; afterwards every call on the upload answers NoSuchUpload.
    client
        .abort_multipart_upload(&key, &upload_id)
        .await
        .expect("Abort");
    expect_code(
        client
            .complete_multipart_upload(&key, &upload_id, &[first, second])
            .await,
        "NoSuchUpload",
        404,
    );
    let error = client
        .upload_part(
            &key,
            &upload_id,
            1,
            reqwest::Body::from(small.clone()),
            1000,
            None,
        )
        .await
        .expect_err("part of an aborted upload");
    assert_eq!(error.code(), Some("NoSuchUpload"), "{error}");
    expect_code(
        client.list_parts(&key, &upload_id).await,
        "NoSuchUpload",
        404,
    );
    expect_code(
        client.abort_multipart_upload(&key, &upload_id).await,
        "NoSuchUpload",
        404,
    );
    assert_eq!(client.head_object(&key).await.expect("HEAD"), None);
}

async fn presigned_get_and_put(
    backend: &OssBackend,
    credentials: &Credentials,
    version: SignatureVersion,
) {
    let client = backend.client_with(version, credentials.clone());
    let http = reqwest::Client::new();
    let key = backend.key("presigned.bin", version);
    let body = pattern(5000, 7);

    let put_url = client
        .presign_url(Method::PUT, &key, Duration::from_secs(600))
        .expect("presign PUT");
    let response = http
        .put(&put_url)
        .body(body.clone())
        .send()
        .await
        .expect("send");
    assert!(
        response.status().is_success(),
        "{}: presigned PUT {}",
        backend.name,
        response.status()
    );

    let get_url = client
        .presign_url(Method::GET, &key, Duration::from_secs(8 * 3600))
        .expect("presign GET");
    let response = http.get(&get_url).send().await.expect("send");
    assert!(
        response.status().is_success(),
        "presigned GET {}",
        response.status()
    );
    assert_eq!(response.bytes().await.expect("body"), body);

    // Presigned UploadPart, as a browser or another tool would use it.
    let upload_id = client
        .initiate_multipart_upload(&key)
        .await
        .expect("Initiate");
    let part_url = client
        .presign_url_with_query(
            Method::PUT,
            &key,
            &[("partNumber", "1"), ("uploadId", &upload_id)],
            Duration::from_secs(600),
        )
        .expect("presign UploadPart");
    let response = http
        .put(&part_url)
        .body(body.clone())
        .send()
        .await
        .expect("send");
    assert!(
        response.status().is_success(),
        "presigned UploadPart {}",
        response.status()
    );
    let parts = client
        .list_parts(&key, &upload_id)
        .await
        .expect("ListParts");
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].crc64, Some(crc64(&body)));
    client
        .abort_multipart_upload(&key, &upload_id)
        .await
        .expect("Abort");

    // An expired URL is refused: signed as if an hour ago, valid for a minute.
    let past = backend.client_with(version, credentials.clone());
    past.set_clock_skew_secs(-3600);
    let expired = past
        .presign_url(Method::GET, &key, Duration::from_secs(60))
        .expect("presign");
    let response = http.get(&expired).send().await.expect("send");
    assert_eq!(
        response.status(),
        reqwest::StatusCode::FORBIDDEN,
        "{}: expired URL",
        backend.name
    );

    // A tampered URL (another key) is refused.
    let tampered = get_url.replace("presigned.bin", "presigned.bim");
    let response = http.get(&tampered).send().await.expect("send");
    assert_eq!(response.status(), reqwest::StatusCode::FORBIDDEN);
}

async fn wrong_secret_is_refused(backend: &OssBackend) {
    for version in [SignatureVersion::V4, SignatureVersion::V1] {
        let wrong = Credentials::new(backend.credentials.access_key_id(), "not-the-secret");
        let client = backend.client_with(version, wrong);
        let error = client.get_bucket_info().await.expect_err("wrong secret");
        assert_eq!(error.code(), Some("SignatureDoesNotMatch"), "{error}");
        assert_eq!(error.status(), Some(403));
        let text = error.to_string();
        assert!(text.contains("AccessKey secret"), "{text}");
        assert!(!text.contains("not-the-secret"), "{text}");

        let unknown = backend.client_with(version, Credentials::new("LTAIunknownKeyId", "x"));
        let error = unknown.get_bucket_info().await.expect_err("unknown key id");
        assert_eq!(error.code(), Some("InvalidAccessKeyId"), "{error}");
    }
}

/// Real Alibaba Cloud OSS, only with `BAK2RDS_TEST_REAL=1`: credentials from the usual
/// variables, bucket and region from `BAK2RDS_TEST_OSS_BUCKET` / `BAK2RDS_TEST_OSS_REGION`,
/// endpoint from `BAK2RDS_OSS_ENDPOINT` or the region's public one.
#[tokio::test]
async fn conformance_real_oss() {
    use bak2rds::env_vars;
    if std::env::var(env_vars::BAK2RDS_TEST_REAL).as_deref() != Ok("1") {
        eprintln!(
            "skipped: set BAK2RDS_TEST_REAL=1 to run the OSS conformance suite against Alibaba Cloud"
        );
        return;
    }
    let credentials = Credentials::from_env()
        .expect("credential variables")
        .expect("ALIBABA_CLOUD_ACCESS_KEY_ID and _SECRET must be set");
    let bucket = std::env::var(env_vars::BAK2RDS_TEST_OSS_BUCKET).expect("BAK2RDS_TEST_OSS_BUCKET");
    let region = std::env::var(env_vars::BAK2RDS_TEST_OSS_REGION).expect("BAK2RDS_TEST_OSS_REGION");
    let config = match std::env::var(env_vars::BAK2RDS_OSS_ENDPOINT) {
        Ok(endpoint) => OssConfig::with_endpoint(&endpoint, &region, &bucket),
        Err(_) => OssConfig::for_region(&region, &bucket, false),
    };
    let backend = OssBackend {
        name: "real OSS".into(),
        config,
        credentials,
        sts_credentials: None,
        prefix: format!(
            "bak2rds-conformance/{}",
            time::OffsetDateTime::now_utc().unix_timestamp()
        ),
    };
    run_all(&backend).await;
}

/// Long-term and STS key pairs the emulator backends declare.
const EMU_AK: &str = "LTAI5tOssEmulatorTestAK";
const EMU_SK: &str = "OssEmulatorTestSecretKey0123456789ab";
const EMU_STS_AK: &str = "STS.NUgYrLnoC37mZZCNnAbez";
const EMU_STS_SK: &str = "StsSecretForTheEmulator0123456789";
const EMU_STS_TOKEN: &str = "CAIStsTokenExample+/==";

/// An emulator on 127.0.0.1:0 with a long-term and an STS key pair, and the backend for it.
pub async fn emulator_backend(disk: bool) -> (bak2rds_emulator::EmulatorHandle, OssBackend) {
    use bak2rds_emulator::{Emulator, EmulatorConfig, KeyPair};
    let mut config = EmulatorConfig::default();
    let mut sts = KeyPair::new(EMU_STS_AK, EMU_STS_SK);
    sts.security_token = Some(EMU_STS_TOKEN.to_owned());
    config.keys = vec![KeyPair::new(EMU_AK, EMU_SK), sts];
    let builder = Emulator::builder().config(config);
    let builder = if disk {
        builder.temp_dir()
    } else {
        builder.memory()
    };
    let emulator = builder.start().await.expect("emulator starts");
    let backend = OssBackend {
        name: format!("emulator ({})", if disk { "disk" } else { "memory" }),
        config: OssConfig::with_endpoint(
            &emulator.oss_endpoint(),
            emulator.region(),
            emulator.bucket(),
        ),
        credentials: Credentials::new(EMU_AK, EMU_SK),
        sts_credentials: Some(
            Credentials::new(EMU_STS_AK, EMU_STS_SK).with_security_token(EMU_STS_TOKEN),
        ),
        prefix: "conformance".into(),
    };
    (emulator, backend)
}

#[tokio::test]
async fn conformance_emulator_memory() {
    let (_emulator, backend) = emulator_backend(false).await;
    run_all(&backend).await;
}

#[tokio::test]
async fn conformance_emulator_disk() {
    let (_emulator, backend) = emulator_backend(true).await;
    run_all(&backend).await;
}

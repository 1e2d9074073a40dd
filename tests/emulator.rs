//! The OSS emulator over raw HTTP (reqwest + the pure signing functions), so its behaviour is
//! checked independently of bak2rds's OSS client. Every conformance check runs against both
//! storage backends (DESIGN habit 11): memory and disk.

use std::time::{Duration, Instant};

use bak2rds_cloud::checksum::{content_md5, crc64, md5};
use bak2rds_cloud::oss::Credentials;
use bak2rds_cloud::oss::sign::{self, SignableRequest, V4Context};
use bak2rds_emulator::faults::{ErrorFault, FaultConfig, RateFault};
use bak2rds_emulator::{
    BucketConfig, Emulator, EmulatorBuilder, EmulatorConfig, EmulatorHandle, KeyPair,
};
use time::OffsetDateTime;

/// 100 KiB, OSS's smallest non-last part.
const MIN_PART: usize = 100 * 1024;

/// A tiny signed-request helper over reqwest.
struct Oss {
    endpoint: String,
    bucket: String,
    region: String,
    credentials: Credentials,
    http: reqwest::Client,
    /// Added to the signing time (clock-skew tests).
    clock_offset: time::Duration,
    v1: bool,
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `<Code>` of an error body, or of `x-oss-err` for HEAD.
    fn code(&self) -> String {
        let xml = if self.body.is_empty() {
            use base64::Engine as _;
            let encoded = self.header("x-oss-err");
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .unwrap(),
            )
            .unwrap()
        } else {
            self.text()
        };
        let start = xml.find("<Code>").map(|i| i + 6).unwrap_or(0);
        let end = xml.find("</Code>").unwrap_or(0);
        xml.get(start..end).unwrap_or("").to_owned()
    }

    fn crc(&self) -> u64 {
        self.header("x-oss-hash-crc64ecma").parse().unwrap()
    }
}

impl Oss {
    fn new(handle: &EmulatorHandle) -> Self {
        Oss {
            endpoint: handle.oss_endpoint(),
            bucket: handle.bucket().to_owned(),
            region: handle.region().to_owned(),
            credentials: Credentials::new(handle.access_key_id(), handle.access_key_secret()),
            http: reqwest::Client::new(),
            clock_offset: time::Duration::ZERO,
            v1: false,
        }
    }

    fn url(&self, key: Option<&str>, query: &[(&str, &str)]) -> String {
        let mut url = format!("{}/{}/", self.endpoint, self.bucket);
        if let Some(key) = key {
            url.push_str(&sign::uri_encode(key, true));
        }
        if !query.is_empty() {
            url.push('?');
            url.push_str(&sign::encode_query(query));
        }
        url
    }

    /// Signs (V4 by default, V1 when `self.v1`) and sends a request.
    async fn send(
        &self,
        method: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let now = OffsetDateTime::now_utc() + self.clock_offset;
        let date = sign::http_date(now);
        let datetime = sign::v4_datetime(now);
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if self.v1 {
            all.push(("date", &date));
        } else {
            all.push(("x-oss-date", &datetime));
            all.push(("x-oss-content-sha256", sign::UNSIGNED_PAYLOAD));
        }
        if let Some(token) = self.credentials.security_token() {
            all.push(("x-oss-security-token", token));
        }
        let signable = SignableRequest {
            method,
            bucket: Some(&self.bucket),
            key,
            query,
            headers: &all,
        };
        let authorization = if self.v1 {
            sign::v1_sign_header(&self.credentials, &signable)
        } else {
            let context = V4Context {
                region: &self.region,
                product: sign::V4_PRODUCT_OSS,
                time: now,
            };
            sign::v4_sign_header(&self.credentials, &context, &signable, &[])
        };
        let mut request = self
            .http
            .request(method.parse().unwrap(), self.url(key, query))
            .header("authorization", authorization)
            .body(body);
        for (name, value) in &all {
            request = request.header(*name, *value);
        }
        reply(request.send().await.unwrap()).await
    }

    /// Sends a signed request over a bare TCP connection, with the path exactly as given: URL
    /// libraries resolve `..` segments (even `%2E%2E`), and these tests need them on the wire.
    async fn send_raw(&self, method: &str, key: &str, body: &[u8]) -> (u16, Vec<u8>) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let (datetime, authorization) = self.v4_unsigned_payload(method, &self.bucket, key);
        let host = self.endpoint.trim_start_matches("http://");
        let mut request = format!(
            "{method} /{}/{} HTTP/1.1\r\nhost: {host}\r\nx-oss-date: {datetime}\r\n\
             x-oss-content-sha256: UNSIGNED-PAYLOAD\r\nauthorization: {authorization}\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n",
            self.bucket,
            sign::uri_encode(key, true),
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
        stream.write_all(&request).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&response[..split]).into_owned();
        let status = head[9..12].parse().unwrap();
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        let mut payload = response[split + 4..].to_vec();
        if chunked {
            payload = dechunk(&payload);
        }
        (status, payload)
    }

    /// The `x-oss-date` and V4 `Authorization` of a request with no query and an unsigned
    /// payload, signed now.
    fn v4_unsigned_payload(&self, method: &str, bucket: &str, key: &str) -> (String, String) {
        let now = OffsetDateTime::now_utc();
        let datetime = sign::v4_datetime(now);
        let headers = [
            ("x-oss-date", datetime.as_str()),
            ("x-oss-content-sha256", sign::UNSIGNED_PAYLOAD),
        ];
        let signable = SignableRequest {
            method,
            bucket: Some(bucket),
            key: Some(key),
            query: &[],
            headers: &headers,
        };
        let context = V4Context {
            region: &self.region,
            product: "oss",
            time: now,
        };
        let authorization = sign::v4_sign_header(&self.credentials, &context, &signable, &[]);
        (datetime, authorization)
    }

    /// A signed GET of `bucket/key` addressed as `https://<host>/<key>` would be; the V4
    /// canonical URI still names the bucket (section 3.3).
    async fn get_virtual_hosted(&self, host: &str, bucket: &str, key: &str) -> reqwest::Response {
        let (datetime, authorization) = self.v4_unsigned_payload("GET", bucket, key);
        self.http
            .get(format!("{}/{key}", self.endpoint))
            .header("host", host)
            .header("x-oss-date", datetime)
            .header("x-oss-content-sha256", sign::UNSIGNED_PAYLOAD)
            .header("authorization", authorization)
            .send()
            .await
            .unwrap()
    }

    async fn put(&self, key: &str, body: &[u8]) -> Reply {
        self.send("PUT", Some(key), &[], &[], body.to_vec()).await
    }

    async fn get(&self, key: &str, headers: &[(&str, &str)]) -> Reply {
        self.send("GET", Some(key), &[], headers, Vec::new()).await
    }

    async fn initiate(&self, key: &str) -> String {
        let reply = self
            .send("POST", Some(key), &[("uploads", "")], &[], Vec::new())
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        between(&reply.text(), "<UploadId>", "</UploadId>")
    }

    async fn upload_part(&self, key: &str, upload_id: &str, number: u32, body: &[u8]) -> Reply {
        let number = number.to_string();
        let query = [("partNumber", number.as_str()), ("uploadId", upload_id)];
        self.send("PUT", Some(key), &query, &[], body.to_vec())
            .await
    }

    async fn complete(&self, key: &str, upload_id: &str, parts: &[(u32, String)]) -> Reply {
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (number, etag) in parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{number}</PartNumber><ETag>{etag}</ETag></Part>"
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let md5 = content_md5(xml.as_bytes());
        let headers = [
            ("content-md5", md5.as_str()),
            ("content-type", "application/xml"),
        ];
        self.send(
            "POST",
            Some(key),
            &[("uploadId", upload_id)],
            &headers,
            xml.into_bytes(),
        )
        .await
    }
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap().to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

/// Decodes a chunked HTTP/1.1 body.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).unwrap().trim(), 16)
            .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[line_end + 2..line_end + 2 + size]);
        raw = &raw[line_end + 2 + size + 2..];
    }
}

fn between(text: &str, open: &str, close: &str) -> String {
    let start = text.find(open).unwrap() + open.len();
    let end = start + text[start..].find(close).unwrap();
    text[start..end].to_owned()
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Declares one test per backend for a check taking an [`EmulatorBuilder`].
macro_rules! on_every_backend {
    ($($check:ident),* $(,)?) => {
        mod memory_store {
            $(#[tokio::test]
            async fn $check() {
                super::$check(bak2rds_emulator::Emulator::builder().memory()).await;
            })*
        }
        mod disk_store {
            $(#[tokio::test]
            async fn $check() {
                super::$check(bak2rds_emulator::Emulator::builder().temp_dir()).await;
            })*
        }
    };
}

// CopyObject, UploadPartCopy, listings, batch delete, 501s: the operations other clients use.
mod operations;
use operations::{
    copy_object_copies_bytes_metadata_and_conditions, delete_multiple_objects_in_both_modes,
    listings_roll_up_prefixes_and_page_to_the_end, unimplemented_requests_answer_501,
    upload_part_copy_builds_an_object_from_ranges,
};

on_every_backend!(
    copy_object_copies_bytes_metadata_and_conditions,
    upload_part_copy_builds_an_object_from_ranges,
    listings_roll_up_prefixes_and_page_to_the_end,
    delete_multiple_objects_in_both_modes,
    unimplemented_requests_answer_501,
    put_get_head_delete_with_crc_etag_and_ranges,
    multipart_round_trip_with_paged_list_parts,
    multipart_errors_have_oss_codes_and_statuses,
    keys_are_stored_whatever_they_contain,
    content_md5_is_checked_when_sent,
    signatures_are_verified,
);

async fn put_get_head_delete_with_crc_etag_and_ranges(builder: EmulatorBuilder) {
    let handle = builder.start().await.unwrap();
    let oss = Oss::new(&handle);
    let body = data(300_000, 1);
    let put = oss.put("dir/object.bak", &body).await;
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(put.crc(), crc64(&body));
    assert_eq!(
        put.header("etag"),
        format!("\"{}\"", hex::encode_upper(md5(&body)))
    );
    assert_eq!(put.header("content-md5"), content_md5(&body));
    assert_eq!(put.header("x-oss-request-id").len(), 24);

    let head = oss
        .send("HEAD", Some("dir/object.bak"), &[], &[], Vec::new())
        .await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), "300000");
    assert_eq!(head.crc(), crc64(&body));
    assert_eq!(head.header("x-oss-object-type"), "Normal");
    assert_eq!(head.header("x-oss-storage-class"), "Standard");
    assert!(head.header("last-modified").ends_with(" GMT"));

    let get = oss.get("dir/object.bak", &[]).await;
    assert_eq!(get.body, body);
    let ranged = oss
        .get("dir/object.bak", &[("range", "bytes=100-199")])
        .await;
    assert_eq!(ranged.status, 206);
    assert_eq!(ranged.body, &body[100..200]);
    assert_eq!(ranged.header("content-range"), "bytes 100-199/300000");
    let past_end = oss
        .get("dir/object.bak", &[("range", "bytes=300000-")])
        .await;
    assert_eq!(
        (past_end.status, past_end.code().as_str()),
        (416, "InvalidRange")
    );

    let read = handle
        .storage()
        .read_object(handle.bucket(), "dir/object.bak")
        .unwrap();
    let mut copied = Vec::new();
    read.copy_to(&mut copied).unwrap();
    assert_eq!(copied, body);

    let deleted = oss
        .send("DELETE", Some("dir/object.bak"), &[], &[], Vec::new())
        .await;
    assert_eq!(deleted.status, 204);
    let missing = oss
        .send("HEAD", Some("dir/object.bak"), &[], &[], Vec::new())
        .await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.is_empty());
    assert_eq!(
        missing.code(),
        "NoSuchKey",
        "HEAD errors travel in x-oss-err"
    );
    let missing = oss.get("dir/object.bak", &[]).await;
    assert_eq!(missing.code(), "NoSuchKey");
    assert!(missing.text().contains("<RequestId>"));
    assert!(missing.text().contains("<HostId>"));
    handle.shutdown().await.unwrap();
}

async fn multipart_round_trip_with_paged_list_parts(builder: EmulatorBuilder) {
    let handle = builder.start().await.unwrap();
    let oss = Oss::new(&handle);
    let key = "backups/full.bak";
    let upload_id = oss.initiate(key).await;
    let body = data(3 * MIN_PART + 12_345, 2);
    let mut parts = Vec::new();
    for (index, chunk) in body.chunks(MIN_PART).enumerate() {
        let number = u32::try_from(index + 1).unwrap();
        let reply = oss.upload_part(key, &upload_id, number, chunk).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.crc(), crc64(chunk));
        parts.push((number, reply.header("etag").to_owned()));
    }
    // Re-uploading a part replaces it.
    let again = oss
        .upload_part(key, &upload_id, 2, &body[MIN_PART..2 * MIN_PART])
        .await;
    assert_eq!(again.header("etag"), parts[1].1);

    let page = oss
        .send(
            "GET",
            Some(key),
            &[
                ("uploadId", &upload_id),
                ("max-parts", "2"),
                ("part-number-marker", ""),
            ],
            &[],
            Vec::new(),
        )
        .await;
    let text = page.text();
    assert!(text.contains("<IsTruncated>true</IsTruncated>"), "{text}");
    assert!(text.contains("<NextPartNumberMarker>2</NextPartNumberMarker>"));
    assert!(text.contains(&format!(
        "<HashCrc64ecma>{}</HashCrc64ecma>",
        crc64(&body[..MIN_PART])
    )));
    let rest = oss
        .send(
            "GET",
            Some(key),
            &[("uploadId", &upload_id), ("part-number-marker", "2")],
            &[],
            Vec::new(),
        )
        .await
        .text();
    assert!(
        rest.contains("<PartNumber>3</PartNumber>") && rest.contains("<PartNumber>4</PartNumber>")
    );
    assert!(rest.contains("<IsTruncated>false</IsTruncated>"));

    let uploads = oss
        .send("GET", None, &[("uploads", "")], &[], Vec::new())
        .await
        .text();
    assert!(
        uploads.contains(&format!("<UploadId>{upload_id}</UploadId>")),
        "{uploads}"
    );

    let done = oss.complete(key, &upload_id, &parts).await;
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(
        done.crc(),
        crc64(&body),
        "object CRC combined from the parts"
    );
    assert!(
        done.header("etag").ends_with("-4\""),
        "multipart ETag {}",
        done.header("etag")
    );
    let get = oss.get(key, &[]).await;
    assert_eq!(get.body, body);
    assert_eq!(get.header("x-oss-object-type"), "Multipart");
    let across = oss.get(key, &[("range", "bytes=102000-205000")]).await;
    assert_eq!(across.body, &body[102_000..=205_000]);
    // The upload is gone after Complete.
    let listed = oss
        .send(
            "GET",
            Some(key),
            &[("uploadId", &upload_id)],
            &[],
            Vec::new(),
        )
        .await;
    assert_eq!(
        (listed.status, listed.code().as_str()),
        (404, "NoSuchUpload")
    );
}

async fn multipart_errors_have_oss_codes_and_statuses(builder: EmulatorBuilder) {
    let handle = builder.start().await.unwrap();
    let oss = Oss::new(&handle);
    let key = "rules.bak";
    let upload_id = oss.initiate(key).await;
    let big = data(MIN_PART, 3);
    let one = oss
        .upload_part(key, &upload_id, 1, &big)
        .await
        .header("etag")
        .to_owned();
    let two = oss
        .upload_part(key, &upload_id, 2, b"small")
        .await
        .header("etag")
        .to_owned();
    let three = oss
        .upload_part(key, &upload_id, 3, b"last")
        .await
        .header("etag")
        .to_owned();

    for bad in ["0", "10001", "x"] {
        let reply = oss
            .send(
                "PUT",
                Some(key),
                &[("partNumber", bad), ("uploadId", &upload_id)],
                &[],
                b"x".to_vec(),
            )
            .await;
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (400, "InvalidArgument"),
            "part {bad}"
        );
    }
    assert_eq!(
        oss.upload_part(key, &upload_id, 10_000, b"x").await.status,
        200
    );

    let small = oss
        .complete(
            key,
            &upload_id,
            &[(1, one.clone()), (2, two.clone()), (3, three.clone())],
        )
        .await;
    assert_eq!(
        (small.status, small.code().as_str()),
        (400, "EntityTooSmall")
    );
    let order = oss
        .complete(key, &upload_id, &[(2, two.clone()), (1, one.clone())])
        .await;
    assert_eq!(
        (order.status, order.code().as_str()),
        (400, "InvalidPartOrder")
    );
    assert_eq!(order.header("x-oss-ec"), "0042-00000209");
    let duplicate = oss
        .complete(key, &upload_id, &[(1, one.clone()), (1, one.clone())])
        .await;
    assert_eq!(duplicate.code(), "InvalidPartOrder");
    let wrong_etag = oss
        .complete(key, &upload_id, &[(1, format!("\"{}\"", "0".repeat(32)))])
        .await;
    assert_eq!(
        (wrong_etag.status, wrong_etag.code().as_str()),
        (400, "InvalidPart")
    );
    let missing = oss
        .complete(key, &upload_id, &[(1, one.clone()), (7, one.clone())])
        .await;
    assert_eq!(missing.code(), "InvalidPart");
    let malformed = oss.complete(key, &upload_id, &[]).await;
    assert_eq!(
        (malformed.status, malformed.code().as_str()),
        (400, "MalformedXML")
    );

    // Gaps are allowed; ETags compare without quotes and case; only listed parts are kept.
    let lower = one.trim_matches('"').to_ascii_lowercase();
    let done = oss
        .complete(key, &upload_id, &[(1, lower), (3, three)])
        .await;
    assert_eq!(done.status, 200, "{}", done.text());
    let object = oss.get(key, &[]).await.body;
    assert_eq!(object, [big.as_slice(), b"last"].concat());

    let after = oss.upload_part(key, &upload_id, 4, b"late").await;
    assert_eq!((after.status, after.code().as_str()), (404, "NoSuchUpload"));
    let abort = oss
        .send(
            "DELETE",
            Some(key),
            &[("uploadId", &upload_id)],
            &[],
            Vec::new(),
        )
        .await;
    assert_eq!(abort.code(), "NoSuchUpload");

    // `x-oss-complete-all: yes` takes every uploaded part, and refuses a body (§1.2 Complete).
    let all = oss.initiate("all.bak").await;
    oss.upload_part("all.bak", &all, 2, &big).await;
    oss.upload_part("all.bak", &all, 5, b"end").await;
    let with_body = oss
        .send(
            "POST",
            Some("all.bak"),
            &[("uploadId", &all)],
            &[("x-oss-complete-all", "yes")],
            b"<CompleteMultipartUpload/>".to_vec(),
        )
        .await;
    assert_eq!(with_body.status, 400);
    let complete_all = oss
        .send(
            "POST",
            Some("all.bak"),
            &[("uploadId", &all)],
            &[("x-oss-complete-all", "yes")],
            Vec::new(),
        )
        .await;
    assert_eq!(complete_all.status, 200, "{}", complete_all.text());
    let expected = [big.as_slice(), b"end"].concat();
    assert_eq!(oss.get("all.bak", &[]).await.body, expected);
    assert_eq!(complete_all.crc(), crc64(&expected));

    let aborted = oss.initiate(key).await;
    let reply = oss
        .send(
            "DELETE",
            Some(key),
            &[("uploadId", &aborted)],
            &[],
            Vec::new(),
        )
        .await;
    assert_eq!(reply.status, 204);
    assert_eq!(
        oss.upload_part(key, &aborted, 1, b"x").await.code(),
        "NoSuchUpload"
    );
    assert_eq!(
        oss.upload_part(key, "unknown", 1, b"x").await.code(),
        "NoSuchUpload"
    );
}

async fn keys_are_stored_whatever_they_contain(builder: EmulatorBuilder) {
    let handle = builder.start().await.unwrap();
    let oss = Oss::new(&handle);
    let long = "k".repeat(1023);
    let keys = [
        "../../etc/passwd",
        "a/../../b",
        "nul\0byte",
        "spaces and+plus%.bak",
        "..",
        long.as_str(),
    ];
    for (index, key) in keys.iter().enumerate() {
        let body = data(1000 + index, 4);
        let (status, text) = oss.send_raw("PUT", key, &body).await;
        assert_eq!(status, 200, "{key:?}: {}", String::from_utf8_lossy(&text));
        assert_eq!(oss.send_raw("GET", key, b"").await, (200, body), "{key:?}");
    }
    let stored = handle
        .storage()
        .read_object(handle.bucket(), "../../etc/passwd");
    assert_eq!(stored.unwrap().len(), 1000);
    let too_long = "k".repeat(1024);
    assert_eq!(oss.put(&too_long, b"x").await.code(), "InvalidObjectName");
    assert_eq!(
        oss.put("/leading-slash", b"x").await.code(),
        "InvalidObjectName"
    );
}

async fn content_md5_is_checked_when_sent(builder: EmulatorBuilder) {
    let handle = builder.start().await.unwrap();
    let oss = Oss::new(&handle);
    let body = data(5000, 5);
    let right = content_md5(&body);
    let ok = oss
        .send(
            "PUT",
            Some("md5"),
            &[],
            &[("content-md5", &right)],
            body.clone(),
        )
        .await;
    assert_eq!(ok.status, 200);
    let wrong = content_md5(b"other");
    let bad = oss
        .send(
            "PUT",
            Some("md5"),
            &[],
            &[("content-md5", &wrong)],
            body.clone(),
        )
        .await;
    assert_eq!((bad.status, bad.code().as_str()), (400, "InvalidDigest"));
    // The v2 SDK sends the MD5 of an empty body on GET (section 6.4 point 3).
    let empty = content_md5(b"");
    assert_eq!(oss.get("md5", &[("content-md5", &empty)]).await.body, body);
    assert_eq!(
        oss.get("md5", &[("content-md5", &wrong)]).await.code(),
        "InvalidDigest"
    );
}

async fn signatures_are_verified(builder: EmulatorBuilder) {
    let sts = KeyPair {
        security_token: Some("CAIStoken+/==".to_owned()),
        ..KeyPair::new("STS.key", "sts-secret")
    };
    let config = EmulatorConfig {
        keys: vec![KeyPair::new("LTAIkey", "secret"), sts],
        ..EmulatorConfig::default()
    };
    let handle = builder.config(config).start().await.unwrap();
    let mut oss = Oss::new(&handle);
    assert_eq!(oss.put("signed", b"v4").await.status, 200);
    oss.v1 = true;
    assert_eq!(oss.put("signed", b"v1").await.status, 200);
    oss.v1 = false;

    oss.credentials = Credentials::new("LTAIkey", "wrong");
    let denied = oss.put("signed", b"x").await;
    assert_eq!(
        (denied.status, denied.code().as_str()),
        (403, "SignatureDoesNotMatch")
    );
    assert!(
        denied.text().contains("<StringToSign>OSS4-HMAC-SHA256\n"),
        "{}",
        denied.text()
    );
    assert!(!denied.text().contains("secret"));
    oss.v1 = true;
    assert_eq!(
        oss.put("signed", b"x").await.code(),
        "SignatureDoesNotMatch"
    );
    oss.v1 = false;

    oss.credentials = Credentials::new("LTAIkey", "secret");
    oss.clock_offset = time::Duration::minutes(20);
    let skewed = oss.put("signed", b"x").await;
    assert_eq!(
        (skewed.status, skewed.code().as_str()),
        (403, "RequestTimeTooSkewed")
    );
    oss.clock_offset = time::Duration::ZERO;

    oss.credentials =
        Credentials::new("STS.key", "sts-secret").with_security_token("CAIStoken+/==");
    assert_eq!(oss.put("sts", b"sts").await.status, 200);
    oss.v1 = true;
    assert_eq!(oss.get("sts", &[]).await.body, b"sts");
    oss.credentials = Credentials::new("STS.key", "sts-secret");
    assert_eq!(oss.get("sts", &[]).await.code(), "InvalidSecurityToken");
    oss.credentials = Credentials::new("nobody", "x");
    assert_eq!(oss.get("sts", &[]).await.code(), "InvalidAccessKeyId");

    let anonymous = reply(
        oss.http
            .get(oss.url(Some("signed"), &[]))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (anonymous.status, anonymous.code().as_str()),
        (403, "AccessDenied")
    );

    // Presigned URLs: V4 (fresh, then expired) and V1.
    let credentials = Credentials::new("LTAIkey", "secret");
    let presign_v4 = |time: OffsetDateTime| {
        let request = SignableRequest {
            method: "GET",
            bucket: Some(handle.bucket()),
            key: Some("signed"),
            query: &[],
            headers: &[],
        };
        let context = V4Context {
            region: handle.region(),
            product: "oss",
            time,
        };
        let query = sign::v4_presign_query(&credentials, &context, &request, 60, &[]);
        format!(
            "{}?{}",
            oss.url(Some("signed"), &[]),
            sign::encode_query(&query)
        )
    };
    let fresh = reply(
        oss.http
            .get(presign_v4(OffsetDateTime::now_utc()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(fresh.body, b"v1");
    let old = OffsetDateTime::now_utc() - time::Duration::minutes(5);
    let expired = reply(oss.http.get(presign_v4(old)).send().await.unwrap()).await;
    assert_eq!(
        (expired.status, expired.code().as_str()),
        (403, "AccessDenied")
    );
    assert!(expired.text().contains("Request has expired."));
    let request = SignableRequest {
        method: "GET",
        bucket: Some(handle.bucket()),
        key: Some("signed"),
        query: &[],
        headers: &[],
    };
    let expires = OffsetDateTime::now_utc().unix_timestamp() + 60;
    let query = sign::v1_presign_query(&credentials, &request, expires);
    let url = format!(
        "{}?{}",
        oss.url(Some("signed"), &[]),
        sign::encode_query(&query)
    );
    assert_eq!(
        reply(oss.http.get(url).send().await.unwrap()).await.body,
        b"v1"
    );
}

#[tokio::test]
async fn virtual_host_addressing_reaches_the_bucket() {
    let handle = Emulator::builder().start().await.unwrap();
    let oss = Oss::new(&handle);
    assert_eq!(oss.put("vhost.bak", b"hello").await.status, 200);
    let host = format!("{}.oss-cn-hangzhou.aliyuncs.com", handle.bucket());
    let response = oss
        .get_virtual_hosted(&host, handle.bucket(), "vhost.bak")
        .await;
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"hello");
}

#[tokio::test]
async fn bucket_info_reports_region_class_and_encryption() {
    let config = EmulatorConfig {
        buckets: vec![BucketConfig {
            region: "ap-southeast-1".to_owned(),
            storage_class: "IA".to_owned(),
            server_side_encryption: true,
            ..BucketConfig::new("sqlbak-sg")
        }],
        ..EmulatorConfig::default()
    };
    let handle = Emulator::builder().config(config).start().await.unwrap();
    let oss = Oss::new(&handle);
    let info = oss
        .send("GET", None, &[("bucketInfo", "")], &[], Vec::new())
        .await
        .text();
    for needle in [
        "<Name>sqlbak-sg</Name>",
        "<Location>oss-ap-southeast-1</Location>",
        "<StorageClass>IA</StorageClass>",
        "<ExtranetEndpoint>oss-ap-southeast-1.aliyuncs.com</ExtranetEndpoint>",
        "<IntranetEndpoint>oss-ap-southeast-1-internal.aliyuncs.com</IntranetEndpoint>",
        "<SSEAlgorithm>AES256</SSEAlgorithm>",
        "<Grant>private</Grant>",
    ] {
        assert!(info.contains(needle), "{needle} missing in {info}");
    }
    let put = oss.put("encrypted.bak", b"x").await;
    assert_eq!(put.header("x-oss-server-side-encryption"), "AES256");
    let head = oss
        .send("HEAD", Some("encrypted.bak"), &[], &[], Vec::new())
        .await;
    assert_eq!(head.header("x-oss-server-side-encryption"), "AES256");
    // A V4 scope naming another region is refused.
    let mut wrong_region = Oss::new(&handle);
    wrong_region.region = "cn-hangzhou".to_owned();
    assert_eq!(wrong_region.put("x", b"x").await.code(), "AccessDenied");
}

#[tokio::test]
async fn fast_etag_derives_the_etag_from_the_crc() {
    let handle = Emulator::builder().fast_etag(true).start().await.unwrap();
    let oss = Oss::new(&handle);
    let body = data(4096, 6);
    let put = oss.put("fast", &body).await;
    let expected = format!("\"{:016X}{:016X}\"", crc64(&body), body.len());
    assert_eq!(put.header("etag"), expected);
    // A sent Content-MD5 is still checked.
    let wrong = content_md5(b"other");
    let bad = oss
        .send("PUT", Some("fast"), &[], &[("content-md5", &wrong)], body)
        .await;
    assert_eq!(bad.code(), "InvalidDigest");
}

#[tokio::test]
async fn discarded_bodies_keep_metadata_for_benchmarks() {
    let handle = Emulator::builder()
        .discard_bodies()
        .fast_etag(true)
        .start()
        .await
        .unwrap();
    let oss = Oss::new(&handle);
    let key = "bench.bak";
    let upload_id = oss.initiate(key).await;
    let body = data(MIN_PART + 10, 13);
    let one = oss.upload_part(key, &upload_id, 1, &body[..MIN_PART]).await;
    assert_eq!(one.crc(), crc64(&body[..MIN_PART]));
    let two = oss.upload_part(key, &upload_id, 2, &body[MIN_PART..]).await;
    let parts = [
        (1, one.header("etag").to_owned()),
        (2, two.header("etag").to_owned()),
    ];
    let done = oss.complete(key, &upload_id, &parts).await;
    assert_eq!(done.crc(), crc64(&body));
    let head = oss.send("HEAD", Some(key), &[], &[], Vec::new()).await;
    assert_eq!(head.header("content-length"), body.len().to_string());
    assert_eq!(head.crc(), crc64(&body));
    let get = oss.get(key, &[]).await;
    assert_eq!(
        (get.status, get.code().as_str()),
        (403, "InvalidObjectState")
    );
}

#[tokio::test]
async fn faults_inject_errors_drops_flips_and_latency() {
    let faults = FaultConfig {
        seed: 1,
        latency_ms: 30,
        errors: vec![ErrorFault {
            operation: "UploadPart".to_owned(),
            rate: 1.0,
            status: 503,
            code: "ServiceUnavailable".to_owned(),
            times: Some(1),
        }],
        drop_connection: vec![RateFault {
            operation: "GetObject".to_owned(),
            rate: 1.0,
            times: Some(1),
        }],
        flip_byte: vec![RateFault {
            operation: "PutObject".to_owned(),
            rate: 1.0,
            times: Some(1),
        }],
        ..FaultConfig::default()
    };
    let handle = Emulator::builder().faults(faults).start().await.unwrap();
    let oss = Oss::new(&handle);
    let body = data(200_000, 7);

    let started = Instant::now();
    let flipped = oss.put("obj", &body).await;
    assert!(
        started.elapsed() >= Duration::from_millis(30),
        "latency added"
    );
    assert_eq!(flipped.status, 200);
    assert_ne!(
        flipped.crc(),
        crc64(&body),
        "the stored part has a flipped byte"
    );
    let clean = oss.put("obj", &body).await;
    assert_eq!(clean.crc(), crc64(&body), "flip_byte fired only once");

    // The GET's headers arrive, then the body stops half-way and the connection closes.
    let now = OffsetDateTime::now_utc();
    let datetime = sign::v4_datetime(now);
    let headers = [
        ("x-oss-date", datetime.as_str()),
        ("x-oss-content-sha256", sign::UNSIGNED_PAYLOAD),
    ];
    let signable = SignableRequest {
        method: "GET",
        bucket: Some(handle.bucket()),
        key: Some("obj"),
        query: &[],
        headers: &headers,
    };
    let context = V4Context {
        region: handle.region(),
        product: "oss",
        time: now,
    };
    let authorization = sign::v4_sign_header(&oss.credentials, &context, &signable, &[]);
    let response = oss
        .http
        .get(oss.url(Some("obj"), &[]))
        .header("x-oss-date", datetime)
        .header("x-oss-content-sha256", sign::UNSIGNED_PAYLOAD)
        .header("authorization", authorization)
        .send()
        .await
        .unwrap();
    assert!(response.bytes().await.is_err(), "the body was cut short");
    assert_eq!(oss.get("obj", &[]).await.body, body, "drop fired only once");

    let upload_id = oss.initiate("mp").await;
    let injected = oss.upload_part("mp", &upload_id, 1, b"part").await;
    assert_eq!(
        (injected.status, injected.code().as_str()),
        (503, "ServiceUnavailable")
    );
    assert_eq!(
        oss.upload_part("mp", &upload_id, 1, b"part").await.status,
        200
    );
}

#[tokio::test]
async fn dropped_upload_closes_the_connection_without_a_response() {
    let faults = FaultConfig {
        drop_connection: vec![RateFault {
            operation: "PutObject".to_owned(),
            rate: 1.0,
            times: None,
        }],
        ..FaultConfig::default()
    };
    let handle = Emulator::builder().faults(faults).start().await.unwrap();
    let oss = Oss::new(&handle);
    let now = OffsetDateTime::now_utc();
    let datetime = sign::v4_datetime(now);
    let headers = [
        ("x-oss-date", datetime.as_str()),
        ("x-oss-content-sha256", sign::UNSIGNED_PAYLOAD),
    ];
    let signable = SignableRequest {
        method: "PUT",
        bucket: Some(handle.bucket()),
        key: Some("x"),
        query: &[],
        headers: &headers,
    };
    let context = V4Context {
        region: handle.region(),
        product: "oss",
        time: now,
    };
    let authorization = sign::v4_sign_header(&oss.credentials, &context, &signable, &[]);
    let outcome = oss
        .http
        .put(oss.url(Some("x"), &[]))
        .header("x-oss-date", datetime)
        .header("x-oss-content-sha256", sign::UNSIGNED_PAYLOAD)
        .header("authorization", authorization)
        .body(data(4 << 20, 8))
        .send()
        .await;
    assert!(
        outcome.is_err(),
        "got a response: {:?}",
        outcome.map(|r| r.status())
    );
    assert!(handle.storage().read_object(handle.bucket(), "x").is_none());
}

#[tokio::test]
async fn bandwidth_cap_slows_bodies() {
    let faults = FaultConfig {
        bandwidth_bytes_per_sec: Some(256 * 1024),
        ..FaultConfig::default()
    };
    let handle = Emulator::builder().faults(faults).start().await.unwrap();
    let oss = Oss::new(&handle);
    // The token bucket starts full (one second of traffic), so 768 KiB take at least ~2 s.
    let started = Instant::now();
    assert_eq!(oss.put("slow", &data(768 * 1024, 9)).await.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn shutdown_waits_then_refuses_connections() {
    let handle = Emulator::builder().start().await.unwrap();
    let endpoint = handle.oss_endpoint();
    let oss = Oss::new(&handle);
    assert_eq!(oss.put("k", b"v").await.status, 200);
    handle.shutdown().await.unwrap();
    assert!(reqwest::get(format!("{endpoint}/")).await.is_err());
}

#[tokio::test]
async fn disk_store_keeps_bodies_in_counter_named_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let handle = Emulator::builder()
        .data_dir(dir.path())
        .start()
        .await
        .unwrap();
    let oss = Oss::new(&handle);
    assert_eq!(oss.send_raw("PUT", "../../escape", b"payload").await.0, 200);
    let names = |sub: &str| -> Vec<String> {
        std::fs::read_dir(dir.path().join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect()
    };
    let blobs = names("blobs");
    assert_eq!(blobs.len(), 1);
    assert!(blobs[0].ends_with(".blob"), "{blobs:?}");
    let manifests = names("objects");
    assert_eq!(manifests.len(), 1);
    assert_eq!(
        manifests[0].len(),
        64 + ".json".len(),
        "hash-named: {manifests:?}"
    );
    let mut top = names(".");
    top.sort();
    assert_eq!(top, ["blobs", "objects"], "nothing else in the data folder");
    // Overwriting releases the old body's file.
    assert_eq!(oss.send_raw("PUT", "../../escape", b"second").await.0, 200);
    assert_eq!(names("blobs").len(), 1);
    // Deleting removes body and manifest.
    let deleted = oss.send_raw("DELETE", "../../escape", b"").await.0;
    assert_eq!(deleted, 204);
    assert!(names("blobs").is_empty() && names("objects").is_empty());
}

#[tokio::test]
async fn a_restarted_disk_emulator_serves_the_same_objects() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmulatorConfig::default();
    let start = || {
        Emulator::builder()
            .config(config.clone())
            .data_dir(dir.path())
            .start()
    };
    let handle = start().await.unwrap();
    let oss = Oss::new(&handle);
    let simple = data(50_000, 11);
    assert_eq!(oss.put("simple.bak", &simple).await.status, 200);
    let upload_id = oss.initiate("multi.bak").await;
    let body = data(MIN_PART + 500, 12);
    let one = oss
        .upload_part("multi.bak", &upload_id, 1, &body[..MIN_PART])
        .await;
    let two = oss
        .upload_part("multi.bak", &upload_id, 2, &body[MIN_PART..])
        .await;
    let parts = [
        (1, one.header("etag").to_owned()),
        (2, two.header("etag").to_owned()),
    ];
    let done = oss.complete("multi.bak", &upload_id, &parts).await;
    assert_eq!(done.status, 200);
    let unfinished = oss.initiate("unfinished.bak").await;
    oss.upload_part("unfinished.bak", &unfinished, 1, b"orphan")
        .await;
    handle.shutdown().await.unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path().join("blobs")).unwrap().count(),
        4
    );

    let handle = start().await.unwrap();
    let oss = Oss::new(&handle);
    assert_eq!(oss.get("simple.bak", &[]).await.body, simple);
    let multi = oss.get("multi.bak", &[]).await;
    assert_eq!(multi.body, body);
    assert_eq!(multi.crc(), crc64(&body));
    assert_eq!(multi.header("etag"), done.header("etag"));
    assert_eq!(multi.header("x-oss-object-type"), "Multipart");
    // Uploads in progress are not persisted; their part files are cleaned up at start.
    let gone = oss
        .upload_part("unfinished.bak", &unfinished, 2, b"x")
        .await;
    assert_eq!(gone.code(), "NoSuchUpload");
    assert_eq!(
        std::fs::read_dir(dir.path().join("blobs")).unwrap().count(),
        3
    );
    // New bodies do not reuse the files of loaded objects.
    assert_eq!(oss.put("third.bak", b"third").await.status, 200);
    assert_eq!(oss.get("simple.bak", &[]).await.body, simple);
}

/// `bak2rds serve` with no flags: one JSON line with everything a client needs, a working
/// endpoint, and on SIGTERM a clean exit that removes its temporary data folder.
#[tokio::test]
async fn serve_prints_one_json_line_and_cleans_up_on_sigterm() {
    use std::io::BufRead as _;
    let tmp = tempfile::tempdir().unwrap();
    let mut child = crate::util::bin()
        .arg("serve")
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    for field in [
        "oss_endpoint",
        "region",
        "bucket",
        "access_key_id",
        "access_key_secret",
        "rds_endpoint",
        "instance_id",
        "sts_endpoint",
        "ecs_metadata_endpoint",
        "ram_endpoint",
        "role_arn",
        "oidc_provider_arn",
        "ecs_role_name",
    ] {
        assert!(
            info[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field} in {line}"
        );
    }
    assert_eq!(info["region"], "cn-hangzhou");
    let endpoint = info["oss_endpoint"].as_str().unwrap();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    let anonymous = reqwest::get(format!("{endpoint}/{}/k", info["bucket"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 403);
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "one data folder"
    );

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "the temporary data folder is removed on exit"
    );
}

/// Peak resident memory (`VmHWM`) of a process, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Streams `total` bytes to a `bak2rds serve` child as one PutObject and returns its peak RSS.
async fn serve_peak_rss_after_receiving(total: u64) -> u64 {
    use std::io::BufRead as _;
    let mut child = crate::util::bin()
        .arg("serve")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    let text = |name: &str| info[name].as_str().unwrap().to_owned();
    let (endpoint, bucket, region) = (text("oss_endpoint"), text("bucket"), text("region"));
    let credentials = Credentials::new(text("access_key_id"), text("access_key_secret"));

    let now = OffsetDateTime::now_utc();
    let datetime = sign::v4_datetime(now);
    let headers = [
        ("x-oss-date", datetime.as_str()),
        ("x-oss-content-sha256", sign::UNSIGNED_PAYLOAD),
    ];
    let signable = SignableRequest {
        method: "PUT",
        bucket: Some(&bucket),
        key: Some("big.bak"),
        query: &[],
        headers: &headers,
    };
    let context = V4Context {
        region: &region,
        product: "oss",
        time: now,
    };
    let authorization = sign::v4_sign_header(&credentials, &context, &signable, &[]);
    let chunk = bytes::Bytes::from(data(1 << 20, 10));
    let chunks = total / (1 << 20);
    let body =
        futures::stream::iter((0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    let response = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}/big.bak"))
        .header("x-oss-date", datetime)
        .header("x-oss-content-sha256", sign::UNSIGNED_PAYLOAD)
        .header("authorization", authorization)
        .header("content-length", chunks * (1 << 20))
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let peak = peak_rss(child.id());
    crate::util::stop(&mut child);
    peak
}

/// Receiving is streamed to disk: peak RSS stays far below the object size. 256 MiB here; the
/// multi-GiB run is `multi_gib_put_stays_in_bounded_memory`. Measured (debug build,
/// run on the project machine): peak RSS 18 MiB after 256 MiB, 19 MiB after 3 GiB — flat, because
/// a request holds at most one 4 MiB batch (`store::FLUSH_BYTES`) in memory.
#[tokio::test]
async fn receiving_a_large_object_stays_in_bounded_memory() {
    let peak = serve_peak_rss_after_receiving(256 << 20).await;
    println!(
        "bak2rds serve peak RSS after receiving 256 MiB: {} MiB",
        peak >> 20
    );
    assert!(peak < 64 << 20, "peak RSS {} MiB", peak >> 20);
}

/// The multi-GiB proof (takes ~10-30 s): `cargo test --test main multi_gib -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "streams 3 GiB; run explicitly"]
async fn multi_gib_put_stays_in_bounded_memory() {
    let peak = serve_peak_rss_after_receiving(3 << 30).await;
    println!(
        "bak2rds serve peak RSS after receiving 3 GiB: {} MiB",
        peak >> 20
    );
    assert!(peak < 64 << 20, "peak RSS {} MiB", peak >> 20);
}

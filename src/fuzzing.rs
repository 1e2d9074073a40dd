//! One entry point per fuzz target, shared by `fuzz/fuzz_targets/*` (libFuzzer, nightly) and the
//! corpus replay of `tests/fuzz_corpus.rs` (stable, every `cargo test`), so both drive exactly
//! the same code. Each takes arbitrary bytes, feeds them to the library's real parsers and
//! ignores their `Err`s; it panics only when an invariant breaks, which is the finding
//! (DESIGN habit 13). The first byte usually picks the parser, so one corpus covers them all.
//!
//! Not a stable API: hidden from the docs, kept `pub` only because the fuzz crate is another
//! crate. Must not: hold logic of its own beyond splitting the input and checking invariants.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use axum::http::{HeaderName, HeaderValue, Method, Request, Uri};
use base64::Engine as _;
use time::OffsetDateTime;

use crate::bak::{self, Rules, Severity};
use crate::emulator::config::KeyPair;
use crate::emulator::rds::{ObjectSource, RdsConfig, RdsEmulator};
use crate::emulator::{Emulator, EmulatorState, oss as emulated_oss, oss_auth, router};
use crate::oss::{sign as oss_sign, xml as oss_xml_types};
use crate::rds::{model, sign as rds_sign};

/// The key pair every emulator entry accepts: the one of the shared OSS signing vectors, so a
/// seed copied from them gets past the signature check (`research/oss-protocol.md` §3.7).
const ACCESS_KEY_ID: &str = "LTAI5tOssEmulatorTestAK";
const ACCESS_KEY_SECRET: &str = "OssEmulatorTestSecretKey0123456789ab";
/// The vectors' signing time, 2024-01-02T03:04:05Z: a fixed clock keeps every run repeatable.
const VECTOR_TIME_UNIX: i64 = 1_704_164_645;

/// `bak::examine` over any bytes: a report, never a panic. A refusal always comes with an
/// error finding and acceptance never has one.
pub fn bak_examine(data: &[u8]) {
    let rules = Rules {
        verify_pages: data.first().is_some_and(|b| b & 1 == 1),
        ..Rules::default()
    };
    let report = bak::examine(data, &rules);
    let has_error = report
        .findings
        .iter()
        .any(|f| f.severity == Severity::Error);
    assert_eq!(report.verdict.is_refusal(), has_error, "{report:?}");
}

/// The `MSSQLBAK` container path: the bytes go behind the magic, so every input reaches the
/// record walk and the XPRESS-Huffman decoder.
pub fn bak_compressed(data: &[u8]) {
    let mut input = b"MSSQLBAK".to_vec();
    input.extend_from_slice(data);
    let _ = bak::examine(&input, &Rules::default());
}

/// Every OSS XML answer the client reads (`oss::xml`), chosen by the first byte, followed by
/// what the client does with it (key decoding, CRC parsing). Invariant: nothing with a DOCTYPE
/// is ever accepted.
pub fn oss_xml(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    // The client checks every 2xx answer for an `<Error>` root before reading it.
    let _ = oss_xml_types::is_error_document(rest);
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let accepted = match selector % 7 {
        0 => oss_xml_types::parse::<oss_xml_types::InitiateMultipartUploadResult>(text).is_ok(),
        1 => complete_result(text),
        2 => list_parts(text),
        3 => list_uploads(text),
        4 => oss_xml_types::parse::<oss_xml_types::BucketInfoResult>(text).is_ok(),
        5 => oss_xml_types::parse::<oss_xml_types::ErrorResult>(text).is_ok(),
        // HEAD errors: the error XML base64-encoded in `x-oss-err`.
        _ => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .unwrap_or_default();
            let inner = String::from_utf8_lossy(&decoded);
            let accepted = oss_xml_types::parse::<oss_xml_types::ErrorResult>(&inner).is_ok();
            assert!(!(accepted && oss_xml_types::has_doctype(&inner)));
            false
        }
    };
    assert!(
        !(accepted && oss_xml_types::has_doctype(text)),
        "a DOCTYPE body was accepted"
    );
}

fn complete_result(text: &str) -> bool {
    let Ok(result) = oss_xml_types::parse::<oss_xml_types::CompleteMultipartUploadResult>(text)
    else {
        return false;
    };
    let _ = oss_xml_types::decode_key(&result.key, result.encoding_type.as_deref());
    true
}

fn list_parts(text: &str) -> bool {
    let Ok(page) = oss_xml_types::parse::<oss_xml_types::ListPartsResult>(text) else {
        return false;
    };
    for part in &page.parts {
        let _ = part
            .hash_crc64ecma
            .as_deref()
            .map(|c| c.trim().parse::<u64>());
    }
    let _ = page
        .next_part_number_marker
        .as_deref()
        .map(|m| m.trim().parse::<u32>());
    true
}

fn list_uploads(text: &str) -> bool {
    let Ok(page) = oss_xml_types::parse::<oss_xml_types::ListMultipartUploadsResult>(text) else {
        return false;
    };
    for upload in &page.uploads {
        let _ = oss_xml_types::decode_key(&upload.key, page.encoding_type.as_deref());
    }
    true
}

/// Every RDS JSON answer the client decodes (`rds::model`, the error body), the typed readings
/// it then makes, and the aliyun CLI profile file, chosen by the first byte.
pub fn rds_json(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
        serde_json::from_slice(bytes).ok()
    }
    match selector % 12 {
        0 => drop(decode::<model::CreateMigrateTaskResponse>(rest)),
        1 => drop(decode::<model::RequestIdOnly>(rest)),
        2 => {
            for task in decode::<model::DescribeMigrateTasksResponse>(rest)
                .map(|r| r.items.migrate_task)
                .unwrap_or_default()
            {
                let _ = (task.status.is_terminal(), task.status.as_str());
                let _ = crate::rds::diagnose::diagnose(&task.description);
            }
        }
        3 => {
            if let Some(task) = decode::<model::DescribeMigrateTaskByIdResponse>(rest) {
                let _ = (task.status.is_terminal(), task.status.as_str());
                let _ = crate::rds::diagnose::diagnose(&task.description);
            }
        }
        4 => {
            for file in decode::<model::DescribeOssDownloadsResponse>(rest)
                .map(|r| r.items.oss_download)
                .unwrap_or_default()
            {
                let _ = file.file_size_mb();
            }
        }
        5 => {
            for attribute in decode::<model::DescribeDbInstanceAttributeResponse>(rest)
                .map(|r| r.items.db_instance_attribute)
                .unwrap_or_default()
            {
                let _ = attribute.disk_used_bytes();
            }
        }
        6 => drop(decode::<model::DescribeDatabasesResponse>(rest)),
        7 => {
            for account in decode::<model::DescribeAccountsResponse>(rest)
                .map(|r| r.accounts.db_instance_account)
                .unwrap_or_default()
            {
                let _ = account.is_privileged_and_available();
            }
        }
        8 => {
            if let Some(usage) = decode::<model::DescribeResourceUsageResponse>(rest) {
                let _ = usage.disk_used_bytes();
            }
        }
        // The client falls back to an empty error body when this one is unreadable.
        9 => drop(serde_json::from_slice::<model::ErrorBody>(rest).unwrap_or_default()),
        10 => aliyun_profile(rest),
        _ => {
            let text = String::from_utf8_lossy(rest);
            let _ = model::RestoreSource::parse_object_position(&text);
            let _ = rds_sign::parse_timestamp(&text);
        }
    }
}

/// `~/.aliyun/config.json`. Invariant: a profile that loads never shows its secret in `Debug`.
fn aliyun_profile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("config.json");
    let Ok(credentials) = crate::oss::Credentials::from_aliyun_config_text(text, path, None) else {
        return;
    };
    let shown = format!("{credentials:?}");
    let secret = credentials.access_key_secret();
    // Only a secret that cannot appear by coincidence (inside the id or the field names).
    if secret.len() >= 12 && !credentials.access_key_id().contains(secret) {
        assert!(!shown.contains(secret), "secret in Debug: {shown}");
    }
}

/// The emulator's request decoding, chosen by the first byte: the CompleteMultipartUpload body
/// with Complete's list rules, OSS addressing + query + operation + signature checks (V1, V4,
/// presigned), the RDS RPC query/form + V1/V3 signature checks, and the signature-header
/// parsers themselves. Requests are written as `METHOD URI\nname: value\n...\n\nbody`.
pub fn emulator_request(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 4 {
        0 => complete_body(rest),
        1 => oss_request(rest),
        2 => rds_request(rest),
        _ => signature_headers(rest),
    }
}

/// Invariant: an accepted part list is non-empty, strictly ascending and within 1..=10000, and
/// names only uploaded parts.
fn complete_body(body: &[u8]) {
    let uploaded: BTreeMap<u32, String> = [(1, "a"), (2, "b"), (3, "c"), (10_000, "d")]
        .into_iter()
        .map(|(n, etag)| (n, etag.to_owned()))
        .collect();
    let Ok(chosen) = emulated_oss::choose_listed_parts("U", &uploaded, String::as_str, body) else {
        return;
    };
    assert!(!chosen.is_empty());
    assert!(chosen.windows(2).all(|w| w[0].0 < w[1].0), "{chosen:?}");
    assert!(
        chosen
            .iter()
            .all(|(n, _)| emulated_oss::PART_NUMBERS.contains(n) && uploaded.contains_key(n))
    );
}

/// A request in the small text form above; `None` when `http` itself refuses it (hyper would
/// never hand such a request to the emulator).
fn request_from(data: &[u8]) -> Option<Request<Vec<u8>>> {
    let split = data.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(at) => (data.get(..at)?, data.get(at + 2..)?),
        None => (data, &[][..]),
    };
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split('\n');
    let (method, uri) = lines.next()?.split_once(' ')?;
    let mut builder = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).ok()?)
        .uri(uri.parse::<Uri>().ok()?);
    for line in lines {
        let (name, value) = line.split_once(':')?;
        builder = builder.header(
            HeaderName::from_bytes(name.trim().as_bytes()).ok()?,
            HeaderValue::from_str(value.trim()).ok()?,
        );
    }
    builder.body(body.to_vec()).ok()
}

fn vector_time() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(VECTOR_TIME_UNIX).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn emulator_state() -> Option<&'static Arc<EmulatorState>> {
    static STATE: OnceLock<Option<Arc<EmulatorState>>> = OnceLock::new();
    STATE
        .get_or_init(|| Emulator::builder().memory().build_state().ok())
        .as_ref()
}

/// Addressing, query, operation and authentication, in the router's order.
fn oss_request(data: &[u8]) {
    let (Some(request), Some(state)) = (request_from(data), emulator_state()) else {
        return;
    };
    let (parts, _) = request.into_parts();
    let Ok((bucket, key)) = router::target(state, &parts) else {
        return;
    };
    let Ok(query) = router::parse_query(parts.uri.query().unwrap_or_default()) else {
        return;
    };
    let _ = router::classify(&parts.method, bucket.as_deref(), key.as_deref(), &query);
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let pairs: Vec<(&str, &str)> = query
        .pairs
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let signable = oss_sign::SignableRequest {
        method: parts.method.as_str(),
        bucket: bucket.as_deref(),
        key: key.as_deref(),
        query: &pairs,
        headers: &headers,
    };
    let keys = [KeyPair {
        id: ACCESS_KEY_ID.to_owned(),
        secret: ACCESS_KEY_SECRET.to_owned(),
        security_token: None,
        expires_unix: None,
    }];
    let region = bucket.as_deref().and_then(|b| state.bucket_region(b));
    let _ = oss_auth::authenticate(&keys, region.as_deref(), &signable, vector_time());
}

struct NoObjects;

impl ObjectSource for NoObjects {
    fn read_object(&self, _: &str, _: &str) -> std::io::Result<Option<bytes::Bytes>> {
        Ok(None)
    }
}

/// The RDS side: query and form parsing, then V1 or V3 verification.
fn rds_request(data: &[u8]) {
    static RDS: OnceLock<RdsEmulator> = OnceLock::new();
    let Some(request) = request_from(data) else {
        return;
    };
    let rds = RDS.get_or_init(|| {
        RdsEmulator::new(
            RdsConfig::default(),
            vec![rds_sign::Credentials::new(ACCESS_KEY_ID, ACCESS_KEY_SECRET)],
            Arc::new(NoObjects),
        )
    });
    let (parts, body) = request.into_parts();
    let _ = rds.serve(&parts.method, &parts.uri, &parts.headers, &body);
}

/// The `Authorization` and date parsers both sides share.
fn signature_headers(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = oss_sign::parse_v1_authorization(&text);
    let _ = oss_sign::parse_v4_authorization(&text);
    let _ = oss_sign::parse_http_date(&text);
    let _ = oss_sign::parse_v4_datetime(&text);
    let _ = rds_sign::parse_v3_authorization(&text);
}

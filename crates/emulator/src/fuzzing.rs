//! One entry point per fuzz target, shared by `fuzz/fuzz_targets/*` (libFuzzer, nightly) and the
//! corpus replay of `tests/fuzz_corpus.rs` (stable, every `cargo test`), so both drive exactly
//! the same code. Each takes arbitrary bytes, feeds them to the library's real parsers and
//! ignores their `Err`s; it panics only when an invariant breaks, which is the finding
//! (DESIGN habit 13). The first byte usually picks the parser, so one corpus covers them all.
//!
//! Not a stable API: hidden from the docs, kept `pub` only because the fuzz crate is another
//! crate. Must not: hold logic of its own beyond splitting the input and checking invariants.
//!
//! This crate's target: the emulator's request decoding (`emulator_request`).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use axum::http::{HeaderName, HeaderValue, Method, Request, Uri};
use bak2rds_cloud::oss::sign as oss_sign;
use bak2rds_cloud::rds::sign as rds_sign;
use time::OffsetDateTime;

use crate::config::KeyPair;
use crate::keyring::KeyRing;
use crate::rds::{ObjectSource, RdsConfig, RdsEmulator};
use crate::{Emulator, EmulatorState, classify, oss as emulated_oss, oss_auth, router};

/// The key pair every emulator entry accepts: the one of the shared OSS signing vectors, so a
/// seed copied from them gets past the signature check (`research/oss-protocol.md` §3.7).
const ACCESS_KEY_ID: &str = "LTAI5tOssEmulatorTestAK";
const ACCESS_KEY_SECRET: &str = "OssEmulatorTestSecretKey0123456789ab";
/// The vectors' signing time, 2024-01-02T03:04:05Z: a fixed clock keeps every run repeatable.
const VECTOR_TIME_UNIX: i64 = 1_704_164_645;

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
    let Ok(query) = crate::query::Query::parse(parts.uri.query().unwrap_or_default()) else {
        return;
    };
    let _ = classify::classify(
        &parts.method,
        bucket.as_deref(),
        key.as_deref(),
        &query,
        &parts.headers,
    );
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
    let keys = KeyRing::new(vec![KeyPair::new(ACCESS_KEY_ID, ACCESS_KEY_SECRET)], 0);
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
            Arc::new(KeyRing::new(
                vec![KeyPair::new(ACCESS_KEY_ID, ACCESS_KEY_SECRET)],
                0,
            )),
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

//! From an HTTP request to an OSS operation and back: addressing (path-style and virtual-host),
//! query decoding, fault injection, authentication, the small-body `Content-MD5` check, and the
//! headers and error format every response carries (`oss-protocol.md` §1.1, §1.6, §6.4).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, Request, Response, StatusCode};
use base64::Engine as _;
use percent_encoding::percent_decode_str;

use bak2rds_cloud::oss::sign::SignableRequest;

use super::EmulatorState;
use super::classify::classify;
use super::error::OssError;
use super::observe::{RequestRecord, signature_of};
use super::operation::Operation;
use super::oss::{self, Failure, OssRequest, RequestBody};
use super::oss_auth;
use super::query::Query;
use super::xml;

/// Largest body read into memory (every operation but PutObject/UploadPart): a Complete list of
/// 10,000 parts is about 0.8 MB of XML.
const MAX_SMALL_BODY: usize = 4 << 20;
/// Longest object key OSS accepts, in bytes (§1.3).
const MAX_KEY_LEN: usize = 1023;

/// Marks a response that must not be sent: the server closes the connection instead
/// (fault injection; see `serve_router`).
#[derive(Debug, Clone, Copy)]
pub struct DropConnection;

/// The OSS router: every path and method goes to one handler, because OSS dispatches on the
/// query string, not on the path.
pub fn oss_router(state: Arc<EmulatorState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

async fn handle(State(state): State<Arc<EmulatorState>>, request: Request<Body>) -> Response<Body> {
    let request_id = state.new_request_id();
    let (parts, body) = request.into_parts();
    let host = host_of(&parts).unwrap_or_default().to_owned();
    let is_head = parts.method == Method::HEAD;
    let details = state
        .requests
        .keeps_records()
        .then(|| request_details(&parts));
    let mut operation = None;
    let mut response = match serve_request(&state, parts, body, &mut operation).await {
        Ok(response) => response,
        Err(Failure::Oss(err)) => {
            tracing::debug!(code = %err.code, status = %err.status, "OSS error");
            error_response(&err, &request_id, &host, is_head)
        }
        Err(Failure::DropConnection) => {
            let mut response = Response::new(Body::empty());
            response.extensions_mut().insert(DropConnection);
            response
        }
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("x-oss-request-id", value);
    }
    headers.insert(header::SERVER, HeaderValue::from_static("AliyunOSS"));
    headers.insert("x-oss-server-time", HeaderValue::from_static("0"));
    if state.faults.clock_is_skewed() {
        // hyper would stamp the host's time; a skewed server must show its own clock.
        if let Ok(value) =
            HeaderValue::from_str(&bak2rds_cloud::oss::sign::http_date(state.faults.now()))
        {
            headers.insert(header::DATE, value);
        }
    }
    let dropped = response.extensions().get::<DropConnection>().is_some();
    let (upload_id, part_number, signature) = details.unwrap_or_default();
    state.requests.record(RequestRecord {
        operation: operation.map(|op: Operation| op.name().to_owned()),
        status: if dropped {
            0
        } else {
            response.status().as_u16()
        },
        upload_id,
        part_number,
        signature,
    });
    response
}

/// Upload ID, part number and signature of a request, for the request log.
fn request_details(parts: &Parts) -> (Option<String>, Option<u32>, Option<String>) {
    let query = Query::parse(parts.uri.query().unwrap_or_default()).unwrap_or_default();
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    (
        query.get("uploadId").map(str::to_owned),
        query.get("partNumber").and_then(|n| n.parse().ok()),
        signature_of(authorization, &query.pairs),
    )
}

async fn serve_request(
    state: &Arc<EmulatorState>,
    parts: Parts,
    body: Body,
    classified: &mut Option<Operation>,
) -> Result<Response<Body>, Failure> {
    let (bucket, key) = target(state, &parts)?;
    let query = Query::parse(parts.uri.query().unwrap_or_default())?;
    let operation = classify(
        &parts.method,
        bucket.as_deref(),
        key.as_deref(),
        &query,
        &parts.headers,
    )?;
    *classified = Some(operation);
    let faults = state.faults.plan(operation)?;
    if !state.faults.latency().is_zero() {
        tokio::time::sleep(state.faults.latency()).await;
    }
    let bucket = bucket.unwrap_or_default();
    authenticate(state, &parts, operation, &bucket, key.as_deref(), &query)?;
    let body = if operation.streams_body() {
        RequestBody::Stream(body)
    } else {
        RequestBody::Collected(collect_small_body(&parts, body).await?)
    };
    let request = OssRequest {
        operation,
        bucket,
        key: key.unwrap_or_default(),
        query,
        headers: parts.headers,
        faults,
    };
    oss::handle(state, request, body).await
}

fn host_of(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.host())
}

/// The bucket and key a request addresses. Virtual-host style when the `Host` is
/// `<known bucket>.<domain>` (and not an IP address); otherwise path style `/<bucket>/<key>`,
/// which both official SDKs use for IP endpoints (§1.1, §6.4 point 1).
pub(crate) fn target(
    state: &EmulatorState,
    parts: &Parts,
) -> Result<(Option<String>, Option<String>), OssError> {
    let path = decode(parts.uri.path())?;
    let path = path.strip_prefix('/').unwrap_or(&path);
    let host_name = host_of(parts)
        .map(|host| host.rsplit_once(':').map_or(host, |(name, _)| name))
        .unwrap_or_default();
    let is_ip = host_name.parse::<std::net::IpAddr>().is_ok() || host_name.starts_with('[');
    let host_split = (!is_ip).then(|| host_name.split_once('.')).flatten();
    let virtual_bucket = match host_split {
        Some((label, _)) if state.has_bucket(label) => Some(label),
        // `<bucket>.<OSS endpoint>` or `<bucket>.localhost` naming a bucket the emulator does
        // not have: OSS answers NoSuchBucket (before the signature, which was computed for
        // that bucket). Any other named host is the emulator's own, addressed path style.
        Some((label, domain)) if is_oss_domain(domain) && names_a_bucket(label) => {
            return Err(OssError::no_such_bucket(label));
        }
        _ => None,
    };
    let (bucket, key) = match virtual_bucket {
        Some(bucket) => (Some(bucket.to_owned()), path),
        None => match path.split_once('/') {
            Some((bucket, key)) => (Some(bucket.to_owned()), key),
            None if path.is_empty() => (None, ""),
            None => (Some(path.to_owned()), ""),
        },
    };
    if key.is_empty() {
        return Ok((bucket, None));
    }
    if key.len() > MAX_KEY_LEN || key.starts_with('/') || key.starts_with('\\') {
        // Key rules of §1.3: 1-1023 bytes, not starting with `/` or `\`.
        return Err(OssError::new(
            StatusCode::BAD_REQUEST,
            "InvalidObjectName",
            "The specified object is not valid.",
        ));
    }
    Ok((bucket, Some(key.to_owned())))
}

/// The domains virtual-hosted requests go to: an OSS endpoint (`oss-<region>...`, as the SDKs
/// build `<bucket>.oss-cn-hangzhou.aliyuncs.com`) or `localhost` (`<bucket>.localhost`, which
/// resolves to the loopback address).
fn is_oss_domain(domain: &str) -> bool {
    domain.starts_with("oss-") || domain.eq_ignore_ascii_case("localhost")
}

/// True for a host label that is a valid bucket name (3-63 lower-case letters, digits and
/// hyphens, not at either end) and not an OSS endpoint label such as `oss-cn-hangzhou`, which
/// addresses the service itself, path style.
fn names_a_bucket(label: &str) -> bool {
    (3..=63).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
        && !label.starts_with("oss-")
}

fn decode(text: &str) -> Result<String, OssError> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| {
            OssError::new(
                StatusCode::BAD_REQUEST,
                "InvalidObjectName",
                "The object name is not valid UTF-8.",
            )
        })
}

fn authenticate(
    state: &EmulatorState,
    parts: &Parts,
    operation: Operation,
    bucket: &str,
    key: Option<&str>,
    query: &Query,
) -> Result<(), OssError> {
    if is_anonymous_read(state, parts, operation, bucket, query) {
        return Ok(());
    }
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let query_pairs: Vec<(&str, &str)> = query
        .pairs
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let signable = SignableRequest {
        method: parts.method.as_str(),
        bucket: Some(bucket),
        key,
        query: &query_pairs,
        headers: &headers,
    };
    let region = state.bucket_region(bucket);
    oss_auth::authenticate(
        &state.key_ring,
        region.as_deref(),
        &signable,
        state.faults.now(),
    )
    .map(|_| ())
}

/// An unsigned read of a bucket declared `allow_anonymous = true`: OSS's `public-read` ACL,
/// which lets anyone get, head and list objects but never write, list uploads or read the
/// bucket's settings. Every other unsigned request is refused as OSS refuses it.
fn is_anonymous_read(
    state: &EmulatorState,
    parts: &Parts,
    operation: Operation,
    bucket: &str,
    query: &Query,
) -> bool {
    let unsigned = !parts.headers.contains_key(header::AUTHORIZATION)
        && query.get("Signature").is_none()
        && query
            .get(bak2rds_cloud::oss::sign::QUERY_V4_SIGNATURE)
            .is_none();
    let read = matches!(
        operation,
        Operation::GetObject
            | Operation::HeadObject
            | Operation::ListObjects
            | Operation::ListObjectsV2
    );
    unsigned && read && state.allows_anonymous(bucket)
}

/// Reads a small body and checks `Content-MD5` when sent — including on empty GET/DELETE
/// bodies, where the v2 SDK sends the MD5 of nothing (§6.4 point 3).
async fn collect_small_body(parts: &Parts, body: Body) -> Result<bytes::Bytes, OssError> {
    let bytes = axum::body::to_bytes(body, MAX_SMALL_BODY)
        .await
        .map_err(|_| {
            OssError::new(
                StatusCode::BAD_REQUEST,
                "EntityTooLarge",
                "The request body is too large for this operation.",
            )
        })?;
    if let Some(sent) = parts
        .headers
        .get("content-md5")
        .and_then(|v| v.to_str().ok())
    {
        oss::check_content_md5(sent, Some(bak2rds_cloud::checksum::md5(&bytes)))?;
    }
    Ok(bytes)
}

/// The OSS error response (§1.6). HEAD responses carry no body, so the XML goes base64-encoded
/// into `x-oss-err`, where both official SDKs look for it.
fn error_response(err: &OssError, request_id: &str, host: &str, is_head: bool) -> Response<Body> {
    let xml = xml::error_body(err, request_id, host);
    let mut response = Response::new(Body::empty());
    *response.status_mut() = err.status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    if let Some(ec) = err.ec {
        headers.insert("x-oss-ec", HeaderValue::from_static(ec));
    }
    if is_head {
        let encoded = base64::engine::general_purpose::STANDARD.encode(xml.as_bytes());
        if let Ok(value) = HeaderValue::from_str(&encoded) {
            headers.insert("x-oss-err", value);
        }
    } else {
        *response.body_mut() = Body::from(xml);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded_and_plus_is_kept() {
        let query = Query::parse("security-token=CAIS%2B%2F%3D%3D&uploads&Signature=a+b").unwrap();
        assert_eq!(query.get("security-token"), Some("CAIS+/=="));
        assert!(query.has("uploads"));
        assert_eq!(query.get("Signature"), Some("a+b"));
    }
}

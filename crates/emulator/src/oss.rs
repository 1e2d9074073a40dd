//! The OSS operations: one function per wire operation, each turning a parsed request into the
//! response OSS would give (`oss-protocol.md` §1.2, with the SDK needs of §6.4).
//!
//! Routing, authentication and the common response headers are `router.rs`'s job; storage is
//! `store.rs`'s. Functions here only apply OSS's rules.

use std::sync::Arc;

use axum::body::Body;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Response, StatusCode};
use base64::Engine as _;
use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use md5::Digest as _;
use time::OffsetDateTime;

use bak2rds_cloud::checksum::crc64_of_pieces;

use super::EmulatorState;
use super::error::OssError;
use super::faults::FaultPlan;
use super::operation::Operation;
use super::query::Query;
use super::store::{Object, ObjectKind, ObjectMeta, Part, Received, Upload, len_u64};
use super::xml;

mod batch_delete;
mod copy;
mod listing;

/// Part numbers OSS accepts (§1.3).
pub const PART_NUMBERS: std::ops::RangeInclusive<u32> = 1..=10_000;
/// Smallest part other than the last, checked at Complete (§1.3: 100 KB = 102400 bytes).
pub const MIN_PART_SIZE: u64 = 100 * 1024;
/// Largest part and largest PutObject body (§1.3: 5 GB).
pub const MAX_BODY_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Header reporting server-side encryption on writes and reads (§1.2 UploadPart, HeadObject).
const SSE_HEADER: &str = "x-oss-server-side-encryption";
/// The algorithm an encrypting bucket of the emulator reports.
const SSE_ALGORITHM: &str = "AES256";
/// Default and maximum page size of ListParts and ListMultipartUploads (§1.3).
const MAX_PAGE: u32 = 1000;

/// Why a request did not get a normal response.
#[derive(Debug)]
pub enum Failure {
    /// Answer with this OSS error.
    Oss(OssError),
    /// Close the connection without a response (fault injection).
    DropConnection,
}

impl From<OssError> for Failure {
    fn from(err: OssError) -> Self {
        Failure::Oss(err)
    }
}

/// One parsed request, as the operation functions see it.
#[derive(Debug)]
pub struct OssRequest {
    /// The operation.
    pub operation: Operation,
    /// Bucket name.
    pub bucket: String,
    /// Object key (empty for bucket operations).
    pub key: String,
    /// Query parameters.
    pub query: Query,
    /// Request headers.
    pub headers: HeaderMap,
    /// Faults decided for this request.
    pub faults: FaultPlan,
}

impl OssRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The body of a request: streamed for object bytes, collected for everything else.
#[derive(Debug)]
pub enum RequestBody {
    /// Object bytes still arriving.
    Stream(Body),
    /// A small body, already read and checked against `Content-MD5`.
    Collected(Bytes),
}

/// Runs one operation.
pub async fn handle(
    state: &Arc<EmulatorState>,
    request: OssRequest,
    body: RequestBody,
) -> Result<Response<Body>, Failure> {
    match (request.operation, body) {
        (Operation::PutObject, RequestBody::Stream(body)) => {
            put_object(state, &request, body).await
        }
        (Operation::UploadPart, RequestBody::Stream(body)) => {
            upload_part(state, &request, body).await
        }
        (Operation::GetBucketInfo, _) => get_bucket_info(state, &request),
        (Operation::ListMultipartUploads, _) => list_uploads(state, &request),
        (Operation::ListObjects, _) => listing::list_objects(state, &request),
        (Operation::ListObjectsV2, _) => listing::list_objects_v2(state, &request),
        (Operation::CopyObject, _) => copy::copy_object(state, &request).await,
        (Operation::UploadPartCopy, _) => copy::upload_part_copy(state, &request).await,
        (Operation::DeleteMultipleObjects, RequestBody::Collected(body)) => {
            batch_delete::delete_multiple_objects(state, &request, &body)
        }
        (Operation::GetObject, _) => get_object(state, &request, true),
        (Operation::HeadObject, _) => get_object(state, &request, false),
        (Operation::DeleteObject, _) => delete_object(state, &request),
        (Operation::InitiateMultipartUpload, _) => initiate(state, &request),
        (Operation::CompleteMultipartUpload, RequestBody::Collected(body)) => {
            complete(state, &request, &body)
        }
        (Operation::AbortMultipartUpload, _) => abort(state, &request),
        (Operation::ListParts, _) => list_parts(state, &request),
        (operation, _) => Err(OssError::internal(format!(
            "{} reached the wrong body handling",
            operation.name()
        ))
        .into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Object bytes in

/// Streams a request body into a new blob, checking size limits, `Content-MD5` and faults.
async fn receive(
    state: &Arc<EmulatorState>,
    request: &OssRequest,
    body: Body,
) -> Result<Received, Failure> {
    let declared = request
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_SIZE) {
        return Err(OssError::new(
            StatusCode::BAD_REQUEST,
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size.",
        )
        .with("MaxSizeAllowed", MAX_BODY_SIZE.to_string())
        .into());
    }
    let content_md5 = request
        .header("content-md5")
        .filter(|_| !state.trust_content_md5)
        .map(str::to_owned);
    let want_md5 = !state.fast_etag || content_md5.is_some();
    let mut writer = state
        .storage
        .blob_writer(want_md5, request.faults.flip_byte)
        .map_err(|err| OssError::storage("creating a part file", &err))?;
    // Drop mid-body: after half the declared length (or the first chunk when none was declared).
    let drop_after = request
        .faults
        .drop_connection
        .then(|| declared.unwrap_or(1).div_ceil(2));
    let mut received = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            OssError::new(
                StatusCode::BAD_REQUEST,
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length HTTP \
                 header.",
            )
        })?;
        received += len_u64(chunk.len());
        if received > MAX_BODY_SIZE {
            return Err(OssError::new(
                StatusCode::BAD_REQUEST,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size.",
            )
            .into());
        }
        state.faults.throttle(chunk.len()).await;
        writer
            .push(chunk)
            .await
            .map_err(|err| OssError::storage("writing a part file", &err))?;
        if drop_after.is_some_and(|at| received >= at) {
            return Err(Failure::DropConnection);
        }
    }
    let received = writer
        .finish()
        .await
        .map_err(|err| OssError::storage("writing a part file", &err))?;
    if let Some(sent) = content_md5 {
        check_content_md5(&sent, received.md5)?;
    }
    Ok(received)
}

/// Compares a `Content-MD5` header with the MD5 of what arrived (§1.5).
pub fn check_content_md5(sent: &str, actual: Option<[u8; 16]>) -> Result<(), OssError> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(sent.trim())
        .map_err(|_| OssError::invalid_digest(sent))?;
    match actual {
        Some(actual) if decoded.as_slice() == actual.as_slice() => Ok(()),
        _ => Err(OssError::invalid_digest(sent)),
    }
}

/// The part or object ETag (unquoted, upper-case hex, §1.4): the MD5, or with `--fast-etag` the
/// CRC-64 and length, still 32 hex digits so clients that expect an MD5-shaped ETag are happy.
fn body_etag(state: &EmulatorState, received: &Received) -> String {
    match (state.fast_etag, received.md5) {
        (false, Some(md5)) => hex::encode_upper(md5),
        _ => format!("{:016X}{:016X}", received.blob.crc(), received.blob.len()),
    }
}

/// The response to PutObject and UploadPart (§1.2): ETag, CRC-64, Content-MD5, and the SSE
/// header when the bucket encrypts.
fn write_response(etag: &str, received: &Received, sse: bool) -> Result<Response<Body>, Failure> {
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(header::ETAG, quoted(etag))
        .header("x-oss-hash-crc64ecma", received.blob.crc().to_string());
    if sse {
        response = response.header(SSE_HEADER, SSE_ALGORITHM);
    }
    if let Some(md5) = received.md5 {
        response = response.header(
            "content-md5",
            base64::engine::general_purpose::STANDARD.encode(md5),
        );
    }
    build(response, Body::empty())
}

async fn put_object(
    state: &Arc<EmulatorState>,
    request: &OssRequest,
    body: Body,
) -> Result<Response<Body>, Failure> {
    state.storage.catalog().bucket(&request.bucket)?;
    check_forbid_overwrite(state, request)?;
    let received = receive(state, request, body).await?;
    let etag = body_etag(state, &received);
    let object = Object {
        len: received.blob.len(),
        crc: received.blob.crc(),
        etag: etag.clone(),
        kind: ObjectKind::Normal,
        meta: object_meta(&request.headers),
        last_modified: OffsetDateTime::now_utc(),
        pieces: vec![Arc::clone(&received.blob)],
    };
    let sse = {
        let mut catalog = state.storage.catalog();
        let bucket = catalog.bucket(&request.bucket)?;
        if forbids_overwrite(request) && bucket.objects.contains_key(&request.key) {
            return Err(file_already_exists().into());
        }
        state
            .storage
            .insert_object(bucket, &request.key, object)
            .map_err(|err| OssError::storage("writing the object manifest", &err))?;
        bucket.config.server_side_encryption
    };
    write_response(&etag, &received, sse)
}

async fn upload_part(
    state: &Arc<EmulatorState>,
    request: &OssRequest,
    body: Body,
) -> Result<Response<Body>, Failure> {
    let number = part_number(request)?;
    let upload_id = request.query.get("uploadId").unwrap_or_default().to_owned();
    // An unknown upload is refused before the body is read, as OSS does.
    lookup_upload(state, request, &upload_id)?;
    let received = receive(state, request, body).await?;
    let etag = body_etag(state, &received);
    let part = Part {
        blob: Arc::clone(&received.blob),
        etag: etag.clone(),
        last_modified: OffsetDateTime::now_utc(),
    };
    let sse = record_part(state, request, &upload_id, number, part)?;
    write_response(&etag, &received, sse)
}

/// Stores `part` as part `number` of the upload, replacing an earlier part of that number
/// (§1.2 UploadPart), and says whether the bucket encrypts. The upload may have been aborted or
/// completed while the body arrived: then `NoSuchUpload`.
fn record_part(
    state: &EmulatorState,
    request: &OssRequest,
    upload_id: &str,
    number: u32,
    part: Part,
) -> Result<bool, OssError> {
    let mut catalog = state.storage.catalog();
    let bucket = catalog.bucket(&request.bucket)?;
    let sse = bucket.config.server_side_encryption;
    let upload = bucket
        .uploads
        .get_mut(upload_id)
        .filter(|u| u.key == request.key)
        .ok_or_else(|| OssError::no_such_upload(upload_id))?;
    upload.parts.insert(number, part);
    Ok(sse)
}

/// A 200 with an XML body, the object's or part's ETag and its CRC-64 (CopyObject,
/// UploadPartCopy).
fn xml_with_etag(xml: String, etag: &str, crc: u64) -> Result<Response<Body>, Failure> {
    build(
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/xml")
            .header(header::ETAG, quoted(etag))
            .header("x-oss-hash-crc64ecma", crc.to_string()),
        Body::from(xml),
    )
}

fn part_number(request: &OssRequest) -> Result<u32, OssError> {
    let raw = request.query.get("partNumber").unwrap_or_default();
    raw.parse::<u32>()
        .ok()
        .filter(|n| PART_NUMBERS.contains(n))
        .ok_or_else(|| {
            // Wording and argument fields from EC 0017-00000220 (§1.2 UploadPart).
            OssError::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive.",
                "partNumber",
                raw,
            )
            .with_ec("0017-00000220")
        })
}

fn object_meta(headers: &HeaderMap) -> ObjectMeta {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let user = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("x-oss-meta-"))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    ObjectMeta { content_type, user }
}

fn forbids_overwrite(request: &OssRequest) -> bool {
    request
        .header("x-oss-forbid-overwrite")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn file_already_exists() -> OssError {
    OssError::new(
        StatusCode::CONFLICT,
        "FileAlreadyExists",
        "The object you specified already exists and can not be overwritten.",
    )
}

fn check_forbid_overwrite(state: &EmulatorState, request: &OssRequest) -> Result<(), OssError> {
    let mut catalog = state.storage.catalog();
    let bucket = catalog.bucket(&request.bucket)?;
    if forbids_overwrite(request) && bucket.objects.contains_key(&request.key) {
        return Err(file_already_exists());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Object bytes out

fn get_object(
    state: &Arc<EmulatorState>,
    request: &OssRequest,
    with_body: bool,
) -> Result<Response<Body>, Failure> {
    let (object, storage_class, sse) = {
        let mut catalog = state.storage.catalog();
        let bucket = catalog.bucket(&request.bucket)?;
        let object = bucket
            .objects
            .get(&request.key)
            .cloned()
            .ok_or_else(|| OssError::no_such_key(&request.key))?;
        (
            object,
            bucket.config.storage_class.clone(),
            bucket.config.server_side_encryption,
        )
    };
    if with_body && object.is_discarded() {
        return Err(OssError::new(
            StatusCode::FORBIDDEN,
            "InvalidObjectState",
            "The emulator runs with --discard-bodies: objects keep their metadata but not their \
             bytes.",
        )
        .into());
    }
    let range = match request.header("range") {
        Some(value) if with_body => parse_range(value, object.len)?,
        _ => None,
    };
    let mut response = Response::builder()
        .header(header::ETAG, quoted(&object.etag))
        .header(header::LAST_MODIFIED, http_date(object.last_modified))
        .header(header::ACCEPT_RANGES, "bytes")
        .header("x-oss-object-type", object.kind.as_str())
        .header("x-oss-storage-class", storage_class)
        .header("x-oss-hash-crc64ecma", object.crc.to_string())
        .header(
            header::CONTENT_TYPE,
            object
                .meta
                .content_type
                .as_deref()
                .unwrap_or("application/octet-stream"),
        );
    if sse {
        response = response.header(SSE_HEADER, SSE_ALGORITHM);
    }
    for (name, value) in &object.meta.user {
        response = response.header(name.as_str(), value.as_str());
    }
    let span = match &range {
        Some(span) => {
            response = response.status(StatusCode::PARTIAL_CONTENT).header(
                header::CONTENT_RANGE,
                format!(
                    "bytes {}-{}/{}",
                    span.start,
                    span.end.saturating_sub(1),
                    object.len
                ),
            );
            span.clone()
        }
        None => {
            response = response.status(StatusCode::OK);
            0..object.len
        }
    };
    response = response.header(header::CONTENT_LENGTH, span.end - span.start);
    if !with_body {
        return build(response, Body::empty());
    }
    for (param, name) in RESPONSE_OVERRIDES {
        if let Some(value) = request.query.get(param) {
            let value = HeaderValue::from_str(value).map_err(|_| {
                OssError::invalid_argument("Invalid response header override.", param, value)
            })?;
            if let Some(headers) = response.headers_mut() {
                headers.insert(name, value);
            }
        }
    }
    let body = response_body(
        state,
        object.reader().stream(span.clone()),
        request.faults,
        span,
    );
    build(response, body)
}

/// `response-*` query parameters that override GET response headers (§1.2 GetObject).
const RESPONSE_OVERRIDES: [(&str, HeaderName); 6] = [
    ("response-content-type", header::CONTENT_TYPE),
    ("response-content-language", header::CONTENT_LANGUAGE),
    ("response-expires", header::EXPIRES),
    ("response-cache-control", header::CACHE_CONTROL),
    ("response-content-disposition", header::CONTENT_DISPOSITION),
    ("response-content-encoding", header::CONTENT_ENCODING),
];

/// The GET body: the object's bytes, throttled by the bandwidth cap. A drop-connection fault
/// sends the first half, pauses so it reaches the client, then fails the stream, which makes
/// the server abort the connection mid-body.
fn response_body(
    state: &Arc<EmulatorState>,
    stream: impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    faults: FaultPlan,
    span: std::ops::Range<u64>,
) -> Body {
    let cursor = BodyCursor {
        inner: Box::pin(stream),
        state: Arc::clone(state),
        sent: 0,
        cut_at: faults
            .drop_connection
            .then(|| (span.end - span.start).div_ceil(2)),
    };
    Body::from_stream(futures::stream::try_unfold(cursor, BodyCursor::next))
}

/// State of [`response_body`].
struct BodyCursor {
    inner: std::pin::Pin<Box<dyn futures::Stream<Item = std::io::Result<Bytes>> + Send>>,
    state: Arc<EmulatorState>,
    sent: u64,
    /// Offset where an injected drop cuts the body.
    cut_at: Option<u64>,
}

/// How long a cut body waits before failing, so the bytes before the cut reach the client.
const CUT_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

impl BodyCursor {
    async fn next(mut self) -> std::io::Result<Option<(Bytes, Self)>> {
        if self.cut_at.is_some_and(|at| self.sent >= at) {
            tokio::time::sleep(CUT_PAUSE).await;
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "injected fault: connection dropped mid-body",
            ));
        }
        let Some(mut chunk) = self.inner.try_next().await? else {
            return Ok(None);
        };
        if let Some(at) = self.cut_at {
            let room = usize::try_from(at - self.sent).unwrap_or(usize::MAX);
            chunk.truncate(room);
        }
        self.sent += len_u64(chunk.len());
        self.state.faults.throttle(chunk.len()).await;
        Ok(Some((chunk, self)))
    }
}

/// Parses `Range: bytes=a-b | a- | -n`. A malformed range is ignored (whole object, as OSS
/// does); a start past the end is `416 InvalidRange`.
fn parse_range(value: &str, len: u64) -> Result<Option<std::ops::Range<u64>>, OssError> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    let Some((start, end)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        let Ok(suffix) = end.parse::<u64>() else {
            return Ok(None);
        };
        len.saturating_sub(suffix)..len
    } else {
        let Ok(first) = start.parse::<u64>() else {
            return Ok(None);
        };
        let last = if end.is_empty() {
            len.saturating_sub(1)
        } else {
            match end.parse::<u64>() {
                Ok(last) if last >= first => last.min(len.saturating_sub(1)),
                _ => return Ok(None),
            }
        };
        if first >= len {
            return Err(OssError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                "The requested range cannot be satisfied",
            ));
        }
        first..last + 1
    };
    Ok(Some(range))
}

fn delete_object(
    state: &Arc<EmulatorState>,
    request: &OssRequest,
) -> Result<Response<Body>, Failure> {
    let mut catalog = state.storage.catalog();
    // Deleting a missing key succeeds, as on OSS.
    let bucket = catalog.bucket(&request.bucket)?;
    state
        .storage
        .remove_object(bucket, &request.key)
        .map_err(|err| OssError::internal(format!("removing the object manifest: {err}")))?;
    build(
        Response::builder().status(StatusCode::NO_CONTENT),
        Body::empty(),
    )
}

// ---------------------------------------------------------------------------------------------
// Multipart

fn initiate(state: &Arc<EmulatorState>, request: &OssRequest) -> Result<Response<Body>, Failure> {
    let id = state.new_upload_id();
    {
        let mut catalog = state.storage.catalog();
        let bucket = catalog.bucket(&request.bucket)?;
        if forbids_overwrite(request) && bucket.objects.contains_key(&request.key) {
            return Err(file_already_exists().into());
        }
        bucket.uploads.insert(
            id.clone(),
            Upload {
                id: id.clone(),
                key: request.key.clone(),
                initiated: OffsetDateTime::now_utc(),
                meta: object_meta(&request.headers),
                parts: Default::default(),
            },
        );
    }
    let url = request.query.url_encoding();
    xml_response(&xml::InitiateResult {
        encoding_type: url.then_some("url"),
        bucket: request.bucket.clone(),
        key: xml::encode_key(&request.key, url),
        upload_id: id,
    })
}

fn lookup_upload(
    state: &EmulatorState,
    request: &OssRequest,
    upload_id: &str,
) -> Result<Upload, OssError> {
    let mut catalog = state.storage.catalog();
    catalog
        .bucket(&request.bucket)?
        .uploads
        .get(upload_id)
        .filter(|u| u.key == request.key)
        .cloned()
        .ok_or_else(|| OssError::no_such_upload(upload_id))
}

fn complete(
    state: &Arc<EmulatorState>,
    request: &OssRequest,
    body: &[u8],
) -> Result<Response<Body>, Failure> {
    let upload_id = request.query.get("uploadId").unwrap_or_default().to_owned();
    let upload = lookup_upload(state, request, &upload_id)?;
    let complete_all = request
        .header("x-oss-complete-all")
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"));
    let chosen = if complete_all {
        // `x-oss-complete-all: yes`: every uploaded part, and the body must be empty (§1.2).
        if !body.is_empty() {
            return Err(OssError::invalid_argument(
                "Should not speficy both complete all header and http body.",
                "x-oss-complete-all",
                "yes",
            )
            .into());
        }
        upload.parts.iter().map(|(n, p)| (*n, p.clone())).collect()
    } else {
        choose_parts(&upload, body)?
    };
    check_part_sizes(&chosen)?;
    let object = assemble(&upload, &chosen);
    let (etag, crc) = (object.etag.clone(), object.crc);
    let (sse, region) = {
        let mut catalog = state.storage.catalog();
        let bucket = catalog.bucket(&request.bucket)?;
        if !bucket.uploads.contains_key(&upload_id) {
            // Completed or aborted by a concurrent request.
            return Err(OssError::no_such_upload(&upload_id).into());
        }
        if forbids_overwrite(request) && bucket.objects.contains_key(&request.key) {
            return Err(file_already_exists().into());
        }
        state
            .storage
            .insert_object(bucket, &request.key, object)
            .map_err(|err| OssError::storage("writing the object manifest", &err))?;
        bucket.uploads.remove(&upload_id);
        (
            bucket.config.server_side_encryption,
            bucket.config.region.clone(),
        )
    };
    let url = request.query.url_encoding();
    let xml = xml::to_body(&xml::CompleteResult {
        encoding_type: url.then_some("url"),
        // Where the object lives on OSS (virtual-hosted URL, §1.2 Complete's example).
        location: format!(
            "http://{}.oss-{region}.aliyuncs.com/{}",
            request.bucket,
            xml::encode_key(&request.key, true)
        ),
        bucket: request.bucket.clone(),
        key: xml::encode_key(&request.key, url),
        etag: quoted(&etag),
    })?;
    // oss2 reads the object's ETag from the header of this response (§1.2 Complete).
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/xml")
        .header(header::ETAG, quoted(&etag))
        .header("x-oss-hash-crc64ecma", crc.to_string());
    if sse {
        response = response.header(SSE_HEADER, SSE_ALGORITHM);
    }
    build(response, Body::from(xml))
}

/// Applies Complete's list rules (§1.2): non-empty, ascending (`InvalidPartOrder`), each listed
/// part uploaded with that ETag (`InvalidPart`, compared without quotes and case).
fn choose_parts(upload: &Upload, body: &[u8]) -> Result<Vec<(u32, Part)>, OssError> {
    choose_listed_parts(&upload.id, &upload.parts, |part| &part.etag, body)
}

/// [`choose_parts`] over any map of uploaded parts (number → part, `etag_of` its unquoted
/// ETag), so the fuzz target can drive the real rules without a store.
pub(crate) fn choose_listed_parts<P: Clone>(
    upload_id: &str,
    uploaded: &std::collections::BTreeMap<u32, P>,
    etag_of: impl Fn(&P) -> &str,
    body: &[u8],
) -> Result<Vec<(u32, P)>, OssError> {
    let listed = xml::parse_complete(body)?;
    if listed.parts.is_empty() {
        return Err(OssError::malformed_xml());
    }
    let mut chosen: Vec<(u32, P)> = Vec::with_capacity(listed.parts.len());
    for entry in &listed.parts {
        let invalid_part = || {
            OssError::new(
                StatusCode::BAD_REQUEST,
                "InvalidPart",
                "One or more of the specified parts could not be found or the specified entity \
                 tag might not have matched the part's entity tag.",
            )
            .with("UploadId", upload_id)
            .with("PartNumber", entry.part_number.as_str())
            .with("ETag", entry.etag.as_str())
        };
        let number = entry
            .part_number
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| PART_NUMBERS.contains(n))
            .ok_or_else(invalid_part)?;
        if chosen
            .last()
            .is_some_and(|(previous, _)| *previous >= number)
        {
            return Err(OssError::new(
                StatusCode::BAD_REQUEST,
                "InvalidPartOrder",
                "The list of parts was not in ascending order. The parts list must be specified \
                 in order by part number.",
            )
            .with("UploadId", upload_id)
            .with_ec("0042-00000209"));
        }
        let part = uploaded.get(&number).ok_or_else(invalid_part)?;
        let sent = entry.etag.trim().trim_matches('"');
        if !sent.eq_ignore_ascii_case(etag_of(part)) {
            return Err(invalid_part());
        }
        chosen.push((number, part.clone()));
    }
    Ok(chosen)
}

/// Every part but the last must be at least [`MIN_PART_SIZE`] (`EntityTooSmall`, §1.2).
fn check_part_sizes(chosen: &[(u32, Part)]) -> Result<(), OssError> {
    let Some((_, all_but_last)) = chosen.split_last() else {
        return Err(OssError::malformed_xml());
    };
    if let Some((number, part)) = all_but_last
        .iter()
        .find(|(_, part)| part.blob.len() < MIN_PART_SIZE)
    {
        return Err(OssError::new(
            StatusCode::BAD_REQUEST,
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed size.",
        )
        .with("MinSizeAllowed", MIN_PART_SIZE.to_string())
        .with("ProposedSize", part.blob.len().to_string())
        .with("PartNumber", number.to_string())
        .with_ec("0042-00000213"));
    }
    Ok(())
}

/// Builds the object from its parts' blobs (no copy). The CRC is combined from the parts (§2);
/// the ETag has the common multipart form `HEX(MD5(part digests))-N` (§1.4; opaque to clients).
fn assemble(upload: &Upload, chosen: &[(u32, Part)]) -> Object {
    let crc = crc64_of_pieces(chosen.iter().map(|(_, p)| (p.blob.crc(), p.blob.len())));
    let mut digest = md5::Md5::new();
    for (_, part) in chosen {
        digest.update(hex::decode(&part.etag).unwrap_or_else(|_| part.etag.clone().into_bytes()));
    }
    let etag = format!("{}-{}", hex::encode_upper(digest.finalize()), chosen.len());
    Object {
        len: chosen.iter().map(|(_, p)| p.blob.len()).sum(),
        crc,
        etag,
        kind: ObjectKind::Multipart,
        meta: upload.meta.clone(),
        last_modified: OffsetDateTime::now_utc(),
        pieces: chosen.iter().map(|(_, p)| Arc::clone(&p.blob)).collect(),
    }
}

fn abort(state: &Arc<EmulatorState>, request: &OssRequest) -> Result<Response<Body>, Failure> {
    let upload_id = request.query.get("uploadId").unwrap_or_default();
    let mut catalog = state.storage.catalog();
    let bucket = catalog.bucket(&request.bucket)?;
    let matches = bucket
        .uploads
        .get(upload_id)
        .is_some_and(|u| u.key == request.key);
    if !matches {
        return Err(OssError::no_such_upload(upload_id).into());
    }
    bucket.uploads.remove(upload_id);
    build(
        Response::builder().status(StatusCode::NO_CONTENT),
        Body::empty(),
    )
}

fn page_size(request: &OssRequest, name: &str) -> Result<u32, OssError> {
    match request.query.get(name).filter(|v| !v.is_empty()) {
        None => Ok(MAX_PAGE),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                OssError::invalid_argument(
                    &format!("Argument {name} must be an integer between 1 and {MAX_PAGE}."),
                    name,
                    raw,
                )
            }),
    }
}

fn list_parts(state: &Arc<EmulatorState>, request: &OssRequest) -> Result<Response<Body>, Failure> {
    let upload_id = request.query.get("uploadId").unwrap_or_default().to_owned();
    let max_parts = page_size(request, "max-parts")?;
    // oss2 sends `part-number-marker=` (empty): that is 0 (§6.4 point 2).
    let raw_marker = request.query.get("part-number-marker").unwrap_or_default();
    let marker = if raw_marker.is_empty() {
        0
    } else {
        raw_marker.parse::<u32>().map_err(|_| {
            OssError::invalid_argument(
                "Invalid part number marker.",
                "part-number-marker",
                raw_marker,
            )
        })?
    };
    let upload = lookup_upload(state, request, &upload_id)?;
    let storage_class = state
        .storage
        .catalog()
        .bucket(&request.bucket)?
        .config
        .storage_class
        .clone();
    let mut remaining = upload.parts.range(marker.saturating_add(1)..);
    let page: Vec<_> = remaining
        .by_ref()
        .take(usize::try_from(max_parts).unwrap_or(usize::MAX))
        .collect();
    let is_truncated = remaining.next().is_some();
    let next_marker = page.last().map_or(marker, |(n, _)| **n);
    let url = request.query.url_encoding();
    xml_response(&xml::ListPartsResult {
        encoding_type: url.then_some("url"),
        bucket: request.bucket.clone(),
        key: xml::encode_key(&request.key, url),
        upload_id,
        storage_class,
        part_number_marker: marker,
        next_part_number_marker: next_marker,
        max_parts,
        is_truncated,
        parts: page
            .into_iter()
            .map(|(number, part)| xml::ListedPart {
                part_number: *number,
                last_modified: xml::iso8601(part.last_modified),
                etag: quoted(&part.etag),
                hash_crc64ecma: part.blob.crc(),
                size: part.blob.len(),
            })
            .collect(),
    })
}

fn list_uploads(
    state: &Arc<EmulatorState>,
    request: &OssRequest,
) -> Result<Response<Body>, Failure> {
    let max_uploads = page_size(request, "max-uploads")?;
    let query = &request.query;
    let prefix = query.get("prefix").unwrap_or_default();
    let delimiter = query.get("delimiter").unwrap_or_default();
    let key_marker = query.get("key-marker").unwrap_or_default();
    let id_marker = query.get("upload-id-marker").unwrap_or_default();
    let mut uploads: Vec<(String, String, OffsetDateTime)> = {
        let mut catalog = state.storage.catalog();
        catalog
            .bucket(&request.bucket)?
            .uploads
            .values()
            .map(|u| (u.key.clone(), u.id.clone(), u.initiated))
            .collect()
    };
    uploads.sort();
    let after_marker = |key: &str, id: &str| {
        key > key_marker || (key == key_marker && !id_marker.is_empty() && id > id_marker)
    };
    let limit = usize::try_from(max_uploads).unwrap_or(usize::MAX);
    let mut listed = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut is_truncated = false;
    let (mut next_key, mut next_id) = (String::new(), String::new());
    for (key, id, initiated) in uploads
        .iter()
        .filter(|(key, id, _)| key.starts_with(prefix) && after_marker(key, id))
    {
        let common = (!delimiter.is_empty())
            .then(|| key.get(prefix.len()..))
            .flatten()
            .and_then(|rest| rest.find(delimiter))
            .and_then(|at| key.get(..prefix.len() + at + delimiter.len()));
        if let Some(common) = common
            && prefixes.last().is_some_and(|p| p == common)
        {
            continue;
        }
        if listed.len() + prefixes.len() >= limit {
            is_truncated = true;
            break;
        }
        next_key = key.clone();
        next_id = id.clone();
        match common {
            Some(common) => prefixes.push(common.to_owned()),
            None => listed.push(xml::ListedUpload {
                key: xml::encode_key(key, query.url_encoding()),
                upload_id: id.clone(),
                initiated: xml::iso8601(*initiated),
            }),
        }
    }
    if !is_truncated {
        next_key.clear();
        next_id.clear();
    }
    let url = query.url_encoding();
    xml_response(&xml::ListUploadsResult {
        encoding_type: url.then_some("url"),
        bucket: request.bucket.clone(),
        key_marker: xml::encode_key(key_marker, url),
        upload_id_marker: id_marker.to_owned(),
        next_key_marker: xml::encode_key(&next_key, url),
        next_upload_id_marker: next_id,
        delimiter: delimiter.to_owned(),
        prefix: xml::encode_key(prefix, url),
        max_uploads,
        is_truncated,
        uploads: listed,
        common_prefixes: prefixes
            .into_iter()
            .map(|prefix| xml::CommonPrefix {
                prefix: xml::encode_key(&prefix, url),
            })
            .collect(),
    })
}

// ---------------------------------------------------------------------------------------------
// Bucket

fn get_bucket_info(
    state: &Arc<EmulatorState>,
    request: &OssRequest,
) -> Result<Response<Body>, Failure> {
    let mut catalog = state.storage.catalog();
    let bucket = catalog.bucket(&request.bucket)?;
    let region = &bucket.config.region;
    xml_response(&xml::BucketInfo {
        bucket: xml::BucketInfoBody {
            access_monitor: "Disabled",
            creation_date: xml::iso8601(bucket.created),
            // Host names as GetBucketInfo reports them on OSS (§1.2, §4).
            extranet_endpoint: format!("oss-{region}.aliyuncs.com"),
            intranet_endpoint: format!("oss-{region}-internal.aliyuncs.com"),
            location: format!("oss-{region}"),
            storage_class: bucket.config.storage_class.clone(),
            transfer_acceleration: "Disabled",
            cross_region_replication: "Disabled",
            data_redundancy_type: "LRS",
            name: bucket.config.name.clone(),
            owner: xml::Owner::emulator(),
            access_control_list: xml::AccessControlList { grant: "private" },
            server_side_encryption_rule: xml::SseRule {
                sse_algorithm: if bucket.config.server_side_encryption {
                    "AES256"
                } else {
                    "None"
                },
            },
            versioning: "Disabled",
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

/// RFC 1123 date in GMT, as HTTP headers carry it.
pub fn http_date(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

fn xml_response(value: &impl serde::Serialize) -> Result<Response<Body>, Failure> {
    let body = xml::to_body(value)?;
    build(
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/xml"),
        Body::from(body),
    )
}

fn build(builder: axum::http::response::Builder, body: Body) -> Result<Response<Body>, Failure> {
    builder
        .body(body)
        .map_err(|err| OssError::internal(format!("building a response: {err}")).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_oss() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), Some(0..10));
        assert_eq!(parse_range("bytes=90-", 100).unwrap(), Some(90..100));
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), Some(90..100));
        assert_eq!(parse_range("bytes=95-200", 100).unwrap(), Some(95..100));
        assert_eq!(parse_range("bytes=9-2", 100).unwrap(), None);
        assert_eq!(parse_range("items=0-1", 100).unwrap(), None);
        assert_eq!(
            parse_range("bytes=100-", 100).unwrap_err().code,
            "InvalidRange"
        );
    }

    #[test]
    fn operation_names_round_trip() {
        for op in Operation::ALL {
            assert_eq!(Operation::from_name(op.name()), Some(op));
        }
    }

    #[test]
    fn http_date_is_rfc_1123() {
        let at = time::macros::datetime!(2024-01-02 03:04:05 UTC);
        assert_eq!(http_date(at), "Tue, 02 Jan 2024 03:04:05 GMT");
    }
}

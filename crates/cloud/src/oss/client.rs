//! [`OssClient`]: one async method per OSS call, signing, sending, mapping answers and errors.
//!
//! Stateless apart from a shared clock-skew offset: cheap to clone (an `Arc` inside), safe to
//! use from many tasks. Every call except [`OssClient::upload_part`] retries transient failures
//! itself through [`crate::http::retry()`]; UploadPart makes exactly one attempt because its body
//! is a one-shot stream that only the upload engine can re-create.
//!
//! Must not: schedule uploads, number parts or remember upload state (that is `upload`'s job).

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use time::OffsetDateTime;

use super::config::{OssConfig, ResolvedEndpoint, SignatureVersion};
use super::error::{Operation, OssError, ServiceError, Target};
use super::request::{self, OssRequest};
use super::sign::{self, SignableRequest, V4Context};
use super::types::{
    BucketInfo, CompleteOutput, CompletedPart, GetObjectOutput, ObjectMeta, PartInfo,
    PutObjectOutput, UploadInfo, UploadPartOutput, WriteOutput,
};
use super::xml;
use crate::credentials::{CredentialProvider, Credentials};
use crate::http::client::{MAX_SMALL_ANSWER, ReadAnswerError, read_capped};
use crate::http::retry::{RetryDecision, retry, transport_is_retryable};
use crate::http::{Idempotency, build_client};

/// Header with the request id on every OSS answer (§1.1).
const HEADER_REQUEST_ID: &str = "x-oss-request-id";
/// Header with OSS's CRC-64 of the stored bytes, decimal (§2).
const HEADER_CRC64: &str = "x-oss-hash-crc64ecma";
/// Header carrying the base64 error XML on HEAD errors, which have no body (§1.6).
const HEADER_ERR: &str = "x-oss-err";
/// A change of the measured clock offset smaller than this is request latency, not news.
const CLOCK_NOTICE_SECS: i64 = 5;

/// Header with the detailed error code (§1.6).
const HEADER_EC: &str = "x-oss-ec";

/// A client for one bucket. See the module docs.
#[derive(Debug, Clone)]
pub struct OssClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: OssConfig,
    endpoint: ResolvedEndpoint,
    credentials: CredentialProvider,
    http: reqwest::Client,
    /// Server time minus local time, seconds; added to the clock when signing.
    clock_skew_secs: AtomicI64,
}

/// A complete answer: status, headers and the whole body.
struct Answer {
    headers: HeaderMap,
    body: Bytes,
}

impl OssClient {
    /// Validates `config` and builds the HTTP client (HTTPS-only unless the endpoint is an
    /// allowed plain-HTTP one). `credentials`: fixed [`Credentials`], or a
    /// [`CredentialProvider`] that refreshes them.
    pub fn new(
        config: OssConfig,
        credentials: impl Into<CredentialProvider>,
    ) -> Result<Self, OssError> {
        let credentials = credentials.into();
        let endpoint = ResolvedEndpoint::resolve(&config)?;
        let mut http_config = config.http.clone();
        http_config.https_only = endpoint.is_https();
        // Parts of up to 5 GB take minutes to send (see `HttpConfig::long_request_bodies`).
        http_config.long_request_bodies = true;
        let url = endpoint.url(None, "");
        http_config.direct = crate::http::is_loopback_url(&url);
        match crate::http::proxy::proxy_for(&url, http_config.direct) {
            Some(proxy) => tracing::info!("OSS requests to {url} go through the proxy {proxy}"),
            None => tracing::info!("OSS requests to {url} go direct (no proxy)"),
        }
        let http = build_client(&http_config)
            .map_err(|e| OssError::Config(format!("HTTP client: {}", e.without_url())))?;
        Ok(OssClient {
            inner: Arc::new(Inner {
                config,
                endpoint,
                credentials,
                http,
                clock_skew_secs: AtomicI64::new(0),
            }),
        })
    }

    /// The bucket this client addresses.
    pub fn bucket(&self) -> &str {
        &self.inner.config.bucket
    }

    /// The region (V4 scope).
    pub fn region(&self) -> &str {
        &self.inner.config.region
    }

    /// The credentials this client signs with (shared with its clones).
    pub fn credentials(&self) -> &CredentialProvider {
        &self.inner.credentials
    }

    /// The validated endpoint.
    pub fn endpoint(&self) -> &ResolvedEndpoint {
        &self.inner.endpoint
    }

    /// Server time minus local time in seconds, as measured on the last
    /// `RequestTimeTooSkewed` (0 until then). The CLI may warn when it is large.
    pub fn clock_skew_secs(&self) -> i64 {
        self.inner.clock_skew_secs.load(Ordering::Relaxed)
    }

    /// Sets the clock offset (e.g. measured by an earlier run).
    pub fn set_clock_skew_secs(&self, secs: i64) {
        self.inner.clock_skew_secs.store(secs, Ordering::Relaxed);
    }

    // -----------------------------------------------------------------------------------------
    // Operations
    // -----------------------------------------------------------------------------------------

    /// PutObject: the whole object in one request (≤ 5 GB). Retried on transient failures.
    pub async fn put_object(
        &self,
        key: &str,
        body: Bytes,
        content_md5: Option<&str>,
    ) -> Result<PutObjectOutput, OssError> {
        let request = request::put_object(self.bucket(), key, body, content_md5)?;
        let answer = self.execute(&request).await?;
        write_output(&request, &answer)
    }

    /// HeadObject: the object's metadata, `None` when it does not exist.
    pub async fn head_object(&self, key: &str) -> Result<Option<ObjectMeta>, OssError> {
        let request = request::head_object(self.bucket(), key)?;
        match self.execute(&request).await {
            Ok(answer) => object_meta(&request, &answer.headers, None).map(Some),
            Err(OssError::Service(error))
                if error.status == 404 && error.code != "NoSuchBucket" =>
            {
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// GetObject: the whole object or `range` (end exclusive), read into memory.
    pub async fn get_object(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<GetObjectOutput, OssError> {
        let request = request::get_object(self.bucket(), key, range)?;
        let answer = self.execute(&request).await?;
        let meta = object_meta(&request, &answer.headers, Some(answer.body.len()))?;
        Ok(GetObjectOutput {
            meta,
            body: answer.body,
        })
    }

    /// DeleteObject: removes `key` (a missing object is not an error).
    pub async fn delete_object(&self, key: &str) -> Result<(), OssError> {
        let request = request::delete_object(self.bucket(), key)?;
        self.execute(&request).await.map(|_| ())
    }

    /// InitiateMultipartUpload: a new upload id for `key`.
    pub async fn initiate_multipart_upload(&self, key: &str) -> Result<String, OssError> {
        let request = request::initiate_multipart_upload(self.bucket(), key)?;
        let answer = self.execute(&request).await?;
        let result: xml::InitiateMultipartUploadResult = parse_body(&request, &answer)?;
        if result.upload_id.is_empty() {
            return Err(invalid(&request, &answer, "empty UploadId"));
        }
        Ok(result.upload_id)
    }

    /// UploadPart: ONE attempt, no internal retry. `body` may be a stream of zero-copy chunks of
    /// exactly `content_length` bytes; `content_md5` (base64) makes OSS verify the bytes. A
    /// failed call says through [`OssError::is_retryable`] whether the engine should retry
    /// with a re-created body.
    pub async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: reqwest::Body,
        content_length: u64,
        content_md5: Option<&str>,
    ) -> Result<UploadPartOutput, OssError> {
        let request = request::upload_part(
            self.bucket(),
            key,
            upload_id,
            part_number,
            content_length,
            content_md5,
        )?;
        let answer = self.send_once(&request, Some(body)).await?;
        write_output(&request, &answer)
    }

    /// CompleteMultipartUpload with `parts` (strictly ascending; refused locally otherwise).
    /// Not repeated after a timeout: OSS may have completed it, so the caller should look with
    /// HeadObject before trying again (§1.2).
    pub async fn complete_multipart_upload(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<CompleteOutput, OssError> {
        let request = request::complete_multipart_upload(self.bucket(), key, upload_id, parts)?;
        let answer = self.execute(&request).await?;
        let mut output = write_output_lenient(&answer);
        if output.etag.is_empty() {
            // oss2 reads the header; the XML has it too (§1.2).
            let result: xml::CompleteMultipartUploadResult = parse_body(&request, &answer)?;
            output.etag = result.etag.unwrap_or_default();
        }
        if output.etag.is_empty() {
            return Err(invalid(
                &request,
                &answer,
                "no ETag for the completed object",
            ));
        }
        Ok(output)
    }

    /// AbortMultipartUpload: discards the upload and its parts.
    pub async fn abort_multipart_upload(&self, key: &str, upload_id: &str) -> Result<(), OssError> {
        let request = request::abort_multipart_upload(self.bucket(), key, upload_id)?;
        self.execute(&request).await.map(|_| ())
    }

    /// ListParts, all pages: every part uploaded so far, ascending.
    pub async fn list_parts(&self, key: &str, upload_id: &str) -> Result<Vec<PartInfo>, OssError> {
        let mut parts = Vec::new();
        let mut marker = 0u32;
        loop {
            let request = request::list_parts(self.bucket(), key, upload_id, marker)?;
            let answer = self.execute(&request).await?;
            let page: xml::ListPartsResult = parse_body(&request, &answer)?;
            for part in page.parts {
                let crc64 = match part.hash_crc64ecma.as_deref() {
                    Some(text) => Some(parse_crc(&request, &answer, text)?),
                    None => None,
                };
                parts.push(PartInfo {
                    part_number: part.part_number,
                    etag: part.etag,
                    size: part.size,
                    crc64,
                    last_modified: part.last_modified,
                });
            }
            if !page.is_truncated {
                return Ok(parts);
            }
            let next = page
                .next_part_number_marker
                .as_deref()
                .and_then(|m| m.trim().parse::<u32>().ok());
            // A truncated page must move the marker forward, or we would loop for ever.
            match next {
                Some(next) if next > marker => marker = next,
                _ => {
                    return Err(invalid(
                        &request,
                        &answer,
                        "truncated ListParts page without an advancing NextPartNumberMarker",
                    ));
                }
            }
        }
    }

    /// ListMultipartUploads, all pages, optionally under `prefix`.
    pub async fn list_multipart_uploads(
        &self,
        prefix: Option<&str>,
    ) -> Result<Vec<UploadInfo>, OssError> {
        let mut uploads = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let request = request::list_multipart_uploads(
                self.bucket(),
                prefix,
                markers.as_ref().map(|(k, u)| (k.as_str(), u.as_str())),
            );
            let answer = self.execute(&request).await?;
            let page: xml::ListMultipartUploadsResult = parse_body(&request, &answer)?;
            let encoding = page.encoding_type.as_deref();
            uploads.extend(page.uploads.iter().map(|u| UploadInfo {
                key: xml::decode_key(&u.key, encoding),
                upload_id: u.upload_id.clone(),
                initiated: u.initiated.clone(),
            }));
            if !page.is_truncated {
                return Ok(uploads);
            }
            let next = (
                page.next_key_marker.unwrap_or_default(),
                page.next_upload_id_marker.unwrap_or_default(),
            );
            if next.0.is_empty() || markers.as_ref() == Some(&next) {
                return Err(invalid(
                    &request,
                    &answer,
                    "truncated ListMultipartUploads page without advancing markers",
                ));
            }
            markers = Some(next);
        }
    }

    /// GetBucketInfo: location, storage class, encryption.
    pub async fn get_bucket_info(&self) -> Result<BucketInfo, OssError> {
        let request = request::get_bucket_info(self.bucket());
        let answer = self.execute(&request).await?;
        let result: xml::BucketInfoResult = parse_body(&request, &answer)?;
        let bucket = result.bucket;
        let sse = bucket.server_side_encryption_rule;
        let algorithm = sse
            .as_ref()
            .and_then(|rule| rule.sse_algorithm.clone())
            .filter(|a| !a.is_empty() && a != "None");
        Ok(BucketInfo {
            region: bucket
                .location
                .strip_prefix("oss-")
                .unwrap_or(&bucket.location)
                .to_owned(),
            name: bucket.name,
            location: bucket.location,
            storage_class: bucket.storage_class,
            kms_key_id: sse.and_then(|rule| rule.kms_master_key_id),
            server_side_encryption: algorithm,
            extranet_endpoint: bucket.extranet_endpoint,
            intranet_endpoint: bucket.intranet_endpoint,
            creation_date: bucket.creation_date,
            data_redundancy_type: bucket.data_redundancy_type,
            versioning: bucket.versioning,
        })
    }

    /// A presigned URL for `method` on `key`, valid `expires_in` from now (corrected clock).
    /// V4 URLs live at most 7 days (§3.4).
    pub fn presign_url(
        &self,
        method: Method,
        key: &str,
        expires_in: Duration,
    ) -> Result<String, OssError> {
        self.presign_url_with_query(method, key, &[], expires_in)
    }

    /// Like [`OssClient::presign_url`] with extra signed query parameters (e.g. `partNumber`
    /// and `uploadId` for a presigned UploadPart).
    pub fn presign_url_with_query(
        &self,
        method: Method,
        key: &str,
        query: &[(&str, &str)],
        expires_in: Duration,
    ) -> Result<String, OssError> {
        let refuse = |reason: String| OssError::InvalidRequest {
            operation: Operation::Presign,
            target: Box::new(Target {
                bucket: self.bucket().to_owned(),
                key: Some(key.to_owned()),
                upload_id: None,
                part_number: None,
            }),
            reason,
        };
        let secs = expires_in.as_secs();
        if secs == 0 {
            return Err(refuse("the expiry must be at least one second".into()));
        }
        let now = self.signing_time();
        // Built without I/O: the credentials in hand (a URL outlives them anyway when they
        // are temporary, which the caller's expiry must allow for).
        let credentials = self.inner.credentials.cached().ok_or_else(|| {
            refuse("no credentials in hand yet: make one signed request first".into())
        })?;
        let signable = SignableRequest {
            method: method.as_str(),
            bucket: Some(self.bucket()),
            key: Some(key),
            query,
            headers: &[],
        };
        let added = match self.inner.config.signature_version {
            SignatureVersion::V1 => {
                let expires_at = i64::try_from(secs)
                    .ok()
                    .and_then(|s| now.unix_timestamp().checked_add(s))
                    .ok_or_else(|| refuse(format!("expiry of {secs} s is too far away")))?;
                sign::v1_presign_query(&credentials, &signable, expires_at)
            }
            SignatureVersion::V4 => {
                if secs > sign::V4_MAX_EXPIRES_SECS {
                    return Err(refuse(format!(
                        "V4 presigned URLs live at most 7 days ({} s); {secs} s asked",
                        sign::V4_MAX_EXPIRES_SECS
                    )));
                }
                sign::v4_presign_query(&credentials, &self.v4_context(now), &signable, secs, &[])
            }
        };
        let mut all: Vec<(&str, &str)> = query.to_vec();
        all.extend(added.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        Ok(self
            .inner
            .endpoint
            .url(Some(key), &sign::encode_query(&all)))
    }

    // -----------------------------------------------------------------------------------------
    // Sending
    // -----------------------------------------------------------------------------------------

    fn signing_time(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        // Checked: the offset comes from a server's `Date`, and one claiming year 9999 would
        // otherwise push the clock past what `OffsetDateTime` holds a second later (a panic).
        now.checked_add(time::Duration::seconds(self.clock_skew_secs()))
            .unwrap_or(now)
    }

    fn v4_context(&self, time: OffsetDateTime) -> V4Context<'_> {
        V4Context {
            region: &self.inner.config.region,
            product: sign::V4_PRODUCT_OSS,
            time,
        }
    }

    /// Sends `request` with retries: transient failures per the config and one immediate retry
    /// after a clock-skew correction; then, outside that budget, once more with fresh
    /// credentials after a token refused as expired (OSS refused before acting).
    async fn execute(&self, request: &OssRequest) -> Result<Answer, OssError> {
        match self.execute_with_retries(request).await {
            Err(OssError::Service(error)) if error.credentials_renewable => {
                self.execute_with_retries(request).await
            }
            outcome => outcome,
        }
    }

    async fn execute_with_retries(&self, request: &OssRequest) -> Result<Answer, OssError> {
        let mut skew_retried = false;
        retry(
            &self.inner.config.retry,
            |_| self.send_once(request, None),
            |error: &OssError| match error {
                OssError::Service(e) if e.code == "RequestTimeTooSkewed" => {
                    if skew_retried {
                        RetryDecision::Fail
                    } else {
                        skew_retried = true;
                        RetryDecision::RetryNow
                    }
                }
                // Handled by `execute`, outside the retry budget.
                OssError::Service(e) if e.credentials_renewable => RetryDecision::Fail,
                _ if error.is_retryable() => RetryDecision::Retry,
                _ => RetryDecision::Fail,
            },
        )
        .await
    }

    /// One signed attempt; `stream` replaces the request's own body (UploadPart).
    async fn send_once(
        &self,
        request: &OssRequest,
        stream: Option<reqwest::Body>,
    ) -> Result<Answer, OssError> {
        let credentials = self.inner.credentials.credentials().await?;
        let now = self.signing_time();
        let headers = self.signed_headers(request, &credentials, now);
        let url = self
            .inner
            .endpoint
            .url(request.url_key(), &sign::encode_query(&request.query));
        let mut builder = self.inner.http.request(request.method.clone(), url);
        for (name, value) in &headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if request_is_small(request, stream.is_some()) {
            builder = builder.timeout(self.inner.config.http.request_timeout);
        }
        builder = match stream {
            Some(body) => builder.body(body),
            // PUT and POST always carry a body, if empty (`Content-Length: 0`).
            None if request.method == Method::PUT || request.method == Method::POST => {
                builder.body(request.body.clone())
            }
            None => builder,
        };
        let response = builder
            .send()
            .await
            .map_err(|e| transport(request, Stage::Sending, e))?;
        let status = response.status();
        let response_headers = response.headers().clone();
        let body = if matches!(
            request.operation,
            Operation::GetObject | Operation::HeadObject
        ) {
            // The object's own bytes, of the size the caller asked for; HEAD has none, but its
            // Content-Length is the object's size and must not trip the cap.
            response
                .bytes()
                .await
                .map_err(|e| transport(request, Stage::ReadingAnswer, e))?
        } else {
            read_capped(response, MAX_SMALL_ANSWER)
                .await
                .map_err(|error| match error {
                    ReadAnswerError::Transport(e) => transport(request, Stage::ReadingAnswer, e),
                    ReadAnswerError::TooLarge { .. } => OssError::InvalidResponse {
                        operation: request.operation,
                        target: Box::new(request.target.clone()),
                        detail: error.to_string(),
                        request_id: header_str(&response_headers, HEADER_REQUEST_ID)
                            .map(str::to_owned),
                    },
                })?
        };
        // Operation, object, status and request id only: never the URL or the headers, which
        // carry signatures and tokens (DESIGN habit 6).
        tracing::debug!(
            operation = %request.operation,
            target = %request.target,
            status = status.as_u16(),
            request_id = header_str(&response_headers, HEADER_REQUEST_ID).unwrap_or(""),
            "OSS answer"
        );
        if status.is_success()
            && request.operation != Operation::GetObject
            && xml::is_error_document(&body)
        {
            // A 2xx carrying `<Error>`: OSS may fail a Complete after sending 200 (§1.2).
            let error = self.service_error(request, status, &response_headers, &body);
            return Err(self.refused(error, &credentials));
        }
        if status.is_success() {
            return Ok(Answer {
                headers: response_headers,
                body,
            });
        }
        let error = self.service_error(request, status, &response_headers, &body);
        Err(self.refused(error, &credentials))
    }

    /// OSS's refusal as an error; a token refused as expired or invalid asks the provider for
    /// new credentials, and the error says whether signing again may help.
    fn refused(&self, mut error: ServiceError, used: &Credentials) -> OssError {
        if used.security_token().is_some()
            && matches!(
                error.code.as_str(),
                "SecurityTokenExpired" | "InvalidSecurityToken"
            )
        {
            error.credentials_renewable = self.inner.credentials.rejected(used);
        }
        OssError::Service(Box::new(error))
    }

    /// The request's headers plus date, security token and `Authorization`.
    fn signed_headers(
        &self,
        request: &OssRequest,
        credentials: &Credentials,
        now: OffsetDateTime,
    ) -> Vec<(String, String)> {
        let mut headers = request.headers.clone();
        headers.push(("Date".into(), sign::http_date(now)));
        if self.inner.config.signature_version == SignatureVersion::V4 {
            headers.push((sign::HEADER_OSS_DATE.into(), sign::v4_datetime(now)));
            headers.push((
                sign::HEADER_CONTENT_SHA256.into(),
                sign::UNSIGNED_PAYLOAD.into(),
            ));
        }
        if let Some(token) = credentials.security_token() {
            headers.push((sign::HEADER_SECURITY_TOKEN.into(), token.into()));
        }
        let header_refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let query_refs: Vec<(&str, &str)> = request
            .query
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let signable = SignableRequest {
            method: request.method.as_str(),
            bucket: Some(&request.target.bucket),
            key: request.url_key(),
            query: &query_refs,
            headers: &header_refs,
        };
        let authorization = match self.inner.config.signature_version {
            SignatureVersion::V1 => sign::v1_sign_header(credentials, &signable),
            SignatureVersion::V4 => {
                sign::v4_sign_header(credentials, &self.v4_context(now), &signable, &[])
            }
        };
        headers.push(("Authorization".into(), authorization));
        headers
    }

    /// Builds the typed error from a non-2xx answer, and corrects the clock offset on
    /// `RequestTimeTooSkewed`.
    fn service_error(
        &self,
        request: &OssRequest,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> ServiceError {
        let parsed = error_xml(headers, body).unwrap_or_default();
        let answered_like_oss =
            !parsed.code.is_empty() || header_str(headers, HEADER_REQUEST_ID).is_some();
        let code = if parsed.code.is_empty() {
            format!("HttpStatus{}", status.as_u16())
        } else {
            parsed.code
        };
        let mut clock_skew_secs = None;
        if code == "RequestTimeTooSkewed" {
            let server_time = header_str(headers, "date")
                .and_then(sign::parse_http_date)
                .or_else(|| parsed.server_time.as_deref().and_then(parse_server_time));
            if let Some(server_time) = server_time {
                let skew = (server_time - OffsetDateTime::now_utc()).whole_seconds();
                let previous = self.inner.clock_skew_secs.swap(skew, Ordering::Relaxed);
                // Parts in flight all meet the skew at once: one warning per new offset.
                if (previous - skew).abs() > CLOCK_NOTICE_SECS {
                    tracing::warn!("{}", crate::http::clock_skew_warning("OSS", skew));
                }
                clock_skew_secs = Some(skew);
            }
        }
        ServiceError {
            operation: request.operation,
            target: request.target.clone(),
            status: status.as_u16(),
            code,
            message: parsed.message,
            request_id: header_str(headers, HEADER_REQUEST_ID)
                .map(str::to_owned)
                .or(parsed.request_id),
            ec: header_str(headers, HEADER_EC)
                .map(str::to_owned)
                .or(parsed.ec),
            clock_skew_secs,
            answered_like_oss,
            credentials_renewable: false,
        }
    }
}

/// Whether `request` gets the whole-request timeout: everything but the calls whose bodies
/// are objects or parts (which may take minutes to send or receive).
fn request_is_small(request: &OssRequest, streams: bool) -> bool {
    !streams
        && !matches!(
            request.operation,
            Operation::PutObject | Operation::GetObject | Operation::UploadPart
        )
}

/// The error XML from the body, or from `x-oss-err` (base64) when the body is empty (HEAD).
fn error_xml(headers: &HeaderMap, body: &[u8]) -> Option<xml::ErrorResult> {
    let from_header;
    let text = if body.is_empty() {
        let encoded = header_str(headers, HEADER_ERR)?;
        from_header = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        std::str::from_utf8(&from_header).ok()?
    } else {
        std::str::from_utf8(body).ok()?
    };
    xml::parse(text).ok()
}

/// `<ServerTime>` of a skew error: RFC 1123 or ISO 8601, depending on the server.
fn parse_server_time(value: &str) -> Option<OffsetDateTime> {
    sign::parse_http_date(value).or_else(|| {
        OffsetDateTime::parse(value.trim(), &time::format_description::well_known::Rfc3339).ok()
    })
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn request_id(answer: &Answer) -> Option<String> {
    header_str(&answer.headers, HEADER_REQUEST_ID).map(str::to_owned)
}

/// Where a transport error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Sending,
    ReadingAnswer,
}

fn transport(request: &OssRequest, stage: Stage, error: reqwest::Error) -> OssError {
    let what = match stage {
        Stage::Sending => "sending the request failed",
        Stage::ReadingAnswer => "reading the answer failed",
    };
    OssError::Transport {
        operation: request.operation,
        target: Box::new(request.target.clone()),
        what,
        retryable: transport_is_retryable(&error, request.idempotency)
            // An answer cut short (reqwest reports it as a body or decode error) is simply
            // asked for again when the call is idempotent.
            || (stage == Stage::ReadingAnswer && request.idempotency == Idempotency::Idempotent),
        // The URL of a presigned or signed request must never reach a message.
        source: error.without_url(),
    }
}

fn invalid(request: &OssRequest, answer: &Answer, detail: &str) -> OssError {
    OssError::InvalidResponse {
        operation: request.operation,
        target: Box::new(request.target.clone()),
        detail: detail.to_owned(),
        request_id: request_id(answer),
    }
}

fn parse_body<T: serde::de::DeserializeOwned>(
    request: &OssRequest,
    answer: &Answer,
) -> Result<T, OssError> {
    let text = std::str::from_utf8(&answer.body)
        .map_err(|_| invalid(request, answer, "the XML body is not UTF-8"))?;
    xml::parse(text).map_err(|detail| invalid(request, answer, &detail))
}

fn parse_crc(request: &OssRequest, answer: &Answer, text: &str) -> Result<u64, OssError> {
    text.trim().parse::<u64>().map_err(|_| {
        invalid(
            request,
            answer,
            &format!("CRC-64 {text:?} is not a decimal u64"),
        )
    })
}

/// ETag, CRC and request id from a write's headers, without requiring any.
fn write_output_lenient(answer: &Answer) -> WriteOutput {
    WriteOutput {
        etag: header_str(&answer.headers, "etag")
            .unwrap_or_default()
            .to_owned(),
        crc64: header_str(&answer.headers, HEADER_CRC64).and_then(|v| v.trim().parse().ok()),
        request_id: request_id(answer),
    }
}

/// ETag (required), CRC (checked when present) and request id of a PutObject/UploadPart.
fn write_output(request: &OssRequest, answer: &Answer) -> Result<WriteOutput, OssError> {
    let crc64 = match header_str(&answer.headers, HEADER_CRC64) {
        Some(text) => Some(parse_crc(request, answer, text)?),
        None => None,
    };
    let etag = header_str(&answer.headers, "etag").unwrap_or_default();
    if etag.is_empty() {
        return Err(invalid(request, answer, "no ETag header"));
    }
    Ok(WriteOutput {
        etag: etag.to_owned(),
        crc64,
        request_id: request_id(answer),
    })
}

/// Metadata from HEAD/GET headers. For a ranged GET the size comes from `Content-Range`.
fn object_meta(
    request: &OssRequest,
    headers: &HeaderMap,
    body_len: Option<usize>,
) -> Result<ObjectMeta, OssError> {
    let content_range_total = header_str(headers, "content-range")
        .and_then(|v| v.rsplit_once('/'))
        .and_then(|(_, total)| total.trim().parse::<u64>().ok());
    let content_length = header_str(headers, "content-length").and_then(|v| v.trim().parse().ok());
    let from_body = body_len.and_then(|n| u64::try_from(n).ok());
    let size = content_range_total
        .or(content_length)
        .or(from_body)
        .ok_or_else(|| OssError::InvalidResponse {
            operation: request.operation,
            target: Box::new(request.target.clone()),
            detail: "no Content-Length".into(),
            request_id: header_str(headers, HEADER_REQUEST_ID).map(str::to_owned),
        })?;
    let text = |name: &str| header_str(headers, name).map(str::to_owned);
    Ok(ObjectMeta {
        size,
        etag: text("etag"),
        crc64: header_str(headers, HEADER_CRC64).and_then(|v| v.trim().parse().ok()),
        last_modified: text("last-modified"),
        object_type: text("x-oss-object-type"),
        storage_class: text("x-oss-storage-class"),
        request_id: text(HEADER_REQUEST_ID),
    })
}

#[cfg(test)]
mod tests;

//! The OSS client's typed errors: what failed (operation and object), what OSS said (code,
//! message, request id, HTTP status) and what the user should do about it.
//!
//! Messages never contain a signature, a token or a secret (DESIGN habit 6): transport errors
//! are stripped of their URL, and the error XML's `StringToSign`/`SignatureProvided` are not
//! kept. Callers decide by [`OssError::is_retryable`] or [`OssError::code`], never by text.

use std::fmt;

use crate::credentials::CredentialError;
use crate::error::Category;
use crate::http::retry::status_is_retryable;

/// The REST call an error belongs to (OSS API names, `research/oss-protocol.md` §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `PUT /<key>`
    PutObject,
    /// `HEAD /<key>`
    HeadObject,
    /// `GET /<key>`
    GetObject,
    /// `DELETE /<key>`
    DeleteObject,
    /// `POST /<key>?uploads`
    InitiateMultipartUpload,
    /// `PUT /<key>?partNumber&uploadId`
    UploadPart,
    /// `POST /<key>?uploadId`
    CompleteMultipartUpload,
    /// `DELETE /<key>?uploadId`
    AbortMultipartUpload,
    /// `GET /<key>?uploadId`
    ListParts,
    /// `GET /?uploads`
    ListMultipartUploads,
    /// `GET /?bucketInfo`
    GetBucketInfo,
    /// Building a presigned URL (local only).
    Presign,
}

impl Operation {
    /// The OSS API name.
    pub fn name(self) -> &'static str {
        match self {
            Operation::PutObject => "PutObject",
            Operation::HeadObject => "HeadObject",
            Operation::GetObject => "GetObject",
            Operation::DeleteObject => "DeleteObject",
            Operation::InitiateMultipartUpload => "InitiateMultipartUpload",
            Operation::UploadPart => "UploadPart",
            Operation::CompleteMultipartUpload => "CompleteMultipartUpload",
            Operation::AbortMultipartUpload => "AbortMultipartUpload",
            Operation::ListParts => "ListParts",
            Operation::ListMultipartUploads => "ListMultipartUploads",
            Operation::GetBucketInfo => "GetBucketInfo",
            Operation::Presign => "Presign",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The object (or bucket) an operation addressed, shown as `oss://bucket/key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Bucket name.
    pub bucket: String,
    /// Object key; `None` for bucket-level calls.
    pub key: Option<String>,
    /// Multipart upload id, when the call concerns one.
    pub upload_id: Option<String>,
    /// Part number, for UploadPart.
    pub part_number: Option<u32>,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "oss://{}/{}",
            self.bucket,
            self.key.as_deref().unwrap_or("")
        )?;
        if let Some(part) = self.part_number {
            write!(f, " part {part}")?;
        }
        if let Some(upload_id) = &self.upload_id {
            write!(f, " (upload {upload_id})")?;
        }
        Ok(())
    }
}

/// An error answer from OSS (or the emulator), parsed from its error XML (§1.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    /// The call that failed.
    pub operation: Operation,
    /// What it addressed.
    pub target: Target,
    /// HTTP status.
    pub status: u16,
    /// OSS error code (`NoSuchUpload`); `HttpStatus<N>` when the answer had no error XML.
    pub code: String,
    /// OSS's message.
    pub message: String,
    /// `x-oss-request-id`, for Alibaba support.
    pub request_id: Option<String>,
    /// OSS's detailed error code (`x-oss-ec`), informative only (Alibaba says it may change).
    pub ec: Option<String>,
    /// For `RequestTimeTooSkewed`: server time minus local time, in seconds.
    pub clock_skew_secs: Option<i64>,
    /// The answer carried OSS's error XML or request ID. Without either, whatever answered
    /// (a web server, a captive portal, a wrong port) is not OSS.
    pub answered_like_oss: bool,
    /// OSS refused the STS token as expired or invalid, and the credential source hands out
    /// new ones: the request is worth signing again (the client has asked for a refresh).
    pub credentials_renewable: bool,
}

/// Statuses worth repeating even from something that is not OSS: a proxy or load balancer in
/// front of OSS times out or is overloaded for a moment.
fn gateway_hiccup(status: u16) -> bool {
    matches!(status, 408 | 429 | 502 | 503 | 504)
}

impl ServiceError {
    /// Whether a later identical request may succeed: 5xx, 429, 408, throttling, and clock
    /// skew (the client corrects its offset before the error reaches the caller).
    pub fn is_retryable(&self) -> bool {
        if !self.answered_like_oss {
            return gateway_hiccup(self.status);
        }
        status_is_retryable(self.status)
            || self.credentials_renewable
            || matches!(
                self.code.as_str(),
                "RequestTimeTooSkewed"
                    | "InternalError"
                    | "ServiceUnavailable"
                    | "RequestTimeout"
                    | "Throttling"
                    | "SlowDown"
                    | "TooManyRequests"
            )
    }

    /// What the user should do, by code.
    pub fn advice(&self) -> String {
        if !self.answered_like_oss && !gateway_hiccup(self.status) {
            return "this endpoint does not answer like OSS (no OSS error document, no request \
                    ID): check --oss-endpoint (or BAK2RDS_OSS_ENDPOINT) and --region"
                .to_owned();
        }
        let advice = match self.code.as_str() {
            "SignatureDoesNotMatch" => {
                "check the AccessKey secret (ALIBABA_CLOUD_ACCESS_KEY_SECRET or the aliyun \
                 profile) and that the local clock is right"
            }
            "RequestTimeTooSkewed" => {
                return match self.clock_skew_secs {
                    Some(skew) => format!(
                        "the local clock is {} seconds {} OSS's; synchronise it (NTP)",
                        skew.unsigned_abs(),
                        if skew > 0 { "behind" } else { "ahead of" }
                    ),
                    None => "the local clock is off by more than 15 minutes; synchronise it (NTP)"
                        .to_owned(),
                };
            }
            "InvalidAccessKeyId" => {
                "the AccessKey id does not exist or is disabled; check \
                 ALIBABA_CLOUD_ACCESS_KEY_ID or the aliyun profile"
            }
            "AccessDenied" => {
                "the AccessKey lacks permission on this bucket (RAM policy), or the bucket \
                 belongs to another account"
            }
            "SecurityTokenExpired" | "InvalidSecurityToken" => {
                "the STS token is expired or invalid, and its source cannot hand out a new one \
                 (a fixed ALIBABA_CLOUD_SECURITY_TOKEN or StsToken profile): get a new token and \
                 resume, or use a source that bak2rds refreshes by itself (a RamRoleArn, \
                 EcsRamRole or OIDC profile, the OIDC variables, or the ECS instance's role)"
            }
            "NoSuchBucket" => "check the bucket name and that the endpoint is its region's",
            "NoSuchKey" => "the object does not exist",
            "NoSuchUpload" => {
                "the multipart upload was completed, aborted or expired; start a new upload"
            }
            "EntityTooSmall" => {
                "every part except the last must be at least 100 KB (102400 bytes); use a \
                 larger part size"
            }
            "EntityTooLarge" => "the body is larger than OSS accepts (5 GB per request)",
            "InvalidPart" => {
                "a listed part is missing or its ETag differs; resume (parts are reconciled \
                 with ListParts) or upload the part again"
            }
            "InvalidPartOrder" => "parts must be listed in ascending part-number order",
            "InvalidDigest" => {
                "the Content-MD5 did not match the received bytes (corrupted in transit?); retry"
            }
            "FileAlreadyExists" => "the object exists and overwriting was forbidden",
            "InvalidBucketName" | "InvalidObjectName" => "the bucket name or object key is invalid",
            _ if self.is_retryable() => "a transient OSS failure; retry later",
            _ => return String::new(),
        };
        advice.to_owned()
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "OSS {} on {} failed: {} (HTTP {})",
            self.operation, self.target, self.code, self.status
        )?;
        let message = self.message.trim().trim_end_matches('.');
        if !message.is_empty() {
            write!(f, ": {message}")?;
        }
        let advice = self.advice();
        if !advice.is_empty() {
            write!(f, "; {advice}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

/// Any failure of the OSS client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OssError {
    /// OSS answered with an error.
    #[error("{0}")]
    Service(Box<ServiceError>),
    /// The request did not get an answer (connection, TLS, timeout, broken body).
    #[error("OSS {operation} on {target}: {what}: {source}")]
    Transport {
        /// The call.
        operation: Operation,
        /// What it addressed.
        target: Box<Target>,
        /// A short description ("connection failed", "timed out", "response body").
        what: &'static str,
        /// Whether repeating the call is safe and may succeed.
        retryable: bool,
        /// reqwest's error, stripped of its URL.
        source: reqwest::Error,
    },
    /// OSS answered 2xx but the answer is not what the protocol says.
    #[error("OSS {operation} on {target}: unexpected answer: {detail}{}", request_suffix(.request_id))]
    InvalidResponse {
        /// The call.
        operation: Operation,
        /// What it addressed.
        target: Box<Target>,
        /// What is wrong.
        detail: String,
        /// `x-oss-request-id`, when present.
        request_id: Option<String>,
    },
    /// The call was refused locally before sending (e.g. an unsorted part list).
    #[error("OSS {operation} on {target}: {reason}")]
    InvalidRequest {
        /// The call.
        operation: Operation,
        /// What it addressed.
        target: Box<Target>,
        /// Why it was refused.
        reason: String,
    },
    /// The client configuration is invalid (endpoint, region, bucket...).
    #[error("OSS configuration: {0}")]
    Config(String),
    /// No usable credentials.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
}

fn request_suffix(request_id: &Option<String>) -> String {
    request_id
        .as_ref()
        .map(|id| format!(" [request id {id}]"))
        .unwrap_or_default()
}

impl OssError {
    /// The category callers match on: bad settings and credentials are `Config`, transient
    /// failures `Transient`, definite answers `Service`, requests we refused to send `Bug`.
    pub fn category(&self) -> Category {
        match self {
            OssError::Credentials(error) if error.is_transient() => Category::Transient,
            OssError::Config(_) | OssError::Credentials(_) => Category::Config,
            OssError::InvalidRequest { .. } => Category::Bug,
            _ if self.is_retryable() => Category::Transient,
            _ => Category::Service,
        }
    }

    /// Whether the same call may succeed if repeated (the caller decides whether to).
    pub fn is_retryable(&self) -> bool {
        match self {
            OssError::Service(error) => error.is_retryable(),
            OssError::Transport { retryable, .. } => *retryable,
            OssError::InvalidResponse { .. } => true,
            // The credential provider has already retried its source with backoff: asking
            // again at once would only repeat that wait. (An unreachable source is still
            // `Category::Transient`: a later run may find it again.)
            OssError::InvalidRequest { .. } | OssError::Config(_) | OssError::Credentials(_) => {
                false
            }
        }
    }

    /// The OSS error code, for service errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            OssError::Service(error) => Some(&error.code),
            _ => None,
        }
    }

    /// The HTTP status, for service errors.
    pub fn status(&self) -> Option<u16> {
        match self {
            OssError::Service(error) => Some(error.status),
            _ => None,
        }
    }

    /// The OSS request id, when OSS answered.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            OssError::Service(error) => error.request_id.as_deref(),
            OssError::InvalidResponse { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// The service error, when OSS answered with one.
    pub fn service(&self) -> Option<&ServiceError> {
        match self {
            OssError::Service(error) => Some(error),
            _ => None,
        }
    }

    /// The operation, when the error concerns one call.
    pub fn operation(&self) -> Option<Operation> {
        match self {
            OssError::Service(error) => Some(error.operation),
            OssError::Transport { operation, .. }
            | OssError::InvalidResponse { operation, .. }
            | OssError::InvalidRequest { operation, .. } => Some(*operation),
            OssError::Config(_) | OssError::Credentials(_) => None,
        }
    }

    /// What the call addressed, when the error concerns one call.
    pub fn target(&self) -> Option<&Target> {
        match self {
            OssError::Service(error) => Some(&error.target),
            OssError::Transport { target, .. }
            | OssError::InvalidResponse { target, .. }
            | OssError::InvalidRequest { target, .. } => Some(target),
            OssError::Config(_) | OssError::Credentials(_) => None,
        }
    }

    /// Whether OSS said the object, bucket or upload does not exist (404).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(code: &str, status: u16) -> ServiceError {
        ServiceError {
            operation: Operation::UploadPart,
            target: Target {
                bucket: "b".into(),
                key: Some("db/full.bak".into()),
                upload_id: Some("UP1".into()),
                part_number: Some(7),
            },
            status,
            code: code.into(),
            message: "msg".into(),
            request_id: Some("RID".into()),
            ec: None,
            clock_skew_secs: None,
            answered_like_oss: true,
            credentials_renewable: false,
        }
    }

    /// First hour 9: an HTTP server that is not OSS is named as such and not retried (a
    /// gateway's moment of trouble still is).
    #[test]
    fn an_answer_that_is_not_oss_is_named_and_not_retried() {
        let mut error = service("HttpStatus501", 501);
        error.request_id = None;
        error.answered_like_oss = false;
        assert!(!error.is_retryable());
        let text = error.to_string();
        assert!(
            text.contains("does not answer like OSS") && text.contains("--oss-endpoint"),
            "{text}"
        );
        assert!(!text.contains("transient"), "{text}");
        error.status = 502;
        assert!(error.is_retryable(), "a proxy's 502 is worth another try");
    }

    #[test]
    fn message_names_operation_object_and_what_to_do() {
        let text = service("SignatureDoesNotMatch", 403).to_string();
        for needle in [
            "UploadPart",
            "oss://b/db/full.bak part 7",
            "UP1",
            "SignatureDoesNotMatch",
            "403",
            "AccessKey secret",
            "clock",
            "RID",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from {text}");
        }
    }

    #[test]
    fn skew_advice_says_how_far_off() {
        let mut error = service("RequestTimeTooSkewed", 403);
        error.clock_skew_secs = Some(-1234);
        let text = error.to_string();
        assert!(text.contains("1234 seconds ahead"), "{text}");
        assert!(error.is_retryable());
    }

    #[test]
    fn retryable_by_status_and_code() {
        assert!(service("InternalError", 500).is_retryable());
        assert!(service("Whatever", 503).is_retryable());
        assert!(service("Throttling", 429).is_retryable());
        for code in [
            "AccessDenied",
            "NoSuchUpload",
            "InvalidPart",
            "EntityTooSmall",
        ] {
            let status = if code == "NoSuchUpload" { 404 } else { 400 };
            assert!(!service(code, status).is_retryable(), "{code}");
        }
    }
}

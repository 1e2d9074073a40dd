//! Errors the emulator answers with (OSS's error codes and statuses), and the error its builder
//! returns when it cannot start.
//!
//! Codes, statuses and messages follow `oss-protocol.md` §1.6 (the error table) and the API pages
//! cited there. Extra elements (e.g. `StringToSign` for `SignatureDoesNotMatch`, `ArgumentName`
//! for `InvalidArgument`) are carried in [`OssError::extra`] and written into the XML body.

use axum::http::StatusCode;

/// One OSS error response: status, code, message and the code-specific extra elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OssError {
    /// HTTP status.
    pub status: StatusCode,
    /// OSS error code (`NoSuchKey`, `SignatureDoesNotMatch`...).
    pub code: String,
    /// Human-readable message, worded like OSS's.
    pub message: String,
    /// Extra `<Name>value</Name>` elements after `HostId`, in order.
    pub extra: Vec<(&'static str, String)>,
    /// OSS's detailed error code (`EC`, also sent as `x-oss-ec`) where a doc page shows it
    /// (§1.6); Alibaba says these may change, so clients must not build logic on them.
    pub ec: Option<&'static str>,
}

impl OssError {
    /// An error with this status, code and message and no extra elements.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        OssError {
            status,
            code: code.to_owned(),
            message: message.into(),
            extra: Vec::new(),
            ec: None,
        }
    }

    /// Sets the detailed error code (`EC`).
    pub fn with_ec(mut self, ec: &'static str) -> Self {
        self.ec = Some(ec);
        self
    }

    /// Adds an extra element.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((name, value.into()));
        self
    }

    /// `400 InvalidArgument` naming the argument and its value.
    pub fn invalid_argument(message: &str, name: &str, value: &str) -> Self {
        OssError::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
            .with("ArgumentName", name)
            .with("ArgumentValue", value)
    }

    /// `403 AccessDenied`.
    pub fn access_denied(message: impl Into<String>) -> Self {
        OssError::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }

    /// `404 NoSuchBucket`.
    pub fn no_such_bucket(bucket: &str) -> Self {
        OssError::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist.",
        )
        .with("BucketName", bucket)
    }

    /// `404 NoSuchKey`.
    pub fn no_such_key(key: &str) -> Self {
        OssError::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
        .with("Key", key)
    }

    /// `404 NoSuchUpload`, worded as in the OSS doc quoted in `oss-protocol.md` §1.2 (UploadPart).
    pub fn no_such_upload(upload_id: &str) -> Self {
        OssError::new(
            StatusCode::NOT_FOUND,
            "NoSuchUpload",
            "The specified upload does not exist. The upload ID may be invalid, or the upload may \
             have been aborted or completed.",
        )
        .with("UploadId", upload_id)
    }

    /// `400 InvalidDigest`: the `Content-MD5` header does not match the body.
    pub fn invalid_digest(sent: &str) -> Self {
        OssError::new(
            StatusCode::BAD_REQUEST,
            "InvalidDigest",
            "The Content-MD5 you specified is not valid.",
        )
        .with("ContentMD5", sent)
    }

    /// `400 MalformedXML`.
    pub fn malformed_xml() -> Self {
        OssError::new(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published \
             schema.",
        )
    }

    /// `500 InternalError` (a local I/O failure in the emulator).
    pub fn internal(message: impl Into<String>) -> Self {
        OssError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
    }

    /// A failed write to the data folder, as `500 InternalError`: the one answer real OSS gives
    /// for a failure on its side, which clients retry. A full disk says so (and what to do), so
    /// someone reading the client's error knows the emulator's host, not the upload, is at fault.
    pub fn storage(action: &str, err: &std::io::Error) -> Self {
        if err.kind() == std::io::ErrorKind::StorageFull {
            return OssError::internal(format!(
                "We encountered an internal error while {action}: the emulator's data folder is \
                 full (no space left on device). Free space on the emulator's disk, then retry."
            ));
        }
        OssError::internal(format!(
            "We encountered an internal error while {action}: {err}"
        ))
    }
}

/// Why the emulator could not start or stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// The configuration file could not be read or parsed, or declares something invalid.
    #[error("emulator configuration: {0}")]
    Config(String),
    /// Binding the listener or preparing the data folder failed.
    #[error("emulator {action}: {source}")]
    Io {
        /// What the emulator was doing.
        action: String,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl EmulatorError {
    /// Builds an [`EmulatorError::Io`].
    pub fn io(action: impl Into<String>, source: std::io::Error) -> Self {
        EmulatorError::Io {
            action: action.into(),
            source,
        }
    }
}

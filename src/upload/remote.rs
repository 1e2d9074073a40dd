//! What the engine needs from an object store: the multipart calls, each one attempt.
//!
//! The engine is written against this trait rather than `OssClient` directly so that it owns only
//! the pipeline (scheduling, retries, verification, resume) and can be driven by a scripted store
//! in unit tests; `OssClient` implements it in `oss_remote.rs`.

use std::future::Future;

use bytes::Bytes;

/// A part the server acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartReceipt {
    /// The part's ETag.
    pub etag: String,
    /// The server's CRC-64 of what it stored (`x-oss-hash-crc64ecma`).
    pub crc64: Option<u64>,
}

/// A part the server lists for an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPart {
    /// OSS part number (1-based).
    pub part_number: u32,
    /// The part's ETag.
    pub etag: String,
    /// Bytes stored.
    pub size: u64,
    /// The server's CRC-64 of the part, when listed.
    pub crc64: Option<u64>,
}

/// An object the server holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectReceipt {
    /// Object length, when the call reports it (HEAD does; Complete does not).
    pub size: Option<u64>,
    /// The object's ETag.
    pub etag: String,
    /// The server's CRC-64 of the whole object.
    pub crc64: Option<u64>,
}

/// How a failed call should be treated.
pub trait RemoteError: std::error::Error + Send + Sync + 'static {
    /// True when the same call may succeed if tried again (5xx, throttling, resets, timeouts).
    fn is_retryable(&self) -> bool;
}

/// The multipart operations of one bucket, one attempt each (the engine retries).
pub trait Remote: Send + Sync + 'static {
    /// The store's error.
    type Error: RemoteError;

    /// The endpoint URL, for checkpoints and messages (no credentials).
    fn endpoint(&self) -> String;

    /// The endpoint as earlier versions wrote it into checkpoints, when it differs: a resume
    /// one of them started is found under that name and carried over.
    fn legacy_endpoint(&self) -> Option<String> {
        None
    }

    /// The ids of the unfinished multipart uploads of `key`.
    fn list_uploads(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Vec<String>, Self::Error>> + Send;

    /// Starts a multipart upload; returns its id.
    fn initiate(&self, key: &str) -> impl Future<Output = Result<String, Self::Error>> + Send;

    /// Sends one part. `body` yields exactly `len` bytes.
    fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: reqwest::Body,
        len: u64,
        content_md5: Option<String>,
    ) -> impl Future<Output = Result<PartReceipt, Self::Error>> + Send;

    /// Assembles the object from `parts` (ascending `(part_number, etag)`).
    fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<(u32, String)>,
    ) -> impl Future<Output = Result<ObjectReceipt, Self::Error>> + Send;

    /// Discards a multipart upload and its parts.
    fn abort(
        &self,
        key: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Every part of an upload; `None` when the upload no longer exists (`NoSuchUpload`).
    fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<Option<Vec<ListedPart>>, Self::Error>> + Send;

    /// The object's metadata; `None` when it does not exist.
    fn head(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<ObjectReceipt>, Self::Error>> + Send;

    /// Uploads a small object in one request.
    fn put(
        &self,
        key: &str,
        body: Bytes,
    ) -> impl Future<Output = Result<ObjectReceipt, Self::Error>> + Send;

    /// Deletes an object (used to remove an object that failed verification).
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

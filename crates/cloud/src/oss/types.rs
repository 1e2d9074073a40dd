//! What the client's calls take and return, independent of the wire format.

use bytes::Bytes;

/// What OSS returns for a write (PutObject, UploadPart, CompleteMultipartUpload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutput {
    /// The ETag as OSS sent it (quoted upper-case MD5 for a part, §1.4).
    pub etag: String,
    /// `x-oss-hash-crc64ecma`: CRC-64/XZ of what OSS stored (of the whole object on Complete).
    pub crc64: Option<u64>,
    /// `x-oss-request-id`.
    pub request_id: Option<String>,
}

/// What UploadPart returns.
pub type UploadPartOutput = WriteOutput;
/// What CompleteMultipartUpload returns.
pub type CompleteOutput = WriteOutput;
/// What PutObject returns.
pub type PutObjectOutput = WriteOutput;

/// One part to list in CompleteMultipartUpload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// 1..=10000, strictly ascending in the list.
    pub part_number: u32,
    /// The ETag UploadPart returned (quotes optional).
    pub etag: String,
}

/// One uploaded part, as ListParts reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    /// 1..=10000.
    pub part_number: u32,
    /// The part's ETag.
    pub etag: String,
    /// Size in bytes.
    pub size: u64,
    /// CRC-64 when OSS lists it.
    pub crc64: Option<u64>,
    /// ISO 8601 upload time.
    pub last_modified: String,
}

/// One unfinished multipart upload, as ListMultipartUploads reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadInfo {
    /// Object key.
    pub key: String,
    /// Upload id.
    pub upload_id: String,
    /// ISO 8601 time it was initiated.
    pub initiated: String,
}

/// An object's metadata, from HeadObject (or GetObject's headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Object size in bytes (for a ranged GET: the size of the object, from `Content-Range`).
    pub size: u64,
    /// The ETag.
    pub etag: Option<String>,
    /// CRC-64 of the whole object.
    pub crc64: Option<u64>,
    /// `Last-Modified`.
    pub last_modified: Option<String>,
    /// `x-oss-object-type`: `Normal`, `Multipart`, `Appendable`, `Symlink`.
    pub object_type: Option<String>,
    /// `x-oss-storage-class`.
    pub storage_class: Option<String>,
    /// `x-oss-request-id`.
    pub request_id: Option<String>,
}

/// What GetObject returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetObjectOutput {
    /// The object's metadata.
    pub meta: ObjectMeta,
    /// The bytes received (the whole object or the requested range).
    pub body: Bytes,
}

/// A bucket's properties, from GetBucketInfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketInfo {
    /// Bucket name.
    pub name: String,
    /// OSS location, `oss-cn-hangzhou`.
    pub location: String,
    /// Plain region id derived from the location, `cn-hangzhou` (the V4 scope's form).
    pub region: String,
    /// `Standard`, `IA`, `Archive`, `ColdArchive`, `DeepColdArchive`.
    pub storage_class: String,
    /// Default server-side encryption (`AES256`, `KMS`, `SM4`), `None` when off.
    pub server_side_encryption: Option<String>,
    /// KMS key id, for `KMS`.
    pub kms_key_id: Option<String>,
    /// Public endpoint host.
    pub extranet_endpoint: String,
    /// Internal endpoint host.
    pub intranet_endpoint: String,
    /// ISO 8601 creation time.
    pub creation_date: String,
    /// `LRS` or `ZRS`.
    pub data_redundancy_type: Option<String>,
    /// Versioning status when configured.
    pub versioning: Option<String>,
}

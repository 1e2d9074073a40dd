//! The OSS operations the emulator serves, by their API names: what the router classifies a
//! request as, what the fault configuration names, and what `oss.rs` answers. A module of its
//! own because all three need it and none should need the others for it.

/// The operations the emulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `GET /?bucketInfo`.
    GetBucketInfo,
    /// `GET /?uploads`.
    ListMultipartUploads,
    /// `GET /` on a bucket.
    ListObjects,
    /// `GET /?list-type=2`.
    ListObjectsV2,
    /// `POST /?delete`.
    DeleteMultipleObjects,
    /// `PUT /key`.
    PutObject,
    /// `PUT /key` with `x-oss-copy-source`.
    CopyObject,
    /// `GET /key`.
    GetObject,
    /// `HEAD /key`.
    HeadObject,
    /// `DELETE /key`.
    DeleteObject,
    /// `POST /key?uploads`.
    InitiateMultipartUpload,
    /// `PUT /key?partNumber&uploadId`.
    UploadPart,
    /// `PUT /key?partNumber&uploadId` with `x-oss-copy-source`.
    UploadPartCopy,
    /// `POST /key?uploadId`.
    CompleteMultipartUpload,
    /// `DELETE /key?uploadId`.
    AbortMultipartUpload,
    /// `GET /key?uploadId`.
    ListParts,
}

impl Operation {
    pub(crate) const ALL: [Operation; 16] = [
        Operation::GetBucketInfo,
        Operation::ListMultipartUploads,
        Operation::ListObjects,
        Operation::ListObjectsV2,
        Operation::DeleteMultipleObjects,
        Operation::PutObject,
        Operation::CopyObject,
        Operation::GetObject,
        Operation::HeadObject,
        Operation::DeleteObject,
        Operation::InitiateMultipartUpload,
        Operation::UploadPart,
        Operation::UploadPartCopy,
        Operation::CompleteMultipartUpload,
        Operation::AbortMultipartUpload,
        Operation::ListParts,
    ];

    /// The API name (as in Alibaba's API reference; used in the fault configuration).
    pub fn name(self) -> &'static str {
        match self {
            Operation::GetBucketInfo => "GetBucketInfo",
            Operation::ListMultipartUploads => "ListMultipartUploads",
            Operation::ListObjects => "ListObjects",
            Operation::ListObjectsV2 => "ListObjectsV2",
            Operation::DeleteMultipleObjects => "DeleteMultipleObjects",
            Operation::CopyObject => "CopyObject",
            Operation::UploadPartCopy => "UploadPartCopy",
            Operation::PutObject => "PutObject",
            Operation::GetObject => "GetObject",
            Operation::HeadObject => "HeadObject",
            Operation::DeleteObject => "DeleteObject",
            Operation::InitiateMultipartUpload => "InitiateMultipartUpload",
            Operation::UploadPart => "UploadPart",
            Operation::CompleteMultipartUpload => "CompleteMultipartUpload",
            Operation::AbortMultipartUpload => "AbortMultipartUpload",
            Operation::ListParts => "ListParts",
        }
    }

    /// The operation with this API name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.name() == name)
    }

    /// True when the body is an object's bytes, streamed to storage rather than buffered.
    pub fn streams_body(self) -> bool {
        matches!(self, Operation::PutObject | Operation::UploadPart)
    }
}

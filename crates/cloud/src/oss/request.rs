//! One builder per REST call (DESIGN habit 8): method, key, query and headers exactly as
//! `research/oss-protocol.md` §1.2 describes, before signing. Pure and unit-tested; the client
//! adds dates, signs and sends.
//!
//! Local validation lives here too: a request OSS would refuse for a reason we can see in
//! advance (an unsorted part list, a part number out of range) never leaves the machine.

use std::ops::Range;

use bytes::Bytes;
use reqwest::Method;

use super::error::{Operation, OssError, Target};
use super::types::CompletedPart;
use super::xml;
use crate::checksum::content_md5;
use crate::http::Idempotency;

/// Part numbers OSS accepts (§1.3).
pub const PART_NUMBERS: std::ops::RangeInclusive<u32> = 1..=10_000;
/// Longest object key in bytes (§1.3).
pub const MAX_KEY_BYTES: usize = 1023;
/// ListParts `max-parts` / ListMultipartUploads `max-uploads`: the maximum page (§1.3).
pub const MAX_PAGE: u32 = 1000;
/// The content type we give objects: `.bak` files would otherwise be guessed oddly (§1.1).
pub const OBJECT_CONTENT_TYPE: &str = "application/octet-stream";

/// A request before dates and signature.
#[derive(Debug, Clone)]
pub struct OssRequest {
    /// The REST call.
    pub operation: Operation,
    /// HTTP method.
    pub method: Method,
    /// What it addresses (bucket, key, upload id, part).
    pub target: Target,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    /// Headers besides date, security token and authorization.
    pub headers: Vec<(String, String)>,
    /// A body the client can resend on retry (empty for most calls).
    pub body: Bytes,
    /// Whether the call may be repeated after a timeout.
    pub idempotency: Idempotency,
}

impl OssRequest {
    fn new(operation: Operation, method: Method, target: Target) -> Self {
        let idempotency = match operation {
            // A repeated Initiate creates a second upload id; a repeated Complete may answer
            // NoSuchUpload for an upload that in fact completed (§1.2): neither is repeated
            // after a timeout.
            Operation::InitiateMultipartUpload | Operation::CompleteMultipartUpload => {
                Idempotency::NonIdempotent
            }
            _ => Idempotency::Idempotent,
        };
        OssRequest {
            operation,
            method,
            target,
            query: Vec::new(),
            headers: Vec::new(),
            body: Bytes::new(),
            idempotency,
        }
    }

    fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_owned(), value.into()));
        self
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    fn refuse(&self, reason: impl Into<String>) -> OssError {
        OssError::InvalidRequest {
            operation: self.operation,
            target: Box::new(self.target.clone()),
            reason: reason.into(),
        }
    }
}

fn object(bucket: &str, key: &str) -> Target {
    Target {
        bucket: bucket.to_owned(),
        key: Some(key.to_owned()),
        upload_id: None,
        part_number: None,
    }
}

fn upload(bucket: &str, key: &str, upload_id: &str) -> Target {
    Target {
        upload_id: Some(upload_id.to_owned()),
        ..object(bucket, key)
    }
}

/// Keys are 1..=1023 bytes of UTF-8 and must not start with `/` or `\` (§1.3).
fn check_key(request: OssRequest) -> Result<OssRequest, OssError> {
    let key = request.target.key.as_deref().unwrap_or("");
    if key.is_empty() || key.len() > MAX_KEY_BYTES || key.starts_with('/') || key.starts_with('\\')
    {
        return Err(request
            .refuse("object keys must be 1 to 1023 bytes and must not start with '/' or '\\'"));
    }
    Ok(request)
}

fn check_upload_id(request: OssRequest) -> Result<OssRequest, OssError> {
    if request.target.upload_id.as_deref().unwrap_or("").is_empty() {
        return Err(request.refuse("the upload id is empty"));
    }
    check_key(request)
}

/// `PUT /<key>` with the whole object in memory; `content_md5` is base64 of the MD5.
pub fn put_object(
    bucket: &str,
    key: &str,
    body: Bytes,
    content_md5: Option<&str>,
) -> Result<OssRequest, OssError> {
    let mut request = OssRequest::new(Operation::PutObject, Method::PUT, object(bucket, key))
        .header("Content-Type", OBJECT_CONTENT_TYPE);
    if let Some(md5) = content_md5 {
        request = request.header("Content-MD5", md5);
    }
    request.body = body;
    check_key(request)
}

/// `HEAD /<key>`.
pub fn head_object(bucket: &str, key: &str) -> Result<OssRequest, OssError> {
    check_key(OssRequest::new(
        Operation::HeadObject,
        Method::HEAD,
        object(bucket, key),
    ))
}

/// `GET /<key>`, optionally a byte range (end exclusive) sent as `Range: bytes=a-b`.
pub fn get_object(
    bucket: &str,
    key: &str,
    range: Option<Range<u64>>,
) -> Result<OssRequest, OssError> {
    let mut request = OssRequest::new(Operation::GetObject, Method::GET, object(bucket, key));
    if let Some(range) = range {
        let Some(last) = range.end.checked_sub(1).filter(|last| *last >= range.start) else {
            return Err(request.refuse(format!("empty byte range {range:?}")));
        };
        request = request.header("Range", format!("bytes={}-{last}", range.start));
    }
    check_key(request)
}

/// `POST /<key>?uploads`.
pub fn initiate_multipart_upload(bucket: &str, key: &str) -> Result<OssRequest, OssError> {
    check_key(
        OssRequest::new(
            Operation::InitiateMultipartUpload,
            Method::POST,
            object(bucket, key),
        )
        .query("uploads", "")
        .header("Content-Type", OBJECT_CONTENT_TYPE),
    )
}

/// `PUT /<key>?partNumber=N&uploadId=ID`; the body is supplied when sending. `Content-Length`
/// is required by OSS (§1.2) and lets the body be a stream without chunked encoding.
pub fn upload_part(
    bucket: &str,
    key: &str,
    upload_id: &str,
    part_number: u32,
    content_length: u64,
    content_md5: Option<&str>,
) -> Result<OssRequest, OssError> {
    let target = Target {
        part_number: Some(part_number),
        ..upload(bucket, key, upload_id)
    };
    let mut request = OssRequest::new(Operation::UploadPart, Method::PUT, target)
        .query("partNumber", part_number.to_string())
        .query("uploadId", upload_id)
        .header("Content-Length", content_length.to_string());
    if let Some(md5) = content_md5 {
        request = request.header("Content-MD5", md5);
    }
    if !PART_NUMBERS.contains(&part_number) {
        return Err(request.refuse(format!("part number {part_number} is outside 1..=10000")));
    }
    check_upload_id(request)
}

/// `POST /<key>?uploadId=ID` with the part list. Refuses locally an empty list, numbers out of
/// range and a list that is not strictly ascending (OSS would answer `InvalidPartOrder`).
pub fn complete_multipart_upload(
    bucket: &str,
    key: &str,
    upload_id: &str,
    parts: &[CompletedPart],
) -> Result<OssRequest, OssError> {
    let mut request = OssRequest::new(
        Operation::CompleteMultipartUpload,
        Method::POST,
        upload(bucket, key, upload_id),
    )
    .query("uploadId", upload_id);
    if parts.is_empty() {
        return Err(request.refuse("the part list is empty"));
    }
    if let Some(bad) = parts
        .iter()
        .find(|p| !PART_NUMBERS.contains(&p.part_number))
    {
        return Err(request.refuse(format!(
            "part number {} is outside 1..=10000",
            bad.part_number
        )));
    }
    let out_of_order = parts.windows(2).find_map(|pair| match pair {
        [a, b] if a.part_number >= b.part_number => Some((a.part_number, b.part_number)),
        _ => None,
    });
    if let Some((first, second)) = out_of_order {
        return Err(request.refuse(format!(
            "parts must be strictly ascending, found {first} before {second}"
        )));
    }
    let body =
        xml::complete_multipart_upload_body(parts.iter().map(|p| (p.part_number, p.etag.as_str())));
    request = request
        .header("Content-Type", "application/xml")
        .header("Content-MD5", content_md5(body.as_bytes()));
    request.body = Bytes::from(body);
    check_upload_id(request)
}

/// `DELETE /<key>?uploadId=ID`.
pub fn abort_multipart_upload(
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<OssRequest, OssError> {
    check_upload_id(
        OssRequest::new(
            Operation::AbortMultipartUpload,
            Method::DELETE,
            upload(bucket, key, upload_id),
        )
        .query("uploadId", upload_id),
    )
}

/// `DELETE /<key>`: removes an object (deleting a missing one succeeds, §1.2).
pub fn delete_object(bucket: &str, key: &str) -> Result<OssRequest, OssError> {
    check_key(OssRequest::new(
        Operation::DeleteObject,
        Method::DELETE,
        object(bucket, key),
    ))
}

/// One page of `GET /<key>?uploadId=ID&max-parts=1000&part-number-marker=M`.
pub fn list_parts(
    bucket: &str,
    key: &str,
    upload_id: &str,
    part_number_marker: u32,
) -> Result<OssRequest, OssError> {
    check_upload_id(
        OssRequest::new(
            Operation::ListParts,
            Method::GET,
            upload(bucket, key, upload_id),
        )
        .query("uploadId", upload_id)
        .query("max-parts", MAX_PAGE.to_string())
        .query("part-number-marker", part_number_marker.to_string()),
    )
}

/// One page of `GET /?uploads&prefix=P&max-uploads=1000[&key-marker&upload-id-marker]`.
pub fn list_multipart_uploads(
    bucket: &str,
    prefix: Option<&str>,
    markers: Option<(&str, &str)>,
) -> OssRequest {
    let target = Target {
        bucket: bucket.to_owned(),
        key: prefix.map(str::to_owned),
        upload_id: None,
        part_number: None,
    };
    let mut request = OssRequest::new(Operation::ListMultipartUploads, Method::GET, target)
        .query("uploads", "")
        .query("max-uploads", MAX_PAGE.to_string());
    // The target's key holds the prefix only for messages; the request is bucket-level.
    if let Some(prefix) = prefix {
        request = request.query("prefix", prefix);
    }
    if let Some((key_marker, upload_id_marker)) = markers {
        request = request
            .query("key-marker", key_marker)
            .query("upload-id-marker", upload_id_marker);
    }
    request
}

/// `GET /?bucketInfo`.
pub fn get_bucket_info(bucket: &str) -> OssRequest {
    let target = Target {
        bucket: bucket.to_owned(),
        key: None,
        upload_id: None,
        part_number: None,
    };
    OssRequest::new(Operation::GetBucketInfo, Method::GET, target).query("bucketInfo", "")
}

impl OssRequest {
    /// The object key the URL addresses (`None` for bucket-level calls).
    pub fn url_key(&self) -> Option<&str> {
        match self.operation {
            Operation::ListMultipartUploads | Operation::GetBucketInfo => None,
            _ => self.target.key.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(numbers: &[u32]) -> Vec<CompletedPart> {
        numbers
            .iter()
            .map(|&n| CompletedPart {
                part_number: n,
                etag: format!("\"E{n}\""),
            })
            .collect()
    }

    #[test]
    fn upload_part_shape() {
        let request = upload_part("b", "k.bak", "UP", 7, 102400, Some("md5==")).unwrap();
        assert_eq!(request.method, Method::PUT);
        assert_eq!(
            request.query,
            [
                ("partNumber".into(), "7".into()),
                ("uploadId".into(), "UP".into())
            ]
        );
        assert!(
            request
                .headers
                .contains(&("Content-Length".into(), "102400".into()))
        );
        assert!(
            request
                .headers
                .contains(&("Content-MD5".into(), "md5==".into()))
        );
        assert_eq!(
            request.target.to_string(),
            "oss://b/k.bak part 7 (upload UP)"
        );
    }

    #[test]
    fn part_numbers_out_of_range_are_refused() {
        for n in [0, 10_001] {
            let error = upload_part("b", "k", "UP", n, 1, None).unwrap_err();
            assert!(error.to_string().contains("1..=10000"), "{error}");
        }
        assert!(upload_part("b", "k", "UP", 10_000, 1, None).is_ok());
    }

    #[test]
    fn complete_refuses_bad_lists_locally() {
        for (list, needle) in [
            (parts(&[]), "empty"),
            (parts(&[1, 3, 2]), "ascending"),
            (parts(&[1, 1]), "ascending"),
            (parts(&[0, 1]), "outside"),
        ] {
            let error = complete_multipart_upload("b", "k", "UP", &list).unwrap_err();
            assert!(error.to_string().contains(needle), "{error}");
            assert!(!error.is_retryable());
        }
    }

    #[test]
    fn complete_body_and_md5() {
        let request = complete_multipart_upload("b", "k", "UP", &parts(&[1, 2, 5])).unwrap();
        let body = std::str::from_utf8(&request.body).unwrap();
        assert!(body.contains(
            "<Part><PartNumber>1</PartNumber><ETag>\"E1\"</ETag></Part>\
             <Part><PartNumber>2</PartNumber>"
        ));
        let md5 = content_md5(&request.body);
        assert!(request.headers.contains(&("Content-MD5".into(), md5)));
        assert_eq!(request.idempotency, Idempotency::NonIdempotent);
    }

    #[test]
    fn keys_are_checked() {
        assert!(head_object("b", "").is_err());
        assert!(head_object("b", "/abs").is_err());
        assert!(head_object("b", &"k".repeat(1024)).is_err());
        assert!(head_object("b", &"k".repeat(1023)).is_ok());
    }

    #[test]
    fn ranges() {
        let request = get_object("b", "k", Some(10..20)).unwrap();
        assert!(
            request
                .headers
                .contains(&("Range".into(), "bytes=10-19".into()))
        );
        assert!(get_object("b", "k", Some(5..5)).is_err());
    }

    #[test]
    fn bucket_level_calls_have_no_key_in_the_url() {
        let request = list_multipart_uploads("b", Some("backups/"), None);
        assert_eq!(request.url_key(), None);
        assert!(
            request
                .query
                .contains(&("prefix".into(), "backups/".into()))
        );
        assert_eq!(get_bucket_info("b").url_key(), None);
    }
}

//! CopyObject (`PUT /key` with `x-oss-copy-source`, alibabacloud.com/help/doc-detail/31979.html)
//! and UploadPartCopy (the same header on UploadPart, doc-detail/31994.html).
//!
//! A copy never writes the destination before the source is found and every condition holds:
//! a missing source is `NoSuchKey` and the destination is left as it was. CopyObject shares the
//! source's stored bytes (no second copy, so a same-bucket copy of any size is instant, as on
//! OSS); UploadPartCopy copies its range into a part of its own.

use std::ops::Range;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Response, StatusCode};
use bak2rds_cloud::oss::sign::parse_http_date;
use futures::StreamExt as _;
use percent_encoding::percent_decode_str;
use time::OffsetDateTime;

use super::{
    Failure, OssRequest, body_etag, file_already_exists, forbids_overwrite, lookup_upload,
    object_meta, part_number, quoted, record_part, xml_with_etag,
};
use crate::EmulatorState;
use crate::classify::{COPY_SOURCE, COPY_SOURCE_RANGE};
use crate::error::OssError;
use crate::store::{Object, Part, Received};
use crate::xml;

/// Largest object CopyObject copies between two buckets: 1 GB (doc-detail/31994.html, usage
/// notes: "use UploadPartCopy to copy a file larger than 1 GB"; doc-detail/118923.html: "copy
/// an object that is up to 1 GB in size from a source bucket to a destination bucket"). Within
/// one bucket there is no limit (doc-detail/31979.html, Limits). Larger objects are copied part
/// by part.
const MAX_CROSS_BUCKET_COPY: u64 = 1024 * 1024 * 1024;
/// Largest range one UploadPartCopy copies: a part's own limit (§1.3: 5 GB).
const MAX_PART_COPY: u64 = 5 * 1024 * 1024 * 1024;

/// `x-oss-copy-source: /bucket/url-encoded-key`.
#[derive(Debug, PartialEq)]
struct CopySource {
    bucket: String,
    key: String,
}

fn parse_copy_source(value: &str) -> Result<CopySource, OssError> {
    let invalid = || {
        OssError::invalid_argument(
            "Copy Source must mention the source bucket and key: /sourcebucket/sourcekey.",
            COPY_SOURCE,
            value,
        )
    };
    let (path, version) = value.split_once('?').unwrap_or((value, ""));
    if !version.is_empty() {
        // `?versionId=` names a version; the emulator keeps none.
        return Err(OssError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "The emulator does not implement copying an object version.",
        ));
    }
    let decoded = percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| invalid())?;
    let (bucket, key) = decoded
        .strip_prefix('/')
        .and_then(|rest| rest.split_once('/'))
        .filter(|(bucket, key)| !bucket.is_empty() && !key.is_empty())
        .ok_or_else(invalid)?;
    Ok(CopySource {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
    })
}

/// How a failed `if-none-match` or `if-modified-since` answers: CopyObject says 304 Not
/// Modified (doc-detail/31979.html), UploadPartCopy 412 like the other two conditions
/// (doc-detail/31994.html).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unmodified {
    NotModified,
    PreconditionFailed,
}

/// The source object, after its bucket, its key and the `x-oss-copy-source-if-*` conditions.
fn source_object(
    state: &EmulatorState,
    request: &OssRequest,
    unmodified: Unmodified,
) -> Result<(CopySource, Object), Failure> {
    let source = parse_copy_source(request.header(COPY_SOURCE).unwrap_or_default())?;
    let object = {
        let mut catalog = state.storage.catalog();
        catalog.bucket(&request.bucket)?;
        let bucket = catalog.bucket(&source.bucket)?;
        bucket
            .objects
            .get(&source.key)
            .cloned()
            .ok_or_else(|| OssError::no_such_key(&source.key))?
    };
    check_conditions(request, &object, unmodified)?;
    Ok((source, object))
}

/// The copy conditions (doc-detail/31979.html, request headers): a failed `if-match` or
/// `if-unmodified-since` is 412; a failed `if-none-match` or `if-modified-since` is 304 for
/// CopyObject and 412 for UploadPartCopy.
fn check_conditions(
    request: &OssRequest,
    object: &Object,
    unmodified: Unmodified,
) -> Result<(), OssError> {
    let etag_matches = |value: &str| {
        value.split(',').any(|tag| {
            tag.trim()
                .trim_matches('"')
                .eq_ignore_ascii_case(&object.etag)
        })
    };
    let date = |name: &str| request.header(name).and_then(parse_http_date);
    // `Last-Modified` and the condition dates have whole seconds: compare at that resolution.
    let modified = object
        .last_modified
        .replace_nanosecond(0)
        .unwrap_or(object.last_modified);
    let failed = |status| {
        let (code, message) = if status == StatusCode::PRECONDITION_FAILED {
            (
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold.",
            )
        } else {
            ("NotModified", "The source object was not modified.")
        };
        OssError::new(status, code, message)
    };
    if let Some(value) = request.header("x-oss-copy-source-if-match")
        && !etag_matches(value)
    {
        return Err(failed(StatusCode::PRECONDITION_FAILED));
    }
    let not_modified = match unmodified {
        Unmodified::NotModified => StatusCode::NOT_MODIFIED,
        Unmodified::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
    };
    if let Some(value) = request.header("x-oss-copy-source-if-none-match")
        && etag_matches(value)
    {
        return Err(failed(not_modified));
    }
    if let Some(since) = date("x-oss-copy-source-if-unmodified-since")
        && modified > since
    {
        return Err(failed(StatusCode::PRECONDITION_FAILED));
    }
    if let Some(since) = date("x-oss-copy-source-if-modified-since")
        && modified <= since
    {
        return Err(failed(not_modified));
    }
    Ok(())
}

/// `x-oss-metadata-directive`: `COPY` (default) keeps the source's content type and user
/// metadata, `REPLACE` takes the request's.
fn replaces_metadata(request: &OssRequest) -> Result<bool, OssError> {
    match request.header("x-oss-metadata-directive") {
        None => Ok(false),
        Some(value) if value.eq_ignore_ascii_case("COPY") => Ok(false),
        Some(value) if value.eq_ignore_ascii_case("REPLACE") => Ok(true),
        Some(value) => Err(OssError::invalid_argument(
            "The metadata directive must be COPY or REPLACE.",
            "x-oss-metadata-directive",
            value,
        )),
    }
}

pub(super) async fn copy_object(
    state: &Arc<EmulatorState>,
    request: &OssRequest,
) -> Result<Response<Body>, Failure> {
    let replace = replaces_metadata(request)?;
    let (source, mut object) = source_object(state, request, Unmodified::NotModified)?;
    if source.bucket != request.bucket && object.len > MAX_CROSS_BUCKET_COPY {
        return Err(OssError::new(
            StatusCode::BAD_REQUEST,
            "EntityTooLarge",
            "A copy between buckets is limited to 1 GB; copy larger objects with UploadPartCopy.",
        )
        .with("MaxSizeAllowed", MAX_CROSS_BUCKET_COPY.to_string())
        .into());
    }
    if replace {
        object.meta = object_meta(&request.headers);
    }
    object.last_modified = OffsetDateTime::now_utc();
    let (etag, crc, modified) = (object.etag.clone(), object.crc, object.last_modified);
    {
        let mut catalog = state.storage.catalog();
        let bucket = catalog.bucket(&request.bucket)?;
        if forbids_overwrite(request) && bucket.objects.contains_key(&request.key) {
            return Err(file_already_exists().into());
        }
        state
            .storage
            .insert_object(bucket, &request.key, object)
            .map_err(|err| OssError::storage("writing the object manifest", &err))?;
    }
    let body = xml::to_body(&xml::CopyObjectResult {
        etag: quoted(&etag),
        last_modified: xml::iso8601(modified),
    })?;
    xml_with_etag(body, &etag, crc)
}

pub(super) async fn upload_part_copy(
    state: &Arc<EmulatorState>,
    request: &OssRequest,
) -> Result<Response<Body>, Failure> {
    let number = part_number(request)?;
    let upload_id = request.query.get("uploadId").unwrap_or_default().to_owned();
    lookup_upload(state, request, &upload_id)?;
    let (_, source) = source_object(state, request, Unmodified::PreconditionFailed)?;
    let range = copy_range(request.header(COPY_SOURCE_RANGE), source.len)?;
    let received = copy_bytes(state, &source, range).await?;
    let etag = body_etag(state, &received);
    let modified = OffsetDateTime::now_utc();
    let part = Part {
        blob: Arc::clone(&received.blob),
        etag: etag.clone(),
        last_modified: modified,
    };
    record_part(state, request, &upload_id, number, part)?;
    let body = xml::to_body(&xml::CopyPartResult {
        last_modified: xml::iso8601(modified),
        etag: quoted(&etag),
    })?;
    xml_with_etag(body, &etag, received.blob.crc())
}

/// `x-oss-copy-source-range: bytes=first-last` (inclusive, within the source), or the whole
/// source; at most [`MAX_PART_COPY`] bytes.
fn copy_range(value: Option<&str>, len: u64) -> Result<Range<u64>, OssError> {
    let range = match value {
        None => 0..len,
        Some(value) => {
            let invalid = || {
                OssError::invalid_argument("Invalid copy source range.", COPY_SOURCE_RANGE, value)
            };
            let (first, last) = value
                .trim()
                .strip_prefix("bytes=")
                .and_then(|r| r.split_once('-'))
                .ok_or_else(invalid)?;
            let first: u64 = first.trim().parse().map_err(|_| invalid())?;
            let last: u64 = last.trim().parse().map_err(|_| invalid())?;
            if first > last || last >= len {
                return Err(invalid());
            }
            first..last + 1
        }
    };
    if range.end - range.start > MAX_PART_COPY {
        return Err(OssError::new(
            StatusCode::BAD_REQUEST,
            "EntityTooLarge",
            "The copy source range is larger than a part may be.",
        )
        .with("MaxSizeAllowed", MAX_PART_COPY.to_string()));
    }
    Ok(range)
}

/// Copies `range` of `source` into a new blob, with its CRC-64 and MD5.
async fn copy_bytes(
    state: &EmulatorState,
    source: &Object,
    range: Range<u64>,
) -> Result<Received, OssError> {
    let mut writer = state
        .storage
        .blob_writer(true, false)
        .map_err(|err| OssError::storage("creating a part file", &err))?;
    let mut chunks = std::pin::pin!(source.reader().stream(range));
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|err| OssError::storage("reading the copy source", &err))?;
        writer
            .push(chunk)
            .await
            .map_err(|err| OssError::storage("writing a part file", &err))?;
    }
    writer
        .finish()
        .await
        .map_err(|err| OssError::storage("writing a part file", &err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_name_a_bucket_and_an_encoded_key() {
        assert_eq!(
            parse_copy_source("/b/dir/a%20b%2Bc.bak").unwrap(),
            CopySource {
                bucket: "b".into(),
                key: "dir/a b+c.bak".into()
            }
        );
        for bad in ["", "/", "/b", "/b/", "b/k", "//k"] {
            assert_eq!(
                parse_copy_source(bad).unwrap_err().code,
                "InvalidArgument",
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_copy_source("/b/k?versionId=v1").unwrap_err().code,
            "NotImplemented"
        );
    }

    #[test]
    fn copy_ranges_are_inclusive_and_inside_the_source() {
        assert_eq!(copy_range(None, 10).unwrap(), 0..10);
        assert_eq!(copy_range(Some("bytes=0-9"), 10).unwrap(), 0..10);
        assert_eq!(copy_range(Some("bytes=3-3"), 10).unwrap(), 3..4);
        for bad in ["bytes=0-10", "bytes=5-4", "bytes=-3", "0-3", "bytes=a-b"] {
            assert_eq!(
                copy_range(Some(bad), 10).unwrap_err().code,
                "InvalidArgument",
                "{bad}"
            );
        }
    }
}

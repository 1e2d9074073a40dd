//! The XML bodies the emulator reads and writes, shaped as `oss-protocol.md` §1.2 shows them
//! (with every element §6.4 says the official SDKs insist on).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::error::OssError;

/// The XML declaration OSS puts before every body.
const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Serialises a body with its declaration. The types here always serialise; an error would be a
/// bug, reported as `InternalError` rather than a panic.
pub fn to_body(value: &impl Serialize) -> Result<String, OssError> {
    let xml = quick_xml::se::to_string(value)
        .map_err(|err| OssError::internal(format!("serialising a response: {err}")))?;
    Ok(format!("{DECLARATION}{xml}"))
}

/// ISO-8601 as OSS writes `LastModified`/`Initiated`/`CreationDate`: whole seconds and a
/// literal `.000Z` — oss2 parses these with the fixed pattern `%Y-%m-%dT%H:%M:%S.000Z`.
pub fn iso8601(at: OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].000Z");
    at.format(&format).unwrap_or_default()
}

/// Characters `encoding-type=url` leaves alone: RFC 3986 unreserved plus `/`.
const KEY_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Encodes a key when the request asked for `encoding-type=url` (§1.1).
pub fn encode_key(key: &str, url_encoding: bool) -> String {
    if url_encoding {
        utf8_percent_encode(key, KEY_KEEP).to_string()
    } else {
        key.to_owned()
    }
}

/// `<Error>` body (§1.6); `extra` elements follow `HostId`.
pub fn error_body(err: &OssError, request_id: &str, host_id: &str) -> String {
    let mut xml = String::from(DECLARATION);
    xml.push_str("<Error>\n");
    let mut element = |name: &str, value: &str| {
        xml.push_str("  <");
        xml.push_str(name);
        xml.push('>');
        xml.push_str(&quick_xml::escape::escape(value));
        xml.push_str("</");
        xml.push_str(name);
        xml.push_str(">\n");
    };
    element("Code", &err.code);
    element("Message", &err.message);
    element("RequestId", request_id);
    element("HostId", host_id);
    if let Some(ec) = err.ec {
        element("EC", ec);
    }
    for (name, value) in &err.extra {
        element(name, value);
    }
    xml.push_str("</Error>\n");
    xml
}

/// `InitiateMultipartUploadResult`.
#[derive(Debug, Serialize)]
#[serde(rename = "InitiateMultipartUploadResult", rename_all = "PascalCase")]
pub struct InitiateResult {
    /// `url` when the request asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<&'static str>,
    /// Bucket name.
    pub bucket: String,
    /// Key (encoded when asked).
    pub key: String,
    /// The new upload ID.
    pub upload_id: String,
}

/// `CompleteMultipartUploadResult`.
#[derive(Debug, Serialize)]
#[serde(rename = "CompleteMultipartUploadResult", rename_all = "PascalCase")]
pub struct CompleteResult {
    /// `url` when the request asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<&'static str>,
    /// URL of the object.
    pub location: String,
    /// Bucket name.
    pub bucket: String,
    /// Key (encoded when asked).
    pub key: String,
    /// Quoted ETag.
    #[serde(rename = "ETag")]
    pub etag: String,
}

/// `ListPartsResult`.
#[derive(Debug, Serialize)]
#[serde(rename = "ListPartsResult", rename_all = "PascalCase")]
pub struct ListPartsResult {
    /// `url` when the request asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<&'static str>,
    /// Bucket name.
    pub bucket: String,
    /// Key (encoded when asked).
    pub key: String,
    /// The upload ID.
    pub upload_id: String,
    /// Storage class of the bucket.
    pub storage_class: String,
    /// The marker the request gave (0 when none).
    pub part_number_marker: u32,
    /// Where the next page starts; oss2 requires it (§1.2 ListParts).
    pub next_part_number_marker: u32,
    /// Page size.
    pub max_parts: u32,
    /// More pages follow.
    pub is_truncated: bool,
    /// The parts of this page.
    #[serde(rename = "Part")]
    pub parts: Vec<ListedPart>,
}

/// One `<Part>` of ListParts.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListedPart {
    /// Part number.
    pub part_number: u32,
    /// ISO-8601 time.
    pub last_modified: String,
    /// Quoted ETag.
    #[serde(rename = "ETag")]
    pub etag: String,
    /// Decimal CRC-64; the v2 SDK's resumed uploads need it (§5.2, §6.4).
    pub hash_crc64ecma: u64,
    /// Size in bytes.
    pub size: u64,
}

/// `ListMultipartUploadsResult`.
#[derive(Debug, Serialize)]
#[serde(rename = "ListMultipartUploadsResult", rename_all = "PascalCase")]
pub struct ListUploadsResult {
    /// `url` when the request asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<&'static str>,
    /// Bucket name.
    pub bucket: String,
    /// Key marker given.
    pub key_marker: String,
    /// Upload ID marker given.
    pub upload_id_marker: String,
    /// Next key marker (empty when not truncated).
    pub next_key_marker: String,
    /// Next upload ID marker (empty when not truncated).
    pub next_upload_id_marker: String,
    /// Delimiter given.
    pub delimiter: String,
    /// Prefix given.
    pub prefix: String,
    /// Page size.
    pub max_uploads: u32,
    /// More pages follow.
    pub is_truncated: bool,
    /// Uploads in (key, upload ID) order.
    #[serde(rename = "Upload")]
    pub uploads: Vec<ListedUpload>,
    /// Common prefixes under the delimiter.
    #[serde(rename = "CommonPrefixes")]
    pub common_prefixes: Vec<CommonPrefix>,
}

/// One `<Upload>`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListedUpload {
    /// Key (encoded when asked).
    pub key: String,
    /// Upload ID.
    pub upload_id: String,
    /// ISO-8601 time.
    pub initiated: String,
}

/// One `<CommonPrefixes>`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CommonPrefix {
    /// The prefix up to and including the delimiter.
    pub prefix: String,
}

/// `ListBucketResult` of ListObjects (V1).
#[derive(Debug, Serialize)]
#[serde(rename = "ListBucketResult", rename_all = "PascalCase")]
pub struct ListObjectsResult {
    /// `url` when the request asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<&'static str>,
    /// Bucket name.
    pub name: String,
    /// Prefix given.
    pub prefix: String,
    /// Marker given.
    pub marker: String,
    /// Where the next page starts (empty when not truncated).
    pub next_marker: String,
    /// Page size.
    pub max_keys: u32,
    /// Delimiter given.
    pub delimiter: String,
    /// More pages follow.
    pub is_truncated: bool,
    /// The objects of this page.
    #[serde(rename = "Contents")]
    pub contents: Vec<ListedObject>,
    /// The keys rolled up by the delimiter, one element per prefix.
    #[serde(rename = "CommonPrefixes")]
    pub common_prefixes: Vec<CommonPrefix>,
}

/// `ListBucketResult` of ListObjectsV2 (`GET /?list-type=2`): continuation tokens instead of
/// markers, and `KeyCount` (help.aliyun.com/en/oss/developer-reference/listobjectsv2).
#[derive(Debug, Serialize)]
#[serde(rename = "ListBucketResult", rename_all = "PascalCase")]
pub struct ListObjectsV2Result {
    /// Bucket name.
    pub name: String,
    /// Prefix given.
    pub prefix: String,
    /// `start-after` given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_after: Option<String>,
    /// `continuation-token` given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    /// Page size.
    pub max_keys: u32,
    /// Delimiter given.
    pub delimiter: String,
    /// `url` when the request asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<&'static str>,
    /// More pages follow.
    pub is_truncated: bool,
    /// Keys plus common prefixes on this page.
    pub key_count: usize,
    /// The token of the next page, when truncated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_continuation_token: Option<String>,
    /// The objects of this page.
    #[serde(rename = "Contents")]
    pub contents: Vec<ListedObject>,
    /// The keys rolled up by the delimiter.
    #[serde(rename = "CommonPrefixes")]
    pub common_prefixes: Vec<CommonPrefix>,
}

/// One `<Contents>` of ListObjects.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListedObject {
    /// Key (encoded when asked).
    pub key: String,
    /// ISO-8601 time.
    pub last_modified: String,
    /// Quoted ETag.
    #[serde(rename = "ETag")]
    pub etag: String,
    /// `Normal` or `Multipart`.
    #[serde(rename = "Type")]
    pub object_type: &'static str,
    /// Size in bytes.
    pub size: u64,
    /// Storage class.
    pub storage_class: String,
    /// The bucket owner: always in ListObjects, in ListObjectsV2 only with `fetch-owner=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
}

/// `CopyObjectResult` (alibabacloud.com/help/doc-detail/31979.html).
#[derive(Debug, Serialize)]
#[serde(rename = "CopyObjectResult", rename_all = "PascalCase")]
pub struct CopyObjectResult {
    /// Quoted ETag of the new object.
    #[serde(rename = "ETag")]
    pub etag: String,
    /// ISO-8601 time.
    pub last_modified: String,
}

/// `CopyPartResult` of UploadPartCopy (alibabacloud.com/help/doc-detail/31994.html).
#[derive(Debug, Serialize)]
#[serde(rename = "CopyPartResult", rename_all = "PascalCase")]
pub struct CopyPartResult {
    /// ISO-8601 time.
    pub last_modified: String,
    /// Quoted ETag of the part.
    #[serde(rename = "ETag")]
    pub etag: String,
}

/// `DeleteResult` of DeleteMultipleObjects (alibabacloud.com/help/doc-detail/31983.html).
#[derive(Debug, Serialize)]
#[serde(rename = "DeleteResult", rename_all = "PascalCase")]
pub struct DeleteResult {
    /// `url` when the request asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<&'static str>,
    /// Every deleted key in verbose mode; none in quiet mode.
    #[serde(rename = "Deleted")]
    pub deleted: Vec<DeletedKey>,
}

/// One `<Deleted>`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeletedKey {
    /// Key (encoded when asked).
    pub key: String,
}

/// The body of DeleteMultipleObjects.
#[derive(Debug, Deserialize)]
pub struct DeleteRequest {
    /// `true` for quiet mode.
    #[serde(rename = "Quiet", default)]
    pub quiet: Option<String>,
    /// The objects to delete.
    #[serde(rename = "Object", default)]
    pub objects: Vec<DeleteObject>,
}

/// One `<Object>` of the DeleteMultipleObjects body.
#[derive(Debug, Deserialize)]
pub struct DeleteObject {
    /// The key.
    #[serde(rename = "Key")]
    pub key: String,
    /// A version, which the emulator (no versioning) does not support.
    #[serde(rename = "VersionId", default)]
    pub version_id: Option<String>,
}

/// `BucketInfo` with every element oss2 requires (§1.2 GetBucketInfo).
#[derive(Debug, Serialize)]
#[serde(rename = "BucketInfo")]
pub struct BucketInfo {
    /// The bucket.
    #[serde(rename = "Bucket")]
    pub bucket: BucketInfoBody,
}

/// The `<Bucket>` element of GetBucketInfo.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketInfoBody {
    /// Always `Disabled` here.
    pub access_monitor: &'static str,
    /// ISO-8601 time.
    pub creation_date: String,
    /// Public endpoint host.
    pub extranet_endpoint: String,
    /// Internal endpoint host.
    pub intranet_endpoint: String,
    /// `oss-<region>`.
    pub location: String,
    /// Storage class.
    pub storage_class: String,
    /// Always `Disabled`.
    pub transfer_acceleration: &'static str,
    /// Always `Disabled`.
    pub cross_region_replication: &'static str,
    /// Always `LRS`.
    pub data_redundancy_type: &'static str,
    /// Bucket name.
    pub name: String,
    /// Owner.
    pub owner: Owner,
    /// ACL.
    pub access_control_list: AccessControlList,
    /// Encryption rule.
    pub server_side_encryption_rule: SseRule,
    /// Always `Disabled`.
    pub versioning: &'static str,
}

/// `<Owner>`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Owner {
    /// Display name.
    pub display_name: String,
    /// Owner ID.
    #[serde(rename = "ID")]
    pub id: String,
}

impl Owner {
    /// The one account that owns every bucket of the emulator.
    pub fn emulator() -> Self {
        Owner {
            display_name: "bak2rds-emulator".to_owned(),
            id: "1000000000000000".to_owned(),
        }
    }
}

/// `<AccessControlList>`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessControlList {
    /// `private`.
    pub grant: &'static str,
}

/// `<ServerSideEncryptionRule>`.
#[derive(Debug, Serialize)]
pub struct SseRule {
    /// `AES256` or `None` (oss2 maps `None` to no encryption).
    #[serde(rename = "SSEAlgorithm")]
    pub sse_algorithm: &'static str,
}

/// The body of CompleteMultipartUpload.
#[derive(Debug, Deserialize)]
pub struct CompleteRequest {
    /// Listed parts, in the order sent.
    #[serde(rename = "Part", default)]
    pub parts: Vec<CompletePart>,
}

/// One listed part (kept as text: a bad number is `InvalidPart`/`MalformedXML`, not a parse
/// error of the whole body).
#[derive(Debug, Deserialize)]
pub struct CompletePart {
    /// Part number as sent.
    #[serde(rename = "PartNumber")]
    pub part_number: String,
    /// ETag as sent (with or without quotes).
    #[serde(rename = "ETag")]
    pub etag: String,
}

/// Parses a Complete body; anything unreadable is `MalformedXML`, and so is a body with a
/// document type declaration: no SDK sends one, and an internal DTD is where entity-expansion
/// attacks start (quick-xml does not expand them; refusing keeps that true whatever it does).
pub fn parse_complete(body: &[u8]) -> Result<CompleteRequest, OssError> {
    parse_request(body)
}

/// Parses a DeleteMultipleObjects body, by the same rules as [`parse_complete`].
pub fn parse_delete(body: &[u8]) -> Result<DeleteRequest, OssError> {
    parse_request(body)
}

fn parse_request<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, OssError> {
    const DOCTYPE: &[u8] = b"<!doctype";
    if body
        .windows(DOCTYPE.len())
        .any(|window| window.eq_ignore_ascii_case(DOCTYPE))
    {
        return Err(OssError::malformed_xml());
    }
    let text = std::str::from_utf8(body).map_err(|_| OssError::malformed_xml())?;
    quick_xml::de::from_str(text).map_err(|_| OssError::malformed_xml())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_complete_body() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
            <CompleteMultipartUpload>
              <Part><PartNumber>1</PartNumber><ETag>"3349DC700140D7F86A0784842780ABCD"</ETag></Part>
              <Part><PartNumber>5</PartNumber><ETag>8EFDA8BE206636A695359836FE0A0E0A</ETag></Part>
            </CompleteMultipartUpload>"#;
        let parsed = parse_complete(body).unwrap();
        assert_eq!(parsed.parts.len(), 2);
        assert_eq!(parsed.parts[1].part_number, "5");
        assert_eq!(parsed.parts[0].etag, "\"3349DC700140D7F86A0784842780ABCD\"");
        assert!(parse_complete(b"<CompleteMultipartUpload><Part>").is_err());
        assert!(parse_complete(b"not xml").is_err());
    }

    #[test]
    fn complete_bodies_with_a_doctype_are_malformed() {
        let body = br#"<?xml version="1.0"?><!DOCTYPE c [<!ENTITY a "1"><!ENTITY b "&a;&a;">]>
            <CompleteMultipartUpload><Part><PartNumber>&b;</PartNumber><ETag>e</ETag></Part>
            </CompleteMultipartUpload>"#;
        assert_eq!(parse_complete(body).unwrap_err().code, "MalformedXML");
        let lower = b"<!doctype c><CompleteMultipartUpload></CompleteMultipartUpload>";
        assert_eq!(parse_complete(lower).unwrap_err().code, "MalformedXML");
    }

    #[test]
    fn list_parts_carries_the_elements_the_sdks_require() {
        let body = to_body(&ListPartsResult {
            encoding_type: Some("url"),
            bucket: "b".into(),
            key: encode_key("a b/c+d", true),
            upload_id: "U".into(),
            storage_class: "Standard".into(),
            part_number_marker: 0,
            next_part_number_marker: 1,
            max_parts: 1000,
            is_truncated: false,
            parts: vec![ListedPart {
                part_number: 1,
                last_modified: "2024-01-02T03:04:05.000Z".into(),
                etag: "\"AB\"".into(),
                hash_crc64ecma: 42,
                size: 7,
            }],
        })
        .unwrap();
        for needle in [
            "<EncodingType>url</EncodingType>",
            "<Key>a%20b/c%2Bd</Key>",
            "<NextPartNumberMarker>1</NextPartNumberMarker>",
            "<IsTruncated>false</IsTruncated>",
            "<HashCrc64ecma>42</HashCrc64ecma>",
            "<ETag>\"AB\"</ETag>",
        ] {
            assert!(body.contains(needle), "{needle} missing in {body}");
        }
    }

    #[test]
    fn error_body_escapes_and_appends_extras() {
        let err = OssError::no_such_key("a<b");
        let body = error_body(&err, "RID", "host");
        assert!(body.contains("<Code>NoSuchKey</Code>"));
        assert!(body.contains("<Key>a&lt;b</Key>"));
        assert!(body.contains("<RequestId>RID</RequestId>"));
    }
}

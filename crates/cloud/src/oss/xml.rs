//! The XML bodies OSS exchanges (`research/oss-protocol.md` §1.2, §1.6), as serde types, plus
//! the one body we send (CompleteMultipartUpload).
//!
//! Element names are OSS's. Optional elements are `Option` or defaulted, so a faithful but
//! terse server (or a newer OSS adding elements) still parses. Must not: perform I/O or decide
//! what an answer means for the upload.

use serde::Deserialize;

/// `<InitiateMultipartUploadResult>`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InitiateMultipartUploadResult {
    /// Bucket name.
    #[serde(default)]
    pub bucket: String,
    /// Object key (URL-encoded when `EncodingType` is `url`).
    #[serde(default)]
    pub key: String,
    /// The new upload id.
    pub upload_id: String,
    /// `url` when keys are URL-encoded.
    #[serde(default)]
    pub encoding_type: Option<String>,
}

/// `<CompleteMultipartUploadResult>`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompleteMultipartUploadResult {
    /// URL of the object.
    #[serde(default)]
    pub location: Option<String>,
    /// Bucket name.
    #[serde(default)]
    pub bucket: String,
    /// Object key.
    #[serde(default)]
    pub key: String,
    /// The object's ETag (quoted).
    #[serde(rename = "ETag", default)]
    pub etag: Option<String>,
    /// `url` when keys are URL-encoded.
    #[serde(default)]
    pub encoding_type: Option<String>,
}

/// `<ListPartsResult>`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListPartsResult {
    /// Bucket name.
    #[serde(default)]
    pub bucket: String,
    /// Object key.
    #[serde(default)]
    pub key: String,
    /// Upload id.
    #[serde(default)]
    pub upload_id: String,
    /// Where the next page starts.
    #[serde(default)]
    pub next_part_number_marker: Option<String>,
    /// Whether more parts follow.
    #[serde(default)]
    pub is_truncated: bool,
    /// The parts of this page.
    #[serde(rename = "Part", default)]
    pub parts: Vec<ListedPart>,
    /// `url` when keys are URL-encoded.
    #[serde(default)]
    pub encoding_type: Option<String>,
}

/// One `<Part>` of ListParts.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListedPart {
    /// 1..=10000.
    pub part_number: u32,
    /// ISO 8601 time of the upload.
    #[serde(default)]
    pub last_modified: String,
    /// The part's ETag (quoted MD5).
    #[serde(rename = "ETag")]
    pub etag: String,
    /// CRC-64 of the part, decimal (absent on some older servers).
    #[serde(default)]
    pub hash_crc64ecma: Option<String>,
    /// Size in bytes.
    pub size: u64,
}

/// `<ListMultipartUploadsResult>`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListMultipartUploadsResult {
    /// Bucket name.
    #[serde(default)]
    pub bucket: String,
    /// Whether more uploads follow.
    #[serde(default)]
    pub is_truncated: bool,
    /// Key marker for the next page.
    #[serde(default)]
    pub next_key_marker: Option<String>,
    /// Upload-id marker for the next page.
    #[serde(default)]
    pub next_upload_id_marker: Option<String>,
    /// The uploads of this page.
    #[serde(rename = "Upload", default)]
    pub uploads: Vec<ListedUpload>,
    /// `url` when keys are URL-encoded.
    #[serde(default)]
    pub encoding_type: Option<String>,
}

/// One `<Upload>` of ListMultipartUploads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListedUpload {
    /// Object key.
    pub key: String,
    /// Upload id.
    pub upload_id: String,
    /// ISO 8601 time the upload was initiated.
    #[serde(default)]
    pub initiated: String,
}

/// `<BucketInfo>`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketInfoResult {
    /// The single `<Bucket>` element.
    pub bucket: BucketInfoBucket,
}

/// `<BucketInfo><Bucket>`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketInfoBucket {
    /// Bucket name.
    #[serde(default)]
    pub name: String,
    /// `oss-<region>`.
    #[serde(default)]
    pub location: String,
    /// `Standard`, `IA`, `Archive`, `ColdArchive`, `DeepColdArchive`.
    #[serde(default)]
    pub storage_class: String,
    /// ISO 8601 creation time.
    #[serde(default)]
    pub creation_date: String,
    /// Public endpoint host.
    #[serde(default)]
    pub extranet_endpoint: String,
    /// Internal endpoint host.
    #[serde(default)]
    pub intranet_endpoint: String,
    /// `LRS` or `ZRS`.
    #[serde(default)]
    pub data_redundancy_type: Option<String>,
    /// `Enabled`/`Suspended` when versioning was ever configured.
    #[serde(default)]
    pub versioning: Option<String>,
    /// Default server-side encryption.
    #[serde(default)]
    pub server_side_encryption_rule: Option<ServerSideEncryptionRule>,
}

/// `<ServerSideEncryptionRule>`.
#[derive(Debug, Deserialize)]
pub struct ServerSideEncryptionRule {
    /// `AES256`, `KMS`, `SM4` or `None`.
    #[serde(rename = "SSEAlgorithm", default)]
    pub sse_algorithm: Option<String>,
    /// KMS key id, for `KMS`.
    #[serde(rename = "KMSMasterKeyID", default)]
    pub kms_master_key_id: Option<String>,
}

/// `<Error>` (§1.6). `StringToSign` and `SignatureProvided` are deliberately not read: they
/// must not end up in our errors.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorResult {
    /// Error code.
    #[serde(default)]
    pub code: String,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// Request id.
    #[serde(default)]
    pub request_id: Option<String>,
    /// Detailed error code.
    #[serde(rename = "EC", default)]
    pub ec: Option<String>,
    /// Server time, on `RequestTimeTooSkewed` (S3-style element).
    #[serde(default)]
    pub server_time: Option<String>,
}

/// Parses an XML body into `T`; the error names what was expected. A body with a document type
/// declaration is refused: OSS never sends one, and an internal DTD is how entity-expansion
/// attacks ("billion laughs") begin. quick-xml would not expand them, but refusing is simpler
/// to reason about than ignoring.
pub fn parse<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, String> {
    if has_doctype(body) {
        return Err("malformed XML (a DOCTYPE declaration is not allowed)".to_owned());
    }
    quick_xml::de::from_str(body).map_err(|e| format!("malformed XML ({e})"))
}

/// Whether `body` holds `<!DOCTYPE` in any letter case (quick-xml accepts either case).
pub fn has_doctype(body: &str) -> bool {
    const NEEDLE: &[u8] = b"<!doctype";
    body.as_bytes()
        .windows(NEEDLE.len())
        .any(|window| window.eq_ignore_ascii_case(NEEDLE))
}

/// Whether the document's root element is `<Error>`: OSS may answer a CompleteMultipartUpload
/// with HTTP 200 and an error body when it fails after the status line was sent (§1.2), so a
/// 2xx XML answer is checked for it before being read as a result.
pub fn is_error_document(body: &[u8]) -> bool {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(element) | Event::Empty(element)) => {
                return element.local_name().into_inner() == "Error";
            }
            Ok(Event::Eof) | Err(_) => return false,
            // Declaration, comments, processing instructions, whitespace: before the root.
            Ok(_) => buf.clear(),
        }
    }
}

/// Decodes a key when the answer says `<EncodingType>url</EncodingType>` (§1.1).
pub fn decode_key(key: &str, encoding_type: Option<&str>) -> String {
    if encoding_type == Some("url") {
        percent_encoding::percent_decode_str(key)
            .decode_utf8_lossy()
            .into_owned()
    } else {
        key.to_owned()
    }
}

/// The CompleteMultipartUpload body: parts in the given order, ETags as given (OSS compares
/// them ignoring quotes, §1.2).
pub fn complete_multipart_upload_body<'a>(
    parts: impl IntoIterator<Item = (u32, &'a str)>,
) -> String {
    let mut body = String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    body.push_str("\n<CompleteMultipartUpload>");
    for (number, etag) in parts {
        body.push_str("<Part><PartNumber>");
        body.push_str(&number.to_string());
        body.push_str("</PartNumber><ETag>");
        body.push_str(&quick_xml::escape::partial_escape(etag));
        body.push_str("</ETag></Part>");
    }
    body.push_str("</CompleteMultipartUpload>");
    body
}

#[cfg(test)]
mod tests {
    //! Sample bodies from Alibaba's API reference pages as quoted in the research note §1.2/§1.6.
    use super::*;

    #[test]
    fn initiate() {
        let result: InitiateMultipartUploadResult = parse(
            r#"<?xml version="1.0" encoding="UTF-8"?>
            <InitiateMultipartUploadResult xmlns="http://doc.oss-cn-hangzhou.aliyuncs.com">
                <Bucket>oss-example</Bucket>
                <Key>multipart.data</Key>
                <UploadId>0004B9894A22E5B1888A1E29F823****</UploadId>
            </InitiateMultipartUploadResult>"#,
        )
        .unwrap();
        assert_eq!(result.upload_id, "0004B9894A22E5B1888A1E29F823****");
        assert_eq!(result.key, "multipart.data");
        assert!(parse::<InitiateMultipartUploadResult>("<Nope/>").is_err());
    }

    #[test]
    fn complete_result() {
        let result: CompleteMultipartUploadResult = parse(
            r#"<?xml version="1.0" encoding="UTF-8"?>
            <CompleteMultipartUploadResult xmlns="http://doc.oss-cn-hangzhou.aliyuncs.com">
                <EncodingType>url</EncodingType>
                <Location>http://oss-example.oss-cn-hangzhou.aliyuncs.com/multipart.data</Location>
                <Bucket>oss-example</Bucket>
                <Key>dir%2Fmultipart.data</Key>
                <ETag>"B864DB6A936D376F9F8D3ED3BBE540****"</ETag>
            </CompleteMultipartUploadResult>"#,
        )
        .unwrap();
        assert_eq!(
            result.etag.as_deref(),
            Some("\"B864DB6A936D376F9F8D3ED3BBE540****\"")
        );
        assert_eq!(
            decode_key(&result.key, result.encoding_type.as_deref()),
            "dir/multipart.data"
        );
    }

    #[test]
    fn list_parts() {
        let result: ListPartsResult = parse(
            r#"<?xml version="1.0" encoding="UTF-8"?>
            <ListPartsResult xmlns="http://doc.oss-cn-hangzhou.aliyuncs.com">
                <Bucket>multipart_upload</Bucket>
                <Key>multipart.data</Key>
                <UploadId>0004B999EF5A239BB9138C6227D6****</UploadId>
                <StorageClass>Standard</StorageClass>
                <PartNumberMarker></PartNumberMarker>
                <NextPartNumberMarker>5</NextPartNumberMarker>
                <MaxParts>1000</MaxParts>
                <IsTruncated>false</IsTruncated>
                <Part>
                    <PartNumber>1</PartNumber>
                    <LastModified>2012-02-23T07:01:34.000Z</LastModified>
                    <ETag>"3349DC700140D7F86A0784842780****"</ETag>
                    <HashCrc64ecma>11051210869376104954</HashCrc64ecma>
                    <Size>6291456</Size>
                </Part>
                <Part>
                    <PartNumber>2</PartNumber>
                    <LastModified>2012-02-23T07:01:12.000Z</LastModified>
                    <ETag>"3349DC700140D7F86A0784842780****"</ETag>
                    <Size>6291456</Size>
                </Part>
                <Part>
                    <PartNumber>5</PartNumber>
                    <LastModified>2012-02-23T07:02:03.000Z</LastModified>
                    <ETag>"7265F4D211B56873A381D321F586****"</ETag>
                    <Size>1024</Size>
                </Part>
            </ListPartsResult>"#,
        )
        .unwrap();
        assert!(!result.is_truncated);
        assert_eq!(result.next_part_number_marker.as_deref(), Some("5"));
        let numbers: Vec<u32> = result.parts.iter().map(|p| p.part_number).collect();
        assert_eq!(numbers, [1, 2, 5]);
        assert_eq!(
            result.parts[0].hash_crc64ecma.as_deref(),
            Some("11051210869376104954")
        );
        assert_eq!(result.parts[1].hash_crc64ecma, None);
        assert_eq!(result.parts[2].size, 1024);
    }

    #[test]
    fn list_parts_empty() {
        let result: ListPartsResult = parse(
            "<ListPartsResult><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId>\
             <NextPartNumberMarker>0</NextPartNumberMarker><IsTruncated>false</IsTruncated>\
             </ListPartsResult>",
        )
        .unwrap();
        assert!(result.parts.is_empty());
    }

    #[test]
    fn list_uploads() {
        let result: ListMultipartUploadsResult = parse(
            r#"<?xml version="1.0" encoding="UTF-8"?>
            <ListMultipartUploadsResult xmlns="http://doc.oss-cn-hangzhou.aliyuncs.com">
                <Bucket>oss-example</Bucket>
                <KeyMarker></KeyMarker>
                <UploadIdMarker></UploadIdMarker>
                <NextKeyMarker>oss.avi</NextKeyMarker>
                <NextUploadIdMarker>0004B99B8E707874FC2D692FA5D77D3F</NextUploadIdMarker>
                <Delimiter></Delimiter>
                <Prefix></Prefix>
                <MaxUploads>1000</MaxUploads>
                <IsTruncated>false</IsTruncated>
                <Upload>
                    <Key>multipart.data</Key>
                    <UploadId>0004B999EF518A1FE585B0C9360DC4C8</UploadId>
                    <Initiated>2012-02-23T04:18:23.000Z</Initiated>
                </Upload>
                <Upload>
                    <Key>oss.avi</Key>
                    <UploadId>0004B99B8E707874FC2D692FA5D77D3F</UploadId>
                    <Initiated>2012-02-23T06:14:27.000Z</Initiated>
                </Upload>
            </ListMultipartUploadsResult>"#,
        )
        .unwrap();
        assert_eq!(result.uploads.len(), 2);
        assert_eq!(result.uploads[1].key, "oss.avi");
        assert_eq!(result.next_key_marker.as_deref(), Some("oss.avi"));
    }

    #[test]
    fn bucket_info() {
        let result: BucketInfoResult = parse(
            r#"<?xml version="1.0" encoding="UTF-8"?>
            <BucketInfo><Bucket>
              <AccessMonitor>Enabled</AccessMonitor>
              <CreationDate>2013-07-31T10:56:21.000Z</CreationDate>
              <ExtranetEndpoint>oss-cn-hangzhou.aliyuncs.com</ExtranetEndpoint>
              <IntranetEndpoint>oss-cn-hangzhou-internal.aliyuncs.com</IntranetEndpoint>
              <Location>oss-cn-hangzhou</Location>
              <StorageClass>Standard</StorageClass>
              <TransferAcceleration>Disabled</TransferAcceleration>
              <CrossRegionReplication>Disabled</CrossRegionReplication>
              <DataRedundancyType>LRS</DataRedundancyType>
              <Name>oss-example</Name>
              <ResourceGroupId>rg-aek27tc********</ResourceGroupId>
              <Owner><DisplayName>username</DisplayName><ID>27183473914****</ID></Owner>
              <AccessControlList><Grant>private</Grant></AccessControlList>
              <ServerSideEncryptionRule>
                <SSEAlgorithm>KMS</SSEAlgorithm>
                <KMSMasterKeyID>key-1</KMSMasterKeyID>
                <KMSDataEncryption>SM4</KMSDataEncryption>
              </ServerSideEncryptionRule>
              <BucketPolicy><LogBucket>examplebucket</LogBucket><LogPrefix>log/</LogPrefix></BucketPolicy>
              <Comment>test</Comment><Versioning>Enabled</Versioning>
            </Bucket></BucketInfo>"#,
        )
        .unwrap();
        let bucket = result.bucket;
        assert_eq!(bucket.name, "oss-example");
        assert_eq!(bucket.location, "oss-cn-hangzhou");
        assert_eq!(bucket.storage_class, "Standard");
        assert_eq!(
            bucket.intranet_endpoint,
            "oss-cn-hangzhou-internal.aliyuncs.com"
        );
        let sse = bucket.server_side_encryption_rule.unwrap();
        assert_eq!(sse.sse_algorithm.as_deref(), Some("KMS"));
        assert_eq!(sse.kms_master_key_id.as_deref(), Some("key-1"));
    }

    #[test]
    fn error_body() {
        let result: ErrorResult = parse(
            r#"<?xml version="1.0" encoding="UTF-8"?>
            <Error>
              <Code>MissingArgument</Code>
              <Message>Missing Some Required Arguments.</Message>
              <RequestId>57ABD896CCB80C366955****</RequestId>
              <HostId>oss-example.oss-cn-hangzhou.aliyuncs.com</HostId>
              <EC>0016-00000502</EC>
              <RecommendDoc>https://api.aliyun.com/troubleshoot?q=0016-00000502</RecommendDoc>
            </Error>"#,
        )
        .unwrap();
        assert_eq!(result.code, "MissingArgument");
        assert_eq!(result.message, "Missing Some Required Arguments.");
        assert_eq!(
            result.request_id.as_deref(),
            Some("57ABD896CCB80C366955****")
        );
        assert_eq!(result.ec.as_deref(), Some("0016-00000502"));
    }

    #[test]
    fn signature_error_drops_string_to_sign() {
        let result: ErrorResult = parse(
            "<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we \
             calculated does not match the signature you provided.</Message>\
             <RequestId>R</RequestId><StringToSign>PUT\n\n</StringToSign>\
             <SignatureProvided>abc</SignatureProvided><OSSAccessKeyId>ak</OSSAccessKeyId>\
             </Error>",
        )
        .unwrap();
        assert_eq!(result.code, "SignatureDoesNotMatch");
        assert!(!format!("{result:?}").contains("abc"));
    }

    #[test]
    fn doctype_and_entities_are_refused_without_expansion() {
        let laughs = r#"<?xml version="1.0"?>
            <!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>
            <InitiateMultipartUploadResult><UploadId>&lol2;</UploadId></InitiateMultipartUploadResult>"#;
        let error = parse::<InitiateMultipartUploadResult>(laughs).unwrap_err();
        assert!(error.contains("DOCTYPE"), "{error}");
        assert!(parse::<ErrorResult>("<!doctype x><Error/>").is_err());
        // Without a DTD an undeclared entity is an error, not an empty string.
        assert!(
            parse::<InitiateMultipartUploadResult>(
                "<InitiateMultipartUploadResult><UploadId>&lol;</UploadId></InitiateMultipartUploadResult>"
            )
            .is_err()
        );
    }

    #[test]
    fn deep_nesting_within_the_answer_cap_is_an_error_not_a_stack_overflow() {
        // A hostile answer nesting ~100,000 deep: a recursive descent would need far more
        // than a test thread's 2 MiB stack; a quarter of the client's cap keeps it quick.
        let cap = crate::http::client::MAX_SMALL_ANSWER / 4;
        for open in ["<Unknown>", "<Part>", "<Bucket>"] {
            let mut body = String::from("<ListPartsResult>");
            body.push_str(&open.repeat((cap - 40) / open.len()));
            body.push_str("</ListPartsResult>");
            assert!(body.len() <= cap);
            assert!(parse::<ListPartsResult>(&body).is_err());
            assert!(parse::<BucketInfoResult>(&body).is_err());
        }
    }

    #[test]
    fn error_documents_are_recognised_by_their_root() {
        assert!(is_error_document(
            b"<?xml version=\"1.0\"?>\n<!-- c --><Error><Code>InternalError</Code></Error>"
        ));
        assert!(is_error_document(b"<Error/>"));
        assert!(!is_error_document(
            b"<CompleteMultipartUploadResult><Error/></CompleteMultipartUploadResult>"
        ));
        assert!(!is_error_document(b""));
        assert!(!is_error_document(b"<<<"));
    }

    #[test]
    fn complete_body_matches_the_vector_body() {
        // The body whose Content-MD5 is vector B's `zsjdfFkLp7FSiLB46g/TAw==`.
        let body = complete_multipart_upload_body([(1, "\"7D7A0F1C6A2A9D7B1E3B6B5D0C4E7F21\"")]);
        assert_eq!(
            crate::checksum::content_md5(body.as_bytes()),
            "zsjdfFkLp7FSiLB46g/TAw=="
        );
    }
}

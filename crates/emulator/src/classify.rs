//! Which OSS operation a request is — or `501 NotImplemented`.
//!
//! A request the emulator does not implement must never be answered as some other operation: a
//! `PUT` with `x-oss-copy-source` once stored an empty object as a PutObject, and a
//! `PUT /key?retention` would store its XML over the backup. So the method and path pick a
//! candidate only after audits: every query parameter that names a sub-resource (one of OSS's
//! list, any `x-oss-*` one, or any parameter without a value, the form every sub-resource
//! takes) and every header that turns a request into another operation must belong to the
//! operation chosen, or the request answers 501. Valued parameters that mean nothing to OSS
//! (`foo=bar`) are ignored, as OSS ignores them.
//!
//! Sources: the operation list of Alibaba's OSS API reference, and the sub-resource set the
//! official SDKs sign (oss2 `Auth._subresource_key_set`, alibabacloud-oss-v2 `signer/v1.py`).

use axum::http::{HeaderMap, Method, StatusCode};

use super::error::OssError;
use super::operation::Operation;
use super::query::Query;

/// Sub-resources the emulator answers: multipart uploads, bucket info, batch delete, ListObjects
/// V2's token, object meta (answered as HeadObject, whose headers are a superset), the STS token
/// of a presigned URL, and GetObject's `response-*` header overrides.
const IMPLEMENTED_SUBRESOURCES: &[&str] = &[
    "uploads",
    "uploadId",
    "partNumber",
    "bucketInfo",
    "delete",
    "continuation-token",
    "objectMeta",
    "security-token",
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
];

/// Every other sub-resource OSS knows: each names an operation the emulator does not implement
/// (ACLs, lifecycle, versions, append, symlinks, tagging, callbacks, image processing...).
const UNIMPLEMENTED_SUBRESOURCES: &[&str] = &[
    "acl",
    "logging",
    "group",
    "link",
    "website",
    "location",
    "objectInfo",
    "cors",
    "lifecycle",
    "restore",
    "qos",
    "referer",
    "stat",
    "append",
    "position",
    "live",
    "comp",
    "status",
    "vod",
    "startTime",
    "endTime",
    "symlink",
    "callback",
    "callback-var",
    "tagging",
    "encryption",
    "versions",
    "versioning",
    "versionId",
    "policy",
    "requestPayment",
    "qosInfo",
    "asyncFetch",
    "sequential",
    "inventory",
    "inventoryId",
    "worm",
    "wormId",
    "wormExtend",
    "replication",
    "replicationLocation",
    "replicationProgress",
    "transferAcceleration",
    "cname",
    "metaQuery",
    "resourceGroup",
    "style",
    "styleName",
    "regionList",
    "bucketArchiveDirectRead",
    "httpsConfig",
    "redundancyTransition",
    "accessPoint",
    "accessPointPolicy",
    "publicAccessBlock",
    "requesterQosInfo",
    "qosRequester",
    "resourcePoolInfo",
    "resourcePool",
    "resourcePoolBuckets",
    "cloudboxes",
    // In the sub-resource lists of the newer SDK (alibabacloud-oss-v2's operations).
    "retention",
    "legalHold",
    "seal",
    "policyStatus",
    "accessmonitor",
    "overwriteConfig",
    "userDefinedLogFieldsConfig",
    "objectWorm",
    "quota",
    "rtc",
    "dataPipeline",
    "metadataConfiguration",
    "metadataInventoryTable",
    "metadataJournalTable",
    "cleanRestoredObject",
];

/// Parameters that are not sub-resources: each operation's own arguments, and the fields of a
/// V1 presigned URL. They may come without a value (oss2 sends `part-number-marker=`).
const PLAIN_PARAMETERS: &[&str] = &[
    "prefix",
    "delimiter",
    "marker",
    "max-keys",
    "encoding-type",
    "list-type",
    "start-after",
    "fetch-owner",
    "key-marker",
    "upload-id-marker",
    "max-uploads",
    "max-parts",
    "part-number-marker",
    "OSSAccessKeyId",
    "Expires",
    "Signature",
];

/// Which operations each implemented sub-resource belongs to; on any other it answers 501
/// (`DELETE /key?uploads` is not a DeleteObject).
fn subresource_fits(name: &str, operation: Operation) -> bool {
    use Operation::*;
    match name {
        "uploads" => matches!(operation, ListMultipartUploads | InitiateMultipartUpload),
        "uploadId" => matches!(
            operation,
            UploadPart
                | UploadPartCopy
                | CompleteMultipartUpload
                | AbortMultipartUpload
                | ListParts
        ),
        "partNumber" => matches!(operation, UploadPart | UploadPartCopy),
        "bucketInfo" => operation == GetBucketInfo,
        "delete" => operation == DeleteMultipleObjects,
        "continuation-token" => operation == ListObjectsV2,
        "objectMeta" => operation == HeadObject,
        name if name.starts_with("response-") => operation == GetObject,
        // `security-token` (a presigned URL's STS token) fits every operation.
        _ => true,
    }
}

/// `x-oss-*` query parameters that leave the operation as it is: the V4 presigned-URL fields
/// (`oss-protocol.md` §3.4), a per-request bandwidth limit, and source-network conditions.
/// Any other `x-oss-*` parameter (`x-oss-process`, `x-oss-async-process`...) is an operation of
/// its own.
fn is_neutral_oss_parameter(name: &str) -> bool {
    matches!(
        name,
        "x-oss-signature-version"
            | "x-oss-credential"
            | "x-oss-date"
            | "x-oss-expires"
            | "x-oss-signature"
            | "x-oss-additional-headers"
            | "x-oss-security-token"
            | "x-oss-traffic-limit"
    ) || name.starts_with("x-oss-ac-")
}

/// Headers that make a request a different operation (a callback answer, a rename) which the
/// emulator does not implement. The copy headers are handled where they are legal.
const UNIMPLEMENTED_HEADERS: &[&str] = &[
    "x-oss-callback",
    "x-oss-callback-var",
    "x-oss-rename-source-path",
    "x-oss-symlink-target",
];

/// The header that makes a PUT a copy.
pub const COPY_SOURCE: &str = "x-oss-copy-source";
/// The byte range of an UploadPartCopy.
pub const COPY_SOURCE_RANGE: &str = "x-oss-copy-source-range";

fn not_implemented(what: impl std::fmt::Display) -> OssError {
    OssError::new(
        StatusCode::NOT_IMPLEMENTED,
        "NotImplemented",
        format!("The emulator does not implement {what}."),
    )
}

/// Which operation a request is (`oss-protocol.md` §1.2), or 501 for anything the emulator does
/// not implement.
pub fn classify(
    method: &Method,
    bucket: Option<&str>,
    key: Option<&str>,
    query: &Query,
    headers: &HeaderMap,
) -> Result<Operation, OssError> {
    if bucket.is_none() {
        return Err(not_implemented(format!(
            "{method} on the service (ListBuckets and other account-level calls)"
        )));
    }
    audit_query(method, query)?;
    audit_headers(headers)?;
    let copies = headers.contains_key(COPY_SOURCE);
    let operation = match (key.is_some(), method.as_str()) {
        (false, "GET") if query.has("bucketInfo") => Operation::GetBucketInfo,
        (false, "GET") if query.has("uploads") => Operation::ListMultipartUploads,
        (false, "GET") => list_version(query)?,
        (false, "POST") if query.has("delete") => Operation::DeleteMultipleObjects,
        (true, "PUT") if query.has("uploadId") || query.has("partNumber") => {
            upload_part_kind(query, copies)?
        }
        (true, "PUT") if copies => Operation::CopyObject,
        (true, "PUT") => Operation::PutObject,
        (true, "GET") if query.has("uploadId") => Operation::ListParts,
        (true, "GET") => Operation::GetObject,
        (true, "HEAD") => Operation::HeadObject,
        (true, "DELETE") if query.has("uploadId") => Operation::AbortMultipartUpload,
        (true, "DELETE") => Operation::DeleteObject,
        (true, "POST") if query.has("uploads") => Operation::InitiateMultipartUpload,
        (true, "POST") if query.has("uploadId") => Operation::CompleteMultipartUpload,
        (true, _) => return Err(not_implemented(format!("{method} on an object"))),
        (false, _) => return Err(not_implemented(format!("{method} on a bucket"))),
    };
    let copy_operation = matches!(operation, Operation::CopyObject | Operation::UploadPartCopy);
    if copies && !copy_operation {
        return Err(not_implemented(format!(
            "{COPY_SOURCE} on {}",
            operation.name()
        )));
    }
    if headers.contains_key(COPY_SOURCE_RANGE) && operation != Operation::UploadPartCopy {
        return Err(not_implemented(format!(
            "{COPY_SOURCE_RANGE} on {}",
            operation.name()
        )));
    }
    audit_fit(method, query, operation)?;
    Ok(operation)
}

/// Refuses a sub-resource (or an `x-oss-*` parameter) that names an operation the emulator
/// does not have: one of OSS's list, an `x-oss-*` parameter that changes the operation, or an
/// unknown parameter without a value (the form of every sub-resource).
fn audit_query(method: &Method, query: &Query) -> Result<(), OssError> {
    for (name, value) in &query.pairs {
        let name = name.as_str();
        if IMPLEMENTED_SUBRESOURCES.contains(&name) || PLAIN_PARAMETERS.contains(&name) {
            continue;
        }
        let unknown_oss_parameter = name.starts_with("x-oss-") && !is_neutral_oss_parameter(name);
        let unknown_subresource = value.is_empty() && !name.starts_with("x-oss-");
        if UNIMPLEMENTED_SUBRESOURCES.contains(&name)
            || unknown_oss_parameter
            || unknown_subresource
        {
            return Err(not_implemented(format!(
                "{method} with the `{name}` sub-resource"
            )));
        }
    }
    Ok(())
}

/// Refuses an implemented sub-resource sent with an operation it does not belong to.
fn audit_fit(method: &Method, query: &Query, operation: Operation) -> Result<(), OssError> {
    match query.pairs.iter().find(|(name, _)| {
        IMPLEMENTED_SUBRESOURCES.contains(&name.as_str()) && !subresource_fits(name, operation)
    }) {
        Some((name, _)) => Err(not_implemented(format!(
            "{method} with the `{name}` sub-resource on this resource"
        ))),
        None => Ok(()),
    }
}

fn audit_headers(headers: &HeaderMap) -> Result<(), OssError> {
    match UNIMPLEMENTED_HEADERS
        .iter()
        .find(|name| headers.contains_key(**name))
    {
        Some(name) => Err(not_implemented(format!("requests with {name}"))),
        None => Ok(()),
    }
}

/// ListObjects, or ListObjectsV2 with `list-type=2` (the only other value OSS defines).
fn list_version(query: &Query) -> Result<Operation, OssError> {
    match query.get("list-type") {
        None => Ok(Operation::ListObjects),
        Some("2") => Ok(Operation::ListObjectsV2),
        Some(other) => Err(OssError::invalid_argument(
            "The list-type parameter must be 2.",
            "list-type",
            other,
        )),
    }
}

/// UploadPart or UploadPartCopy; both need `uploadId` and `partNumber` (§1.2 UploadPart).
fn upload_part_kind(query: &Query, copies: bool) -> Result<Operation, OssError> {
    if !query.has("uploadId") || !query.has("partNumber") {
        return Err(OssError::invalid_argument(
            "Unexpected query string parameter",
            if query.has("uploadId") {
                "partNumber"
            } else {
                "uploadId"
            },
            "",
        )
        .with_ec("0017-00000219"));
    }
    Ok(if copies {
        Operation::UploadPartCopy
    } else {
        Operation::UploadPart
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn op(method: Method, key: Option<&str>, query: &str) -> Result<Operation, OssError> {
        op_with(method, key, query, &[])
    }

    fn op_with(
        method: Method,
        key: Option<&str>,
        query: &str,
        headers: &[(&'static str, &'static str)],
    ) -> Result<Operation, OssError> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_static(value));
        }
        classify(&method, Some("b"), key, &Query::parse(query).unwrap(), &map)
    }

    #[test]
    fn classifies_like_the_api_reference() {
        let cases: &[(Method, Option<&str>, &str, Operation)] = &[
            (Method::GET, None, "bucketInfo=", Operation::GetBucketInfo),
            (
                Method::GET,
                None,
                "uploads",
                Operation::ListMultipartUploads,
            ),
            (
                Method::GET,
                None,
                "prefix=a&delimiter=%2F",
                Operation::ListObjects,
            ),
            (
                Method::GET,
                None,
                "list-type=2&prefix=a",
                Operation::ListObjectsV2,
            ),
            (
                Method::POST,
                None,
                "delete",
                Operation::DeleteMultipleObjects,
            ),
            (
                Method::POST,
                Some("k"),
                "uploads=",
                Operation::InitiateMultipartUpload,
            ),
            (
                Method::PUT,
                Some("k"),
                "partNumber=1&uploadId=U",
                Operation::UploadPart,
            ),
            (
                Method::POST,
                Some("k"),
                "uploadId=U",
                Operation::CompleteMultipartUpload,
            ),
            (
                Method::DELETE,
                Some("k"),
                "uploadId=U",
                Operation::AbortMultipartUpload,
            ),
            (
                Method::GET,
                Some("k"),
                "uploadId=U&part-number-marker=",
                Operation::ListParts,
            ),
            (Method::PUT, Some("k"), "", Operation::PutObject),
            (
                Method::GET,
                Some("k"),
                "response-content-type=a",
                Operation::GetObject,
            ),
            (Method::HEAD, Some("k"), "objectMeta", Operation::HeadObject),
            (Method::DELETE, Some("k"), "", Operation::DeleteObject),
            // Not sub-resources: ignored, as OSS ignores them.
            (Method::GET, Some("k"), "foo=bar", Operation::GetObject),
        ];
        for (method, key, query, expected) in cases {
            assert_eq!(
                op(method.clone(), *key, query).unwrap(),
                *expected,
                "{method} {key:?} ?{query}"
            );
        }
        assert_eq!(
            op(Method::PUT, Some("k"), "uploadId=U").unwrap_err().code,
            "InvalidArgument"
        );
        assert_eq!(
            op(Method::GET, None, "list-type=1").unwrap_err().code,
            "InvalidArgument"
        );
    }

    #[test]
    fn a_copy_source_makes_a_put_a_copy() {
        let copy = [(COPY_SOURCE, "/b/src")];
        assert_eq!(
            op_with(Method::PUT, Some("k"), "", &copy).unwrap(),
            Operation::CopyObject
        );
        let range = [(COPY_SOURCE, "/b/src"), (COPY_SOURCE_RANGE, "bytes=0-9")];
        assert_eq!(
            op_with(Method::PUT, Some("k"), "partNumber=2&uploadId=U", &range).unwrap(),
            Operation::UploadPartCopy
        );
        // Anywhere else, a copy header would be silently ignored: 501 instead.
        for (method, key, query) in [
            (Method::POST, Some("k"), "uploadId=U"),
            (Method::GET, Some("k"), ""),
            (Method::POST, None, "delete"),
        ] {
            let err = op_with(method, key, query, &copy).unwrap_err();
            assert_eq!(
                (err.status.as_u16(), err.code.as_str()),
                (501, "NotImplemented")
            );
        }
        let stray_range = [(COPY_SOURCE_RANGE, "bytes=0-9")];
        let err = op_with(Method::PUT, Some("k"), "", &stray_range).unwrap_err();
        assert_eq!(err.code, "NotImplemented");
    }

    /// An operation's name and a request for it: method, key, query, headers.
    type ApiCall = (
        &'static str,
        Method,
        Option<&'static str>,
        &'static str,
        &'static [(&'static str, &'static str)],
    );

    /// Every operation of Alibaba's OSS API reference that the emulator does not implement,
    /// as a client sends it: each must answer 501 NotImplemented, never another operation.
    #[test]
    fn every_unimplemented_oss_operation_answers_501() {
        let unimplemented: &[ApiCall] = &[
            ("PutBucket", Method::PUT, None, "", &[]),
            ("DeleteBucket", Method::DELETE, None, "", &[]),
            ("GetBucketAcl", Method::GET, None, "acl", &[]),
            ("PutBucketAcl", Method::PUT, None, "acl", &[]),
            ("GetBucketLocation", Method::GET, None, "location", &[]),
            ("GetBucketStat", Method::GET, None, "stat", &[]),
            ("PutBucketLifecycle", Method::PUT, None, "lifecycle", &[]),
            ("GetBucketLifecycle", Method::GET, None, "lifecycle", &[]),
            ("PutBucketCors", Method::PUT, None, "cors", &[]),
            ("PutBucketReferer", Method::PUT, None, "referer", &[]),
            ("PutBucketLogging", Method::PUT, None, "logging", &[]),
            ("PutBucketWebsite", Method::PUT, None, "website", &[]),
            ("PutBucketVersioning", Method::PUT, None, "versioning", &[]),
            ("ListObjectVersions", Method::GET, None, "versions", &[]),
            ("PutBucketPolicy", Method::PUT, None, "policy", &[]),
            ("PutBucketEncryption", Method::PUT, None, "encryption", &[]),
            ("PutBucketTags", Method::PUT, None, "tagging", &[]),
            ("InitiateBucketWorm", Method::POST, None, "worm", &[]),
            (
                "PutBucketReplication",
                Method::POST,
                None,
                "replication&comp=add",
                &[],
            ),
            (
                "PutBucketInventory",
                Method::PUT,
                None,
                "inventory&inventoryId=i",
                &[],
            ),
            (
                "PutBucketRequestPayment",
                Method::PUT,
                None,
                "requestPayment",
                &[],
            ),
            ("PostObject (form upload)", Method::POST, None, "", &[]),
            (
                "AppendObject",
                Method::POST,
                Some("k"),
                "append&position=0",
                &[],
            ),
            ("PutObjectACL", Method::PUT, Some("k"), "acl", &[]),
            ("GetObjectACL", Method::GET, Some("k"), "acl", &[]),
            (
                "PutSymlink",
                Method::PUT,
                Some("k"),
                "symlink",
                &[("x-oss-symlink-target", "t")],
            ),
            ("GetSymlink", Method::GET, Some("k"), "symlink", &[]),
            ("RestoreObject", Method::POST, Some("k"), "restore", &[]),
            ("PutObjectTagging", Method::PUT, Some("k"), "tagging", &[]),
            ("GetObjectTagging", Method::GET, Some("k"), "tagging", &[]),
            (
                "DeleteObjectTagging",
                Method::DELETE,
                Some("k"),
                "tagging",
                &[],
            ),
            (
                "SelectObject",
                Method::POST,
                Some("k"),
                "x-oss-process=csv%2Fselect",
                &[],
            ),
            (
                "GetObject with image processing",
                Method::GET,
                Some("k"),
                "x-oss-process=image%2Fresize",
                &[],
            ),
            (
                "GetObject of a version",
                Method::GET,
                Some("k"),
                "versionId=v1",
                &[],
            ),
            (
                "DeleteObject of a version",
                Method::DELETE,
                Some("k"),
                "versionId=v1",
                &[],
            ),
            (
                "PutObject with a callback",
                Method::PUT,
                Some("k"),
                "",
                &[("x-oss-callback", "e30=")],
            ),
            (
                "Complete with a callback",
                Method::POST,
                Some("k"),
                "uploadId=U",
                &[("x-oss-callback", "e30=")],
            ),
            (
                "Rename",
                Method::PUT,
                Some("k"),
                "",
                &[("x-oss-rename-source-path", "/b/a")],
            ),
            (
                "OptionObject (CORS preflight)",
                Method::OPTIONS,
                Some("k"),
                "",
                &[],
            ),
            (
                "GetObjectMeta by GET",
                Method::GET,
                Some("k"),
                "objectMeta",
                &[],
            ),
            ("ListBuckets", Method::GET, None, "", &[]),
        ];
        for (name, method, key, query, headers) in unimplemented {
            let outcome = if *name == "ListBuckets" {
                classify(
                    method,
                    None,
                    None,
                    &Query::parse(query).unwrap(),
                    &HeaderMap::new(),
                )
            } else {
                op_with(method.clone(), *key, query, headers)
            };
            match outcome {
                Err(err) => assert_eq!(
                    (err.status.as_u16(), err.code.as_str()),
                    (501, "NotImplemented"),
                    "{name}: {err:?}"
                ),
                Ok(operation) => panic!("{name} was served as {}", operation.name()),
            }
        }
    }
}

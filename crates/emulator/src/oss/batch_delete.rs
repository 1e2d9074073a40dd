//! DeleteMultipleObjects (`POST /?delete`, alibabacloud.com/help/doc-detail/31983.html): up to
//! 1,000 keys of one bucket in one request, with `Content-MD5` required; verbose mode lists
//! every key deleted (a key that did not exist counts as deleted, as with DeleteObject), quiet
//! mode lists none.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Response, StatusCode};

use super::{Failure, OssRequest, xml_response};
use crate::EmulatorState;
use crate::error::OssError;
use crate::xml;

/// Most keys one request may delete (doc-detail/31983.html).
const MAX_KEYS: usize = 1000;

pub(super) fn delete_multiple_objects(
    state: &Arc<EmulatorState>,
    request: &OssRequest,
    body: &[u8],
) -> Result<Response<Body>, Failure> {
    // The router already compared a sent Content-MD5 with the body; here it must be sent
    // (EC 0016-00000606: "the batch delete request lacks the Content-MD5 header").
    if request.header("content-md5").is_none() {
        return Err(OssError::new(
            StatusCode::BAD_REQUEST,
            "MissingArgument",
            "DeleteMultipleObjects requires the Content-MD5 header.",
        )
        .with("ArgumentName", "Content-MD5")
        .with_ec("0016-00000606")
        .into());
    }
    let parsed = xml::parse_delete(body)?;
    if parsed.objects.is_empty() || parsed.objects.len() > MAX_KEYS {
        return Err(OssError::malformed_xml().into());
    }
    if parsed.objects.iter().any(|o| o.version_id.is_some()) {
        return Err(OssError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "The emulator does not implement deleting object versions.",
        )
        .into());
    }
    let quiet = parsed
        .quiet
        .as_deref()
        .is_some_and(|q| q.trim().eq_ignore_ascii_case("true"));
    {
        let mut catalog = state.storage.catalog();
        let bucket = catalog.bucket(&request.bucket)?;
        for object in &parsed.objects {
            state
                .storage
                .remove_object(bucket, &object.key)
                .map_err(|err| OssError::storage("removing an object manifest", &err))?;
        }
    }
    let url = request.query.url_encoding();
    let deleted = if quiet {
        Vec::new()
    } else {
        parsed
            .objects
            .iter()
            .map(|o| xml::DeletedKey {
                key: xml::encode_key(&o.key, url),
            })
            .collect()
    };
    xml_response(&xml::DeleteResult {
        encoding_type: url.then_some("url"),
        deleted,
    })
}

//! ListObjects (`GET /`, alibabacloud.com/help/doc-detail/31965.html) and ListObjectsV2
//! (`GET /?list-type=2`, help.aliyun.com/en/oss/developer-reference/listobjectsv2): one page of
//! keys in key order, with the keys under a `delimiter` rolled up into `CommonPrefixes`.
//!
//! Both versions share [`page`]; they differ only in how a page is asked for (`marker` against
//! `start-after` / `continuation-token`) and answered (`NextMarker` against
//! `NextContinuationToken` and `KeyCount`; the owner always against only on `fetch-owner`).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Response;
use base64::Engine as _;

use super::{Failure, OssRequest, quoted, xml_response};
use crate::EmulatorState;
use crate::error::OssError;
use crate::store::{Bucket, Object};
use crate::xml;

/// Default page size of both listings (the API reference: "100 objects by default").
const DEFAULT_MAX_KEYS: u32 = 100;
/// Largest page size (the API reference: `max-keys` up to 1000).
const MAX_MAX_KEYS: u32 = 1000;

/// One entry of a page, in key order.
#[derive(Debug)]
enum Entry<'a> {
    /// An object.
    Object(&'a str, &'a Object),
    /// Every key that shares this prefix up to the delimiter.
    Prefix(String),
}

impl Entry<'_> {
    /// Where the next page starts: after this key, or after every key under this prefix.
    fn resume_after(&self) -> &str {
        match self {
            Entry::Object(key, _) => key,
            Entry::Prefix(prefix) => prefix,
        }
    }
}

/// A page: at most `max` entries, and whether more follow.
#[derive(Debug)]
struct Page<'a> {
    entries: Vec<Entry<'a>>,
    truncated: bool,
}

/// The entries after `after` whose keys start with `prefix`, keys under a common prefix
/// (`prefix` + anything + `delimiter`) counted once. A common prefix at or before `after` was
/// on an earlier page (its `NextMarker` is the prefix itself), so its keys are skipped.
fn page<'a>(
    objects: &'a BTreeMap<String, Object>,
    prefix: &str,
    delimiter: &str,
    after: &str,
    max: usize,
) -> Page<'a> {
    let mut entries: Vec<Entry<'a>> = Vec::new();
    let start = if after < prefix {
        Bound::Included(prefix)
    } else {
        Bound::Excluded(after)
    };
    for (key, object) in objects.range::<str, _>((start, Bound::Unbounded)) {
        let Some(rest) = key.strip_prefix(prefix) else {
            if key.as_str() > prefix {
                break;
            }
            continue;
        };
        let rolled_up = (!delimiter.is_empty())
            .then(|| rest.find(delimiter))
            .flatten()
            .map(|at| format!("{prefix}{}", &rest[..at + delimiter.len()]));
        let entry = match rolled_up {
            Some(common) if common.as_str() <= after => continue,
            Some(common) if matches!(entries.last(), Some(Entry::Prefix(last)) if *last == common) =>
            {
                continue;
            }
            Some(common) => Entry::Prefix(common),
            None => Entry::Object(key, object),
        };
        if entries.len() == max {
            return Page {
                entries,
                truncated: true,
            };
        }
        entries.push(entry);
    }
    Page {
        entries,
        truncated: false,
    }
}

/// `max-keys`: 1 to 1000, 100 when absent.
fn max_keys(request: &OssRequest) -> Result<u32, OssError> {
    match request.query.get("max-keys").filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_MAX_KEYS),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_MAX_KEYS).contains(n))
            .ok_or_else(|| {
                OssError::invalid_argument(
                    &format!("Argument max-keys must be an integer between 1 and {MAX_MAX_KEYS}."),
                    "max-keys",
                    raw,
                )
            }),
    }
}

/// The `<Contents>` and `<CommonPrefixes>` of a page.
fn listed(
    page: Page<'_>,
    bucket: &Bucket,
    url: bool,
    with_owner: bool,
) -> (Vec<xml::ListedObject>, Vec<xml::CommonPrefix>) {
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    for entry in page.entries {
        match entry {
            Entry::Object(key, object) => contents.push(xml::ListedObject {
                key: xml::encode_key(key, url),
                last_modified: xml::iso8601(object.last_modified),
                etag: quoted(&object.etag),
                object_type: object.kind.as_str(),
                size: object.len,
                storage_class: bucket.config.storage_class.clone(),
                owner: with_owner.then(xml::Owner::emulator),
            }),
            Entry::Prefix(prefix) => prefixes.push(xml::CommonPrefix {
                prefix: xml::encode_key(&prefix, url),
            }),
        }
    }
    (contents, prefixes)
}

/// ListObjects (V1): `marker` in, `NextMarker` out; every `<Contents>` carries `<Owner>`.
pub(super) fn list_objects(
    state: &Arc<EmulatorState>,
    request: &OssRequest,
) -> Result<Response<Body>, Failure> {
    let max_keys = max_keys(request)?;
    let prefix = request.query.get("prefix").unwrap_or_default();
    let delimiter = request.query.get("delimiter").unwrap_or_default();
    let marker = request.query.get("marker").unwrap_or_default();
    let url = request.query.url_encoding();
    let mut catalog = state.storage.catalog();
    let bucket = catalog.bucket(&request.bucket)?;
    let limit = usize::try_from(max_keys).unwrap_or(usize::MAX);
    let page = page(&bucket.objects, prefix, delimiter, marker, limit);
    let is_truncated = page.truncated;
    let next_marker = match page.entries.last() {
        Some(last) if is_truncated => xml::encode_key(last.resume_after(), url),
        _ => String::new(),
    };
    let (contents, common_prefixes) = listed(page, bucket, url, true);
    xml_response(&xml::ListObjectsResult {
        encoding_type: url.then_some("url"),
        name: request.bucket.clone(),
        prefix: xml::encode_key(prefix, url),
        marker: xml::encode_key(marker, url),
        next_marker,
        max_keys,
        delimiter: xml::encode_key(delimiter, url),
        is_truncated,
        contents,
        common_prefixes,
    })
}

/// ListObjectsV2: `start-after` or `continuation-token` in (the token wins), an opaque
/// `NextContinuationToken` and `KeyCount` out; `<Owner>` only with `fetch-owner=true`.
pub(super) fn list_objects_v2(
    state: &Arc<EmulatorState>,
    request: &OssRequest,
) -> Result<Response<Body>, Failure> {
    let max_keys = max_keys(request)?;
    let prefix = request.query.get("prefix").unwrap_or_default();
    let delimiter = request.query.get("delimiter").unwrap_or_default();
    let start_after = request.query.get("start-after");
    // oss2 sends `continuation-token=` on a first page: empty is absent.
    let token = request
        .query
        .get("continuation-token")
        .filter(|t| !t.is_empty());
    let after = match token {
        Some(token) => decode_token(token)?,
        None => start_after.unwrap_or_default().to_owned(),
    };
    let url = request.query.url_encoding();
    let fetch_owner = request
        .query
        .get("fetch-owner")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut catalog = state.storage.catalog();
    let bucket = catalog.bucket(&request.bucket)?;
    let limit = usize::try_from(max_keys).unwrap_or(usize::MAX);
    let page = page(&bucket.objects, prefix, delimiter, &after, limit);
    let is_truncated = page.truncated;
    let next_continuation_token = match page.entries.last() {
        Some(last) if is_truncated => Some(encode_token(last.resume_after())),
        _ => None,
    };
    let key_count = page.entries.len();
    let (contents, common_prefixes) = listed(page, bucket, url, fetch_owner);
    xml_response(&xml::ListObjectsV2Result {
        name: request.bucket.clone(),
        prefix: xml::encode_key(prefix, url),
        start_after: start_after.map(|s| xml::encode_key(s, url)),
        continuation_token: token.map(str::to_owned),
        max_keys,
        delimiter: xml::encode_key(delimiter, url),
        encoding_type: url.then_some("url"),
        is_truncated,
        key_count,
        next_continuation_token,
        contents,
        common_prefixes,
    })
}

/// The token is opaque to clients (the API reference: "obfuscated"); here it is the key to
/// resume after, URL-safe base64, so it needs no escaping in a query or in XML.
fn encode_token(after: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(after)
}

fn decode_token(token: &str) -> Result<String, OssError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            OssError::invalid_argument(
                "The continuation token provided is incorrect.",
                "continuation-token",
                token,
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ObjectKind, ObjectMeta};

    fn objects(keys: &[&str]) -> BTreeMap<String, Object> {
        keys.iter()
            .map(|key| {
                let object = Object {
                    len: 0,
                    crc: 0,
                    etag: String::new(),
                    kind: ObjectKind::Normal,
                    meta: ObjectMeta::default(),
                    last_modified: time::OffsetDateTime::UNIX_EPOCH,
                    pieces: Vec::new(),
                };
                ((*key).to_owned(), object)
            })
            .collect()
    }

    fn names(page: &Page<'_>) -> Vec<String> {
        page.entries
            .iter()
            .map(|e| match e {
                Entry::Object(key, _) => (*key).to_owned(),
                Entry::Prefix(prefix) => format!("{prefix}*"),
            })
            .collect()
    }

    /// Pages through a listing two entries at a time, as a client follows `NextMarker`.
    fn walk(objects: &BTreeMap<String, Object>, prefix: &str, delimiter: &str) -> Vec<String> {
        let mut all = Vec::new();
        let mut after = String::new();
        for _ in 0..100 {
            let page = page(objects, prefix, delimiter, &after, 2);
            all.extend(names(&page));
            if !page.truncated {
                return all;
            }
            after = page.entries.last().unwrap().resume_after().to_owned();
        }
        panic!("the listing never ended: {all:?}");
    }

    #[test]
    fn a_delimiter_rolls_keys_up_into_common_prefixes_once_across_pages() {
        let bucket = objects(&[
            "ls/a.txt", "ls/b/1", "ls/b/2", "ls/b/3/x", "ls/c/1", "ls/d.txt", "ls/e/x", "other",
        ]);
        assert_eq!(
            walk(&bucket, "ls/", "/"),
            ["ls/a.txt", "ls/b/*", "ls/c/*", "ls/d.txt", "ls/e/*"]
        );
        // Without a delimiter every key under the prefix, once.
        assert_eq!(walk(&bucket, "ls/b/", "").len(), 3);
        assert_eq!(walk(&bucket, "", "/"), ["ls/*", "other"]);
    }

    #[test]
    fn a_full_page_is_truncated_only_when_more_follow() {
        let bucket = objects(&["a", "b"]);
        let page = page(&bucket, "", "", "", 2);
        assert!(!page.truncated, "{:?}", names(&page));
        let page = super::page(&bucket, "", "", "", 1);
        assert!(page.truncated);
        assert_eq!(names(&page), ["a"]);
    }

    #[test]
    fn continuation_tokens_round_trip_any_key() {
        for key in ["", "a b/c+d%", "数据库/ü"] {
            assert_eq!(decode_token(&encode_token(key)).unwrap(), key);
        }
        assert_eq!(decode_token("!!").unwrap_err().code, "InvalidArgument");
    }
}

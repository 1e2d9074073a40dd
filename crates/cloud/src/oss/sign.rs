//! OSS request signatures: V1 (`OSS <ak>:<sig>`) and V4 (`OSS4-HMAC-SHA256`), in the
//! `Authorization` header and in presigned URLs, with STS security tokens.
//!
//! Every function here is pure: the time, the credentials and the request are parameters, there is
//! no clock and no I/O. The client signs with them and the emulator verifies with the very same
//! functions, so both sides share one reading of the rules in `research/oss-protocol.md` §3. The
//! unit tests reproduce every vector of `vectors/oss_sign_vectors.out` byte for byte.
//!
//! This module must not know about HTTP libraries: a request is a [`SignableRequest`], a plain
//! view of method, bucket, key, decoded query pairs and headers.

use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

use crate::credentials::Credentials;

/// The V4 algorithm name, in `Authorization`, the string to sign and presigned URLs (§3.3).
pub const V4_ALGORITHM: &str = "OSS4-HMAC-SHA256";
/// The last element of a V4 credential scope (§3.3).
pub const V4_SCOPE_TERMINATOR: &str = "aliyun_v4_request";
/// The product name in the V4 scope for ordinary OSS (CloudBox uses `oss-cloudbox`, §3.3).
pub const V4_PRODUCT_OSS: &str = "oss";
/// The only payload hash OSS accepts in `x-oss-content-sha256` (§1.1, EC 0002-00000214).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// Header carrying the V4 request time, `yyyymmddTHHMMSSZ` (§3.3).
pub const HEADER_OSS_DATE: &str = "x-oss-date";
/// Header carrying the V4 payload hash (§3.3).
pub const HEADER_CONTENT_SHA256: &str = "x-oss-content-sha256";
/// Header carrying an STS token in header-signed requests, V1 and V4 (§3.5).
pub const HEADER_SECURITY_TOKEN: &str = "x-oss-security-token";
/// Query parameter carrying the V4 presigned signature; never part of the canonical query (§3.4).
pub const QUERY_V4_SIGNATURE: &str = "x-oss-signature";
/// Longest lifetime of a V4 presigned URL: 7 days (§1.3, §3.4).
pub const V4_MAX_EXPIRES_SECS: u64 = 7 * 24 * 3600;

/// Query parameters that are V1 sub-resources and so enter the V1 canonical resource (§3.1:
/// the members common to both official Python SDKs and the Go v2 SDK). Everything else
/// (`max-parts`, `prefix`, `encoding-type`, ...) is left out of the V1 signature.
pub const V1_SUB_RESOURCES: &[&str] = &[
    "acl",
    "append",
    "bucketInfo",
    "callback",
    "callback-var",
    "cloudboxes",
    "continuation-token",
    "delete",
    "location",
    "objectMeta",
    "partNumber",
    "position",
    "regionList",
    "resourceGroup",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "security-token",
    "sequential",
    "stat",
    "symlink",
    "tagging",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
];

/// A request as the signature sees it. Query values are decoded (`uploads=` and a bare
/// `uploads` are both `("uploads", "")`); header names may be in any case.
#[derive(Clone, Copy)]
pub struct SignableRequest<'a> {
    /// HTTP method, upper case (`PUT`).
    pub method: &'a str,
    /// The bucket, `None` for service-level calls.
    pub bucket: Option<&'a str>,
    /// The object key, raw (not URL-encoded); `None` for bucket-level calls.
    pub key: Option<&'a str>,
    /// Query parameters as decoded `(name, value)` pairs.
    pub query: &'a [(&'a str, &'a str)],
    /// Request headers as `(name, value)` pairs.
    pub headers: &'a [(&'a str, &'a str)],
}

// Hand-written so that a token header or a presigned query never lands in a log (DESIGN habit 6).
impl fmt::Debug for SignableRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignableRequest")
            .field("method", &self.method)
            .field("bucket", &self.bucket)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl SignableRequest<'_> {
    /// The value of a header, names compared case-insensitively; repeated headers joined by `,`.
    pub fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    }

    /// The value of a query parameter (first occurrence).
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

// ---------------------------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------------------------

/// `Tue, 02 Jan 2024 03:04:05 GMT`: the RFC 1123 form of `Date` and the V1 date slot (§1.1).
pub fn http_date(time: OffsetDateTime) -> String {
    let format = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    // Formatting a UTC date with this fixed description cannot fail for years 0..=9999; fall
    // back to the empty string rather than panic for dates outside it.
    utc(time).format(&format).unwrap_or_default()
}

/// Parses an RFC 1123 `Date` header (`Tue, 02 Jan 2024 03:04:05 GMT`).
pub fn parse_http_date(value: &str) -> Option<OffsetDateTime> {
    let format = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(value.trim(), &format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

/// `20240102T030405Z`: the V4 `x-oss-date` form (§3.3).
pub fn v4_datetime(time: OffsetDateTime) -> String {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    utc(time).format(&format).unwrap_or_default()
}

/// Parses a V4 `x-oss-date` value (`20240102T030405Z`).
pub fn parse_v4_datetime(value: &str) -> Option<OffsetDateTime> {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(value.trim(), &format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

fn utc(time: OffsetDateTime) -> OffsetDateTime {
    time.to_offset(time::UtcOffset::UTC)
}

// ---------------------------------------------------------------------------------------------
// V1 (§3.1, §3.2)
// ---------------------------------------------------------------------------------------------

/// Whether a query parameter is a V1 sub-resource (signed in the canonical resource).
pub fn is_v1_sub_resource(name: &str) -> bool {
    V1_SUB_RESOURCES.contains(&name)
}

/// The V1 CanonicalizedResource: `/bucket/key` (raw key), `/bucket/` or `/`, then `?` and the
/// sub-resources sorted by name, `name=value` or bare `name` for an empty value (§3.1).
pub fn v1_canonical_resource(
    bucket: Option<&str>,
    key: Option<&str>,
    query: &[(&str, &str)],
) -> String {
    let mut resource = String::from("/");
    if let Some(bucket) = bucket {
        resource.push_str(bucket);
        resource.push('/');
        resource.push_str(key.unwrap_or(""));
    }
    let mut sub: Vec<(&str, &str)> = query
        .iter()
        .filter(|(name, _)| is_v1_sub_resource(name))
        .copied()
        .collect();
    sub.sort_unstable();
    for (i, (name, value)) in sub.iter().enumerate() {
        resource.push(if i == 0 { '?' } else { '&' });
        resource.push_str(name);
        if !value.is_empty() {
            resource.push('=');
            resource.push_str(value);
        }
    }
    resource
}

/// The V1 CanonicalizedOSSHeaders: every `x-oss-*` header, lower-case name, sorted, each as
/// `name:value\n` (§3.1).
pub fn v1_canonical_oss_headers(headers: &[(&str, &str)]) -> String {
    canonical_headers(headers, |name| name.starts_with("x-oss-"))
}

/// The V1 string to sign (§3.1). `date` is the `x-oss-date` header if present, else `Date`,
/// or the `Expires` value for a presigned URL (§3.2); `headers` may hold all request headers,
/// only the `x-oss-*` ones are used.
pub fn v1_string_to_sign(
    method: &str,
    content_md5: &str,
    content_type: &str,
    date: &str,
    headers: &[(&str, &str)],
    canonical_resource: &str,
) -> String {
    format!(
        "{method}\n{content_md5}\n{content_type}\n{date}\n{}{canonical_resource}",
        v1_canonical_oss_headers(headers)
    )
}

/// The V1 string to sign for a request, taking Content-MD5 and Content-Type from its headers.
pub fn v1_request_string_to_sign(request: &SignableRequest<'_>, date: &str) -> String {
    v1_string_to_sign(
        request.method,
        &request.header("content-md5").unwrap_or_default(),
        &request.header("content-type").unwrap_or_default(),
        date,
        request.headers,
        &v1_canonical_resource(request.bucket, request.key, request.query),
    )
}

/// The date a V1 header signature covers: `x-oss-date` when present, else `Date` (§3.1).
pub fn v1_date_slot(request: &SignableRequest<'_>) -> Option<String> {
    request
        .header(HEADER_OSS_DATE)
        .or_else(|| request.header("date"))
}

/// base64(HMAC-SHA1(secret, string_to_sign)) (§3.1).
pub fn v1_signature(secret: &str, string_to_sign: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail; an empty MAC would only make the
    // server refuse the request.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `OSS <AccessKeyId>:<Signature>` (§3.1).
pub fn v1_authorization(access_key_id: &str, signature: &str) -> String {
    format!("OSS {access_key_id}:{signature}")
}

/// The `Authorization` value for a V1 header-signed request. The request must already carry
/// its `Date` (or `x-oss-date`) header and, for STS, `x-oss-security-token`.
pub fn v1_sign_header(credentials: &Credentials, request: &SignableRequest<'_>) -> String {
    let date = v1_date_slot(request).unwrap_or_default();
    let string_to_sign = v1_request_string_to_sign(request, &date);
    v1_authorization(
        credentials.access_key_id(),
        &v1_signature(credentials.access_key_secret(), &string_to_sign),
    )
}

/// Splits `OSS <ak>:<signature>` into the key id and the signature.
pub fn parse_v1_authorization(value: &str) -> Option<(&str, &str)> {
    let rest = value.trim().strip_prefix("OSS ")?;
    let (ak, signature) = rest.split_once(':')?;
    (!ak.is_empty() && !signature.is_empty()).then_some((ak.trim(), signature.trim()))
}

/// The query parameters a V1 presigned URL adds to `request`, in the order the official SDK
/// writes them: `OSSAccessKeyId`, `Expires`, `security-token` (STS only), `Signature` (§3.2).
/// Values are decoded; `expires_at` is absolute Unix seconds. The request's own query
/// (`partNumber`, `uploadId`...) stays where it is and is signed as usual.
pub fn v1_presign_query(
    credentials: &Credentials,
    request: &SignableRequest<'_>,
    expires_at: i64,
) -> Vec<(String, String)> {
    let expires = expires_at.to_string();
    let mut query: Vec<(&str, &str)> = request.query.to_vec();
    if let Some(token) = credentials.security_token() {
        query.push(("security-token", token));
    }
    let signed = SignableRequest {
        query: &query,
        ..*request
    };
    let string_to_sign = v1_request_string_to_sign(&signed, &expires);
    let signature = v1_signature(credentials.access_key_secret(), &string_to_sign);
    let mut added = vec![
        (
            "OSSAccessKeyId".to_owned(),
            credentials.access_key_id().to_owned(),
        ),
        ("Expires".to_owned(), expires),
    ];
    if let Some(token) = credentials.security_token() {
        added.push(("security-token".to_owned(), token.to_owned()));
    }
    added.push(("Signature".to_owned(), signature));
    added
}

// ---------------------------------------------------------------------------------------------
// V4 (§3.3, §3.4)
// ---------------------------------------------------------------------------------------------

/// RFC 3986 encoding: unreserved `A-Z a-z 0-9 - _ . ~` kept, everything else `%XX` upper case;
/// `/` kept only when `keep_slash` (the canonical URI) (§3.3).
pub fn uri_encode(value: &str, keep_slash: bool) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    const UNRESERVED_AND_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');
    let set = if keep_slash {
        UNRESERVED_AND_SLASH
    } else {
        UNRESERVED
    };
    utf8_percent_encode(value, set).to_string()
}

/// The V4 CanonicalURI: URI-encoded `/bucket/key`, `/bucket/` or `/`, bucket included even for
/// virtual-hosted requests (§3.3).
pub fn v4_canonical_uri(bucket: Option<&str>, key: Option<&str>) -> String {
    let mut path = String::from("/");
    if let Some(bucket) = bucket {
        path.push_str(bucket);
        path.push('/');
        path.push_str(key.unwrap_or(""));
    }
    uri_encode(&path, true)
}

/// The V4 CanonicalQuery: every parameter but `x-oss-signature`, names and values
/// RFC 3986-encoded, sorted, `name=value` or bare `name` for an empty value, joined by `&`.
pub fn v4_canonical_query(query: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> = query
        .iter()
        .filter(|(name, _)| *name != QUERY_V4_SIGNATURE)
        .map(|(name, value)| (uri_encode(name, false), uri_encode(value, false)))
        .collect();
    encoded.sort_unstable();
    let pairs: Vec<String> = encoded
        .into_iter()
        .map(|(name, value)| {
            if value.is_empty() {
                name
            } else {
                format!("{name}={value}")
            }
        })
        .collect();
    pairs.join("&")
}

/// Whether V4 signs a header by default: `x-oss-*`, `content-type`, `content-md5` (§3.3).
pub fn is_v4_default_signed(lower_name: &str) -> bool {
    lower_name.starts_with("x-oss-") || lower_name == "content-type" || lower_name == "content-md5"
}

/// The AdditionalHeaders list: the requested names lower-cased, sorted, de-duplicated, keeping
/// only headers that are not signed by default and that the request actually carries (§3.3).
pub fn v4_additional_headers(requested: &[&str], headers: &[(&str, &str)]) -> Vec<String> {
    let mut names: Vec<String> = requested
        .iter()
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty() && !is_v4_default_signed(name))
        .filter(|name| headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(name)))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// The V4 CanonicalHeaders: default-signed headers plus `additional`, lower-case names, trimmed
/// values, sorted, each `name:value\n` (§3.3).
pub fn v4_canonical_headers(headers: &[(&str, &str)], additional: &[String]) -> String {
    canonical_headers(headers, |name| {
        is_v4_default_signed(name) || additional.iter().any(|a| a == name)
    })
}

/// The V4 CanonicalRequest (§3.3): method, URI, query, headers, additional headers and the
/// payload hash (`x-oss-content-sha256`, `UNSIGNED-PAYLOAD` when absent), one per line.
pub fn v4_canonical_request(request: &SignableRequest<'_>, additional: &[String]) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        v4_canonical_uri(request.bucket, request.key),
        v4_canonical_query(request.query),
        v4_canonical_headers(request.headers, additional),
        additional.join(";"),
        request
            .header(HEADER_CONTENT_SHA256)
            .unwrap_or_else(|| UNSIGNED_PAYLOAD.to_owned()),
    )
}

/// The V4 credential scope `<yyyymmdd>/<region>/<product>/aliyun_v4_request` (§3.3).
pub fn v4_scope(date: &str, region: &str, product: &str) -> String {
    format!("{date}/{region}/{product}/{V4_SCOPE_TERMINATOR}")
}

/// The V4 StringToSign: algorithm, `x-oss-date`, scope and hex SHA-256 of the canonical
/// request, one per line (§3.3).
pub fn v4_string_to_sign(datetime: &str, scope: &str, canonical_request: &str) -> String {
    let hashed = hex::encode(Sha256::digest(canonical_request.as_bytes()));
    format!("{V4_ALGORITHM}\n{datetime}\n{scope}\n{hashed}")
}

/// The V4 signing key: HMAC-SHA256 chain over date, region, product and `aliyun_v4_request`,
/// keyed first with `"aliyun_v4" + secret` (§3.3).
pub fn v4_signing_key(secret: &str, date: &str, region: &str, product: &str) -> [u8; 32] {
    let first = format!("aliyun_v4{secret}");
    let mut key = hmac_sha256(first.as_bytes(), date.as_bytes());
    for part in [region, product, V4_SCOPE_TERMINATOR] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    key
}

/// hex(HMAC-SHA256(signing_key, string_to_sign)) (§3.3).
pub fn v4_signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac_sha256(signing_key, string_to_sign.as_bytes()))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return [0; 32];
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Where and when a V4 signature applies: region, product and signing time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V4Context<'a> {
    /// Plain region id, `cn-hangzhou` (not `oss-cn-hangzhou`, §3.3).
    pub region: &'a str,
    /// `oss` for ordinary buckets.
    pub product: &'a str,
    /// The signing time; must equal the request's `x-oss-date`.
    pub time: OffsetDateTime,
}

impl V4Context<'_> {
    /// The `yyyymmdd` part of the signing time.
    pub fn date(&self) -> String {
        let datetime = v4_datetime(self.time);
        datetime.get(..8).unwrap_or_default().to_owned()
    }

    /// The credential scope for this context.
    pub fn scope(&self) -> String {
        v4_scope(&self.date(), self.region, self.product)
    }
}

/// Signs a prepared request: canonical request → string to sign → signature (hex).
pub fn v4_sign(
    secret: &str,
    context: &V4Context<'_>,
    request: &SignableRequest<'_>,
    additional: &[String],
) -> String {
    let canonical = v4_canonical_request(request, additional);
    let string_to_sign =
        v4_string_to_sign(&v4_datetime(context.time), &context.scope(), &canonical);
    let key = v4_signing_key(secret, &context.date(), context.region, context.product);
    v4_signature(&key, &string_to_sign)
}

/// `OSS4-HMAC-SHA256 Credential=<ak>/<scope>[,AdditionalHeaders=<a;b>],Signature=<hex>`, in the
/// field order of the v2 SDKs (§3.3).
pub fn v4_authorization(
    access_key_id: &str,
    scope: &str,
    additional: &[String],
    signature: &str,
) -> String {
    let mut value = format!("{V4_ALGORITHM} Credential={access_key_id}/{scope}");
    if !additional.is_empty() {
        value.push_str(",AdditionalHeaders=");
        value.push_str(&additional.join(";"));
    }
    value.push_str(",Signature=");
    value.push_str(signature);
    value
}

/// The `Authorization` value for a V4 header-signed request. The request must already carry
/// `x-oss-date` (equal to `context.time`), `x-oss-content-sha256` and, for STS,
/// `x-oss-security-token`; `additional` names extra headers to sign (usually none).
pub fn v4_sign_header(
    credentials: &Credentials,
    context: &V4Context<'_>,
    request: &SignableRequest<'_>,
    additional: &[&str],
) -> String {
    let additional = v4_additional_headers(additional, request.headers);
    let signature = v4_sign(
        credentials.access_key_secret(),
        context,
        request,
        &additional,
    );
    v4_authorization(
        credentials.access_key_id(),
        &context.scope(),
        &additional,
        &signature,
    )
}

/// The fields of a V4 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V4Authorization<'a> {
    /// AccessKey id from `Credential=`.
    pub access_key_id: &'a str,
    /// `yyyymmdd` from the scope.
    pub date: &'a str,
    /// Region from the scope.
    pub region: &'a str,
    /// Product from the scope.
    pub product: &'a str,
    /// Lower-case names from `AdditionalHeaders=` (empty when absent).
    pub additional_headers: Vec<String>,
    /// Hex signature.
    pub signature: &'a str,
}

/// Parses a V4 `Authorization` header. Fields may be separated by `,` or `, ` and come in any
/// order (oss2 puts `AdditionalHeaders` after `Signature`, §3.3). `None` when malformed.
pub fn parse_v4_authorization(value: &str) -> Option<V4Authorization<'_>> {
    let rest = value.trim().strip_prefix(V4_ALGORITHM)?.trim_start();
    let mut credential = None;
    let mut additional = None;
    let mut signature = None;
    for field in rest.split(',').map(str::trim) {
        let (name, field_value) = field.split_once('=')?;
        match name {
            "Credential" => credential = Some(field_value),
            "AdditionalHeaders" => additional = Some(field_value),
            "Signature" => signature = Some(field_value),
            _ => return None,
        }
    }
    let mut scope = credential?.split('/');
    let parsed = V4Authorization {
        access_key_id: scope.next()?,
        date: scope.next()?,
        region: scope.next()?,
        product: scope.next()?,
        additional_headers: match additional {
            Some(list) => parse_additional_headers(list)?,
            None => Vec::new(),
        },
        signature: signature?,
    };
    let well_formed = scope.next() == Some(V4_SCOPE_TERMINATOR)
        && scope.next().is_none()
        && !parsed.access_key_id.is_empty()
        && !parsed.signature.is_empty();
    well_formed.then_some(parsed)
}

/// Splits an `AdditionalHeaders` list; empty names (including a trailing `;`) are refused, as OSS
/// does (EC 0002-00000210).
fn parse_additional_headers(list: &str) -> Option<Vec<String>> {
    list.split(';')
        .map(|name| (!name.is_empty()).then(|| name.to_ascii_lowercase()))
        .collect()
}

/// The query parameters a V4 presigned URL adds, in the order the v2 SDK writes them:
/// `x-oss-signature-version`, `x-oss-date`, `x-oss-expires`, `x-oss-credential`,
/// `x-oss-security-token` (STS), `x-oss-additional-headers` (if any), `x-oss-signature` (§3.4).
/// Values are decoded. `headers` of `request` are the ones the URL's user must send (usually
/// none); they are signed like in the header form.
pub fn v4_presign_query(
    credentials: &Credentials,
    context: &V4Context<'_>,
    request: &SignableRequest<'_>,
    expires_in_secs: u64,
    additional: &[&str],
) -> Vec<(String, String)> {
    let additional = v4_additional_headers(additional, request.headers);
    let mut added = vec![
        (
            "x-oss-signature-version".to_owned(),
            V4_ALGORITHM.to_owned(),
        ),
        ("x-oss-date".to_owned(), v4_datetime(context.time)),
        ("x-oss-expires".to_owned(), expires_in_secs.to_string()),
        (
            "x-oss-credential".to_owned(),
            format!("{}/{}", credentials.access_key_id(), context.scope()),
        ),
    ];
    if let Some(token) = credentials.security_token() {
        added.push(("x-oss-security-token".to_owned(), token.to_owned()));
    }
    if !additional.is_empty() {
        added.push(("x-oss-additional-headers".to_owned(), additional.join(";")));
    }
    let mut query: Vec<(&str, &str)> = request.query.to_vec();
    query.extend(added.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let signed = SignableRequest {
        query: &query,
        ..*request
    };
    let signature = v4_sign(
        credentials.access_key_secret(),
        context,
        &signed,
        &additional,
    );
    added.push((QUERY_V4_SIGNATURE.to_owned(), signature));
    added
}

/// Encodes decoded query pairs for a URL, RFC 3986 style (`/` → `%2F`, `+` → `%2B`), in the given
/// order; bare `name` for an empty value.
pub fn encode_query<N: AsRef<str>, V: AsRef<str>>(pairs: &[(N, V)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(name, value)| {
            let (name, value) = (name.as_ref(), value.as_ref());
            if value.is_empty() {
                uri_encode(name, false)
            } else {
                format!("{}={}", uri_encode(name, false), uri_encode(value, false))
            }
        })
        .collect();
    encoded.join("&")
}

/// Shared by V1 and V4: the selected headers, lower-case names, trimmed values, sorted by name,
/// repeated headers joined by `,`, each as `name:value\n`.
fn canonical_headers(headers: &[(&str, &str)], selected: impl Fn(&str) -> bool) -> String {
    let mut picked: Vec<(String, &str)> = headers
        .iter()
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim()))
        .filter(|(name, _)| selected(name))
        .collect();
    // Stable sort: repeated headers keep their order when joined.
    picked.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::new();
    let mut previous: Option<&str> = None;
    for (name, value) in &picked {
        if previous == Some(name.as_str()) {
            // Same name again: continue the previous line (drop its '\n', append ",value").
            out.pop();
            out.push(',');
        } else {
            out.push_str(name);
            out.push(':');
        }
        out.push_str(value);
        out.push('\n');
        previous = Some(name.as_str());
    }
    out
}

#[cfg(test)]
mod tests;

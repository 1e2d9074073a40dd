//! Who sent a request: verifies V1 and V4 signatures, in the `Authorization` header and in
//! presigned URLs, with STS tokens, clock skew and expiry (`oss-protocol.md` §3, §6.4 point 10).
//!
//! Signatures are recomputed with the client's own pure functions (`bak2rds_cloud::oss::sign`), so the
//! client and the emulator share one reading of the rules, pinned by the same vectors; this
//! module only decides which inputs apply and what error OSS answers when they do not match.

use axum::http::StatusCode;
use time::{Duration, OffsetDateTime};

use bak2rds_cloud::oss::sign::{self, SignableRequest, V4Context};

use super::config::KeyPair;
use super::error::OssError;
use super::keyring::KeyRing;

/// Largest clock difference accepted for header-signed requests: 15 minutes (§1.3,
/// `RequestTimeTooSkewed`).
pub const MAX_SKEW: Duration = Duration::minutes(15);

/// How a request proved who sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    /// `Authorization: OSS ak:signature`.
    V1Header,
    /// `Authorization: OSS4-HMAC-SHA256 ...`.
    V4Header,
    /// `?OSSAccessKeyId=&Expires=&Signature=`.
    V1Presigned,
    /// `?x-oss-signature-version=OSS4-HMAC-SHA256&...&x-oss-signature=`.
    V4Presigned,
}

/// Checks a request's signature against the key ring (configured and issued pairs).
///
/// `bucket_region` is the region of the addressed bucket when it exists (V4 scopes must name
/// it); `now` is the server's clock.
pub fn authenticate(
    keys: &KeyRing,
    bucket_region: Option<&str>,
    request: &SignableRequest<'_>,
    now: OffsetDateTime,
) -> Result<AuthScheme, OssError> {
    let authorization = request.header("authorization");
    match authorization.as_deref() {
        Some(value) if value.trim_start().starts_with(sign::V4_ALGORITHM) => {
            verify_v4_header(keys, bucket_region, request, value, now)?;
            Ok(AuthScheme::V4Header)
        }
        Some(value) if value.trim_start().starts_with("OSS ") => {
            verify_v1_header(keys, request, value, now)?;
            Ok(AuthScheme::V1Header)
        }
        Some(value) if is_aws_scheme(value) => Err(s3_signatures_not_implemented()),
        Some(_) => Err(OssError::invalid_argument(
            "Authorization header is invalid.",
            "Authorization",
            "<redacted>",
        )),
        None if request.query_value(sign::QUERY_V4_SIGNATURE).is_some() => {
            verify_v4_presigned(keys, bucket_region, request, now)?;
            Ok(AuthScheme::V4Presigned)
        }
        None if request.query_value("X-Amz-Signature").is_some()
            || request.query_value("AWSAccessKeyId").is_some() =>
        {
            Err(s3_signatures_not_implemented())
        }
        None if request.query_value("Signature").is_some() => {
            verify_v1_presigned(keys, request, now)?;
            Ok(AuthScheme::V1Presigned)
        }
        None => Err(OssError::access_denied(
            "You have no right to access this object because of bucket acl.",
        )),
    }
}

/// `AWS4-HMAC-SHA256 ...` or `AWS ak:signature`: OSS's S3-compatible API, which a client
/// configured for S3 (the AWS CLI, rclone's S3 backend, boto3) sends.
fn is_aws_scheme(authorization: &str) -> bool {
    let value = authorization.trim_start();
    value.starts_with("AWS4-HMAC-SHA256") || value.starts_with("AWS ")
}

/// Real OSS also answers AWS signatures (its S3-compatible API); the emulator does not, and says
/// so with 501 rather than a signature error a user would take for a wrong key.
fn s3_signatures_not_implemented() -> OssError {
    OssError::new(
        StatusCode::NOT_IMPLEMENTED,
        "NotImplemented",
        "The emulator does not implement OSS's S3-compatible API (AWS Signature V2 or V4); it \
         verifies OSS signatures (OSS and OSS4-HMAC-SHA256). Use an OSS client: ossutil or the \
         oss2 or alibabacloud-oss-v2 SDKs.",
    )
}

/// The key pair with this id, refusing unknown ids, expired STS credentials and a token that
/// does not match the pair's (§3.5).
fn key_for(
    keys: &KeyRing,
    access_key_id: &str,
    token: Option<&str>,
    now: OffsetDateTime,
) -> Result<KeyPair, OssError> {
    let key = keys.find(access_key_id).ok_or_else(|| {
        OssError::new(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The OSS Access Key Id you provided does not exist in our records.",
        )
        .with("OSSAccessKeyId", access_key_id)
    })?;
    match (key.security_token.as_deref(), token) {
        (None, None) => {}
        (Some(expected), Some(sent)) if expected == sent => {}
        _ => {
            return Err(OssError::new(
                StatusCode::FORBIDDEN,
                "InvalidSecurityToken",
                "The security token you provided is invalid.",
            ));
        }
    }
    if key.is_expired(now) {
        // research-credentials.md §8: 403, this message, EC 0002-00000007.
        return Err(OssError::new(
            StatusCode::FORBIDDEN,
            "SecurityTokenExpired",
            "The security token you provided has expired.",
        )
        .with_ec("0002-00000007"));
    }
    Ok(key)
}

/// Refuses a header-signed request whose time is more than [`MAX_SKEW`] away from `now`.
fn check_skew(request_time: OffsetDateTime, now: OffsetDateTime) -> Result<(), OssError> {
    if (request_time - now).abs() <= MAX_SKEW {
        return Ok(());
    }
    Err(OssError::new(
        StatusCode::FORBIDDEN,
        "RequestTimeTooSkewed",
        "The difference between the request time and the current time is too large.",
    )
    .with("RequestTime", sign::http_date(request_time))
    .with("ServerTime", sign::http_date(now))
    .with("MaxAllowedSkewMilliseconds", "900000")
    .with_ec("0002-00000504"))
}

/// `SignatureDoesNotMatch` with the extra elements OSS adds (§1.6): the string to sign, its
/// bytes in hex, the signature provided and the key id, so a client can see what differed.
fn signature_mismatch(string_to_sign: &str, provided: &str, access_key_id: &str) -> OssError {
    let bytes: Vec<String> = string_to_sign.bytes().map(|b| format!("{b:02x}")).collect();
    OssError::new(
        StatusCode::FORBIDDEN,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check \
         your key and signing method.",
    )
    .with("StringToSign", string_to_sign)
    .with("StringToSignBytes", bytes.join(" "))
    .with("SignatureProvided", provided)
    .with("OSSAccessKeyId", access_key_id)
}

fn expired(expires: &str, now: OffsetDateTime) -> OssError {
    OssError::access_denied("Request has expired.")
        .with("Expires", expires)
        .with("ServerTime", sign::http_date(now))
}

fn verify_v1_header(
    keys: &KeyRing,
    request: &SignableRequest<'_>,
    authorization: &str,
    now: OffsetDateTime,
) -> Result<(), OssError> {
    let (access_key_id, provided) =
        sign::parse_v1_authorization(authorization).ok_or_else(|| {
            OssError::invalid_argument(
                "Authorization header is invalid.",
                "Authorization",
                "<redacted>",
            )
        })?;
    let token = request.header(sign::HEADER_SECURITY_TOKEN);
    let key = key_for(keys, access_key_id, token.as_deref(), now)?;
    let date = sign::v1_date_slot(request)
        .ok_or_else(|| OssError::access_denied("Date header is missing."))?;
    let request_time = sign::parse_http_date(&date)
        .ok_or_else(|| OssError::access_denied(format!("Invalid date {date:?}.")))?;
    check_skew(request_time, now)?;
    let string_to_sign = sign::v1_request_string_to_sign(request, &date);
    if sign::v1_signature(&key.secret, &string_to_sign) != provided {
        return Err(signature_mismatch(&string_to_sign, provided, access_key_id));
    }
    Ok(())
}

fn verify_v1_presigned(
    keys: &KeyRing,
    request: &SignableRequest<'_>,
    now: OffsetDateTime,
) -> Result<(), OssError> {
    let required = |name: &str| {
        request.query_value(name).ok_or_else(|| {
            OssError::access_denied(format!("Presigned URL is missing the {name} parameter."))
        })
    };
    let access_key_id = required("OSSAccessKeyId")?;
    let expires = required("Expires")?;
    let provided = required("Signature")?;
    let expires_at: i64 = expires
        .parse()
        .map_err(|_| OssError::access_denied(format!("Invalid Expires {expires:?}.")))?;
    if now.unix_timestamp() > expires_at {
        return Err(expired(expires, now));
    }
    // The token travels as the `security-token` sub-resource (§3.2, §3.5).
    let key = key_for(
        keys,
        access_key_id,
        request.query_value("security-token"),
        now,
    )?;
    let string_to_sign = sign::v1_request_string_to_sign(request, expires);
    if sign::v1_signature(&key.secret, &string_to_sign) != provided {
        return Err(signature_mismatch(&string_to_sign, provided, access_key_id));
    }
    Ok(())
}

/// The scope checks shared by both V4 forms: product `oss`, the bucket's region, and a
/// credential date equal to the date of `x-oss-date` (§3.3).
fn check_v4_scope(
    bucket_region: Option<&str>,
    region: &str,
    product: &str,
    date: &str,
    datetime: &str,
) -> Result<OffsetDateTime, OssError> {
    if product != sign::V4_PRODUCT_OSS {
        return Err(OssError::access_denied(format!(
            "Invalid signing product {product:?} in the credential scope; expected \"oss\"."
        )));
    }
    if let Some(expected) = bucket_region.filter(|expected| *expected != region) {
        return Err(OssError::access_denied(format!(
            "Invalid signing region in the credential scope: {region:?}; this bucket is in \
             {expected:?}."
        )));
    }
    let time = sign::parse_v4_datetime(datetime)
        .ok_or_else(|| OssError::access_denied(format!("Invalid x-oss-date {datetime:?}.")))?;
    if datetime.get(..8) != Some(date) {
        return Err(OssError::access_denied(
            "The date in the credential scope does not match x-oss-date.",
        ));
    }
    Ok(time)
}

fn verify_v4_header(
    keys: &KeyRing,
    bucket_region: Option<&str>,
    request: &SignableRequest<'_>,
    authorization: &str,
    now: OffsetDateTime,
) -> Result<(), OssError> {
    let parsed = sign::parse_v4_authorization(authorization).ok_or_else(|| {
        OssError::invalid_argument(
            "Authorization header is invalid.",
            "Authorization",
            "<redacted>",
        )
    })?;
    if let Some(payload) = request.header(sign::HEADER_CONTENT_SHA256)
        && payload != sign::UNSIGNED_PAYLOAD
    {
        // Any other payload hash is refused (§1.1, EC 0002-00000214).
        return Err(OssError::invalid_argument(
            "x-oss-content-sha256 must be UNSIGNED-PAYLOAD.",
            sign::HEADER_CONTENT_SHA256,
            &payload,
        )
        .with_ec("0002-00000214"));
    }
    let token = request.header(sign::HEADER_SECURITY_TOKEN);
    let key = key_for(keys, parsed.access_key_id, token.as_deref(), now)?;
    let datetime = request
        .header(sign::HEADER_OSS_DATE)
        .ok_or_else(|| OssError::access_denied("x-oss-date header is missing."))?;
    let time = check_v4_scope(
        bucket_region,
        parsed.region,
        parsed.product,
        parsed.date,
        &datetime,
    )?;
    check_skew(time, now)?;
    let context = V4Context {
        region: parsed.region,
        product: parsed.product,
        time,
    };
    verify_v4_signature(
        &key,
        &context,
        request,
        &parsed.additional_headers,
        parsed.signature,
    )
}

fn verify_v4_presigned(
    keys: &KeyRing,
    bucket_region: Option<&str>,
    request: &SignableRequest<'_>,
    now: OffsetDateTime,
) -> Result<(), OssError> {
    let required = |name: &str| {
        request.query_value(name).ok_or_else(|| {
            OssError::access_denied(format!("Presigned URL is missing the {name} parameter."))
        })
    };
    if required("x-oss-signature-version")? != sign::V4_ALGORITHM {
        return Err(OssError::access_denied(
            "Unsupported x-oss-signature-version; expected OSS4-HMAC-SHA256.",
        ));
    }
    let credential = required("x-oss-credential")?;
    let datetime = required("x-oss-date")?;
    let expires = required("x-oss-expires")?;
    let provided = required(sign::QUERY_V4_SIGNATURE)?;
    let mut scope = credential.split('/');
    let (Some(access_key_id), Some(date), Some(region), Some(product), Some(terminator), None) = (
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
    ) else {
        return Err(OssError::access_denied("Invalid x-oss-credential."));
    };
    if terminator != sign::V4_SCOPE_TERMINATOR {
        return Err(OssError::access_denied("Invalid x-oss-credential."));
    }
    let lifetime: u64 = expires
        .parse()
        .ok()
        .filter(|secs| (1..=sign::V4_MAX_EXPIRES_SECS).contains(secs))
        .ok_or_else(|| {
            OssError::access_denied(format!(
                "Invalid x-oss-expires {expires:?}: at most {} seconds.",
                sign::V4_MAX_EXPIRES_SECS
            ))
        })?;
    let time = check_v4_scope(bucket_region, region, product, date, datetime)?;
    let lifetime = Duration::seconds(i64::try_from(lifetime).unwrap_or(i64::MAX));
    // Checked: an `x-oss-date` in year 9999 plus the lifetime is past what `time` can hold.
    let expires_at = time
        .checked_add(lifetime)
        .ok_or_else(|| OssError::access_denied(format!("Invalid x-oss-date {datetime:?}.")))?;
    if now > expires_at {
        return Err(expired(&sign::http_date(expires_at), now));
    }
    let key = key_for(
        keys,
        access_key_id,
        request.query_value(sign::HEADER_SECURITY_TOKEN),
        now,
    )?;
    let additional: Vec<String> = request
        .query_value("x-oss-additional-headers")
        .map(|list| list.split(';').map(str::to_ascii_lowercase).collect())
        .unwrap_or_default();
    // Everything but the signature itself is signed (§3.4).
    let query: Vec<(&str, &str)> = request
        .query
        .iter()
        .filter(|(name, _)| *name != sign::QUERY_V4_SIGNATURE)
        .copied()
        .collect();
    let signed = SignableRequest {
        query: &query,
        ..*request
    };
    let context = V4Context {
        region,
        product,
        time,
    };
    verify_v4_signature(&key, &context, &signed, &additional, provided)
}

fn verify_v4_signature(
    key: &KeyPair,
    context: &V4Context<'_>,
    request: &SignableRequest<'_>,
    additional: &[String],
    provided: &str,
) -> Result<(), OssError> {
    let expected = sign::v4_sign(&key.secret, context, request, additional);
    if expected.eq_ignore_ascii_case(provided) {
        return Ok(());
    }
    let canonical = sign::v4_canonical_request(request, additional);
    let string_to_sign = sign::v4_string_to_sign(
        &sign::v4_datetime(context.time),
        &context.scope(),
        &canonical,
    );
    Err(signature_mismatch(&string_to_sign, provided, &key.id).with("CanonicalRequest", canonical))
}

#[cfg(test)]
mod tests {
    //! The verifier against the project vectors of `oss_sign_vectors.out` (sections B and C):
    //! every signature the official SDKs computed must be accepted, and a one-character change
    //! refused.
    use super::*;

    const AK: &str = "LTAI5tOssEmulatorTestAK";
    const SK: &str = "OssEmulatorTestSecretKey0123456789ab";
    const TOKEN: &str = "CAIStsTokenExample+/==";
    const BUCKET: &str = "sqlbak-test";
    const KEY: &str = "backups/db01/full_2024-01-02.bak";
    const UPLOAD_ID: &str = "0004B9894A22E5B1888A1E29F823ABCD";
    const HTTP_DATE: &str = "Tue, 02 Jan 2024 03:04:05 GMT";
    const V4_DATE: &str = "20240102T030405Z";

    fn signing_time() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_704_164_645).unwrap()
    }

    fn keys() -> KeyRing {
        KeyRing::new(vec![KeyPair::new(AK, SK)], 0)
    }

    fn sts_keys() -> KeyRing {
        let mut key = KeyPair::new(AK, SK);
        key.security_token = Some(TOKEN.to_owned());
        KeyRing::new(vec![key], 0)
    }

    fn request<'a>(
        method: &'a str,
        query: &'a [(&'a str, &'a str)],
        headers: &'a [(&'a str, &'a str)],
    ) -> SignableRequest<'a> {
        SignableRequest {
            method,
            bucket: Some(BUCKET),
            key: Some(KEY),
            query,
            headers,
        }
    }

    fn v4_header(signature: &str) -> String {
        format!(
            "OSS4-HMAC-SHA256 Credential={AK}/20240102/cn-hangzhou/oss/aliyun_v4_request, \
             Signature={signature}"
        )
    }

    #[test]
    fn s3_clients_get_501_naming_what_is_verified_instead() {
        let v4 = format!(
            "AWS4-HMAC-SHA256 Credential={AK}/20240102/cn-hangzhou/s3/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=00"
        );
        let v2 = format!("AWS {AK}:c2lnbmF0dXJl");
        for authorization in [v4.as_str(), v2.as_str()] {
            let headers = [("x-amz-date", V4_DATE), ("authorization", authorization)];
            let err = authenticate(
                &keys(),
                None,
                &request("GET", &[], &headers),
                signing_time(),
            )
            .unwrap_err();
            assert_eq!(
                (err.status.as_u16(), err.code.as_str()),
                (501, "NotImplemented")
            );
            assert!(err.message.contains("OSS4-HMAC-SHA256"), "{}", err.message);
        }
        for presigned in [
            [
                ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
                ("X-Amz-Signature", "00"),
            ],
            [("AWSAccessKeyId", AK), ("Signature", "c2lnbmF0dXJl")],
        ] {
            let err = authenticate(
                &keys(),
                None,
                &request("GET", &presigned, &[]),
                signing_time(),
            )
            .unwrap_err();
            assert_eq!(err.code, "NotImplemented");
        }
    }

    #[test]
    fn accepts_the_v1_header_vectors_and_refuses_a_changed_one() {
        let auth = format!("OSS {AK}:Z5ZoXMCZpnxsZkwAAMbHhpFg8IA=");
        let query = [("partNumber", "1"), ("uploadId", UPLOAD_ID)];
        let headers = [
            ("Date", HTTP_DATE),
            ("Content-MD5", "egiwfoRkFwPl8sg2qlmhcA=="),
            ("authorization", auth.as_str()),
        ];
        let req = request("PUT", &query, &headers);
        assert_eq!(
            authenticate(&keys(), Some("cn-hangzhou"), &req, signing_time()),
            Ok(AuthScheme::V1Header)
        );
        let wrong = [("partNumber", "2"), ("uploadId", UPLOAD_ID)];
        let err = authenticate(
            &keys(),
            None,
            &request("PUT", &wrong, &headers),
            signing_time(),
        )
        .unwrap_err();
        assert_eq!(err.code, "SignatureDoesNotMatch");
        assert!(
            err.extra
                .iter()
                .any(|(n, v)| *n == "StringToSign" && v.contains("partNumber=2"))
        );
    }

    #[test]
    fn accepts_the_v4_header_vectors_with_sts() {
        let auth = v4_header("541478d8818d00942ebbbc7dfb2febcd92519e88181db1ecf4340158b3bc6b24");
        let query = [("partNumber", "2"), ("uploadId", UPLOAD_ID)];
        let headers = [
            ("x-oss-date", V4_DATE),
            ("x-oss-content-sha256", "UNSIGNED-PAYLOAD"),
            ("x-oss-security-token", TOKEN),
            ("Authorization", auth.as_str()),
        ];
        let req = request("PUT", &query, &headers);
        assert_eq!(
            authenticate(&sts_keys(), Some("cn-hangzhou"), &req, signing_time()),
            Ok(AuthScheme::V4Header)
        );
        // The same key without its token, or a bucket in another region, is refused.
        let err = authenticate(&keys(), None, &req, signing_time()).unwrap_err();
        assert_eq!(err.code, "InvalidSecurityToken");
        let err = authenticate(&sts_keys(), Some("cn-shanghai"), &req, signing_time()).unwrap_err();
        assert_eq!(err.code, "AccessDenied");
    }

    #[test]
    fn refuses_skewed_clocks_but_allows_fifteen_minutes() {
        let auth = v4_header("3e651951034187fa0854dde38b569bb9519e4689a4e130ba03bcc6200d3f848f");
        let headers = [
            ("x-oss-date", V4_DATE),
            ("x-oss-content-sha256", "UNSIGNED-PAYLOAD"),
            ("Authorization", auth.as_str()),
        ];
        let req = request("HEAD", &[], &headers);
        let within = signing_time() + Duration::minutes(14);
        assert!(authenticate(&keys(), None, &req, within).is_ok());
        let err =
            authenticate(&keys(), None, &req, signing_time() + Duration::minutes(16)).unwrap_err();
        assert_eq!(err.code, "RequestTimeTooSkewed");
        assert_eq!(err.status, StatusCode::FORBIDDEN);
    }

    #[test]
    fn accepts_presigned_vectors_until_they_expire() {
        let v1 = [
            ("OSSAccessKeyId", AK),
            ("Expires", "1704168245"),
            ("security-token", TOKEN),
            ("Signature", "ThIM9CdLj+cLRAj1Ug8/xjfIEw8="),
        ];
        let req = request("GET", &v1, &[]);
        assert_eq!(
            authenticate(&sts_keys(), None, &req, signing_time()),
            Ok(AuthScheme::V1Presigned)
        );
        let late = signing_time() + Duration::seconds(3601);
        assert_eq!(
            authenticate(&sts_keys(), None, &req, late)
                .unwrap_err()
                .code,
            "AccessDenied"
        );

        let credential = format!("{AK}/20240102/cn-hangzhou/oss/aliyun_v4_request");
        let v4 = [
            ("partNumber", "3"),
            ("uploadId", UPLOAD_ID),
            ("x-oss-signature-version", "OSS4-HMAC-SHA256"),
            ("x-oss-date", V4_DATE),
            ("x-oss-expires", "3600"),
            ("x-oss-credential", credential.as_str()),
            (
                "x-oss-signature",
                "6a80f3be8b94622d2114d6680804eb3ea150009b0c065679bd8dea5d666f3336",
            ),
        ];
        let req = request("PUT", &v4, &[]);
        assert_eq!(
            authenticate(&keys(), Some("cn-hangzhou"), &req, signing_time()),
            Ok(AuthScheme::V4Presigned)
        );
        let err = authenticate(&keys(), None, &req, late).unwrap_err();
        assert_eq!(err.message, "Request has expired.");
    }

    #[test]
    fn a_presigned_date_at_the_end_of_time_is_refused_not_a_panic() {
        // Found while writing the emulator_request fuzz target: 9999-12-31 + 599 s overflowed.
        let query = [
            ("x-oss-signature-version", "OSS4-HMAC-SHA256"),
            ("x-oss-date", "99991231T235959Z"),
            ("x-oss-expires", "599"),
            (
                "x-oss-credential",
                "LTAI5tOssEmulatorTestAK/99991231/cn-hangzhou/oss/aliyun_v4_request",
            ),
            ("x-oss-signature", "00"),
        ];
        let req = SignableRequest {
            method: "GET",
            bucket: Some(BUCKET),
            key: Some(KEY),
            query: &query,
            headers: &[],
        };
        let err = authenticate(&keys(), None, &req, signing_time()).unwrap_err();
        assert_eq!(err.code, "AccessDenied");
    }

    #[test]
    fn unknown_keys_and_anonymous_requests_are_refused() {
        let auth = "OSS LTAIunknown:abc=".to_owned();
        let headers = [("Date", HTTP_DATE), ("Authorization", auth.as_str())];
        let err = authenticate(
            &keys(),
            None,
            &request("GET", &[], &headers),
            signing_time(),
        )
        .unwrap_err();
        assert_eq!(err.code, "InvalidAccessKeyId");
        let err =
            authenticate(&keys(), None, &request("GET", &[], &[]), signing_time()).unwrap_err();
        assert_eq!(err.code, "AccessDenied");
    }
}

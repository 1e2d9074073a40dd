//! What Alibaba's RPC gateway does before any action runs, shared by the emulated RDS, STS and
//! RAM: parameters from the query and a form body, the three signing dialects of the official
//! SDKs (rds-api.md §0: V1 from the core SDK, V1 from the Tea SDK, V3 `ACS3-HMAC-SHA256`)
//! verified with the same [`bak2rds_cloud::rds::sign`] functions the client signs with, keys
//! looked up in the emulator's one [`KeyRing`], timestamps, nonces, the API version, and the
//! JSON error format (§1.9).
//!
//! It knows no action: each service dispatches the [`Call`] it returns.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use bak2rds_cloud::rds::model::ErrorBody;
use bak2rds_cloud::rds::sign::{self, V3Request};

use crate::config::KeyPair;
use crate::keyring::KeyRing;
use crate::observe::{RequestLog, RequestRecord, signature_of};

/// Requests further than this from the server clock are refused (§2.1: 15 minutes).
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// An error answer: HTTP status, Alibaba code and message.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: String,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            code: code.into(),
            message: message.into(),
        }
    }

    /// `Missing{Name}` (gateway table, §1.9).
    pub(crate) fn missing(name: &str) -> Self {
        ApiError::new(
            400,
            format!("Missing{name}"),
            format!("{name} is mandatory for this action."),
        )
    }

    /// `Invalid{Name}` (gateway table, §1.9).
    pub(crate) fn invalid(name: &str) -> Self {
        ApiError::new(
            400,
            format!("Invalid{name}"),
            format!("Specified parameter {name} is not valid."),
        )
    }

    /// The gateway's answer to an action the service does not have.
    pub(crate) fn action_not_found() -> Self {
        ApiError::new(
            404,
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.",
        )
    }

    /// The gateway's answer when its own work fails (also a panicked handler).
    pub(crate) fn internal() -> Self {
        ApiError::new(
            500,
            "InternalError",
            "The request processing has failed due to some unknown error, exception or failure.",
        )
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// A request the gateway let through: the action and every parameter (query and form body).
pub(crate) struct Call {
    pub(crate) action: String,
    pub(crate) params: Vec<(String, String)>,
}

// By hand: the parameters may hold a security token and a signature (DESIGN habit 6).
impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("action", &self.action)
            .finish_non_exhaustive()
    }
}

impl Call {
    /// A non-empty parameter.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// A parameter the action cannot do without (`Missing{Name}` otherwise).
    pub(crate) fn require(&self, name: &str) -> ApiResult<&str> {
        self.get(name).ok_or_else(|| ApiError::missing(name))
    }
}

/// One request as the gateway sees it.
#[derive(Clone, Copy)]
pub(crate) struct RpcRequest<'r> {
    pub(crate) method: &'r Method,
    pub(crate) uri: &'r Uri,
    pub(crate) headers: &'r HeaderMap,
    pub(crate) body: &'r [u8],
}

/// One service's gateway: its API version, the key ring, the nonces seen.
pub(crate) struct RpcAuth {
    version: &'static str,
    keys: Arc<KeyRing>,
    nonces: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for RpcAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcAuth")
            .field("version", &self.version)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl RpcAuth {
    /// A gateway for API `version` (`2014-08-15` for RDS...), accepting the ring's keys.
    pub(crate) fn new(version: &'static str, keys: Arc<KeyRing>) -> Self {
        RpcAuth {
            version,
            keys,
            nonces: Mutex::new(HashSet::new()),
        }
    }

    /// The key ring (services that issue credentials add to it).
    pub(crate) fn keys(&self) -> &Arc<KeyRing> {
        &self.keys
    }

    /// The action a request names (V1 `Action` parameter or V3 `x-acs-action` header), before
    /// any check: a service with anonymous actions decides with it whether to authenticate.
    pub(crate) fn peek_action(request: RpcRequest<'_>) -> Option<String> {
        let params = params_of(request).ok()?;
        params
            .iter()
            .find(|(name, _)| name == "Action")
            .map(|(_, value)| value.clone())
            .or_else(|| header(request.headers, "x-acs-action").map(str::to_owned))
    }

    /// An unsigned call (STS's `AssumeRoleWithOIDC`): parameters, action and version only.
    pub(crate) fn anonymous(&self, request: RpcRequest<'_>) -> ApiResult<Call> {
        let params = params_of(request)?;
        let call = Call {
            action: String::new(),
            params,
        };
        let version = call
            .get("Version")
            .or_else(|| header(request.headers, "x-acs-version"));
        self.check_version(version)?;
        let action = call
            .get("Action")
            .or_else(|| header(request.headers, "x-acs-action"))
            .ok_or_else(|| ApiError::missing("Action"))?
            .to_owned();
        Ok(Call { action, ..call })
    }

    /// Verifies the request's signature; `now` judges its timestamp (a parameter so the shared
    /// vectors, signed in 2024, verify in tests: DESIGN habit 7). Temporary keys expire on the
    /// ring's clock, the one the OSS side uses.
    pub(crate) fn authenticate(
        &self,
        request: RpcRequest<'_>,
        now: OffsetDateTime,
    ) -> ApiResult<Call> {
        let params = params_of(request)?;
        match header(request.headers, "authorization") {
            Some(value) if value.starts_with(sign::V3_ALGORITHM) => {
                self.authenticate_v3(request, params, now)
            }
            _ => self.authenticate_v1(request.method, params, now),
        }
    }

    /// V1: HMAC-SHA1 over every parameter but `Signature` (§2.1).
    fn authenticate_v1(
        &self,
        method: &Method,
        params: Vec<(String, String)>,
        now: OffsetDateTime,
    ) -> ApiResult<Call> {
        let call = Call {
            action: String::new(),
            params,
        };
        let signature = call.require("Signature")?.to_owned();
        let key_id = call.require("AccessKeyId")?;
        if call.get("SignatureMethod") != Some(sign::V1_SIGNATURE_METHOD) {
            return Err(ApiError::new(
                400,
                "InvalidSignatureMethod",
                "Specified signature method is not valid.",
            ));
        }
        let key = self.key_for(key_id, call.get("SecurityToken"))?;
        check_timestamp(call.require("Timestamp")?, now)?;
        let string_to_sign = sign::v1_string_to_sign(method.as_str(), &call.params);
        let expected = sign::v1_signature(&key.secret, &string_to_sign);
        if expected != signature {
            return Err(signature_mismatch(&string_to_sign));
        }
        self.use_nonce(call.require("SignatureNonce")?)?;
        self.check_version(call.get("Version"))?;
        let action = call.require("Action")?.to_owned();
        Ok(Call { action, ..call })
    }

    /// V3: rebuild the canonical request from exactly the signed headers (§2.2).
    fn authenticate_v3(
        &self,
        request: RpcRequest<'_>,
        params: Vec<(String, String)>,
        now: OffsetDateTime,
    ) -> ApiResult<Call> {
        let headers = request.headers;
        let auth = header(headers, "authorization")
            .and_then(sign::parse_v3_authorization)
            .ok_or_else(incomplete_signature)?;
        let sent: Vec<(String, String)> = headers
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        check_signed_headers(&sent, &auth.signed_headers)?;
        let key = self.key_for(&auth.access_key_id, header(headers, "x-acs-security-token"))?;
        check_timestamp(
            header(headers, "x-acs-date").ok_or_else(incomplete_signature)?,
            now,
        )?;
        let payload_sha256 = sign::sha256_hex(request.body);
        if header(headers, "x-acs-content-sha256").is_some_and(|h| h != payload_sha256) {
            return Err(ApiError::new(
                400,
                "SignatureDoesNotMatch",
                "The x-acs-content-sha256 header does not match the body.",
            ));
        }
        let query = parse_pairs(request.uri.query().unwrap_or(""))?;
        let canonical = sign::v3_canonical_request(&V3Request {
            method: request.method.as_str(),
            path: "/",
            query: &query,
            headers: &sent,
            signed_headers: &auth.signed_headers,
            payload_sha256: &payload_sha256,
        });
        let string_to_sign = sign::v3_string_to_sign(&canonical);
        if sign::v3_signature(&key.secret, &string_to_sign) != auth.signature {
            return Err(signature_mismatch(&string_to_sign));
        }
        self.use_nonce(header(headers, "x-acs-signature-nonce").ok_or_else(incomplete_signature)?)?;
        self.check_version(header(headers, "x-acs-version"))?;
        let action = header(headers, "x-acs-action")
            .ok_or_else(|| ApiError::missing("Action"))?
            .to_owned();
        Ok(Call { action, params })
    }

    /// The key with this ID, refusing an unknown one, a token that does not match a temporary
    /// key's, and an expired temporary key (as the gateway answers each).
    fn key_for(&self, key_id: &str, token: Option<&str>) -> ApiResult<KeyPair> {
        let key = self.keys.find(key_id).ok_or_else(|| {
            ApiError::new(
                404,
                "InvalidAccessKeyId.NotFound",
                "Specified access key is not found.",
            )
        })?;
        if let Some(expected) = key.security_token.as_deref()
            && token != Some(expected)
        {
            return Err(ApiError::new(
                400,
                "InvalidSecurityToken.MismatchWithAccessKey",
                "Specified SecurityToken mismatch with the AccessKey.",
            ));
        }
        if key.is_expired(self.keys.now()) {
            return Err(token_expired());
        }
        Ok(key)
    }

    fn use_nonce(&self, nonce: &str) -> ApiResult<()> {
        let fresh = self
            .nonces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(nonce.to_owned());
        if fresh {
            Ok(())
        } else {
            Err(ApiError::new(
                400,
                "SignatureNonceUsed",
                "Specified signature nonce was used already.",
            ))
        }
    }

    fn check_version(&self, version: Option<&str>) -> ApiResult<()> {
        match version {
            Some(v) if v == self.version => Ok(()),
            None => Err(ApiError::missing("Version")),
            Some(_) => Err(ApiError::new(
                400,
                "InvalidVersion",
                "Specified parameter Version is not valid.",
            )),
        }
    }
}

/// The gateway's answer to a temporary key used after its expiry (research-credentials.md §8:
/// the code and message are confirmed in product error tables; the status is 400 in the
/// generic gateway tables, 403 in some products').
pub(crate) fn token_expired() -> ApiError {
    ApiError::new(
        400,
        "InvalidSecurityToken.Expired",
        "Specified SecurityToken is expired.",
    )
}

fn incomplete_signature() -> ApiError {
    ApiError::new(
        400,
        "IncompleteSignature",
        "The request signature does not conform to Aliyun standards.",
    )
}

/// host and every `x-acs-*` header sent must be signed, and the four the gateway reads (§2.2).
fn check_signed_headers(sent: &[(String, String)], signed: &[String]) -> ApiResult<()> {
    let must_sign = sent
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| *name == "host" || name.starts_with("x-acs-"));
    for name in must_sign.chain([
        "host",
        "x-acs-action",
        "x-acs-date",
        "x-acs-signature-nonce",
    ]) {
        if !signed.iter().any(|s| s == name) {
            return Err(incomplete_signature());
        }
    }
    Ok(())
}

/// The query's parameters, then a form body's.
fn params_of(request: RpcRequest<'_>) -> ApiResult<Vec<(String, String)>> {
    let mut params = parse_pairs(request.uri.query().unwrap_or(""))?;
    let is_form = header(request.headers, "content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        let text = std::str::from_utf8(request.body).map_err(|_| ApiError::invalid("Body"))?;
        params.extend(parse_pairs(text)?);
    }
    Ok(params)
}

fn check_timestamp(text: &str, now: OffsetDateTime) -> ApiResult<()> {
    let at = sign::parse_timestamp(text).ok_or_else(|| {
        ApiError::new(
            400,
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        )
    })?;
    let skew = (now - at).unsigned_abs();
    if skew > MAX_CLOCK_SKEW {
        return Err(ApiError::new(
            400,
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
        ));
    }
    Ok(())
}

/// The gateway's answer to a wrong signature: the server's string to sign is echoed so the
/// client can tell a bad secret from a bad algorithm (§0, §1.9).
fn signature_mismatch(string_to_sign: &str) -> ApiError {
    ApiError::new(
        400,
        "SignatureDoesNotMatch",
        format!(
            "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
        ),
    )
}

fn parse_pairs(text: &str) -> ApiResult<Vec<(String, String)>> {
    serde_urlencoded::from_str(text).map_err(|_| ApiError::invalid("QueryString"))
}

/// A header's value, when it is text.
pub(crate) fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A request ID shaped like Alibaba's (upper-case UUID).
pub(crate) fn new_request_id() -> String {
    let b = rand::random::<[u8; 16]>();
    let h = hex::encode_upper(b);
    format!(
        "{}-{}-{}-{}-{}",
        h.get(0..8).unwrap_or(""),
        h.get(8..12).unwrap_or(""),
        h.get(12..16).unwrap_or(""),
        h.get(16..20).unwrap_or(""),
        h.get(20..32).unwrap_or("")
    )
}

/// The HTTP answer: 200 with the action's JSON and its `RequestId`, or the error body
/// `{RequestId, HostId, Code, Message, Recommend}` with the error's status. `host` is the
/// request's `Host` (the gateway echoes it as `HostId`).
pub(crate) fn respond(served: ApiResult<serde_json::Value>, host: String) -> Response {
    let request_id = new_request_id();
    match served {
        Ok(mut answer) => {
            if let Some(object) = answer.as_object_mut() {
                object.insert("RequestId".into(), serde_json::Value::String(request_id));
            }
            (StatusCode::OK, axum::Json(answer)).into_response()
        }
        Err(error) => {
            let body = ErrorBody {
                request_id,
                host_id: host,
                recommend: format!("https://api.aliyun.com/troubleshoot?q={}", error.code),
                code: error.code,
                message: error.message,
            };
            (error.status, axum::Json(body)).into_response()
        }
    }
}

/// Serves one request of a service that answers at once (STS, RAM): runs `serve`, notes the
/// call in the shared request log (action, status and, when records are kept, the signature),
/// and answers.
pub(crate) fn serve_logged(
    log: &RequestLog,
    request: RpcRequest<'_>,
    default_host: &str,
    serve: impl FnOnce(RpcRequest<'_>) -> ApiResult<serde_json::Value>,
) -> Response {
    let host = header(request.headers, "host")
        .unwrap_or(default_host)
        .to_owned();
    let response = respond(serve(request), host);
    let signature = log
        .keeps_records()
        .then(|| {
            let params = params_of(request).unwrap_or_default();
            signature_of(header(request.headers, "authorization"), &params)
        })
        .flatten();
    log.record(RequestRecord {
        operation: RpcAuth::peek_action(request),
        status: response.status().as_u16(),
        upload_id: None,
        part_number: None,
        signature,
    });
    response
}

/// A value as JSON (the models serialise infallibly; `Null` is never expected).
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    //! The verifier against the captured SDK requests of `shared/vectors/rds_sign_vectors.out`
    //! (§2a core V1, §3 Tea V1, §4a Tea V3, §4b V3 + STS), replayed byte for byte.
    use super::*;

    const AK_ID: &str = "LTAI5tExampleAccessKeyId";
    const AK_SECRET: &str = "ExampleAccessKeySecret";
    const STS_TOKEN: &str = "CAIS.example+security/token==";
    const POSITION: &str = "BackupMode=FULL&CheckDBMode=AsyncExecuteDBCheck&DBInstanceId=rm-bp1example0001&DBName=sales_db&IsOnlineDB=True&OssObjectPositions=oss-cn-hangzhou.aliyuncs.com%3Amig-bucket%3Abackups%2Fsales_db%2Fsales_db_FULL_20240501.bak";

    fn key(secret: &str, token: Option<&str>) -> KeyPair {
        let mut key = KeyPair::new(AK_ID, secret);
        key.security_token = token.map(str::to_owned);
        key
    }

    fn gateway(key: KeyPair) -> RpcAuth {
        RpcAuth::new(sign::API_VERSION, Arc::new(KeyRing::new(vec![key], 0)))
    }

    fn at_capture() -> OffsetDateTime {
        sign::parse_timestamp("2024-05-01T08:00:30Z").unwrap()
    }

    fn headers(list: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in list {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn check(
        auth: &RpcAuth,
        method: &Method,
        uri: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: OffsetDateTime,
    ) -> ApiResult<Call> {
        let uri: Uri = uri.parse().unwrap();
        let request = RpcRequest {
            method,
            uri: &uri,
            headers,
            body,
        };
        auth.authenticate(request, now)
    }

    fn verify(key: KeyPair, uri: &str, headers: &HeaderMap) -> ApiResult<Call> {
        check(
            &gateway(key),
            &Method::POST,
            uri,
            headers,
            b"",
            at_capture(),
        )
    }

    const CORE_V1: &str = "/?DBInstanceId=rm-bp1example0001&DBName=sales_db&BackupMode=FULL&IsOnlineDB=True&CheckDBMode=AsyncExecuteDBCheck&OssObjectPositions=oss-cn-hangzhou.aliyuncs.com%3Amig-bucket%3Abackups%2Fsales_db%2Fsales_db_FULL_20240501.bak&Version=2014-08-15&Action=CreateMigrateTask&Format=JSON&RegionId=cn-hangzhou&Timestamp=2024-05-01T08%3A00%3A00Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0&SignatureNonce=5f1c2b3a-4d5e-6f70-8192-a3b4c5d6e7f8&AccessKeyId=LTAI5tExampleAccessKeyId&Signature=nzLWXOIQbuJDJljR2nvCTxV1f04%3D";

    #[test]
    fn core_sdk_v1_capture_2a_verifies() {
        let call = verify(key(AK_SECRET, None), CORE_V1, &HeaderMap::new()).unwrap();
        assert_eq!(call.action, "CreateMigrateTask");
        assert_eq!(call.get("DBName"), Some("sales_db"));
        // The same request with another secret is refused with the string to sign echoed.
        let error = verify(key("wrong", None), CORE_V1, &HeaderMap::new()).unwrap_err();
        assert_eq!(error.code, "SignatureDoesNotMatch");
        assert!(error.message.ends_with("server string to sign is:POST&%2F&AccessKeyId%3DLTAI5tExampleAccessKeyId%26Action%3DCreateMigrateTask%26BackupMode%3DFULL%26CheckDBMode%3DAsyncExecuteDBCheck%26DBInstanceId%3Drm-bp1example0001%26DBName%3Dsales_db%26Format%3DJSON%26IsOnlineDB%3DTrue%26OssObjectPositions%3Doss-cn-hangzhou.aliyuncs.com%253Amig-bucket%253Abackups%252Fsales_db%252Fsales_db_FULL_20240501.bak%26RegionId%3Dcn-hangzhou%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D5f1c2b3a-4d5e-6f70-8192-a3b4c5d6e7f8%26SignatureType%3D%26SignatureVersion%3D1.0%26Timestamp%3D2024-05-01T08%253A00%253A00Z%26Version%3D2014-08-15"));
    }

    #[test]
    fn another_services_version_is_refused() {
        let sts = RpcAuth::new(
            "2015-04-01",
            Arc::new(KeyRing::new(vec![key(AK_SECRET, None)], 0)),
        );
        let error = check(
            &sts,
            &Method::POST,
            CORE_V1,
            &HeaderMap::new(),
            b"",
            at_capture(),
        )
        .unwrap_err();
        assert_eq!(error.code, "InvalidVersion");
    }

    #[test]
    fn an_expired_temporary_key_is_refused_as_the_gateway_does() {
        let uri = "/?DBInstanceId=rm-bp1example0001&DBName=sales_db&BackupMode=FULL&IsOnlineDB=True&CheckDBMode=AsyncExecuteDBCheck&OssObjectPositions=oss-cn-hangzhou.aliyuncs.com%3Amig-bucket%3Abackups%2Fsales_db%2Fsales_db_FULL_20240501.bak&SecurityToken=CAIS.example%2Bsecurity%2Ftoken%3D%3D&Version=2014-08-15&Action=CreateMigrateTask&Format=JSON&RegionId=cn-hangzhou&Timestamp=2024-05-01T08%3A00%3A00Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0&SignatureNonce=5f1c2b3a-4d5e-6f70-8192-a3b4c5d6e7f8&AccessKeyId=LTAI5tExampleAccessKeyId&Signature=9PUqY2JZ93Fb27%2BHF6WxJfctguM%3D";
        let mut expired = key(AK_SECRET, Some(STS_TOKEN));
        expired.expires_unix = Some(1_000);
        let error = verify(expired, uri, &HeaderMap::new()).unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.code, "InvalidSecurityToken.Expired");
        assert_eq!(error.message, "Specified SecurityToken is expired.");
    }

    #[test]
    fn core_sdk_v1_sts_capture_2b_verifies() {
        let uri = "/?DBInstanceId=rm-bp1example0001&DBName=sales_db&BackupMode=FULL&IsOnlineDB=True&CheckDBMode=AsyncExecuteDBCheck&OssObjectPositions=oss-cn-hangzhou.aliyuncs.com%3Amig-bucket%3Abackups%2Fsales_db%2Fsales_db_FULL_20240501.bak&SecurityToken=CAIS.example%2Bsecurity%2Ftoken%3D%3D&Version=2014-08-15&Action=CreateMigrateTask&Format=JSON&RegionId=cn-hangzhou&Timestamp=2024-05-01T08%3A00%3A00Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0&SignatureNonce=5f1c2b3a-4d5e-6f70-8192-a3b4c5d6e7f8&AccessKeyId=LTAI5tExampleAccessKeyId&Signature=9PUqY2JZ93Fb27%2BHF6WxJfctguM%3D";
        verify(key(AK_SECRET, Some(STS_TOKEN)), uri, &HeaderMap::new()).unwrap();
    }

    #[test]
    fn tea_sdk_v1_capture_3_verifies() {
        let uri = "/?Action=CreateMigrateTask&Format=json&Version=2014-08-15&Timestamp=2024-05-01T08%3A00%3A00Z&SignatureNonce=5f1c2b3a-4d5e-6f70-8192-a3b4c5d6e7f8&BackupMode=FULL&CheckDBMode=AsyncExecuteDBCheck&DBInstanceId=rm-bp1example0001&DBName=sales_db&IsOnlineDB=True&OssObjectPositions=oss-cn-hangzhou.aliyuncs.com%3Amig-bucket%3Abackups%2Fsales_db%2Fsales_db_FULL_20240501.bak&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=LTAI5tExampleAccessKeyId&Signature=ugiu4XJtrsar1sptSRqsp%2BRDpow%3D";
        let call = verify(key(AK_SECRET, None), uri, &HeaderMap::new()).unwrap();
        assert_eq!(call.action, "CreateMigrateTask");
    }

    fn tea_v3_headers(extra: &[(&str, &str)], provider: &str, authorization: &str) -> HeaderMap {
        let mut list = vec![
            ("accept-encoding", "identity"),
            ("host", "127.0.0.1:47815"),
            ("x-acs-version", "2014-08-15"),
            ("x-acs-action", "CreateMigrateTask"),
            (
                "user-agent",
                "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
            ),
            ("x-acs-date", "2024-05-01T08:00:00Z"),
            (
                "x-acs-signature-nonce",
                "5f1c2b3a-4d5e-6f70-8192-a3b4c5d6e7f8",
            ),
            ("accept", "application/json"),
            ("x-acs-content-sha256", sign::EMPTY_BODY_SHA256),
            ("x-acs-credentials-provider", provider),
            ("authorization", authorization),
            ("content-length", "0"),
        ];
        list.extend_from_slice(extra);
        headers(&list)
    }

    #[test]
    fn tea_sdk_v3_capture_4a_verifies_and_a_tampered_header_does_not() {
        let authorization = "ACS3-HMAC-SHA256 Credential=LTAI5tExampleAccessKeyId,SignedHeaders=accept;host;user-agent;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=038ec5830f25175b14ea3a0dec220d9ecb00b9cdacfd89773390696fca0284dc";
        let uri = format!("/?{POSITION}");
        let good = tea_v3_headers(&[], "static_ak", authorization);
        let call = verify(key(AK_SECRET, None), &uri, &good).unwrap();
        assert_eq!(call.action, "CreateMigrateTask");
        assert_eq!(call.get("BackupMode"), Some("FULL"));
        let mut tampered = good.clone();
        tampered.insert("user-agent", "something else".parse().unwrap());
        let error = verify(key(AK_SECRET, None), &uri, &tampered).unwrap_err();
        assert_eq!(error.code, "SignatureDoesNotMatch");
        // An x-acs-* header sent but not signed is refused.
        let mut unsigned = good.clone();
        unsigned.insert("x-acs-extra", "1".parse().unwrap());
        let error = verify(key(AK_SECRET, None), &uri, &unsigned).unwrap_err();
        assert_eq!(error.code, "IncompleteSignature");
    }

    #[test]
    fn tea_sdk_v3_sts_capture_4b_verifies() {
        let authorization = "ACS3-HMAC-SHA256 Credential=LTAI5tExampleAccessKeyId,SignedHeaders=accept;host;user-agent;x-acs-accesskey-id;x-acs-action;x-acs-content-sha256;x-acs-credentials-provider;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version,Signature=b8fbc007a7161c0cfb0c6a1e9eb0681bc37c71a10707d338aa6452b08ffbb9f8";
        let extra = [
            ("x-acs-accesskey-id", AK_ID),
            ("x-acs-security-token", STS_TOKEN),
        ];
        let request = tea_v3_headers(&extra, "static_sts", authorization);
        verify(
            key(AK_SECRET, Some(STS_TOKEN)),
            &format!("/?{POSITION}"),
            &request,
        )
        .unwrap();
    }

    #[test]
    fn stale_timestamps_and_reused_nonces_are_refused() {
        let uri = "/?Action=CreateMigrateTask&Format=json&Version=2014-08-15&Timestamp=2024-05-01T08%3A00%3A00Z&SignatureNonce=5f1c2b3a-4d5e-6f70-8192-a3b4c5d6e7f8&BackupMode=FULL&CheckDBMode=AsyncExecuteDBCheck&DBInstanceId=rm-bp1example0001&DBName=sales_db&IsOnlineDB=True&OssObjectPositions=oss-cn-hangzhou.aliyuncs.com%3Amig-bucket%3Abackups%2Fsales_db%2Fsales_db_FULL_20240501.bak&SignatureMethod=HMAC-SHA1&SignatureVersion=1.0&AccessKeyId=LTAI5tExampleAccessKeyId&Signature=ugiu4XJtrsar1sptSRqsp%2BRDpow%3D";
        let auth = gateway(key(AK_SECRET, None));
        let none = HeaderMap::new();
        let later = at_capture() + time::Duration::minutes(20);
        let stale = check(&auth, &Method::POST, uri, &none, b"", later).unwrap_err();
        assert_eq!(stale.code, "InvalidTimeStamp.Expired");
        check(&auth, &Method::POST, uri, &none, b"", at_capture()).unwrap();
        let replay = check(&auth, &Method::POST, uri, &none, b"", at_capture()).unwrap_err();
        assert_eq!(replay.code, "SignatureNonceUsed");
    }

    #[test]
    fn v1_parameters_may_come_by_get_or_in_a_form_body() {
        let credentials = sign::Credentials::new(AK_ID, AK_SECRET);
        let business = vec![("DBInstanceId".to_owned(), "rm-emulator0001".to_owned())];
        let signed = |method: &str, nonce: &str| {
            let stamp = sign::RequestStamp {
                timestamp: "2024-05-01T08:00:00Z",
                nonce,
            };
            let params = sign::sign_v1(
                method,
                "DescribeAccounts",
                &business,
                &credentials,
                sign::V1Dialect::TeaSdk,
                "cn-hangzhou",
                stamp,
            );
            serde_urlencoded::to_string(&params).unwrap()
        };
        let auth = gateway(key(AK_SECRET, None));
        let none = HeaderMap::new();
        let get = format!("/?{}", signed("GET", "n1"));
        let call = check(&auth, &Method::GET, &get, &none, b"", at_capture()).unwrap();
        assert_eq!(call.action, "DescribeAccounts");
        let form = headers(&[("content-type", "application/x-www-form-urlencoded")]);
        let body = signed("POST", "n2");
        let call = check(
            &auth,
            &Method::POST,
            "/",
            &form,
            body.as_bytes(),
            at_capture(),
        )
        .unwrap();
        assert_eq!(call.get("DBInstanceId"), Some("rm-emulator0001"));
        // Signed for POST, sent as GET: refused.
        let wrong = format!("/?{}", signed("POST", "n3"));
        let error = check(&auth, &Method::GET, &wrong, &none, b"", at_capture()).unwrap_err();
        assert_eq!(error.code, "SignatureDoesNotMatch");
    }

    #[test]
    fn anonymous_calls_need_only_action_and_version() {
        let auth = gateway(key(AK_SECRET, None));
        let none = HeaderMap::new();
        let uri: Uri = "/?Action=DescribeAccounts&Version=2014-08-15&X=1"
            .parse()
            .unwrap();
        let request = RpcRequest {
            method: &Method::POST,
            uri: &uri,
            headers: &none,
            body: b"",
        };
        assert_eq!(
            RpcAuth::peek_action(request).as_deref(),
            Some("DescribeAccounts")
        );
        let call = auth.anonymous(request).unwrap();
        assert_eq!(
            (call.action.as_str(), call.get("X")),
            ("DescribeAccounts", Some("1"))
        );
        let uri: Uri = "/?Action=DescribeAccounts".parse().unwrap();
        let error = auth
            .anonymous(RpcRequest {
                uri: &uri,
                ..request
            })
            .unwrap_err();
        assert_eq!(error.code, "MissingVersion");
    }
}

//! The emulated Security Token Service (RPC API `2015-04-01`): `AssumeRole`, signed by a key
//! of the ring (a temporary key too: role chaining), and `AssumeRoleWithOIDC`, anonymous, as
//! the service allows (research-credentials.md §5). Both issue a temporary key pair into the
//! emulator's [`KeyRing`], so OSS and RDS accept it until it expires.
//!
//! For rehearsal, `[sts] token_ttl_secs` (`serve --sts-token-ttl`) caps the lifetime issued,
//! whatever the client asks: a client's refresh is then exercised in seconds. The gateway's
//! work (signatures, versions, errors) is `rpc_auth.rs`; this module holds only the actions.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use base64::Engine as _;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::config::StsConfig;
use crate::keyring::{IssuedKey, KeyRing, utc_text};
use crate::observe::RequestLog;
use crate::rpc_auth::{ApiError, ApiResult, Call, RpcAuth, RpcRequest, serve_logged, to_json};

/// The STS API version every call carries.
pub const API_VERSION: &str = "2015-04-01";
/// The service's host, echoed as `HostId` when a request has none.
const STS_HOST: &str = "sts.aliyuncs.com";
/// The shortest lifetime a client may ask for (AssumeRole's documented minimum: 15 minutes).
const MIN_DURATION_SECS: u64 = 900;
/// What a client gets when it does not ask (the documented default: one hour).
const DEFAULT_DURATION_SECS: u64 = 3600;

/// The emulated STS.
pub struct StsEmulator {
    config: StsConfig,
    auth: RpcAuth,
    requests: Arc<RequestLog>,
}

impl std::fmt::Debug for StsEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StsEmulator")
            .field("config", &self.config)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// `Credentials` of an answer. Its `Debug` hides the secret and the token.
#[derive(Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StsCredentials {
    /// `STS.` + 28 characters.
    pub access_key_id: String,
    /// The secret.
    pub access_key_secret: String,
    /// The security token.
    pub security_token: String,
    /// `yyyy-MM-ddTHH:mm:ssZ`, the last second the key is valid.
    pub expiration: String,
}

impl std::fmt::Debug for StsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

impl From<&IssuedKey> for StsCredentials {
    fn from(issued: &IssuedKey) -> Self {
        StsCredentials {
            access_key_id: issued.key.id.clone(),
            access_key_secret: issued.key.secret.clone(),
            security_token: issued.key.security_token.clone().unwrap_or_default(),
            expiration: utc_text(issued.expires_at),
        }
    }
}

/// `AssumedRoleUser` of an answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
struct AssumedRoleUser {
    arn: String,
    assumed_role_id: String,
}

/// `OIDCTokenInfo` of an AssumeRoleWithOIDC answer: what the token's claims said.
#[derive(Debug, Clone, Serialize)]
struct OidcTokenInfo {
    #[serde(rename = "Subject")]
    subject: String,
    #[serde(rename = "Issuer")]
    issuer: String,
    #[serde(rename = "ClientIds")]
    client_ids: String,
}

/// The answer of AssumeRole (`RequestId` is added by the gateway).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleAnswer {
    assumed_role_user: AssumedRoleUser,
    credentials: StsCredentials,
}

/// The answer of AssumeRoleWithOIDC.
#[derive(Debug, Serialize)]
struct AssumeRoleWithOidcAnswer {
    #[serde(rename = "AssumedRoleUser")]
    assumed_role_user: AssumedRoleUser,
    #[serde(rename = "Credentials")]
    credentials: StsCredentials,
    #[serde(rename = "OIDCTokenInfo")]
    oidc_token_info: OidcTokenInfo,
}

impl StsEmulator {
    /// STS for these roles, issuing into (and verifying with) `keys`, noting calls in
    /// `requests`.
    pub fn new(config: StsConfig, keys: Arc<KeyRing>, requests: Arc<RequestLog>) -> Self {
        StsEmulator {
            config,
            auth: RpcAuth::new(API_VERSION, keys),
            requests,
        }
    }

    /// The cap on issued lifetimes (`[sts] token_ttl_secs`), if any.
    pub fn token_ttl(&self) -> Option<Duration> {
        self.config
            .token_ttl_secs
            .map(|secs| Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX)))
    }

    /// The router serving `/`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new().fallback(handle).with_state(self)
    }

    /// Runs one request: AssumeRoleWithOIDC anonymously, everything else signed.
    fn serve(&self, request: RpcRequest<'_>) -> ApiResult<serde_json::Value> {
        if request.uri.path() != "/" {
            return Err(ApiError::action_not_found());
        }
        let call = if RpcAuth::peek_action(request).as_deref() == Some("AssumeRoleWithOIDC") {
            self.auth.anonymous(request)?
        } else {
            self.auth.authenticate(request, OffsetDateTime::now_utc())?
        };
        match call.action.as_str() {
            "AssumeRole" => Ok(to_json(&self.assume_role(&call)?)),
            "AssumeRoleWithOIDC" => Ok(to_json(&self.assume_role_with_oidc(&call)?)),
            _ => Err(ApiError::action_not_found()),
        }
    }

    fn assume_role(&self, call: &Call) -> ApiResult<AssumeRoleAnswer> {
        let arn = call.require("RoleArn")?;
        let session = session_name(call)?;
        let asked = self.duration(call)?;
        check_policy(call)?;
        let role = self.role(arn)?;
        let issued = self.issue("AssumeRole", role, asked);
        Ok(AssumeRoleAnswer {
            assumed_role_user: self.assumed_role_user(role, session),
            credentials: StsCredentials::from(&issued),
        })
    }

    fn assume_role_with_oidc(&self, call: &Call) -> ApiResult<AssumeRoleWithOidcAnswer> {
        let provider = call.require("OIDCProviderArn")?;
        let arn = call.require("RoleArn")?;
        let token = call.require("OIDCToken")?;
        let session = session_name(call)?;
        let asked = self.duration(call)?;
        check_policy(call)?;
        if !provider.eq_ignore_ascii_case(&self.config.oidc_provider_arn()) {
            return Err(ApiError::new(
                404,
                "EntityNotExist.OIDCProvider",
                format!("The OIDC provider not exists: {provider}."),
            ));
        }
        let claims = oidc_claims(token).ok_or_else(|| {
            ApiError::new(
                400,
                "InvalidParameter.OIDCToken",
                "The parameter OIDCToken is wrongly formed.",
            )
        })?;
        let role = self.role(arn)?;
        let issued = self.issue("AssumeRoleWithOIDC", role, asked);
        Ok(AssumeRoleWithOidcAnswer {
            assumed_role_user: self.assumed_role_user(role, session),
            credentials: StsCredentials::from(&issued),
            oidc_token_info: claims,
        })
    }

    /// `DurationSeconds`: 900 up to the role's MaxSessionDuration, 3600 when absent.
    fn duration(&self, call: &Call) -> ApiResult<u64> {
        let max = self.config.max_session_secs;
        let Some(text) = call.get("DurationSeconds") else {
            return Ok(DEFAULT_DURATION_SECS.min(max));
        };
        text.parse::<u64>()
            .ok()
            .filter(|secs| (MIN_DURATION_SECS..=max).contains(secs))
            .ok_or_else(|| {
                ApiError::new(
                    400,
                    "InvalidParameter.DurationSeconds",
                    format!(
                        "The Min/Max value of DurationSeconds is 15min/{}.",
                        hours_text(max)
                    ),
                )
            })
    }

    /// The configured role an ARN names.
    fn role(&self, arn: &str) -> ApiResult<&str> {
        if !arn.starts_with("acs:ram::") || !arn.contains(":role/") {
            return Err(ApiError::new(
                400,
                "InvalidParameter.RoleArn",
                "The parameter RoleArn is wrongly formed.",
            ));
        }
        self.config.role_for_arn(arn).ok_or_else(|| {
            ApiError::new(
                404,
                "EntityNotExist.Role",
                format!("The role not exists: {arn}."),
            )
        })
    }

    fn assumed_role_user(&self, role: &str, session: &str) -> AssumedRoleUser {
        AssumedRoleUser {
            arn: format!("{}/{session}", self.config.role_arn(role)),
            assumed_role_id: format!("{}:{session}", role_id(&self.config.account_id, role)),
        }
    }

    /// Issues a key for `asked` seconds, or the configured cap when shorter, and logs it
    /// (never the secret or the token).
    fn issue(&self, action: &str, role: &str, asked: u64) -> IssuedKey {
        let asked = Duration::seconds(i64::try_from(asked).unwrap_or(i64::MAX));
        let lifetime = self.token_ttl().map_or(asked, |cap| cap.min(asked));
        let keys = self.auth.keys();
        let issued = keys.issue(keys.now(), lifetime);
        tracing::info!(
            action,
            role,
            access_key_id = %issued.key.id,
            expiration = %utc_text(issued.expires_at),
            "STS issued temporary credentials"
        );
        issued
    }
}

/// `RoleSessionName`: required, 2–64 of letters, digits and `.@-_` (the documented pattern).
fn session_name(call: &Call) -> ApiResult<&str> {
    let name = call.require("RoleSessionName")?;
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'@' | b'-' | b'_');
    if (2..=64).contains(&name.len()) && name.bytes().all(allowed) {
        Ok(name)
    } else {
        Err(ApiError::new(
            400,
            "InvalidParameter.RoleSessionName",
            "The parameter RoleSessionName is wrongly formed.",
        ))
    }
}

/// An inline `Policy` must at least be JSON (the service checks its grammar).
fn check_policy(call: &Call) -> ApiResult<()> {
    match call.get("Policy") {
        Some(text) if serde_json::from_str::<serde_json::Value>(text).is_err() => {
            Err(ApiError::new(
                400,
                "InvalidParameter.PolicyGrammar",
                "The parameter Policy has not passed grammar check.",
            ))
        }
        _ => Ok(()),
    }
}

/// The claims of a token shaped like a JWT: three non-empty base64url parts, the first two
/// JSON objects. The signature is not verified: the emulator has no provider keys.
fn oidc_claims(token: &str) -> Option<OidcTokenInfo> {
    let mut parts = token.trim().split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if signature.is_empty() {
        return None;
    }
    json_part(header)?;
    let claims = json_part(payload)?;
    let text = |name: &str| claims.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let audiences = match claims.get("aud") {
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .filter_map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(","),
        Some(serde_json::Value::String(one)) => one.clone(),
        _ => String::new(),
    };
    Some(OidcTokenInfo {
        subject: text("sub").unwrap_or_default(),
        issuer: text("iss").unwrap_or_default(),
        client_ids: audiences,
    })
}

/// One base64url part of a JWT (padding tolerated), decoded as a JSON object.
fn json_part(part: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    if part.is_empty() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        serde_json::Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A role's ID as RAM shows it: `3` and seventeen digits, the same for the same role every run
/// (derived from the account and the name with FNV-1a, so nothing needs storing).
pub(crate) fn role_id(account_id: &str, role: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in account_id
        .bytes()
        .chain([b':'])
        .chain(role.to_ascii_lowercase().bytes())
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("3{:017}", hash % 100_000_000_000_000_000)
}

/// `1hr`, `12hr`, or seconds when not whole hours (the service's message names hours).
fn hours_text(secs: u64) -> String {
    if secs.is_multiple_of(3600) {
        format!("{}hr", secs / 3600)
    } else {
        format!("{secs}s")
    }
}

async fn handle(
    axum::extract::State(sts): axum::extract::State<Arc<StsEmulator>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = RpcRequest {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: &body,
    };
    serve_logged(&sts.requests, request, STS_HOST, |request| {
        sts.serve(request)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeyPair;
    use bak2rds_cloud::rds::sign;

    const AK: &str = "LTAIstsTestKey";
    const SECRET: &str = "sts-test-secret";

    fn sts(ttl: Option<u64>) -> StsEmulator {
        let config = StsConfig {
            token_ttl_secs: ttl,
            ..StsConfig::default()
        };
        let keys = Arc::new(KeyRing::new(vec![KeyPair::new(AK, SECRET)], 0));
        StsEmulator::new(config, keys, Arc::default())
    }

    /// Signs an STS call as the credentials library does (V1, GET, all in the query).
    fn signed_uri(action: &str, params: &[(&str, &str)], nonce: &str) -> Uri {
        let mut all: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let now = sign::format_timestamp(OffsetDateTime::now_utc());
        for (name, value) in [
            ("Action", action),
            ("Format", "JSON"),
            ("Version", API_VERSION),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", now.as_str()),
            ("SignatureNonce", nonce),
            ("AccessKeyId", AK),
        ] {
            all.push((name.to_owned(), value.to_owned()));
        }
        let signature = sign::v1_signature(SECRET, &sign::v1_string_to_sign("GET", &all));
        all.push(("Signature".to_owned(), signature));
        format!("/?{}", serde_urlencoded::to_string(&all).unwrap())
            .parse()
            .unwrap()
    }

    fn run(sts: &StsEmulator, uri: &Uri) -> ApiResult<serde_json::Value> {
        let headers = HeaderMap::new();
        sts.serve(RpcRequest {
            method: &Method::GET,
            uri,
            headers: &headers,
            body: b"",
        })
    }

    fn jwt(claims: &str) -> String {
        let part = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
        format!("{}.{}.c2ln", part(r#"{"alg":"RS256"}"#), part(claims))
    }

    #[test]
    fn assume_role_issues_a_key_the_ring_accepts() {
        let sts = sts(None);
        let arn = StsConfig::default().first_role_arn();
        let uri = signed_uri(
            "AssumeRole",
            &[("RoleArn", &arn), ("RoleSessionName", "rehearsal")],
            "n1",
        );
        let answer = run(&sts, &uri).unwrap();
        let id = answer["Credentials"]["AccessKeyId"].as_str().unwrap();
        assert!(id.starts_with("STS."));
        assert!(sts.auth.keys().find(id).is_some());
        let user = &answer["AssumedRoleUser"];
        assert_eq!(user["Arn"], format!("{arn}/rehearsal"));
        let role_id = user["AssumedRoleId"].as_str().unwrap();
        assert!(role_id.starts_with('3') && role_id.ends_with(":rehearsal"));
        assert_eq!(role_id.split(':').next().unwrap().len(), 18);
        let expiration = answer["Credentials"]["Expiration"].as_str().unwrap();
        let expires = sign::parse_timestamp(expiration).unwrap();
        let lifetime = expires - OffsetDateTime::now_utc();
        assert!((lifetime - Duration::hours(1)).abs() < Duration::seconds(5));
    }

    #[test]
    fn the_configured_ttl_caps_the_lifetime() {
        let sts = sts(Some(10));
        let arn = StsConfig::default().first_role_arn();
        let uri = signed_uri(
            "AssumeRole",
            &[
                ("RoleArn", &arn),
                ("RoleSessionName", "s1"),
                ("DurationSeconds", "3600"),
            ],
            "n1",
        );
        let answer = run(&sts, &uri).unwrap();
        let expiration = answer["Credentials"]["Expiration"].as_str().unwrap();
        let left = sign::parse_timestamp(expiration).unwrap() - OffsetDateTime::now_utc();
        assert!(left <= Duration::seconds(10), "{left}");
    }

    #[test]
    fn bad_requests_get_the_services_codes() {
        let sts = sts(None);
        let arn = StsConfig::default().first_role_arn();
        let code = |params: &[(&str, &str)], nonce: &str| {
            let error = run(&sts, &signed_uri("AssumeRole", params, nonce)).unwrap_err();
            (error.status.as_u16(), error.code, error.message)
        };
        let unknown = "acs:ram::1234567890123456:role/nobody";
        assert_eq!(
            code(&[("RoleArn", unknown), ("RoleSessionName", "s1")], "a"),
            (
                404,
                "EntityNotExist.Role".into(),
                format!("The role not exists: {unknown}.")
            )
        );
        assert_eq!(code(&[("RoleArn", &arn)], "b").1, "MissingRoleSessionName");
        let short = [
            ("RoleArn", arn.as_str()),
            ("RoleSessionName", "s1"),
            ("DurationSeconds", "899"),
        ];
        assert_eq!(
            code(&short, "c"),
            (
                400,
                "InvalidParameter.DurationSeconds".into(),
                "The Min/Max value of DurationSeconds is 15min/1hr.".into()
            )
        );
        let long = [
            ("RoleArn", arn.as_str()),
            ("RoleSessionName", "s1"),
            ("DurationSeconds", "3601"),
        ];
        assert_eq!(code(&long, "d").1, "InvalidParameter.DurationSeconds");
        let bad_name = [("RoleArn", arn.as_str()), ("RoleSessionName", "a b")];
        assert_eq!(code(&bad_name, "e").1, "InvalidParameter.RoleSessionName");
        let bad_policy = [
            ("RoleArn", arn.as_str()),
            ("RoleSessionName", "s1"),
            ("Policy", "{not json"),
        ];
        assert_eq!(code(&bad_policy, "f").1, "InvalidParameter.PolicyGrammar");
        let error = run(&sts, &signed_uri("GetFederationToken", &[], "g")).unwrap_err();
        assert_eq!(error.code, "InvalidAction.NotFound");
    }

    #[test]
    fn oidc_is_anonymous_and_checks_provider_and_token() {
        let sts = sts(None);
        let config = StsConfig::default();
        let token = jwt(
            r#"{"sub":"system:serviceaccount:ns:app","iss":"https://oidc.example","aud":["sts.aliyuncs.com"]}"#,
        );
        let uri = |provider: &str, token: &str| -> Uri {
            let params = [
                ("Action", "AssumeRoleWithOIDC"),
                ("Version", API_VERSION),
                ("Format", "JSON"),
                ("OIDCProviderArn", provider),
                ("RoleArn", &config.first_role_arn()),
                ("OIDCToken", token),
                ("RoleSessionName", "pod-1"),
            ];
            format!("/?{}", serde_urlencoded::to_string(params).unwrap())
                .parse()
                .unwrap()
        };
        let answer = run(&sts, &uri(&config.oidc_provider_arn(), &token)).unwrap();
        assert!(
            answer["Credentials"]["AccessKeyId"]
                .as_str()
                .unwrap()
                .starts_with("STS.")
        );
        let info = &answer["OIDCTokenInfo"];
        assert_eq!(info["Subject"], "system:serviceaccount:ns:app");
        assert_eq!(info["Issuer"], "https://oidc.example");
        assert_eq!(info["ClientIds"], "sts.aliyuncs.com");
        let other = "acs:ram::1234567890123456:oidc-provider/other";
        let error = run(&sts, &uri(other, &token)).unwrap_err();
        assert_eq!(
            (error.status.as_u16(), error.code.as_str()),
            (404, "EntityNotExist.OIDCProvider")
        );
        for bad in ["not-a-jwt", "a.b", "e30.e30.", "e30.bm90LWpzb24.c2ln"] {
            let error = run(&sts, &uri(&config.oidc_provider_arn(), bad)).unwrap_err();
            assert_eq!(error.code, "InvalidParameter.OIDCToken", "{bad}");
        }
    }

    #[test]
    fn role_ids_are_stable_and_shaped_like_rams() {
        let id = role_id("1234567890123456", "bak2rds-migration");
        assert_eq!(id, role_id("1234567890123456", "BAK2RDS-Migration"));
        assert_eq!(id.len(), 18);
        assert!(id.starts_with('3') && id.bytes().all(|b| b.is_ascii_digit()));
        assert_ne!(id, role_id("1234567890123456", "other"));
    }

    #[test]
    fn debug_hides_issued_secrets() {
        let keys = KeyRing::new(Vec::new(), 0);
        let issued = keys.issue(OffsetDateTime::now_utc(), Duration::seconds(5));
        let credentials = StsCredentials::from(&issued);
        let text = format!("{credentials:?}");
        assert!(!text.contains(&issued.key.secret));
        assert!(text.contains(&issued.key.id));
    }
}

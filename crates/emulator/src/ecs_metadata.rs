//! The emulated ECS instance metadata service, as much as the credential libraries read
//! (research-credentials.md §4): `PUT /latest/api/token` (the hardened mode's session token),
//! `GET /latest/meta-data/ram/security-credentials/` (the instance's role name) and
//! `GET /latest/meta-data/ram/security-credentials/<role>` (its temporary credentials).
//!
//! The session token is optional, as on a default instance, unless `[sts]
//! ecs_metadata_token_required` makes it mandatory. The role's credentials rotate like the real
//! service's: the same key is served until less than half its lifetime remains, then a new one
//! is issued into the emulator's [`KeyRing`] (lifetime: `[sts] token_ttl_secs`, else six
//! hours). Requests may come in absolute form (`GET http://100.100.100.200/...`), which is
//! what a client sends through `HTTP_PROXY`, the libraries' one way to reach another host.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::config::{StsConfig, random_alnum};
use crate::keyring::{IssuedKey, KeyRing, utc_text};
use crate::observe::{RequestLog, RequestRecord};

/// The path of the session-token request.
const TOKEN_PATH: &str = "/latest/api/token";
/// The folder listing the instance's role and holding its credentials.
const CREDENTIALS_PATH: &str = "/latest/meta-data/ram/security-credentials/";
/// The header asking for a session token's lifetime, in seconds.
const TTL_HEADER: &str = "x-aliyun-ecs-metadata-token-ttl-seconds";
/// The header carrying a session token.
const TOKEN_HEADER: &str = "x-aliyun-ecs-metadata-token";
/// The longest session token the service issues: six hours (the libraries ask for 21600).
const MAX_SESSION_SECS: u64 = 21_600;
/// The role credentials' lifetime when `[sts] token_ttl_secs` is not set: six hours.
const DEFAULT_CREDENTIAL_SECS: i64 = 6 * 3600;
/// At most this many live session tokens are kept (the libraries ask for one per read).
const MAX_SESSIONS: usize = 10_000;
/// Length of a session token.
const SESSION_TOKEN_LEN: usize = 56;

/// The emulated metadata service of one instance.
pub struct EcsMetadata {
    role: String,
    token_required: bool,
    lifetime: Duration,
    keys: Arc<KeyRing>,
    requests: Arc<RequestLog>,
    state: Mutex<MetadataState>,
}

#[derive(Default)]
struct MetadataState {
    /// Session tokens and when each expires.
    sessions: HashMap<String, OffsetDateTime>,
    /// The role's current credentials.
    current: Option<IssuedKey>,
}

impl std::fmt::Debug for EcsMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcsMetadata")
            .field("role", &self.role)
            .field("token_required", &self.token_required)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// The role's credentials, as the service answers them. Never `Debug`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RoleCredentials {
    access_key_id: String,
    access_key_secret: String,
    expiration: String,
    security_token: String,
    last_updated: String,
    code: &'static str,
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    BadTtl,
    Unauthorized,
    NotFound,
    MethodNotAllowed,
}

impl Refusal {
    fn response(self) -> Response {
        let (status, text) = match self {
            Refusal::BadTtl => (StatusCode::BAD_REQUEST, "400 - Bad Request"),
            Refusal::Unauthorized => (StatusCode::UNAUTHORIZED, "401 - Unauthorized"),
            Refusal::NotFound => (StatusCode::NOT_FOUND, "404 - Not Found"),
            Refusal::MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, "405 - Method Not Allowed")
            }
        };
        (status, text).into_response()
    }
}

impl EcsMetadata {
    /// The metadata service of an instance with `config.ecs_role`, issuing into `keys`.
    pub fn new(config: &StsConfig, keys: Arc<KeyRing>, requests: Arc<RequestLog>) -> Self {
        let lifetime = config
            .token_ttl_secs
            .map_or(Duration::seconds(DEFAULT_CREDENTIAL_SECS), |secs| {
                Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX))
            });
        EcsMetadata {
            role: config.ecs_role.clone(),
            token_required: config.ecs_metadata_token_required,
            lifetime,
            keys,
            requests,
            state: Mutex::new(MetadataState::default()),
        }
    }

    /// The router serving every path.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new().fallback(handle).with_state(self)
    }

    fn lock(&self) -> MutexGuard<'_, MetadataState> {
        // Tokens and one key: nothing a panic elsewhere could leave half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn serve(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<Response, Refusal> {
        let path = uri.path();
        if path == TOKEN_PATH {
            if method != Method::PUT {
                return Err(Refusal::MethodNotAllowed);
            }
            return self.new_session(headers);
        }
        let Some(rest) = path.strip_prefix(CREDENTIALS_PATH) else {
            return Err(Refusal::NotFound);
        };
        if method != Method::GET {
            return Err(Refusal::MethodNotAllowed);
        }
        self.check_session(headers)?;
        if rest.is_empty() {
            return Ok(self.role.clone().into_response());
        }
        if !rest.trim_end_matches('/').eq_ignore_ascii_case(&self.role) {
            return Err(Refusal::NotFound);
        }
        Ok(axum::Json(self.credentials()).into_response())
    }

    /// `PUT /latest/api/token`: a session token for 1 to 21600 seconds.
    fn new_session(&self, headers: &HeaderMap) -> Result<Response, Refusal> {
        let secs = headers
            .get(TTL_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|secs| (1..=MAX_SESSION_SECS).contains(secs))
            .ok_or(Refusal::BadTtl)?;
        let now = self.keys.now();
        let token = random_alnum(&mut rand::rng(), SESSION_TOKEN_LEN);
        let expires = now + Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX));
        {
            let mut state = self.lock();
            state.sessions.retain(|_, at| *at > now);
            while state.sessions.len() >= MAX_SESSIONS {
                let first = state
                    .sessions
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(token, _)| token.clone());
                match first {
                    Some(token) => state.sessions.remove(&token),
                    None => break,
                };
            }
            state.sessions.insert(token.clone(), expires);
        }
        let mut response = token.into_response();
        if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(TTL_HEADER, value);
        }
        Ok(response)
    }

    /// A token sent must be live; none sent is allowed unless the hardened mode is mandatory.
    fn check_session(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let Some(token) = headers.get(TOKEN_HEADER) else {
            return if self.token_required {
                Err(Refusal::Unauthorized)
            } else {
                Ok(())
            };
        };
        let now = self.keys.now();
        let live = token
            .to_str()
            .ok()
            .and_then(|token| self.lock().sessions.get(token).copied())
            .is_some_and(|expires| expires > now);
        if live {
            Ok(())
        } else {
            Err(Refusal::Unauthorized)
        }
    }

    /// The role's credentials: the current key until less than half its lifetime remains.
    fn credentials(&self) -> RoleCredentials {
        let now = self.keys.now();
        let issued = {
            let mut state = self.lock();
            let fresh = state
                .current
                .as_ref()
                .filter(|key| !needs_rotation(key, now));
            match fresh {
                Some(key) => key.clone(),
                None => {
                    let rotated = state.current.is_some();
                    let key = self.keys.issue(now, self.lifetime);
                    tracing::info!(
                        role = %self.role,
                        access_key_id = %key.key.id,
                        expiration = %utc_text(key.expires_at),
                        rotated,
                        "ECS metadata issued temporary credentials"
                    );
                    state.current = Some(key.clone());
                    key
                }
            }
        };
        RoleCredentials {
            access_key_id: issued.key.id.clone(),
            access_key_secret: issued.key.secret.clone(),
            expiration: utc_text(issued.expires_at),
            security_token: issued.key.security_token.clone().unwrap_or_default(),
            last_updated: utc_text(issued.issued_at),
            code: "Success",
        }
    }
}

/// True once less than half of the key's lifetime remains.
fn needs_rotation(key: &IssuedKey, now: OffsetDateTime) -> bool {
    let lifetime = key.expires_at - key.issued_at;
    (key.expires_at - now) * 2 < lifetime
}

/// The request log's name for a call.
fn operation_of(method: &Method, path: &str) -> Option<&'static str> {
    match (method, path) {
        (&Method::PUT, TOKEN_PATH) => Some("EcsMetadataToken"),
        (&Method::GET, CREDENTIALS_PATH) => Some("EcsRamRoleName"),
        (&Method::GET, path) if path.starts_with(CREDENTIALS_PATH) => Some("EcsRamRoleCredentials"),
        _ => None,
    }
}

async fn handle(
    axum::extract::State(metadata): axum::extract::State<Arc<EcsMetadata>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let response = metadata
        .serve(&method, &uri, &headers)
        .unwrap_or_else(Refusal::response);
    metadata.requests.record(RequestRecord {
        operation: operation_of(&method, uri.path()).map(str::to_owned),
        status: response.status().as_u16(),
        upload_id: None,
        part_number: None,
        signature: None,
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(ttl: Option<u64>, required: bool) -> EcsMetadata {
        let config = StsConfig {
            token_ttl_secs: ttl,
            ecs_metadata_token_required: required,
            ..StsConfig::default()
        };
        EcsMetadata::new(
            &config,
            Arc::new(KeyRing::new(Vec::new(), 0)),
            Arc::default(),
        )
    }

    fn headers(list: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in list {
            map.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn request(
        metadata: &EcsMetadata,
        method: Method,
        path: &str,
        list: &[(&str, &str)],
    ) -> Result<Response, Refusal> {
        metadata.serve(&method, &path.parse().unwrap(), &headers(list))
    }

    #[test]
    fn session_tokens_need_a_ttl_in_range() {
        let metadata = metadata(None, true);
        for bad in ["0", "21601", "abc"] {
            let refused = request(&metadata, Method::PUT, TOKEN_PATH, &[(TTL_HEADER, bad)]);
            assert_eq!(refused.err(), Some(Refusal::BadTtl), "{bad}");
        }
        assert_eq!(
            request(&metadata, Method::PUT, TOKEN_PATH, &[]).err(),
            Some(Refusal::BadTtl)
        );
        assert!(request(&metadata, Method::PUT, TOKEN_PATH, &[(TTL_HEADER, "21600")]).is_ok());
        assert_eq!(
            request(&metadata, Method::GET, TOKEN_PATH, &[]).err(),
            Some(Refusal::MethodNotAllowed)
        );
    }

    #[test]
    fn the_mandatory_mode_refuses_reads_without_a_live_token() {
        let metadata = metadata(None, true);
        let refused = request(&metadata, Method::GET, CREDENTIALS_PATH, &[]);
        assert_eq!(refused.err(), Some(Refusal::Unauthorized));
        let wrong = request(
            &metadata,
            Method::GET,
            CREDENTIALS_PATH,
            &[(TOKEN_HEADER, "x")],
        );
        assert_eq!(wrong.err(), Some(Refusal::Unauthorized));
        let now = metadata.keys.now();
        metadata
            .lock()
            .sessions
            .insert("live".into(), now + Duration::minutes(1));
        metadata
            .lock()
            .sessions
            .insert("old".into(), now - Duration::seconds(1));
        assert!(
            request(
                &metadata,
                Method::GET,
                CREDENTIALS_PATH,
                &[(TOKEN_HEADER, "live")]
            )
            .is_ok()
        );
        let old = request(
            &metadata,
            Method::GET,
            CREDENTIALS_PATH,
            &[(TOKEN_HEADER, "old")],
        );
        assert_eq!(old.err(), Some(Refusal::Unauthorized));
    }

    #[test]
    fn the_optional_mode_serves_reads_without_a_token() {
        let metadata = metadata(None, false);
        assert!(request(&metadata, Method::GET, CREDENTIALS_PATH, &[]).is_ok());
        let unknown = request(
            &metadata,
            Method::GET,
            "/latest/meta-data/ram/security-credentials/other",
            &[],
        );
        assert_eq!(unknown.err(), Some(Refusal::NotFound));
        let elsewhere = request(&metadata, Method::GET, "/latest/meta-data/instance-id", &[]);
        assert_eq!(elsewhere.err(), Some(Refusal::NotFound));
    }

    #[test]
    fn credentials_rotate_after_half_their_lifetime() {
        let metadata = metadata(Some(3600), false);
        let first = metadata.credentials();
        assert_eq!(first.code, "Success");
        assert!(first.access_key_id.starts_with("STS."));
        assert_eq!(metadata.credentials().access_key_id, first.access_key_id);
        // Age the current key past half its hour.
        {
            let mut state = metadata.lock();
            let key = state.current.as_mut().unwrap();
            key.issued_at -= Duration::minutes(31);
            key.expires_at -= Duration::minutes(31);
        }
        let second = metadata.credentials();
        assert_ne!(second.access_key_id, first.access_key_id);
        assert!(metadata.keys.find(&second.access_key_id).is_some());
        assert!(
            metadata.keys.find(&first.access_key_id).is_some(),
            "the old key still works"
        );
    }

    #[test]
    fn the_default_lifetime_is_six_hours() {
        let metadata = metadata(None, false);
        let credentials = metadata.credentials();
        let expires = bak2rds_cloud::rds::sign::parse_timestamp(&credentials.expiration).unwrap();
        let issued = bak2rds_cloud::rds::sign::parse_timestamp(&credentials.last_updated).unwrap();
        assert!((expires - issued - Duration::hours(6)).abs() <= Duration::seconds(1));
    }

    #[test]
    fn operations_are_named_for_the_request_log() {
        assert_eq!(
            operation_of(&Method::PUT, TOKEN_PATH),
            Some("EcsMetadataToken")
        );
        assert_eq!(
            operation_of(&Method::GET, CREDENTIALS_PATH),
            Some("EcsRamRoleName")
        );
        let role = format!("{CREDENTIALS_PATH}bak2rds-ecs-role");
        assert_eq!(
            operation_of(&Method::GET, &role),
            Some("EcsRamRoleCredentials")
        );
        assert_eq!(operation_of(&Method::GET, "/"), None);
    }
}

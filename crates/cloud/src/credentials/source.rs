//! One place credentials come from, and how to ask it: fixed keys, a RAM role assumed with STS
//! (signed by other credentials, or by an OIDC token), the ECS instance's RAM role, or a
//! credentials URI. The chain (`chain`) decides which applies; the provider asks it again at
//! every refresh.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use serde::Deserialize;
use time::OffsetDateTime;

use super::error::CredentialError;
use super::keys::Credentials;
use super::{ecs_metadata, sts, uri};
use crate::http::client::{MAX_SMALL_ANSWER, ReadAnswerError, read_capped};

/// Where credentials come from, and where that was configured (`origin`, in words).
#[derive(Clone)]
pub struct Source {
    /// What kind of source, with its settings.
    pub kind: SourceKind,
    /// Where it was configured: "environment variables …", "aliyun CLI profile "p" in …".
    pub origin: String,
}

/// The kinds of source of Alibaba's default chain.
#[derive(Clone)]
pub enum SourceKind {
    /// Keys as they are (the environment, an `AK` or `StsToken` profile): never refreshed.
    Fixed(Credentials),
    /// A RAM role assumed with STS `AssumeRole`, the request signed by `base`'s credentials.
    RamRole {
        /// The credentials that sign `AssumeRole` (fixed keys, or another source).
        base: Box<Source>,
        /// The role and session asked for.
        session: RoleSession,
    },
    /// A RAM role assumed with STS `AssumeRoleWithOIDC` (Kubernetes RRSA): the token file is
    /// read again at every refresh, because the cluster rotates it.
    Oidc {
        /// `acs:ram::<account>:oidc-provider/<name>`.
        provider_arn: String,
        /// The file holding the OIDC token.
        token_file: PathBuf,
        /// The role and session asked for.
        session: RoleSession,
    },
    /// The ECS instance's RAM role, from the instance metadata service.
    EcsRole {
        /// The role's name; `None` asks the metadata service for it.
        role_name: Option<String>,
        /// The metadata service's base URL (`http://100.100.100.200`).
        endpoint: String,
        /// Refuse the metadata service's plain (token-less) mode.
        token_required: bool,
    },
    /// A URI that answers credentials as JSON.
    Uri(String),
}

/// A role to assume, and the session asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSession {
    /// `acs:ram::<account>:role/<name>`.
    pub role_arn: String,
    /// `RoleSessionName`: shows in the account's audit trail (ActionTrail).
    pub session_name: String,
    /// `DurationSeconds`: 900 up to the role's maximum.
    pub duration_secs: u32,
    /// `ExternalId`, when the role's trust policy asks for one.
    pub external_id: Option<String>,
    /// `Policy`: a policy that narrows the session's permissions.
    pub policy: Option<String>,
    /// The STS endpoint, as a URL.
    pub sts_endpoint: String,
}

/// Credentials as a source gave them, and when they stop working (`None`: never).
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The credentials.
    pub credentials: Credentials,
    /// When they expire.
    pub expires_at: Option<OffsetDateTime>,
}

/// The HTTP clients a source is asked with: one for the web (proxies honoured) and one that goes
/// direct (the metadata service is link-local, and the emulator on this machine: no proxy can
/// reach them).
#[derive(Debug, Clone)]
pub(crate) struct Clients {
    pub web: reqwest::Client,
    pub direct: reqwest::Client,
}

impl Clients {
    /// The client for `url`: direct to this machine, else the web one.
    pub fn for_url(&self, url: &str) -> &reqwest::Client {
        if crate::http::is_loopback_url(url) {
            &self.direct
        } else {
            &self.web
        }
    }
}

/// A future that fetches credentials; boxed because a RAM role's base is itself a source.
type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<Fetched, CredentialError>> + Send + 'a>>;

impl Source {
    /// Fixed keys from `origin`.
    pub fn fixed(credentials: Credentials, origin: impl Into<String>) -> Self {
        Source {
            kind: SourceKind::Fixed(credentials),
            origin: origin.into(),
        }
    }

    /// Whether the credentials expire and can be asked for again.
    pub fn refreshes(&self) -> bool {
        !matches!(self.kind, SourceKind::Fixed(_))
    }

    /// What the source is and where it was configured, with no secret in it.
    pub fn describe(&self) -> String {
        match &self.kind {
            SourceKind::Fixed(credentials) => {
                let kind = if credentials.security_token().is_some() {
                    "an STS token"
                } else {
                    "an AccessKey"
                };
                format!("{kind} from {}", self.origin)
            }
            SourceKind::RamRole { base, session } => {
                // A RamRoleArn profile's own keys sign: say where once.
                let signer = if base.origin == self.origin {
                    "its AccessKey".to_owned()
                } else {
                    base.describe()
                };
                format!(
                    "RAM role {} assumed with STS, signed by {signer} ({})",
                    session.role_arn, self.origin
                )
            }
            SourceKind::Oidc {
                session,
                token_file,
                ..
            } => format!(
                "RAM role {} assumed with STS and the OIDC token in {} (configured in {})",
                session.role_arn,
                token_file.display(),
                self.origin
            ),
            SourceKind::EcsRole { role_name, .. } => format!(
                "the ECS instance's RAM role {} from the metadata service (configured in {})",
                role_name.as_deref().unwrap_or("(named by the instance)"),
                self.origin
            ),
            SourceKind::Uri(uri) => format!(
                "the credentials URI {} (configured in {})",
                uri::redacted(uri),
                self.origin
            ),
        }
    }

    /// Asks the source for credentials.
    pub(crate) fn fetch<'a>(&'a self, clients: &'a Clients) -> FetchFuture<'a> {
        Box::pin(async move {
            match &self.kind {
                SourceKind::Fixed(credentials) => Ok(Fetched {
                    credentials: credentials.clone(),
                    expires_at: None,
                }),
                SourceKind::RamRole { base, session } => {
                    self.check_sts(session)?;
                    let signer = base.fetch(clients).await?.credentials;
                    let http = clients.for_url(&session.sts_endpoint);
                    sts::assume_role(http, &signer, session, &self.describe()).await
                }
                SourceKind::Oidc {
                    provider_arn,
                    token_file,
                    session,
                } => {
                    self.check_sts(session)?;
                    let token = std::fs::read_to_string(token_file).map_err(|source| {
                        CredentialError::ReadTokenFile {
                            path: token_file.clone(),
                            source,
                        }
                    })?;
                    let call = sts::OidcCall {
                        provider_arn,
                        token: token.trim(),
                        session,
                    };
                    let http = clients.for_url(&session.sts_endpoint);
                    sts::assume_role_with_oidc(http, call, &self.describe()).await
                }
                SourceKind::EcsRole {
                    role_name,
                    endpoint,
                    token_required,
                } => {
                    let ask = ecs_metadata::Ask {
                        endpoint,
                        role_name: role_name.as_deref(),
                        token_required: *token_required,
                    };
                    ecs_metadata::fetch(&clients.direct, ask, &self.describe()).await
                }
                SourceKind::Uri(address) => {
                    uri::fetch(clients.for_url(address), address, &self.describe()).await
                }
            }
        })
    }
}

impl Source {
    /// STS answers with a secret and a token: never over plain HTTP off this machine.
    fn check_sts(&self, session: &RoleSession) -> Result<(), CredentialError> {
        crate::http::check_transport("STS", &session.sts_endpoint, false).map_err(|problem| {
            CredentialError::BadEndpoint {
                what: format!("the STS endpoint of {}", self.origin),
                problem,
            }
        })
    }
}

// Hand-written: fixed keys must show their id only (their own `Debug` does), and a URI may
// carry a secret in its query.
impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("describe", &self.describe())
            .finish()
    }
}

// Hand-written: a URI may carry a secret in its query; fixed keys show their id only.
impl fmt::Debug for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceKind::Fixed(credentials) => f.debug_tuple("Fixed").field(credentials).finish(),
            SourceKind::RamRole { base, session } => f
                .debug_struct("RamRole")
                .field("base", base)
                .field("session", session)
                .finish(),
            SourceKind::Oidc {
                provider_arn,
                token_file,
                session,
            } => f
                .debug_struct("Oidc")
                .field("provider_arn", provider_arn)
                .field("token_file", token_file)
                .field("session", session)
                .finish(),
            SourceKind::EcsRole {
                role_name,
                endpoint,
                token_required,
            } => f
                .debug_struct("EcsRole")
                .field("role_name", role_name)
                .field("endpoint", endpoint)
                .field("token_required", token_required)
                .finish(),
            SourceKind::Uri(uri) => f.debug_tuple("Uri").field(&uri::redacted(uri)).finish(),
        }
    }
}

/// Credentials as STS, the metadata service and credentials URIs spell them.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CredentialsJson {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub access_key_id: String,
    #[serde(default)]
    pub access_key_secret: String,
    #[serde(default)]
    pub security_token: String,
    #[serde(default)]
    pub expiration: String,
}

impl CredentialsJson {
    /// The credentials in a JSON answer that carries `Code` (the metadata service, a
    /// credentials URI): it must say `Success`.
    pub fn parse_coded(
        answer: &Answer,
        from: &str,
        service: &'static str,
    ) -> Result<Fetched, CredentialError> {
        let bad_answer = |detail: String| CredentialError::BadAnswer {
            from: from.to_owned(),
            service,
            detail,
        };
        let parsed: CredentialsJson = serde_json::from_slice(&answer.body)
            .map_err(|e| bad_answer(format!("not JSON: {e}")))?;
        if let Some(code) = parsed.code.as_deref().filter(|code| *code != "Success") {
            return Err(bad_answer(format!("Code is {code:?}, not \"Success\"")));
        }
        parsed.into_fetched(answer.server_time).map_err(bad_answer)
    }

    /// The credentials, or which field is missing or unreadable. The expiry is moved to this
    /// machine's clock by the service's own time (`server_time`, its `Date`): a local clock
    /// minutes off must neither throw away fresh credentials nor keep expired ones.
    pub fn into_fetched(self, server_time: Option<OffsetDateTime>) -> Result<Fetched, String> {
        if self.access_key_id.is_empty() || self.access_key_secret.is_empty() {
            return Err("no AccessKeyId or AccessKeySecret".to_owned());
        }
        let expires_at = if self.expiration.is_empty() {
            None
        } else {
            let at = crate::rds::sign::parse_timestamp(&self.expiration).ok_or_else(|| {
                format!(
                    "Expiration {:?} is not yyyy-MM-ddTHH:mm:ssZ",
                    self.expiration
                )
            })?;
            Some(match server_time {
                Some(server) => OffsetDateTime::now_utc() + (at - server),
                None => at,
            })
        };
        Ok(Fetched {
            credentials: Credentials::new(self.access_key_id, self.access_key_secret)
                .with_security_token(self.security_token),
            expires_at,
        })
    }
}

/// A credential service's answer.
pub(super) struct Answer {
    pub status: u16,
    pub body: bytes::Bytes,
    /// The service's clock (its `Date` header), when it sent one.
    pub server_time: Option<OffsetDateTime>,
}

/// Sends a request for credentials and returns the answer (the body capped), or the transport
/// error in words without the URL (a URI's query may hold a secret).
pub(super) async fn send(
    request: reqwest::RequestBuilder,
    timeout: Duration,
) -> Result<Answer, String> {
    let response = request
        .timeout(timeout)
        .send()
        .await
        .map_err(|error| transport_detail(&error))?;
    let status = response.status().as_u16();
    let server_time = crate::http::client::server_time(&response);
    let body = read_capped(response, MAX_SMALL_ANSWER)
        .await
        .map_err(|error| match error {
            ReadAnswerError::Transport(e) => transport_detail(&e),
            other => other.to_string(),
        })?;
    Ok(Answer {
        status,
        body,
        server_time,
    })
}

/// The kind of transport failure, in words: reqwest's own text may carry the URL.
fn transport_detail(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if let Some(problem) = crate::http::retry::certificate_problem(error) {
        format!("the server's certificate is not trusted ({problem})")
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else {
        "the request failed".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expiry_is_moved_to_this_machines_clock_by_the_services_date() {
        let answer = |expiration: &str| CredentialsJson {
            code: None,
            access_key_id: "STS.id".into(),
            access_key_secret: "VerySecretValue42".into(),
            security_token: "CAIS".into(),
            expiration: expiration.into(),
        };
        // The service's clock says 2030-01-01 00:00, its keys last an hour: whatever this
        // machine's clock says, they expire an hour from now.
        let server = crate::rds::sign::parse_timestamp("2030-01-01T00:00:00Z");
        let fetched = answer("2030-01-01T01:00:00Z").into_fetched(server).unwrap();
        let life = fetched.expires_at.unwrap() - OffsetDateTime::now_utc();
        assert!((3590..=3600).contains(&life.whole_seconds()), "{life}");
        // Without the service's time, the expiry is taken as written.
        let fetched = answer("2030-01-01T01:00:00Z").into_fetched(None).unwrap();
        assert_eq!(
            fetched.expires_at,
            crate::rds::sign::parse_timestamp("2030-01-01T01:00:00Z")
        );
        assert!(answer("soon").into_fetched(None).is_err());
    }
}

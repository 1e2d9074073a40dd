//! The ECS instance's RAM role, from the instance metadata service. Hardened mode first, as the
//! current official libraries do: a session token (`PUT /latest/api/token`) sent with every
//! read; the plain mode only when the instance allows it and the user did not forbid it
//! (`ALIBABA_CLOUD_IMDSV1_DISABLED`).

use std::time::Duration;

use super::error::CredentialError;
use super::source::{Answer, CredentialsJson, Fetched, send};

/// The metadata service's address on every ECS instance (link-local, plain HTTP).
pub const DEFAULT_ENDPOINT: &str = "http://100.100.100.200";
/// The metadata service answers in milliseconds on an instance; off one, fail fast.
const TIMEOUT: Duration = Duration::from_secs(2);
/// How long a metadata session token lives (the service's maximum is 21600 s).
const TOKEN_TTL_SECS: &str = "21600";
const SERVICE: &str = "the ECS metadata service";
const ROLES_PATH: &str = "/latest/meta-data/ram/security-credentials/";

/// What to ask the metadata service.
pub(super) struct Ask<'a> {
    pub endpoint: &'a str,
    pub role_name: Option<&'a str>,
    pub token_required: bool,
}

/// The role's current temporary credentials.
pub(super) async fn fetch(
    http: &reqwest::Client,
    ask: Ask<'_>,
    from: &str,
) -> Result<Fetched, CredentialError> {
    let base = ask.endpoint.trim_end_matches('/');
    let token = session_token(http, base, ask.token_required, from).await?;
    let role = match ask.role_name {
        Some(role) => role.to_owned(),
        None => {
            let names = get(http, &format!("{base}{ROLES_PATH}"), token.as_deref(), from).await?;
            let names = String::from_utf8_lossy(&names.body).into_owned();
            names
                .lines()
                .map(str::trim)
                .find(|line| !line.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| CredentialError::Refused {
                    from: from.to_owned(),
                    service: SERVICE,
                    code: "NoRole".to_owned(),
                    message: "the instance has no RAM role".to_owned(),
                    fix: "attach a RAM role to the ECS instance (ECS console, Instance > Bind RAM \
                          Role), or configure another credential source"
                        .to_owned(),
                })?
        }
    };
    let body = get(
        http,
        &format!("{base}{ROLES_PATH}{role}"),
        token.as_deref(),
        from,
    )
    .await?;
    CredentialsJson::parse_coded(&body, from, SERVICE)
}

/// A session token for the hardened mode, or `None` where the plain mode is allowed and the
/// token could not be had (an older instance, or a service that does not offer tokens).
async fn session_token(
    http: &reqwest::Client,
    base: &str,
    required: bool,
    from: &str,
) -> Result<Option<String>, CredentialError> {
    let request = http
        .put(format!("{base}/latest/api/token"))
        .header("X-aliyun-ecs-metadata-token-ttl-seconds", TOKEN_TTL_SECS);
    let failure = match send(request, TIMEOUT).await {
        Ok(answer) if answer.status == 200 => {
            return Ok(Some(
                String::from_utf8_lossy(&answer.body).trim().to_owned(),
            ));
        }
        Ok(answer) => format!("HTTP {} to the token request", answer.status),
        Err(detail) => {
            // Not even the token request got through: nothing else will.
            return Err(unreachable(from, detail));
        }
    };
    if required {
        return Err(CredentialError::Refused {
            from: from.to_owned(),
            service: SERVICE,
            code: "NoToken".to_owned(),
            message: failure,
            fix: "the hardened mode is required (ALIBABA_CLOUD_IMDSV1_DISABLED) but the \
                  metadata service gave no token: check the instance's metadata settings"
                .to_owned(),
        });
    }
    tracing::debug!("ECS metadata: {failure}; using the plain mode");
    Ok(None)
}

/// One metadata read.
async fn get(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    from: &str,
) -> Result<Answer, CredentialError> {
    let mut request = http.get(url);
    if let Some(token) = token {
        request = request.header("X-aliyun-ecs-metadata-token", token);
    }
    match send(request, TIMEOUT).await {
        Ok(answer) if answer.status == 200 => Ok(answer),
        Ok(answer) => Err(CredentialError::Refused {
            from: from.to_owned(),
            service: SERVICE,
            code: format!("HTTP{}", answer.status),
            message: String::from_utf8_lossy(&answer.body)
                .chars()
                .take(200)
                .collect(),
            fix: if answer.status == 404 {
                "the RAM role named is not attached to this instance: check \
                 ALIBABA_CLOUD_ECS_METADATA or the profile's ram_role_name"
                    .to_owned()
            } else {
                "check the instance's metadata settings (hardened mode, access)".to_owned()
            },
        }),
        Err(detail) => Err(unreachable(from, detail)),
    }
}

fn unreachable(from: &str, detail: String) -> CredentialError {
    CredentialError::Unreachable {
        from: from.to_owned(),
        service: SERVICE,
        detail,
        fix: "the metadata service answers only on an ECS instance; off one, configure another \
              source (or set ALIBABA_CLOUD_ECS_METADATA_DISABLED=true)"
            .to_owned(),
    }
}

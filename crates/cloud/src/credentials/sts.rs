//! STS, the Security Token Service: `AssumeRole` (signed like any RPC API, by the credentials
//! that may assume the role) and `AssumeRoleWithOIDC` (anonymous: the OIDC token is the proof).
//! API version 2015-04-01; the answer's `Credentials` last `DurationSeconds`.

use std::time::Duration;

use serde::Deserialize;

use super::error::CredentialError;
use super::keys::Credentials;
use super::source::{CredentialsJson, Fetched, RoleSession, send};
use crate::rds::sign::{self, RequestStamp, RpcCall, V1Dialect};

/// STS's API version.
const VERSION: &str = "2015-04-01";
/// The public STS endpoint, for every region.
pub const DEFAULT_ENDPOINT: &str = "https://sts.aliyuncs.com";
/// What STS is called in messages.
const SERVICE: &str = "STS";
/// An STS call is small; half a minute covers a slow link.
const TIMEOUT: Duration = Duration::from_secs(30);

/// An `AssumeRoleWithOIDC` request's inputs.
pub(super) struct OidcCall<'a> {
    pub provider_arn: &'a str,
    pub token: &'a str,
    pub session: &'a RoleSession,
}

/// `AssumeRole`, signed by `signer`.
pub(super) async fn assume_role(
    http: &reqwest::Client,
    signer: &Credentials,
    session: &RoleSession,
    from: &str,
) -> Result<Fetched, CredentialError> {
    let params = session_params(session);
    let timestamp = sign::format_timestamp(time::OffsetDateTime::now_utc());
    let nonce = hex::encode(rand::random::<[u8; 16]>());
    let stamp = RequestStamp {
        timestamp: &timestamp,
        nonce: &nonce,
    };
    let call = RpcCall {
        version: VERSION,
        action: "AssumeRole",
    };
    let signed = sign::sign_v1_call("POST", call, &params, signer, V1Dialect::TeaSdk, "", stamp);
    let request = http
        .post(format!("{}/", session.sts_endpoint.trim_end_matches('/')))
        .query(&signed);
    answer(request, session, from).await
}

/// `AssumeRoleWithOIDC`: anonymous, the token proves who asks.
pub(super) async fn assume_role_with_oidc(
    http: &reqwest::Client,
    call: OidcCall<'_>,
    from: &str,
) -> Result<Fetched, CredentialError> {
    let mut params = session_params(call.session);
    let timestamp = sign::format_timestamp(time::OffsetDateTime::now_utc());
    for (name, value) in [
        ("Action", "AssumeRoleWithOIDC"),
        ("Version", VERSION),
        ("Format", "JSON"),
        ("Timestamp", timestamp.as_str()),
        ("OIDCProviderArn", call.provider_arn),
        ("OIDCToken", call.token),
    ] {
        params.push((name.to_owned(), value.to_owned()));
    }
    let endpoint = call.session.sts_endpoint.trim_end_matches('/');
    // The token (a JWT of a kilobyte or two) goes in the body, as the official libraries send it.
    let body = params
        .iter()
        .map(|(name, value)| {
            format!(
                "{}={}",
                sign::percent_encode(name),
                sign::percent_encode(value)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let request = http
        .post(format!("{endpoint}/"))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body);
    answer(request, call.session, from).await
}

/// The role and session parameters both actions share.
fn session_params(session: &RoleSession) -> Vec<(String, String)> {
    let mut params = vec![
        ("RoleArn".to_owned(), session.role_arn.clone()),
        ("RoleSessionName".to_owned(), session.session_name.clone()),
        (
            "DurationSeconds".to_owned(),
            session.duration_secs.to_string(),
        ),
    ];
    if let Some(external_id) = &session.external_id {
        params.push(("ExternalId".to_owned(), external_id.clone()));
    }
    if let Some(policy) = &session.policy {
        params.push(("Policy".to_owned(), policy.clone()));
    }
    params
}

/// STS's answer: `Credentials` on success, `Code` and `Message` on failure.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct StsAnswer {
    #[serde(default)]
    credentials: Option<CredentialsJson>,
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Sends the request and reads STS's answer.
async fn answer(
    request: reqwest::RequestBuilder,
    session: &RoleSession,
    from: &str,
) -> Result<Fetched, CredentialError> {
    let reply = send(request, TIMEOUT)
        .await
        .map_err(|detail| CredentialError::Unreachable {
            from: from.to_owned(),
            service: SERVICE,
            detail,
            fix: format!(
                "check that {} is reachable from this machine (proxy, firewall; behind a \
                 TLS-inspecting proxy, --ca-bundle); ALIBABA_CLOUD_STS_REGION picks a regional \
                 STS endpoint",
                session.sts_endpoint
            ),
        })?;
    let status = reply.status;
    let parsed: StsAnswer = serde_json::from_slice(&reply.body).unwrap_or_default();
    if !(200..300).contains(&status) {
        let code = if parsed.code.is_empty() {
            format!("HTTP{status}")
        } else {
            parsed.code
        };
        return Err(CredentialError::Refused {
            from: from.to_owned(),
            service: SERVICE,
            fix: fix_for(&code, session),
            code,
            message: parsed.message,
        });
    }
    let bad_answer = |detail: String| CredentialError::BadAnswer {
        from: from.to_owned(),
        service: SERVICE,
        detail,
    };
    parsed
        .credentials
        .ok_or_else(|| bad_answer("no Credentials".to_owned()))?
        .into_fetched(reply.server_time)
        .map_err(bad_answer)
}

/// What to do about STS's refusal, by its code.
fn fix_for(code: &str, session: &RoleSession) -> String {
    match code {
        "EntityNotExist.Role" => format!(
            "check the role ARN {}: it must be acs:ram::<account id>:role/<role name> of a role \
             that exists (RAM console, Identities > Roles)",
            session.role_arn
        ),
        "InvalidParameter.RoleArn" => {
            "the role ARN must look like acs:ram::<account id>:role/<role name>".to_owned()
        }
        code if code.starts_with("NoPermission") => {
            "the caller may not assume this role: its RAM policy must allow sts:AssumeRole on \
             the role, and the role's trust policy must name the caller's account or user (or \
             the OIDC provider)"
                .to_owned()
        }
        code if code.contains("DurationSeconds") => format!(
            "the session lasts {} s; STS allows 900 s up to the role's maximum session \
             duration (expired_seconds in the profile, or raise the role's maximum)",
            session.duration_secs
        ),
        code if code.contains("OIDC") => {
            "check ALIBABA_CLOUD_OIDC_PROVIDER_ARN and that the token file holds a current token \
             from that provider (in Kubernetes, the RRSA webhook mounts it)"
                .to_owned()
        }
        code if code.starts_with("InvalidSecurityToken")
            || code.starts_with("InvalidAccessKeyId") =>
        {
            "the credentials that sign AssumeRole are not valid: check the profile's \
             access_key_id and access_key_secret (or its source_profile)"
                .to_owned()
        }
        code if code.starts_with("SignatureDoesNotMatch") => {
            "the AccessKey secret that signs AssumeRole is wrong, or the clock is off".to_owned()
        }
        _ => "check the role settings; the message above is STS's own".to_owned(),
    }
}

//! A credentials URI (`ALIBABA_CLOUD_CREDENTIALS_URI`, the aliyun CLI's `CredentialsURI` mode):
//! a GET that answers `{"Code":"Success","AccessKeyId":…,"Expiration":…}`, e.g. a company's
//! credential broker on the host.

use std::time::Duration;

use super::error::CredentialError;
use super::source::{CredentialsJson, Fetched, send};

const SERVICE: &str = "the credentials URI";
const TIMEOUT: Duration = Duration::from_secs(10);

/// The credentials the URI answers.
pub(super) async fn fetch(
    http: &reqwest::Client,
    uri: &str,
    from: &str,
) -> Result<Fetched, CredentialError> {
    let answer =
        send(http.get(uri), TIMEOUT)
            .await
            .map_err(|detail| CredentialError::Unreachable {
                from: from.to_owned(),
                service: SERVICE,
                detail,
                fix: "check that the credential service behind the URI is running".to_owned(),
            })?;
    if !(200..300).contains(&answer.status) {
        return Err(CredentialError::Refused {
            from: from.to_owned(),
            service: SERVICE,
            code: format!("HTTP{}", answer.status),
            message: String::new(),
            fix: "check the URI and the credential service behind it".to_owned(),
        });
    }
    CredentialsJson::parse_coded(&answer, from, SERVICE)
}

/// The URI without what may carry a secret (a `user:password@` and the query): for messages.
pub(super) fn redacted(uri: &str) -> String {
    let (base, query) = match uri.split_once('?') {
        Some((base, _)) => (base, "?…"),
        None => (uri, ""),
    };
    let base = match base.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('/') {
            Some((authority, path)) => format!("{scheme}://{}/{path}", without_user(authority)),
            None => format!("{scheme}://{}", without_user(rest)),
        },
        None => base.to_owned(),
    };
    format!("{base}{query}")
}

fn without_user(authority: &str) -> String {
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("…@{host}"),
        None => authority.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn a_uri_loses_its_user_and_query_in_messages() {
        assert_eq!(
            redacted("http://127.0.0.1:8080/creds"),
            "http://127.0.0.1:8080/creds"
        );
        assert_eq!(
            redacted("https://u:pw@broker/c?token=x"),
            "https://…@broker/c?…"
        );
        assert_eq!(redacted("https://u:pw@broker"), "https://…@broker");
    }
}

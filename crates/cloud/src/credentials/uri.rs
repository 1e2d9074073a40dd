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
    let (status, body) =
        send(http.get(uri), TIMEOUT)
            .await
            .map_err(|detail| CredentialError::Unreachable {
                from: from.to_owned(),
                service: SERVICE,
                detail,
                fix: "check that the credential service behind the URI is running".to_owned(),
            })?;
    if !(200..300).contains(&status) {
        return Err(CredentialError::Refused {
            from: from.to_owned(),
            service: SERVICE,
            code: format!("HTTP{status}"),
            message: String::new(),
            fix: "check the URI and the credential service behind it".to_owned(),
        });
    }
    let bad_answer = |detail: String| CredentialError::BadAnswer {
        from: from.to_owned(),
        service: SERVICE,
        detail,
    };
    let answer: CredentialsJson =
        serde_json::from_slice(&body).map_err(|e| bad_answer(format!("not JSON: {e}")))?;
    if let Some(code) = answer.code.as_deref().filter(|code| *code != "Success") {
        return Err(bad_answer(format!("Code is {code:?}, not \"Success\"")));
    }
    answer.into_fetched().map_err(bad_answer)
}

/// The URI without its query, which may carry a secret: for messages.
pub(super) fn redacted(uri: &str) -> String {
    match uri.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => uri.to_owned(),
    }
}

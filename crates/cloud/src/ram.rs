//! The one RAM call bak2rds makes: `GetRole` on `AliyunRDSImportRole`, the role through which
//! RDS reads backups from OSS. The console creates it the first time a user authorises RDS; an
//! account's first migration fails without it, hours later, after the upload. Pre-flight reads
//! it instead, where the caller may (`ram:GetRole`).

use serde::Deserialize;

use crate::credentials::CredentialProvider;
use crate::rds::RdsClientConfig;
use crate::rds::client::RdsClient;
use crate::rds::error::RdsError;
use crate::rds::preflight::ImportRole;

/// RAM's API version.
const API_VERSION: &str = "2015-05-01";
/// RAM's endpoint (one for every region).
pub const DEFAULT_ENDPOINT: &str = "https://ram.aliyuncs.com";
/// The role RDS assumes to read backups from OSS (Alibaba's migration guide).
pub const IMPORT_ROLE: &str = "AliyunRDSImportRole";
/// The service principal the role's trust policy must name.
const RDS_SERVICE: &str = "rds.aliyuncs.com";

/// A RAM client (RPC, signed like RDS).
#[derive(Debug, Clone)]
pub struct RamClient {
    rpc: RdsClient,
}

/// `GetRole`'s answer, the parts read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetRoleAnswer {
    role: Role,
}

/// A RAM role.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Role {
    /// Its name.
    pub role_name: String,
    /// `acs:ram::<account>:role/<name>`.
    #[serde(default)]
    pub arn: String,
    /// The trust policy, a JSON document in a string.
    #[serde(default)]
    pub assume_role_policy_document: String,
}

impl RamClient {
    /// A client of `endpoint` (default [`DEFAULT_ENDPOINT`]) with the settings of `rds` (the
    /// transport, the signature, the retries).
    pub fn new(
        endpoint: Option<&str>,
        mut rds: RdsClientConfig,
        credentials: CredentialProvider,
    ) -> Result<Self, RdsError> {
        rds.endpoint = Some(endpoint.unwrap_or(DEFAULT_ENDPOINT).to_owned());
        Ok(RamClient {
            rpc: RdsClient::for_api(rds, credentials, API_VERSION)?,
        })
    }

    /// `GetRole`: the role, or `None` when it does not exist.
    pub async fn get_role(&self, name: &str) -> Result<Option<Role>, RdsError> {
        let params = vec![("RoleName".to_owned(), name.to_owned())];
        match self
            .rpc
            .call::<GetRoleAnswer>("GetRole", params, crate::http::Idempotency::Idempotent)
            .await
        {
            Ok(answer) => Ok(Some(answer.role)),
            Err(error) if error.code() == Some("EntityNotExist.Role") => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// What pre-flight needs to know of `AliyunRDSImportRole`: present as the console made
    /// it, missing, altered, or not known (and why).
    pub async fn import_role(&self) -> ImportRole {
        match self.get_role(IMPORT_ROLE).await {
            Ok(None) => ImportRole::Missing,
            Ok(Some(role)) if trusts_rds(&role.assume_role_policy_document) => ImportRole::Present,
            Ok(Some(_)) => ImportRole::Altered,
            Err(error) => ImportRole::Unknown {
                reason: match &error {
                    RdsError::Service { code, .. } if code.starts_with("NoPermission") => {
                        "the credentials may not read RAM roles (ram:GetRole)".to_owned()
                    }
                    RdsError::Service { code, message, .. } => {
                        format!("RAM answered {code}: {message}")
                    }
                    RdsError::Transport { detail, .. } => format!(
                        "RAM did not answer ({detail}; BAK2RDS_RAM_ENDPOINT points elsewhere)"
                    ),
                    other => other.to_string(),
                },
            },
        }
    }
}

/// Whether a trust policy lets RDS assume the role: a statement allowing `sts:AssumeRole` to
/// the service `rds.aliyuncs.com` (as the console writes it; a string or a list).
fn trusts_rds(policy: &str) -> bool {
    let Ok(document) = serde_json::from_str::<serde_json::Value>(policy) else {
        return false;
    };
    let statements = document
        .get("Statement")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names = |value: Option<&serde_json::Value>, wanted: &str| match value {
        Some(serde_json::Value::String(one)) => one == wanted,
        Some(serde_json::Value::Array(many)) => many.iter().any(|v| v.as_str() == Some(wanted)),
        _ => false,
    };
    statements.iter().any(|statement| {
        statement.get("Effect").and_then(serde_json::Value::as_str) == Some("Allow")
            && names(statement.get("Action"), "sts:AssumeRole")
            && names(
                statement.get("Principal").and_then(|p| p.get("Service")),
                RDS_SERVICE,
            )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consoles_trust_policy_trusts_rds_and_others_do_not() {
        let console = r#"{"Statement":[{"Action":"sts:AssumeRole","Effect":"Allow",
            "Principal":{"Service":["rds.aliyuncs.com"]}}],"Version":"1"}"#;
        assert!(trusts_rds(console));
        let as_string = console.replace(r#"["rds.aliyuncs.com"]"#, r#""rds.aliyuncs.com""#);
        assert!(trusts_rds(&as_string));
        let other = console.replace("rds.aliyuncs.com", "ecs.aliyuncs.com");
        assert!(!trusts_rds(&other));
        let denied = console.replace("Allow", "Deny");
        assert!(!trusts_rds(&denied));
        assert!(!trusts_rds("not json"));
    }
}

//! The two profile files of Alibaba's tools: the aliyun CLI's `~/.aliyun/config.json` (modes
//! `AK`, `StsToken`, `RamRoleArn`, `EcsRamRole`, `ChainableRamRoleArn`, `CredentialsURI`,
//! `OIDC`) and the SDKs' `~/.alibabacloud/credentials.ini` (types `access_key`, `ram_role_arn`,
//! `ecs_ram_role`, `oidc_role_arn`). Each profile becomes a [`Source`]; field names are the
//! tools' own.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::chain::Endpoints;
use super::error::CredentialError;
use super::keys::{Credentials, permission_warning};
use super::source::{RoleSession, Source, SourceKind};

/// The session length asked of STS when the profile does not say (the libraries' default).
const DEFAULT_SESSION_SECS: u32 = 3600;

/// `~/.aliyun/config.json`, the parts bak2rds reads.
#[derive(Deserialize)]
struct CliConfig {
    #[serde(default)]
    current: Option<String>,
    #[serde(default)]
    profiles: Vec<CliProfile>,
}

/// One profile of the aliyun CLI file; field names as the CLI writes them.
#[derive(Deserialize, Default)]
#[serde(default)]
struct CliProfile {
    name: String,
    mode: String,
    access_key_id: String,
    access_key_secret: String,
    sts_token: String,
    ram_role_arn: String,
    ram_session_name: String,
    /// The Python library's spelling of the session name in OIDC mode.
    role_session_name: String,
    expired_seconds: Option<u32>,
    external_id: String,
    policy: String,
    sts_region: String,
    sts_endpoint: String,
    enable_vpc: Option<bool>,
    ram_role_name: String,
    source_profile: String,
    credentials_uri: String,
    oidc_provider_arn: String,
    oidc_token_file: String,
}

/// The profile the CLI would use: `wanted`, else the file's current one, else `default`.
pub(super) fn cli_profile_source(
    path: &Path,
    wanted: Option<&str>,
    endpoints: &Endpoints,
) -> Result<Source, CredentialError> {
    cli_profile_from_text(&read_secret_file(path)?, path, wanted, endpoints)
}

/// A file that holds secrets, with a warning when other users may read it.
fn read_secret_file(path: &Path) -> Result<String, CredentialError> {
    let text = std::fs::read_to_string(path).map_err(|source| CredentialError::ReadConfig {
        path: path.to_owned(),
        source,
    })?;
    if let Some(warning) = permission_warning(path) {
        tracing::warn!("{warning}");
    }
    Ok(text)
}

/// [`cli_profile_source`] on the file's text (`path` only names it).
pub(crate) fn cli_profile_from_text(
    text: &str,
    path: &Path,
    wanted: Option<&str>,
    endpoints: &Endpoints,
) -> Result<Source, CredentialError> {
    let config: CliConfig =
        serde_json::from_str(text).map_err(|error| CredentialError::ParseConfig {
            path: path.to_owned(),
            detail: error.to_string(),
        })?;
    let name = wanted
        .map(str::to_owned)
        .or_else(|| config.current.clone())
        .unwrap_or_else(|| "default".to_owned());
    CliFile {
        path,
        config: &config,
        endpoints,
    }
    .source(&name, 0)
}

/// A parsed CLI file, for following `source_profile` links.
struct CliFile<'a> {
    path: &'a Path,
    config: &'a CliConfig,
    endpoints: &'a Endpoints,
}

/// Longest `ChainableRamRoleArn` chain followed (the CLI's own files are rarely deeper than 2).
const MAX_CHAIN: usize = 8;

impl CliFile<'_> {
    fn source(&self, name: &str, depth: usize) -> Result<Source, CredentialError> {
        if depth > MAX_CHAIN {
            return Err(CredentialError::ProfileLoop {
                path: self.path.to_owned(),
                profile: name.to_owned(),
            });
        }
        let profile = self
            .config
            .profiles
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| CredentialError::NoSuchProfile {
                path: self.path.to_owned(),
                profile: name.to_owned(),
            })?;
        let mode = if profile.mode.is_empty() {
            "AK"
        } else {
            profile.mode.as_str()
        };
        let origin = format!(
            "aliyun CLI profile {name:?} in {} ({mode} mode)",
            self.path.display()
        );
        let need = |field: &'static str, value: &str| {
            if value.is_empty() {
                Err(CredentialError::IncompleteProfile {
                    path: self.path.to_owned(),
                    profile: name.to_owned(),
                    mode: mode.to_owned(),
                    field,
                })
            } else {
                Ok(value.to_owned())
            }
        };
        let keys = || -> Result<Credentials, CredentialError> {
            Ok(Credentials::new(
                need("access_key_id", &profile.access_key_id)?,
                need("access_key_secret", &profile.access_key_secret)?,
            ))
        };
        let kind = match mode {
            "AK" => SourceKind::Fixed(keys()?),
            "StsToken" => SourceKind::Fixed(
                keys()?.with_security_token(need("sts_token", &profile.sts_token)?),
            ),
            "RamRoleArn" => SourceKind::RamRole {
                // The CLI lets the signing keys be temporary themselves.
                base: Box::new(Source::fixed(
                    keys()?.with_security_token(profile.sts_token.clone()),
                    origin.clone(),
                )),
                session: self.session(profile, need("ram_role_arn", &profile.ram_role_arn)?),
            },
            "ChainableRamRoleArn" => {
                let base =
                    self.source(&need("source_profile", &profile.source_profile)?, depth + 1)?;
                SourceKind::RamRole {
                    base: Box::new(base),
                    session: self.session(profile, need("ram_role_arn", &profile.ram_role_arn)?),
                }
            }
            "EcsRamRole" => SourceKind::EcsRole {
                // Empty: asked of the metadata service, as the CLI does.
                role_name: Some(profile.ram_role_name.clone()).filter(|name| !name.is_empty()),
                endpoint: self.endpoints.ecs_metadata.clone(),
                token_required: self.endpoints.imds_v1_disabled,
            },
            "CredentialsURI" => SourceKind::Uri(need("credentials_uri", &profile.credentials_uri)?),
            "OIDC" => SourceKind::Oidc {
                provider_arn: need("oidc_provider_arn", &profile.oidc_provider_arn)?,
                token_file: PathBuf::from(need("oidc_token_file", &profile.oidc_token_file)?),
                session: self.session(profile, need("ram_role_arn", &profile.ram_role_arn)?),
            },
            other => {
                return Err(CredentialError::UnsupportedMode {
                    path: self.path.to_owned(),
                    profile: name.to_owned(),
                    mode: other.to_owned(),
                });
            }
        };
        Ok(Source { kind, origin })
    }

    fn session(&self, profile: &CliProfile, role_arn: String) -> RoleSession {
        let session_name = [&profile.ram_session_name, &profile.role_session_name]
            .into_iter()
            .find(|name| !name.is_empty())
            .cloned();
        let sts_endpoint = if profile.sts_endpoint.is_empty() {
            self.endpoints.sts_for(
                Some(profile.sts_region.as_str()).filter(|r| !r.is_empty()),
                profile.enable_vpc,
            )
        } else {
            self.endpoints.sts_url(&profile.sts_endpoint)
        };
        RoleSession {
            role_arn,
            session_name: session_name.unwrap_or_else(default_session_name),
            duration_secs: profile.expired_seconds.unwrap_or(DEFAULT_SESSION_SECS),
            external_id: Some(profile.external_id.clone()).filter(|id| !id.is_empty()),
            policy: Some(profile.policy.clone()).filter(|policy| !policy.is_empty()),
            sts_endpoint,
        }
    }
}

/// The SDKs' `credentials.ini`: the section named `wanted`, else `default`. `Ok(None)` when the
/// file has no such section.
pub(super) fn ini_profile_source(
    path: &Path,
    wanted: Option<&str>,
    endpoints: &Endpoints,
) -> Result<Option<Source>, CredentialError> {
    ini_profile_from_text(&read_secret_file(path)?, path, wanted, endpoints)
}

/// [`ini_profile_source`] on the file's text.
pub(crate) fn ini_profile_from_text(
    text: &str,
    path: &Path,
    wanted: Option<&str>,
    endpoints: &Endpoints,
) -> Result<Option<Source>, CredentialError> {
    let ini = ini::Ini::load_from_str(text).map_err(|error| CredentialError::ParseConfig {
        path: path.to_owned(),
        detail: error.to_string(),
    })?;
    let name = wanted.unwrap_or("default");
    let Some(section) = ini.section(Some(name)) else {
        return Ok(None);
    };
    let get = |key: &str| section.get(key).map(str::trim).filter(|v| !v.is_empty());
    let kind_name = get("type").unwrap_or("access_key");
    let mode = kind_name.to_owned();
    let need = |field: &'static str| {
        get(field)
            .map(str::to_owned)
            .ok_or_else(|| CredentialError::IncompleteProfile {
                path: path.to_owned(),
                profile: name.to_owned(),
                mode: mode.clone(),
                field,
            })
    };
    let origin = format!(
        "credentials file {} section [{name}] (type {kind_name})",
        path.display()
    );
    let session = |role_arn: String| RoleSession {
        role_arn,
        session_name: get("role_session_name").map_or_else(default_session_name, str::to_owned),
        duration_secs: DEFAULT_SESSION_SECS,
        external_id: None,
        policy: get("policy").map(str::to_owned),
        sts_endpoint: endpoints.sts_for(None, None),
    };
    let keys = || -> Result<Credentials, CredentialError> {
        Ok(Credentials::new(
            need("access_key_id")?,
            need("access_key_secret")?,
        ))
    };
    let kind = match kind_name {
        "access_key" => SourceKind::Fixed(keys()?),
        "ram_role_arn" => SourceKind::RamRole {
            base: Box::new(Source::fixed(keys()?, origin.clone())),
            session: session(need("role_arn")?),
        },
        "ecs_ram_role" => SourceKind::EcsRole {
            role_name: get("role_name").map(str::to_owned),
            endpoint: endpoints.ecs_metadata.clone(),
            token_required: endpoints.imds_v1_disabled,
        },
        "oidc_role_arn" => SourceKind::Oidc {
            provider_arn: need("oidc_provider_arn")?,
            token_file: PathBuf::from(need("oidc_token_file_path")?),
            session: session(need("role_arn")?),
        },
        other => {
            return Err(CredentialError::UnsupportedMode {
                path: path.to_owned(),
                profile: name.to_owned(),
                mode: other.to_owned(),
            });
        }
    };
    Ok(Some(Source { kind, origin }))
}

/// `RoleSessionName` when none is configured: names the tool in the account's audit trail.
pub(super) fn default_session_name() -> String {
    format!(
        "bak2rds-{}",
        time::OffsetDateTime::now_utc().unix_timestamp()
    )
}

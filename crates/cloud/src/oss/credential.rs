//! AccessKey credentials: where they come from (environment variables, the aliyun CLI profile
//! file) and how they stay secret.
//!
//! The secret and the STS token never appear in `Debug` output, errors or logs (DESIGN habit 6):
//! [`Credentials`] has a hand-written `Debug` that shows only the AccessKey id, and the loaders'
//! errors name files and fields, never values. Must not sign or send anything.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::env_vars;

/// An AccessKey pair, optionally with an STS security token (temporary credentials, §3.5).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key_id: String,
    access_key_secret: String,
    security_token: Option<String>,
}

impl Credentials {
    /// Long-term AccessKey credentials.
    pub fn new(access_key_id: impl Into<String>, access_key_secret: impl Into<String>) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            access_key_secret: access_key_secret.into(),
            security_token: None,
        }
    }

    /// The same credentials with an STS security token (an empty token means none).
    pub fn with_security_token(mut self, token: impl Into<String>) -> Self {
        let token = token.into();
        self.security_token = (!token.is_empty()).then_some(token);
        self
    }

    /// The AccessKey id (not secret; it appears in every signed request).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The AccessKey secret. Only signing code should call this.
    pub fn access_key_secret(&self) -> &str {
        &self.access_key_secret
    }

    /// The STS security token, if these are temporary credentials.
    pub fn security_token(&self) -> Option<&str> {
        self.security_token.as_deref()
    }

    /// Reads `ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET` and
    /// `ALIBABA_CLOUD_SECURITY_TOKEN`. `Ok(None)` when neither id nor secret is set.
    pub fn from_env() -> Result<Option<Self>, CredentialError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Credentials::from_env`] with an explicit variable lookup (testable without
    /// touching the process environment).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, CredentialError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let id = get(env_vars::ALIBABA_CLOUD_ACCESS_KEY_ID);
        let secret = get(env_vars::ALIBABA_CLOUD_ACCESS_KEY_SECRET);
        let token = get(env_vars::ALIBABA_CLOUD_SECURITY_TOKEN);
        match (id, secret) {
            (None, None) => Ok(None),
            (Some(id), Some(secret)) => Ok(Some(
                Credentials::new(id.trim(), secret.trim())
                    .with_security_token(token.unwrap_or_default().trim()),
            )),
            (Some(_), None) => Err(CredentialError::IncompleteEnv {
                missing: env_vars::ALIBABA_CLOUD_ACCESS_KEY_SECRET,
            }),
            (None, Some(_)) => Err(CredentialError::IncompleteEnv {
                missing: env_vars::ALIBABA_CLOUD_ACCESS_KEY_ID,
            }),
        }
    }

    /// Reads a profile from an aliyun CLI config file (`~/.aliyun/config.json`): the named
    /// profile, else the file's `current` one. Modes `AK` and `StsToken` are supported.
    pub fn from_aliyun_config(path: &Path, profile: Option<&str>) -> Result<Self, CredentialError> {
        let text = std::fs::read_to_string(path).map_err(|source| CredentialError::ReadConfig {
            path: path.to_owned(),
            source,
        })?;
        if let Some(warning) = permission_warning(path) {
            tracing::warn!("{warning}");
        }
        Self::from_aliyun_config_text(&text, path, profile)
    }

    /// [`Credentials::from_aliyun_config`] on the file's text (`path` only names it in errors).
    pub(crate) fn from_aliyun_config_text(
        text: &str,
        path: &Path,
        profile: Option<&str>,
    ) -> Result<Self, CredentialError> {
        let config: AliyunConfig =
            serde_json::from_str(text).map_err(|source| CredentialError::ParseConfig {
                path: path.to_owned(),
                source,
            })?;
        let wanted = profile
            .map(str::to_owned)
            .or(config.current)
            .unwrap_or_else(|| "default".to_owned());
        let found = config
            .profiles
            .into_iter()
            .find(|p| p.name == wanted)
            .ok_or_else(|| CredentialError::NoSuchProfile {
                path: path.to_owned(),
                profile: wanted.clone(),
            })?;
        found.into_credentials(path)
    }

    /// The aliyun CLI config file under the home folder: `$HOME/.aliyun/config.json`.
    pub fn default_aliyun_config_path() -> Option<PathBuf> {
        std::env::var_os(env_vars::HOME).map(|home| PathBuf::from(home).join(".aliyun/config.json"))
    }

    /// The usual resolution order: an explicit `profile` reads the aliyun CLI file; otherwise
    /// the environment variables, then `ALIBABA_CLOUD_PROFILE` or the file's current profile.
    pub fn resolve(profile: Option<&str>) -> Result<Self, CredentialError> {
        Self::resolve_with(
            profile,
            |name| std::env::var(name).ok(),
            Self::default_aliyun_config_path().as_deref(),
        )
    }

    /// [`Credentials::resolve`] with an explicit variable lookup and profile file path.
    pub fn resolve_with(
        profile: Option<&str>,
        lookup: impl Fn(&str) -> Option<String>,
        config_path: Option<&Path>,
    ) -> Result<Self, CredentialError> {
        Self::resolve_with_source(profile, lookup, config_path).map(|(credentials, _)| credentials)
    }

    /// [`Credentials::resolve`], with where the credentials came from, in words with no secret
    /// in them (for `bak2rds doctor`).
    pub fn resolve_source(profile: Option<&str>) -> Result<(Self, String), CredentialError> {
        Self::resolve_with_source(
            profile,
            |name| std::env::var(name).ok(),
            Self::default_aliyun_config_path().as_deref(),
        )
    }

    fn resolve_with_source(
        profile: Option<&str>,
        lookup: impl Fn(&str) -> Option<String>,
        config_path: Option<&Path>,
    ) -> Result<(Self, String), CredentialError> {
        // As in Alibaba's default chain, the environment's AccessKey comes before any profile;
        // only a profile asked for on the command line (`--profile`) passes it over.
        if profile.is_none()
            && let Some(credentials) = Self::from_lookup(&lookup)?
        {
            let source = format!(
                "environment variables {} and {}{}",
                env_vars::ALIBABA_CLOUD_ACCESS_KEY_ID,
                env_vars::ALIBABA_CLOUD_ACCESS_KEY_SECRET,
                if credentials.security_token.is_some() {
                    format!(" with {} (STS)", env_vars::ALIBABA_CLOUD_SECURITY_TOKEN)
                } else {
                    String::new()
                }
            );
            return Ok((credentials, source));
        }
        let env_profile = lookup(env_vars::ALIBABA_CLOUD_PROFILE).filter(|p| !p.is_empty());
        let profile = profile.or(env_profile.as_deref());
        let path = config_path.ok_or(CredentialError::NotFound)?;
        if !path.is_file() {
            return Err(match profile {
                None => CredentialError::NotFound,
                Some(profile) => CredentialError::NoProfileFile {
                    path: path.to_path_buf(),
                    profile: profile.to_owned(),
                },
            });
        }
        let credentials = Self::from_aliyun_config(path, profile)?;
        let source = format!(
            "aliyun CLI profile {} in {}{}",
            profile.map_or_else(
                || "(the file's current one)".to_owned(),
                |p| format!("{p:?}")
            ),
            path.display(),
            if credentials.security_token.is_some() {
                " (StsToken mode)"
            } else {
                " (AK mode)"
            }
        );
        Ok((credentials, source))
    }
}

/// A warning when a file holding secrets can be read or written by other users (group or
/// others have any permission): the aliyun CLI itself writes its config file 0600.
pub fn permission_warning(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then(|| {
            format!(
                "{} holds AccessKey secrets but its mode {mode:03o} lets other users on this \
                 machine read it; run `chmod 600 {}`",
                path.display(),
                path.display()
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

// Hand-written: the secret and the token must never be printed (DESIGN habit 6).
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The parts of `~/.aliyun/config.json` we read.
#[derive(Deserialize)]
struct AliyunConfig {
    #[serde(default)]
    current: Option<String>,
    #[serde(default)]
    profiles: Vec<AliyunProfile>,
}

/// One profile of the aliyun CLI file; field names as the CLI writes them.
#[derive(Deserialize)]
struct AliyunProfile {
    name: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    access_key_id: String,
    #[serde(default)]
    access_key_secret: String,
    #[serde(default)]
    sts_token: String,
}

impl AliyunProfile {
    fn into_credentials(self, path: &Path) -> Result<Credentials, CredentialError> {
        let mode = if self.mode.is_empty() {
            "AK"
        } else {
            &self.mode
        };
        if mode != "AK" && mode != "StsToken" {
            return Err(CredentialError::UnsupportedMode {
                path: path.to_owned(),
                profile: self.name,
                mode: mode.to_owned(),
            });
        }
        if self.access_key_id.is_empty() || self.access_key_secret.is_empty() {
            return Err(CredentialError::IncompleteProfile {
                path: path.to_owned(),
                profile: self.name,
            });
        }
        let token = if mode == "StsToken" {
            self.sts_token
        } else {
            String::new()
        };
        Ok(Credentials::new(self.access_key_id, self.access_key_secret).with_security_token(token))
    }
}

/// Why no credentials could be loaded. Never carries a secret value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// Nothing configured anywhere.
    #[error(
        "no Alibaba Cloud credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and \
         ALIBABA_CLOUD_ACCESS_KEY_SECRET, or configure a profile with `aliyun configure`"
    )]
    NotFound,
    /// Only one of the id/secret variables is set.
    #[error("{missing} is not set (the other AccessKey variable is)")]
    IncompleteEnv {
        /// The variable that is missing.
        missing: &'static str,
    },
    /// The profile file could not be read.
    #[error("read {path}: {source}")]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The profile file is not the JSON the aliyun CLI writes.
    #[error("parse {path}: {source}")]
    ParseConfig {
        /// The file.
        path: PathBuf,
        /// The JSON error (positions only, no values).
        source: serde_json::Error,
    },
    /// A profile was asked for, and there is no aliyun CLI configuration file.
    #[error(
        "profile {profile:?} was asked for (--profile or ALIBABA_CLOUD_PROFILE), but {path} does \
         not exist: create it with `aliyun configure --profile {profile}`, or set \
         ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET instead"
    )]
    NoProfileFile {
        /// The file looked for.
        path: PathBuf,
        /// The profile asked for.
        profile: String,
    },
    /// The profile is not in the file.
    #[error("profile {profile:?} not found in {path}; list them with `aliyun configure list`")]
    NoSuchProfile {
        /// The file.
        path: PathBuf,
        /// The profile asked for.
        profile: String,
    },
    /// The profile uses a mode bak2rds cannot sign with.
    #[error(
        "profile {profile:?} in {path} uses mode {mode}; bak2rds supports AK and StsToken \
         profiles (or set the ALIBABA_CLOUD_* environment variables)"
    )]
    UnsupportedMode {
        /// The file.
        path: PathBuf,
        /// The profile.
        profile: String,
        /// Its mode.
        mode: String,
    },
    /// The profile lacks the id or the secret.
    #[error("profile {profile:?} in {path} has no access_key_id or access_key_secret")]
    IncompleteProfile {
        /// The file.
        path: PathBuf,
        /// The profile.
        profile: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "VerySecretValue0123456789";
    const TOKEN: &str = "CAIStsTokenExample+/==";

    #[test]
    fn debug_never_shows_secret_or_token() {
        let credentials = Credentials::new("LTAIexample", SECRET).with_security_token(TOKEN);
        let shown = format!("{credentials:?} {credentials:#?}");
        assert!(shown.contains("LTAIexample"), "{shown}");
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(!shown.contains("CAISts"), "{shown}");
    }

    #[test]
    fn env_lookup_reads_all_three_variables() {
        let credentials = Credentials::from_lookup(|name| match name {
            env_vars::ALIBABA_CLOUD_ACCESS_KEY_ID => Some("id".into()),
            env_vars::ALIBABA_CLOUD_ACCESS_KEY_SECRET => Some(SECRET.into()),
            env_vars::ALIBABA_CLOUD_SECURITY_TOKEN => Some(TOKEN.into()),
            _ => None,
        })
        .unwrap()
        .unwrap();
        assert_eq!(credentials.access_key_id(), "id");
        assert_eq!(credentials.access_key_secret(), SECRET);
        assert_eq!(credentials.security_token(), Some(TOKEN));
    }

    #[test]
    fn env_lookup_none_or_incomplete() {
        assert!(Credentials::from_lookup(|_| None).unwrap().is_none());
        let err = Credentials::from_lookup(|name| {
            (name == env_vars::ALIBABA_CLOUD_ACCESS_KEY_ID).then(|| "id".to_owned())
        })
        .unwrap_err();
        assert!(err.to_string().contains("ALIBABA_CLOUD_ACCESS_KEY_SECRET"));
    }

    /// First hour 11: the environment's keys come before ALIBABA_CLOUD_PROFILE (Alibaba's chain
    /// order); a profile asked for without a config file says so, not "no credentials".
    #[test]
    fn environment_keys_come_before_the_profile_variable() {
        let lookup = |name: &str| match name {
            env_vars::ALIBABA_CLOUD_ACCESS_KEY_ID => Some("id".to_owned()),
            env_vars::ALIBABA_CLOUD_ACCESS_KEY_SECRET => Some(SECRET.to_owned()),
            env_vars::ALIBABA_CLOUD_PROFILE => Some("nonexist".to_owned()),
            _ => None,
        };
        let missing = std::path::Path::new("/nonexistent/.aliyun/config.json");
        let credentials = Credentials::resolve_with(None, lookup, Some(missing)).unwrap();
        assert_eq!(credentials.access_key_id(), "id");
        let error = Credentials::resolve_with(Some("nonexist"), lookup, Some(missing)).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("\"nonexist\"") && text.contains("does not exist"),
            "{text}"
        );
        assert!(
            text.contains("aliyun configure --profile nonexist"),
            "{text}"
        );
    }

    fn write_config(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    const CONFIG: &str = r#"{
        "current": "main",
        "profiles": [
            {"name": "main", "mode": "AK", "access_key_id": "ak1", "access_key_secret": "sk1",
             "sts_token": "", "region_id": "cn-hangzhou", "output_format": "json"},
            {"name": "temp", "mode": "StsToken", "access_key_id": "ak2", "access_key_secret": "sk2",
             "sts_token": "tok2", "region_id": "cn-shanghai"},
            {"name": "role", "mode": "RamRoleArn", "access_key_id": "ak3",
             "access_key_secret": "sk3", "ram_role_arn": "acs:ram::1:role/x"}
        ],
        "meta_path": ""
    }"#;

    #[test]
    fn resolution_order() {
        let file = write_config(CONFIG);
        let env = |name: &str| match name {
            env_vars::ALIBABA_CLOUD_ACCESS_KEY_ID => Some("env-id".to_owned()),
            env_vars::ALIBABA_CLOUD_ACCESS_KEY_SECRET => Some("env-secret".to_owned()),
            _ => None,
        };
        // Environment first, unless a profile is named.
        let found = Credentials::resolve_with(None, env, Some(file.path())).unwrap();
        assert_eq!(found.access_key_id(), "env-id");
        let found = Credentials::resolve_with(Some("temp"), env, Some(file.path())).unwrap();
        assert_eq!(found.access_key_id(), "ak2");
        // ALIBABA_CLOUD_PROFILE names one too.
        let profile_env =
            |name: &str| (name == env_vars::ALIBABA_CLOUD_PROFILE).then(|| "temp".to_owned());
        let found = Credentials::resolve_with(None, profile_env, Some(file.path())).unwrap();
        assert_eq!(found.security_token(), Some("tok2"));
        // No variables: the file's current profile; no file either: NotFound.
        let found = Credentials::resolve_with(None, |_| None, Some(file.path())).unwrap();
        assert_eq!(found.access_key_id(), "ak1");
        let missing = file.path().with_extension("absent");
        let error = Credentials::resolve_with(None, |_| None, Some(&missing)).unwrap_err();
        assert!(matches!(error, CredentialError::NotFound));
    }

    #[cfg(unix)]
    #[test]
    fn a_profile_file_others_can_read_draws_a_chmod_warning() {
        use std::os::unix::fs::PermissionsExt as _;
        let file = write_config(CONFIG);
        let set = |mode| {
            std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(mode)).unwrap()
        };
        set(0o644);
        let warning = permission_warning(file.path()).expect("0644 is too open");
        assert!(
            warning.contains("chmod 600") && warning.contains("644"),
            "{warning}"
        );
        set(0o640);
        assert!(permission_warning(file.path()).is_some());
        set(0o600);
        assert_eq!(permission_warning(file.path()), None);
        set(0o400);
        assert_eq!(permission_warning(file.path()), None);
    }

    #[test]
    fn aliyun_profile_current_and_named() {
        let file = write_config(CONFIG);
        let current = Credentials::from_aliyun_config(file.path(), None).unwrap();
        assert_eq!(current, Credentials::new("ak1", "sk1"));
        let temp = Credentials::from_aliyun_config(file.path(), Some("temp")).unwrap();
        assert_eq!(
            temp,
            Credentials::new("ak2", "sk2").with_security_token("tok2")
        );
    }

    #[test]
    fn aliyun_profile_errors_name_the_profile_not_the_secret() {
        let file = write_config(CONFIG);
        let missing = Credentials::from_aliyun_config(file.path(), Some("nope")).unwrap_err();
        assert!(matches!(missing, CredentialError::NoSuchProfile { .. }));
        let role = Credentials::from_aliyun_config(file.path(), Some("role")).unwrap_err();
        let text = role.to_string();
        assert!(
            text.contains("RamRoleArn") && !text.contains("sk3"),
            "{text}"
        );
        let broken = write_config("{not json");
        let parse = Credentials::from_aliyun_config(broken.path(), None).unwrap_err();
        assert!(matches!(parse, CredentialError::ParseConfig { .. }));
    }
}

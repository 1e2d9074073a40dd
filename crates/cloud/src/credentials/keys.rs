//! One set of AccessKey credentials (long-term, or temporary with an STS token) and how it stays
//! secret; the environment's AccessKey variables.
//!
//! The secret and the STS token never appear in `Debug` output, errors or logs (DESIGN habit 6):
//! [`Credentials`] has a hand-written `Debug` that shows only the AccessKey id. Must not sign or
//! send anything.

use std::fmt;
use std::path::Path;

use super::error::CredentialError;
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

    fn write_config(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[cfg(unix)]
    #[test]
    fn a_profile_file_others_can_read_draws_a_chmod_warning() {
        use std::os::unix::fs::PermissionsExt as _;
        let file = write_config("{}");
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
}

//! Why no credentials could be had. Never carries a secret value.

use std::path::PathBuf;

/// Why no credentials could be loaded or refreshed. Never carries a secret value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// Nothing configured anywhere.
    #[error(
        "no Alibaba Cloud credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and \
         ALIBABA_CLOUD_ACCESS_KEY_SECRET, configure a profile with `aliyun configure`, or run on \
         an ECS instance with a RAM role (looked for: {tried})"
    )]
    NotFound {
        /// The sources looked at, in order.
        tried: String,
    },
    /// Only one of a pair of variables is set.
    #[error("{missing} is not set (the other AccessKey variable is)")]
    IncompleteEnv {
        /// The variable that is missing.
        missing: &'static str,
    },
    /// Some of the OIDC variables are set, not all.
    #[error(
        "{missing} is not set, but other OIDC variables are (ALIBABA_CLOUD_ROLE_ARN, \
         ALIBABA_CLOUD_OIDC_PROVIDER_ARN and ALIBABA_CLOUD_OIDC_TOKEN_FILE go together)"
    )]
    IncompleteOidc {
        /// The variable that is missing.
        missing: &'static str,
    },
    /// A configuration file could not be read.
    #[error("read {path}: {source}")]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A configuration file is not in the format its tool writes.
    #[error("parse {path}: {detail}")]
    ParseConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong (positions and field names only, no values).
        detail: String,
    },
    /// A profile was asked for, and there is no file that could hold it.
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
    /// The profile uses a mode bak2rds cannot use.
    #[error(
        "profile {profile:?} in {path} uses mode {mode}; bak2rds supports the modes AK, \
         StsToken, RamRoleArn, EcsRamRole, ChainableRamRoleArn, CredentialsURI and OIDC"
    )]
    UnsupportedMode {
        /// The file.
        path: PathBuf,
        /// The profile.
        profile: String,
        /// Its mode.
        mode: String,
    },
    /// The profile lacks a field its mode needs.
    #[error(
        "profile {profile:?} in {path} ({mode}) has no {field}: add it to that profile (for the \
         aliyun CLI's file, `aliyun configure --profile {profile} --mode {mode}` writes it)"
    )]
    IncompleteProfile {
        /// The file.
        path: PathBuf,
        /// The profile.
        profile: String,
        /// Its mode.
        mode: String,
        /// The missing field.
        field: &'static str,
    },
    /// `ChainableRamRoleArn` profiles that name each other.
    #[error("profile {profile:?} in {path}: its source_profile chain loops back to itself")]
    ProfileLoop {
        /// The file.
        path: PathBuf,
        /// The profile.
        profile: String,
    },
    /// The OIDC token file could not be read.
    #[error(
        "read the OIDC token file {path} (ALIBABA_CLOUD_OIDC_TOKEN_FILE or the profile's \
         oidc_token_file): {source}; in Kubernetes, check that the RRSA token volume is mounted"
    )]
    ReadTokenFile {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// An endpoint setting is not a usable URL.
    #[error("{what}: {problem}")]
    BadEndpoint {
        /// The setting.
        what: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The service that hands out credentials refused (a bad role ARN, no permission).
    #[error("{from}: {service} refused ({code}: {message}); {fix}")]
    Refused {
        /// The source, in words ("RAM role acs:ram::…:role/x, aliyun CLI profile "p"").
        from: String,
        /// The service (STS, the ECS metadata service, the credentials URI).
        service: &'static str,
        /// Its error code, or the HTTP status.
        code: String,
        /// Its message.
        message: String,
        /// What to do.
        fix: String,
    },
    /// The service could not be reached or did not answer in time: worth retrying.
    #[error("{from}: {service} did not answer ({detail}); {fix}")]
    Unreachable {
        /// The source, in words.
        from: String,
        /// The service.
        service: &'static str,
        /// The transport error, without URL.
        detail: String,
        /// What to do.
        fix: String,
    },
    /// The service answered something that is not credentials.
    #[error("{from}: {service} answered something that is not credentials ({detail})")]
    BadAnswer {
        /// The source, in words.
        from: String,
        /// The service.
        service: &'static str,
        /// What is wrong (field names, never values).
        detail: String,
    },
}

impl CredentialError {
    /// Whether asking again later may succeed (the service was unreachable, busy or failing),
    /// as opposed to a configuration that will fail every time.
    pub fn is_transient(&self) -> bool {
        match self {
            CredentialError::Unreachable { .. } => true,
            CredentialError::Refused { code, .. } => {
                code.starts_with("HTTP5")
                    || code == "HTTP429"
                    || code.contains("Throttling")
                    || code.contains("ServiceUnavailable")
                    || code.contains("InternalError")
            }
            _ => false,
        }
    }
}

//! The environment variables the clients read for credentials (the names of Alibaba's default
//! credential chain), in one place. Nothing else in this crate spells these names; the `bak2rds`
//! package re-exports them beside its own.

/// AccessKey ID (the name Alibaba's own SDKs and CLI read).
pub const ALIBABA_CLOUD_ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";

/// AccessKey secret. Never printed, logged or written to a checkpoint.
pub const ALIBABA_CLOUD_ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";

/// STS security token, for temporary credentials.
pub const ALIBABA_CLOUD_SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";

/// Profile name in the aliyun CLI config file (`~/.aliyun/config.json`).
pub const ALIBABA_CLOUD_PROFILE: &str = "ALIBABA_CLOUD_PROFILE";

/// The user's home folder, for `~/.aliyun/config.json`.
pub const HOME: &str = "HOME";

/// OIDC (Kubernetes RRSA): the role to assume with `AssumeRoleWithOIDC`.
pub const ALIBABA_CLOUD_ROLE_ARN: &str = "ALIBABA_CLOUD_ROLE_ARN";

/// OIDC: the identity provider's ARN.
pub const ALIBABA_CLOUD_OIDC_PROVIDER_ARN: &str = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN";

/// OIDC: the file holding the token (rotated by the cluster).
pub const ALIBABA_CLOUD_OIDC_TOKEN_FILE: &str = "ALIBABA_CLOUD_OIDC_TOKEN_FILE";

/// The `RoleSessionName` of an assumed role.
pub const ALIBABA_CLOUD_ROLE_SESSION_NAME: &str = "ALIBABA_CLOUD_ROLE_SESSION_NAME";

/// `true` skips the aliyun CLI profile file in the default chain.
pub const ALIBABA_CLOUD_CLI_PROFILE_DISABLED: &str = "ALIBABA_CLOUD_CLI_PROFILE_DISABLED";

/// The SDKs' credentials file (default `~/.alibabacloud/credentials.ini`).
pub const ALIBABA_CLOUD_CREDENTIALS_FILE: &str = "ALIBABA_CLOUD_CREDENTIALS_FILE";

/// The ECS instance's RAM role name (otherwise asked of the metadata service).
pub const ALIBABA_CLOUD_ECS_METADATA: &str = "ALIBABA_CLOUD_ECS_METADATA";

/// `true` skips the ECS metadata service in the default chain.
pub const ALIBABA_CLOUD_ECS_METADATA_DISABLED: &str = "ALIBABA_CLOUD_ECS_METADATA_DISABLED";

/// `true` requires the metadata service's hardened (token) mode.
pub const ALIBABA_CLOUD_IMDSV1_DISABLED: &str = "ALIBABA_CLOUD_IMDSV1_DISABLED";

/// A URI that answers credentials as JSON: the last source of the default chain.
pub const ALIBABA_CLOUD_CREDENTIALS_URI: &str = "ALIBABA_CLOUD_CREDENTIALS_URI";

/// The region of the STS endpoint (`sts.<region>.aliyuncs.com`).
pub const ALIBABA_CLOUD_STS_REGION: &str = "ALIBABA_CLOUD_STS_REGION";

/// `true` uses STS's VPC endpoint (`sts-vpc.<region>.aliyuncs.com`).
pub const ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED: &str = "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED";

/// bak2rds's own: the STS endpoint as a URL (the emulator's, for rehearsal).
pub const BAK2RDS_STS_ENDPOINT: &str = "BAK2RDS_STS_ENDPOINT";

/// bak2rds's own: the ECS metadata service as a URL (the emulator's, for rehearsal).
pub const BAK2RDS_ECS_METADATA_ENDPOINT: &str = "BAK2RDS_ECS_METADATA_ENDPOINT";

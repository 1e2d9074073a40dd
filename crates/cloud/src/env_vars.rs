//! The environment variables the clients read for credentials, in one place. Nothing else in
//! this crate spells these names; the `bak2rds` package re-exports them beside its own.

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

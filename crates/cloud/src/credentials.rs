//! Alibaba Cloud credentials as companies deploy them: where they come from, in the order of
//! Alibaba's own default credential chain, and how temporary ones are refreshed during an upload
//! that outlives them.
//!
//! ```text
//!  keys          one AccessKey pair (+ STS token); the environment's AccessKey variables
//!  profile       the aliyun CLI's ~/.aliyun/config.json and the SDKs' credentials.ini
//!  chain         the default chain: which source applies, in Alibaba's order
//!  source        one source (fixed keys, RAM role, OIDC, ECS role, URI) and how to ask it
//!  sts           STS AssumeRole / AssumeRoleWithOIDC
//!  ecs_metadata  the ECS instance's RAM role from the metadata service (token first)
//!  uri           a credentials URI (ALIBABA_CLOUD_CREDENTIALS_URI, the CLI's CredentialsURI)
//!  provider      the shared handle every request signs with: cached, refreshed ahead of expiry
//! ```
//!
//! Secrets never leave this module except to signing code: `Debug` is redacted everywhere,
//! errors name sources, files and fields, never values.

mod chain;
mod ecs_metadata;
mod error;
mod keys;
mod profile;
mod provider;
mod source;
mod sts;
mod uri;

pub use chain::{ChainSettings, Choice, choose_source};
pub use error::CredentialError;
pub use keys::{Credentials, permission_warning};
pub use provider::CredentialProvider;
pub use source::{Fetched, RoleSession, Source, SourceKind};

/// The source an aliyun CLI config file's text configures (`profile`, else its current one),
/// with the default endpoints: for the fuzz target and tests.
pub(crate) fn source_from_cli_config(
    text: &str,
    profile: Option<&str>,
) -> Result<Source, CredentialError> {
    let endpoints = chain::Endpoints::from_env(&|_| None);
    profile::cli_profile_from_text(
        text,
        std::path::Path::new("config.json"),
        profile,
        &endpoints,
    )
}

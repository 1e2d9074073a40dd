//! The ApsaraDB RDS side: request signing, typed calls of the RDS RPC API, pre-flight checks
//! before any upload, waiting for a migration task and explaining how it ended.
//!
//! Must not touch files or OSS: the facts it judges are handed in by `migrate`.
//! Reference: research note rds-api.md (§ numbers cited throughout).

pub mod backup_policy;
pub mod client;
pub mod diagnose;
pub mod endpoint;
pub mod error;
pub mod gather;
pub mod model;
pub mod preflight;
pub mod quota;
pub mod sign;
pub mod wait;

pub use client::{RdsClient, RdsClientConfig, SignatureVersion};
pub use error::{RdsError, RetryClass};
pub use sign::Credentials;

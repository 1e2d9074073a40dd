//! HTTP plumbing shared by the OSS and RDS clients: the reqwest client ([`client`]) and bounded
//! retries ([`retry`]). Knows nothing of OSS or RDS semantics.

pub mod client;
pub mod retry;

pub use client::{HttpConfig, build_client};
pub use retry::{Backoff, Idempotency, RetryConfig, RetryDecision, retry};

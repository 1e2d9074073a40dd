//! HTTP plumbing shared by the OSS and RDS clients: the reqwest client ([`client`]), bounded
//! retries ([`retry`]) and the bandwidth cap ([`limit`]). Knows nothing of OSS or RDS semantics.

pub mod client;
pub mod limit;
pub mod retry;

pub use client::{HttpConfig, build_client};
pub use retry::{Backoff, Idempotency, RetryConfig, RetryDecision, retry};

//! bak2rds's Alibaba Cloud clients: what it takes to talk to OSS and to ApsaraDB RDS, and no
//! more. Stateless protocol code; upload scheduling, checkpoints and the migration job live in
//! the `bak2rds` package, which drives these clients.
//!
//! ```text
//!  http      reqwest client, bounded retries with jitter, the byte-rate cap (governor)
//!  checksum  CRC-64/XZ (OSS's crc64ecma) digest and combine, MD5 for Content-MD5
//!  credentials  the default credential chain, STS/ECS/URI sources, refresh ahead of expiry
//!  oss       endpoint, V1/V4 signing (pure fns), one builder per REST call, XML
//!  ram       GetRole on AliyunRDSImportRole, for pre-flight
//!  rds       RPC V1/V3 signing, typed calls, model, pre-flight rules, task wait, diagnosis
//!  error     the failure categories both clients' errors report
//! ```
//!
//! The signing functions and wire models are public so that the emulator
//! (`bak2rds-emulator`) verifies requests with the very code that signs them.
#![warn(missing_docs, missing_debug_implementations)]
#![warn(clippy::clone_on_ref_ptr)]
// `unsafe` is allowed only in `checksum/folding.rs` (SIMD loads and prefetches of the CRC
// kernel), each use with a `// SAFETY:` comment.
#![deny(unsafe_code)]

pub mod checksum;
pub mod credentials;
pub mod env_vars;
pub mod error;
// Entry points of the fuzz targets and their corpus replay test; not a stable API.
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod oss;
pub mod ram;
pub mod rds;
pub mod regions;

pub use error::Category;

//! bak2rds moves an on-premises SQL Server database into Alibaba Cloud ApsaraDB RDS for SQL
//! Server as one pipeline: inspect the `.bak` locally, upload it to OSS, restore it on RDS.
//!
//! ```text
//!  .bak file ──mmap──▶ bak::inspect(&[u8]) ──▶ BackupInfo + findings ──▶ verdict (refuse early)
//!                                                       │
//!  rds::preflight(instance, bucket, BackupInfo) ◀───────┘   (version, space, names, accounts, bucket)
//!                                                       │
//!  upload::plan(len) ─▶ checkpoint (resume) ─▶ engine: N workers pull the next missing part
//!        source.slice(range) → Bytes (no copy) → CRC64 while sending → rate permit → upload_part
//!        → compare server CRC → record in checkpoint → UploadEvent
//!                                                       │
//!  complete (ascending parts) ─▶ combined CRC == server CRC ─▶ HEAD confirms size + CRC
//!                                                       │
//!  RdsClient::create_migrate_task(endpoint:bucket:key) ─▶ rds::wait (poll, backoff) ─▶ report
//! ```
//!
//! Each module owns one thing; `cli` is the only module that prints. `emulator` is a faithful
//! local OSS + RDS server (`bak2rds serve`) used for offline rehearsal, benchmarks and tests.
#![warn(missing_docs, missing_debug_implementations)]
#![warn(clippy::clone_on_ref_ptr)]
// `unsafe` is allowed only in `source.rs` (the mmap, and `source/vanished.rs`: the SIGBUS
// handler for a file that shrinks while mapped) and `checksum/folding.rs` (SIMD loads and
// prefetches of the CRC kernel), each use with a `// SAFETY:` comment.
#![deny(unsafe_code)]

pub mod bak;
pub mod batch;
pub mod checksum;
pub mod cli;
pub mod durable;
pub mod emulator;
pub mod env_vars;
pub mod error;
// Entry points of the fuzz targets and their corpus replay test; not a stable API.
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod migrate;
pub mod oss;
pub mod rds;
pub mod source;
pub mod units;
pub mod upload;

pub use error::{Error, Result};

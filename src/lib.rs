//! bak2rds moves an on-premises SQL Server database into Alibaba Cloud ApsaraDB RDS for SQL
//! Server as one pipeline: inspect the `.bak` locally, upload it to OSS, restore it on RDS.
//!
//! ```text
//!  .bak file ──mmap──▶ mssql_backup::examine(&[u8]) ──▶ BackupInfo + findings ──▶ verdict
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
//! This crate is the pipeline and the CLI. It stands on three libraries of the workspace
//! (`docs/ARCHITECTURE.md`): `mssql-backup` reads and judges backups, `bak2rds-cloud` holds the
//! OSS and RDS clients, and `bak2rds-emulator` is the local OSS + RDS server that only the
//! `serve`, `demo` and `bench` commands start. Each module owns one thing; `cli` is the only
//! module that prints.
#![warn(missing_docs, missing_debug_implementations)]
#![warn(clippy::clone_on_ref_ptr)]
// `unsafe` is allowed only in `source.rs` (the mmap, and `source/vanished.rs`: the SIGBUS
// handler for a file that shrinks while mapped), each use with a `// SAFETY:` comment.
#![deny(unsafe_code)]

pub mod batch;
pub mod cli;
pub mod durable;
pub mod env_vars;
pub mod error;
pub mod migrate;
pub mod source;
pub mod units;
pub mod upload;

pub use error::{Error, Result};

//! Every environment variable bak2rds reads, in one place. Nothing else spells these names: the
//! credential variables are the cloud clients' (`bak2rds_cloud::env_vars`), re-exported here.

pub use bak2rds_cloud::env_vars::*;

/// Overrides the regional OSS endpoint (e.g. the emulator's `http://127.0.0.1:PORT`).
pub const BAK2RDS_OSS_ENDPOINT: &str = "BAK2RDS_OSS_ENDPOINT";

/// Overrides the regional RDS endpoint.
pub const BAK2RDS_RDS_ENDPOINT: &str = "BAK2RDS_RDS_ENDPOINT";

/// The RAM endpoint that pre-flight asks about `AliyunRDSImportRole` (the emulator's, for
/// rehearsal; RAM's own by default).
pub const BAK2RDS_RAM_ENDPOINT: &str = "BAK2RDS_RAM_ENDPOINT";

/// A PEM file of extra trusted root certificates (`--ca-bundle`), e.g. the company CA of a
/// TLS-inspecting proxy.
pub const BAK2RDS_CA_BUNDLE: &str = "BAK2RDS_CA_BUNDLE";

/// Set to `1` to rewrite the golden files under `tests/golden/` instead of comparing.
pub const BAK2RDS_UPDATE_GOLDEN: &str = "BAK2RDS_UPDATE_GOLDEN";

/// Set to `1` to run the conformance suite against real Alibaba Cloud as well.
pub const BAK2RDS_TEST_REAL: &str = "BAK2RDS_TEST_REAL";

/// Bucket for the conformance suite against real OSS (with `BAK2RDS_TEST_REAL=1`).
pub const BAK2RDS_TEST_OSS_BUCKET: &str = "BAK2RDS_TEST_OSS_BUCKET";

/// Region of that bucket, e.g. `cn-hangzhou`.
pub const BAK2RDS_TEST_OSS_REGION: &str = "BAK2RDS_TEST_OSS_REGION";

/// Folder holding the real `.bak` fixtures; defaults to `../shared/fixtures/bak`.
pub const BAK2RDS_FIXTURES: &str = "BAK2RDS_FIXTURES";

/// Seed of the kill moments of `tests/kill_anywhere.rs` (printed by every run), to replay one.
pub const BAK2RDS_KILL_SEED: &str = "BAK2RDS_KILL_SEED";

/// Standard `RUST_LOG` filter for tracing output (turns the progress bar off).
pub const RUST_LOG: &str = "RUST_LOG";

/// Default region (the name Alibaba's CLI and SDKs read), e.g. `cn-hangzhou`.
pub const ALIBABA_CLOUD_REGION_ID: &str = "ALIBABA_CLOUD_REGION_ID";

/// Set (to anything but empty) to turn colours off in log output (no-color.org).
pub const NO_COLOR: &str = "NO_COLOR";

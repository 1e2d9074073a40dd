//! The one integration-test binary. Each module is one area of behaviour, run against the real
//! `bak2rds` library, the binary and the embedded emulator on 127.0.0.1.

// Shared helpers: fixture paths, temp dirs, running the binary.
mod util;
// The embedded OSS emulator through raw HTTP: addressing, auth, multipart rules, faults, memory.
mod emulator;
// Alibaba's official Python SDKs against `bak2rds serve` (scripts/sdk/).
mod sdk;
// The OSS conformance suite over `&OssClient`: emulator (memory and disk), real OSS on demand.
mod conformance;
// The OSS client against the emulator's knobs: skew, faults, STS expiry, raw error cases.
mod oss_client;

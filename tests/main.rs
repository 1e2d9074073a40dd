//! The one integration-test binary. Each module is one area of behaviour, run against the real
//! `bak2rds` library, the binary and the embedded emulator on 127.0.0.1.

// Shared helpers: fixture paths, temp dirs, running the binary.
mod util;

// bak2rds inspect: manifest, golden files, corruption, mutation.
mod inspect;
// The embedded OSS emulator through raw HTTP: addressing, auth, multipart rules, faults, memory.
mod emulator;
// The OSS conformance suite over `&OssClient`: emulator (memory and disk), real OSS on demand.
mod conformance;
// The OSS client against the emulator's knobs: skew, faults, STS expiry, raw error cases.
mod oss_client;
// bak2rds upload and the engine against the emulator: faults, kill and resume, CLI.
mod upload;
// RDS client, pre-flight facts, task wait and diagnosis against the emulated RDS; official SDKs.
mod rds;
// Alibaba's official Python SDKs against `bak2rds serve` (scripts/sdk/).
mod sdk;
// bak2rds migrate end to end on the emulator: success, refusals with fixes, crash and rerun.
mod migrate;
// The committed fuzz corpora replayed through the fuzz targets' entry points (stable Rust).
mod fuzz_corpus;
// The OSS and RDS clients against a scripted hostile server: huge, cut, slow, lying answers.
mod hostile_client;
// Hostile requests to the emulator: traversal keys, unsigned/expired, oversized, DTDs, replays.
mod hostile_emulator;

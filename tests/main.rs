//! The one integration-test binary. Each module is one area of behaviour, run against the real
//! `bak2rds` library, the binary and the embedded emulator on 127.0.0.1.

// Shared helpers: fixture paths, temp dirs, running the binary.
mod util;

// bak2rds inspect: manifest, golden files, corruption, mutation.
mod inspect;
// Restore chains (bak::chain, inspect --chain) on real histories, broken variants, synthetic ones.
mod chain;
// The embedded OSS emulator through raw HTTP: addressing, auth, multipart rules, faults, memory.
mod emulator;
// The OSS conformance suite over `&OssClient`: emulator (memory and disk), real OSS on demand.
mod conformance;
// The OSS client against the emulator's knobs: skew, faults, STS expiry, raw error cases.
mod oss_client;
// bak2rds upload and the engine against the emulator: faults, kill and resume, CLI.
mod upload;
// upload --follow: a backup uploaded while it is being written.
mod follow;
// Page checksums checked during upload and migrate: damaged, unchecksummed, not a backup.
mod page_check;
// A backup larger than memory: the mapping's resident set stays at the parts in flight.
mod cold_read;
// --concurrency auto through the emulator's link model: parts in flight added until it is full.
mod adaptive;
// Temporary credentials refreshed during uploads that outlive them: STS, ECS role, OIDC.
mod credentials;
// RDS client, pre-flight facts, task wait and diagnosis against the emulated RDS; official SDKs.
mod rds;
// Incremental migration (UPDF chains, CreateOnlineDatabaseTask) against the emulated RDS.
mod rds_incremental;
// Alibaba's official Python SDKs against `bak2rds serve` (scripts/sdk/).
mod sdk;
// bak2rds bench end to end: rows per sweep level, the machine line, JSON.
mod bench;
// `bak2rds serve` benchmark knobs (the child emulator that `bak2rds bench` starts).
mod serve_knobs;
// Regressions of the first-hour issue: usage exit codes, synth --force, object names, demo dir.
mod first_hour;
// bak2rds explain: a task Description explained, either wording, stdin, JSON, unknown.
mod explain;
// bak2rds migrate end to end on the emulator: success, refusals with fixes, crash and rerun.
mod migrate;
// bak2rds migrate --incremental: full → differential → logs → cutover, broken chains, kills.
mod incremental;
// bak2rds migrate --batch: isolation, one shared cap, batch pre-flight, rerun, folder input.
mod batch;
// SIGKILL at random moments of `migrate`, rerun each time: converges, nothing doubled.
mod kill_anywhere;
// TLS refusal, clock skew warnings, disk full on the emulator, profile permissions, emulator trust.
mod trust;
// No secret, STS token or signature in any output or file; Debug redacts credentials.
mod secrets;
// The committed fuzz corpora replayed through the fuzz targets' entry points (stable Rust).
mod fuzz_corpus;
// The OSS and RDS clients against a scripted hostile server: huge, cut, slow, lying answers.
mod hostile_client;
// Hostile requests to the emulator: traversal keys, unsigned/expired, oversized, DTDs, replays.
mod hostile_emulator;
// The workspace layout rules of docs/ARCHITECTURE.md that the compiler does not hold.
mod layout;
// Company CAs and proxies (issue 24).
mod enterprise;

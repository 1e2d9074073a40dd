//! The emulator's request decoding (Complete body, OSS addressing and signatures, RDS RPC
//! parameters and signatures), picked by the first byte. The logic lives in the `fuzzing` module of its crate,
//! shared with the corpus replay test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| bak2rds_emulator::fuzzing::emulator_request(data));

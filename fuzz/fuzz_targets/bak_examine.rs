//! Any bytes → `bak::examine`: a report, never a panic or a hang; a refusal always comes with an
//! error finding. The logic lives in the `fuzzing` module of its crate, shared with the corpus replay test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mssql_backup::fuzzing::bak_examine(data));

//! Any bytes → `bak::examine`: a report, never a panic or a hang; a refusal always comes with an
//! error finding. The logic lives in `bak2rds::fuzzing`, shared with the corpus replay test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| bak2rds::fuzzing::bak_examine(data));

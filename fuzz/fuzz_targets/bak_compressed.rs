//! The `MSSQLBAK` container path: record walk and XPRESS-Huffman decoder. The logic lives in
//! `bak2rds::fuzzing`, shared with the corpus replay test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| bak2rds::fuzzing::bak_compressed(data));

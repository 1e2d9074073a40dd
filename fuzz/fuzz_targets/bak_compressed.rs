//! The `MSSQLBAK` container path: the fuzzer's bytes behind the magic, so every input reaches
//! the record walk and the XPRESS-Huffman decoder.
#![no_main]

use bak2rds::bak::{self, Rules};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = b"MSSQLBAK".to_vec();
    input.extend_from_slice(data);
    let _ = bak::examine(&input, &Rules::default());
});

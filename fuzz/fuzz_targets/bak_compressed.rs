//! The `MSSQLBAK` container path: record walk and XPRESS-Huffman decoder. The logic lives in
//! the `fuzzing` module of its crate, shared with the corpus replay test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mssql_backup::fuzzing::bak_compressed(data));

//! Every RDS JSON answer the client decodes and the aliyun CLI profile file, picked by the first
//! byte. The logic lives in the `fuzzing` module of its crate, shared with the corpus replay test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| bak2rds_cloud::fuzzing::rds_json(data));

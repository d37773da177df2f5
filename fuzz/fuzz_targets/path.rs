#![no_main]
//! See `cloud_protocol::fuzzing::path`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| cloud_protocol::fuzzing::path(data));

#![no_main]
//! See `cloud_protocol::fuzzing::change`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| cloud_protocol::fuzzing::change(data));

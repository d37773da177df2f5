#![no_main]
//! See `cloud_protocol::fuzzing::cloud_answers`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| cloud_protocol::fuzzing::cloud_answers(data));

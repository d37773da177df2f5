#![no_main]
//! See `cloud_protocol::fuzzing::server_message`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| cloud_protocol::fuzzing::server_message(data));

#![no_main]
//! See `companion::fuzzing::completion`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| companion::fuzzing::completion(data));

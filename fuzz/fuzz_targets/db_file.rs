#![no_main]
//! See `companion::fuzzing::db_file`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| companion::fuzzing::db_file(data));

#![no_main]
//! See `companion::fuzzing::db_status`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| companion::fuzzing::db_status(data));

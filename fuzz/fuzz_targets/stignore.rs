#![no_main]
//! See `companion::fuzzing::stignore`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| companion::fuzzing::stignore(data));

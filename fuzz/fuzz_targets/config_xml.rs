#![no_main]
//! See `companion::fuzzing::config_xml`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| companion::fuzzing::config_xml(data));

#![no_main]
//! See `companion::fuzzing::syncthing_events`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| companion::fuzzing::syncthing_events(data));

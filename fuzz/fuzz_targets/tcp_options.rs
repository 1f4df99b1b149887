//! `osfp_tests::fuzz::tcp_options` (documented there), the function the normal test suite runs
//! over this target's seeds and regressions.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| osfp_tests::fuzz::tcp_options(data));

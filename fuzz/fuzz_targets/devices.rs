//! Fuzz target `devices`: the body is `harness::fuzz::devices` (shared with harness/tests/fuzz_smoke.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::fuzz::devices(data);
});

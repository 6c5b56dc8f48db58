//! Fuzz target `weights`: the body is `harness::fuzz::weights` (shared with harness/tests/fuzz_smoke.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::fuzz::weights(data);
});

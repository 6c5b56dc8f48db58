//! Fuzz target `claim`: the body is `harness::fuzz::claim` (shared with harness/tests/fuzz_smoke.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::fuzz::claim(data);
});

//! Fuzz target `price`: the body is `harness::fuzz::price` (shared with harness/tests/fuzz_smoke.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::fuzz::price(data);
});

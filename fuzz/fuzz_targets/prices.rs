//! Fuzz target `prices`: the body is `harness::fuzz::prices` (shared with harness/tests/fuzz_smoke.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::fuzz::prices(data);
});

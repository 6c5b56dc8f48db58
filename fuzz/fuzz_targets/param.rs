//! Fuzz target `param`: the body is `harness::fuzz::param` (shared with harness/tests/fuzz_smoke.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::fuzz::param(data);
});

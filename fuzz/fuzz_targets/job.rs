//! Fuzz target `job`: the body is `harness::fuzz::job` (shared with harness/tests/fuzz_smoke.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::fuzz::job(data);
});

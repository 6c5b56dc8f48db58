//! Fuzz target `plan`: the body is `harness::fuzz::plan` (shared with harness/tests/fuzz_smoke.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::fuzz::plan(data);
});

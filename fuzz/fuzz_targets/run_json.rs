//! Fuzz target `run_json`: the body is `harness::fuzz::run_json` (shared with harness/tests/fuzz_smoke.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::fuzz::run_json(data);
});

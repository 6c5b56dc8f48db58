//! Fuzz target `neff_manifest`: the body is `harness::fuzz::neff_manifest` (shared with harness/tests/fuzz_smoke.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::fuzz::neff_manifest(data);
});

//! Points too large for one NeuronCore's HBM, checked through the real `bench` binary on a
//! simulated trn2.48xlarge (`NRT_SIM_INSTANCE`, 64 cores at LNC 2 and 128 at LNC 1): they are
//! skipped before any host buffer is built or NEFF loaded, with the GiB needed and the GiB a
//! core has; the per-core figure and its basis are in the provenance; the quick suite still
//! runs all ok. The stand-in NEFFs need none of that memory. Every result is simulated.

mod neuron_support;

use harness::schema::{PointRecord, Status};
use neuron_support::{build, run_neuron, stderr};

/// TINY's decoder (d_model 64, 2 layers) in bf16 at batch 64: the KV cache is
/// 2·2·64·(context + 16)·64·2 bytes and both ping-pong sets are on the core, so context
/// 200000 needs a little over 12.2 GiB (+ 1 GiB headroom: over an LNC=1 core's 12, within an
/// LNC=2 core's 24) and context 1000000 a little over 61.0 GiB (over both); the weights and
/// position table add the rest.
const DECODES: &[&str] = &[
    "--workload",
    "decode",
    "--dtype",
    "bf16",
    "--param",
    "batch=64",
    "--param",
    "context=200000,1000000",
];

const TRN2_48XL: (&str, &str) = ("NRT_SIM_INSTANCE", "trn2.48xlarge");

fn context(p: &PointRecord) -> u64 {
    p.params["context"]
}

#[test]
fn a_decode_over_a_cores_hbm_is_skipped_naming_both_figures() {
    // LNC 2: the 61 GiB point is skipped; the 12.2 GiB one is not (it reaches nrt_load,
    // made to fail so that nothing of its size is allocated on the host).
    let fx = build(DECODES, &["--lnc", "2"]);
    let envs = [
        TRN2_48XL,
        ("NRT_SIM_CORES", "64"),
        ("NRT_SIM_FAIL", "nrt_load:1:NRT_RESOURCE"),
    ];
    let (o, run) = run_neuron(&fx, &[], &envs);
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{err}");
    let run = run.unwrap_or_else(|| panic!("no run file: {err}"));
    assert_eq!(run.backend.extra["hbm_per_core"], "24.0 GiB");
    assert!(
        run.backend.extra["hbm_per_core_basis"].contains("one bank"),
        "{:?}",
        run.backend.extra
    );
    assert_eq!(run.points.len(), 2, "{err}");
    for p in &run.points {
        let why = p.reason.clone().unwrap_or_default();
        if context(p) == 1_000_000 {
            assert_eq!(p.status, Status::Skipped, "{why}");
            assert!(
                why.starts_with("decode needs 61.")
                    && why.contains("has 24.0 GiB")
                    && why.contains("LNC=2"),
                "{why}"
            );
        } else {
            assert_ne!(p.status, Status::Skipped, "fits 24 GiB: {why}");
            assert!(why.contains("nrt_load"), "{why}");
        }
    }

    // LNC 1: both are skipped, before any nrt_load (which would fail here).
    let fx = build(DECODES, &["--lnc", "1"]);
    let envs = [
        TRN2_48XL,
        ("NRT_SIM_CORES", "128"),
        ("NRT_SIM_FAIL", "nrt_load:1:NRT_RESOURCE"),
    ];
    let (o, run) = run_neuron(&fx, &[], &envs);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let run = run.unwrap();
    assert_eq!(run.backend.extra["hbm_per_core"], "12.0 GiB");
    assert!(run.backend.extra["hbm_per_core_basis"].contains("share a bank"));
    assert_eq!(run.points.len(), 2);
    for p in &run.points {
        let why = p.reason.clone().unwrap_or_default();
        assert_eq!(p.status, Status::Skipped, "{why}");
        let need = if context(p) == 200_000 { "12." } else { "61." };
        assert!(
            why.starts_with(&format!("decode needs {need}")) && why.contains("has 12.0 GiB"),
            "{why}"
        );
    }
}

#[test]
fn the_quick_suite_fits_at_both_lncs_and_an_unknown_instance_is_not_checked() {
    for (lnc, cores) in [("2", "64"), ("1", "128")] {
        let fx = build(&[], &["--lnc", lnc]);
        let (o, run) = run_neuron(&fx, &[], &[TRN2_48XL, ("NRT_SIM_CORES", cores)]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let run = run.unwrap();
        assert!(run.backend.extra.contains_key("hbm_per_core"));
        assert!(!run.points.is_empty());
        for p in &run.points {
            assert_eq!(p.status, Status::Ok, "LNC {lnc}: {} {:?}", p.id, p.reason);
        }
    }
    // No NRT_SIM_INSTANCE: the runtime reports no family, so nothing is skipped for memory
    // and the provenance says the check was not possible.
    let fx = build(
        &["--workload", "matmul", "--dtype", "f32", "--param", "m=16"],
        &[],
    );
    let (o, run) = run_neuron(&fx, &[], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run = run.unwrap();
    assert!(!run.backend.extra.contains_key("hbm_per_core"));
    assert!(
        run.backend.extra["hbm_fit_check"].starts_with("not possible"),
        "{:?}",
        run.backend.extra
    );
    assert_eq!(run.points[0].status, Status::Ok);
}

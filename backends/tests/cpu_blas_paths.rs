//! The CPU f32 matmul gives the same, correct answer through candle (BENCH_CPU_BLAS=off) and
//! through OpenBLAS when it is installed; a BENCH_CPU_BLAS path that cannot load is a clear
//! configuration error. Environment changes live in this test binary only.

use std::collections::BTreeMap;

use backends::{BackendKind, BackendOptions};
use kernels::{DType, Point, WorkloadKind};

fn matmul() -> Point {
    let params: BTreeMap<String, u64> = [("m", 70), ("n", 50), ("k", 90)]
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    Point::new(WorkloadKind::Matmul, &params, DType::F32).unwrap()
}

#[test]
fn blas_setting_paths() {
    // One test so the environment changes happen in sequence.
    let p = matmul();
    let inputs = p.inputs(1);
    let expected = p.reference(&inputs);
    for setting in ["off", "auto"] {
        if setting == "off" {
            std::env::set_var("BENCH_CPU_BLAS", "off");
        } else {
            std::env::remove_var("BENCH_CPU_BLAS");
        }
        let mut cpu = backends::open(BackendKind::Cpu, &BackendOptions::default()).unwrap();
        let how = cpu.info().extra["f32_matmul"].clone();
        if setting == "off" {
            assert!(how.starts_with("candle"), "{how}");
        }
        let mut prep = cpu.prepare(&p, &inputs).unwrap();
        prep.run().unwrap();
        let c = expected.check(&prep.output().unwrap(), p.tolerance());
        assert!(c.passed, "{setting} ({how}): error {:e}", c.max_rel_err);
    }
    std::env::set_var("BENCH_CPU_BLAS", "/nonexistent/libopenblas.so.0");
    let err = backends::open(BackendKind::Cpu, &BackendOptions::default())
        .err()
        .expect("a bad BENCH_CPU_BLAS must be an error");
    assert!(err.is_fatal());
    let msg = err.to_string();
    assert!(
        msg.contains("/nonexistent/libopenblas.so.0") && msg.contains("off"),
        "{msg}"
    );
    std::env::remove_var("BENCH_CPU_BLAS");
}

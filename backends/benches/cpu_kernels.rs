//! Criterion benches of the CPU backend's kernels (one iteration of a prepared point):
//! `cargo bench -p backends --bench cpu_kernels`. For the comparison with numpy on the same
//! machine use scripts/cpu_vs_numpy.py, which alternates the two in one run.

use std::collections::BTreeMap;

use backends::{BackendKind, BackendOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kernels::{DType, Point, WorkloadKind};

fn point(kind: WorkloadKind, kv: &[(&str, u64)], dtype: DType) -> Point {
    let params: BTreeMap<String, u64> = kv.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    Point::new(kind, &params, dtype).expect("valid bench point")
}

fn bench(c: &mut Criterion) {
    let mut cpu = backends::open(BackendKind::Cpu, &BackendOptions::default()).expect("cpu");
    let points = [
        point(
            WorkloadKind::Matmul,
            &[("m", 512), ("n", 512), ("k", 512)],
            DType::F32,
        ),
        point(
            WorkloadKind::Matmul,
            &[("m", 512), ("n", 512), ("k", 512)],
            DType::Bf16,
        ),
        point(
            WorkloadKind::Attention,
            &[("b", 1), ("h", 8), ("s", 256), ("d", 64), ("causal", 1)],
            DType::F32,
        ),
        point(
            WorkloadKind::TrainMlp,
            &[
                ("layers", 2),
                ("width", 256),
                ("batch", 64),
                ("classes", 10),
            ],
            DType::F32,
        ),
    ];
    let mut group = c.benchmark_group("cpu");
    group.sample_size(20);
    for p in &points {
        let inputs = p.inputs(1);
        let mut prep = cpu.prepare(p, &inputs).expect("prepare");
        group.throughput(Throughput::Elements(p.flops() as u64));
        group.bench_function(p.id(), |b| b.iter(|| prep.run().expect("run")));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

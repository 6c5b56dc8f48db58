//! Per-execute overhead of bench's Rust Neuron path over nrt-sim: `Prepared::run` of a
//! prepared point (safe layer, status mapping, phase logic, through `Box<dyn Prepared>` as the
//! harness calls it) against back-to-back raw `nrt_execute` calls on the same model and tensor
//! sets, in alternating rounds of the same run. The NEFF is a 1×1×1 matmul stand-in, so the
//! simulator's own work is as small as it gets and the difference is the Rust layer's cost.
//! Then the `--cores N` per-sample cost at N = 1, 8 and 64 (nrt-sim with 64 cores): the old
//! way (N threads spawned inside every sample) against `Prepared::run`'s persistent per-core
//! threads released by a barrier, alternating in the same run.
//! Run: `cargo bench -p backends --bench neuron_overhead`. Goal: < 5 µs per execute.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use backends::neuron::exec::{CoreCopy, NeuronPoint};
use backends::neuron::manifest::Manifest;
use backends::neuron::runtime::Runtime;
use backends::Prepared;
use kernels::{DType, Point, WorkloadKind};

fn libnrt_sim() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    [deps.join("libnrt_sim.so"), deps.join("../libnrt_sim.so")]
        .into_iter()
        .find(|p| p.exists())
        .expect("libnrt_sim.so is built with this bench (nrt-sim is a dev-dependency)")
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    std::env::set_var("BENCH_LIBNRT", libnrt_sim());
    std::env::set_var("NRT_SIM_CORES", "64");
    let dir = std::env::temp_dir().join(format!("bench-neuron-overhead-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let io = |name: &str, neff: &str, shape: &str| {
        format!(r#"{{"name": "{name}", "neff_name": "{neff}", "dtype": "f32", "shape": {shape}}}"#)
    };
    let t = |name: &str| format!(r#"{{"name": "{name}", "dtype": "f32", "shape": [1, 1]}}"#);
    let standin = format!(
        "NRTSIM-NEFF/1\n{{\"workload\": \"matmul\", \"params\": {{\"m\": 1, \"n\": 1, \"k\": 1}}, \"inputs\": [{}, {}], \"outputs\": [{}]}}",
        t("input0"),
        t("input1"),
        t("output0")
    );
    std::fs::write(dir.join("mm.neff"), standin).unwrap();
    let id = "matmul/m=1,n=1,k=1/f32";
    let manifest = format!(
        r#"{{"schema": "bench.neff-manifest/1", "target": "trn2", "lnc": 2, "compiler": "nrt-sim stand-in", "simulated": true,
            "points": {{"{id}": {{"neff": "mm.neff", "inputs": [{}, {}], "outputs": [{}], "check": "out"}}}}}}"#,
        io("a", "input0", "[1, 1]"),
        io("b", "input1", "[1, 1]"),
        io("out", "output0", "[1, 1]")
    );
    std::fs::write(dir.join("manifest.json"), manifest).unwrap();
    let m = Manifest::load(&dir).unwrap();
    let entry = &m.points[id];
    let point = Point::new(
        WorkloadKind::Matmul,
        &BTreeMap::from([("m".into(), 1), ("n".into(), 1), ("k".into(), 1)]),
        DType::F32,
    )
    .unwrap();
    let inputs = point.inputs(1);
    let rt = Runtime::acquire().unwrap();
    let neff = std::fs::read(dir.join("mm.neff")).unwrap();
    // Two copies of the same point: one driven raw, one through the Rust path.
    let raw = CoreCopy::build(&rt, &neff, "mm.neff", entry, &inputs, 0, true).unwrap();
    let copy = CoreCopy::build(&rt, &neff, "mm.neff", entry, &inputs, 0, true).unwrap();
    let mut prepared: Box<dyn Prepared> = Box::new(NeuronPoint::new(vec![copy], entry, None));

    const N: usize = 200_000;
    let (mut raws, mut rusts) = (Vec::new(), Vec::new());
    for round in 0..7 {
        let (ins, outs) = &raw.phases[0];
        let (t, failed) = raw.model.time_raw_executes(ins, outs, N);
        assert_eq!(failed, 0);
        let raw_us = t.as_secs_f64() / N as f64 * 1e6;
        let t = Instant::now();
        for _ in 0..N {
            prepared.run().unwrap();
        }
        let rust_us = t.elapsed().as_secs_f64() / N as f64 * 1e6;
        println!(
            "round {round}: raw nrt_execute {raw_us:.3} µs, Prepared::run {rust_us:.3} µs, overhead {:.3} µs",
            rust_us - raw_us
        );
        raws.push(raw_us);
        rusts.push(rust_us);
    }
    let mut diffs: Vec<f64> = rusts.iter().zip(&raws).map(|(s, r)| s - r).collect();
    let worst = diffs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let (r, s, d) = (median(&mut raws), median(&mut rusts), median(&mut diffs));
    println!(
        "median over rounds: raw {r:.3} µs, Rust path {s:.3} µs per execute; overhead median {d:.3} µs, worst round {worst:.3} µs (goal < 5 µs)"
    );
    drop(prepared);
    drop(raw);
    for n in [1usize, 8, 64] {
        let build = || -> Vec<CoreCopy> {
            (0..n)
                .map(|v| {
                    CoreCopy::build(&rt, &neff, "mm.neff", entry, &inputs, v as i32, true).unwrap()
                })
                .collect()
        };
        let mut spawned = build();
        let mut persistent: Box<dyn Prepared> = Box::new(NeuronPoint::new(build(), entry, None));
        let samples = (20_000 / n).max(300);
        let (mut before, mut after) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            let t = Instant::now();
            for _ in 0..samples {
                // Before: N threads spawned and joined inside every sample.
                std::thread::scope(|s| {
                    let hs: Vec<_> = spawned
                        .iter_mut()
                        .map(|c| {
                            s.spawn(move || {
                                let c: &mut CoreCopy = c;
                                c.execute(0)
                            })
                        })
                        .collect();
                    for h in hs {
                        h.join().unwrap().unwrap();
                    }
                });
            }
            before.push(t.elapsed().as_secs_f64() / samples as f64 * 1e6);
            let t = Instant::now();
            for _ in 0..samples {
                persistent.run().unwrap();
            }
            after.push(t.elapsed().as_secs_f64() / samples as f64 * 1e6);
        }
        let (b, a) = (median(&mut before), median(&mut after));
        println!(
            "--cores {n}: per sample, threads spawned per sample {b:.1} µs, persistent threads + barrier {a:.1} µs (median of 5 rounds of {samples})"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

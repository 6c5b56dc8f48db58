//! How long `bench report` takes over 100k points: two synthetic runs (a cuda and a neuron run
//! of 50,000 matmul points each, 10 timing samples per point, all paired) are written as
//! run.json files, then the full report (read, price, pair, bootstrap 2,000 replicates per
//! point and for the geometric mean, markdown, HTML, CSV/JSON, three charts as SVG + PNG) is
//! timed against a reference measured in the same run: only reading and parsing the two files.
//! Run: `cargo bench -p harness --bench report`. Goal: the full report in ≤ 2 s.

use std::path::Path;
use std::time::Instant;

use harness::report::{command, devices::DeviceTable, input, model, prices::PriceTable};
use harness::schema::{
    BackendInfo, Check, HarnessInfo, HostInfo, OneOffS, PointRecord, RunFile, Stats, Status,
    Throughput, SCHEMA,
};
use kernels::rng::Rng;

const POINTS_PER_RUN: usize = 50_000;
const SAMPLES: usize = 10;

fn synthetic(kind: &str, instance: &str, tflops: f64, seed: u64) -> RunFile {
    let mut rng = Rng::new(seed);
    let points = (0..POINTS_PER_RUN)
        .map(|i| {
            let m = 256 + (i % 4096) as u64;
            let k = 256 + (i / 4096) as u64 * 64;
            let flops = 2.0 * (m * m * k) as f64;
            let t = flops / (tflops * 1e12);
            let samples: Vec<f64> = (0..SAMPLES)
                .map(|_| t * (1.0 + 0.05 * rng.next_f64()))
                .collect();
            let mut s = samples.clone();
            s.sort_by(f64::total_cmp);
            let med = (s[4] + s[5]) / 2.0;
            PointRecord {
                id: format!("matmul/m={m},n={m},k={k}/bf16"),
                workload: "matmul".into(),
                params: [
                    ("m".to_string(), m),
                    ("n".to_string(), m),
                    ("k".to_string(), k),
                ]
                .into_iter()
                .collect(),
                dtype: "bf16".into(),
                status: Status::Ok,
                reason: None,
                flops,
                bytes: 0.0,
                devices_used: 1.0,
                check: Some(Check {
                    max_rel_err: Some(1e-3),
                    tolerance: 2e-2,
                    passed: true,
                    checked: 64,
                    reference_s: None,
                    reference_losses: None,
                }),
                timer: Some("wall".into()),
                samples_s: samples,
                samples_wall_s: Vec::new(),
                stats: Some(Stats {
                    n: SAMPLES,
                    median_s: med,
                    mean_s: med,
                    stdev_s: 0.0,
                    mad_s: 0.0,
                    ci95_low_s: s[0],
                    ci95_high_s: s[9],
                    outliers: 0,
                }),
                throughput: Some(Throughput {
                    flop_per_s: flops / med,
                    items_per_s: 1.0 / med,
                    item: "matmuls".into(),
                }),
                one_off_s: OneOffS::default(),
                train: None,
                telemetry: None,
                implementation: None,
            }
        })
        .collect();
    RunFile {
        schema: SCHEMA.into(),
        harness: HarnessInfo {
            version: "bench".into(),
            git_commit: "synthetic benchmark input, not a measurement".into(),
        },
        host: HostInfo {
            hostname: "synthetic".into(),
            cpu: "synthetic".into(),
            cores: 1,
            memory_bytes: 0,
            os: "synthetic".into(),
            instance_type: Some(instance.into()),
            instance_type_source: "cli".into(),
        },
        backend: BackendInfo {
            kind: kind.into(),
            implementation: "bench".into(),
            device: "synthetic".into(),
            device_count: 8,
            runtime_version: None,
            driver_version: None,
            simulated: false,
            extra: Default::default(),
        },
        command: "synthetic benchmark input, not a measurement".into(),
        started_at: String::new(),
        finished_at: None,
        settings: Default::default(),
        env: Default::default(),
        points,
        resumes: Vec::new(),
        interrupted: None,
    }
}

fn write(dir: &Path, name: &str, run: &RunFile) -> std::path::PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("run.json"), serde_json::to_vec(run).unwrap()).unwrap();
    d
}

fn main() {
    let tmp = std::env::temp_dir().join(format!("bench-report-bench-{}", std::process::id()));
    let gpu = write(&tmp, "cuda", &synthetic("cuda", "p5.48xlarge", 700.0, 1));
    let trn = write(
        &tmp,
        "neuron",
        &synthetic("neuron", "trn2.48xlarge", 420.0, 2),
    );
    let paths = vec![gpu, trn];
    let out = tmp.join("report");
    let prices = PriceTable::builtin()
        .with_overrides(&["trn2.48xlarge=30".into()])
        .unwrap();
    let opts = model::Options::default();
    let mut rows = Vec::new();
    for round in 0..3 {
        let t0 = Instant::now();
        let runs = input::load(&paths).unwrap();
        let read_s = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let rep = model::build(&runs, &prices, &DeviceTable::builtin(), &opts).unwrap();
        let model_s = t1.elapsed().as_secs_f64();
        let t2 = Instant::now();
        command::write(&rep, &out).unwrap();
        let write_s = t2.elapsed().as_secs_f64();
        let total = t0.elapsed().as_secs_f64();
        assert_eq!(rep.comparisons[0].pairs.len(), POINTS_PER_RUN);
        println!(
            "round {round}: 100k points: total {total:.3} s = read+parse {read_s:.3} s (reference) + model (pair, bootstrap) {model_s:.3} s + outputs {write_s:.3} s; total/reference {:.2}",
            total / read_s
        );
        rows.push(total);
    }
    rows.sort_by(f64::total_cmp);
    println!(
        "median of 3: {:.3} s for a report over {} points ({} pairs) on {} threads; goal <= 2 s: {}",
        rows[1],
        2 * POINTS_PER_RUN,
        POINTS_PER_RUN,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        if rows[1] <= 2.0 { "met" } else { "NOT met" }
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

//! Device-side timing over nrt-sim: per execute, the host wall time beside the system trace's
//! device time (`nc_exec_running`), for a 1×1×1 matmul stand-in with a simulated device time
//! of `NRT_SIM_DEVICE_US` (50 µs here) and no simulated host latency. Prints the medians of
//! the wall time, the device time, wall − device (what the host adds around the device's
//! execution: bench's Rust path, nrt-sim's call and its stand-in computation), and the cost
//! of the per-sample trace fetch and parse (outside the wall sample, inside the harness's
//! loop). Simulated figures: nrt-sim's, not Trainium's.
//! Run: `cargo bench -p backends --bench neuron_trace`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use backends::neuron::exec::{CoreCopy, NeuronPoint};
use backends::neuron::manifest::Manifest;
use backends::neuron::runtime::Runtime;
use backends::neuron::{sys, trace};
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

const DEVICE_US: u64 = 50;

fn main() {
    std::env::set_var("BENCH_LIBNRT", libnrt_sim());
    std::env::set_var("NRT_SIM_DEVICE_US", DEVICE_US.to_string());
    let dir = std::env::temp_dir().join(format!("bench-neuron-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let t = |name: &str| format!(r#"{{"name": "{name}", "dtype": "f32", "shape": [1, 1]}}"#);
    let standin = format!(
        "NRTSIM-NEFF/1\n{{\"workload\": \"matmul\", \"params\": {{\"m\": 1, \"n\": 1, \"k\": 1}}, \"inputs\": [{}, {}], \"outputs\": [{}]}}",
        t("input0"),
        t("input1"),
        t("output0")
    );
    std::fs::write(dir.join("mm.neff"), standin).unwrap();
    let io = |name: &str, neff: &str| {
        format!(r#"{{"name": "{name}", "neff_name": "{neff}", "dtype": "f32", "shape": [1, 1]}}"#)
    };
    let id = "matmul/m=1,n=1,k=1/f32";
    let manifest = format!(
        r#"{{"schema": "bench.neff-manifest/1", "target": "trn2", "lnc": 2, "compiler": "nrt-sim stand-in", "simulated": true,
            "points": {{"{id}": {{"neff": "mm.neff", "inputs": [{}, {}], "outputs": [{}], "check": "out"}}}}}}"#,
        io("a", "input0"),
        io("b", "input1"),
        io("out", "output0")
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
    let api = sys::api().unwrap();
    let mut extra = BTreeMap::new();
    let tracer: Arc<trace::Tracer> = trace::choose(
        api.sys_trace.as_ref().map_err(String::as_str),
        &rt,
        trace::Want::Trace,
        &mut extra,
    )
    .unwrap()
    .expect("nrt-sim traces with NRT_SIM_DEVICE_US set");
    let neff = std::fs::read(dir.join("mm.neff")).unwrap();
    let copy = CoreCopy::build(&rt, &neff, "mm.neff", entry, &inputs, 0, true).unwrap();
    let mut p: Box<dyn Prepared> = Box::new(NeuronPoint::new(vec![copy], entry, Some(tracer)));

    const N: usize = 4_000;
    let (mut walls, mut devices, mut diffs, mut fetches) = (vec![], vec![], vec![], vec![]);
    for round in 0..5 {
        let (mut w, mut d, mut o, mut f) = (vec![], vec![], vec![], vec![]);
        for _ in 0..N {
            let t = Instant::now();
            let dev = p.run().unwrap().unwrap();
            let whole = t.elapsed().as_secs_f64();
            let wall = p.wall_s().unwrap();
            w.push(wall * 1e6);
            d.push(dev * 1e6);
            o.push((wall - dev) * 1e6);
            f.push((whole - wall) * 1e6);
        }
        let (w, d, o, f) = (
            median(&mut w),
            median(&mut d),
            median(&mut o),
            median(&mut f),
        );
        println!(
            "round {round}: wall {w:.2} µs, device {d:.2} µs, wall - device {o:.2} µs, trace fetch+parse {f:.2} µs (medians of {N})"
        );
        walls.push(w);
        devices.push(d);
        diffs.push(o);
        fetches.push(f);
    }
    println!(
        "nrt-sim (SIMULATED), NRT_SIM_DEVICE_US={DEVICE_US}: median over 5 rounds: wall {:.2} µs, device {:.2} µs, wall - device {:.2} µs per execute; per-sample trace fetch+parse {:.2} µs",
        median(&mut walls),
        median(&mut devices),
        median(&mut diffs),
        median(&mut fetches)
    );
    drop(p);
    std::fs::remove_dir_all(&dir).ok();
}

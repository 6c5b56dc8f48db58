//! `bench plan`'s point metadata against what the same binary runs and dumps: for every point
//! of a small selection of every workload in two dtypes, each input's name, shape and element
//! type in the plan match the `--dump` .npy file of that input, the output's size matches the
//! dumped output, and FLOPs, bytes, items, their unit and the tolerance match run.json. So the
//! scripts that read the plan (build_neffs.py, torch_reference.py) see what bench computes.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use harness::schema::{read_run, Status};
use serde_json::Value;

fn bench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bench"));
    c.env_remove("RUST_BACKTRACE");
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The `descr` and shape of an .npy file's header.
fn npy_header(path: &Path) -> (String, Vec<usize>) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..6], b"\x93NUMPY", "{}", path.display());
    let len = u16::from_le_bytes([b[8], b[9]]) as usize;
    let h = std::str::from_utf8(&b[10..10 + len]).unwrap();
    let field = |key: &str| {
        let at = h.find(key).unwrap() + key.len();
        h[at..].trim_start().to_string()
    };
    let descr = field("'descr':");
    let descr = descr.split('\'').nth(1).unwrap().to_string();
    let shape = field("'shape':");
    let shape = &shape[1..shape.find(')').unwrap()];
    let dims = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (descr, dims)
}

const SELECTION: &[&str] = &[
    "--suite",
    "quick",
    "--dtype",
    "f32,bf16",
    "--param",
    "m=24",
    "--param",
    "n=16",
    "--param",
    "s=8",
    "--param",
    "width=8",
    "--param",
    "batch=3",
    "--param",
    "seq=4",
    "--param",
    "d_model=16",
];

#[test]
fn plan_metadata_matches_what_bench_runs_and_dumps() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = tmp.path().join("plan.json");
    let dump = tmp.path().join("dump");
    let o = bench()
        .args(["plan", "--backend", "cuda", "--out"])
        .arg(&plan)
        .args(SELECTION)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = bench()
        .args([
            "--backend",
            "cpu",
            "--budget",
            "0.01",
            "--warmup",
            "0",
            "--min-samples",
            "4",
        ])
        .arg("--out")
        .arg(tmp.path().join("runs"))
        .arg("--dump")
        .arg(&dump)
        .args(SELECTION)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(dump.join("index.json")).unwrap()).unwrap();
    let runs: Vec<_> = std::fs::read_dir(tmp.path().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let run = read_run(&runs[0]).unwrap();
    let records: BTreeMap<&str, _> = run.points.iter().map(|p| (p.id.as_str(), p)).collect();

    let points = plan["points"].as_array().unwrap();
    let workloads: std::collections::BTreeSet<&str> = points
        .iter()
        .map(|p| p["workload"].as_str().unwrap())
        .collect();
    assert_eq!(
        workloads.len(),
        kernels::WorkloadKind::ALL.len(),
        "{workloads:?}"
    );
    assert_eq!(points.len(), records.len());
    for p in points {
        let id = p["id"].as_str().unwrap();
        let files = &index[id]["files"];
        let rec = records[id];
        assert_eq!(rec.status, Status::Ok, "{id}: {:?}", rec.reason);
        let float = p["dtype"].as_str().unwrap();
        for t in p["inputs"].as_array().unwrap() {
            let name = t["name"].as_str().unwrap();
            let file = files[format!("input_{name}")]
                .as_str()
                .unwrap_or_else(|| panic!("{id}: the dump has no input {name}"));
            let (descr, shape) = npy_header(&dump.join(file));
            let want: Vec<usize> = serde_json::from_value(t["shape"].clone()).unwrap();
            assert_eq!(shape, want, "{id} {name}");
            let dtype = t["dtype"].as_str().unwrap();
            match descr.as_str() {
                "<i4" => assert_eq!(dtype, "i32", "{id} {name}"),
                "<f4" => assert_eq!(dtype, float, "{id} {name}"),
                other => panic!("{id} {name}: unexpected descr {other}"),
            }
        }
        let n_inputs = files
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with("input_"))
            .count();
        assert_eq!(n_inputs, p["inputs"].as_array().unwrap().len(), "{id}");
        let outputs = p["outputs"].as_array().unwrap();
        assert_eq!(outputs.len(), 1, "{id}");
        let out_elems: usize = outputs[0]["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .product();
        let training = p["workload"]
            .as_str()
            .is_some_and(|w| w.starts_with("train-"));
        match p["check"]["steps"].as_u64().filter(|_| training) {
            None => {
                let (_, shape) = npy_header(&dump.join(files["output"].as_str().unwrap()));
                assert_eq!(shape, vec![out_elems], "{id}");
            }
            Some(steps) => {
                assert_eq!(out_elems, 1, "{id}: a training step yields one loss");
                assert_eq!(rec.train.as_ref().unwrap().checked_steps as u64, steps);
            }
        }
        assert_eq!(p["flops"].as_f64().unwrap(), rec.flops, "{id}");
        assert_eq!(p["bytes"].as_f64().unwrap(), rec.bytes, "{id}");
        let check = rec.check.as_ref().unwrap();
        assert_eq!(p["check"]["tolerance"].as_f64().unwrap(), check.tolerance);
        let tp = rec.throughput.as_ref().unwrap();
        assert_eq!(p["item"].as_str().unwrap(), tp.item, "{id}");
        let items = tp.items_per_s * rec.stats.as_ref().unwrap().median_s;
        let planned = p["items"].as_f64().unwrap();
        assert!(
            (items - planned).abs() <= 1e-9 * planned,
            "{id}: {items} vs {planned}"
        );
    }
}

//! scripts/gpu/torch_reference.py without torch or a GPU: its `--dry-run` run.json passes
//! bench's reader with the plan's point ids, bench's FLOP and byte counts, `simulated: true`
//! and every point skipped as "not a measurement"; it refuses to write a dry run under
//! results/runs; and its numpy re-implementation of bench's seeded inputs and f64 loss replays
//! agrees with the kernels crate bit for bit (train-gpt's parameters and token pool also
//! against the real binary's `--dump` files, and its f64 replay against the dumped reference
//! trajectory). Needs python3 with numpy; without them the tests say so and pass, unless
//! BENCH_REQUIRE_PYTHON=1 (CI sets it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use harness::schema::{read_run, Status};
use harness::suite::{plan, Selection, Suite};
use kernels::tensor::find;
use kernels::{DType, Point, WorkloadKind};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn python() -> Option<String> {
    let ok = Command::new("python3")
        .args(["-c", "import numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("BENCH_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "BENCH_REQUIRE_PYTHON=1 but python3 with numpy is missing"
        );
        eprintln!("skipped: python3 with numpy is not installed");
        return None;
    }
    Some("python3".into())
}

fn script(py: &str, args: &[&str]) -> Output {
    Command::new(py)
        .arg(repo().join("scripts/gpu/torch_reference.py"))
        .args(args)
        .output()
        .unwrap()
}

fn write_plan(dir: &Path, suite: &str) -> PathBuf {
    let path = dir.join("plan.json");
    let o = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(["plan", "--backend", "neuron", "--suite", suite, "--out"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    path
}

#[test]
fn dry_run_writes_a_valid_run_of_skipped_points_with_benchs_accounting() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let plan_path = write_plan(tmp.path(), "standard");
    let out = tmp.path().join("runs");
    let o = script(
        &py,
        &[
            "--plan",
            plan_path.to_str().unwrap(),
            "--dry-run",
            "--out",
            out.to_str().unwrap(),
            "--instance",
            "p5.48xlarge",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dir = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let run = read_run(&dir).expect("bench reads the torch run.json");
    assert_eq!(run.backend.kind, "cuda");
    assert!(run.backend.implementation.starts_with("torch"));
    assert!(run.backend.simulated, "a dry run is not a measurement");
    assert_eq!(run.host.instance_type.as_deref(), Some("p5.48xlarge"));
    assert!(run.finished_at.is_some());
    // every workload of the suite has a torch reference, train-gpt included
    let points: Vec<Point> = plan(Suite::Standard, &Selection::default()).unwrap();
    assert!(points.iter().any(|p| p.kind() == WorkloadKind::TrainGpt));
    assert_eq!(run.points.len(), points.len());
    for (rec, p) in run.points.iter().zip(&points) {
        assert_eq!(rec.id, p.id());
        assert_eq!(rec.flops, p.flops(), "{}", rec.id);
        assert_eq!(rec.bytes, p.bytes(), "{}", rec.id);
        assert_eq!(rec.status, Status::Skipped);
        assert_eq!(rec.reason.as_deref(), Some("dry run: not a measurement"));
        assert!(rec.samples_s.is_empty() && rec.stats.is_none());
    }
}

#[test]
fn dry_run_refuses_results_runs_and_bad_arguments_are_named() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let plan_path = write_plan(tmp.path(), "quick");
    let target = tmp.path().join("results/runs");
    let o = script(
        &py,
        &[
            "--plan",
            plan_path.to_str().unwrap(),
            "--dry-run",
            "--out",
            target.to_str().unwrap(),
        ],
    );
    assert_ne!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("results/runs holds real runs only"), "{err}");
    assert!(!target.exists());
    let elsewhere = tmp.path().join("runs");
    let o = script(
        &py,
        &[
            "--plan",
            "/nonexistent/plan.json",
            "--dry-run",
            "--out",
            elsewhere.to_str().unwrap(),
        ],
    );
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bench plan"));
    let o = script(
        &py,
        &["--plan", plan_path.to_str().unwrap(), "--budget", "-1"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--budget -1"));
}

/// Runs `code` with torch_reference imported as `t`; returns its stdout parsed as JSON.
fn py_json(py: &str, code: &str) -> serde_json::Value {
    let full = format!(
        "import sys, json; sys.path.insert(0, {:?}); import torch_reference as t\n{code}",
        repo().join("scripts/gpu").display().to_string()
    );
    let o = Command::new(py).args(["-c", &full]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn point(kind: WorkloadKind, kv: &[(&str, u64)], d: DType) -> Point {
    let p = kv.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    Point::new(kind, &p, d).unwrap()
}

#[test]
fn seeded_inputs_match_the_kernels_crate_bit_for_bit() {
    let Some(py) = python() else { return };
    let mut cases = Vec::new();
    for d in DType::ALL {
        cases.push(point(
            WorkloadKind::Matmul,
            &[("m", 7), ("n", 5), ("k", 33)],
            d,
        ));
    }
    for d in [DType::Bf16, DType::F16] {
        cases.push(point(
            WorkloadKind::Attention,
            &[("b", 1), ("h", 2), ("s", 9), ("d", 8), ("causal", 1)],
            d,
        ));
    }
    for d in [DType::F32, DType::Bf16] {
        cases.push(point(
            WorkloadKind::TrainMlp,
            &[("layers", 2), ("width", 16), ("batch", 8), ("classes", 4)],
            d,
        ));
    }
    for d in DType::ALL {
        cases.push(point(WorkloadKind::TrainGpt, GPT_TINY, d));
    }
    for p in cases {
        let params: serde_json::Map<String, serde_json::Value> = p
            .params()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.into()))
            .collect();
        let code = format!(
            "x = t.point_inputs({:?}, json.loads({:?}), {:?}, 3)\n\
             print(json.dumps({{k: [int(v) for v in (a.astype('float32').view('uint32') if a.dtype.kind == 'f' else a).reshape(-1)] for k, a in x.items()}}))",
            p.kind().name(),
            serde_json::Value::Object(params).to_string(),
            p.dtype.name()
        );
        let got = py_json(&py, &code);
        let want = p.inputs(3);
        for t in &want {
            // f32 values as their bit patterns, labels as integers: exact comparison
            let g: Vec<i64> = got[&t.name]
                .as_array()
                .unwrap_or_else(|| panic!("{}: no {}", p.id(), t.name))
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect();
            let w: Vec<i64> = match &t.data {
                kernels::TensorData::F32(v) => v.iter().map(|&x| x.to_bits() as i64).collect(),
                kernels::TensorData::I32(v) => v.iter().map(|&x| x as i64).collect(),
            };
            assert_eq!(g, w, "{} input {}", p.id(), t.name);
        }
        assert_eq!(
            got.as_object().unwrap().len(),
            want.len(),
            "{}: the script has inputs bench has not",
            p.id()
        );
    }
}

/// Per-point accounting the script computes itself, for every point of every suite: FLOPs,
/// bytes, items per iteration and their unit, the tolerance, and (training) the number of
/// leading steps checked against the f64 replay — all as kernels/src/point.rs says.
#[test]
fn accounting_matches_the_kernels_crate_for_every_suite_point() {
    let Some(py) = python() else { return };
    let mut points = Vec::new();
    for suite in Suite::ALL {
        points.extend(plan(suite, &Selection::default()).unwrap());
    }
    let list: Vec<serde_json::Value> = points
        .iter()
        .map(|p| {
            let params: serde_json::Map<String, serde_json::Value> = p
                .params()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.into()))
                .collect();
            serde_json::json!([p.kind().name(), params, p.dtype.name()])
        })
        .collect();
    let code = format!(
        "pts = json.loads({:?})\n\
         print(json.dumps([[t.flops(w, p), t.bytes_moved(w, p, d), *t.items(w, p), \
         t.TOLERANCE[w][d], t.check_steps(w, p) if w.startswith('train-') else 0] \
         for w, p, d in pts]))",
        serde_json::Value::Array(list).to_string()
    );
    let got = py_json(&py, &code);
    let got = got.as_array().unwrap();
    assert_eq!(got.len(), points.len());
    assert!(points.iter().any(|p| p.kind() == WorkloadKind::TrainGpt));
    for (g, p) in got.iter().zip(&points) {
        let (items, unit) = p.items();
        let steps = if p.kind().is_training() {
            p.check_steps()
        } else {
            0
        };
        assert_eq!(g[0].as_f64().unwrap(), p.flops(), "{} flops", p.id());
        assert_eq!(g[1].as_f64().unwrap(), p.bytes(), "{} bytes", p.id());
        assert_eq!(g[2].as_f64().unwrap(), items, "{} items", p.id());
        assert_eq!(g[3].as_str().unwrap(), unit, "{} item unit", p.id());
        assert_eq!(
            g[4].as_f64().unwrap(),
            p.tolerance(),
            "{} tolerance",
            p.id()
        );
        assert_eq!(
            g[5].as_u64().unwrap() as usize,
            steps,
            "{} check steps",
            p.id()
        );
    }
}

/// A train-gpt point small enough for the CPU backend in a test; vocab 29 is not a power of
/// two, so `Rng::below` is exercised with a remainder.
const GPT_TINY: &[(&str, u64)] = &[
    ("d_model", 16),
    ("layers", 2),
    ("heads", 2),
    ("seq", 8),
    ("vocab", 29),
    ("batch", 3),
];

/// The real `bench` binary runs tiny train-gpt points on the CPU with `--dump`; the script's
/// `point_inputs` must reproduce every dumped parameter and the token pool bit for bit (names,
/// shapes and dtypes too), and its float64 numpy replay (`gpt_reference_losses`, a hand-written
/// backward) must reproduce the dumped f64 reference trajectory of kernels/src/gpt_ref.rs.
#[test]
fn train_gpt_inputs_and_f64_replay_match_the_binarys_dump() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dump = tmp.path().join("dump");
    let mut args: Vec<String> = [
        "--backend",
        "cpu",
        "--workload",
        "train-gpt",
        "--dtype",
        "f32,bf16",
        "--seed",
        "11",
        "--budget",
        "0.05",
        "--warmup",
        "0",
        "--min-samples",
        "2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (k, v) in GPT_TINY {
        args.extend(["--param".to_string(), format!("{k}={v}")]);
    }
    let o = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(&args)
        .arg("--out")
        .arg(tmp.path().join("runs"))
        .arg("--dump")
        .arg(&dump)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let code = format!(
        r#"import numpy as np, os
d = {dump:?}
index = json.load(open(os.path.join(d, "index.json")))
out = {{}}
for pid, entry in index.items():
    workload, params, dtype = pid.split("/")
    p = {{k: int(v) for k, v in (kv.split("=") for kv in params.split(","))}}
    x = t.point_inputs(workload, p, dtype, 11)
    files = entry["files"]
    dumped = {{k[len("input_"):]: np.load(os.path.join(d, f)) for k, f in files.items() if k.startswith("input_")}}
    res = {{"names": sorted(x) == sorted(dumped), "differ": []}}
    for name, want in dumped.items():
        got = x.get(name)
        same = got is not None and got.shape == want.shape and got.dtype == want.dtype
        if same and want.dtype == np.float32:
            same = np.array_equal(got.view(np.uint32), want.view(np.uint32))
        elif same:
            same = np.array_equal(got, want)
        if not same:
            res["differ"].append(name)
    res["checked"] = len(dumped)
    ref = np.load(os.path.join(d, files["reference_losses"]))
    res["reference"] = ref.tolist()
    res["replay"] = t.gpt_reference_losses(p, x, len(ref))
    out[pid] = res
print(json.dumps(out))"#,
        dump = dump.display().to_string()
    );
    let got = py_json(&py, &code);
    let got = got.as_object().unwrap();
    assert_eq!(got.len(), 2, "{got:?}");
    for dtype in [DType::F32, DType::Bf16] {
        let p = point(WorkloadKind::TrainGpt, GPT_TINY, dtype);
        let r = &got[&p.id()];
        // every parameter in param_specs order plus the token pool
        let specs = match p.workload {
            kernels::Workload::TrainGpt(g) => g.param_specs().len(),
            _ => unreachable!(),
        };
        assert_eq!(r["checked"].as_u64().unwrap() as usize, specs + 1);
        assert_eq!(r["names"], true, "{}: input names differ", p.id());
        assert_eq!(
            r["differ"].as_array().unwrap().len(),
            0,
            "{}: inputs not bit-identical: {}",
            p.id(),
            r["differ"]
        );
        let floats = |k: &str| -> Vec<f64> {
            r[k].as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        };
        let (want, replay) = (floats("reference"), floats("replay"));
        assert_eq!(want.len(), p.check_steps(), "{}", p.id());
        assert_eq!(replay.len(), want.len());
        for (g, w) in replay.iter().zip(&want) {
            // both f64: only summation order differs
            assert!(
                (g - w).abs() <= 1e-12 * w.abs(),
                "{}: {replay:?} vs {want:?}",
                p.id()
            );
        }
        // the trajectory is not constant: the replay really trains
        assert!(want.windows(2).any(|w| w[0] != w[1]), "{want:?}");
    }
}

#[test]
fn python_loss_replay_matches_the_f64_reference() {
    let Some(py) = python() else { return };
    let p = point(
        WorkloadKind::TrainMlp,
        &[("layers", 2), ("width", 16), ("batch", 8), ("classes", 4)],
        DType::F32,
    );
    let inputs = p.inputs(5);
    let want = p.reference(&inputs);
    let code = "p = dict(layers=2, width=16, batch=8, classes=4)\n\
                x = t.point_inputs('train-mlp', p, 'f32', 5)\n\
                print(json.dumps(t.reference_losses(p, x, 4)))";
    let got: Vec<f64> = py_json(&py, code)
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let kernels::Expected::Losses(want) = want else {
        panic!("train-mlp reference is losses")
    };
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        // both are f64 replays; only summation order (numpy's BLAS) and JSON parsing differ
        assert!((g - w).abs() <= 1e-9 * w.abs(), "{got:?} vs {want:?}");
    }
    // the labels the replay used are bench's
    let y: Vec<f64> = find(&inputs, "y")
        .as_i32()
        .iter()
        .map(|&v| v as f64)
        .collect();
    let got_y = py_json(
        &py,
        "p = dict(layers=2, width=16, batch=8, classes=4)\n\
         print(json.dumps([int(v) for v in t.point_inputs('train-mlp', p, 'f32', 5)['y'].reshape(-1)]))",
    );
    let got_y: Vec<f64> = got_y
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(got_y, y);
}

/// A python3 that imports real PyTorch: `$BENCH_TORCH_PYTHON`, else `python3` when it has
/// torch. None (the test says so and passes) when neither does: CI has no torch.
fn torch_python() -> Option<String> {
    let candidates = [
        std::env::var("BENCH_TORCH_PYTHON").ok(),
        Some("python3".into()),
    ];
    for py in candidates.into_iter().flatten() {
        let ok = Command::new(&py)
            .args(["-c", "import torch, numpy"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return Some(py);
        }
    }
    eprintln!("skipped: no python3 with torch (set BENCH_TORCH_PYTHON to one that has it)");
    None
}

/// With real PyTorch (on the CPU: no GPU is needed or used), the script's train-gpt step
/// (`GptStep`: SDPA, tanh-GELU, tied head, torch.optim.AdamW) reproduces the float64 replay's
/// first losses within bench's tolerance for f32 and bf16 (from weights larger than the init,
/// so that every path carries signal), and the loss falls over 12 steps. Mutations this catches
/// (tried): a non-causal mask, another LayerNorm eps, a head scaled by 1.01. It cannot tell
/// erf-GELU from tanh-GELU (1e-6 of the loss) or weight decay 0 from 0.01 over 4 steps.
/// Skipped where torch is not installed.
#[test]
fn real_torch_gpt_step_on_the_cpu_matches_the_f64_replay() {
    let Some(py) = torch_python() else { return };
    let code = r#"import torch
tc = object.__new__(t.Torch)  # the measuring class without its CUDA set-up
tc.torch, tc.dev = torch, torch.device("cpu")
# on the CPU .to(device) does not copy: give torch its own copy of every input
tc.tensor = lambda a, d, f=tc.tensor: f(a.copy(), d)
p = dict(d_model=32, layers=2, heads=4, seq=16, vocab=61, batch=3)
out = {}
for dtype in ("f32", "bf16"):
    x = t.point_inputs("train-gpt", p, dtype, 7)
    # weights 4x the init, W_fc 64x (powers of two: exact in bf16 too): signal on every path
    for name, _ in t.gpt_param_specs(p):
        x[name] = x[name] * (64 if name.endswith("w_fc") else 4)
    n = t.check_steps("train-gpt", p)
    ref = t.gpt_reference_losses(p, x, n)
    step = t.GptStep(tc, p, dtype, x)
    for _ in range(12):
        step()
    got = step.losses()
    out[dtype] = dict(ref=ref, got=got, tol=t.TOLERANCE["train-gpt"][dtype])
print(json.dumps(out))"#;
    let full = format!(
        "import sys, json; sys.path.insert(0, {:?}); import torch_reference as t\n{code}",
        repo().join("scripts/gpu").display().to_string()
    );
    let o = Command::new(&py).args(["-c", &full]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for dtype in ["f32", "bf16"] {
        let r = &got[dtype];
        let v = |k: &str| -> Vec<f64> {
            r[k].as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        };
        let (reference, losses, tol) = (v("ref"), v("got"), r["tol"].as_f64().unwrap());
        assert_eq!(reference.len(), 4);
        for (g, w) in losses.iter().zip(&reference) {
            assert!(
                (g - w).abs() <= tol * w.abs(),
                "{dtype}: torch {losses:?} vs f64 {reference:?}"
            );
        }
        assert!(losses[11] < losses[0], "{dtype}: no learning: {losses:?}");
    }
}

/// The reference's statistics are bench's: same median, MAD, stdev, Tukey outliers and
/// stopping measure; the bootstrap interval uses other resamples, so it only has to agree
/// closely.
#[test]
fn python_statistics_match_the_harness() {
    let Some(py) = python() else { return };
    let mut r = kernels::rng::Rng::new(9);
    let samples: Vec<f64> = (0..301)
        .map(|i| 1e-3 * (1.0 + 0.05 * r.next_f64() + if i % 50 == 0 { 0.5 } else { 0.0 }))
        .collect();
    let code = format!(
        "x = json.loads({:?})\nprint(json.dumps([t.summarize(x, 42), t.relative_ci_halfwidth(x)]))",
        serde_json::to_string(&samples).unwrap()
    );
    let got = py_json(&py, &code);
    let s = harness::stats::summarize(&samples, 42);
    let close = |key: &str, want: f64, tol: f64| {
        let g = got[0][key].as_f64().unwrap();
        assert!((g - want).abs() <= tol * want.abs(), "{key}: {g} vs {want}");
    };
    close("median_s", s.median, 1e-12);
    close("mean_s", s.mean, 1e-12);
    close("stdev_s", s.stdev, 1e-9);
    close("mad_s", s.mad, 1e-12);
    close("ci95_low_s", s.ci95_low, 5e-3);
    close("ci95_high_s", s.ci95_high, 5e-3);
    assert_eq!(got[0]["outliers"].as_u64().unwrap() as usize, s.outliers);
    assert!(s.outliers >= 6, "the spikes are outliers");
    let rel = got[1].as_f64().unwrap();
    let want = harness::stats::relative_ci_halfwidth(&samples);
    assert!((rel - want).abs() <= 1e-12 * want, "{rel} vs {want}");
}

/// The measuring path (not only --dry-run) with tests/fake_torch — a numpy stand-in for torch,
/// a fixture, not PyTorch — on quick-suite matmul and attention points: every point is timed,
/// checked and summarised into a run.json bench reads; a wrong product fails its check.
#[test]
fn measuring_path_runs_with_a_numpy_stand_in_for_torch() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let plan_path = tmp.path().join("plan.json");
    let o = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args([
            "plan",
            "--backend",
            "neuron",
            "--suite",
            "quick",
            "--workload",
            "matmul,attention",
            "--dtype",
            "bf16",
            "--param",
            "m=64,128",
            "--param",
            "s=64",
            "--out",
        ])
        .arg(&plan_path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake_torch");
    let run = |wrong: bool, out: &Path| {
        Command::new(&py)
            .env("PYTHONPATH", &fake)
            .env("FAKE_TORCH_WRONG", if wrong { "1" } else { "0" })
            .arg(repo().join("scripts/gpu/torch_reference.py"))
            .args([
                "--plan",
                plan_path.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ])
            .args(["--budget", "0.05", "--warmup", "0.01", "--min-samples", "3"])
            .output()
            .unwrap()
    };
    let out = tmp.path().join("ok");
    let o = run(false, &out);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dir = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let r = read_run(&dir).unwrap();
    assert_eq!(r.backend.implementation, "torch");
    assert!(r
        .backend
        .runtime_version
        .as_deref()
        .unwrap()
        .contains("fake"));
    assert_eq!(r.points.len(), 4);
    for p in &r.points {
        assert_eq!(p.status, Status::Ok, "{}: {:?}", p.id, p.reason);
        assert!(p.check.as_ref().unwrap().passed);
        let s = p.stats.as_ref().unwrap();
        assert!(s.n >= 3 && s.n == p.samples_s.len());
        assert!(s.ci95_low_s <= s.median_s && s.median_s <= s.ci95_high_s);
        let t = p.throughput.as_ref().unwrap();
        assert!((t.flop_per_s - p.flops / s.median_s).abs() <= 1e-9 * t.flop_per_s);
        assert_eq!(p.timer.as_deref(), Some("cuda_event"));
    }
    let out = tmp.path().join("wrong");
    let o = run(true, &out);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dir = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let r = read_run(&dir).unwrap();
    for p in &r.points {
        if p.workload == "matmul" {
            assert_eq!(p.status, Status::Failed, "{}", p.id);
            assert!(p
                .reason
                .as_deref()
                .unwrap()
                .contains("correctness check failed"));
            assert!(p.samples_s.is_empty());
        } else {
            assert_eq!(p.status, Status::Ok, "{}", p.id);
        }
    }
}

/// The script's loss gate agrees with kernels::check::check_losses on both criteria (every
/// step within the tolerance; the descent within DESCENT_FACTOR × tolerance).
#[test]
fn python_loss_gate_matches_check_losses() {
    let Some(py) = python() else { return };
    let want = [5.58, 5.56, 5.54, 5.52];
    let cases: [(&[f64], f64); 5] = [
        (&[5.58, 5.57, 5.56, 5.55], 1e-2), // each step close, descent halved: fails
        (&[5.58, 5.5605, 5.5405, 5.5205], 1e-2), // descent 0.8% off, within 20%: passes
        (&[5.58, 5.56, 5.54, 5.52], 1e-4), // exact
        (&[5.58, 5.5601, 5.5401, 5.5201], 1e-4), // descent 0.17% off, within 0.2%: passes
        (&[5.58, 5.5601, 5.5402, 5.5203], 1e-4), // descent 0.5% off: fails
    ];
    for (got, tol) in cases {
        let c = kernels::check::check_losses(got, &want, tol);
        assert!(
            c.max_rel_err <= tol,
            "{got:?}: the per-step criterion alone passes"
        );
        let code = format!(
            "print(json.dumps(t.descent_failure({}, {}, {tol})))",
            serde_json::to_string(got).unwrap(),
            serde_json::to_string(&want).unwrap()
        );
        let py_fails = !py_json(&py, &code).is_null();
        assert_eq!(py_fails, !c.passed, "{got:?} at {tol}: {:?}", c.detail);
    }
}

/// Attention points with a torch that has both cuDNN and flash SDPA (the fake, with
/// FAKE_TORCH_SDPA=1): the torch run records the dispatcher's choice, and two more runs,
/// torch-sdpa-cudnn and torch-sdpa-flash, time each backend forced, every point checked.
#[test]
fn attention_is_timed_per_sdpa_backend_as_separate_implementations() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let plan_path = tmp.path().join("plan.json");
    let o = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args([
            "plan",
            "--backend",
            "cuda",
            "--suite",
            "quick",
            "--workload",
            "attention",
        ])
        .args(["--dtype", "bf16", "--param", "s=64", "--out"])
        .arg(&plan_path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = tmp.path().join("runs");
    let o = Command::new(&py)
        .env(
            "PYTHONPATH",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake_torch"),
        )
        .env("FAKE_TORCH_SDPA", "1")
        .arg(repo().join("scripts/gpu/torch_reference.py"))
        .args([
            "--plan",
            plan_path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args(["--budget", "0.05", "--warmup", "0.01", "--min-samples", "3"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut seen = Vec::new();
    for dir in std::fs::read_dir(&out).unwrap() {
        let dir = dir.unwrap().path();
        let r = read_run(&dir).unwrap();
        let raw: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
        let want = match r.backend.implementation.as_str() {
            "torch" => "CUDNN_ATTENTION", // the fake dispatcher's choice
            "torch-sdpa-cudnn" => "CUDNN_ATTENTION",
            "torch-sdpa-flash" => "FLASH_ATTENTION",
            other => panic!("unexpected implementation {other}"),
        };
        assert!(!r.points.is_empty());
        for (p, rp) in r.points.iter().zip(raw["points"].as_array().unwrap()) {
            assert_eq!(p.status, Status::Ok, "{}: {:?}", p.id, p.reason);
            assert!(p.check.as_ref().unwrap().passed);
            assert_eq!(rp["sdpa_backend"], want, "{}", p.id);
        }
        seen.push(r.backend.implementation.clone());
    }
    seen.sort();
    assert_eq!(seen, ["torch", "torch-sdpa-cudnn", "torch-sdpa-flash"]);
}

/// Training points check against bench's own f64 reference when --reference-run has it
/// (no host replay: no seconds spent), fall back to the numpy replay when it does not, and a
/// bench run with another seed is refused; bench's run.json carries the reference losses.
#[test]
fn training_checks_use_benchs_reference_from_its_run() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args([
            "--backend",
            "cpu",
            "--suite",
            "quick",
            "--workload",
            "train-mlp",
        ])
        .args([
            "--param",
            "width=256",
            "--budget",
            "0.05",
            "--warmup",
            "0.01",
        ])
        .args(["--min-samples", "3", "--out"])
        .arg(tmp.path().join("bench"))
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let run_dir = std::fs::read_dir(tmp.path().join("bench"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let r = read_run(&run_dir).unwrap();
    let pt = &r.points[0];
    let want = pt.check.as_ref().unwrap().reference_losses.clone().unwrap();
    assert_eq!(want.len(), pt.train.as_ref().unwrap().checked_steps);
    let code = format!(
        r#"
import argparse
refs = t.load_bench_references({dir:?}, 42)
args = argparse.Namespace(bench_refs=refs, reference_run={dir:?})
p = {{"layers": 2, "width": 256, "batch": 64, "classes": 10}}
x = t.point_inputs("train-mlp", p, "f32", 42)
got, secs, src = t.training_reference("train-mlp", p, x, {steps}, {id:?}, args)
other, secs2, src2 = t.training_reference("train-mlp", p, x, {steps}, "absent", args)
try:
    t.load_bench_references({dir:?}, 7)
    refused = None
except SystemExit as e:
    refused = str(e)
print(json.dumps({{"got": got, "secs": secs, "src": src, "other": other, "secs2": secs2,
                  "src2": src2, "refused": refused}}))
"#,
        dir = run_dir.display().to_string(),
        steps = want.len(),
        id = pt.id,
    );
    let v = py_json(&py, &code);
    let got: Vec<f64> = serde_json::from_value(v["got"].clone()).unwrap();
    assert_eq!(got, want);
    assert!(v["secs"].is_null());
    assert!(v["src"].as_str().unwrap().contains("bench's f64 reference"));
    // the numpy replay of the same inputs agrees with bench's reference
    let other: Vec<f64> = serde_json::from_value(v["other"].clone()).unwrap();
    for (a, b) in other.iter().zip(&want) {
        assert!((a - b).abs() <= 1e-9 * b.abs(), "{a} vs {b}");
    }
    assert!(v["secs2"].as_f64().unwrap() >= 0.0);
    assert!(v["src2"]
        .as_str()
        .unwrap()
        .contains("has no reference for this point"));
    assert!(
        v["refused"].as_str().unwrap().contains("seed 42"),
        "{}",
        v["refused"]
    );
}

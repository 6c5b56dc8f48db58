//! scripts/gpu/window.sh, verify.sh and compare_runs.py without a GPU: verify.sh's argument handling and
//! its setup errors (exit 2, one message), and compare_runs.py's ratios and target verdicts on
//! two runs built here: a real CPU run of bench (a 64³ f32 matmul) and a copy of it relabelled
//! as a torch run with every sample doubled — a test fixture, never written to results/.

mod cuda_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn have_python() -> bool {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("BENCH_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "BENCH_REQUIRE_PYTHON=1 but python3 is missing"
        );
        eprintln!("skipped: python3 is not installed");
    }
    ok
}

fn verify(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(repo().join("scripts/gpu/verify.sh"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn verify_sh_rejects_bad_arguments_and_explains_missing_torch() {
    let o = verify(&["--frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown argument '--frobnicate'"));
    let o = verify(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("--bench PATH"));
    // a window chooses its own points: a suite or a selection with it is refused, not ignored
    for sel in [
        &["--targets"][..],
        &["--workload", "matmul"],
        &["--suite", "quick"],
    ] {
        let o = verify(&[&["--window", "--dry-run"][..], sel].concat());
        assert_eq!(o.status.code(), Some(2), "{sel:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("do not go with it"),
            "{sel:?}"
        );
    }
    let o = verify(&["--bench", "/nonexistent/bench"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no bench binary"));
    let torch = Command::new("python3")
        .args(["-c", "import torch"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if have_python() && !torch {
        let o = verify(&["--bench", env!("CARGO_BIN_EXE_bench")]);
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("cannot import torch"), "{err}");
    }
}

fn compare(a: &Path, b: &Path) -> Output {
    Command::new("python3")
        .arg(repo().join("scripts/gpu/compare_runs.py"))
        .arg(a)
        .arg(b)
        .output()
        .unwrap()
}

#[test]
fn compare_runs_reports_ratios_and_targets() {
    if !have_python() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args([
            "--backend",
            "cpu",
            "--workload",
            "matmul",
            "--dtype",
            "f32",
            "--param",
            "m=64",
            "--budget",
            "0.05",
            "--warmup",
            "0.01",
            "--min-samples",
            "3",
            "--out",
        ])
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
    let text = std::fs::read_to_string(run_dir.join("run.json")).unwrap();
    let mut fake: serde_json::Value = serde_json::from_str(&text).unwrap();
    fake["backend"]["implementation"] =
        "torch (test fixture: bench's CPU run, times doubled)".into();
    for p in fake["points"].as_array_mut().unwrap() {
        let m = p["stats"]["median_s"].as_f64().unwrap();
        p["stats"]["median_s"] = (2.0 * m).into();
    }
    let fake_path = tmp.path().join("torch.json");
    std::fs::write(&fake_path, serde_json::to_string(&fake).unwrap()).unwrap();

    let o = compare(&run_dir, &fake_path);
    let out = String::from_utf8_lossy(&o.stdout);
    // bench is twice as fast as the "torch" copy; the issue's target points are absent.
    assert!(
        out.contains("matmul/m=64,n=64,k=64/f32") && out.contains("2.000"),
        "{out}"
    );
    assert!(out.contains("absent MISSED"), "{out}");
    assert_eq!(o.status.code(), Some(1), "{out}");

    // swapped arguments are caught: the first run must be bench's
    let o = compare(&fake_path, &run_dir);
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected a bench run"));
    let o = compare(&tmp.path().join("missing.json"), &fake_path);
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read"));
}

/// verify.sh --window --dry-run: the window's plan from the real binary's plan (targets first,
/// within the window, with its estimate), nothing run; a bad window is named.
#[test]
fn verify_sh_window_dry_run_prints_the_plan_and_its_estimate() {
    if !have_python() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("plan");
    let o = verify(&[
        "--window",
        "300",
        "--dry-run",
        "--bench",
        env!("CARGO_BIN_EXE_bench"),
        "--out",
        out.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(text.contains("step 01 target-matmul"), "{text}");
    assert!(text.contains("of a 300 s window"), "{text}");
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("window-plan.json")).unwrap())
            .unwrap();
    let est = plan["estimate_s"].as_f64().unwrap();
    assert!(est > 0.0 && est <= 300.0, "{est}");
    let steps = plan["steps"].as_array().unwrap();
    assert_eq!(
        steps[0]["points"][0]["id"],
        "matmul/m=8192,n=8192,k=8192/bf16"
    );
    let sum: f64 = steps
        .iter()
        .map(|s| s["estimate_s"].as_f64().unwrap())
        .sum();
    assert!((sum - est).abs() < 1.0, "{sum} vs {est}");
    // a longer window holds more, and what is left out is listed
    let wide = tmp.path().join("wide");
    let o = verify(
        &[
            "--window",
            "--dry-run",
            "--bench",
            env!("CARGO_BIN_EXE_bench"),
            "--out",
        ]
        .into_iter()
        .chain([wide.to_str().unwrap()])
        .collect::<Vec<_>>(),
    );
    assert_eq!(o.status.code(), Some(0));
    let wide_plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(wide.join("window-plan.json")).unwrap())
            .unwrap();
    assert_eq!(wide_plan["window_s"], 480.0);
    // the default window holds the three targets first, then the matmul sweep, each point
    // printed with its estimate
    let text = String::from_utf8_lossy(&o.stdout);
    let ids: Vec<&str> = wide_plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["points"].as_array().unwrap())
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids[..3],
        [
            "matmul/m=8192,n=8192,k=8192/bf16",
            "attention/b=4,h=32,s=4096,d=128,causal=1/bf16",
            "train-mlp/layers=4,width=4096,batch=512,classes=1000/bf16"
        ],
        "{text}"
    );
    assert_eq!(wide_plan["steps"][3]["step"], "matmul-bf16", "{text}");
    for id in &ids {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(id))
            .unwrap_or_else(|| panic!("{id} not printed: {text}"));
        assert!(line.contains(" s (gpu "), "{line}");
    }
    assert!(wide_plan["steps"].as_array().unwrap().len() > steps.len());
    assert!(!wide_plan["left_out"].as_array().unwrap().is_empty());
    let o = verify(&["--dry-run", "--bench", env!("CARGO_BIN_EXE_bench")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--dry-run goes with --window"));
}

/// window.sh end to end on a machine without a GPU: the numpy stand-in for torch
/// (tests/fake_torch) and a stand-in libcuda.so.1 whose cuInit finds no device. Every step runs
/// and is recorded (environment facts with bench list naming the driver's error, verify's
/// window, ncu and compute-sanitizer skipped as not found), the run fails naming them, and the
/// tarball holds summary.txt; bad arguments are exit 2.
#[test]
fn window_sh_records_every_step_and_packs_one_tarball() {
    if !have_python() {
        return;
    }
    let o = Command::new("bash")
        .arg(repo().join("scripts/gpu/window.sh"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("usage: window.sh OUTDIR"));
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new("bash")
        .arg(repo().join("scripts/gpu/window.sh"))
        .arg(tmp.path().join("dry"))
        .args(["--bench", env!("CARGO_BIN_EXE_bench"), "--dry-run"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains("of a 360 s window") && text.contains("step 01 target-matmul"),
        "{text}"
    );
    assert!(
        !tmp.path().join("dry/summary.txt").exists(),
        "a dry run runs nothing"
    );
    let libs = tmp.path().join("lib");
    std::fs::create_dir(&libs).unwrap();
    let mut symbols: Vec<&str> = backends::cuda::REQUIRED_DRIVER_SYMBOLS.to_vec();
    symbols.push("cuEventElapsedTime_v2");
    let Some(_) = cuda_support::stub_driver(&libs, &symbols, 13000, 100) else {
        assert!(
            std::env::var("BENCH_REQUIRE_CLANG").as_deref() != Ok("1"),
            "no C compiler for the stand-in libcuda"
        );
        eprintln!("skipped: no C compiler (cc) for the stand-in libcuda");
        return;
    };
    let out = tmp.path().join("window");
    let o = Command::new("bash")
        .arg(repo().join("scripts/gpu/window.sh"))
        .arg(&out)
        .args(["--bench", env!("CARGO_BIN_EXE_bench"), "--window", "20"])
        .env("PYTHONPATH", repo().join("harness/tests/fake_torch"))
        .env("LD_LIBRARY_PATH", &libs)
        .output()
        .unwrap();
    let summary = std::fs::read_to_string(out.join("summary.txt")).unwrap();
    assert_eq!(o.status.code(), Some(1), "{summary}");
    let line = |name: &str| {
        summary
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {summary}"))
            .to_string()
    };
    assert!(line("1 environment").contains("exit 0"), "{summary}");
    // nothing fits a 20 s window, so verify has no runs to compare: a failure, named
    assert!(line("2 verify --window").contains("exit 1"), "{summary}");
    assert!(
        summary.contains("step failed: compare_runs.py"),
        "{summary}"
    );
    if std::process::Command::new("sh")
        .args(["-c", "command -v ncu"])
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        assert!(line("3 ncu attention").contains("SKIPPED"), "{summary}");
    }
    if std::process::Command::new("sh")
        .args(["-c", "command -v compute-sanitizer"])
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        assert!(line("4 memcheck quick").contains("SKIPPED"), "{summary}");
    }
    assert!(summary.contains("window for verify: 20s"), "{summary}");
    let env = std::fs::read_to_string(out.join("env.txt")).unwrap();
    assert!(
        env.contains("--- bench list") && env.contains("CUDA_ERROR_NO_DEVICE"),
        "{env}"
    );
    assert!(env.contains("torch 0.0-fake"), "{env}");
    assert!(out.join("verify/window-plan.json").exists());
    let t = Command::new("tar")
        .arg("tzf")
        .arg(tmp.path().join("window.tar.gz"))
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&t.stdout);
    assert!(
        listing.contains("window/summary.txt") && listing.contains("window/env.txt"),
        "{listing}"
    );
}

/// `window.sh --total` is a hard bound: with an ncu that never ends and a quick
/// compute-sanitizer on PATH (stand-ins), ncu is stopped at what is left of the total minus the
/// 60 s kept for memcheck, memcheck still runs, and the whole script ends inside the total; with
/// a total too short for ncu, ncu is named "no time left" instead of started. Bad totals are exit 2.
#[test]
fn window_sh_total_is_a_hard_bound_on_every_step() {
    if !have_python() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bad = Command::new("bash")
        .arg(repo().join("scripts/gpu/window.sh"))
        .arg(tmp.path().join("bad"))
        .args([
            "--bench",
            env!("CARGO_BIN_EXE_bench"),
            "--total",
            "100",
            "--window",
            "90",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("does not fit --total 100"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let libs = tmp.path().join("lib");
    std::fs::create_dir(&libs).unwrap();
    let mut symbols: Vec<&str> = backends::cuda::REQUIRED_DRIVER_SYMBOLS.to_vec();
    symbols.push("cuEventElapsedTime_v2");
    let Some(_) = cuda_support::stub_driver(&libs, &symbols, 13000, 100) else {
        assert!(
            std::env::var("BENCH_REQUIRE_CLANG").as_deref() != Ok("1"),
            "no C compiler for the stand-in libcuda"
        );
        eprintln!("skipped: no C compiler (cc) for the stand-in libcuda");
        return;
    };
    // Stand-ins: an ncu that would run for 5 minutes, a compute-sanitizer that ends at once.
    let tools = tmp.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    for (name, body) in [
        ("ncu", "#!/bin/sh\nexec sleep 300\n"),
        ("compute-sanitizer", "#!/bin/sh\necho stand-in memcheck\n"),
    ] {
        let p = tools.join(name);
        std::fs::write(&p, body).unwrap();
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&p)
            .status()
            .unwrap();
    }
    let path = format!("{}:{}", tools.display(), std::env::var("PATH").unwrap());
    let run = |total: &str, name: &str| {
        let out = tmp.path().join(name);
        let t0 = std::time::Instant::now();
        let o = Command::new("bash")
            .arg(repo().join("scripts/gpu/window.sh"))
            .arg(&out)
            .args(["--bench", env!("CARGO_BIN_EXE_bench"), "--window", "5"])
            .args(["--total", total])
            .env("PYTHONPATH", repo().join("harness/tests/fake_torch"))
            .env("LD_LIBRARY_PATH", &libs)
            .env("PATH", &path)
            .output()
            .unwrap();
        let took = t0.elapsed().as_secs_f64();
        let summary = std::fs::read_to_string(out.join("summary.txt")).unwrap();
        assert_eq!(o.status.code(), Some(1), "{summary}");
        (summary, took)
    };
    let line = |summary: &str, name: &str| {
        summary
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {summary}"))
            .to_string()
    };
    let (summary, took) = run("95", "long");
    // ncu killed by its limit (timeout's 124), memcheck ran in what was left
    assert!(
        line(&summary, "3 ncu attention").contains("exit 124"),
        "{summary}"
    );
    assert!(
        line(&summary, "4 memcheck quick").contains("exit 0"),
        "{summary}"
    );
    assert!(
        took < 95.0 + 10.0,
        "took {took:.0} s for --total 95: {summary}"
    );
    assert!(summary.contains("of --total 95s"), "{summary}");
    let (summary, took) = run("70", "short");
    assert!(
        line(&summary, "3 ncu attention").contains("no time left in --total 70s"),
        "{summary}"
    );
    assert!(
        line(&summary, "4 memcheck quick").contains("exit 0"),
        "{summary}"
    );
    assert!(took < 70.0, "took {took:.0} s for --total 70: {summary}");
}

/// Every step of a window plan large enough to reach train-mlp and train-gpt selects exactly
/// the points it was costed for: `bench plan` of its flags gives those ids (a narrowing that
/// brings in an earlier step's point, or an invalid one such as d_model against fixed heads,
/// is not used).
#[test]
fn window_plan_steps_select_exactly_their_points() {
    if !have_python() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bench = env!("CARGO_BIN_EXE_bench");
    let o = Command::new("python3")
        .arg(repo().join("scripts/gpu/window_plan.py"))
        .args(["--bench", bench, "--window", "1500", "--out"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plan: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("window-plan.json")).unwrap(),
    )
    .unwrap();
    let steps = plan["steps"].as_array().unwrap();
    assert!(
        steps.iter().any(|s| s["step"] == "train-gpt"),
        "a 1500 s window reaches train-gpt: {plan}"
    );
    let mut all = std::collections::BTreeSet::new();
    for s in steps {
        let flags: Vec<&str> = s["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        let out = tmp.path().join("step.json");
        let o = Command::new(bench)
            .args(["plan", "--backend", "cuda", "--suite", "standard"])
            .args(&flags)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{flags:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let got: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let mut got: Vec<&str> = got["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        let mut want: Vec<&str> = s["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "step {} runs {flags:?}", s["step"]);
        for id in want {
            assert!(all.insert(id.to_string()), "{id} runs in two steps");
        }
    }
}

/// verify.sh --window with points that run: small steps (--window-steps), the numpy stand-in
/// for torch and a stand-in libcuda.so.1 whose cuInit finds no device. The plan fits and is
/// printed with its estimates; every step runs; each step's plan, logs and torch run land in
/// OUT/NN-step/; compare_runs.py's table lists the points torch measured (bench has none);
/// the exit status is 1 and each failed step is named with its log: bench's run in every step
/// (no device) and the torch reference of train-mlp (the stand-in has no autograd).
#[test]
fn verify_sh_window_runs_each_step_into_out_and_names_the_failures() {
    if !have_python() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let libs = tmp.path().join("lib");
    std::fs::create_dir(&libs).unwrap();
    let mut symbols: Vec<&str> = backends::cuda::REQUIRED_DRIVER_SYMBOLS.to_vec();
    symbols.push("cuEventElapsedTime_v2");
    if cuda_support::stub_driver(&libs, &symbols, 13000, 100).is_none() {
        assert!(
            std::env::var("BENCH_REQUIRE_CLANG").as_deref() != Ok("1"),
            "no C compiler for the stand-in libcuda"
        );
        eprintln!("skipped: no C compiler (cc) for the stand-in libcuda");
        return;
    }
    let steps = tmp.path().join("steps.json");
    std::fs::write(
        &steps,
        r#"[
 {"step": "small-matmul",
  "flags": ["--workload", "matmul", "--dtype", "bf16", "--param", "m=64,128"]},
 {"step": "small-attention",
  "flags": ["--workload", "attention", "--dtype", "bf16", "--param", "b=1", "--param", "h=2",
            "--param", "s=64", "--param", "d=64", "--param", "causal=1"]},
 {"step": "small-train-mlp",
  "flags": ["--workload", "train-mlp", "--dtype", "f32", "--param", "layers=2",
            "--param", "width=64", "--param", "batch=16", "--param", "classes=10"]}
]"#,
    )
    .unwrap();
    let out = tmp.path().join("out");
    let o = Command::new("bash")
        .arg(repo().join("scripts/gpu/verify.sh"))
        .args(["--window", "600", "--window-steps"])
        .arg(&steps)
        .args([
            "--budget",
            "0.05",
            "--bench",
            env!("CARGO_BIN_EXE_bench"),
            "--out",
        ])
        .arg(&out)
        .env("PYTHONPATH", repo().join("harness/tests/fake_torch"))
        .env("LD_LIBRARY_PATH", &libs)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{text}{err}");
    // the plan: all four points in three steps, each with its estimate
    assert!(
        text.contains("4 points in 3 steps") && text.contains("of a 600 s window"),
        "{text}"
    );
    for (n, name) in ["small-matmul", "small-attention", "small-train-mlp"]
        .iter()
        .enumerate()
    {
        assert!(
            text.contains(&format!("step {:02} {name}", n + 1)),
            "{text}"
        );
        let dir = out.join(format!("{:02}-{name}", n + 1));
        for f in ["plan.json", "plan.log", "bench.log", "torch.log"] {
            assert!(dir.join(f).is_file(), "no {f} in {}", dir.display());
        }
        let bench_log = std::fs::read_to_string(dir.join("bench.log")).unwrap();
        assert!(bench_log.contains("CUDA_ERROR_NO_DEVICE"), "{bench_log}");
        assert!(
            err.contains(&format!(
                "step failed: {:02}-{name} (bench run exit 2, see {}/bench.log)",
                n + 1,
                dir.display()
            )),
            "{err}"
        );
        let runs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("run.json").is_file())
            .collect();
        assert_eq!(runs.len(), 1, "one torch run in {}", dir.display());
        let run: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(runs[0].join("run.json")).unwrap())
                .unwrap();
        assert_eq!(run["backend"]["implementation"], "torch");
        let want = if *name == "small-train-mlp" {
            "failed"
        } else {
            "ok"
        };
        for p in run["points"].as_array().unwrap() {
            assert_eq!(p["status"], want, "{p}");
        }
    }
    assert!(
        err.contains("step failed: 03-small-train-mlp (torch reference exit 1"),
        "{err}"
    );
    assert!(
        !err.contains("step failed: 01-small-matmul (torch"),
        "{err}"
    );
    let torch_log = std::fs::read_to_string(out.join("03-small-train-mlp/torch.log")).unwrap();
    assert!(torch_log.contains("requires_grad_"), "{torch_log}");
    // the window writes no whole-suite plan, only the steps', and keeps its own files
    assert!(!out.join("plan.json").exists());
    for f in [
        "window-plan.json",
        "window-plan.txt",
        "bench-list.txt",
        "compare.txt",
    ] {
        assert!(out.join(f).is_file(), "no {f} in {}", out.display());
    }
    // compare_runs.py's table, printed and kept: torch's points, bench's side "-"
    let compare = std::fs::read_to_string(out.join("compare.txt")).unwrap();
    assert!(text.contains(&compare), "{text}");
    assert!(compare.starts_with("point "), "{compare}");
    for id in [
        "matmul/m=64,n=64,k=64/bf16",
        "matmul/m=128,n=128,k=128/bf16",
        "attention/b=1,h=2,s=64,d=64,causal=1/bf16",
    ] {
        let row = compare
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("no {id} in {compare}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[1], "-", "{row}");
        assert!(cols[2].parse::<f64>().unwrap() > 0.0, "{row}");
        assert_eq!(cols.last(), Some(&"torch"), "{row}");
    }
    assert!(compare.contains("(no point measured ok in both runs)"));
    assert!(err.contains("0 bench and 3 torch runs"), "{err}");

    // a bad steps file is a setup error naming the file and the entry
    std::fs::write(
        &steps,
        r#"[{"step": "../up", "flags": ["--workload", "matmul"]}]"#,
    )
    .unwrap();
    let o = verify(&[
        "--window",
        "--dry-run",
        "--window-steps",
        steps.to_str().unwrap(),
        "--bench",
        env!("CARGO_BIN_EXE_bench"),
        "--out",
        tmp.path().join("bad").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "--steps {}: entry 0: step '../up'",
            steps.display()
        )),
        "{err}"
    );
    let o = verify(&[
        "--window-steps",
        "x.json",
        "--bench",
        env!("CARGO_BIN_EXE_bench"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--window-steps goes with --window"));
}

/// verify.sh --window holds to the window while it runs: with a bench whose runs take 40 s (a
/// wrapper around the real binary, sleeping before each `bench run`), the first of two steps
/// planned into a 60 s window runs and the second, whose estimate no longer fits, is not
/// started and is named as such.
#[test]
fn verify_sh_window_does_not_start_a_step_past_the_window() {
    if !have_python() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let slow = tmp.path().join("slow-bench");
    std::fs::write(
        &slow,
        format!(
            "#!/bin/sh\n# test fixture: the real bench, 40 s slower per run\n\
             [ \"$1\" = run ] && sleep 40\nexec '{}' \"$@\"\n",
            env!("CARGO_BIN_EXE_bench")
        ),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&slow).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&slow, perms).unwrap();
    let steps = tmp.path().join("steps.json");
    std::fs::write(
        &steps,
        r#"[{"step": "first", "flags": ["--workload", "matmul", "--dtype", "bf16", "--param", "m=64"]},
 {"step": "second", "flags": ["--workload", "matmul", "--dtype", "bf16", "--param", "m=128"]}]"#,
    )
    .unwrap();
    let out = tmp.path().join("out");
    let o = Command::new("bash")
        .arg(repo().join("scripts/gpu/verify.sh"))
        .args(["--window", "60", "--window-steps"])
        .arg(&steps)
        .args(["--budget", "0.05", "--bench"])
        .arg(&slow)
        .arg("--out")
        .arg(&out)
        .env("PYTHONPATH", repo().join("harness/tests/fake_torch"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{text}{err}");
    assert!(text.contains("2 points in 2 steps"), "{text}");
    assert!(out.join("01-first/torch.log").is_file(), "{err}");
    assert!(!out.join("02-second").exists(), "{err}");
    assert!(
        err.contains("step failed: 02-second (not started: ")
            && err.contains(" s of the 60 s window gone, estimate "),
        "{err}"
    );
}

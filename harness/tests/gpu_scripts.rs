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
    // bench is twice as fast as the "torch" copy; the target points are absent.
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

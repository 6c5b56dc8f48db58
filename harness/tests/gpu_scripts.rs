//! scripts/gpu/verify.sh and compare_runs.py without a GPU: verify.sh's argument handling and
//! its setup errors (exit 2, one message), and compare_runs.py's ratios and target verdicts on
//! two runs built here: a real CPU run of bench (a 64³ f32 matmul) and a copy of it relabelled
//! as a torch run with every sample doubled — a test fixture, never written to results/.

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

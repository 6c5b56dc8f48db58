//! CLI tests that drive the real `bench` binary: the happy path, every bad input the CLI
//! promises a one-line error for, exit codes, `list`, `--dump`, and kill -9 in mid-run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use harness::schema::{read_run, RunFile, Status};

fn bench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bench"));
    c.env_remove("RUST_BACKTRACE");
    c
}

fn run(args: &[&str]) -> Output {
    bench().args(args).output().expect("bench runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The single run directory under `out`.
fn only_run(out: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

const FAST: &[&str] = &["--budget", "0.05", "--warmup", "0.01", "--min-samples", "3"];

#[test]
fn quick_suite_subset_runs_and_records_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    let mut args = vec!["--backend", "cpu", "--out", out, "--instance", "c7i.large"];
    args.extend_from_slice(FAST);
    args.extend_from_slice(&[
        "--param", "m=64,96", "--param", "s=64", "--param", "width=32", "--param", "seq=16",
    ]);
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("matmul/m=64,n=64,k=64/f32"), "{stdout}");
    let dir = only_run(tmp.path());
    let runf = read_run(&dir).unwrap();
    assert_eq!(runf.backend.kind, "cpu");
    assert!(!runf.backend.simulated);
    assert_eq!(runf.host.instance_type.as_deref(), Some("c7i.large"));
    assert_eq!(runf.host.instance_type_source, "cli");
    assert!(runf.finished_at.is_some());
    assert!(runf.command.contains("--backend cpu"));
    assert!(!runf.harness.git_commit.is_empty());
    let workloads: std::collections::BTreeSet<&str> =
        runf.points.iter().map(|p| p.workload.as_str()).collect();
    assert_eq!(workloads.len(), 6, "{workloads:?}");
    for p in &runf.points {
        assert_eq!(p.status, Status::Ok, "{}: {:?}", p.id, p.reason);
        let c = p.check.as_ref().unwrap();
        assert!(c.passed && c.max_rel_err.unwrap() <= c.tolerance);
        assert!(c.checked > 0 && c.reference_s.unwrap() >= 0.0);
        let s = p.stats.as_ref().unwrap();
        assert_eq!(s.n, p.samples_s.len());
        assert!(s.n >= 3 && s.ci95_low_s <= s.median_s && s.median_s <= s.ci95_high_s);
        let t = p.throughput.as_ref().unwrap();
        assert!((t.flop_per_s - p.flops / s.median_s).abs() <= 1e-6 * t.flop_per_s);
        assert!(p.one_off_s.load.is_some() && p.one_off_s.init.is_some());
        assert_eq!(p.timer.as_deref(), Some("wall"));
        if p.workload.starts_with("train-") {
            let tr = p.train.as_ref().unwrap();
            assert!(tr.losses.len() >= tr.checked_steps + s.n);
            assert_eq!(tr.steps, tr.losses.len());
        }
    }
    // round trip: what we read serialises back to the same value
    let text = serde_json::to_string(&runf).unwrap();
    let back: RunFile = serde_json::from_str(&text).unwrap();
    assert_eq!(back, runf);
}

#[test]
fn bad_inputs_give_one_line_errors_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let unwritable = file.join("sub");
    let out = tmp.path().join("runs");
    let out = out.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--backend", "tpu"], "'tpu'"),
        (vec!["--suite", "huge"], "'huge'"),
        (vec!["--workload", "conv"], "'conv'"),
        (vec!["--dtype", "f64"], "'f64'"),
        (vec!["--param", "m=big"], "'big'"),
        (vec!["--param", "m"], "KEY=VALUE"),
        (vec!["--param", "zzz=4"], "'zzz'"),
        (vec!["--param", "m=0"], "m=0"),
        (vec!["--budget=-1"], "--budget"),
        (vec!["--budget", "soon"], "soon"),
        (vec!["--frobnicate"], "--frobnicate"),
        (vec!["--out", unwritable.to_str().unwrap()], "a-file"),
    ];
    for (args, needle) in cases {
        let mut full = args.clone();
        if !args.contains(&"--out") {
            full.extend_from_slice(&["--out", out]);
        }
        let o = run(&full);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
            "{err}"
        );
        if !args.contains(&"--frobnicate") && !args.contains(&"soon") {
            assert_eq!(
                err.trim().lines().count(),
                1,
                "{args:?}: not one line: {err}"
            );
        }
    }
    assert!(!Path::new(out).exists() || std::fs::read_dir(out).unwrap().next().is_none());
}

#[test]
fn unavailable_backends_exit_2_with_the_reason() {
    for b in ["cuda", "neuron"] {
        let o = run(&["--backend", b, "--out", "/tmp/bench-never-written"]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(b));
    }
}

#[test]
fn list_shows_workloads_suites_and_backends() {
    let o = run(&["list"]);
    assert_eq!(o.status.code(), Some(0));
    let s = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "matmul",
        "attention",
        "train-mlp",
        "train-gpt",
        "quick",
        "standard",
        "full",
        "cpu",
        "cuda",
        "neuron",
        "available",
    ] {
        assert!(s.contains(needle), "{needle} missing from:\n{s}");
    }
}

#[test]
fn dump_writes_npy_files_and_an_index() {
    let tmp = tempfile::tempdir().unwrap();
    let dump = tmp.path().join("dump");
    let mut args = vec![
        "--out",
        tmp.path().to_str().unwrap(),
        "--dump",
        dump.to_str().unwrap(),
        "--workload",
        "matmul",
        "--dtype",
        "f32",
        "--param",
        "m=16",
    ];
    args.extend_from_slice(FAST);
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dump.join("index.json")).unwrap()).unwrap();
    let files = &index["matmul/m=16,n=16,k=16/f32"]["files"];
    for key in ["input_a", "input_b", "output", "reference"] {
        let name = files[key].as_str().unwrap();
        let bytes = std::fs::read(dump.join(name)).unwrap();
        assert_eq!(&bytes[..6], b"\x93NUMPY");
    }
    // output and reference agree numerically (f32 vs f64)
    let load = |key: &str, width: usize| -> Vec<f64> {
        let bytes = std::fs::read(dump.join(files[key].as_str().unwrap())).unwrap();
        let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        bytes[10 + hlen..]
            .chunks(width)
            .map(|c| {
                if width == 4 {
                    f32::from_le_bytes(c.try_into().unwrap()) as f64
                } else {
                    f64::from_le_bytes(c.try_into().unwrap())
                }
            })
            .collect()
    };
    let (out, reference) = (load("output", 4), load("reference", 8));
    assert_eq!(out.len(), 256);
    assert!(out
        .iter()
        .zip(&reference)
        .all(|(a, b)| (a - b).abs() < 1e-4 * (1.0 + b.abs())));
}

#[test]
fn kill_9_mid_run_leaves_a_valid_file_with_finished_points() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = bench()
        .args([
            "--out",
            tmp.path().to_str().unwrap(),
            "--workload",
            "matmul",
            "--dtype",
            "f32",
        ])
        .args([
            "--param",
            "m=32,40,48,56,64,72,80,88,96,104,112,120,128,136,144,152",
        ])
        .args(["--budget", "0.3", "--warmup", "0.01"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let run_json = loop {
        assert!(Instant::now() < deadline, "no points finished in time");
        std::thread::sleep(Duration::from_millis(50));
        let Ok(mut entries) = std::fs::read_dir(tmp.path()) else {
            continue;
        };
        let Some(Ok(dir)) = entries.next() else {
            continue;
        };
        let f = dir.path().join("run.json");
        if let Ok(r) = read_run(&f) {
            if r.points.len() >= 2 {
                break f;
            }
        }
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let r = read_run(&run_json).expect("run.json stays valid after kill -9");
    assert!(
        r.points.len() >= 2 && r.points.len() < 16,
        "{}",
        r.points.len()
    );
    assert!(r.finished_at.is_none());
    assert!(r
        .points
        .iter()
        .all(|p| p.status == Status::Ok && p.stats.is_some()));
}

#[test]
fn skipped_points_keep_exit_0() {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--out",
        tmp.path().to_str().unwrap(),
        "--workload",
        "matmul",
        "--dtype",
        "fp8_e4m3,f32",
        "--param",
        "m=16",
    ];
    args.extend_from_slice(FAST);
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = read_run(&only_run(tmp.path())).unwrap();
    let statuses: Vec<Status> = r.points.iter().map(|p| p.status).collect();
    assert_eq!(statuses, vec![Status::Skipped, Status::Ok]);
    assert!(r.points[0].reason.as_deref().unwrap().contains("fp8_e4m3"));
}

#[test]
fn wrong_or_nan_outputs_fail_their_points_exit_1_and_are_never_timed() {
    for (fault, needle) in [("wrong-output", "exceeds tolerance"), ("nan", "NaN")] {
        let tmp = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--out",
            tmp.path().to_str().unwrap(),
            "--param",
            "m=16",
            "--param",
            "s=32",
            "--param",
            "width=16",
        ];
        args.extend_from_slice(FAST);
        let o = bench()
            .args(&args)
            .env("BENCH_CPU_INJECT", fault)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{fault}: {}", stderr(&o));
        let r = read_run(&only_run(tmp.path())).unwrap();
        assert!(r.finished_at.is_some());
        assert_eq!(
            r.env.get("BENCH_CPU_INJECT").map(|s| s.as_str()),
            Some(fault)
        );
        let ran: Vec<_> = r
            .points
            .iter()
            .filter(|p| p.status != Status::Skipped)
            .collect();
        assert!(ran.len() >= 3);
        for p in ran {
            assert_eq!(p.status, Status::Failed, "{}", p.id);
            assert!(
                p.stats.is_none() && p.samples_s.is_empty(),
                "{} was timed",
                p.id
            );
            assert!(!p.check.as_ref().unwrap().passed);
            let reason = p.reason.as_deref().unwrap();
            assert!(reason.contains("correctness check failed"), "{reason}");
            if !p.workload.starts_with("train-") {
                assert!(reason.contains(needle), "{fault}: {reason}");
            }
        }
    }
}

#[test]
fn run_and_plan_help_list_every_workload_and_dtype() {
    for sub in ["run", "plan"] {
        let o = run(&[sub, "--help"]);
        assert!(o.status.success(), "{sub} --help: {}", stderr(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        let line = |flag: &str| -> String {
            let at = out
                .find(flag)
                .unwrap_or_else(|| panic!("{sub} --help lacks {flag}"));
            out[at..].lines().next().unwrap().to_string()
        };
        let workloads = line("--workload <NAME>");
        for k in kernels::WorkloadKind::ALL {
            assert!(workloads.contains(k.name()), "{sub}: {workloads}");
        }
        let dtypes = line("--dtype <DTYPE>");
        for d in kernels::DType::ALL {
            assert!(dtypes.contains(d.name()), "{sub}: {dtypes}");
        }
    }
}

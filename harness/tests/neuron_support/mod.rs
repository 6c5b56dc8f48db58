//! Shared by the nrt-sim tests of the first-run behaviour (harness/tests/neuron_first_run.rs):
//! the built libnrt_sim.so, `bench` with a clean simulator environment, stand-in NEFFs built
//! by the real `bench plan` and `build_neffs.py --sim`, and a run read back from run.json.
//! Every result these produce is simulated.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use harness::schema::{read_run, RunFile};

/// libnrt_sim.so from this build (the harness dev-dependency builds it next to the tests).
pub fn libnrt_sim() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap().to_path_buf();
    let profile = deps.parent().unwrap().to_path_buf();
    let target = profile.parent().unwrap().to_path_buf();
    let candidates = [
        deps.join("libnrt_sim.so"),
        profile.join("libnrt_sim.so"),
        target.join("release/libnrt_sim.so"),
        target.join("debug/libnrt_sim.so"),
    ];
    candidates
        .iter()
        .filter(|p| p.exists())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .cloned()
        .unwrap_or_else(|| {
            panic!("libnrt_sim.so not built; looked at {candidates:?}: run cargo build -p nrt-sim")
        })
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `bench` on nrt-sim with no simulator or Neuron variable inherited, then `envs`.
pub fn bench(envs: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bench"));
    c.env_remove("RUST_BACKTRACE");
    for (k, _) in std::env::vars() {
        if k.starts_with("NRT_SIM_") || k.starts_with("NEURON_") || k == "BENCH_NEURON_TIMER" {
            c.env_remove(k);
        }
    }
    c.env("BENCH_LIBNRT", libnrt_sim());
    for (k, v) in envs {
        c.env(k, v);
    }
    c
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

pub const FAST: &[&str] = &[
    "--budget",
    "0.02",
    "--warmup",
    "0.005",
    "--min-samples",
    "3",
];

/// A temp dir with plan.json and stand-in NEFFs in `neffs/` for `selection`.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub selection: Vec<String>,
}

impl Fixture {
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }
}

/// Plans `selection` and builds its stand-ins with `build_neffs.py --sim` plus `build_args`.
pub fn build(selection: &[&str], build_args: &[&str]) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let plan = tmp.path().join("plan.json");
    let mut args = vec!["plan", "--backend", "neuron", "--suite", "quick", "--out"];
    args.push(plan.to_str().unwrap());
    args.extend_from_slice(selection);
    let o = bench(&[]).args(&args).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "bench plan: {}", stderr(&o));
    let o = Command::new("python3")
        .arg(repo().join("scripts/neuron/build_neffs.py"))
        .arg(&plan)
        .arg("--out")
        .arg(tmp.path().join("neffs"))
        .arg("--sim")
        .args(build_args)
        .output()
        .expect("python3 runs build_neffs.py");
    assert_eq!(
        o.status.code(),
        Some(0),
        "build_neffs.py --sim: {}",
        stderr(&o)
    );
    Fixture {
        tmp,
        selection: selection.iter().map(|s| s.to_string()).collect(),
    }
}

/// `bench --backend neuron` over the fixture's NEFFs; the run file when one was written.
pub fn run_neuron(
    fx: &Fixture,
    extra: &[&str],
    envs: &[(&str, &str)],
) -> (Output, Option<RunFile>) {
    let out = fx.path().join("runs");
    let _ = std::fs::remove_dir_all(&out);
    let neffs = fx.path().join("neffs");
    let mut args = vec!["--backend", "neuron", "--neff-dir", neffs.to_str().unwrap()];
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    args.extend_from_slice(FAST);
    args.extend_from_slice(extra);
    let o = bench(envs)
        .args(&args)
        .args(&fx.selection)
        .output()
        .unwrap();
    let run = std::fs::read_dir(&out)
        .ok()
        .and_then(|mut d| d.next())
        .map(|e| read_run(&e.unwrap().path()).unwrap());
    (o, run)
}

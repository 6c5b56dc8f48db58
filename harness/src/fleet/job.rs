//! What a fleet job runs, as argument lists: the ordinary `bench run` of a target into
//! `<fleet dir>/<target>`, the Neuron build step (`bench plan`, then build_neffs.py) and how a
//! rerun continues an interrupted run. Pure: the Slurm script and the Kubernetes manifest
//! render these lists, and submit checks them against bench's own command-line parser.

use std::path::Path;

use clap::Parser;

use super::spec::{NeffBuild, Target};
use crate::cli::{Cli, Command};

/// `run --backend .. --suite .. [filters] --out OUT --instance TYPE [..]`: the job's bench
/// command after the binary's path.
pub fn run_args(t: &Target, out: &Path) -> Vec<String> {
    let mut a = vec![
        "run".to_string(),
        "--backend".into(),
        t.backend.name().into(),
    ];
    select_args(t, &mut a);
    a.extend(["--out".into(), out.display().to_string()]);
    a.extend(["--instance".into(), t.instance.clone()]);
    if let Some(b) = t.budget {
        a.extend(["--budget".into(), b.to_string()]);
    }
    if let Some(d) = &t.neff_dir {
        a.extend(["--neff-dir".into(), d.clone()]);
    }
    if let Some(c) = t.cores {
        a.extend(["--cores".into(), c.to_string()]);
    }
    if let Some(d) = &t.devices {
        a.extend(["--devices".into(), d.clone()]);
    }
    a.extend(t.args.iter().cloned());
    a
}

/// `plan --backend neuron --suite .. [filters] --out PLAN`: the points the NEFFs are built for.
pub fn plan_args(t: &Target, plan: &Path) -> Vec<String> {
    let mut a = vec![
        "plan".to_string(),
        "--backend".into(),
        t.backend.name().into(),
    ];
    select_args(t, &mut a);
    a.extend(["--out".into(), plan.display().to_string()]);
    a
}

/// `python3 build_neffs.py PLAN --out NEFF_DIR [--target T] [--lnc N]`.
pub fn build_argv(t: &Target, b: &NeffBuild, plan: &Path) -> Vec<String> {
    let mut a = vec![
        b.python.clone(),
        b.script.clone(),
        plan.display().to_string(),
        "--out".into(),
        t.neff_dir.clone().unwrap_or_default(),
    ];
    if let Some(target) = &b.target {
        a.extend(["--target".into(), target.clone()]);
    }
    if let Some(lnc) = b.lnc {
        a.extend(["--lnc".into(), lnc.to_string()]);
    }
    a
}

/// The bench command that continues the interrupted or partly failed run in `run_dir` in
/// place (`bench run --resume`, which takes the run's own backend, selection, seed and
/// instance from its run.json), with its failed points run again when `retry_failed`.
pub fn resume_args(run_dir: &Path, retry_failed: bool) -> Vec<String> {
    let mut a = vec![
        "run".to_string(),
        "--resume".into(),
        run_dir.display().to_string(),
    ];
    if retry_failed {
        a.push("--retry-failed".into());
    }
    a
}

fn select_args(t: &Target, a: &mut Vec<String>) {
    a.extend(["--suite".into(), t.suite.clone()]);
    for w in &t.workloads {
        a.extend(["--workload".into(), w.clone()]);
    }
    for d in &t.dtypes {
        a.extend(["--dtype".into(), d.clone()]);
    }
    for p in &t.params {
        a.extend(["--param".into(), p.clone()]);
    }
}

/// Checks a target's bench command with bench's own parser (so `args` holds only real
/// `bench run` options), as one line.
pub fn check_run_args(t: &Target) -> Result<(), String> {
    let argv = std::iter::once("bench".to_string()).chain(run_args(t, Path::new("/fleet/target")));
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Some(Command::Run(_)),
            ..
        }) => Ok(()),
        Ok(_) => Err("do not form a bench run command".into()),
        Err(e) => Err(first_line(&e.render().to_string())),
    }
}

/// A clap error's first line without its `error: ` prefix.
pub fn first_line(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    line.trim_start_matches("error: ").trim().to_string()
}

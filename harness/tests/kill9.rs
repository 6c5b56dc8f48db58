//! `kill -9` at seeded random instants during a quick-suite run on the CPU backend, through
//! the real binary. While bench runs, run.json is polled and every point it shows is kept as
//! seen; after the kill the file must parse, still hold every point seen, unchanged, and
//! `bench run --resume` must complete the run with those points still unchanged.
//!
//! CI kills a run of a few quick-suite workloads 3 times. `BENCH_KILL9_N=<kills>` (with
//! `BENCH_KILL9_SEED`, `BENCH_KILL9_REPORT=<file>` for the figures) kills the whole quick
//! suite that many times: scripts/kill9.sh.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::schema::read_run;
use serde_json::Value;

const FAST: &[&str] = &[
    "--budget",
    "0.02",
    "--warmup",
    "0.005",
    "--min-samples",
    "3",
];

fn bench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bench"));
    c.env_remove("RUST_BACKTRACE")
        .env_remove("BENCH_CPU_INJECT")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn run_dir(out: &Path) -> Option<PathBuf> {
    std::fs::read_dir(out)
        .ok()?
        .next()
        .map(|e| e.unwrap().path())
}

/// The points of a run file by id, as JSON, when it parses with bench's own reader.
fn points(dir: &Path) -> Result<BTreeMap<String, Value>, String> {
    read_run(dir).map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(dir.join("run.json")).map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    Ok(v["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap().to_string(), p.clone()))
        .collect())
}

/// SplitMix64: the kill instants from the seed.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Default, Debug)]
struct Tally {
    kills: u32,
    /// Killed before the run folder held a run.json (nothing to resume).
    before_file: u32,
    /// The run had already ended at the drawn instant (no kill).
    ended_first: u32,
    unreadable: u32,
    lost: u32,
    changed: u32,
    resumes_ok: u32,
    points_seen: usize,
    problems: Vec<String>,
}

/// One run killed `after` its start; tallies what the file and a resume show.
fn kill_once(
    selection: &[&str],
    expected: &BTreeMap<String, Value>,
    after: Duration,
    t: &mut Tally,
) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let mut child = bench()
        .args(["--out", out.to_str().unwrap()])
        .args(FAST)
        .args(selection)
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut seen: BTreeMap<String, Value> = BTreeMap::new();
    while start.elapsed() < after {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if let Some(dir) = run_dir(&out).filter(|d| d.join("run.json").exists()) {
            match points(&dir) {
                Ok(p) => seen.extend(p),
                Err(e) => {
                    t.unreadable += 1;
                    t.problems.push(format!("while running: {e}"));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if child.try_wait().unwrap().is_some() {
        t.ended_first += 1;
        return;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    t.kills += 1;
    let Some(dir) = run_dir(&out).filter(|d| d.join("run.json").exists()) else {
        t.before_file += 1;
        return;
    };
    let after_kill = match points(&dir) {
        Ok(p) => p,
        Err(e) => {
            t.unreadable += 1;
            t.problems.push(format!("after the kill: {e}"));
            return;
        }
    };
    t.points_seen += seen.len();
    for (id, p) in &seen {
        match after_kill.get(id) {
            None => {
                t.lost += 1;
                t.problems.push(format!("{id} lost by the kill"));
            }
            Some(q) if q != p => {
                t.changed += 1;
                t.problems.push(format!("{id} changed by the kill"));
            }
            _ => {}
        }
    }
    let o = bench()
        .stderr(Stdio::piped())
        .args(["run", "--resume", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let finished = match points(&dir) {
        Ok(p) => p,
        Err(e) => {
            t.unreadable += 1;
            t.problems.push(format!("after the resume: {e}"));
            return;
        }
    };
    for (id, p) in &after_kill {
        if finished.get(id) != Some(p) {
            t.lost += 1;
            t.problems.push(format!("{id} not kept by the resume"));
        }
    }
    let complete = finished.keys().eq(expected.keys())
        && read_run(&dir).unwrap().finished_at.is_some()
        && o.status.code() == Some(0);
    if complete {
        t.resumes_ok += 1;
    } else {
        t.problems.push(format!(
            "resume of {} did not complete the run: exit {:?}, {} of {} points: {}",
            dir.display(),
            o.status.code(),
            finished.len(),
            expected.len(),
            String::from_utf8_lossy(&o.stderr)
        ));
    }
}

#[test]
fn kill_9_at_random_instants_loses_nothing_and_resume_completes() {
    let n: u32 = std::env::var("BENCH_KILL9_N")
        .ok()
        .map(|v| v.parse().expect("BENCH_KILL9_N is a number of kills"))
        .unwrap_or(0);
    let seed: u64 = std::env::var("BENCH_KILL9_SEED")
        .ok()
        .map(|v| v.parse().expect("BENCH_KILL9_SEED is a number"))
        .unwrap_or(1);
    // Instants uniform over the run, or for CI's 3 kills over its middle, past the start-up
    // (so that each kill finds points to keep).
    let (kills, selection, from): (u32, &[&str], f64) = if n > 0 {
        (n, &["--suite", "quick"], 0.0)
    } else {
        (
            3,
            &["--suite", "quick", "--workload", "matmul,attention"],
            0.2,
        )
    };

    // A clean run: how long the run takes and which points it has.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let t0 = Instant::now();
    let s = bench()
        .args(["--out", out.to_str().unwrap()])
        .args(FAST)
        .args(selection)
        .status()
        .unwrap();
    let clean_s = t0.elapsed();
    assert_eq!(s.code(), Some(0), "the clean run");
    let expected = points(&run_dir(&out).unwrap()).unwrap();

    let mut rng = Rng(seed);
    let mut t = Tally::default();
    let started = Instant::now();
    for _ in 0..kills {
        let after = clean_s.mul_f64(from + (0.95 - from) * rng.unit());
        kill_once(selection, &expected, after, &mut t);
    }
    let figure = format!(
        "kill -9 at {kills} seeded random instants (seed {seed}) in a {:.1} s run of {} points \
         ({}), {:.0} s in all: {} kills ({} before run.json existed, {} runs ended first), \
         {} unreadable run.json, {} finished points lost, {} changed, of {} seen finished \
         before a kill; {} of {} resumes completed the run",
        clean_s.as_secs_f64(),
        expected.len(),
        selection.join(" "),
        started.elapsed().as_secs_f64(),
        t.kills,
        t.before_file,
        t.ended_first,
        t.unreadable,
        t.lost,
        t.changed,
        t.points_seen,
        t.resumes_ok,
        t.kills - t.before_file,
    );
    eprintln!("{figure}");
    if let Ok(path) = std::env::var("BENCH_KILL9_REPORT") {
        std::fs::write(path, format!("{figure}\n")).unwrap();
    }
    assert!(t.problems.is_empty(), "{:#?}", t.problems);
    assert_eq!(t.resumes_ok, t.kills - t.before_file);
    assert!(t.kills > 0, "no run was killed");
}

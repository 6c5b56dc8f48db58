//! Every libnrt entry point bench calls, failing at every call position of a run on nrt-sim,
//! through the real binary. A clean run with `NRT_SIM_COUNTS` says how many calls each entry
//! point that can fail gets; then one run per (entry point, call position) injects a status
//! there with `NRT_SIM_FAIL` and its outcome must be clean: no panic, crash or hang, the exit
//! code as designed (2 when the runtime cannot start, 1 when a point fails, 0 when the failure
//! is only recorded or warned about), a valid run.json that went on to the end, the point in
//! flight failed naming the entry point and the status, and every other point as in the clean
//! run.
//!
//! By default (CI) the first, the last and two seeded call positions of each entry point run
//! over a small selection. scripts/fault_table.sh sets `BENCH_FAULT_SUITE=quick|small`,
//! `BENCH_FAULT_POSITIONS=all|<per entry point>`, `BENCH_FAULT_JOBS`,
//! `BENCH_FAULT_SYMBOLS=<entry point>[,..]` (only those) and
//! `BENCH_FAULT_TABLE=<file>` (the table of positions × outcome, and one row per run).
//! Every result is simulated.

mod common;
#[allow(dead_code)] // the helpers other nrt-sim tests use
mod neuron_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use harness::schema::{read_run, RunFile, Status};
use neuron_support::{bench, build, Fixture};

/// Fixed sampling (one warm-up, two samples) so that every run makes the same calls.
const FIXED: &[&str] = &[
    "--warmup",
    "0",
    "--min-samples",
    "2",
    "--max-samples",
    "2",
    "--budget",
    "0.001",
];

const SMALL: &[&str] = &[
    "--workload",
    "matmul,attention,train-mlp,train-gpt",
    "--dtype",
    "f32",
    "--param",
    "m=16",
    "--param",
    "s=16",
    "--param",
    "width=16",
    "--param",
    "seq=8",
];

/// Statuses injected, in turn by call position.
const STATUSES: &[&str] = &[
    "NRT_FAILURE",
    "NRT_INVALID",
    "NRT_RESOURCE",
    "NRT_TIMEOUT",
    "NRT_HW_ERROR",
    "NRT_EXEC_NC_BUSY",
    "NRT_INVALID_HANDLE",
    "NRT_EXEC_UNIT_UNRECOVERABLE",
    "NRT_FAIL_HOST_MEM_ALLOC",
    "NRT_EXEC_HW_ERR_HBM_UE",
];

/// The exit code designed for a failure of call `nth` of `symbol`: 2 when the runtime cannot
/// start (the first core-count queries come before `nrt_init`), 0 for an optional query
/// (recorded in the run: instance info, the cores reserved after `nrt_init`) or an unload
/// after the point's result (a warning), 1 for everything a point calls (that point fails,
/// the run goes on).
fn designed_exit(symbol: &str, nth: u64) -> i32 {
    match symbol {
        "nrt_init" | "nrt_get_version" => 2,
        "nrt_get_total_vnc_count"
        | "nrt_get_visible_vnc_count"
        | "nrt_get_total_nc_count"
        | "nrt_get_visible_nc_count" => {
            if nth == 1 {
                2
            } else {
                0
            }
        }
        "nrt_get_instance_info" | "nrt_unload" => 0,
        _ => 1,
    }
}

struct Runner<'a> {
    fx: &'a Fixture,
    clean: RunFile,
    limit: Duration,
}

/// One bench run on the fixture's NEFFs into `out`, killed if it outlives `limit`.
fn run_once(
    fx: &Fixture,
    out: &Path,
    envs: &[(&str, &str)],
    limit: Duration,
) -> Result<(i32, String, Option<RunFile>), String> {
    let neffs = fx.path().join("neffs");
    let mut cmd = bench(envs);
    cmd.args(["--backend", "neuron", "--neff-dir", neffs.to_str().unwrap()])
        .args(["--out", out.to_str().unwrap()])
        .args(FIXED)
        .args(&fx.selection);
    let (code, err) = common::run_bounded(cmd, limit)?;
    let run = match std::fs::read_dir(out).ok().and_then(|mut d| d.next()) {
        Some(e) => {
            Some(read_run(&e.unwrap().path()).map_err(|e| format!("unreadable run.json: {e}"))?)
        }
        None => None,
    };
    Ok((code, err, run))
}

/// Calls per entry point in a clean run, from `NRT_SIM_COUNTS`.
fn clean_counts(fx: &Fixture, limit: Duration) -> (RunFile, BTreeMap<String, u64>) {
    let counts = fx.path().join("counts.txt");
    let out = fx.path().join("clean");
    let (code, err, run) = run_once(
        fx,
        &out,
        &[("NRT_SIM_COUNTS", counts.to_str().unwrap())],
        limit,
    )
    .unwrap();
    assert_eq!(code, 0, "the clean run: {err}");
    let text = std::fs::read_to_string(&counts).expect("nrt_close wrote NRT_SIM_COUNTS");
    let counts = text
        .lines()
        .map(|l| {
            let (s, n) = l.split_once(' ').unwrap();
            (s.to_string(), n.parse().unwrap())
        })
        .collect();
    (run.unwrap(), counts)
}

/// The point whose progress line ("[k/N] id ...") came last before the injected fault.
fn in_flight(err: &str) -> Option<String> {
    let at = err.find("nrt-sim: injected status")?;
    err[..at]
        .lines()
        .rev()
        .find_map(|l| {
            l.strip_prefix('[')?
                .split_once("] ")?
                .1
                .strip_suffix(" ...")
        })
        .map(str::to_string)
}

impl Runner<'_> {
    /// Injects `status` into call `nth` of `symbol`; the outcome's label, or what was wrong.
    fn case(&self, symbol: &str, nth: u64, status: &str) -> Result<String, String> {
        let out = self.fx.path().join(format!("out-{symbol}-{nth}"));
        let spec = format!("{symbol}:{nth}:{status}");
        let (code, err, run) = run_once(self.fx, &out, &[("NRT_SIM_FAIL", &spec)], self.limit)?;
        std::fs::remove_dir_all(&out).ok();
        let fail = |what: &str| Err(format!("{what}: exit {code}: {err}"));
        if err.contains("panicked") {
            return fail("panic");
        }
        if !err.contains(&format!("into call {nth} of {symbol}")) {
            return fail("the fault never fired");
        }
        if code != designed_exit(symbol, nth) {
            return fail(&format!(
                "exit {code}, designed {}",
                designed_exit(symbol, nth)
            ));
        }
        let names_it = |s: &str| s.contains(symbol) && s.contains(status);
        if code == 2 {
            let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
            if errors.len() != 1 || !names_it(errors[0]) {
                return fail("not one error line naming the call and the status");
            }
            if run.is_some() {
                return fail("a run file written before the runtime started");
            }
            return Ok("exit 2 before any point, one error line".into());
        }
        let Some(run) = run else {
            return fail("no run.json");
        };
        if run.finished_at.is_none() {
            return fail("the run did not go on to the end");
        }
        let ids = |r: &RunFile| r.points.iter().map(|p| p.id.clone()).collect::<Vec<_>>();
        if ids(&run) != ids(&self.clean) {
            return fail("not the clean run's points");
        }
        let changed: Vec<_> = run
            .points
            .iter()
            .zip(&self.clean.points)
            .filter(|(p, c)| p.status != c.status)
            .map(|(p, _)| p)
            .collect();
        if code == 0 {
            if !changed.is_empty() {
                return fail("a point changed status although bench exited 0");
            }
            let extra = run.backend.extra.values().any(|v| names_it(v));
            let warned = err.lines().any(|l| l.contains("warning:") && names_it(l));
            return match (extra, warned) {
                (true, _) => Ok("exit 0, recorded in backend.extra".into()),
                (_, true) => Ok("exit 0, a warning; results kept".into()),
                _ => fail("exit 0 without saying anything"),
            };
        }
        let [p] = changed[..] else {
            return fail(&format!("{} points changed status, not 1", changed.len()));
        };
        if p.status != Status::Failed {
            return fail(&format!("{} is {:?}, not failed", p.id, p.status));
        }
        if in_flight(&err).as_deref() != Some(p.id.as_str()) {
            return fail(&format!("{} failed, not the point in flight", p.id));
        }
        if !p.reason.as_deref().is_some_and(names_it) {
            return fail(&format!("{} reason {:?}", p.id, p.reason));
        }
        let phase = if p.reason.as_deref().unwrap().contains("while timing") {
            "while timing"
        } else {
            "before timing"
        };
        Ok(format!("exit 1, point in flight failed {phase}"))
    }
}

/// (entry point, call position) pairs: all of them (`per_symbol` None), or per entry point
/// the first, the last and seeded picks between (SplitMix64 of the entry point's name), up to
/// `per_symbol` in all.
fn positions(counts: &BTreeMap<String, u64>, per_symbol: Option<u64>) -> Vec<(String, u64)> {
    let mut v = Vec::new();
    for (s, &n) in counts {
        let k = per_symbol.unwrap_or(n).max(2);
        if n <= k {
            v.extend((1..=n).map(|k| (s.clone(), k)));
            continue;
        }
        let mut x = s.bytes().fold(0x9E37_79B9_7F4A_7C15u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01B3)
        });
        let mut picks = vec![1, n];
        while (picks.len() as u64) < k {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            let k = 2 + (z ^ (z >> 31)) % (n - 2);
            if !picks.contains(&k) {
                picks.push(k);
            }
        }
        picks.sort();
        v.extend(picks.into_iter().map(|k| (s.clone(), k)));
    }
    v
}

/// Runs every case on `jobs` threads; (entry point, position, status, outcome) in order.
fn run_all(
    r: &Runner,
    cases: &[(String, u64)],
    jobs: usize,
    verbose: bool,
) -> Vec<(String, u64, String, Result<String, String>)> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((sym, nth)) = cases.get(i) else {
                    break;
                };
                let status = STATUSES[(*nth as usize - 1) % STATUSES.len()];
                let outcome = r.case(sym, *nth, status);
                if verbose {
                    eprintln!(
                        "{sym} {nth} {status}: {:?}",
                        outcome.as_ref().map_err(|e| e.lines().next().unwrap_or(""))
                    );
                }
                results
                    .lock()
                    .unwrap()
                    .push((sym.clone(), *nth, status.to_string(), outcome));
            });
        }
    });
    let mut v = results.into_inner().unwrap();
    v.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    v
}

/// The table: per entry point, its call positions and how many ended in each outcome.
fn table(results: &[(String, u64, String, Result<String, String>)], took: Duration) -> String {
    let mut by: BTreeMap<&str, (u64, BTreeMap<String, u64>)> = BTreeMap::new();
    for (sym, _, _, o) in results {
        let e = by.entry(sym).or_default();
        e.0 += 1;
        let label = match o {
            Ok(l) => l.clone(),
            Err(e) => format!("NOT CLEAN: {}", e.lines().next().unwrap_or("")),
        };
        *e.1.entry(label).or_default() += 1;
    }
    let clean = results.iter().filter(|r| r.3.is_ok()).count();
    let mut t = format!(
        "{} runs ({} clean) in {:.0} s, one per (entry point, call position); nrt-sim, simulated\n\n\
         | entry point | call positions | outcome |\n|---|---|---|\n",
        results.len(),
        clean,
        took.as_secs_f64()
    );
    for (sym, (n, outcomes)) in by {
        let o: Vec<String> = outcomes.iter().map(|(l, c)| format!("{c} × {l}")).collect();
        t += &format!("| {sym} | {n} | {} |\n", o.join("; "));
    }
    t
}

#[test]
fn every_entry_point_failing_at_every_sampled_call_position_is_clean() {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let table_file = var("BENCH_FAULT_TABLE");
    let jobs = var("BENCH_FAULT_JOBS").map_or(2, |j| j.parse().expect("BENCH_FAULT_JOBS"));
    let quick = match var("BENCH_FAULT_SUITE").as_deref() {
        None | Some("small") => false,
        Some("quick") => true,
        Some(o) => panic!("BENCH_FAULT_SUITE={o}: quick or small"),
    };
    let per_symbol = match var("BENCH_FAULT_POSITIONS").as_deref() {
        None => Some(4),
        Some("all") => None,
        Some(k) => Some(k.parse().expect("BENCH_FAULT_POSITIONS: all or a number")),
    };
    let fx = if quick {
        build(&[], &[])
    } else {
        build(SMALL, &[])
    };
    let limit = Duration::from_secs(600);
    let (clean, counts) = clean_counts(&fx, limit);
    assert!(
        clean.points.iter().any(|p| p.status == Status::Ok),
        "the clean run ran points"
    );
    for s in ["nrt_init", "nrt_load", "nrt_execute", "nrt_tensor_read"] {
        assert!(counts.contains_key(s), "{s} never called: {counts:?}");
    }
    // BENCH_FAULT_SYMBOLS=a,b: only these entry points (a table split over processes).
    let only = var("BENCH_FAULT_SYMBOLS");
    let cases: Vec<_> = positions(&counts, per_symbol)
        .into_iter()
        .filter(|(s, _)| only.as_deref().is_none_or(|o| o.split(',').any(|x| x == s)))
        .collect();
    let r = Runner {
        fx: &fx,
        clean,
        limit,
    };
    let t = Instant::now();
    let results = run_all(&r, &cases, jobs, table_file.is_some());
    let what = format!(
        "{} ({} points), {}",
        if quick {
            "the quick suite"
        } else {
            "a small selection"
        },
        r.clean.points.len(),
        per_symbol.map_or("every call position".into(), |k| format!(
            "{k} call positions per entry point (first, last, seeded picks)"
        ))
    );
    let text = format!("{what}: {}", table(&results, t.elapsed()));
    eprintln!("{text}");
    if let Some(path) = &table_file {
        let mut detail =
            text.clone() + "\n| entry point | call | status | outcome |\n|---|---|---|---|\n";
        for (sym, nth, status, o) in &results {
            let o = match o {
                Ok(l) => l.clone(),
                Err(e) => format!("NOT CLEAN: {}", e.replace('\n', " ")),
            };
            detail += &format!("| {sym} | {nth} | {status} | {o} |\n");
        }
        std::fs::write(path, detail).unwrap();
    }
    let bad: Vec<_> = results.iter().filter(|r| r.3.is_err()).collect();
    assert!(
        bad.is_empty(),
        "{} of {} positions not clean: {:#?}",
        bad.len(),
        results.len(),
        bad
    );
    assert_eq!(results.len(), cases.len());
}

//! `bench fleet` against a real Slurm: scripts/fleet/slurm-local.sh starts munged, slurmctld
//! and slurmd in the test's own folder (one node, this machine's CPUs and memory, partition
//! `cpu`), and the real binary submits the shipped two-target CPU fleet
//! (scripts/fleet/local.toml: quick suite, c7i.2xlarge and c7i.4xlarge) plus a target that
//! fails on the node (the cuda backend, with no GPU), one scancel'd after its first point and
//! one scancel'd while it waits. Status before and after, `collect --wait --report` (report
//! options passed through), a rerun that resumes the interrupted run folder in place and
//! starts the failed target afresh, and the daemons are stopped even when an assertion fails.
//! Jobs are node-exclusive, so on a 2-core machine they run one after the other: about 50 s.
//! Without slurm-wlm and munge the test says it skipped, unless BENCH_REQUIRE_SLURM=1 (CI).

mod fleet_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use fleet_support::*;

const TOOLS: [&str; 9] = [
    "munged",
    "mungekey",
    "slurmctld",
    "slurmd",
    "sbatch",
    "squeue",
    "sinfo",
    "scancel",
    "sacct",
];

fn have_slurm() -> bool {
    let missing: Vec<&str> = TOOLS
        .into_iter()
        .filter(|t| {
            harness::fleet::tools::find(t).is_none() && !Path::new("/usr/sbin").join(t).exists()
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("BENCH_REQUIRE_SLURM").as_deref() != Ok("1"),
        "BENCH_REQUIRE_SLURM=1 but these are missing: {missing:?}"
    );
    eprintln!(
        "skipped: no local Slurm ({} not installed; Debian: apt-get install slurm-wlm munge)",
        missing.join(", ")
    );
    false
}

/// The local Slurm of one test; `down` on drop, so a failed assertion stops the daemons too.
struct LocalSlurm {
    dir: PathBuf,
}

impl LocalSlurm {
    fn up(dir: &Path) -> LocalSlurm {
        let guard = LocalSlurm {
            dir: dir.to_path_buf(),
        };
        let o = guard.script("up");
        assert!(
            o.status.success(),
            "slurm-local.sh up: {}{}",
            stdout(&o),
            stderr(&o)
        );
        assert_eq!(
            stdout(&o).lines().last().unwrap(),
            format!("export SLURM_CONF={}/slurm.conf", dir.display())
        );
        guard
    }

    fn script(&self, cmd: &str) -> Output {
        Command::new("bash")
            .arg(repo().join("scripts/fleet/slurm-local.sh"))
            .arg(cmd)
            .arg(&self.dir)
            .env("PATH", path_with_sbin())
            .output()
            .unwrap()
    }

    fn conf(&self) -> PathBuf {
        self.dir.join("slurm.conf")
    }

    /// The daemons' process ids, from their pid files.
    fn pids(&self) -> Vec<u32> {
        ["munged", "slurmctld", "slurmd"]
            .iter()
            .filter_map(|d| std::fs::read_to_string(self.dir.join(format!("run/{d}.pid"))).ok())
            .filter_map(|s| s.trim().parse().ok())
            .collect()
    }
}

impl Drop for LocalSlurm {
    fn drop(&mut self) {
        let pids = self.pids();
        let o = self.script("down");
        if !o.status.success() {
            eprintln!("slurm-local.sh down: {}", stderr(&o));
        }
        for pid in pids {
            if Path::new(&format!("/proc/{pid}")).exists() {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                // a zombie is gone but for its parent's wait
                assert!(
                    stat.contains(") Z"),
                    "daemon {pid} still runs after down: {stat}"
                );
            }
        }
    }
}

fn scancel(conf: &Path, id: &str) {
    let o = Command::new("scancel")
        .arg(id)
        .env("SLURM_CONF", conf)
        .output()
        .unwrap();
    assert!(o.status.success(), "scancel {id}: {}", stderr(&o));
}

fn path_with_sbin() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    format!("{path}:/usr/sbin:/sbin")
}

fn fleet(conf: &Path, args: &[&str]) -> Output {
    bench()
        .arg("fleet")
        .args(args)
        .env("SLURM_CONF", conf)
        .env("PATH", path_with_sbin())
        .output()
        .unwrap()
}

/// The shipped two-target fleet, plus a target that fails on the node and one to cancel.
fn test_fleet(tmp: &Path) -> PathBuf {
    let mut text = std::fs::read_to_string(repo().join("scripts/fleet/local.toml")).unwrap();
    text += r#"
# Added by the test: fails on the node (no GPU there), so its job ends FAILED with exit 2.
[[target]]
name = "p5-no-gpu"
backend = "cuda"
instance = "p5.48xlarge"
workload = "matmul"

# Added by the test: scancel'd after its first point, then rerun: the rerun resumes it.
[[target]]
name = "interrupted"
backend = "cpu"
instance = "c7i.24xlarge"
workload = "matmul"
budget = 0.3

# Added by the test: scancel'd while it waits behind the others.
[[target]]
name = "cancelled"
backend = "cpu"
instance = "c7i.2xlarge"
"#;
    let file = tmp.join("fleet.toml");
    std::fs::write(&file, text).unwrap();
    file
}

/// A summary.csv line's fields (point ids are quoted: they hold commas).
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

fn state_of<'a>(text: &'a str, target: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(&format!("{target} ")) || l.starts_with(&format!("  {target}: ")))
        .unwrap_or_else(|| panic!("no line for {target} in:\n{text}"))
}

#[test]
fn a_cpu_fleet_runs_on_a_real_slurm_and_is_collected_and_reported() {
    if !have_slurm() {
        return;
    }
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let slurm = LocalSlurm::up(&tmp.path().join("slurm"));
    let conf = slurm.conf();
    let t_up = t0.elapsed();
    let results = tmp.path().join("shared");
    std::fs::create_dir(&results).unwrap();
    let file = test_fleet(tmp.path());

    let t_jobs = Instant::now();
    let o = fleet(
        &conf,
        &[
            "submit",
            file.to_str().unwrap(),
            "--results",
            results.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let dir = last_line(&o);
    assert_eq!(
        dir.parent().unwrap(),
        std::fs::canonicalize(&results).unwrap()
    );
    let rec = read_record(&dir);
    assert!(!rec.dry_run);
    let ids: Vec<String> = rec.targets.iter().map(|t| t.jobs[0].id.clone()).collect();
    assert!(
        ids.iter()
            .all(|i| !i.is_empty() && i.chars().all(|c| c.is_ascii_digit())),
        "{ids:?}"
    );
    for (t, id) in rec.targets.iter().zip(&ids) {
        assert!(stdout(&o).contains(&format!(
            "{}: submitted {} as job {id}",
            t.name,
            t.jobs[0].job_file.display()
        )));
    }

    scancel(&conf, &ids[4]);

    // Status before: the queue still holds work.
    let before = fleet(&conf, &["status", dir.to_str().unwrap()]);
    assert_eq!(before.status.code(), Some(0), "{}", stderr(&before));
    let text = stdout(&before);
    assert!(
        text.starts_with(&format!("fleet {} (slurm, 5 targets)\n", rec.id)),
        "{text}"
    );
    assert!(state_of(&text, "cancelled").contains("CANCELLED"), "{text}");
    assert!(
        ["c7i-2xlarge", "c7i-4xlarge", "p5-no-gpu"]
            .iter()
            .any(|t| ["PENDING", "RUNNING"]
                .iter()
                .any(|s| state_of(&text, t).contains(s))),
        "{text}"
    );
    assert!(!text.contains("0 queued or running"), "{text}");

    // Interrupt the fourth target once its first point is in run.json.
    let interrupted = &rec.targets[3];
    let t_wait = Instant::now();
    loop {
        let runs = harness::fleet::status::runs(&interrupted.out);
        if runs.first().is_some_and(|r| r.points > 0) {
            break;
        }
        assert!(
            t_wait.elapsed().as_secs() < 300,
            "the interrupted target never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    scancel(&conf, &ids[3]);

    let o = fleet(
        &conf,
        &[
            "collect",
            dir.to_str().unwrap(),
            "--wait",
            "--poll",
            "1",
            "--report",
            "--baseline",
            "c7i.2xlarge",
            "--challenger",
            "c7i.4xlarge",
        ],
    );
    let t_jobs = t_jobs.elapsed();
    let text = stdout(&o);
    eprintln!("bench fleet collect --wait --report:\n{text}");
    assert_eq!(
        o.status.code(),
        Some(1),
        "two targets did not succeed: {text}{}",
        stderr(&o)
    );
    for t in ["c7i-2xlarge", "c7i-4xlarge"] {
        let line = state_of(&text, t);
        assert!(line.contains("COMPLETED (exit 0); run "), "{line}");
        assert!(
            line.contains(" points (") && line.contains(" ok, 0 failed)"),
            "{line}"
        );
    }
    let p5 = state_of(&text, "p5-no-gpu");
    assert!(p5.contains("FAILED (exit 2); no run folder"), "{p5}");
    let log = dir.join(format!("logs/p5-no-gpu-{}.log", ids[2]));
    assert!(
        text.contains(&format!("log {}, last", log.display())),
        "{text}"
    );
    assert!(
        text.contains("| error: the cuda backend cannot run here"),
        "the log's tail is shown: {text}"
    );
    assert!(
        state_of(&text, "cancelled").contains("CANCELLED; no run folder"),
        "{text}"
    );
    let line = state_of(&text, "interrupted");
    assert!(
        line.contains("CANCELLED") && line.contains("interrupted: "),
        "its partial run is kept: {line}"
    );
    assert!(
        text.contains("collected 3 run folder(s) of 5 targets; 3 did not succeed"),
        "{text}"
    );

    // The report over both kept runs, with options passed through to bench report.
    let report = dir.join("report");
    assert!(
        text.contains(&format!("report: {}", report.join("report.md").display())),
        "{text}"
    );
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    let csv = std::fs::read_to_string(report.join("summary.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no {name} column"))
    };
    let rows: Vec<Vec<String>> = lines.map(split_csv).collect();
    assert!(rows.len() >= 10, "the quick suite's points pair up: {csv}");
    for r in &rows {
        assert_eq!(r[col("baseline_instance")], "c7i.2xlarge");
        assert_eq!(r[col("challenger_instance")], "c7i.4xlarge");
        assert_eq!(
            r[col("baseline_usd_per_hour")],
            "0.357",
            "priced from results/prices.csv"
        );
        assert_eq!(r[col("challenger_usd_per_hour")], "0.714");
        assert!(r[col("ratio")].parse::<f64>().unwrap() > 0.0);
        for run in [&r[col("baseline_run")], &r[col("challenger_run")]] {
            assert!(md.contains(run.as_str()), "report.md names run {run}");
        }
    }
    let runs: std::collections::BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| {
            [
                r[col("baseline_run")].as_str(),
                r[col("challenger_run")].as_str(),
            ]
        })
        .collect();
    assert_eq!(
        runs.len(),
        2,
        "both collected runs are in the report: {runs:?}"
    );

    // Status after: everything is over, and fleet.json remembers it.
    let after = fleet(&conf, &["status", dir.to_str().unwrap()]);
    let text = stdout(&after);
    assert!(
        text.contains("0 queued or running, 2 finished, 3 failed or not run"),
        "{text}"
    );
    assert!(
        state_of(&text, "c7i-4xlarge").contains("COMPLETED (exit 0)"),
        "{text}"
    );
    let rec = read_record(&dir);
    let last: Vec<&str> = rec
        .targets
        .iter()
        .map(|t| t.last_state.as_ref().unwrap().state.state.as_str())
        .collect();
    assert_eq!(
        last,
        ["COMPLETED", "COMPLETED", "FAILED", "CANCELLED", "CANCELLED"]
    );
    let partial = harness::fleet::status::runs(&interrupted.out);
    assert_eq!(partial.len(), 1);
    let partial = &partial[0];
    assert!(
        !partial.finished && partial.points < 6,
        "scancel stopped it early: {partial:?}"
    );

    // A rerun of the failed and the interrupted target (not the cancelled one): the
    // interrupted run folder is resumed in place, the failed target starts afresh.
    let o = fleet(
        &conf,
        &[
            "rerun",
            dir.to_str().unwrap(),
            "--target",
            "p5-no-gpu",
            "--target",
            "interrupted",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(last_line(&o), dir);
    let rec = read_record(&dir);
    let p5 = &rec.targets[2];
    assert_eq!(p5.jobs.len(), 2);
    assert_eq!(p5.jobs[1].job_file, dir.join("p5-no-gpu-2.sbatch"));
    assert_ne!(p5.jobs[1].id, ids[2]);
    assert_eq!(
        p5.jobs[1].command[..3],
        ["run", "--backend", "cuda"],
        "no run folder: a fresh run"
    );
    let resumed = &rec.targets[3].jobs[1];
    assert_eq!(resumed.resumes.as_deref(), Some(partial.dir.as_path()));
    assert_eq!(
        resumed.command,
        ["run", "--resume", partial.dir.to_str().unwrap()]
    );
    let script = std::fs::read_to_string(&resumed.job_file).unwrap();
    assert!(
        script.contains(&format!(" run --resume {}\n", partial.dir.display())),
        "{script}"
    );
    assert_eq!(
        rec.targets[4].jobs.len(),
        1,
        "targets not named are left alone"
    );
    assert_eq!(
        rec.targets[0].jobs.len(),
        1,
        "finished targets are left alone"
    );
    let o = fleet(
        &conf,
        &["collect", dir.to_str().unwrap(), "--wait", "--poll", "1"],
    );
    let text = stdout(&o);
    assert!(
        state_of(&text, "p5-no-gpu").contains("FAILED (exit 2)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("logs/p5-no-gpu-{}.log", p5.jobs[1].id)),
        "{text}"
    );
    let line = state_of(&text, "interrupted");
    assert!(
        line.contains("COMPLETED (exit 0)") && line.contains("6 points (6 ok, 0 failed)"),
        "{line}"
    );
    let runs = harness::fleet::status::runs(&interrupted.out);
    assert_eq!(runs.len(), 1, "resumed in place, no second folder");
    let run = harness::schema::read_run(&runs[0].dir).unwrap();
    assert_eq!(run.resumes.len(), 1);
    assert!(run.finished_at.is_some());

    drop(slurm);
    eprintln!(
        "local Slurm up in {:.1} s; submit to collected and reported {:.1} s; whole test {:.1} s",
        t_up.as_secs_f64(),
        t_jobs.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn slurm_local_rejects_bad_use() {
    let o = Command::new("bash")
        .arg(repo().join("scripts/fleet/slurm-local.sh"))
        .arg("sideways")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("usage: "), "{}", stderr(&o));
    // down on a folder that never held a Slurm is a no-op
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new("bash")
        .arg(repo().join("scripts/fleet/slurm-local.sh"))
        .args(["down", tmp.path().join("none").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

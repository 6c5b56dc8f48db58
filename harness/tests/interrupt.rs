//! Stopping a run, through the real binary: SIGINT and SIGTERM stop a long point promptly
//! (exit 130/143), keep every finished point, record the point in flight as failed with reason
//! `interrupted` (which `--resume` runs again), and clear the progress bar on a terminal (a
//! pseudo-terminal from util-linux `script`); a full disk (a small tmpfs, mounted here as root)
//! while writing run.json stops the run with exit 2 naming the file and leaves the previous
//! run.json intact. A point busy where nothing polls the signal is stopped by the watchdog
//! (watchdog.rs) after its grace period.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use harness::schema::{read_run, RunFile, Status};

fn bench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bench"));
    c.env_remove("RUST_BACKTRACE")
        .env_remove("BENCH_CPU_INJECT");
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Points that each sample for the whole budget (the noise target is out of reach).
fn long_points(out: &Path, sizes: &str, budget: &str) -> Vec<String> {
    [
        "--out",
        out.to_str().unwrap(),
        "--workload",
        "matmul",
        "--dtype",
        "f32",
        "--param",
        sizes,
        "--budget",
        budget,
        "--target-noise",
        "1e-7",
        "--warmup",
        "0.01",
    ]
    .map(String::from)
    .to_vec()
}

fn run_dir(out: &Path) -> Option<PathBuf> {
    let mut d = std::fs::read_dir(out).ok()?;
    d.next().map(|e| e.unwrap().path())
}

/// Waits until the run under `out` holds `n` points; returns it.
fn wait_for_points(out: &Path, n: usize, child: &mut Child) -> RunFile {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "{n} points never finished");
        assert!(
            child.try_wait().unwrap().is_none(),
            "bench ended before {n} points"
        );
        if let Some(r) = run_dir(out).and_then(|d| read_run(&d).ok()) {
            if r.points.len() >= n {
                return r;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

/// Waits for the child, at most `limit`; returns its exit and how long it took.
fn wait_at_most(child: &mut Child, limit: Duration) -> (std::process::ExitStatus, Duration) {
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return (s, t.elapsed());
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("bench did not stop within {limit:?} of the signal");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn sigint_and_sigterm_stop_promptly_keep_finished_points_and_resume_reruns_the_interrupted_one() {
    for (sig, code) in [("INT", 130), ("TERM", 143)] {
        let tmp = tempfile::tempdir().unwrap();
        // Each point samples for 3 s: without the interrupt check the run would go on for
        // seconds after the signal.
        let mut child = bench()
            .args(long_points(tmp.path(), "m=400,401,402", "3"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let seen = wait_for_points(tmp.path(), 1, &mut child);
        std::thread::sleep(Duration::from_millis(300)); // well inside the second point
        signal(child.id(), sig);
        let (status, took) = wait_at_most(&mut child, Duration::from_secs(20));
        let err = {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut s).unwrap();
            s
        };
        assert_eq!(status.code(), Some(code), "SIG{sig}: {err}");
        assert!(
            took < Duration::from_millis(1500),
            "SIG{sig}: took {took:?} to stop"
        );
        assert!(
            err.contains(&format!("stopped by SIG{sig}")) && err.contains("--resume"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        let dir = run_dir(tmp.path()).unwrap();
        let run = read_run(&dir).unwrap();
        assert!(run.finished_at.is_none());
        let int = run
            .interrupted
            .as_ref()
            .expect("the interruption is recorded");
        assert_eq!(int.signal, format!("SIG{sig}"));
        assert_eq!(run.points.len(), 2, "{:?}", run.points);
        assert_eq!(run.points[0], seen.points[0], "the finished point is kept");
        assert_eq!(run.points[0].status, Status::Ok);
        let p = &run.points[1];
        assert_eq!(
            (p.status, p.reason.as_deref()),
            (Status::Failed, Some("interrupted"))
        );
        assert!(p.stats.is_none() && p.samples_s.is_empty());
        assert_eq!(int.point.as_deref(), Some(p.id.as_str()));

        if sig == "TERM" {
            // A plain resume (no --retry-failed) runs the interrupted point and the missing one.
            let o = bench()
                .args(["run", "--resume", dir.to_str().unwrap()])
                .output()
                .unwrap();
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
            let after = read_run(&dir).unwrap();
            assert_eq!(after.points.len(), 3);
            assert!(after.points.iter().all(|p| p.status == Status::Ok));
            assert_eq!(after.points[0], seen.points[0]);
            assert!(after.interrupted.is_none() && after.finished_at.is_some());
            assert_eq!(after.resumes[0].points_run.len(), 2);
        }
    }
}

#[test]
fn on_a_terminal_the_progress_bar_is_cleared_when_a_signal_stops_the_run() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: util-linux script (a pseudo-terminal) is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("terminal.log");
    let out = tmp.path().join("runs");
    let cmd = format!(
        "exec {} {}",
        env!("CARGO_BIN_EXE_bench"),
        long_points(&out, "m=400,401,402", "3").join(" ")
    );
    let mut script = Command::new("script")
        .args(["-qfec", &cmd])
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_points(&out, 1, &mut script);
    // run.json gets each record before its progress line is drawn, so the second point may
    // not have started yet; a signal between points leaves no point in flight to record.
    std::thread::sleep(Duration::from_millis(500)); // well inside the second point's 3 s
                                                    // bench is script's child, on the pseudo-terminal.
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", script.id())).unwrap();
    let pid: u32 = children.split_whitespace().next().unwrap().parse().unwrap();
    signal(pid, "INT");
    let (status, _) = wait_at_most(&mut script, Duration::from_secs(20));
    assert!(status.success() || status.code().is_some());
    let screen = std::fs::read_to_string(&log).unwrap();
    let bar = screen.rfind(['█', '░']).expect("a progress bar was drawn");
    let clear = screen.rfind("\x1b[2K").expect("a line clear");
    assert!(
        clear > bar,
        "the bar is drawn after the last clear: {:?}",
        &screen[bar.saturating_sub(200)..]
    );
    assert!(screen[clear..].contains("stopped by SIGINT"), "{screen:?}");
    assert_eq!(
        read_run(&run_dir(&out).unwrap()).unwrap().points[1]
            .reason
            .as_deref(),
        Some("interrupted")
    );
}

/// A tmpfs of `size` mounted at a temporary directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then_some(Tmpfs { dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_while_writing_run_json_keeps_the_previous_file_and_exits_2_naming_it() {
    let Some(fs) = Tmpfs::mount("2m") else {
        assert!(
            std::env::var("BENCH_REQUIRE_TMPFS").as_deref() != Ok("1"),
            "BENCH_REQUIRE_TMPFS=1 but a tmpfs could not be mounted"
        );
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let out = fs.dir.path().join("runs");
    let sizes = format!(
        "m={}",
        (8..40).map(|m| m.to_string()).collect::<Vec<_>>().join(",")
    );
    let mut child = bench()
        .args(["--out", out.to_str().unwrap()])
        .args(["--workload", "matmul", "--dtype", "f32", "--param", &sizes])
        .args(["--budget", "0.1", "--warmup", "0.01", "--max-samples", "50"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let seen = wait_for_points(&out, 2, &mut child);
    // Fill the file system to the last byte.
    let filler = fs.dir.path().join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.write_all(&[0]);
    }
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    std::fs::remove_file(&filler).unwrap();
    let dir = run_dir(&out).unwrap();
    let file = dir.join("run.json");
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(file.to_str().unwrap()) && err.contains("No space left on device"),
        "{err}"
    );
    assert!(err.contains("intact") && err.contains("--resume"), "{err}");
    assert_eq!(err.lines().filter(|l| l.starts_with("error:")).count(), 1);
    assert!(!err.contains("panicked"), "{err}");
    let run = read_run(&dir).expect("the previous run.json is intact");
    assert!(run.points.len() >= seen.points.len() && run.points.len() < 32);
    assert_eq!(run.points[..2], seen.points[..2]);
    assert!(
        !dir.join("run.json.tmp").exists(),
        "the temporary file is removed"
    );
}

/// A point whose f64 reference and first bf16 step take tens of seconds on a 2-core CPU
/// (nothing polls the signal flag there): the watchdog records it interrupted within its
/// grace period and the process exits 143, with the point and the signal in run.json.
#[test]
fn a_point_busy_where_nothing_polls_is_stopped_by_the_watchdog() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let mut child = bench()
        .args(["--out", out.to_str().unwrap(), "--instance", "x"])
        .args(["--workload", "train-mlp", "--dtype", "bf16"])
        .args(["--param", "layers=4", "--param", "width=1024"])
        .args(["--param", "batch=512", "--param", "classes=1000"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_points(&out, 0, &mut child);
    std::thread::sleep(Duration::from_millis(500));
    signal(child.id(), "TERM");
    let (status, took) = wait_at_most(&mut child, Duration::from_secs(8));
    let o = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(143), "{}", stderr(&o));
    assert!(
        took >= Duration::from_millis(1500),
        "the grace period was kept: {took:?}"
    );
    assert!(
        stderr(&o).contains("recorded as interrupted"),
        "{}",
        stderr(&o)
    );
    let run = read_run(&run_dir(&out).unwrap()).unwrap();
    assert_eq!(run.points.len(), 1);
    assert_eq!(run.points[0].status, Status::Failed);
    assert_eq!(run.points[0].reason.as_deref(), Some("interrupted"));
    let i = run.interrupted.expect("the signal is recorded");
    assert_eq!(i.signal, "SIGTERM");
    assert_eq!(i.point.as_deref(), Some(run.points[0].id.as_str()));
}

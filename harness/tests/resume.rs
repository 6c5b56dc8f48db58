//! `bench run --resume` and run folders, through the real binary: missing points run and
//! finished ones stay byte for byte, failed ones rerun only with `--retry-failed`, each resume
//! is recorded, a resume whose backend, selection, seed, instance or machine differ is refused
//! with exit 2 naming the difference, runs recorded before the selection was kept resume from
//! their command line, and bench processes started at once with the same --out get distinct
//! folders. Run files edited here stand for a run stopped early or made on another machine.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use harness::schema::{read_run, Status};
use serde_json::Value;

fn bench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bench"));
    c.env_remove("RUST_BACKTRACE")
        .env_remove("BENCH_CPU_INJECT");
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

const FAST: &[&str] = &[
    "--budget",
    "0.02",
    "--warmup",
    "0.005",
    "--min-samples",
    "3",
];

/// A finished three-point run in `out`; returns its directory.
fn three_point_run(out: &Path, env: &[(&str, &str)]) -> (PathBuf, Output) {
    let mut c = bench();
    c.args(["--out", out.to_str().unwrap(), "--instance", "c7i.large"])
        .args([
            "--workload",
            "matmul",
            "--dtype",
            "f32",
            "--param",
            "m=16,24,32",
        ])
        .args(FAST);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    let dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}: {}", stderr(&o));
    (dirs[0].clone(), o)
}

fn resume(dir: &Path, extra: &[&str]) -> Output {
    bench()
        .args(["run", "--resume", dir.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap()
}

fn json(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
}

fn put_json(dir: &Path, v: &Value) {
    std::fs::write(
        dir.join("run.json"),
        serde_json::to_string_pretty(v).unwrap() + "\n",
    )
    .unwrap();
}

/// The exact text of each element of the top-level "points" array.
fn point_texts(text: &str) -> Vec<String> {
    let start = text.find("\"points\": [").expect("a points array") + "\"points\": [".len();
    let (mut depth, mut in_str, mut esc, mut from) = (0, false, false, 0);
    let mut out = Vec::new();
    for (i, c) in text[start..].char_indices() {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '{' | '[' => {
                if depth == 0 {
                    from = start + i;
                }
                depth += 1;
            }
            '}' | ']' if depth == 0 => break,
            '}' | ']' => {
                depth -= 1;
                if depth == 0 {
                    out.push(text[from..=start + i].to_string());
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn resume_runs_the_missing_points_and_keeps_finished_ones_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, o) = three_point_run(tmp.path(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The run as a stop after its first point leaves it, written as bench writes it.
    let mut run = read_run(&dir).unwrap();
    run.points.truncate(1);
    run.finished_at = None;
    std::fs::write(
        dir.join("run.json"),
        serde_json::to_string_pretty(&run).unwrap() + "\n",
    )
    .unwrap();
    let before = std::fs::read_to_string(dir.join("run.json")).unwrap();
    let kept = point_texts(&before);
    assert_eq!(kept.len(), 1);

    let o = resume(&dir, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("2 points to run, 1 kept"),
        "{}",
        stderr(&o)
    );
    let after = std::fs::read_to_string(dir.join("run.json")).unwrap();
    let texts = point_texts(&after);
    assert_eq!(texts.len(), 3);
    assert_eq!(texts[0], kept[0], "the finished point is untouched");
    let run = read_run(&dir).unwrap();
    let ids: Vec<&str> = run.points.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "matmul/m=16,n=16,k=16/f32",
            "matmul/m=24,n=24,k=24/f32",
            "matmul/m=32,n=32,k=32/f32"
        ]
    );
    assert!(run.points.iter().all(|p| p.status == Status::Ok));
    assert!(run.finished_at.is_some());
    assert_eq!(run.resumes.len(), 1);
    let r = &run.resumes[0];
    assert!(r.command.contains("--resume"), "{}", r.command);
    assert!(!r.at.is_empty() && r.finished_at.is_some());
    assert_eq!(r.points_run, ids[1..]);
    // The measurement settings are the run's, not the defaults.
    assert!(run.points[1].one_off_s.init.is_some());
    assert!(run.points[1].stats.as_ref().unwrap().n >= 3);

    // A second resume has nothing to run, keeps every point and is recorded too.
    let o = resume(&dir, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let again = std::fs::read_to_string(dir.join("run.json")).unwrap();
    assert_eq!(point_texts(&again), texts);
    let run = read_run(&dir).unwrap();
    assert_eq!(run.resumes.len(), 2);
    assert!(run.resumes[1].points_run.is_empty());
}

#[test]
fn failed_points_run_again_only_with_retry_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, o) = three_point_run(tmp.path(), &[("BENCH_CPU_INJECT", "nan")]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let before = std::fs::read_to_string(dir.join("run.json")).unwrap();

    let o = resume(&dir, &[]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "failed points remain: {}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("0 points to run"), "{}", stderr(&o));
    let after = std::fs::read_to_string(dir.join("run.json")).unwrap();
    assert_eq!(point_texts(&after), point_texts(&before));

    let o = resume(&dir, &["--retry-failed"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run = read_run(&dir).unwrap();
    assert_eq!(run.points.len(), 3);
    assert!(
        run.points.iter().all(|p| p.status == Status::Ok),
        "{:?}",
        run.points.iter().map(|p| &p.reason).collect::<Vec<_>>()
    );
    assert_eq!(run.resumes.len(), 2);
    assert!(run.resumes[1].retry_failed);
    assert_eq!(run.resumes[1].points_run.len(), 3);
    // The environment of each resume is kept beside the run's own.
    assert_eq!(
        run.env.get("BENCH_CPU_INJECT").map(String::as_str),
        Some("nan")
    );
    assert!(!run.resumes[1].env.contains_key("BENCH_CPU_INJECT"));
}

#[test]
fn a_resume_that_differs_from_the_run_is_refused_naming_the_difference() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, o) = three_point_run(tmp.path(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let file = dir.join("run.json");
    let before = std::fs::read(&file).unwrap();
    for (args, needles) in [
        (vec!["--backend", "neuron"], vec!["--backend neuron", "cpu"]),
        (
            vec!["--suite", "standard"],
            vec!["--suite standard", "quick"],
        ),
        (vec!["--seed", "7"], vec!["--seed 7", "42"]),
        (
            vec!["--instance", "p5.48xlarge"],
            vec!["--instance p5.48xlarge", "c7i.large"],
        ),
        (
            vec!["--workload", "attention"],
            vec!["--workload attention", "matmul"],
        ),
        (vec!["--dtype", "bf16"], vec!["--dtype bf16", "f32"]),
        (vec!["--param", "m=16"], vec!["--param m=16", "m=16,24,32"]),
        (vec!["--budget", "1"], vec!["--budget 1", "0.02"]),
    ] {
        let o = resume(&dir, &args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: {n:?} not in {err}");
        }
        assert!(err.contains(dir.to_str().unwrap()), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert_eq!(std::fs::read(&file).unwrap(), before, "{args:?} wrote");
    }
    // The same options in another spelling are no difference.
    let o = resume(
        &dir,
        &[
            "--backend",
            "cpu",
            "--seed",
            "42",
            "--workload",
            "matmul,matmul",
            "--param",
            "m=16, 24,32",
            "--instance",
            "c7i.large",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // A run made on another machine or instance (its record edited to say so).
    let original = json(&dir);
    for (field, value, needle) in [
        ("/backend/device", "Some Other CPU", "Some Other CPU"),
        ("/host/instance_type", "p5.48xlarge", "p5.48xlarge"),
    ] {
        let mut v = original.clone();
        *v.pointer_mut(field).unwrap() = value.into();
        v["host"]["instance_type_source"] = "dmi".into();
        put_json(&dir, &v);
        let o = resume(&dir, &[]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{field}: {err}");
        assert!(
            err.contains("not the one the run was made on") && err.contains(needle),
            "{err}"
        );
    }
    put_json(&dir, &original);

    // Not a run directory.
    let o = resume(&tmp.path().join("nope"), &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nope") && stderr(&o).contains("run.json"));
}

#[test]
fn a_run_recorded_without_its_selection_resumes_from_its_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, o) = three_point_run(tmp.path(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut v = json(&dir);
    let settings = v["settings"].as_object_mut().unwrap();
    settings.remove("selection");
    settings.remove("backend_options");
    v["points"].as_array_mut().unwrap().remove(1);
    put_json(&dir, &v);
    let o = resume(&dir, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run = read_run(&dir).unwrap();
    assert_eq!(run.points.len(), 3);
    assert_eq!(run.resumes[0].points_run, ["matmul/m=24,n=24,k=24/f32"]);
}

#[test]
fn processes_started_together_with_one_out_get_distinct_folders() {
    const N: usize = 6;
    for attempt in 1..=3 {
        let tmp = tempfile::tempdir().unwrap();
        // Start all of them just after a second begins, so their stamps collide.
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        std::thread::sleep(Duration::from_nanos(
            1_000_000_000 - u64::from(now.subsec_nanos()) + 20_000_000,
        ));
        let children: Vec<_> = (0..N)
            .map(|_| {
                bench()
                    .args(["--out", tmp.path().to_str().unwrap(), "--instance", "x"])
                    .args(["--workload", "matmul", "--dtype", "f32", "--param", "m=8"])
                    .args(FAST)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let o = c.wait_with_output().unwrap();
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        }
        let mut dirs: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        dirs.sort();
        assert_eq!(dirs.len(), N, "{dirs:?}");
        for d in &dirs {
            let run = read_run(&tmp.path().join(d)).unwrap();
            assert_eq!(run.points.len(), 1, "{d}: one process's run only");
        }
        let stamps: std::collections::BTreeSet<&str> = dirs.iter().map(|d| &d[..15]).collect();
        if stamps.len() < N {
            // At least two shared a stamp and still got their own folders.
            assert!(dirs.iter().any(|d| d.ends_with("-2")), "{dirs:?}");
            return;
        }
        eprintln!("attempt {attempt}: the processes started in different seconds; again");
    }
    panic!("the processes never started within one second: cannot test the collision");
}

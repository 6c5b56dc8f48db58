//! The second implementation of attention on Neuron (`build_neffs.py --impl nki`), through the
//! real `bench` binary on nrt-sim: an attention point with an nki NEFF in the manifest runs
//! twice, once per implementation, and run.json holds both records (the second labelled
//! `implementation: "nki"`), each gated by the correctness check and timed; a point the
//! kernel cannot take records the skip with the build script's reason; the progress lines, the
//! summary table and the report name the nki run. nrt-sim computes attention on the CPU for both NEFFs, so this
//! checks the plumbing, not the kernel: every result is simulated.

mod neuron_support;

use harness::schema::Status;
use neuron_support::{bench, build, run_neuron, stderr};

/// The quick suite's f32 attention points: s=128 and s=256 (no nki: flash_fwd needs s
/// divisible by 512) and s=512 (nki).
const ATTN: &[&str] = &["--workload", "attention", "--dtype", "f32"];
const NKI_POINT: &str = "attention/b=1,h=8,s=512,d=64,causal=1/f32";

#[test]
fn an_nki_attention_neff_runs_beside_bench_s_and_is_recorded_as_nki() {
    let fx = build(ATTN, &["--impl", "nki"]);
    let (o, run) = run_neuron(&fx, &[], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run = run.expect("run.json");
    assert!(run.backend.simulated);
    assert_eq!(run.backend.implementation, "bench");

    let own: Vec<_> = run
        .points
        .iter()
        .filter(|p| p.implementation.is_none())
        .collect();
    assert_eq!(own.len(), 3, "each planned point once as bench's own");
    assert!(own.iter().all(|p| p.status == Status::Ok), "{own:#?}");

    let nki: Vec<_> = run
        .points
        .iter()
        .filter(|p| p.implementation.as_deref() == Some("nki"))
        .collect();
    assert_eq!(nki.len(), 3, "an nki record per attention point: {nki:#?}");
    let ran = nki.iter().find(|p| p.id == NKI_POINT).expect("nki record");
    assert_eq!(ran.status, Status::Ok, "{ran:#?}");
    let check = ran.check.as_ref().expect("checked");
    assert!(check.passed && check.checked > 0, "{check:?}");
    assert!(ran.stats.as_ref().is_some_and(|s| s.n >= 3));
    assert!(ran.timer.is_some());
    assert!(ran.devices_used > 0.0);
    for p in nki.iter().filter(|p| p.id != NKI_POINT) {
        assert_eq!(p.status, Status::Skipped, "{p:#?}");
        let why = p.reason.as_deref().unwrap_or_default();
        assert!(why.contains("divisible by 512"), "{why}");
    }

    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&format!("{NKI_POINT} [nki]")) && l.contains(" ok ")),
        "{table}"
    );

    let progress = stderr(&o);
    assert!(
        progress.contains(&format!("{NKI_POINT} [nki] ok: median")),
        "{progress}"
    );

    // The report reads the file as two runs: bench's and "<run> [nki]".
    let dir = std::fs::read_dir(fx.path().join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let out = fx.path().join("report");
    let o = bench(&[])
        .args(["report"])
        .arg(&dir)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.code().is_some(), "{}", stderr(&o));
    let md = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    assert!(md.contains(&format!("{name} [nki]")), "{md}");
}

#[test]
fn without_impl_no_nki_record_is_written() {
    let fx = build(ATTN, &[]);
    let (o, run) = run_neuron(&fx, &[], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run = run.expect("run.json");
    assert_eq!(run.points.len(), 3);
    assert!(run.points.iter().all(|p| p.implementation.is_none()));
}

#[test]
fn a_resume_reruns_a_point_whose_nki_record_was_interrupted() {
    let fx = build(ATTN, &["--impl", "nki"]);
    let (o, run) = run_neuron(&fx, &[], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let before = run.expect("run.json");
    let dir = std::fs::read_dir(fx.path().join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    // As the watchdog leaves it when a signal stops the nki execution of the s=512 point.
    let file = dir.join("run.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    for p in v["points"].as_array_mut().unwrap() {
        if p["id"] == NKI_POINT && p["implementation"] == "nki" {
            p["status"] = "failed".into();
            p["reason"] = "interrupted".into();
            p["stats"] = serde_json::Value::Null;
            p["samples_s"] = serde_json::json!([]);
        }
    }
    std::fs::write(&file, serde_json::to_string(&v).unwrap()).unwrap();

    let o = bench(&[])
        .args(["run", "--resume"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let after = harness::schema::read_run(&file).unwrap();
    assert_eq!(after.points.len(), before.points.len(), "no record doubled");
    let nki = after
        .points
        .iter()
        .find(|p| p.id == NKI_POINT && p.implementation.as_deref() == Some("nki"))
        .unwrap();
    assert_eq!(nki.status, Status::Ok, "{nki:#?}");
    let resume = after.resumes.last().expect("the resume is recorded");
    assert_eq!(resume.points_run, vec![NKI_POINT.to_string()]);
    // the other points kept their records as they were
    for (a, b) in before.points.iter().zip(&after.points) {
        if a.id != NKI_POINT {
            assert_eq!(a, b);
        }
    }
}

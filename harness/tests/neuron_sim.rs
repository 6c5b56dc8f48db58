//! The Neuron backend end to end against nrt-sim (the CPU stand-in for libnrt), through the
//! real `bench` binary: `bench plan` → `build_neffs.py --sim` → `bench --backend neuron`.
//! Covers the quick suite, every libnrt entry point failing at several call positions, NaN
//! outputs, a corrupt NEFF and manifest, a missing library, `--cores`, and where simulated
//! results go. Every result here is simulated; nothing is a Trainium figure.

mod neuron_support;

use harness::schema::{read_run, Status};
use neuron_support::{bench, build as build_with, run_neuron, stderr, Fixture, FAST};

const SMALL: &[&str] = &[
    "--workload",
    "matmul,attention,train-mlp",
    "--dtype",
    "f32",
    "--param",
    "m=16",
    "--param",
    "s=16",
    "--param",
    "width=16",
];

/// Plans `selection` and builds its stand-ins with plain `build_neffs.py --sim`.
fn build(selection: &[&str]) -> Fixture {
    build_with(selection, &[])
}

#[test]
fn quick_suite_runs_end_to_end_on_nrt_sim() {
    let tmp = build(&[]);
    let (o, run) = run_neuron(&tmp, &[], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run = run.unwrap();
    assert_eq!(run.backend.kind, "neuron");
    assert!(run.backend.simulated, "nrt-sim runs must say simulated");
    assert!(run
        .backend
        .runtime_version
        .as_deref()
        .unwrap()
        .contains("SIMULATED"));
    assert_eq!(run.backend.extra["lnc"], "2");
    assert!(run.backend.extra["neff_compiler"].contains("nrt-sim"));
    assert!(run.finished_at.is_some());
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("neffs/manifest.json")).unwrap(),
    )
    .unwrap();
    let mut ran = 0;
    for p in &run.points {
        assert!(
            manifest["points"].get(&p.id).is_some(),
            "{} has no NEFF in the manifest",
            p.id
        );
        ran += 1;
        assert_eq!(p.status, Status::Ok, "{}: {:?}", p.id, p.reason);
        assert!(p.check.as_ref().unwrap().passed);
        assert_eq!(
            p.devices_used, 0.25,
            "one LNC=2 trn2 core is a quarter chip"
        );
        assert_eq!(p.timer.as_deref(), Some("wall"));
        assert!(p.stats.as_ref().unwrap().n >= 3);
        if p.workload.starts_with("train-") {
            let t = p.train.as_ref().unwrap();
            assert!(t.losses.len() >= t.checked_steps + 3, "{t:?}");
            assert!(t.losses.iter().all(|l| l.is_finite()));
        }
        if matches!(p.workload.as_str(), "prefill" | "decode") {
            // checked against the f64 reference on logits (decode: after its 2 check steps,
            // the second reading the cache the first wrote into the other tensor set)
            let c = p.check.as_ref().unwrap();
            assert!(c.checked > 0 && c.max_rel_err.is_some(), "{}: {c:?}", p.id);
            let inputs: Vec<&str> = manifest["points"][&p.id]["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["name"].as_str().unwrap())
                .collect();
            if p.workload == "decode" {
                assert!(inputs.ends_with(&["tokens", "cache", "step"]), "{inputs:?}");
            }
        }
    }
    let workloads: std::collections::BTreeSet<&str> = run
        .points
        .iter()
        .filter(|p| p.status == Status::Ok)
        .map(|p| p.workload.as_str())
        .collect();
    assert_eq!(
        workloads.len(),
        6,
        "the six lowered workloads ran: {workloads:?}"
    );
    assert!(ran >= 21, "every point of the quick suite ran: {ran}");
}

/// Entry points a point calls, the statuses injected, and what the reason must say.
const PER_POINT: &[(&str, &str, &str)] = &[
    ("nrt_load", "NRT_INVALID", "LNC"),
    ("nrt_get_model_tensor_info", "NRT_INVALID_HANDLE", "report"),
    (
        "nrt_free_model_tensor_info",
        "NRT_FAILURE",
        "NEURON_RT_LOG_LEVEL",
    ),
    ("nrt_allocate_tensor_set", "NRT_RESOURCE", "memory"),
    ("nrt_add_tensor_to_tensor_set", "NRT_INVALID", "rebuild"),
    ("nrt_tensor_allocate", "NRT_RESOURCE", "memory"),
    ("nrt_tensor_write", "NRT_TIMEOUT", "NEURON_RT_EXEC_TIMEOUT"),
    ("nrt_execute", "NRT_EXEC_NC_BUSY", "another process"),
    ("nrt_tensor_read", "NRT_HW_ERROR", "dmesg"),
];

#[test]
fn every_entry_point_failing_fails_one_point_with_the_status_and_what_to_do() {
    let tmp = build(SMALL);
    for &(symbol, status, advice) in PER_POINT {
        for nth in [1, 2, 3] {
            let spec = format!("{symbol}:{nth}:{status}");
            let (o, run) = run_neuron(&tmp, &[], &[("NRT_SIM_FAIL", &spec)]);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(1), "{spec}: {err}");
            assert!(!err.contains("panicked"), "{spec}: {err}");
            let run = run.unwrap();
            assert!(
                run.finished_at.is_some(),
                "{spec}: the run went on to the end"
            );
            assert_eq!(run.points.len(), 4, "{spec}");
            let failed: Vec<_> = run
                .points
                .iter()
                .filter(|p| p.status == Status::Failed)
                .collect();
            assert_eq!(
                failed.len(),
                1,
                "{spec}: {:?}",
                run.points
                    .iter()
                    .map(|p| (&p.id, p.status))
                    .collect::<Vec<_>>()
            );
            let reason = failed[0].reason.as_deref().unwrap();
            assert!(
                reason.contains(symbol) && reason.contains(status),
                "{spec}: {reason}"
            );
            assert!(reason.contains(advice), "{spec}: {reason}");
            assert!(
                failed[0].stats.is_none() || reason.contains("while timing"),
                "{spec}"
            );
            let ok = run.points.iter().filter(|p| p.status == Status::Ok).count();
            assert_eq!(ok, 3, "{spec}: the other points ran and were kept");
        }
    }
}

#[test]
fn runtime_start_failures_exit_2_naming_the_status() {
    let tmp = build(&["--workload", "matmul", "--dtype", "f32", "--param", "m=16"]);
    for (symbol, status) in [
        ("nrt_init", "NRT_EXEC_NC_BUSY"),
        ("nrt_get_version", "NRT_FAILURE"),
        ("nrt_get_total_vnc_count", "NRT_FAILURE"),
        ("nrt_get_visible_vnc_count", "NRT_RESOURCE"),
    ] {
        let spec = format!("{symbol}:1:{status}");
        let (o, run) = run_neuron(&tmp, &[], &[("NRT_SIM_FAIL", &spec)]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{spec}: {err}");
        assert!(
            err.contains(symbol) && err.contains(status),
            "{spec}: {err}"
        );
        assert_eq!(
            err.trim()
                .lines()
                .filter(|l| l.starts_with("error:"))
                .count(),
            1,
            "{err}"
        );
        assert!(
            run.is_none(),
            "{spec}: nothing written before the runtime started"
        );
    }
    // an optional query failing is recorded, not fatal
    let (o, run) = run_neuron(
        &tmp,
        &[],
        &[("NRT_SIM_FAIL", "nrt_get_instance_info:1:NRT_FAILURE")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(run.unwrap().backend.extra["instance_info_error"].contains("NRT_FAILURE"));
    // unloading is after the point's result: a warning, the result stands
    let (o, _) = run_neuron(&tmp, &[], &[("NRT_SIM_FAIL", "nrt_unload:1:NRT_FAILURE")]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("warning: nrt_unload"), "{}", stderr(&o));
}

#[test]
fn nan_outputs_fail_the_point() {
    let tmp = build(&["--workload", "matmul", "--dtype", "f32", "--param", "m=16"]);
    let (o, run) = run_neuron(&tmp, &[], &[("NRT_SIM_NAN", "1")]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let reason = run.unwrap().points[0].reason.clone().unwrap();
    assert!(
        reason.contains("NRT_EXEC_COMPLETED_WITH_NUM_ERR") && reason.contains("NaN"),
        "{reason}"
    );
    // a NaN the runtime does not flag is caught by the correctness check
    let (o, run) = run_neuron(&tmp, &[], &[("NRT_SIM_NAN", "1:silent")]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let p = &run.unwrap().points[0];
    assert!(
        p.reason
            .as_deref()
            .unwrap()
            .contains("correctness check failed"),
        "{:?}",
        p.reason
    );
    assert!(p.stats.is_none(), "never timed");
}

#[test]
fn added_latency_shows_in_the_timings() {
    let tmp = build(&["--workload", "matmul", "--dtype", "f32", "--param", "m=16"]);
    let (o, run) = run_neuron(&tmp, &[], &[("NRT_SIM_LATENCY_US", "3000")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let median = run.unwrap().points[0].stats.as_ref().unwrap().median_s;
    assert!(median >= 3e-3, "median {median} s under the injected 3 ms");
}

#[test]
fn corrupt_neffs_and_manifests_give_clear_errors() {
    let tmp = build(SMALL);
    let manifest_path = tmp.path().join("neffs/manifest.json");
    let text = std::fs::read_to_string(&manifest_path).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    let matmul = manifest["points"]["matmul/m=16,n=16,k=16/f32"]["neff"]
        .as_str()
        .unwrap();
    let neff = tmp.path().join("neffs").join(matmul);
    let good = std::fs::read(&neff).unwrap();
    std::fs::write(&neff, b"\x00garbage, not a NEFF").unwrap();
    let (o, run) = run_neuron(&tmp, &[], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let run = run.unwrap();
    let p = run.points.iter().find(|p| p.workload == "matmul").unwrap();
    let reason = p.reason.as_deref().unwrap();
    assert!(
        reason.contains("nrt_load") && reason.contains("NRT_INVALID") && reason.contains("corrupt"),
        "{reason}"
    );
    assert!(reason.contains(matmul), "names the file: {reason}");
    assert_eq!(
        run.points.iter().filter(|p| p.status == Status::Ok).count(),
        3
    );
    std::fs::write(&neff, good).unwrap();

    std::fs::remove_file(&neff).unwrap();
    let (o, run) = run_neuron(&tmp, &[], &[]);
    assert_eq!(o.status.code(), Some(1));
    let reason = run.unwrap().points[0].reason.clone().unwrap();
    assert!(
        reason.contains("cannot read NEFF") && reason.contains("build_neffs.py"),
        "{reason}"
    );

    std::fs::write(&manifest_path, &text[..text.len() / 2]).unwrap();
    let (o, run) = run_neuron(&tmp, &[], &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("manifest.json") && err.contains("build_neffs.py"),
        "{err}"
    );
    assert!(run.is_none());

    // compiled-NEFF manifests need the real runtime
    std::fs::write(
        &manifest_path,
        text.replace("\"simulated\": true", "\"simulated\": false"),
    )
    .unwrap();
    let (o, _) = run_neuron(&tmp, &[], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("nrt-sim") && stderr(&o).contains("--sim"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn missing_library_or_neffs_exit_2_with_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let o = bench(&[("BENCH_LIBNRT", "/nonexistent/libnrt.so.1")])
        .args(["--backend", "neuron", "--neff-dir", "x", "--out"])
        .arg(tmp.path())
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    for needle in [
        "/nonexistent/libnrt.so.1",
        "/opt/aws/neuron/lib/libnrt.so.1",
        "libnrt.so.1 (",
        "libnrt.so (",
        "aws-neuronx-runtime-lib",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let o = bench(&[])
        .args(["--backend", "neuron", "--out"])
        .arg(tmp.path())
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bench plan") && err.contains("build_neffs.py") && err.contains("--neff-dir"),
        "{err}"
    );

    let o = bench(&[])
        .args(["--backend", "neuron", "--neff-dir"])
        .arg(tmp.path().join("none"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no such directory"), "{}", stderr(&o));
    assert!(
        std::fs::read_dir(tmp.path()).unwrap().next().is_none(),
        "nothing written"
    );
}

#[test]
fn cores_run_copies_at_once_and_count_their_chips() {
    let tmp = build(SMALL);
    let (o, run) = run_neuron(&tmp, &["--cores", "2"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for p in run.unwrap().points {
        assert_eq!(p.status, Status::Ok, "{}: {:?}", p.id, p.reason);
        assert_eq!(p.devices_used, 0.5, "two LNC=2 cores");
        assert!(p.timer.as_deref().unwrap().starts_with("wall-per-core"));
    }
    let (o, _) = run_neuron(&tmp, &["--cores", "5"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--cores 5") && stderr(&o).contains("4"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn simulated_runs_never_land_in_results_runs() {
    let tmp = build(&["--workload", "matmul", "--dtype", "f32", "--param", "m=16"]);
    let o = bench(&[])
        .current_dir(tmp.path())
        .args(["--backend", "neuron", "--neff-dir", "neffs"])
        .args(&tmp.selection)
        .args(FAST)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!tmp.path().join("results/runs").exists());
    let dir = std::fs::read_dir(tmp.path().join("results/simulated"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert!(read_run(&dir.path()).unwrap().backend.simulated);
    assert!(stderr(&o).contains("results/simulated"));
}

#[test]
fn plan_writes_points_and_rejects_other_backends() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = tmp.path().join("plan.json");
    let o = bench(&[])
        .args([
            "plan",
            "--backend",
            "neuron",
            "--suite",
            "quick",
            "--workload",
            "train-mlp",
            "--out",
        ])
        .arg(&plan)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    assert_eq!(v["schema"], "bench.plan/1");
    assert_eq!(v["constants"]["train-mlp"]["lr"], 0.01);
    assert_eq!(v["constants"]["train-mlp"]["momentum"], 0.9);
    let ids: Vec<&str> = v["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "train-mlp/layers=2,width=256,batch=64,classes=10/f32",
            "train-mlp/layers=2,width=512,batch=64,classes=10/f32"
        ]
    );
    let o = bench(&[])
        .args(["plan", "--backend", "cpu", "--out"])
        .arg(&plan)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--backend neuron"));
    assert!(stderr(&o).contains("--backend cuda"));
    // A plan for the torch reference beside a GPU run: same points, its own next step.
    let o = bench(&[])
        .args([
            "plan",
            "--backend",
            "cuda",
            "--workload",
            "train-gpt",
            "--out",
        ])
        .arg(&plan)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("torch_reference.py"), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    assert_eq!(v["backend"], "cuda");
    assert_eq!(v["points"].as_array().unwrap().len(), 2);
}

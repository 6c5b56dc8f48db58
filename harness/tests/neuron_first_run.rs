//! What a first run on a Trainium instance depends on, modelled in nrt-sim and checked through
//! the real `bench` binary: LNC derived from the runtime's core count on a simulated
//! trn2.48xlarge (`NRT_SIM_INSTANCE`), its source recorded, chips per core following it, and
//! a manifest compiled for another LNC refused before loading; implicit async execution
//! refused; `NEURON_RT_VISIBLE_CORES` defaulted to the cores the run uses and `nrt_init` timed.
//! Every result is simulated.

mod neuron_support;

use harness::schema::Status;
use neuron_support::{build, run_neuron, stderr};

/// One small f32 matmul point.
const MATMUL: &[&str] = &["--workload", "matmul", "--dtype", "f32", "--param", "m=16"];

const TRN2_48XL: (&str, &str) = ("NRT_SIM_INSTANCE", "trn2.48xlarge");

#[test]
fn lnc_1_comes_from_128_cores_on_a_trn2_48xlarge() {
    let fx = build(MATMUL, &["--lnc", "1"]);
    let (o, run) = run_neuron(&fx, &[], &[TRN2_48XL, ("NRT_SIM_CORES", "128")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run = run.unwrap();
    let extra = &run.backend.extra;
    assert_eq!(extra["lnc"], "1");
    assert!(
        extra["lnc_source"].contains("runtime") && extra["lnc_source"].contains("128"),
        "{}",
        extra["lnc_source"]
    );
    assert_eq!(extra["instance_family"], "trn2");
    assert_eq!(extra["instance_size"], "48xlarge");
    assert_eq!(extra["chips"], "16");
    let p = &run.points[0];
    assert_eq!(p.status, Status::Ok, "{:?}", p.reason);
    assert_eq!(
        p.devices_used, 0.125,
        "one LNC=1 trn2 core is an eighth of a chip"
    );
}

#[test]
fn lnc_2_comes_from_64_cores_and_a_disagreeing_variable_is_noted() {
    let fx = build(MATMUL, &["--lnc", "2"]);
    let envs = [
        TRN2_48XL,
        ("NRT_SIM_CORES", "64"),
        ("NEURON_LOGICAL_NC_CONFIG", "1"),
    ];
    let (o, run) = run_neuron(&fx, &[], &envs);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run = run.unwrap();
    assert_eq!(run.backend.extra["lnc"], "2");
    assert!(run.backend.extra["lnc_source"].contains("64"));
    assert!(
        run.backend.extra["lnc_notes"].contains("NEURON_LOGICAL_NC_CONFIG says 1"),
        "{:?}",
        run.backend.extra.get("lnc_notes")
    );
    assert!(stderr(&o).contains("NEURON_LOGICAL_NC_CONFIG says 1"));
    assert_eq!(run.points[0].devices_used, 0.25);
}

#[test]
fn neffs_for_another_lnc_exit_2_before_loading() {
    let fx = build(MATMUL, &["--lnc", "2"]);
    let (o, run) = run_neuron(
        &fx,
        &[],
        &[
            TRN2_48XL,
            ("NRT_SIM_CORES", "128"),
            // Any nrt_load would fail: the refusal must come first.
            ("NRT_SIM_FAIL", "nrt_load:1:NRT_INVALID"),
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--lnc 2")
            && err.contains("LNC 1")
            && err.contains("NEURON_LOGICAL_NC_CONFIG=2"),
        "{err}"
    );
    assert!(!err.contains("nrt_load"), "refused before loading: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(run.is_none_or(|r| r.points.is_empty()));
}

#[test]
fn a_malformed_simulated_instance_is_a_clear_error() {
    let fx = build(MATMUL, &[]);
    let (o, _) = run_neuron(&fx, &[], &[("NRT_SIM_INSTANCE", "trn9.huge")]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("NRT_SIM_INSTANCE"), "{err}");
}

#[test]
fn implicit_async_execution_is_refused_naming_the_variable() {
    let fx = build(MATMUL, &[]);
    let var = "NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS";
    let (o, run) = run_neuron(&fx, &[], &[(var, "3")]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(var) && err.contains("enqueueing"), "{err}");
    assert!(run.is_none_or(|r| r.points.is_empty()));
    // 0 is synchronous: allowed, and recorded with the runtime's async capability.
    let (o, run) = run_neuron(&fx, &[], &[(var, "0")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let extra = run.unwrap().backend.extra;
    assert_eq!(extra[var], "0");
    assert!(
        extra["async_capability"].contains("runtime < 2.34"),
        "{extra:?}"
    );
}

#[test]
fn visible_cores_default_to_the_run_s_and_nrt_init_is_timed() {
    let fx = build(MATMUL, &[]);
    let slow_init = [
        ("NRT_SIM_CORES", "64"),
        ("NRT_SIM_INIT_US_PER_CORE", "2000"),
    ];
    let (o, run) = run_neuron(&fx, &[], &slow_init);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let extra = run.unwrap().backend.extra;
    assert!(
        extra["NEURON_RT_VISIBLE_CORES"].starts_with("0 (set by bench"),
        "{extra:?}"
    );
    assert_eq!(extra["reserved_cores"], "1");
    let bench_set: f64 = extra["nrt_init_s"].parse().unwrap();
    assert!(bench_set >= 0.002, "one core reset: {bench_set}");
    // The user's own setting is kept: here all 64 cores, each reset by nrt_init.
    let mut all = slow_init.to_vec();
    all.push(("NEURON_RT_VISIBLE_CORES", "0-63"));
    let (o, run) = run_neuron(&fx, &[], &all);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let extra = run.unwrap().backend.extra;
    assert_eq!(extra["NEURON_RT_VISIBLE_CORES"], "0-63 (set by the user)");
    assert_eq!(extra["reserved_cores"], "64");
    let user_set: f64 = extra["nrt_init_s"].parse().unwrap();
    assert!(user_set >= 0.128, "64 core resets: {user_set}");
    // --cores 3 reserves exactly three.
    let (o, run) = run_neuron(&fx, &["--cores", "3"], &slow_init);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let extra = run.unwrap().backend.extra;
    assert!(extra["NEURON_RT_VISIBLE_CORES"].starts_with("0-2 (set by bench"));
    assert_eq!(extra["reserved_cores"], "3");
}

#[test]
fn eight_cores_run_on_persistent_threads_and_train() {
    let sel = [
        "--workload",
        "matmul,train-mlp",
        "--dtype",
        "f32",
        "--param",
        "m=16",
        "--param",
        "width=16",
    ];
    let fx = build(&sel, &[]);
    let (o, run) = run_neuron(&fx, &["--cores", "8"], &[("NRT_SIM_CORES", "8")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run = run.unwrap();
    assert!(!run.points.is_empty());
    for p in &run.points {
        assert_eq!(p.status, Status::Ok, "{}: {:?}", p.id, p.reason);
        assert_eq!(p.devices_used, 2.0, "eight LNC=2 cores are two chips");
        assert!(p.timer.as_deref().unwrap().starts_with("wall-per-core"));
        if let Some(t) = &p.train {
            assert!(t.losses.len() >= t.checked_steps + 3);
        }
    }
    // An execute failing on one worker's core fails the point, and the run goes on.
    let (o, run) = run_neuron(
        &fx,
        &["--cores", "8"],
        &[
            ("NRT_SIM_CORES", "8"),
            ("NRT_SIM_FAIL", "nrt_execute:5:NRT_EXEC_NC_BUSY"),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let run = run.unwrap();
    let failed: Vec<_> = run
        .points
        .iter()
        .filter(|p| p.status == Status::Failed)
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("NRT_EXEC_NC_BUSY"));
}

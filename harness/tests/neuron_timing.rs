//! Device-side timing through the real `bench` binary on nrt-sim: with a simulated device
//! time per execute (`NRT_SIM_DEVICE_US`) the system trace times each sample (timer
//! `nrt_sys_trace`) and the host wall time goes to `samples_wall_s`; without it nrt-sim refuses
//! `nrt_sys_trace_start` and bench stays on the wall clock, saying why; `BENCH_NEURON_TIMER`
//! forces either. Every figure here is simulated, none a Trainium one.

mod neuron_support;

use harness::schema::{PointRecord, Status};
use neuron_support::{build, run_neuron, stderr};

const MATMUL: &[&str] = &["--workload", "matmul", "--dtype", "f32", "--param", "m=16"];
const TRAIN: &[&str] = &[
    "--workload",
    "train-mlp",
    "--dtype",
    "f32",
    "--param",
    "width=16",
];

const DEVICE_200: (&str, &str) = ("NRT_SIM_DEVICE_US", "200");
const LATENCY_300: (&str, &str) = ("NRT_SIM_LATENCY_US", "300");

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

fn ok(p: &PointRecord) {
    assert_eq!(p.status, Status::Ok, "{}: {:?}", p.id, p.reason);
}

#[test]
fn the_trace_times_the_device_and_the_wall_time_is_kept_beside_it() {
    let fx = build(MATMUL, &[]);
    let (o, run) = run_neuron(&fx, &[], &[DEVICE_200, LATENCY_300]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run = run.unwrap();
    let extra = &run.backend.extra;
    assert_eq!(extra["timer"], "nrt_sys_trace");
    assert!(
        extra["sys_trace_event_types"].contains("nc_exec_running"),
        "{extra:?}"
    );
    let p = &run.points[0];
    ok(p);
    assert_eq!(p.timer.as_deref(), Some("nrt_sys_trace"));
    let median_s = p.stats.as_ref().unwrap().median_s;
    assert!(
        (195e-6..260e-6).contains(&median_s),
        "device median {median_s} s, want about 200 µs"
    );
    assert_eq!(p.samples_wall_s.len(), p.samples_s.len());
    for (w, d) in p.samples_wall_s.iter().zip(&p.samples_s) {
        assert!(
            *w >= 500e-6,
            "wall {w} s: 300 µs host + 200 µs device at least"
        );
        assert!(w > d, "wall {w} s must exceed its device time {d} s");
    }
    let overhead: Vec<f64> = p
        .samples_wall_s
        .iter()
        .zip(&p.samples_s)
        .map(|(w, d)| w - d)
        .collect();
    eprintln!(
        "nrt-sim (simulated): device median {:.1} µs, wall median {:.1} µs, wall - device median {:.1} µs over {} samples",
        median_s * 1e6,
        median(&p.samples_wall_s) * 1e6,
        median(&overhead) * 1e6,
        p.samples_s.len()
    );
}

#[test]
fn without_a_device_time_the_trace_is_refused_and_the_wall_clock_says_why() {
    let fx = build(MATMUL, &[]);
    let (o, run) = run_neuron(&fx, &[], &[LATENCY_300]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run = run.unwrap();
    let extra = &run.backend.extra;
    assert_eq!(extra["timer"], "wall");
    let why = &extra["timer_reason"];
    assert!(
        why.contains("nrt_sys_trace_start") && why.contains("NRT_INVALID"),
        "{why}"
    );
    let p = &run.points[0];
    ok(p);
    assert_eq!(p.timer.as_deref(), Some("wall"));
    assert!(p.samples_wall_s.is_empty());
    assert!(p.stats.as_ref().unwrap().median_s >= 300e-6);
}

#[test]
fn the_timer_variable_forces_the_wall_clock_or_requires_the_trace() {
    let fx = build(MATMUL, &[]);
    let (o, run) = run_neuron(&fx, &[], &[DEVICE_200, ("BENCH_NEURON_TIMER", "wall")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run = run.unwrap();
    assert_eq!(run.backend.extra["timer"], "wall");
    assert!(run.backend.extra["timer_reason"].contains("BENCH_NEURON_TIMER=wall"));
    let p = &run.points[0];
    ok(p);
    assert_eq!(p.timer.as_deref(), Some("wall"));
    assert!(
        p.stats.as_ref().unwrap().median_s >= 200e-6,
        "the wall clock includes the device time"
    );

    let (o, run) = run_neuron(&fx, &[], &[("BENCH_NEURON_TIMER", "nrt_sys_trace")]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("BENCH_NEURON_TIMER=nrt_sys_trace") && err.contains("nrt_sys_trace_start"),
        "{err}"
    );
    assert!(run.is_none() || run.unwrap().points.is_empty());

    let (o, _) = run_neuron(&fx, &[], &[("BENCH_NEURON_TIMER", "gpu")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("BENCH_NEURON_TIMER=gpu"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn training_and_several_cores_are_timed_on_the_device_too() {
    let fx = build(TRAIN, &[]);
    let (o, run) = run_neuron(&fx, &[], &[DEVICE_200]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let p = &run.unwrap().points[0];
    ok(p);
    assert_eq!(p.timer.as_deref(), Some("nrt_sys_trace"));
    assert!(p.check.as_ref().unwrap().passed, "the losses still check");
    let m = p.stats.as_ref().unwrap().median_s;
    assert!((195e-6..260e-6).contains(&m), "{m}");
    assert!(p.samples_wall_s.iter().all(|&w| w >= 200e-6));

    let fx = build(MATMUL, &[]);
    let (o, run) = run_neuron(&fx, &["--cores", "2"], &[DEVICE_200]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let p = &run.unwrap().points[0];
    ok(p);
    assert!(
        p.timer
            .as_deref()
            .unwrap()
            .starts_with("nrt_sys_trace-per-core"),
        "{:?}",
        p.timer
    );
    let m = p.stats.as_ref().unwrap().median_s;
    // Two copies of 200 µs each at once: 100 µs per iteration across the cores.
    assert!((97e-6..130e-6).contains(&m), "{m}");
}

#[test]
fn the_quick_suite_stays_ok_on_the_device_timer() {
    let fx = build(&[], &[]);
    let (o, run) = run_neuron(&fx, &[], &[("NRT_SIM_DEVICE_US", "20")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run = run.unwrap();
    let mut timed = 0;
    for p in &run.points {
        if p.status == Status::Skipped {
            // Workloads without a Neuron lowering yet say so.
            assert!(
                p.reason.as_deref().is_some_and(|r| !r.is_empty()),
                "{}",
                p.id
            );
            continue;
        }
        ok(p);
        assert_eq!(p.timer.as_deref(), Some("nrt_sys_trace"), "{}", p.id);
        assert_eq!(p.samples_wall_s.len(), p.samples_s.len(), "{}", p.id);
        assert!(p.samples_s.iter().all(|&d| d >= 20e-6), "{}", p.id);
        assert!(
            p.samples_wall_s
                .iter()
                .zip(&p.samples_s)
                .all(|(w, d)| w > d),
            "{}: wall above device",
            p.id
        );
        timed += 1;
    }
    assert!(timed >= 15, "every lowered quick-suite point ran: {timed}");
}

#[test]
fn a_failing_trace_fetch_fails_the_point_and_names_the_call() {
    let fx = build(MATMUL, &[]);
    // Fetch 1 drains at prepare, 2 follows the gate's execute: 5 is during timing.
    let (o, run) = run_neuron(
        &fx,
        &[],
        &[
            DEVICE_200,
            ("NRT_SIM_FAIL", "nrt_sys_trace_fetch_events:5:NRT_FAILURE"),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let p = &run.unwrap().points[0];
    assert_eq!(p.status, Status::Failed);
    let why = p.reason.as_deref().unwrap();
    assert!(
        why.contains("nrt_sys_trace_fetch_events") && why.contains("NRT_FAILURE"),
        "{why}"
    );
}

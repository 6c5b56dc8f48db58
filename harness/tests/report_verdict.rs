//! The verdict rules of `bench report` through the real binary, on the hand-made runs in
//! tests/fixtures/verdict (constant samples, so every interval collapses onto its ratio and
//! every figure here is worked out by hand; not measurements): the best implementation per
//! side, workload coverage and `--allow-partial`, workload weighting, and each bad option as a
//! one-line error with exit status 2.
//!
//! Prices used throughout: p5.48xlarge on-demand $55.04/h for 8 GPUs (one GPU $6.88/h) and
//! `--price trn2.48xlarge=32` for 16 chips (one chip $2/h). Every point uses one device, so a
//! point's ratio is (6.88 · t_p5) ÷ (2 · t_trn2) = 3.44 · t_p5 ÷ t_trn2.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn bench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bench"));
    c.env_remove("RUST_BACKTRACE")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn fixture(name: &str) -> String {
    format!("tests/fixtures/verdict/{name}")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// `bench report` over fixture runs with the trn2 price and extra options.
fn report(out: &Path, runs: &[&str], extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec!["report".into()];
    args.extend(runs.iter().map(|r| fixture(r)));
    args.extend(["--out".into(), out.display().to_string()]);
    args.extend(["--price".into(), "trn2.48xlarge=32".into()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    bench().args(&args).output().expect("bench runs")
}

fn report_json(runs: &[&str], extra: &[&str]) -> Value {
    let tmp = tempfile::tempdir().unwrap();
    let o = report(tmp.path(), runs, extra);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    serde_json::from_str(&std::fs::read_to_string(tmp.path().join("report.json")).unwrap()).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The comparison of trn2.48xlarge against p5.48xlarge.
fn trn2_vs_p5(rep: &Value) -> &Value {
    rep["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["baseline_side"]["instance"] == "p5.48xlarge"
                && c["challenger_side"]["instance"] == "trn2.48xlarge"
        })
        .expect("a trn2 vs p5 comparison")
}

fn pair<'a>(c: &'a Value, id_start: &str) -> &'a Value {
    c["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["point_id"].as_str().unwrap().starts_with(id_start))
        .unwrap_or_else(|| panic!("no pair {id_start}"))
}

fn overall(c: &Value) -> (f64, f64, f64) {
    let o = &c["overall"];
    (f(&o["ratio"]), f(&o["low"]), f(&o["high"]))
}

#[test]
fn each_side_uses_its_fastest_implementation_per_point() {
    let rep = report_json(&["p5-bench", "p5-torch", "trn2"], &[]);
    let comparisons = rep["comparisons"].as_array().unwrap();
    assert_eq!(
        comparisons.len(),
        1,
        "bench and torch on one p5 are one side"
    );
    let c = trn2_vs_p5(&rep);
    assert_eq!(c["pairs"].as_array().unwrap().len(), 4, "one row per point");
    // matmul 1024: torch 1 ms beats bench 2 ms -> 3.44 · 1/1
    let p = pair(c, "matmul/m=1024");
    assert_eq!(p["baseline_implementation"], "torch");
    assert_eq!(p["baseline_run"], "p5-torch");
    assert!(close(f(&p["ratio"]["ratio"]), 3.44));
    // matmul 2048: bench 8 ms beats torch 10 ms -> 3.44 · 8/4 = 6.88
    let p = pair(c, "matmul/m=2048");
    assert_eq!(p["baseline_implementation"], "bench");
    assert!(close(f(&p["ratio"]["ratio"]), 6.88));
    // attention: torch 2 ms -> 3.44; train-mlp: only bench, 10 ms vs 5 ms -> 6.88
    assert!(close(f(&pair(c, "attention")["ratio"]["ratio"]), 3.44));
    assert_eq!(pair(c, "train-mlp")["baseline_implementation"], "bench");
    assert!(close(f(&pair(c, "train-mlp")["ratio"]["ratio"]), 6.88));
    // workloads: matmul sqrt(3.44 · 6.88) = 3.44·√2, attention 3.44, train-mlp 6.88;
    // overall (3.44·√2 · 3.44 · 6.88)^(1/3) = 3.44 · 2^(1/2) (constant samples: zero-width CI)
    let want = 3.44 * 2f64.sqrt();
    let (r, lo, hi) = overall(c);
    assert!(
        close(r, want) && close(lo, want) && close(hi, want),
        "{r} {lo} {hi}"
    );
    assert_eq!(c["verdict"], "SUPPORTED");
    // bench as a fraction of the best on the p5: (1/2 · 8/8 · 2/4 · 10/10)^(1/4) = 0.5^(1/2)
    let b = &c["baseline_side"];
    assert!(close(f(&b["bench_fraction_of_best"]), 0.5f64.sqrt()));
    assert_eq!(b["bench_fraction_points"], 4);
    assert!(
        c["challenger_side"]["bench_fraction_of_best"].is_null(),
        "bench only"
    );
    assert_eq!(c["coverage"]["workloads_paired"], 3);
    assert_eq!(c["coverage"]["workloads_total"], 3);
    let w = c["workloads"].as_array().unwrap();
    let names: Vec<&str> = w.iter().map(|x| x["workload"].as_str().unwrap()).collect();
    assert_eq!(names, ["matmul", "attention", "train-mlp"]);
    assert!(close(f(&w[0]["ratio"]), 3.44 * 2f64.sqrt()));
    assert_eq!(w[0]["points"], 2);
    // summary.csv names the implementation on each side
    let tmp = tempfile::tempdir().unwrap();
    let o = report(tmp.path(), &["p5-bench", "p5-torch", "trn2"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let csv = std::fs::read_to_string(tmp.path().join("summary.csv")).unwrap();
    let mut rd = csv::Reader::from_reader(csv.as_bytes());
    let header = rd.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 4);
    let impls: Vec<&str> = rows
        .iter()
        .map(|r| &r[col("baseline_implementation")])
        .collect();
    assert_eq!(impls, ["torch", "bench", "torch", "bench"]);
    assert!(rows
        .iter()
        .all(|r| &r[col("challenger_implementation")] == "bench"));
}

#[test]
fn implementation_option_restricts_the_choice() {
    // bench only: every p5 time is twice trn2's -> every ratio 6.88
    let rep = report_json(
        &["p5-bench", "p5-torch", "trn2"],
        &["--implementation", "bench"],
    );
    let c = trn2_vs_p5(&rep);
    assert!(c["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["baseline_implementation"] == "bench"));
    let (r, _, _) = overall(c);
    assert!(close(r, 6.88), "{r}");
    assert_eq!(rep["implementation"], "bench");
    // torch only: the torch run has no train-mlp, so coverage is 2 of 3 -> INCONCLUSIVE
    let rep = report_json(
        &["p5-bench", "p5-torch", "trn2"],
        &["--implementation", "torch"],
    );
    // the trn2 run is bench, not torch: no challenger side at all
    assert!(rep["comparisons"].as_array().unwrap().is_empty());
    assert!(rep["missing"][0]
        .as_str()
        .unwrap()
        .contains("with `--implementation torch`"));
}

#[test]
fn a_workload_that_did_not_pair_makes_the_verdict_inconclusive() {
    let rep = report_json(&["p5-failed", "trn2"], &[]);
    let c = trn2_vs_p5(&rep);
    // only matmul 1024 pairs (3.44 · 2/1 = 6.88, far above the claim), yet the verdict
    // covers workloads
    assert_eq!(c["pairs"].as_array().unwrap().len(), 1);
    assert!(close(overall(c).0, 6.88));
    assert_eq!(c["verdict"], "INCONCLUSIVE");
    assert_eq!(c["partial"], false);
    let cov = &c["coverage"];
    assert_eq!(
        (
            cov["workloads_paired"].as_u64(),
            cov["workloads_total"].as_u64()
        ),
        (Some(1), Some(3))
    );
    let missing = cov["missing"].as_array().unwrap();
    assert_eq!(missing.len(), 2, "{missing:?}");
    assert_eq!(missing[0]["workload"], "attention");
    assert_eq!(missing[0]["side"], "baseline");
    assert!(missing[0]["reason"]
        .as_str()
        .unwrap()
        .contains("failed on p5.48xlarge (run failed before timing: CUDA_ERROR_OUT_OF_MEMORY"));
    assert_eq!(missing[1]["workload"], "train-mlp");
    assert_eq!(missing[1]["reason"], "failed its check on p5.48xlarge");
    let reason = c["verdict_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("coverage: 1 of 3 workloads paired; attention failed on p5.48xlarge"),
        "{reason}"
    );
    assert!(
        reason.contains("train-mlp failed its check on p5.48xlarge"),
        "{reason}"
    );
    // the run overview counts the failed check as failed
    let run = rep["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "p5-failed")
        .unwrap();
    assert_eq!(
        (run["ok"].as_u64(), run["failed"].as_u64()),
        (Some(1), Some(2))
    );

    // --allow-partial: a verdict over matmul alone, labelled partial everywhere
    let tmp = tempfile::tempdir().unwrap();
    let o = report(tmp.path(), &["p5-failed", "trn2"], &["--allow-partial"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("SUPPORTED (partial)"), "{stdout}");
    let rep: Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("report.json")).unwrap())
            .unwrap();
    let c = trn2_vs_p5(&rep);
    assert_eq!(c["verdict"], "SUPPORTED");
    assert_eq!(c["partial"], true);
    let md = std::fs::read_to_string(tmp.path().join("report.md")).unwrap();
    assert!(md.contains("(partial)") && md.contains("Partial:"), "{md}");
}

#[test]
fn weights_set_the_workload_mix() {
    // matmul=1, attention=2, train-mlp=1 (default):
    // exp((ln(3.44·√2) + 2·ln 3.44 + ln 6.88) / 4) = 3.44 · 2^(1.5/4)
    let rep = report_json(
        &["p5-bench", "p5-torch", "trn2"],
        &["--weights", "matmul=1,attention=2"],
    );
    let c = trn2_vs_p5(&rep);
    let want = 3.44 * 2f64.powf(0.375);
    let (r, lo, hi) = overall(c);
    assert!(close(r, want) && close(lo, want) && close(hi, want), "{r}");
    let w = c["workloads"].as_array().unwrap();
    assert_eq!(w[1]["weight"], 2.0);
    assert_eq!(w[1]["weight_source"], "user");
    assert_eq!(w[2]["weight_source"], "default");
    assert_eq!(rep["weights"][1]["workload"], "attention");
    // a weight of 0 leaves train-mlp out of the mean and of the coverage count:
    // (3.44·√2 · 3.44)^(1/2) = 3.44 · 2^(1/4)
    let rep = report_json(
        &["p5-bench", "p5-torch", "trn2"],
        &["--weights", "train-mlp=0"],
    );
    let c = trn2_vs_p5(&rep);
    assert!(close(overall(c).0, 3.44 * 2f64.powf(0.25)));
    assert_eq!(c["coverage"]["workloads_total"], 2);
}

fn assert_one_line_error(o: &Output, names: &[&str]) {
    assert_eq!(o.status.code(), Some(2), "{}", stderr(o));
    let e = stderr(o);
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    for n in names {
        assert!(e.contains(n), "error should name {n}: {e}");
    }
    assert!(
        !e.contains("panicked") && !e.contains("internal error"),
        "{e}"
    );
}

#[test]
fn bad_options_are_one_line_errors_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = ["p5-bench", "trn2"];
    let bad = |extra: &[&str]| report(tmp.path(), &runs, extra);
    assert_one_line_error(
        &bad(&["--weights", "matmul=-1"]),
        &["--weights", "negative"],
    );
    assert_one_line_error(&bad(&["--weights", "matmul"]), &["--weights", "matmul"]);
    assert_one_line_error(
        &bad(&["--weights", "matmull=2"]),
        &["--weights", "matmull", "closest: matmul"],
    );
    assert_one_line_error(
        &bad(&["--weights", "matmul=0,attention=0,train-mlp=0"]),
        &["--weights", "weight 0"],
    );
    assert_one_line_error(
        &bad(&["--implementation", "nki"]),
        &["--implementation nki", "bench"],
    );
    assert_one_line_error(&bad(&["--implementation", ""]), &["--implementation"]);
    // no price for trn2: the error names its sourced rates
    let o = bench()
        .args(["report", &fixture("p5-bench"), &fixture("trn2"), "--out"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_one_line_error(
        &o,
        &["--price trn2.48xlarge=USD", "spot us-east-2 $23.06/h"],
    );
    // nothing was written for a refused report
    assert!(!tmp.path().join("report.json").exists());
}

#[test]
fn the_claim_comes_from_the_table_for_the_pair_of_platforms() {
    let rep = report_json(&["p5-bench", "trn2", "h200"], &[]);
    let comparisons = rep["comparisons"].as_array().unwrap();
    assert_eq!(comparisons.len(), 2, "trn2 against each GPU instance");
    for c in comparisons {
        assert_eq!(c["claim"]["low"], 1.3);
        assert_eq!(c["claim"]["origin"], "table");
        assert!(c["claim"]["quote"]
            .as_str()
            .unwrap()
            .contains("about 30% better price performance than comparable GPUs"));
    }
    assert_eq!(
        comparisons[1]["title"],
        "trn2.48xlarge (Trainium2) vs p5en.48xlarge (H200 SXM)"
    );
    // H200 vs H100: no claim, so a ratio and interval but no verdict. p5en $63.296/h for 8
    // (7.912 per GPU), H200 half the H100's time everywhere: 6.88·2 ÷ 7.912 on every point.
    let tmp = tempfile::tempdir().unwrap();
    let o = bench()
        .args([
            "report",
            &fixture("p5-bench"),
            &fixture("h200"),
            "--baseline",
            "p5.48xlarge",
            "--challenger",
            "p5en.48xlarge",
            "--out",
            tmp.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rep: Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("report.json")).unwrap())
            .unwrap();
    let c = &rep["comparisons"][0];
    assert_eq!(
        c["title"],
        "p5en.48xlarge (H200 SXM) vs p5.48xlarge (H100 SXM)"
    );
    assert!(c["claim"].is_null() && c["verdict"].is_null(), "{c}");
    assert!(close(overall(c).0, 6.88 * 2.0 / 7.912));
    assert!(c["verdict_reason"]
        .as_str()
        .unwrap()
        .contains("no claim for H200 SXM vs H100 SXM"));
    let md = std::fs::read_to_string(tmp.path().join("report.md")).unwrap();
    assert!(md.starts_with("# bench report: p5en.48xlarge (H200 SXM) vs p5.48xlarge (H100 SXM)"));
    assert!(!md.contains("Trainium2 chip"), "no Trainium claim quoted");
    let html = std::fs::read_to_string(tmp.path().join("report.html")).unwrap();
    assert!(html.contains(
        "<title>bench report: p5en.48xlarge (H200 SXM) vs p5.48xlarge (H100 SXM)</title>"
    ));
    let csv = std::fs::read_to_string(tmp.path().join("summary.csv")).unwrap();
    let mut rd = csv::Reader::from_reader(csv.as_bytes());
    let h = rd.headers().unwrap().clone();
    let vi = h.iter().position(|x| x == "verdict").unwrap();
    assert!(rd.records().all(|r| r.unwrap()[vi].is_empty()));
}

#[test]
fn claim_option_overrides_the_table_and_ranges_say_which_end_holds() {
    // overall 3.44·√2 = 4.865: a claim of 5 is REFUTED (zero-width interval below it)
    let rep = report_json(&["p5-bench", "p5-torch", "trn2"], &["--claim", "5"]);
    let c = trn2_vs_p5(&rep);
    assert_eq!(c["claim"]["origin"], "user");
    assert_eq!(c["verdict"], "REFUTED");
    // a range 4.5-4.9: SUPPORTED at the low end only; 4-4.5: holds at the high end
    let rep = report_json(&["p5-bench", "p5-torch", "trn2"], &["--claim", "4.5-4.9"]);
    let c = trn2_vs_p5(&rep);
    assert_eq!(c["verdict"], "SUPPORTED");
    assert_eq!(c["claim_outcome"], "holds at the low end");
    let rep = report_json(&["p5-bench", "p5-torch", "trn2"], &["--claim", "4-4.5"]);
    assert_eq!(trn2_vs_p5(&rep)["claim_outcome"], "holds at the high end");
}

#[test]
fn instance_of_prices_a_run_that_recorded_no_instance_type() {
    let rep = report_json(
        &["p5-bench", "trn2", "cpu-untyped"],
        &["--instance-of", "cpu-untyped=c7i.4xlarge"],
    );
    let run = rep["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "cpu-untyped")
        .unwrap();
    assert_eq!(run["instance"], "c7i.4xlarge");
    assert_eq!(run["instance_source"], "--instance-of");
    assert_eq!(run["price"]["usd_per_hour"], 0.714);
    // 0.714 $/h × 4 ms ÷ 3600 per iteration
    let cost = f(&run["points"][0]["cost_per_iteration_usd"]);
    assert!(close(cost, 0.714 * 4e-3 / 3600.0), "{cost}");
}

#[test]
fn price_and_instance_of_typos_are_one_line_errors_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = ["p5-bench", "trn2", "cpu-untyped"];
    let bad = |extra: &[&str]| report(tmp.path(), &runs, extra);
    let o = bad(&["--price", "p5.48xlage=40"]);
    assert_one_line_error(
        &o,
        &[
            "--price p5.48xlage=40",
            "no run uses",
            "closest: p5.48xlarge",
        ],
    );
    assert_one_line_error(
        &bad(&["--instance-of", "cpu-untypd=c7i.4xlarge"]),
        &[
            "--instance-of cpu-untypd=c7i.4xlarge",
            "closest: cpu-untyped",
        ],
    );
    assert_one_line_error(
        &bad(&["--instance-of", "p5-bench=p5en.48xlarge"]),
        &["already records instance type p5.48xlarge"],
    );
    assert_one_line_error(&bad(&["--instance-of", "cpu-untyped"]), &["--instance-of"]);
    assert_one_line_error(&bad(&["--claim", "1.4-1.3"]), &["--claim", "low end"]);
    assert_one_line_error(&bad(&["--claim", "lots"]), &["--claim 'lots'"]);
    assert!(!tmp.path().join("report.json").exists());
}

#[test]
fn every_pair_of_price_rows_is_a_scenario() {
    let rep = report_json(&["p5-bench", "p5-torch", "trn2"], &[]);
    let c = trn2_vs_p5(&rep);
    let s = c["scenarios"].as_array().unwrap();
    // p5: on-demand $55.04, capacity block $39.33; trn2: spot $23.06 (its on-demand row has no
    // price) and the --price $32: 2 × 2 scenarios
    assert_eq!(s.len(), 4, "{s:?}");
    let headline = 3.44 * 2f64.sqrt();
    let find = |b: &str, ch: &str| {
        s.iter()
            .find(|x| x["baseline_purchase_model"] == b && x["challenger_purchase_model"] == ch)
            .unwrap_or_else(|| panic!("no scenario {b} vs {ch}"))
    };
    let h = find("on-demand", "user --price");
    assert_eq!(h["headline"], true);
    assert!(close(f(&h["ratio"]), headline));
    assert_eq!(
        (
            f(&h["baseline_usd_per_hour"]),
            f(&h["challenger_usd_per_hour"])
        ),
        (55.04, 32.0)
    );
    // p5 capacity block vs trn2 spot: headline · (39.33 / 55.04) · (32 / 23.06)
    let x = find("capacity-block", "spot");
    let want = headline * (39.33 / 55.04) * (32.0 / 23.06);
    assert!(close(f(&x["ratio"]), want) && close(f(&x["low"]), want) && close(f(&x["high"]), want));
    assert_eq!(x["verdict"], "SUPPORTED");
    // a claim of 5: the headline (4.86) is REFUTED, on-demand vs spot (6.75) SUPPORTED
    let rep = report_json(&["p5-bench", "p5-torch", "trn2"], &["--claim", "5"]);
    let s = trn2_vs_p5(&rep)["scenarios"].as_array().unwrap().clone();
    let v = |b: &str, ch: &str| {
        s.iter()
            .find(|x| x["baseline_purchase_model"] == b && x["challenger_purchase_model"] == ch)
            .unwrap()["verdict"]
            .clone()
    };
    assert_eq!(v("on-demand", "user --price"), "REFUTED");
    assert_eq!(v("on-demand", "spot"), "SUPPORTED");
    assert_eq!(v("capacity-block", "user --price"), "REFUTED");
    // the coverage rule holds in every scenario
    let rep = report_json(&["p5-failed", "trn2"], &[]);
    let c = trn2_vs_p5(&rep);
    assert!(c["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["verdict"] == "INCONCLUSIVE"));
    // sensitivity data: 40% off to 60% more on each side, the ratio scaling with the price
    let rep = report_json(&["p5-bench", "p5-torch", "trn2"], &[]);
    let sens = &trn2_vs_p5(&rep)["sensitivity"];
    let ch = sens["challenger"].as_array().unwrap();
    assert!(close(f(&ch[0]["usd_per_hour"]), 32.0 * 0.6));
    assert!(close(f(&ch[0]["ratio"]), headline / 0.6));
    let b = sens["baseline"].as_array().unwrap();
    assert!(close(f(&b.last().unwrap()["usd_per_hour"]), 55.04 * 1.6));
}

#[test]
fn jobs_cost_dollars_and_instance_hours_on_each_side() {
    let rep = report_json(
        &["p5-bench", "p5-torch", "trn2"],
        &["--job", "matmul=1P", "--job", "attention=1M"],
    );
    let c = trn2_vs_p5(&rep);
    let jobs = c["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2);
    // matmul, FLOP per $ of each point: FLOP ÷ ($/h per device × seconds ÷ 3600)
    let rate = |flop: f64, usd_h: f64, s: f64| flop / (usd_h * s / 3600.0);
    let (f1, f2) = (2.0 * 1024f64.powi(3), 2.0 * 2048f64.powi(3));
    let b = (rate(f1, 6.88, 1e-3) * rate(f2, 6.88, 8e-3)).sqrt(); // torch 1 ms, bench 8 ms
    let ch = (rate(f1, 2.0, 1e-3) * rate(f2, 2.0, 4e-3)).sqrt();
    let m = &jobs[0];
    assert_eq!(
        (m["workload"].as_str(), m["item"].as_str()),
        (Some("matmul"), Some("FLOP"))
    );
    assert_eq!(f(&m["items"]), 1e15);
    assert!(close(f(&m["baseline_usd"]), 1e15 / b), "{m}");
    assert!(close(f(&m["challenger_usd"]), 1e15 / ch));
    assert!(close(f(&m["baseline_instance_hours"]), 1e15 / b / 55.04));
    assert!(close(f(&m["challenger_instance_hours"]), 1e15 / ch / 32.0));
    assert!(m["assumption"].as_str().unwrap().contains("linear scaling"));
    // attention: 1024 tokens per iteration, torch 2 ms on p5, 2 ms on trn2
    let a = &jobs[1];
    assert_eq!(a["item"], "tokens");
    assert!(close(
        f(&a["baseline_usd"]),
        1e6 / (1024.0 / (6.88 * 2e-3 / 3600.0))
    ));
    assert!(close(
        f(&a["challenger_usd"]),
        1e6 / (1024.0 / (2.0 * 2e-3 / 3600.0))
    ));
    // a workload that did not pair has no cost, and says so
    let rep = report_json(&["p5-failed", "trn2"], &["--job", "train-mlp=1000"]);
    let j = &trn2_vs_p5(&rep)["jobs"][0];
    assert!(j["baseline_usd"].is_null() && j["challenger_usd"].is_null());
    assert_eq!(j["item"], "samples");
    assert!(j["note"].as_str().unwrap().contains("no paired point"));
    // bad --job values
    let tmp = tempfile::tempdir().unwrap();
    let runs = ["p5-bench", "trn2"];
    assert_one_line_error(
        &report(tmp.path(), &runs, &["--job", "matmul=lots"]),
        &["--job 'matmul=lots'"],
    );
    assert_one_line_error(
        &report(tmp.path(), &runs, &["--job", "matmul=0"]),
        &["--job", "above 0"],
    );
    assert_one_line_error(
        &report(tmp.path(), &runs, &["--job", "atention=5"]),
        &["--job", "atention", "closest: attention"],
    );
}

#[test]
fn report_json_and_summary_csv_keep_their_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let o = report(
        tmp.path(),
        &["p5-bench", "p5-torch", "trn2"],
        &["--job", "attention=1M"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rep: Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(rep["schema"], "bench.report/1");
    let c = &rep["comparisons"][0];
    for key in [
        "verdict",
        "overall",
        "coverage",
        "scenarios",
        "jobs",
        "workloads",
        "sensitivity",
        "claim",
        "title",
    ] {
        assert!(c.get(key).is_some(), "comparisons[0] lacks {key}");
    }
    for key in ["ratio", "low", "high"] {
        assert!(c["overall"][key].is_number(), "overall.{key}");
    }
    for key in ["workloads_paired", "workloads_total", "missing"] {
        assert!(c["coverage"].get(key).is_some(), "coverage.{key}");
    }
    for key in [
        "baseline_purchase_model",
        "baseline_usd_per_hour",
        "challenger_purchase_model",
        "challenger_usd_per_hour",
        "ratio",
        "low",
        "high",
        "verdict",
    ] {
        assert!(c["scenarios"][0].get(key).is_some(), "scenarios[].{key}");
    }
    for key in [
        "workload",
        "items",
        "item",
        "baseline_usd",
        "challenger_usd",
        "baseline_instance_hours",
        "challenger_instance_hours",
    ] {
        assert!(c["jobs"][0].get(key).is_some(), "jobs[].{key}");
    }
    // summary.csv: params, cost per iteration and $ per 1M items on each side, by hand
    let csv = std::fs::read_to_string(tmp.path().join("summary.csv")).unwrap();
    let mut rd = csv::Reader::from_reader(csv.as_bytes());
    let header = rd.headers().unwrap().clone();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("summary.csv lacks {name}"))
    };
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    let num = |r: &csv::StringRecord, name: &str| r[col(name)].parse::<f64>().unwrap();
    let mm = &rows[0];
    assert_eq!(&mm[col("params")], "m=1024,n=1024,k=1024");
    assert!(close(
        num(mm, "baseline_cost_per_iteration_usd"),
        6.88 * 1e-3 / 3600.0
    ));
    assert!(close(
        num(mm, "challenger_cost_per_iteration_usd"),
        2.0 * 1e-3 / 3600.0
    ));
    let att = &rows[2];
    assert_eq!(&att[col("params")], "b=1,h=8,s=1024,d=64,causal=0");
    assert_eq!(&att[col("item")], "tokens");
    // attention: 1024 tokens per 2 ms iteration on both sides
    assert!(close(
        num(att, "baseline_usd_per_1m_items"),
        1e6 * (6.88 * 2e-3 / 3600.0) / 1024.0
    ));
    assert!(close(
        num(att, "challenger_usd_per_1m_items"),
        1e6 * (2.0 * 2e-3 / 3600.0) / 1024.0
    ));
}

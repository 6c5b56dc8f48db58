//! The inference part of `bench report` through the real binary, on the hand-made runs in
//! tests/fixtures/infer (constant samples and round invented FLOPs and bytes, so every figure
//! here is worked out by hand; not measurements) and on a real CPU decode run: $ per 1M input
//! tokens (prefill) and output tokens (decode), tokens/s per device and per instance, % of the
//! datasheet memory bandwidth and of the roofline, the decode-vs-batch chart, prefill and decode
//! as workloads of the coverage rule, `--weights decode=3` and `--job decode=1e12`.
//!
//! Prices: p5.48xlarge on-demand $55.04/h for 8 GPUs (one GPU $6.88/h), `--price
//! trn2.48xlarge=32` for 16 chips (one chip $2/h); every point uses one device, so a point's
//! ratio is 3.44 · t_p5 ÷ t_trn2. Datasheet bandwidth (results/devices.csv): H100 SXM 3350 GB/s,
//! Trainium2 2900 GB/s; bf16 peaks 989 and 667 TFLOP/s.

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
    format!("tests/fixtures/infer/{name}")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

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

/// summary.csv as (header, rows).
fn summary(dir: &Path) -> (csv::StringRecord, Vec<csv::StringRecord>) {
    let text = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let header = rd.headers().unwrap().clone();
    (header, rd.records().map(|r| r.unwrap()).collect())
}

struct Table {
    header: csv::StringRecord,
    rows: Vec<csv::StringRecord>,
}

impl Table {
    fn row(&self, id_start: &str) -> &csv::StringRecord {
        self.rows
            .iter()
            .find(|r| r[0].starts_with(id_start))
            .unwrap_or_else(|| panic!("no row {id_start}"))
    }
    fn cell<'a>(&self, r: &'a csv::StringRecord, name: &str) -> &'a str {
        let i = self
            .header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("summary.csv lacks {name}"));
        &r[i]
    }
    fn num(&self, r: &csv::StringRecord, name: &str) -> f64 {
        let c = self.cell(r, name);
        c.parse()
            .unwrap_or_else(|_| panic!("{name} is not a number: '{c}'"))
    }
}

const DECODE_1: &str = "decode/d_model=768,layers=12,heads=12,vocab=32768,batch=1,";
const DECODE_8: &str = "decode/d_model=768,layers=12,heads=12,vocab=32768,batch=8,";
const PREFILL: &str = "prefill/";

#[test]
fn prefill_and_decode_are_priced_per_million_tokens_with_bandwidth() {
    let tmp = tempfile::tempdir().unwrap();
    let o = report(tmp.path(), &["p5", "trn2"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (header, rows) = summary(tmp.path());
    let t = Table { header, rows };

    // prefill: 512 input tokens per iteration, p5 1 ms, trn2 2 ms
    let pf = t.row(PREFILL);
    assert_eq!(t.cell(pf, "item"), "input tokens");
    assert_eq!(t.cell(pf, "perf_unit"), "input tokens/$");
    let b_in = 1e6 * (6.88 * 1e-3 / 3600.0) / 512.0;
    let c_in = 1e6 * (2.0 * 2e-3 / 3600.0) / 512.0;
    assert!(close(t.num(pf, "baseline_usd_per_1m_input_tokens"), b_in));
    assert!(close(t.num(pf, "challenger_usd_per_1m_input_tokens"), c_in));
    assert!(close(t.num(pf, "baseline_usd_per_1m_items"), b_in));
    assert_eq!(t.cell(pf, "baseline_usd_per_1m_output_tokens"), "");
    // tokens/s: 512 / 1 ms = 512k per GPU, × 8 GPUs; 256k per chip, × 16 chips
    assert!(close(t.num(pf, "baseline_items_per_s_per_device"), 512e3));
    assert!(close(
        t.num(pf, "baseline_items_per_s_per_instance"),
        8.0 * 512e3
    ));
    assert!(close(t.num(pf, "challenger_items_per_s_per_device"), 256e3));
    assert!(close(
        t.num(pf, "challenger_items_per_s_per_instance"),
        16.0 * 256e3
    ));
    // 1e11 FLOP in 1 ms = 100 TFLOP/s of 989; 3e8 B in 1 ms = 300 GB/s of 3350; intensity
    // 333 FLOP/B × 3350 GB/s = 1117 TFLOP/s > 989: compute-bound, roofline = the FLOP peak
    assert!(close(
        t.num(pf, "baseline_pct_of_peak_flops"),
        100.0 * 100.0 / 989.0
    ));
    assert!(close(
        t.num(pf, "baseline_pct_of_peak_memory_bw"),
        100.0 * 300.0 / 3350.0
    ));
    assert_eq!(t.cell(pf, "baseline_roofline_bound"), "compute");
    assert!(close(
        t.num(pf, "baseline_pct_of_roofline"),
        100.0 * 100.0 / 989.0
    ));

    // decode batch 8: 8 output tokens per step, p5 0.25 ms, trn2 0.3 ms, 4e8 bytes, 2e9 FLOP
    let d8 = t.row(DECODE_8);
    assert_eq!(t.cell(d8, "item"), "output tokens");
    assert_eq!(t.cell(d8, "perf_unit"), "output tokens/$");
    let b_out = 1e6 * (6.88 * 2.5e-4 / 3600.0) / 8.0;
    let c_out = 1e6 * (2.0 * 3e-4 / 3600.0) / 8.0;
    assert!(close(t.num(d8, "baseline_usd_per_1m_output_tokens"), b_out));
    assert!(close(
        t.num(d8, "challenger_usd_per_1m_output_tokens"),
        c_out
    ));
    assert_eq!(t.cell(d8, "challenger_usd_per_1m_input_tokens"), "");
    assert!(close(
        t.num(d8, "baseline_items_per_s_per_device"),
        8.0 / 2.5e-4
    ));
    assert!(close(
        t.num(d8, "challenger_items_per_s_per_instance"),
        16.0 * 8.0 / 3e-4
    ));
    // bandwidth: 4e8 B / 0.25 ms = 1600 GB/s of 3350; 4e8 B / 0.3 ms = 1333.3 GB/s of 2900
    assert!(close(
        t.num(d8, "baseline_pct_of_peak_memory_bw"),
        100.0 * 1600.0 / 3350.0
    ));
    assert!(close(
        t.num(d8, "challenger_pct_of_peak_memory_bw"),
        100.0 * (4e8 / 3e-4 / 1e9) / 2900.0
    ));
    // FLOP roof: 2e9 / 0.25 ms = 8 TFLOP/s of 989; memory roof at 5 FLOP/B: 5 × 3350 GB/s =
    // 16.75 TFLOP/s < 989, so memory-bound and % of roofline = % of bandwidth
    assert!(close(
        t.num(d8, "baseline_pct_of_peak_flops"),
        100.0 * 8.0 / 989.0
    ));
    assert_eq!(t.cell(d8, "baseline_roofline_bound"), "memory");
    assert_eq!(t.cell(d8, "challenger_roofline_bound"), "memory");
    assert!(close(
        t.num(d8, "baseline_pct_of_roofline"),
        100.0 * 8.0 / 16.75
    ));
    // a non-inference row has neither token price
    let mm = t.row("matmul/");
    assert_eq!(t.cell(mm, "baseline_usd_per_1m_output_tokens"), "");
    assert_eq!(t.cell(mm, "baseline_usd_per_1m_input_tokens"), "");

    // the run tables and the pair tables say it in words
    let md = std::fs::read_to_string(tmp.path().join("report.md")).unwrap();
    // the card: each side's $ per 1M tokens, geometric means over the workload's points
    let gm3 = |a: f64, b: f64, c: f64| (a * b * c).powf(1.0 / 3.0);
    let per_1m = |usd_h: f64, s: f64, tokens: f64| 1e6 * usd_h * s / 3600.0 / tokens;
    let dec_c = gm3(
        per_1m(2.0, 2.5e-4, 1.0),
        per_1m(2.0, 3e-4, 8.0),
        per_1m(2.0, 8e-4, 64.0),
    );
    let card = md
        .lines()
        .find(|l| l.contains("Inference at these prices"))
        .expect("the card's inference line");
    assert!(
        card.contains(&format!(
            "prefill ${:.4} per 1M input tokens on trn2.48xlarge against ${:.4} on p5.48xlarge (1 paired point)",
            c_in, b_in
        )),
        "{card}"
    );
    assert!(
        card.contains(&format!(
            "decode ${:.2} per 1M output tokens on trn2.48xlarge",
            dec_c
        )) && card.contains("(3 paired points)"),
        "{card}"
    );
    for want in [
        "$ per 1M output tokens",
        "$ per 1M input tokens",
        "k output tokens/s per device",
        "% of datasheet memory BW",
        "% of roofline",
        "baseline % of memory BW",
        "| memory |",
        "| compute |",
    ] {
        assert!(md.contains(want), "report.md lacks {want}");
    }
    // report.json: the same figures per run point
    let rep: Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("report.json")).unwrap())
            .unwrap();
    let p5 = rep["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "p5")
        .unwrap();
    let d1 = p5["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"].as_str().unwrap().starts_with(DECODE_1))
        .unwrap();
    // 3e8 B / 0.2 ms = 1500 GB/s
    assert!(close(f(&d1["gb_per_s_per_device"]), 1500.0));
    assert!(close(f(&d1["peak_memory_bw_gb_s"]), 3350.0));
    assert!(close(
        f(&d1["pct_of_peak_memory_bw"]),
        100.0 * 1500.0 / 3350.0
    ));
}

#[test]
fn summary_loads_in_pandas_when_it_is_installed() {
    let has_pandas = Command::new("python3")
        .args(["-c", "import pandas"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_pandas {
        eprintln!("skipped: python3 with pandas is not installed (pip install pandas)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let o = report(tmp.path(), &["p5", "trn2"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let script = r#"
import sys, pandas as pd
d = sys.argv[1]
for df in (pd.read_csv(d + "/summary.csv"), pd.read_json(d + "/summary.json")):
    dec = df[df.workload == "decode"]
    assert len(dec) == 3, len(dec)
    for col in ("baseline_usd_per_1m_output_tokens", "challenger_items_per_s_per_device",
                "baseline_pct_of_peak_memory_bw", "challenger_pct_of_roofline"):
        assert pd.api.types.is_float_dtype(df[col]), (col, df[col].dtype)
        assert dec[col].notna().all(), col
    assert df[df.workload == "prefill"].baseline_usd_per_1m_input_tokens.notna().all()
    assert df[df.workload != "decode"].baseline_usd_per_1m_output_tokens.isna().all()
print("ok")
"#;
    let o = Command::new("python3")
        .args(["-c", script, &tmp.path().display().to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn decode_weights_and_job_costs_in_output_tokens() {
    // workload ratios: matmul 3.44·2, prefill 3.44·0.5, decode the geometric mean of
    // 3.44·(0.2/0.25), 3.44·(0.25/0.3), 3.44·(0.6/0.8)
    let d = 3.44 * (0.8f64 * (0.25 / 0.3) * 0.75).powf(1.0 / 3.0);
    let (mm, pf) = (3.44 * 2.0, 3.44 * 0.5);
    let rep = report_json(&["p5", "trn2"], &[]);
    let c = &rep["comparisons"][0];
    let w = c["workloads"].as_array().unwrap();
    let names: Vec<&str> = w.iter().map(|x| x["workload"].as_str().unwrap()).collect();
    assert_eq!(names, ["matmul", "prefill", "decode"]);
    assert!(close(f(&w[2]["ratio"]), d));
    assert!(close(
        f(&c["overall"]["ratio"]),
        (mm * pf * d).powf(1.0 / 3.0)
    ));
    // --weights decode=3: exp((ln mm + ln pf + 3 ln d) / 5)
    let rep = report_json(
        &["p5", "trn2"],
        &[
            "--weights",
            "decode=3",
            "--job",
            "decode=1e12",
            "--job",
            "prefill=1T",
        ],
    );
    let c = &rep["comparisons"][0];
    let want = ((mm.ln() + pf.ln() + 3.0 * d.ln()) / 5.0).exp();
    let o = &c["overall"];
    assert!(close(f(&o["ratio"]), want), "{o}");
    assert!(close(f(&o["low"]), want) && close(f(&o["high"]), want));
    assert_eq!(c["workloads"][2]["weight"], 3.0);
    assert_eq!(c["workloads"][2]["weight_source"], "user");
    // a year of output tokens: 1e12 ÷ the geometric mean of each point's tokens per $
    let per_usd = |tokens: f64, usd_h: f64, s: f64| tokens / (usd_h * s / 3600.0);
    let gm = |v: [f64; 3]| (v[0] * v[1] * v[2]).powf(1.0 / 3.0);
    let b = gm([
        per_usd(1.0, 6.88, 2e-4),
        per_usd(8.0, 6.88, 2.5e-4),
        per_usd(64.0, 6.88, 6e-4),
    ]);
    let ch = gm([
        per_usd(1.0, 2.0, 2.5e-4),
        per_usd(8.0, 2.0, 3e-4),
        per_usd(64.0, 2.0, 8e-4),
    ]);
    let jobs = c["jobs"].as_array().unwrap();
    let dj = &jobs[0];
    assert_eq!(dj["workload"], "decode");
    assert_eq!(dj["item"], "output tokens");
    assert_eq!(dj["points"], 3);
    assert!(close(f(&dj["baseline_usd"]), 1e12 / b), "{dj}");
    assert!(close(f(&dj["challenger_usd"]), 1e12 / ch));
    assert!(close(f(&dj["baseline_instance_hours"]), 1e12 / b / 55.04));
    assert!(close(f(&dj["challenger_instance_hours"]), 1e12 / ch / 32.0));
    let pj = &jobs[1];
    assert_eq!(pj["item"], "input tokens");
    assert!(close(
        f(&pj["baseline_usd"]),
        1e12 / per_usd(512.0, 6.88, 1e-3)
    ));
    // a misspelt inference workload is a one-line error naming the closest
    let tmp = tempfile::tempdir().unwrap();
    let o = report(tmp.path(), &["p5", "trn2"], &["--weights", "decod=3"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(e.contains("decod") && e.contains("closest: decode"), "{e}");
}

#[test]
fn coverage_counts_prefill_and_decode_as_workloads() {
    // trn2-no-decode: decode failed (batch 1) and skipped (batch 8) on the challenger
    let rep = report_json(&["p5", "trn2-no-decode"], &[]);
    let c = &rep["comparisons"][0];
    assert_eq!(c["coverage"]["workloads_total"], 3);
    assert_eq!(c["coverage"]["workloads_paired"], 2);
    assert_eq!(c["verdict"], "INCONCLUSIVE");
    let m = &c["coverage"]["missing"][0];
    assert_eq!(m["workload"], "decode");
    assert_eq!(m["side"], "challenger");
    let why = m["reason"].as_str().unwrap();
    assert!(
        why.contains("failed on trn2.48xlarge (run failed before timing: out of device memory")
            && why.contains("skipped on trn2.48xlarge (no NEFF"),
        "{why}"
    );
    assert!(c["verdict_reason"]
        .as_str()
        .unwrap()
        .contains("--allow-partial"));
    // --allow-partial: the verdict over matmul and prefill, labelled partial:
    // (3.44·2 · 3.44·0.5)^(1/2) = 3.44
    let rep = report_json(&["p5", "trn2-no-decode"], &["--allow-partial"]);
    let c = &rep["comparisons"][0];
    assert_eq!(c["partial"], true);
    assert_eq!(c["verdict"], "SUPPORTED");
    assert!(close(f(&c["overall"]["ratio"]), 3.44));
    // weight 0 takes decode out of the count
    let rep = report_json(&["p5", "trn2-no-decode"], &["--weights", "decode=0"]);
    let c = &rep["comparisons"][0];
    assert_eq!(c["coverage"]["workloads_total"], 2);
    assert_eq!(c["partial"], false);
    assert_eq!(c["verdict"], "SUPPORTED");
    // a job for the unpaired workload has no cost and says why
    let rep = report_json(&["p5", "trn2-no-decode"], &["--job", "decode=1e12"]);
    let j = &rep["comparisons"][0]["jobs"][0];
    assert!(
        j["baseline_usd"].is_null() && j["challenger_usd"].is_null(),
        "{j}"
    );
    assert_eq!(j["item"], "output tokens");
}

#[test]
fn the_decode_chart_is_against_batch_with_the_roofline_ceiling() {
    let tmp = tempfile::tempdir().unwrap();
    let o = report(tmp.path(), &["p5", "trn2"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let charts = tmp.path().join("charts");
    let svg = std::fs::read_to_string(charts.join("decode_vs_batch.svg")).unwrap();
    assert!(charts.join("decode_vs_batch.png").is_file());
    for want in [
        "batch (sequences)",
        "output tokens/s per device",
        "p5.48xlarge cuda bf16 context 2048",
        "trn2.48xlarge neuron bf16 context 2048",
        "roofline ceiling",
        "d_model=768,layers=12,heads=12,vocab=32768",
    ] {
        assert!(svg.contains(want), "decode_vs_batch.svg lacks {want}");
    }
    // three batches per line: two solid polylines with three points each, two dashed ceilings
    let polylines = svg.matches("<polyline").count();
    assert!(polylines >= 2, "{polylines} polylines");
    // decode is not in the FLOP-vs-size chart, prefill is
    let tp = std::fs::read_to_string(charts.join("throughput_vs_size.svg")).unwrap();
    // (plotters writes a panel caption as its own line inside <text>)
    assert!(tp.contains("\nprefill\n") && !tp.contains("\ndecode\n"));
    let html = std::fs::read_to_string(tmp.path().join("report.html")).unwrap();
    assert!(html.contains("Decode: output tokens/s per device against batch"));
    // a report with no decode point draws no decode chart and says nothing about it
    let tmp = tempfile::tempdir().unwrap();
    let o = bench()
        .args([
            "report",
            "tests/fixtures/verdict/p5-bench",
            "tests/fixtures/verdict/trn2",
        ])
        .args(["--price", "trn2.48xlarge=32", "--out"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!tmp.path().join("charts/decode_vs_batch.svg").exists());
    let md = std::fs::read_to_string(tmp.path().join("report.md")).unwrap();
    assert!(!md.contains("decode_vs_batch") && !md.contains("Decode: output tokens/s"));
}

#[test]
fn a_real_cpu_decode_run_reports_tokens_and_bandwidth() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let o = bench()
        .args([
            "run",
            "--backend",
            "cpu",
            "--suite",
            "quick",
            "--workload",
            "decode",
        ])
        .args([
            "--dtype",
            "f32",
            "--instance",
            "c7i.4xlarge",
            "--budget",
            "0.2",
        ])
        .args([
            "--warmup",
            "0.01",
            "--min-samples",
            "3",
            "--max-samples",
            "20",
        ])
        .args(["--report", "--out"])
        .arg(&runs)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run_dir = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let rep: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("report/report.json")).unwrap())
            .unwrap();
    let pts = rep["runs"][0]["points"].as_array().unwrap();
    assert_eq!(pts.len(), 2, "quick decode f32: batch 1 and 8");
    for p in pts {
        let (t, bytes) = (f(&p["median_s"]), f(&p["bytes"]));
        assert!(bytes > 0.0, "the CPU backend records decode's bytes");
        assert_eq!(p["item"], "output tokens");
        // c7i.4xlarge: the whole CPU is one device, so per instance = per device
        assert!(close(
            f(&p["items_per_s_per_instance"]),
            f(&p["items_per_s_per_device"])
        ));
        assert!(close(f(&p["gb_per_s_per_device"]), bytes / t / 1e9));
        assert!(
            p["pct_of_peak_memory_bw"].is_null(),
            "no CPU row in devices.csv"
        );
        assert!(f(&p["usd_per_million_items"]) > 0.0);
    }
    assert!(run_dir.join("report/charts/decode_vs_batch.svg").is_file());
    // nothing pairs in a CPU-only report: points.csv has every point of the run
    let text = std::fs::read_to_string(run_dir.join("report/points.csv")).unwrap();
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let header = rd.headers().unwrap().clone();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2);
    for (r, p) in rows.iter().zip(pts) {
        assert_eq!(&r[col("point_id")], p["id"].as_str().unwrap());
        assert_eq!(&r[col("instance")], "c7i.4xlarge");
        assert_eq!(&r[col("item")], "output tokens");
        let num = |n: &str| r[col(n)].parse::<f64>().unwrap();
        assert!(close(
            num("items_per_s_per_device"),
            f(&p["items_per_s_per_device"])
        ));
        assert!(close(
            num("usd_per_1m_output_tokens"),
            f(&p["usd_per_million_items"])
        ));
        assert_eq!(&r[col("usd_per_1m_input_tokens")], "");
        assert_eq!(&r[col("pct_of_peak_memory_bw")], "");
    }
}

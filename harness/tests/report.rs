//! `bench report` and `bench prices` through the real binary, on the hand-made fixtures in
//! tests/fixtures (not measurements): the golden markdown, every output file and its validity
//! (PNG signature, SVG well-formed XML, CSV/JSON columns, self-contained HTML), the report with
//! no Trainium run, and each bad input as a one-line error with exit status 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bench"));
    c.env_remove("RUST_BACKTRACE")
        .env("SOURCE_DATE_EPOCH", "1795693486")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn run(args: &[&str]) -> Output {
    bench().args(args).output().expect("bench runs")
}

fn fixture(name: &str) -> String {
    format!("tests/fixtures/{name}")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn full_report(out: &Path) -> Output {
    run(&[
        "report",
        &fixture("cuda-p5"),
        &fixture("neuron-trn2"),
        &fixture("neuron-sim"),
        &fixture("cpu-unpriced"),
        "--out",
        out.to_str().unwrap(),
        "--price",
        "trn2.48xlarge=30",
    ])
}

/// A minimal XML well-formedness check: tags balance and nest, attributes are quoted.
fn well_formed_xml(text: &str) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        rest = &rest[start..];
        if let Some(r) = rest.strip_prefix("<?") {
            rest = &r[r.find("?>").ok_or("unclosed <?")? + 2..];
            continue;
        }
        if let Some(r) = rest.strip_prefix("<!--") {
            rest = &r[r.find("-->").ok_or("unclosed comment")? + 3..];
            continue;
        }
        if let Some(r) = rest.strip_prefix("<!") {
            rest = &r[r.find('>').ok_or("unclosed <!")? + 1..];
            continue;
        }
        let end = rest.find('>').ok_or("unclosed tag")?;
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if tag.matches('"').count() & 1 == 1 {
            return Err(format!("unbalanced quotes in <{tag}>"));
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack
                .pop()
                .ok_or(format!("</{name}> without an open tag"))?;
            if open != name.trim() {
                return Err(format!("</{name}> closes <{open}>"));
            }
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().ok_or("empty tag")?;
            stack.push(name.to_string());
        }
    }
    if stack.is_empty() {
        Ok(())
    } else {
        Err(format!("unclosed: {stack:?}"))
    }
}

#[test]
fn xml_checker_catches_broken_svg() {
    assert!(well_formed_xml("<svg a=\"1\"><g><rect/></g></svg>").is_ok());
    assert!(well_formed_xml("<svg><g></svg>").is_err());
    assert!(well_formed_xml("<svg><rect a=\"1/></svg>").is_err());
    assert!(well_formed_xml("<svg>").is_err());
}

#[test]
fn report_writes_every_output_and_valid_charts() {
    let tmp = tempfile::tempdir().unwrap();
    let o = full_report(tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("trn2.48xlarge (Trainium2) vs p5.48xlarge (H100 SXM)"),
        "{stdout}"
    );
    for stem in [
        "perf_per_usd",
        "ratio_vs_size",
        "throughput_vs_size",
        "sensitivity",
    ] {
        let png = std::fs::read(tmp.path().join(format!("charts/{stem}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{stem}.png");
        assert!(png.len() > 10_000, "{stem}.png is suspiciously small");
        let svg = std::fs::read_to_string(tmp.path().join(format!("charts/{stem}.svg"))).unwrap();
        assert!(svg.contains("<svg"), "{stem}.svg");
        well_formed_xml(&svg).unwrap_or_else(|e| panic!("{stem}.svg: {e}"));
        assert!(svg.contains("<text"), "{stem}.svg has no text");
    }
    let html = std::fs::read_to_string(tmp.path().join("report.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 4, "charts inlined");
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    assert!(
        html.contains("<span class=\"badge\">REFUTED</span>")
            || html.contains("<span class=\"badge\">INCONCLUSIVE</span>")
            || html.contains("<span class=\"badge\">SUPPORTED</span>")
    );

    // summary.csv: the DESIGN.md columns first, one row per paired point
    let csv = std::fs::read_to_string(tmp.path().join("summary.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    let design = "point_id,baseline_run,challenger_run,baseline_instance,challenger_instance,baseline_usd_per_hour,challenger_usd_per_hour,baseline_perf_per_usd,challenger_perf_per_usd,ratio,ratio_ci95_low,ratio_ci95_high,claim,verdict";
    assert!(header.starts_with(design), "{header}");
    assert_eq!(csv.lines().count(), 1 + 5);
    let width = header.split(',').count();
    let mut rd = csv::Reader::from_reader(csv.as_bytes());
    for rec in rd.records() {
        assert_eq!(rec.unwrap().len(), width);
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("summary.json")).unwrap())
            .unwrap();
    let rows = json.as_array().expect("summary.json is an array of rows");
    assert_eq!(rows.len(), 5);
    for key in design.split(',') {
        assert!(rows[0].get(key).is_some(), "summary.json lacks {key}");
    }
    let v = rows[0]["verdict"].as_str().unwrap();
    assert!(["SUPPORTED", "REFUTED", "INCONCLUSIVE"].contains(&v));
    assert!(tmp.path().join("report.json").is_file());
}

#[test]
fn markdown_matches_the_golden_file() {
    let tmp = tempfile::tempdir().unwrap();
    let o = full_report(tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The footer names this build's commit and version: masked, so the golden file holds.
    let got = std::fs::read_to_string(tmp.path().join("report.md"))
        .unwrap()
        .replace(env!("BENCH_GIT_COMMIT"), "COMMIT")
        .replace(
            &format!("bench {} (", env!("CARGO_PKG_VERSION")),
            "bench VERSION (",
        );
    let golden: PathBuf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden/report.md");
    if std::env::var_os("BENCH_UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &got).unwrap();
    }
    let want = std::fs::read_to_string(&golden).expect(
        "golden file (BENCH_UPDATE_GOLDEN=1 cargo test -p harness --test report writes it)",
    );
    if got != want {
        let line = got
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(got.lines().count().min(want.lines().count()));
        panic!(
            "report.md differs from the golden file at line {}:\n got: {:?}\nwant: {:?}",
            line + 1,
            got.lines().nth(line),
            want.lines().nth(line)
        );
    }
}

#[test]
fn no_trainium_run_says_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(&[
        "report",
        &fixture("cuda-p5"),
        "--out",
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let md = std::fs::read_to_string(tmp.path().join("report.md")).unwrap();
    assert!(md.contains("> **NO VERDICT**"), "{md}");
    assert!(md.contains("No challenger run"), "{md}");
    assert!(md.contains("bench --backend neuron"), "{md}");
    assert!(
        md.contains("Datasheet-only comparison (NOT a measurement)"),
        "{md}"
    );
    assert!(md.contains("--price trn2.48xlarge=USD"), "{md}");
    let csv = std::fs::read_to_string(tmp.path().join("summary.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1, "no paired rows: {csv}");
    // the unpriced CPU run explains how to price it
    let o = run(&[
        "report",
        &fixture("cpu-unpriced"),
        "--out",
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let md = std::fs::read_to_string(tmp.path().join("report.md")).unwrap();
    assert!(md.contains("re-run with `--instance TYPE`"), "{md}");
}

fn assert_one_line_error(o: &Output, names: &str) {
    assert_eq!(o.status.code(), Some(2), "{}", stderr(o));
    let e = stderr(o);
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(e.contains(names), "error should name {names}: {e}");
    assert!(
        !e.contains("panicked") && !e.contains("internal error"),
        "{e}"
    );
}

#[test]
fn bad_inputs_are_one_line_errors_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().to_str().unwrap();
    for bad in ["bad-truncated", "bad-schema", "bad-malformed"] {
        let o = run(&["report", &fixture(bad), "--out", out]);
        assert_one_line_error(&o, &format!("{bad}/run.json"));
    }
    let o = run(&["report", &fixture("bad-schema"), "--out", out]);
    assert!(stderr(&o).contains("bench.run/9"));
    // an instance with no price
    let o = run(&[
        "report",
        &fixture("cuda-p5"),
        &fixture("neuron-trn2"),
        "--out",
        out,
    ]);
    assert_one_line_error(&o, "trn2.48xlarge");
    assert!(stderr(&o).contains("--price trn2.48xlarge=USD"));
    // a non-numeric --price, for report and prices
    let o = run(&[
        "report",
        &fixture("cuda-p5"),
        "--out",
        out,
        "--price",
        "trn2.48xlarge=cheap",
    ]);
    assert_one_line_error(&o, "trn2.48xlarge=cheap");
    let o = run(&["prices", "--price", "p5.48xlarge"]);
    assert_one_line_error(&o, "p5.48xlarge");
    // a missing path and a broken --prices file
    let o = run(&["report", "tests/fixtures/nope", "--out", out]);
    assert_one_line_error(&o, "tests/fixtures/nope");
    let broken = tmp.path().join("prices.csv");
    std::fs::write(&broken, "instance,usd_per_hour\nx,1\n").unwrap();
    let o = run(&["prices", "--prices", broken.to_str().unwrap()]);
    assert_one_line_error(&o, "prices.csv");
}

#[test]
fn prices_prints_the_table_in_use() {
    let o = run(&["prices"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    let trn2 = s
        .lines()
        .find(|l| l.starts_with("trn2.48xlarge") && l.contains("on-demand"))
        .unwrap();
    assert!(trn2.contains("UNKNOWN"), "{trn2}");
    assert!(s
        .lines()
        .any(|l| l.starts_with("p5.48xlarge") && l.contains("55.04")));
    let o = run(&["prices", "--price", "trn2.48xlarge=35.76"]);
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("35.76 (--price)"), "{s}");
}

#[test]
fn run_with_report_writes_the_report_beside_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(&[
        "--backend",
        "cpu",
        "--out",
        tmp.path().to_str().unwrap(),
        "--report",
        "--workload",
        "matmul",
        "--dtype",
        "f32",
        "--param",
        "m=64",
        "--budget",
        "0.05",
        "--warmup",
        "0.01",
        "--min-samples",
        "3",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let dir = std::fs::read_dir(tmp.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let md = std::fs::read_to_string(dir.join("report/report.md")).unwrap();
    assert!(md.contains("matmul/m=64,n=64,k=64/f32"), "{md}");
    assert!(dir.join("report/charts/throughput_vs_size.png").is_file());
}

//! Out-of-range and malformed values in run files, through the real binary: `bench report`
//! (and `bench run --resume`) stop with exit 2 and one line naming the file, the JSON path of
//! the field (`points[3].devices_used`) and the point, for zero, negative, non-finite,
//! subnormal and absurd times, devices used, FLOPs and item rates, devices used above the
//! instance's accelerator count, repeated point ids, wrong types and missing fields; and
//! `bench report` never spins on extreme values it accepts or on an extreme `--price`. The
//! files are copies of the hand-written fixtures in tests/fixtures (not measurements), edited.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn fixture(name: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{name}/run.json"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn put(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("run.json"), serde_json::to_string_pretty(v).unwrap()).unwrap();
    d.join("run.json")
}

/// Runs bench with `args`; fails the test if it runs longer than `limit` (a spin).
fn bench_within(args: &[&str], limit: Duration) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("bench {args:?} ran past {limit:?}: it spins");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let o = child.wait_with_output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn report(tmp: &Path, run: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let trn2 = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/neuron-trn2");
    let out = tmp.join("report");
    let mut args = vec![
        "report",
        run.to_str().unwrap(),
        trn2.to_str().unwrap(),
        "--price",
        "trn2.48xlarge=35.76",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    bench_within(&args, Duration::from_secs(60))
}

#[test]
fn out_of_range_values_name_the_file_the_json_path_and_the_point() {
    let tmp = tempfile::tempdir().unwrap();
    let base = fixture("cuda-p5");
    let id3 = base["points"][3]["id"].as_str().unwrap().to_string();
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/points/3/devices_used",
            json!(0.0),
            "points[3].devices_used is 0",
        ),
        (
            "/points/3/devices_used",
            json!(-1.0),
            "points[3].devices_used is -1",
        ),
        ("/points/3/devices_used", json!(1e-310), "subnormal"),
        (
            "/points/3/devices_used",
            json!(1e-300),
            "points[3].devices_used is 1e-300",
        ),
        (
            "/points/3/devices_used",
            json!(16.0),
            "p5.48xlarge has 8 accelerators",
        ),
        ("/points/3/flops", json!(0), "points[3].flops is 0"),
        (
            "/points/3/flops",
            json!(-2e9),
            "points[3].flops is -2000000000",
        ),
        ("/points/3/flops", json!(1e300), "points[3].flops is 1e300"),
        (
            "/points/3/samples_s/2",
            json!(0.0),
            "points[3].samples_s[2] is 0",
        ),
        (
            "/points/3/samples_s/0",
            json!(-1e-3),
            "points[3].samples_s[0] is -0.001",
        ),
        ("/points/3/samples_s/1", json!(5e-324), "subnormal"),
        (
            "/points/3/stats/median_s",
            json!(0.0),
            "points[3].stats.median_s is 0",
        ),
        (
            "/points/3/throughput/items_per_s",
            json!(0.0),
            "points[3].throughput.items_per_s is 0",
        ),
        (
            "/points/3/throughput/flop_per_s",
            json!(-5.0),
            "points[3].throughput.flop_per_s is -5",
        ),
        ("/points/3/stats/n", json!(0), "points[3].stats.n is 0"),
        (
            "/points/3/one_off_s/load",
            json!(-0.5),
            "points[3].one_off_s.load is -0.5",
        ),
        // JSON has no NaN or infinity: a non-finite value reaches a file as null or as a
        // number too large for a double, both of which are named by path.
        (
            "/points/3/devices_used",
            Value::Null,
            "points[3].devices_used (point matmul/m=4096,n=4096,k=4096/f32): invalid type: null, expected f64",
        ),
        (
            "/points/3/samples_s/4",
            Value::Null,
            "points[3].samples_s[4] (point matmul/m=4096,n=4096,k=4096/f32): invalid type: null, expected f64",
        ),
        (
            "/points/3/flops",
            json!("many"),
            "points[3].flops (point matmul/m=4096,n=4096,k=4096/f32): invalid type: string",
        ),
        (
            "/points/3/stats/n",
            json!(-3),
            "points[3].stats.n (point matmul/m=4096,n=4096,k=4096/f32): invalid value",
        ),
    ];
    for (i, (ptr, value, needle)) in cases.into_iter().enumerate() {
        let mut v = base.clone();
        *v.pointer_mut(ptr).unwrap() = value.clone();
        let file = put(tmp.path(), &format!("case{i}"), &v);
        let (code, err) = report(tmp.path(), &file, &[]);
        assert_eq!(code, Some(2), "{ptr}={value}: {err}");
        assert!(
            err.contains(needle),
            "{ptr}={value}: {needle:?} not in {err}"
        );
        assert!(err.contains(file.to_str().unwrap()), "{err}");
        assert!(err.contains(&format!("(point {id3})")), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }

    // A number too large for a double, a repeated point id, a missing field.
    let mut text = serde_json::to_string_pretty(&base).unwrap();
    text = text.replacen("\"devices_used\": 1.0", "\"devices_used\": 1e999", 1);
    let d = tmp.path().join("huge");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("run.json"), &text).unwrap();
    let (code, err) = report(tmp.path(), &d.join("run.json"), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("number out of range") && err.contains("in points[0].devices_used"),
        "{err}"
    );

    let mut v = base.clone();
    v["points"][4]["id"] = v["points"][1]["id"].clone();
    let file = put(tmp.path(), "dup", &v);
    let (code, err) = report(tmp.path(), &file, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("points[4].id") && err.contains("repeats points[1].id"),
        "{err}"
    );

    let mut v = base.clone();
    v["points"][2].as_object_mut().unwrap().remove("dtype");
    let file = put(tmp.path(), "missing", &v);
    let (code, err) = report(tmp.path(), &file, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("points[2] (point ") && err.contains("missing field `dtype`"),
        "{err}"
    );

    // --resume reads the same way.
    let mut v = base.clone();
    v["points"][0]["devices_used"] = json!(0.0);
    let file = put(tmp.path(), "resume", &v);
    let (code, err) = bench_within(
        &["run", "--resume", file.parent().unwrap().to_str().unwrap()],
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("points[0].devices_used is 0"), "{err}");
}

#[test]
fn extreme_accepted_values_and_prices_never_make_the_report_spin() {
    let tmp = tempfile::tempdir().unwrap();
    // The edges of what a run file may hold: picosecond samples of a huge FLOP count on a
    // millionth of a device.
    let mut v = fixture("cuda-p5");
    for p in v["points"].as_array_mut().unwrap() {
        if p["status"] != "ok" {
            continue;
        }
        p["devices_used"] = json!(1e-6);
        p["flops"] = json!(1e30);
        let n = p["samples_s"].as_array().unwrap().len();
        p["samples_s"] = json!(vec![1e-12; n]);
        for k in ["median_s", "mean_s", "ci95_low_s", "ci95_high_s"] {
            p["stats"][k] = json!(1e-12);
        }
        p["throughput"]["flop_per_s"] = json!(1e27);
        p["throughput"]["items_per_s"] = json!(1e12);
    }
    let file = put(tmp.path(), "edge", &v);
    let (code, err) = report(tmp.path(), &file, &[]);
    assert!(matches!(code, Some(0) | Some(2)), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let cuda = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cuda-p5/run.json");
    // Prices that would overflow the ratios are refused with the value named.
    for price in [
        "trn2.48xlarge=1e-300",
        "trn2.48xlarge=1e300",
        "p5.48xlarge=0.00000001",
    ] {
        let (code, err) = report(tmp.path(), &cuda, &["--price", price]);
        assert_eq!(code, Some(2), "{price}: {err}");
        assert!(err.contains(price), "{err}");
    }
    // Accepted extremes of the price and the claim finish.
    for extra in [
        ["--price", "trn2.48xlarge=0.0001"],
        ["--price", "p5.48xlarge=1000000"],
        ["--claim", "1e300"],
        ["--claim", "1e-300"],
    ] {
        let (code, err) = report(tmp.path(), &cuda, &extra);
        assert_eq!(code, Some(0), "{extra:?}: {err}");
    }
}

//! The bodies of the fuzz targets: `fuzz/` runs them under cargo-fuzz (nightly, libFuzzer) and
//! `harness/tests/fuzz_smoke.rs` drives them on stable from the seed corpus in `fuzz/seeds/`.
//! Each takes arbitrary bytes, feeds them to one reader of user input the way bench does, and
//! checks what bench relies on afterwards: an accepted value is in range and survives the uses
//! bench makes of it; a rejection is an error naming the file (and row or field) or the option
//! and the value. A panic, a hang or a broken check is a bug; the asserts here are the fuzzers'
//! oracle, not error handling: bench itself never calls this module.

use std::path::Path;
use std::sync::OnceLock;

use backends::neuron::manifest::{Manifest, MAX_TENSOR_BYTES, SCHEMA as MANIFEST_SCHEMA};

use crate::report::args::{merge_weights, parse_claim, parse_job, parse_price};
use crate::report::devices::DeviceTable;
use crate::report::prices::{PriceTable, ACCELERATORS, USD_PER_HOUR};
use crate::report::weights::weight_of;
use crate::schema::{self, ReadError, RunFile};
use crate::suite::{self, ParamOverride, Selection, Suite};

/// What a reader made of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Rejected,
}

/// A fuzz target's body.
pub type Target = fn(&[u8]) -> Outcome;

/// Every target by name: `fuzz/fuzz_targets/<name>.rs`, seeds in `fuzz/seeds/<name>/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("run_json", run_json),
    ("prices", prices),
    ("devices", devices),
    ("neff_manifest", neff_manifest),
    ("plan", plan),
    ("param", param),
    ("price", price),
    ("claim", claim),
    ("weights", weights),
    ("job", job),
];

/// The name the inputs are given in error messages (as a path on the command line would be).
pub const RUN_FILE: &str = "fuzz/run.json";
pub const PRICE_FILE: &str = "fuzz/prices.csv";
pub const DEVICE_FILE: &str = "fuzz/devices.csv";
pub const MANIFEST_FILE: &str = "fuzz/neffs/manifest.json";

fn outcome<T, E>(r: &Result<T, E>) -> Outcome {
    if r.is_ok() {
        Outcome::Accepted
    } else {
        Outcome::Rejected
    }
}

fn json(run: &RunFile) -> String {
    serde_json::to_string(run).expect("a parsed run serialises")
}

fn builtin_prices() -> &'static PriceTable {
    static TABLE: OnceLock<PriceTable> = OnceLock::new();
    TABLE.get_or_init(PriceTable::builtin)
}

/// `bench report`'s run.json reader (`schema::parse_bytes`, the one-pass fast path, with
/// `schema::parse_run` behind it), then what bench does with an accepted run: writes it back
/// (`--resume` rewrites run.json) and holds its points to the instance's accelerator count.
pub fn run_json(data: &[u8]) -> Outcome {
    let r = schema::parse_bytes(data, RUN_FILE);
    match &r {
        Ok(run) => {
            let text = std::str::from_utf8(data).expect("an accepted run.json is UTF-8");
            let slow = schema::parse_run(text, RUN_FILE)
                .unwrap_or_else(|e| panic!("the fast path accepted what parse_run rejects: {e}"));
            let written = json(run);
            assert_eq!(json(&slow), written, "the two readers disagree");
            let back = schema::parse_run(&written, RUN_FILE)
                .unwrap_or_else(|e| panic!("bench cannot read back the run it writes: {e}"));
            assert_eq!(
                json(&back),
                written,
                "a run changes when written and read back"
            );
            if let Some(instance) = &run.host.instance_type {
                if let Some(facts) = builtin_prices().facts(instance) {
                    if let Err(e) = crate::validate::check_devices(
                        run,
                        instance,
                        facts.accelerators_per_instance,
                    ) {
                        assert!(e.to_string().contains("devices_used"), "{e}");
                    }
                }
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(RUN_FILE),
                "the error does not name the file: {msg}"
            );
            match e {
                ReadError::Field { field, .. } => assert!(!field.is_empty(), "{msg}"),
                ReadError::Invalid { source, .. } => {
                    assert!(!source.field.is_empty(), "{msg}")
                }
                _ => {}
            }
        }
    }
    outcome(&r)
}

/// A `--prices FILE` (`PriceTable::parse`), then the lookups and the listing bench makes.
pub fn prices(data: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(data);
    let r = PriceTable::parse(&text, PRICE_FILE);
    match &r {
        Ok(t) => {
            for row in &t.rows {
                assert!(!row.instance.trim().is_empty());
                assert!(row.usd_per_hour.is_none_or(|p| USD_PER_HOUR.contains(&p)));
                assert!(ACCELERATORS.contains(&row.accelerators_per_instance));
                assert!(t.facts(&row.instance).is_some());
                if let Some(p) = t.price(&row.instance) {
                    assert!(USD_PER_HOUR.contains(&p.usd_per_hour), "{p:?}");
                }
                let _ = t.alternatives(&row.instance);
            }
            let listing = t.render();
            assert!(listing.starts_with(&format!("price table: {PRICE_FILE}")));
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(PRICE_FILE) && msg.contains("row "),
                "the error does not name the file and row: {msg}"
            );
        }
    }
    outcome(&r)
}

/// A device table in `results/devices.csv`'s format (`DeviceTable::parse`) and its lookups.
pub fn devices(data: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(data);
    let r = DeviceTable::parse(&text, DEVICE_FILE);
    match &r {
        Ok(t) => {
            for row in &t.rows {
                assert!(t.get(&row.accelerator).is_some());
                for d in ["f32", "tf32", "bf16", "f16", "fp8_e4m3", "i32"] {
                    if let Some(p) = row.peak_tflops(d) {
                        assert!(p.is_finite() && p > 0.0, "{} {d}: {p}", row.accelerator);
                    }
                }
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(DEVICE_FILE) && msg.contains("row "),
                "the error does not name the file and row: {msg}"
            );
        }
    }
    outcome(&r)
}

/// `--neff-dir`'s manifest.json (`Manifest::parse`), then the sizes and paths the Neuron
/// backend computes from each entry before it loads a NEFF.
pub fn neff_manifest(data: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(data);
    let path = Path::new(MANIFEST_FILE);
    let r = Manifest::parse(&text, path);
    match &r {
        Ok(m) => {
            assert_eq!(m.schema, MANIFEST_SCHEMA);
            assert_eq!(m.dir, path.parent().unwrap());
            let alternatives = m.alternatives.values().flat_map(|a| a.points.values());
            for e in m.points.values().chain(alternatives) {
                for io in e.inputs.iter().chain(&e.outputs) {
                    let _ = io.dtype();
                    assert!(io.bytes() <= MAX_TENSOR_BYTES);
                }
                assert!(m.neff_path(e).starts_with(&m.dir) || Path::new(&e.neff).is_absolute());
                let wanted = if e.is_training() { &e.loss } else { &e.check };
                let wanted = wanted.as_deref().expect("validated: check or loss is set");
                assert!(e.output(wanted).is_some());
            }
            for id in m.points.keys() {
                for (name, _) in m.alternatives_of(id) {
                    assert!(!name.is_empty() && name != "bench");
                }
            }
        }
        Err(msg) => assert!(
            msg.contains(MANIFEST_FILE),
            "the error does not name the file: {msg}"
        ),
    }
    outcome(&r)
}

/// `bench plan` (and `bench run`'s planning) from a selection, one option per line:
/// `suite NAME`, `workload W[,W..]`, `dtype D[,D..]` or `param KEY=V[,V..]`; then the plan
/// file's points (`plan_file::PlanPoint::of`) serialised as `bench plan` writes them.
pub fn plan(data: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(data) else {
        return Outcome::Rejected; // command-line values are UTF-8 (clap refuses others)
    };
    let mut suite = Suite::Quick;
    let mut sel = Selection::default();
    for line in text.lines() {
        let (option, value) = line.split_once(' ').unwrap_or((line, ""));
        match option {
            "suite" => match value.parse::<Suite>() {
                Ok(s) => suite = s,
                Err(e) => {
                    assert!(e.0.contains(&format!("'{value}'")), "{e}");
                    return Outcome::Rejected;
                }
            },
            "workload" => sel.workloads.push(value.to_string()),
            "dtype" => sel.dtypes.push(value.to_string()),
            "param" => sel.params.push(value.to_string()),
            _ => {}
        }
    }
    let r = suite::plan(suite, &sel);
    match &r {
        Ok(points) => {
            assert!(points.len() <= suite::MAX_POINTS);
            let mut ids = std::collections::BTreeSet::new();
            for p in points {
                let pp = crate::plan_file::PlanPoint::of(p);
                assert!(ids.insert(pp.id.clone()), "point {} planned twice", pp.id);
                assert!(pp.flops.is_finite() && pp.bytes.is_finite() && pp.items.is_finite());
                serde_json::to_string(&pp).expect("a plan point serialises");
            }
        }
        Err(e) => {
            let named = ["--param", "workload", "dtype", "parameter", "points"];
            assert!(named.iter().any(|w| e.0.contains(w)), "{e}");
        }
    }
    outcome(&r)
}

/// The text of one option value (clap hands bench UTF-8 strings only).
fn value(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// `--param KEY=V[,V..]` (`suite::ParamOverride`).
pub fn param(data: &[u8]) -> Outcome {
    let Some(s) = value(data) else {
        return Outcome::Rejected;
    };
    let r = s.parse::<ParamOverride>();
    match &r {
        Ok(p) => {
            assert!(!p.key.is_empty() && p.key.trim() == p.key);
            assert!(!p.values.is_empty());
        }
        Err(e) => assert!(e.0.starts_with("--param "), "{e}"),
    }
    outcome(&r)
}

/// `--price TYPE=USD` as `bench report`/`bench prices` apply it (`PriceTable::with_overrides`)
/// and as `report::args::parse_price` reads it.
pub fn price(data: &[u8]) -> Outcome {
    let Some(s) = value(data) else {
        return Outcome::Rejected;
    };
    match parse_price(s) {
        Ok(p) => assert!(USD_PER_HOUR.contains(&p.usd_per_hour) && !p.instance.is_empty()),
        Err(e) => assert_eq!((e.option, e.value.as_str()), ("--price", s)),
    }
    let r = builtin_prices().clone().with_overrides(&[s.to_string()]);
    match &r {
        Ok(t) => {
            let (k, _) = s.split_once('=').expect("an accepted --price has '='");
            let p = t
                .price(k.trim())
                .expect("an overridden instance has a price");
            assert!(USD_PER_HOUR.contains(&p.usd_per_hour));
            assert_eq!(p.purchase_model, "user --price");
            let _ = t.render();
        }
        Err(e) => assert!(e.to_string().contains(&format!("--price '{s}'")), "{e}"),
    }
    outcome(&r)
}

/// `--claim RATIO[-RATIO]` (`report::args::parse_claim`).
pub fn claim(data: &[u8]) -> Outcome {
    let Some(s) = value(data) else {
        return Outcome::Rejected;
    };
    let r = parse_claim(s);
    match &r {
        Ok(c) => assert!(c.low.is_finite() && c.low > 0.0 && c.low <= c.high && c.high.is_finite()),
        Err(e) => assert_eq!((e.option, e.value.as_str()), ("--claim", s)),
    }
    outcome(&r)
}

/// `--weights WORKLOAD=W[,..]`, one option per line (`report::args::merge_weights`), and the
/// weight each named workload then gets.
pub fn weights(data: &[u8]) -> Outcome {
    let Some(s) = value(data) else {
        return Outcome::Rejected;
    };
    let specs: Vec<String> = s.split('\n').map(str::to_string).collect();
    let r = merge_weights(&specs);
    match &r {
        Ok(w) => {
            for (i, (name, x)) in w.iter().enumerate() {
                assert!(x.is_finite() && *x >= 0.0, "{name}={x}");
                assert!(!w[..i].iter().any(|(n, _)| n == name), "{name} twice");
                assert_eq!(weight_of(w, name).0, *x);
            }
        }
        Err(e) => {
            assert_eq!(e.option, "--weights");
            assert!(specs.contains(&e.value), "{e}");
        }
    }
    outcome(&r)
}

/// `--job WORKLOAD=ITEMS[k|M|G|T|P]` (`report::args::parse_job`).
pub fn job(data: &[u8]) -> Outcome {
    let Some(s) = value(data) else {
        return Outcome::Rejected;
    };
    let r = parse_job(s);
    match &r {
        Ok(j) => assert!(j.items.is_finite() && j.items > 0.0 && !j.workload.is_empty()),
        Err(e) => assert_eq!((e.option, e.value.as_str()), ("--job", s)),
    }
    outcome(&r)
}

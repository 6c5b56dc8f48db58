//! scripts/gpu/torch_infer.py (prefill and decode for torch_reference.py) without torch or a
//! GPU: its numpy re-implementation of bench's seeded inputs agrees with kernels::infer bit
//! for bit, its FLOP, byte and item counts with the kernels crate's, its float64 reference
//! logits with kernels::infer_ref (prefill with a prefix check, decode over two steps with a
//! pool that wraps), and the torch steps run end to end through the numpy stand-in for torch
//! (harness/tests/fake_torch) and pass their own check. Needs python3 with numpy; without
//! them the tests say so and pass, unless BENCH_REQUIRE_PYTHON=1 (CI sets it).

use std::path::{Path, PathBuf};
use std::process::Command;

use kernels::infer::{prefill_positions, Decode, Decoder, Prefill};
use kernels::{DType, HostTensor, Reference, TensorData};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn python() -> Option<String> {
    let ok = Command::new("python3")
        .args(["-c", "import numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("BENCH_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "BENCH_REQUIRE_PYTHON=1 but python3 with numpy is missing"
        );
        eprintln!("skipped: python3 with numpy is not installed");
        return None;
    }
    Some("python3".into())
}

fn py_json(py: &str, code: &str, fake_torch: bool) -> serde_json::Value {
    py_json_env(py, code, fake_torch, false)
}

fn py_json_env(py: &str, code: &str, fake_torch: bool, wrong: bool) -> serde_json::Value {
    let full = format!(
        "import sys, json; sys.path.insert(0, {:?}); import torch_reference as t, torch_infer as ti\n{code}",
        repo().join("scripts/gpu").display().to_string()
    );
    let mut cmd = Command::new(py);
    if fake_torch {
        cmd.env("PYTHONPATH", repo().join("harness/tests/fake_torch"));
    }
    if wrong {
        cmd.env("FAKE_TORCH_WRONG", "1");
    }
    let o = cmd.args(["-c", &full]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

const MODEL: Decoder = Decoder {
    d_model: 16,
    layers: 2,
    heads: 2,
    vocab: 29,
};

fn params_json(m: &Decoder, last: (&str, u64), batch: u64) -> String {
    format!(
        r#"{{"d_model": {}, "layers": {}, "heads": {}, "vocab": {}, "batch": {batch}, "{}": {}}}"#,
        m.d_model, m.layers, m.heads, m.vocab, last.0, last.1
    )
}

fn bits(t: &HostTensor) -> Vec<i64> {
    match &t.data {
        TensorData::F32(v) => v.iter().map(|&x| x.to_bits() as i64).collect(),
        TensorData::I32(v) => v.iter().map(|&x| x as i64).collect(),
    }
}

/// The script's inputs (bits), accounting, and reference as flat (index, value) pairs.
fn script_side(py: &str, workload: &str, params: &str, dtype: DType) -> serde_json::Value {
    let code = format!(
        "p = json.loads({params:?}); w = {workload:?}; dt = {:?}\n\
         x = t.point_inputs(w, p, dt, 3)\n\
         r = ti.reference(w, p, x)\n\
         rows = len(ti.prefill_positions(p['prompt'])) if w == 'prefill' else 1\n\
         flat = {{}}\n\
         for (s, row), vals in r.items():\n\
         \x20   for c, v in enumerate(vals): flat[(s * rows + row) * p['vocab'] + c] = float(v)\n\
         print(json.dumps({{\n\
         \x20 'inputs': {{k: [int(v) for v in (a.astype('float32').view('uint32') if a.dtype.kind == 'f' else a).reshape(-1)] for k, a in x.items()}},\n\
         \x20 'flops': t.flops(w, p), 'bytes': t.bytes_moved(w, p, dt), 'items': t.items(w, p)[0],\n\
         \x20 'ref': sorted(flat.items())}}))",
        dtype.name()
    );
    py_json(py, &code, false)
}

fn compare(what: &str, got: &serde_json::Value, inputs: &[HostTensor], r: &Reference) {
    for t in inputs {
        let g: Vec<i64> = got["inputs"][&t.name]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: no {}", t.name))
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(g, bits(t), "{what} input {}", t.name);
    }
    assert_eq!(
        got["inputs"].as_object().unwrap().len(),
        inputs.len(),
        "{what}: the script has inputs bench has not"
    );
    let pairs = got["ref"].as_array().unwrap();
    let idx: Vec<usize> = match &r.indices {
        Some(i) => i.clone(),
        None => (0..r.values.len()).collect(),
    };
    let mut want: Vec<(usize, f64)> = idx.into_iter().zip(r.values.iter().copied()).collect();
    want.sort_by_key(|p| p.0);
    assert_eq!(pairs.len(), want.len(), "{what}: checked logits");
    for (pair, (i, v)) in pairs.iter().zip(want) {
        let (gi, gv) = (
            pair[0].as_u64().unwrap() as usize,
            pair[1].as_f64().unwrap(),
        );
        assert_eq!(gi, i, "{what}: checked logit indices");
        assert!(
            (gv - v).abs() <= 1e-9 * (1.0 + v.abs()),
            "{what}: logit {i}: script {gv} vs kernels {v}"
        );
    }
}

#[test]
fn inputs_accounting_and_reference_match_the_kernels_crate() {
    let Some(py) = python() else { return };
    for dtype in [DType::F32, DType::Bf16] {
        // prompt 40: outputs at 0, 7, 20, 31, 39; batch 3 checks sequences 0 and 2
        let p = Prefill {
            model: MODEL,
            batch: 3,
            prompt: 40,
        };
        let got = script_side(
            &py,
            "prefill",
            &params_json(&MODEL, ("prompt", 40), 3),
            dtype,
        );
        let inputs = p.inputs(dtype, 3);
        compare("prefill", &got, &inputs, &p.reference(&inputs));
        assert_eq!(got["flops"].as_f64().unwrap(), p.flops());
        assert_eq!(got["bytes"].as_f64().unwrap(), p.bytes(dtype));
        assert_eq!(got["items"].as_f64().unwrap(), p.tokens());
        assert_eq!(prefill_positions(40).len(), 5);
        // context 300 > the pool's 251 rows: positions wrap
        let d = Decode {
            model: MODEL,
            batch: 2,
            context: 300,
        };
        let got = script_side(
            &py,
            "decode",
            &params_json(&MODEL, ("context", 300), 2),
            dtype,
        );
        let inputs = d.inputs(dtype, 3);
        compare("decode", &got, &inputs, &d.reference(&inputs));
        assert_eq!(got["flops"].as_f64().unwrap(), d.flops());
        assert_eq!(got["bytes"].as_f64().unwrap(), d.bytes(dtype));
        assert_eq!(got["items"].as_f64().unwrap(), 2.0);
    }
}

/// The script's measuring path for prefill and decode (`run_point`: prepare, the check's
/// steps, the reference, sampling) through the numpy stand-in for torch: both pass their check
/// and are sampled; a
/// wrong projection (FAKE_TORCH_WRONG=1) fails the check.
#[test]
fn torch_steps_run_and_are_checked_through_the_numpy_stand_in() {
    let Some(py) = python() else { return };
    let code = "tc = t.Torch(0)\n\
        args = t.parse_args(['--plan', 'x', '--budget', '0.05', '--min-samples', '2', \
        '--max-samples', '3', '--warmup', '0'])\n\
        out = {}\n\
        for w, key, val in (('prefill', 'prompt', 40), ('decode', 'context', 300)):\n\
        \x20   p = dict(d_model=16, layers=2, heads=2, vocab=29, batch=3); p[key] = val\n\
        \x20   rec = t.run_point(tc, {'id': w, 'workload': w, 'params': p, 'dtype': 'f32'}, args, 0.0)\n\
        \x20   out[w] = dict(status=rec['status'], reason=rec['reason'], check=rec['check'], \
        samples=len(rec['samples_s']), item=(rec['throughput'] or {}).get('item'))\n\
        print(json.dumps(out))";
    let ok = py_json_env(&py, code, true, false);
    for w in ["prefill", "decode"] {
        let r = &ok[w];
        assert_eq!(r["status"], "ok", "{w}: {r}");
        assert_eq!(r["check"]["passed"], true, "{w}: {r}");
        assert!(
            r["check"]["max_rel_err"].as_f64().unwrap() < 1e-6,
            "{w}: {r}"
        );
        assert!(r["samples"].as_u64().unwrap() >= 2, "{w}: {r}");
        assert_eq!(r["item"], "tokens");
    }
    // 5 prefill outputs × 2 sequences × 29 logits; decode 2 sequences × 29
    assert_eq!(ok["prefill"]["check"]["checked"], 290);
    assert_eq!(ok["decode"]["check"]["checked"], 58);
    let bad = py_json_env(&py, code, true, true);
    for w in ["prefill", "decode"] {
        let r = &bad[w];
        assert_eq!(r["status"], "failed", "{w}: {r}");
        assert!(
            r["reason"]
                .as_str()
                .unwrap()
                .starts_with("correctness check failed"),
            "{w}: {r}"
        );
    }
}

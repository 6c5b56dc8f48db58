//! prefill and decode's CUDA plans on the CPU, against kernels::infer_ref. Each plan
//! (`gpu::infer_plan`) is resolved exactly as the CUDA binding (`cuda::bind::infer`) resolves
//! it — every allocation of `buffers()` at a (fake) base address, the parameters packed at
//! `param_offsets` in the storage dtype, the tokens, prefill's output rows, decode's pooled
//! `kv` input filled into the cache by `fill_launch`, `address` for every buffer and view,
//! `launches` for every kernel launch at each step — and written as a program for
//! kernels/cuda/check/gpt_step.cpp, which runs the real gpt.cu, decode_attention.cu and
//! attention.cu kernels under the host emulation and each GEMM with cuBLASLt's semantics.
//! The logits must pass the harness's gate (`check_output` at the point's tolerance): prefill
//! through the unfused attention (f32) and the fused flash kernel (bf16), decode over
//! `DECODE_CHECK_STEPS` steps (the second attends over the first's append) with one split and
//! with several, a pool that wraps, in f32, bf16 and f16 storage; decode also runs past a
//! cache reset. Guard bytes around every allocation catch an out-of-bounds access. Not covered:
//! the inline PTX, cuBLASLt itself, timing. Needs a C++20 compiler (without one the test says
//! so and passes, unless BENCH_REQUIRE_CLANG=1).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use kernels::check::check_output;
use kernels::infer::{Decode, Decoder, Prefill, DECODE_CHECK_STEPS, DECODE_WINDOW};
use kernels::tensor::find;
use kernels::{DType, HostTensor};

use backends::gpu::convert::encode;
use backends::gpu::gpt_plan::{param_offsets, Buf, StepOp};
use backends::gpu::infer_plan::{InferPlan, Mode, Op, Slot};
use backends::gpu::launch::{KArg, Launch};
use backends::gpu::layout::Epilogue;
use backends::gpu::storage::train_storage;

const SEED: u64 = 11;
/// Multiprocessors the grids are sized for.
const SMS: u32 = 2;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn karg(a: &KArg) -> String {
    match *a {
        KArg::Ptr(p) => format!("p:{p:#x}"),
        KArg::I32(v) => format!("i:{v}"),
        KArg::I64(v) => format!("l:{v}"),
        KArg::F32(v) => format!("f:{:#010x}", v.to_bits()),
    }
}

fn launch_line(out: &mut String, l: &Launch) {
    let args: Vec<String> = l.args.iter().map(karg).collect();
    let _ = writeln!(
        out,
        "launch {} {} {} {} {} {} {}",
        l.kernel,
        l.grid.0,
        l.grid.1,
        l.grid.2,
        l.block,
        args.len(),
        args.join(" ")
    );
}

/// The program for gpt_step.cpp: allocations and their bytes, decode's cache fill, `steps`
/// steps, then the logits.
fn program(plan: &InferPlan, dtype: DType, inputs: &[HostTensor], steps: usize) -> String {
    let (elem, dt, _) = train_storage(dtype).unwrap();
    let eb = elem.size();
    let allocs: Vec<(Slot, u64)> = plan
        .buffers()
        .into_iter()
        .map(|(s, n)| (s, n as u64 * InferPlan::elem_bytes(s, eb)))
        .collect();
    // decode's pooled kv input, uploaded for the fill
    let kv = inputs.iter().find(|t| t.name == "kv");
    let pool_bytes = kv.map(|t| encode(t.as_f32(), elem));
    let base_of = |i: usize| (i as u64 + 1) << 40;
    let base = |s: Slot| -> u64 {
        base_of(
            allocs
                .iter()
                .position(|&(x, _)| x == s)
                .unwrap_or_else(|| panic!("{s:?} is not an allocation")),
        )
    };
    let mut out = String::new();
    for (i, &(s, bytes)) in allocs.iter().enumerate() {
        let _ = writeln!(out, "# alloc {s:?}\nalloc {:#x} {bytes}", base_of(i));
    }
    let pool_at = base_of(allocs.len());
    if let Some(b) = &pool_bytes {
        let _ = writeln!(out, "# the kv pool\nalloc {pool_at:#x} {}", b.len());
        let _ = writeln!(out, "init {pool_at:#x} {}", hex(b));
    }
    let (offs, total) = param_offsets(&plan.gpt);
    let mut params = vec![0f32; total];
    for (i, (name, _)) in plan.gpt.param_specs().iter().enumerate() {
        let data = find(inputs, name).as_f32();
        params[offs[i]..offs[i] + data.len()].copy_from_slice(data);
    }
    let i32s = |v: &[i32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let _ = writeln!(
        out,
        "init {:#x} {}",
        base(Slot::Gpt(Buf::Params)),
        hex(&encode(&params, elem))
    );
    let tokens = i32s(find(inputs, "tokens").as_i32());
    let _ = writeln!(out, "init {:#x} {}", base(Slot::Tokens), hex(&tokens));
    if let Mode::Prefill { .. } = plan.mode {
        let rows = i32s(&plan.row_indices());
        let _ = writeln!(out, "init {:#x} {}", base(Slot::RowIdx), hex(&rows));
    }
    let addr = |s: Slot| plan.address(s, eb, &base);
    if let Some(l) = plan.fill_launch(dt, SMS, pool_at, base(Slot::Cache)) {
        let _ = writeln!(out, "# kv_fill");
        launch_line(&mut out, &l);
    }
    for step in 0..steps {
        for (i, op) in plan.ops.iter().enumerate() {
            let _ = writeln!(out, "# step {step} op {i}: {op:?}");
            match op {
                Op::Step(StepOp::Gemm {
                    shape: s,
                    batch,
                    epilogue,
                    a,
                    b,
                    c,
                    bias,
                    add,
                    out_f32,
                }) => {
                    let (count, sa, sb, sc) = batch
                        .map(|x| (x.count, x.stride_a, x.stride_b, x.stride_c))
                        .unwrap_or((1, 0, 0, 0));
                    let epi = match epilogue {
                        Epilogue::None => 0,
                        Epilogue::Bias => 1,
                        Epilogue::ReluBias => 2,
                    };
                    let g = |x: Buf| addr(Slot::Gpt(x));
                    let _ = writeln!(
                        out,
                        "gemm {} {} {} {} {} {count} {sa} {sb} {sc} {:#x} {:#x} {:#x} {:#x} {:#x} {epi} {dt} {}",
                        s.m,
                        s.n,
                        s.k,
                        s.trans_a as u8,
                        s.trans_b as u8,
                        g(*a),
                        g(*b),
                        g(*c),
                        add.map_or(0, g),
                        bias.map_or(0, g),
                        if *out_f32 { 0 } else { dt },
                    );
                }
                _ => {
                    for l in plan.launches(op, dt, SMS, step, eb, &addr) {
                        launch_line(&mut out, &l);
                    }
                }
            }
        }
    }
    let n = plan.output_rows() * plan.dm.v;
    let _ = writeln!(
        out,
        "# logits\nprint logits {:#x} {n} 0",
        addr(Slot::Gpt(Buf::Logits))
    );
    out
}

fn cxx() -> Option<String> {
    let mut names = vec![std::env::var("CXX").unwrap_or_default()];
    names.extend(["c++", "g++", "clang++", "clang++-14"].map(String::from));
    names.into_iter().filter(|n| !n.is_empty()).find(|n| {
        Command::new(n)
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

/// Runs `prog` through the driver and returns the printed logits.
fn run(exe: &Path, dir: &Path, name: &str, prog: &str) -> Vec<f32> {
    let path = dir.join(format!("{name}.txt"));
    std::fs::write(&path, prog).unwrap();
    let o = Command::new(exe).arg(&path).output().unwrap();
    assert!(
        o.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("logits "))
        .unwrap_or_else(|| panic!("{name}: no logits in {text}"));
    line.split_whitespace()
        .skip(1)
        .map(|x| x.parse::<f64>().unwrap() as f32)
        .collect()
}

#[test]
fn emulated_prefill_and_decode_pass_the_reference_gate() {
    let Some(cxx) = cxx() else {
        assert!(
            std::env::var("BENCH_REQUIRE_CLANG").as_deref() != Ok("1"),
            "BENCH_REQUIRE_CLANG=1 but no C++ compiler on PATH"
        );
        eprintln!("skipped: no C++20 compiler (c++, g++, clang++) to build the kernel emulation");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("gpt_step");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernels/cuda");
    let o = Command::new(&cxx)
        .args(["-std=c++20", "-O2", "-pthread", "-DBENCH_EMULATE", "-I"])
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .arg(src.join("check/gpt_step.cpp"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{cxx} could not build check/gpt_step.cpp:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let small = Decoder {
        d_model: 32,
        layers: 2,
        heads: 2,
        vocab: 50,
    };
    // head dim 64: attention.cu's fused kernel serves bf16
    let wide = Decoder {
        d_model: 128,
        layers: 1,
        heads: 2,
        vocab: 40,
    };
    let mut failures = Vec::new();
    let mut report = |name: String, got: Vec<f32>, r: kernels::Reference, tol: f64| {
        let c = check_output(&got, &r, tol);
        eprintln!(
            "{name}: max_rel_err {:.3e} (tolerance {tol:.0e})",
            c.max_rel_err
        );
        if !c.passed {
            failures.push(format!("{name}: {c:?}"));
        }
    };
    for (model, dtype, prompt, flash) in [
        (small, DType::F32, 40, false),
        (small, DType::F16, 9, false),
        (wide, DType::Bf16, 70, true),
    ] {
        let p = Prefill {
            model,
            batch: 2,
            prompt,
        };
        let plan = InferPlan::prefill(&p, dtype);
        assert_eq!(
            matches!(plan.mode, Mode::Prefill { flash: Some(_), .. }),
            flash
        );
        let inputs = p.inputs(dtype, SEED);
        let got = run(
            &exe,
            dir.path(),
            "prefill",
            &program(&plan, dtype, &inputs, 1),
        );
        report(
            format!("prefill {dtype} prompt={prompt} flash={flash}"),
            got,
            p.reference(&inputs),
            Prefill::tolerance(dtype),
        );
    }
    // context 300 > the pool's 251 rows: the fill wraps; 2 splits of 158 positions
    for (dtype, context, splits) in [
        (DType::F32, 20, 1),
        (DType::Bf16, 300, 2),
        (DType::F16, 300, 2),
    ] {
        let p = Decode {
            model: small,
            batch: 2,
            context,
        };
        let plan = InferPlan::decode(&p, dtype, SMS);
        let Mode::Decode { splits: s, .. } = plan.mode else {
            panic!()
        };
        assert_eq!(s, splits, "decode context={context}");
        let inputs = p.inputs(dtype, SEED);
        let got = run(
            &exe,
            dir.path(),
            "decode",
            &program(&plan, dtype, &inputs, DECODE_CHECK_STEPS),
        );
        report(
            format!("decode {dtype} context={context} splits={splits}"),
            got,
            p.reference(&inputs),
            Decode::tolerance(dtype),
        );
    }
    // Past a reset: step DECODE_WINDOW + 1 rewrites position context + 1 with the same token
    // and sees the same cache as step 1, so its logits are step 1's (checked steps = 2).
    let p = Decode {
        model: small,
        batch: 2,
        context: 20,
    };
    let plan = InferPlan::decode(&p, DType::F32, SMS);
    let inputs = p.inputs(DType::F32, SEED);
    let steps = DECODE_WINDOW as usize + DECODE_CHECK_STEPS;
    let got = run(
        &exe,
        dir.path(),
        "reset",
        &program(&plan, DType::F32, &inputs, steps),
    );
    report(
        format!("decode f32 after a cache reset ({steps} steps)"),
        got,
        p.reference(&inputs),
        Decode::tolerance(DType::F32),
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

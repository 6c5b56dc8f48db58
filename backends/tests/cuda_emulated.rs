//! The CUDA kernels' logic on the CPU: kernels/cuda/check/emulate_test.cpp compiles the real
//! kernel sources against host emulations of the CUDA features they use (check/emulate.h:
//! threads and barriers for blocks and warps, the PTX ISA's ldmatrix and mma.sync fragment
//! layouts, cp.async copies that land only when wait_group retires them, shared memory that
//! starts as NaN) and compares the fused attention kernel (bf16/f16, d 64/128,
//! causal or not, ragged s), the train-mlp step kernels and the train-gpt kernels (embeddings,
//! LayerNorm, GELU, head split, causal softmax, AdamW) with double-precision references.
//! This checks index math, masking, the online softmax and the reductions — not the inline
//! PTX itself, not timing, not a real GPU. A second test does the same for prefill and
//! decode's KV-cache and split decode-attention kernels (check/decode_test.cpp). Needs a C++20 compiler (g++ 12 or clang++ 14 with
//! libstdc++ 12); without one the test says so and passes, unless BENCH_REQUIRE_CLANG=1.

use std::path::Path;
use std::process::Command;

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

/// Builds `check/<file>` against the host emulation and runs it; its stdout, or `None` when
/// there is no compiler (the skip is printed; BENCH_REQUIRE_CLANG=1 makes it a failure).
fn build_and_run(file: &str) -> Option<String> {
    let Some(cxx) = cxx() else {
        assert!(
            std::env::var("BENCH_REQUIRE_CLANG").as_deref() != Ok("1"),
            "BENCH_REQUIRE_CLANG=1 but no C++ compiler on PATH"
        );
        eprintln!("skipped: no C++20 compiler (c++, g++, clang++) to build the kernel emulation");
        return None;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernels/cuda");
    let stem = file.trim_end_matches(".cpp");
    let exe = std::env::temp_dir().join(format!("bench-cuda-{stem}-{}", std::process::id()));
    let o = Command::new(&cxx)
        .args(["-std=c++20", "-O2", "-pthread", "-DBENCH_EMULATE", "-I"])
        .arg(&dir)
        .arg("-o")
        .arg(&exe)
        .arg(dir.join("check").join(file))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{cxx} could not build {file}:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    let _ = std::fs::remove_file(&exe);
    let out = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success() && out.contains("\n0 failures"),
        "{out}"
    );
    Some(out)
}

#[test]
fn kernels_match_references_under_host_emulation() {
    let Some(out) = build_and_run("emulate_test.cpp") else {
        return;
    };
    // every kernel was exercised
    for what in [
        "attention bf16 d=128 causal=1 s=100",
        "attention f16 d=64 causal=0 s=192",
        "xent dt=1",
        "relu_bwd_colsum dt=2",
        "sgd_momentum dt=1 gdt=0",
        // train-gpt (gpt.cu)
        "embed_fwd dt=1",
        "embed_bwd_wte dt=1 rows=14 d=40 repeated ids",
        "embed_bwd_wpe dt=2",
        "layernorm_fwd dt=1 rows=13 d=72 y",
        "layernorm_fwd dt=2 rows=13 d=72 mean,rstd",
        "layernorm_bwd_dx dt=1 rows=13 d=72 accumulate=1",
        "layernorm_bwd_dx dt=2 rows=13 d=72 accumulate=0",
        "layernorm_bwd_params dt=1 rows=13 d=72 dg",
        "layernorm_bwd_params dt=0 rows=9 d=300 db",
        "gelu_fwd dt=2",
        "gelu_bwd dt=1 n=1000 in place",
        "split_heads dt=1 batch=2 seq=7 parts=3",
        "split_heads dt=0 parts=3 then inverse: identity",
        "split_heads dt=2 parts=1 then inverse: identity",
        "causal_softmax dt=2 groups=2 seq=13",
        "causal_softmax dt=1 seq=40 rows sum to 1",
        "causal_softmax dt=0 seq=13 upper triangle exactly 0",
        "softmax_bwd dt=1 groups=1 seq=40 vs Jacobian",
        "softmax_bwd dt=2 seq=13 upper triangle exactly 0",
        "adamw dt=1 n=1000 steps=5 params",
        "adamw dt=0 n=1000 steps=5 moments",
        "adamw dt=2 padding stays exactly 0",
    ] {
        assert!(out.contains(what), "{what} missing:\n{out}");
    }
}

/// prefill and decode's kernels (decode_attention.cu): the KV-cache copies bit for bit, the
/// split decode attention against a double-precision softmax (check/decode_test.cpp).
#[test]
fn decode_kernels_match_references_under_host_emulation() {
    let Some(out) = build_and_run("decode_test.cpp") else {
        return;
    };
    for what in [
        "kv_fill dt=1 heads=2 hd=8 pool=5 context=13 cap=16",
        "kv_fill dt=2 heads=3 hd=40 pool=251 context=20 cap=24",
        "kv_append dt=0 batch=3 heads=2 hd=40 pos=7",
        "gather_rows dt=2 rows=7 d=72",
        "decode_attention dt=0 batch=2 heads=3 hd=64 len=300 splits=1",
        "decode_attention dt=1 batch=2 heads=3 hd=64 len=173 splits=7",
        "decode_attention dt=2 batch=1 heads=2 hd=40 len=37 splits=4",
        "decode_attention dt=1 batch=1 heads=2 hd=128 len=1 splits=5",
        "decode_attention dt=1 batch=1 heads=1 hd=256 len=90 splits=3",
    ] {
        assert!(
            out.contains(&format!("ok   {what}")),
            "{what} missing:\n{out}"
        );
    }
}

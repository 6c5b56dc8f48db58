//! The CUDA kernels' logic on the CPU: kernels/cuda/check/emulate_test.cpp compiles the real
//! kernel sources against host emulations of the CUDA features they use (check/emulate.h:
//! threads and barriers for blocks and warps, the PTX ISA's ldmatrix and mma.sync fragment
//! layouts, cp.async copies that land only when wait_group retires them, shared memory that
//! starts as NaN) and compares the fused attention kernel (bf16/f16, d 64/128,
//! causal or not, ragged s), the train-mlp step kernels and the train-gpt kernels (embeddings,
//! LayerNorm, GELU, head split, causal softmax, AdamW) with double-precision references.
//! This checks index math, masking, the online softmax and the reductions — not the inline
//! PTX itself, not timing, not a real GPU. Needs a C++20 compiler (g++ 12 or clang++ 14 with
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

#[test]
fn kernels_match_references_under_host_emulation() {
    let Some(cxx) = cxx() else {
        assert!(
            std::env::var("BENCH_REQUIRE_CLANG").as_deref() != Ok("1"),
            "BENCH_REQUIRE_CLANG=1 but no C++ compiler on PATH"
        );
        eprintln!("skipped: no C++20 compiler (c++, g++, clang++) to build the kernel emulation");
        return;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernels/cuda");
    let exe = std::env::temp_dir().join(format!("bench-cuda-emulate-{}", std::process::id()));
    let o = Command::new(&cxx)
        .args(["-std=c++20", "-O2", "-pthread", "-DBENCH_EMULATE", "-I"])
        .arg(&dir)
        .arg("-o")
        .arg(&exe)
        .arg(dir.join("check/emulate_test.cpp"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{cxx} could not build the emulation:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    let _ = std::fs::remove_file(&exe);
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && out.contains("\n0 failures"),
        "{out}"
    );
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

//! The CUDA kernels compile, without CUDA: clang (14 or newer, `apt-get install clang`)
//! compiles kernels/cuda/*.cu to PTX for sm_80 with no CUDA headers, and every kernel the Rust
//! side launches must come out as a `.visible .entry`. This checks syntax, types and names;
//! it does not assemble the inline PTX (ptxas is part of CUDA) and runs nothing. Without
//! clang the test says so and passes, unless BENCH_REQUIRE_CLANG=1 (CI sets it after
//! installing clang).

use std::path::Path;
use std::process::Command;

use backends::cuda::sources::{
    gpt_program, infer_program, ATTENTION_KERNELS, DECODE_KERNELS, GPT_KERNELS, MLP_KERNELS,
};

fn clang() -> Option<String> {
    let mut names = vec![std::env::var("CLANG").unwrap_or_default(), "clang".into()];
    names.extend((14..=20).rev().map(|v| format!("clang-{v}")));
    names.into_iter().filter(|n| !n.is_empty()).find(|n| {
        Command::new(n)
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

fn ptx(clang: &str, file: &str, out: &Path) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernels/cuda");
    ptx_of(clang, &dir.join(file), out, &[])
}

/// Compiles the CUDA source at `src` (a path) to PTX in `out`, with `extra` clang flags, and
/// returns the PTX.
fn ptx_of(clang: &str, src: &Path, out: &Path, extra: &[&str]) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernels/cuda");
    let file = src.display();
    let o = Command::new(clang)
        .args([
            "-x",
            "cuda",
            "--cuda-device-only",
            "--cuda-gpu-arch=sm_80",
            "-nocudainc",
            "-nocudalib",
            "-O2",
            "-S",
            "-Werror",
            "-include",
        ])
        .arg(dir.join("check/clang_prelude.h"))
        .arg("-I")
        .arg(&dir)
        .arg("-o")
        .arg(out)
        .args(extra)
        .arg(src)
        .output()
        .expect("clang runs");
    assert!(
        o.status.success(),
        "clang could not compile {file}:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn kernels_compile_to_ptx_with_every_launched_entry() {
    let Some(clang) = clang() else {
        assert!(
            std::env::var("BENCH_REQUIRE_CLANG").as_deref() != Ok("1"),
            "BENCH_REQUIRE_CLANG=1 but no clang on PATH"
        );
        eprintln!("skipped: no clang on PATH (apt-get install clang) to compile kernels/cuda/*.cu");
        return;
    };
    let tmp = std::env::temp_dir().join(format!("bench-cuda-ptx-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let att = ptx(&clang, "attention.cu", &tmp.join("attention.ptx"));
    for (name, _, _) in ATTENTION_KERNELS {
        assert!(att.contains(&format!(".visible .entry {name}(")), "{name}");
    }
    // Every head dim × dtype instance uses tensor cores: 64 mma per d=64 block step, 128 per d=128.
    assert_eq!(
        att.matches("mma.sync.aligned.m16n8k16").count(),
        2 * (64 + 128)
    );
    let mlp = ptx(&clang, "mlp.cu", &tmp.join("mlp.ptx"));
    for name in MLP_KERNELS {
        assert!(mlp.contains(&format!(".visible .entry {name}(")), "{name}");
    }
    let gpt = ptx(&clang, "gpt.cu", &tmp.join("gpt.ptx"));
    for name in GPT_KERNELS {
        assert!(gpt.contains(&format!(".visible .entry {name}(")), "{name}");
    }
    // The module train-gpt loads: mlp.cu then gpt.cu with common.cuh inlined once, as NVRTC
    // gets it (no include path needed; the inlined header's `#pragma once` now sits in the
    // main file, which clang warns about).
    let src = tmp.join("gpt_program.cu");
    std::fs::write(&src, gpt_program()).unwrap();
    let module = ptx_of(
        &clang,
        &src,
        &tmp.join("gpt_program.ptx"),
        &["-Wno-pragma-once-outside-header"],
    );
    for name in MLP_KERNELS.iter().chain(&GPT_KERNELS) {
        assert!(
            module.contains(&format!(".visible .entry {name}(")),
            "{name} missing from the train-gpt module"
        );
    }
    // prefill and decode's module: gpt.cu then decode_attention.cu.
    let src = tmp.join("infer_program.cu");
    std::fs::write(&src, infer_program()).unwrap();
    let module = ptx_of(
        &clang,
        &src,
        &tmp.join("infer_program.ptx"),
        &["-Wno-pragma-once-outside-header"],
    );
    for name in GPT_KERNELS.iter().chain(&DECODE_KERNELS) {
        assert!(
            module.contains(&format!(".visible .entry {name}(")),
            "{name} missing from the inference module"
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

//! The CUDA C sources the backend compiles at run time (kernels/cuda/*.cu, embedded in the
//! binary); the names of the kernels launched from each are re-exported from
//! [`crate::gpu::kernels`]. NVRTC has no include path here, so `#include "common.cuh"` is
//! replaced by the header's text.

pub const COMMON: &str = include_str!("../../../kernels/cuda/common.cuh");
pub const ATTENTION: &str = include_str!("../../../kernels/cuda/attention.cu");
pub const MLP: &str = include_str!("../../../kernels/cuda/mlp.cu");
pub const GPT: &str = include_str!("../../../kernels/cuda/gpt.cu");
pub const DECODE: &str = include_str!("../../../kernels/cuda/decode_attention.cu");

pub use crate::gpu::kernels::*;

/// The source NVRTC compiles: `file` with common.cuh inlined.
pub fn program(file: &str) -> String {
    file.replace("#include \"common.cuh\"", COMMON)
}

/// The train-gpt module's source: mlp.cu (for xent_fwd_bwd and relu_bwd_colsum) followed by
/// gpt.cu, common.cuh inlined once.
pub fn gpt_program() -> String {
    program(MLP) + &GPT.replace("#include \"common.cuh\"", "")
}

/// The inference module's source (prefill and decode): gpt.cu (embeddings, LayerNorm, GELU,
/// head split, causal softmax) followed by decode_attention.cu, common.cuh inlined once.
pub fn infer_program() -> String {
    program(GPT) + &DECODE.replace("#include \"common.cuh\"", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel the Rust side launches is defined, as `extern "C" __global__` (or through
    /// the FLASH_ENTRY macro), in the source it is loaded from.
    #[test]
    fn launched_kernels_exist_in_the_sources() {
        for (name, _, _) in ATTENTION_KERNELS {
            assert!(
                ATTENTION.contains(&format!("FLASH_ENTRY({name},")),
                "{name} missing from attention.cu"
            );
        }
        for name in MLP_KERNELS {
            assert!(
                MLP.contains(&format!("{name}(")),
                "{name} missing from mlp.cu"
            );
        }
        assert!(program(ATTENTION).contains("pack_bf16x2"));
        // common.cuh is inlined; the only include left is the host emulation's, inside
        // `#ifdef BENCH_EMULATE`, which NVRTC never defines.
        let prog = program(MLP);
        assert!(!prog.contains("#include \"common.cuh\""));
        assert_eq!(prog.matches("#include").count(), 1);
        assert!(prog.find("#ifdef BENCH_EMULATE") < prog.find("#include \"check/emulate.h\""));
        for name in GPT_KERNELS {
            assert!(
                GPT.contains(&format!("{name}(")),
                "{name} missing from gpt.cu"
            );
        }
        // The train-gpt module holds mlp.cu's kernels and gpt.cu's, with common.cuh once.
        let gpt = gpt_program();
        assert_eq!(gpt.matches(COMMON).count(), 1);
        assert!(!gpt.contains("#include \"common.cuh\""));
        assert_eq!(gpt.matches("#include").count(), 1);
        for name in MLP_KERNELS.iter().chain(&GPT_KERNELS) {
            assert!(
                gpt.contains(&format!("{name}(")),
                "{name} missing from gpt_program()"
            );
        }
        let infer = infer_program();
        assert_eq!(infer.matches(COMMON).count(), 1);
        assert_eq!(infer.matches("#include").count(), 1);
        for name in GPT_KERNELS.iter().chain(&DECODE_KERNELS) {
            assert!(
                infer.contains(&format!("{name}(")),
                "{name} missing from infer_program()"
            );
        }
        assert!(DECODE.contains(&format!("#define DA_THREADS {DECODE_THREADS}")));
        assert!(DECODE.contains(&format!("#define DA_WARPS {DECODE_WARPS}")));
        assert!(DECODE.contains(&format!("#define DA_MAX_HD {DECODE_MAX_HD}")));
        assert!(ATTENTION.contains("#define BM 64") && ATTENTION.contains("#define NTHREADS 128"));
        assert_eq!(ATTENTION_BLOCK_M, 64);
        assert_eq!(ATTENTION_THREADS, 128);
        // every training-step kernel is bounded to the block size the plans launch with
        for src in [MLP, GPT] {
            assert_eq!(
                src.matches("__global__").count(),
                src.matches(&format!("__launch_bounds__({STEP_THREADS})"))
                    .count()
            );
        }
        // decode_attention.cu: decode_attn_partial at DA_THREADS, every other kernel at 256
        assert_eq!(DECODE.matches("__global__").count(), DECODE_KERNELS.len());
        assert_eq!(
            DECODE
                .matches(&format!("__launch_bounds__({STEP_THREADS})"))
                .count(),
            DECODE_KERNELS.len() - 1
        );
        assert_eq!(DECODE.matches("__launch_bounds__(DA_THREADS)").count(), 1);
    }
}

//! The CUDA C sources the backend compiles at run time (kernels/cuda/*.cu, embedded in the
//! binary) and the names of the kernels it launches from each. NVRTC has no include path
//! here, so `#include "common.cuh"` is replaced by the header's text.

pub const COMMON: &str = include_str!("../../../kernels/cuda/common.cuh");
pub const ATTENTION: &str = include_str!("../../../kernels/cuda/attention.cu");
pub const MLP: &str = include_str!("../../../kernels/cuda/mlp.cu");
pub const GPT: &str = include_str!("../../../kernels/cuda/gpt.cu");

/// Fused attention kernels: (name, bf16?, head dim).
pub const ATTENTION_KERNELS: [(&str, bool, u64); 4] = [
    ("flash_fwd_bf16_d64", true, 64),
    ("flash_fwd_bf16_d128", true, 128),
    ("flash_fwd_f16_d64", false, 64),
    ("flash_fwd_f16_d128", false, 128),
];

/// Training-step kernels.
pub const XENT: &str = "xent_fwd_bwd";
pub const RELU_BWD_COLSUM: &str = "relu_bwd_colsum";
pub const SGD: &str = "sgd_momentum";
pub const MLP_KERNELS: [&str; 3] = [XENT, RELU_BWD_COLSUM, SGD];

/// train-gpt's kernels (gpt.cu; launch geometry and semantics in its comments).
pub const EMBED_FWD: &str = "embed_fwd";
pub const EMBED_BWD_WTE: &str = "embed_bwd_wte";
pub const EMBED_BWD_WPE: &str = "embed_bwd_wpe";
pub const LN_FWD: &str = "layernorm_fwd";
pub const LN_BWD_DX: &str = "layernorm_bwd_dx";
pub const LN_BWD_PARAMS: &str = "layernorm_bwd_params";
pub const GELU_FWD: &str = "gelu_fwd";
pub const GELU_BWD: &str = "gelu_bwd";
pub const SPLIT_HEADS: &str = "split_heads";
pub const CAUSAL_SOFTMAX: &str = "causal_softmax";
pub const SOFTMAX_BWD: &str = "softmax_bwd";
pub const ADAMW: &str = "adamw";
/// Kernels of gpt.cu; the train-gpt module also contains mlp.cu's (XENT, RELU_BWD_COLSUM).
pub const GPT_KERNELS: [&str; 12] = [
    EMBED_FWD,
    EMBED_BWD_WTE,
    EMBED_BWD_WPE,
    LN_FWD,
    LN_BWD_DX,
    LN_BWD_PARAMS,
    GELU_FWD,
    GELU_BWD,
    SPLIT_HEADS,
    CAUSAL_SOFTMAX,
    SOFTMAX_BWD,
    ADAMW,
];

/// Query rows per attention block and threads per block (attention.cu's BM and NTHREADS).
pub const ATTENTION_BLOCK_M: u64 = 64;
pub const ATTENTION_THREADS: u32 = 128;

/// Dynamic shared memory of one attention block: Q, K and V tiles of 64 rows × d × 2 bytes.
pub fn attention_smem_bytes(d: u64) -> u32 {
    (3 * 64 * d * 2) as u32
}

/// The source NVRTC compiles: `file` with common.cuh inlined.
pub fn program(file: &str) -> String {
    file.replace("#include \"common.cuh\"", COMMON)
}

/// The train-gpt module's source: mlp.cu (for xent_fwd_bwd and relu_bwd_colsum) followed by
/// gpt.cu, common.cuh inlined once.
pub fn gpt_program() -> String {
    program(MLP) + &GPT.replace("#include \"common.cuh\"", "")
}

/// The attention kernel for a dtype (bf16 or f16) and head dim, if there is one.
pub fn attention_kernel(bf16: bool, d: u64) -> Option<&'static str> {
    ATTENTION_KERNELS
        .iter()
        .find(|(_, b, dd)| *b == bf16 && *dd == d)
        .map(|(n, _, _)| *n)
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
        assert!(ATTENTION.contains("#define BM 64") && ATTENTION.contains("#define NTHREADS 128"));
        assert_eq!(attention_smem_bytes(128), 48 * 1024);
        assert_eq!(attention_kernel(false, 64), Some("flash_fwd_f16_d64"));
        assert_eq!(attention_kernel(true, 96), None);
    }
}

//! The device kernels of kernels/cuda/*.cu by name, as the plans launch them, and the geometry
//! the kernels are written for (the `#define`s and `__launch_bounds__` in the sources; the
//! tests in `crate::cuda::sources` and backends/tests/cuda_nvrtc.rs hold the two together).

/// Fused attention kernels: (name, bf16?, head dim).
pub const ATTENTION_KERNELS: [(&str, bool, u64); 4] = [
    ("flash_fwd_bf16_d64", true, 64),
    ("flash_fwd_bf16_d128", true, 128),
    ("flash_fwd_f16_d64", false, 64),
    ("flash_fwd_f16_d128", false, 128),
];

/// Query rows per attention block and threads per block (attention.cu's BM and NTHREADS).
pub const ATTENTION_BLOCK_M: u64 = 64;
pub const ATTENTION_THREADS: u32 = 128;

/// Threads per block of every training-step kernel (mlp.cu and gpt.cu are written for, and
/// declare `__launch_bounds__`, 256).
pub const STEP_THREADS: u32 = 256;

/// Dynamic shared memory of one attention block: Q, K and V tiles of 64 rows × d × 2 bytes.
pub fn attention_smem_bytes(d: u64) -> u32 {
    (3 * ATTENTION_BLOCK_M * d * 2) as u32
}

/// The dynamic shared memory every launch of `kernel` asks for (0: none). The CUDA backend
/// opts each such kernel in to this amount when it loads the module
/// (`CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES`), so it must cover every launch.
pub fn dynamic_smem_bytes(kernel: &str) -> u32 {
    if kernel == DECODE_ATTN_PARTIAL {
        return decode_attn_smem_bytes();
    }
    ATTENTION_KERNELS
        .iter()
        .find(|(name, _, _)| *name == kernel)
        .map_or(0, |&(_, _, d)| attention_smem_bytes(d))
}

/// The attention kernel for a dtype (bf16 or f16) and head dim, if there is one.
pub fn attention_kernel(bf16: bool, d: u64) -> Option<&'static str> {
    ATTENTION_KERNELS
        .iter()
        .find(|(_, b, dd)| *b == bf16 && *dd == d)
        .map(|(n, _, _)| *n)
}

/// Training-step kernels (mlp.cu).
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

/// prefill and decode's kernels (decode_attention.cu; the inference module also holds gpt.cu's).
pub const KV_FILL: &str = "kv_fill";
pub const KV_APPEND: &str = "kv_append";
pub const DECODE_ATTN_PARTIAL: &str = "decode_attn_partial";
pub const DECODE_ATTN_COMBINE: &str = "decode_attn_combine";
pub const GATHER_ROWS: &str = "gather_rows";
pub const DECODE_KERNELS: [&str; 5] = [
    KV_FILL,
    KV_APPEND,
    DECODE_ATTN_PARTIAL,
    DECODE_ATTN_COMBINE,
    GATHER_ROWS,
];

/// Threads (and warps) of a decode_attn_partial block, and the largest head dim it serves
/// (decode_attention.cu's DA_THREADS, DA_WARPS, DA_MAX_HD).
pub const DECODE_THREADS: u32 = 128;
pub const DECODE_WARPS: u32 = 4;
pub const DECODE_MAX_HD: u64 = 256;

/// Dynamic shared memory of a decode_attn_partial block: each warp's output row, max and sum
/// (f32).
pub fn decode_attn_smem_bytes() -> u32 {
    DECODE_WARPS * (DECODE_MAX_HD as u32 + 2) * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attention_geometry() {
        assert_eq!(attention_smem_bytes(128), 48 * 1024);
        assert_eq!(attention_smem_bytes(64), 24 * 1024);
        assert_eq!(attention_kernel(false, 64), Some("flash_fwd_f16_d64"));
        assert_eq!(attention_kernel(true, 96), None);
        assert_eq!(dynamic_smem_bytes("flash_fwd_f16_d128"), 48 * 1024);
        assert_eq!(dynamic_smem_bytes(ADAMW), 0);
        assert_eq!(dynamic_smem_bytes(DECODE_ATTN_PARTIAL), 4 * 258 * 4);
    }
}

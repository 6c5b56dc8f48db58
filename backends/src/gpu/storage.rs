//! Which storage element, kernel dtype code and GEMM accumulation each point dtype uses on a
//! GPU. The dtype code is the `dt` argument of the training kernels (kernels/cuda/common.cuh:
//! 0 f32, 1 bf16, 2 f16).

use kernels::DType;

use super::layout::{Compute, Elem};

/// (input storage, output storage, accumulation) of a matmul point: f32 (full f32), tf32
/// (f32 storage, TF32 tensor cores), bf16 and f16 (f32 accumulation, same-type output), fp8
/// e4m3 (bf16 output).
pub fn matmul_types(d: DType) -> (Elem, Elem, Compute) {
    match d {
        DType::F32 => (Elem::F32, Elem::F32, Compute::F32),
        DType::Tf32 => (Elem::F32, Elem::F32, Compute::Tf32),
        DType::Bf16 => (Elem::Bf16, Elem::Bf16, Compute::F32),
        DType::F16 => (Elem::F16, Elem::F16, Compute::F32),
        DType::Fp8E4m3 => (Elem::E4m3, Elem::Bf16, Compute::F32),
    }
}

/// Storage element, kernel dtype code and GEMM accumulation of a training point (none for
/// fp8: there is no fp8 training workload).
pub fn train_storage(d: DType) -> Option<(Elem, i32, Compute)> {
    match d {
        DType::F32 => Some((Elem::F32, 0, Compute::F32)),
        DType::Tf32 => Some((Elem::F32, 0, Compute::Tf32)),
        DType::Bf16 => Some((Elem::Bf16, 1, Compute::F32)),
        DType::F16 => Some((Elem::F16, 2, Compute::F32)),
        DType::Fp8E4m3 => None,
    }
}

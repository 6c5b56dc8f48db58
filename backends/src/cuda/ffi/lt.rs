//! cuBLASLt FFI (through cudarc's raw `cublaslt::result` layer): one handle per GPU and a
//! prepared GEMM — matmul descriptor (compute type, transposes, epilogue, FP8 scale pointers),
//! matrix layouts from [`crate::gpu::layout`], and the algorithm cuBLASLt's heuristic ranks first
//! for this problem within the workspace (the same choice torch.matmul makes). The workspace
//! is owned by the caller and passed to every call.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::mem::size_of;

use cudarc::cublaslt::result as lt;
use cudarc::cublaslt::sys;
use cudarc::driver::CudaStream;

use super::error::CudaError;
use crate::gpu::layout::{Batch, Compute, Elem, Epilogue, Layout, RowMajorGemm};

/// Workspace offered to cuBLASLt: 32 MiB, what PyTorch uses on Hopper.
pub const WORKSPACE_BYTES: usize = 32 << 20;

pub fn data_type(e: Elem) -> sys::cudaDataType {
    match e {
        Elem::F32 => sys::cudaDataType::CUDA_R_32F,
        Elem::Bf16 => sys::cudaDataType::CUDA_R_16BF,
        Elem::F16 => sys::cudaDataType::CUDA_R_16F,
        Elem::E4m3 => sys::cudaDataType::CUDA_R_8F_E4M3,
    }
}

pub fn compute_type(c: Compute) -> sys::cublasComputeType_t {
    match c {
        Compute::F32 => sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
        Compute::Tf32 => sys::cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_TF32,
    }
}

pub fn epilogue(e: Epilogue) -> sys::cublasLtEpilogue_t {
    match e {
        Epilogue::None => sys::cublasLtEpilogue_t::CUBLASLT_EPILOGUE_DEFAULT,
        Epilogue::Bias => sys::cublasLtEpilogue_t::CUBLASLT_EPILOGUE_BIAS,
        Epilogue::ReluBias => sys::cublasLtEpilogue_t::CUBLASLT_EPILOGUE_RELU_BIAS,
    }
}

/// `cublasOperation_t` (cublas_api.h): CUBLAS_OP_N = 0, CUBLAS_OP_T = 1.
fn op(trans: bool) -> i32 {
    use cudarc::cublas::sys::cublasOperation_t as Op;
    if trans {
        Op::CUBLAS_OP_T as i32
    } else {
        Op::CUBLAS_OP_N as i32
    }
}

fn err(what: &str, e: lt::CublasError) -> CudaError {
    CudaError::CublasLt {
        what: what.to_string(),
        source: e,
    }
}

/// A cuBLASLt handle.
pub struct LtHandle(sys::cublasLtHandle_t);

impl LtHandle {
    pub fn new() -> Result<Self, CudaError> {
        lt::create_handle()
            .map(LtHandle)
            .map_err(|e| err("create", e))
    }

    /// cuBLASLt's version number (e.g. 130001).
    pub fn version() -> usize {
        // SAFETY: cublasLtGetVersion takes no arguments and only reads a constant.
        unsafe { sys::cublasLtGetVersion() }
    }
}

impl Drop for LtHandle {
    fn drop(&mut self) {
        // SAFETY: the handle was created by cublasLtCreate and is destroyed once, here.
        let _ = unsafe { lt::destroy_handle(self.0) };
    }
}

/// What one GEMM multiplies, in which types.
#[derive(Debug, Clone, Copy)]
pub struct GemmSpec {
    pub shape: RowMajorGemm,
    pub input: Elem,
    pub output: Elem,
    pub compute: Compute,
    pub epilogue: Epilogue,
    /// Alignment in bytes guaranteed for our A operand's pointer (256 for fresh allocations;
    /// less for a batch slot inside a larger buffer). The heuristic assumes 256 unless told.
    pub align_a: u32,
    /// The same for our B, C and the output (and, when batched, every matrix of the batch).
    pub align_rest: u32,
    /// Strided batch: `count` independent GEMMs, matrix i of each operand at `i × stride`
    /// elements from its pointer.
    pub batch: Option<Batch>,
    /// D = op(A)·op(B) (+ epilogue) + C_in (beta = 1, C_in from `GemmPtrs::c_in`), e.g. a
    /// residual add; otherwise beta = 0.
    pub accumulate: bool,
}

/// Device pointers for one call (0 where unused).
#[derive(Debug, Clone, Copy, Default)]
pub struct GemmPtrs {
    pub a: u64,
    pub b: u64,
    pub c: u64,
    /// The addend C when the GEMM accumulates (may equal `c`).
    pub c_in: u64,
    pub bias: u64,
    /// FP8 only: device f32 scale factors for A and B.
    pub scale_a: u64,
    pub scale_b: u64,
}

/// A prepared GEMM: descriptor, layouts and the chosen algorithm.
pub struct LtGemm {
    desc: sys::cublasLtMatmulDesc_t,
    layouts: [sys::cublasLtMatrixLayout_t; 3],
    algo: sys::cublasLtMatmulAlgo_t,
    pub workspace_needed: usize,
    bias_set: u64,
    accumulate: bool,
}

// SAFETY: the descriptor, layouts and algorithm are plain host objects owned by this value;
// cuBLASLt does not tie them to a thread.
unsafe impl Send for LtGemm {}

fn layout(
    e: Elem,
    l: Layout,
    batch: Option<(u64, i64)>,
) -> Result<sys::cublasLtMatrixLayout_t, CudaError> {
    use sys::cublasLtMatrixLayoutAttribute_t as L;
    let h = lt::create_matrix_layout(data_type(e), l.rows, l.cols, l.ld)
        .map_err(|x| err("layout", x))?;
    if let Some((count, stride)) = batch {
        let count = i32::try_from(count)
            .map_err(|_| CudaError::Invalid(format!("a batch of {count} GEMMs exceeds int32")))?;
        // SAFETY: `h` is live; BATCH_COUNT is documented as int32_t and STRIDED_BATCH_OFFSET
        // as int64_t, and each pointer addresses a live value of that size.
        let set = unsafe {
            lt::set_matrix_layout_attribute(
                h,
                L::CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                &count as *const i32 as *const c_void,
                size_of::<i32>(),
            )
            .and_then(|_| {
                lt::set_matrix_layout_attribute(
                    h,
                    L::CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                    &stride as *const i64 as *const c_void,
                    size_of::<i64>(),
                )
            })
        };
        if let Err(x) = set {
            // SAFETY: created above, destroyed once, not used after.
            let _ = unsafe { lt::destroy_matrix_layout(h) };
            return Err(err("batched layout", x));
        }
    }
    Ok(h)
}

/// Sets one u32 matmul preference.
fn set_pref_u32(
    pref: sys::cublasLtMatmulPreference_t,
    attr: sys::cublasLtMatmulPreferenceAttributes_t,
    value: u32,
) -> Result<(), lt::CublasError> {
    // SAFETY: `value` is a live u32, the documented type of the MIN_ALIGNMENT_* attributes.
    unsafe {
        lt::set_matmul_pref_attribute(
            pref,
            attr,
            &value as *const u32 as *const c_void,
            size_of::<u32>(),
        )
    }
}

fn set_desc<T>(
    desc: sys::cublasLtMatmulDesc_t,
    attr: sys::cublasLtMatmulDescAttributes_t,
    value: &T,
) -> Result<(), CudaError> {
    // SAFETY: `value` points to a live T of the size passed, the type cuBLASLt documents for
    // `attr`; the descriptor is live.
    unsafe {
        lt::set_matmul_desc_attribute(
            desc,
            attr,
            value as *const T as *const c_void,
            size_of::<T>(),
        )
    }
    .map_err(|e| err(&format!("set {attr:?}"), e))
}

impl LtGemm {
    /// Builds the descriptor and layouts and asks the heuristic for the best algorithm.
    /// `ptrs` gives the bias and FP8 scale pointers (fixed for the GEMM's life).
    pub fn new(h: &LtHandle, spec: GemmSpec, ptrs: GemmPtrs) -> Result<Self, CudaError> {
        use sys::cublasLtMatmulDescAttributes_t as A;
        let p = spec.shape.to_lt();
        if spec.input == Elem::E4m3 && !spec.shape.is_fp8_tn() {
            return Err(CudaError::Invalid(
                "cuBLASLt FP8 GEMMs need the TN form (B supplied transposed)".into(),
            ));
        }
        let desc =
            lt::create_matmul_desc(compute_type(spec.compute), sys::cudaDataType::CUDA_R_32F)
                .map_err(|e| err("descriptor", e))?;
        let mut g = LtGemm {
            desc,
            layouts: [std::ptr::null_mut(); 3],
            // SAFETY: cublasLtMatmulAlgo_t is a plain C struct of integers; all-zero is a valid
            // placeholder that the heuristic overwrites before any use.
            algo: unsafe { std::mem::zeroed() },
            workspace_needed: 0,
            bias_set: ptrs.bias,
            accumulate: spec.accumulate,
        };
        set_desc(desc, A::CUBLASLT_MATMUL_DESC_TRANSA, &op(p.trans_a))?;
        set_desc(desc, A::CUBLASLT_MATMUL_DESC_TRANSB, &op(p.trans_b))?;
        if spec.epilogue != Epilogue::None {
            set_desc(
                desc,
                A::CUBLASLT_MATMUL_DESC_EPILOGUE,
                &(epilogue(spec.epilogue) as u32),
            )?;
            set_desc(desc, A::CUBLASLT_MATMUL_DESC_BIAS_POINTER, &ptrs.bias)?;
        }
        if spec.input == Elem::E4m3 {
            set_desc(desc, A::CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &ptrs.scale_b)?;
            set_desc(desc, A::CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &ptrs.scale_a)?;
        }
        // In cuBLASLt's operand order (its A is our B; layout.rs).
        let bat = |i: usize| spec.batch.map(|b| (b.count, b.lt_strides()[i]));
        // One at a time, so that Drop frees those made before a failure.
        g.layouts[0] = layout(spec.input, p.a, bat(0))?;
        g.layouts[1] = layout(spec.input, p.b, bat(1))?;
        g.layouts[2] = layout(spec.output, p.c, bat(2))?;
        let pref = lt::create_matmul_pref().map_err(|e| err("preference", e))?;
        let ws = WORKSPACE_BYTES as u64;
        // SAFETY: `ws` is a live u64, the documented type of MAX_WORKSPACE_BYTES.
        let set = unsafe {
            lt::set_matmul_pref_attribute(
                pref,
                sys::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                &ws as *const u64 as *const c_void,
                size_of::<u64>(),
            )
        };
        let (align, rest) = (spec.align_a.clamp(1, 256), spec.align_rest.clamp(1, 256));
        use sys::cublasLtMatmulPreferenceAttributes_t as P;
        // cuBLASLt's B is our A (layout.rs).
        let set = set
            .and_then(|_| set_pref_u32(pref, P::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align))
            .and_then(|_| set_pref_u32(pref, P::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, rest))
            .and_then(|_| set_pref_u32(pref, P::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, rest))
            .and_then(|_| set_pref_u32(pref, P::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, rest));
        // SAFETY: every object passed is live; the heuristic only reads them.
        let heur = set.map_err(|e| err("preference", e)).and_then(|_| unsafe {
            lt::get_matmul_algo_heuristic(
                h.0,
                desc,
                g.layouts[0],
                g.layouts[1],
                g.layouts[2],
                g.layouts[2],
                pref,
            )
            .map_err(|e| err("heuristic (no algorithm for this shape and dtype)", e))
        });
        // SAFETY: created above and destroyed once.
        let _ = unsafe { lt::destroy_matmul_pref(pref) };
        let heur = heur?;
        g.algo = heur.algo;
        g.workspace_needed = heur.workspaceSize;
        Ok(g)
    }

    /// Enqueues D = op(A)·op(B) (+ epilogue) on `stream`, writing `ptrs.c`.
    pub fn run(
        &self,
        h: &LtHandle,
        ptrs: &GemmPtrs,
        workspace: u64,
        stream: &CudaStream,
    ) -> Result<(), CudaError> {
        if ptrs.bias != self.bias_set {
            return Err(CudaError::Invalid(
                "internal: bias pointer differs from the prepared one".into(),
            ));
        }
        let (alpha, beta) = (1.0f32, if self.accumulate { 1.0f32 } else { 0.0 });
        let c_in = if self.accumulate { ptrs.c_in } else { ptrs.c };
        if self.accumulate && c_in == 0 {
            return Err(CudaError::Invalid(
                "internal: accumulating GEMM without its addend".into(),
            ));
        }
        // SAFETY: the caller's pointers address device buffers of the sizes the layouts
        // describe (checked when they were allocated), cuBLASLt's A is our B and its B our A
        // (see layout.rs), C is the addend (`c_in`, read only when beta = 1) and D the output,
        // both of C's layout, the workspace holds
        // WORKSPACE_BYTES ≥ the algorithm's need, and all descriptors are live.
        unsafe {
            lt::matmul(
                h.0,
                self.desc,
                &alpha as *const f32 as *const c_void,
                &beta as *const f32 as *const c_void,
                ptrs.b as *const c_void,
                self.layouts[0],
                ptrs.a as *const c_void,
                self.layouts[1],
                c_in as *const c_void,
                self.layouts[2],
                ptrs.c as *mut c_void,
                self.layouts[2],
                &self.algo,
                workspace as *mut c_void,
                WORKSPACE_BYTES,
                stream.cu_stream() as sys::cudaStream_t,
            )
        }
        .map_err(|e| err("matmul", e))
    }
}

impl Drop for LtGemm {
    fn drop(&mut self) {
        for l in self.layouts {
            if !l.is_null() {
                // SAFETY: created by cublasLtMatrixLayoutCreate, destroyed once.
                let _ = unsafe { lt::destroy_matrix_layout(l) };
            }
        }
        // SAFETY: created by cublasLtMatmulDescCreate, destroyed once.
        let _ = unsafe { lt::destroy_matmul_desc(self.desc) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sys::cublasLtMatmulDescAttributes_t as A;

    /// cuBLASLt's ABI values this backend relies on (cublasLt.h, library_types.h, CUDA 12 and
    /// 13 alike): a change here would silently mis-program the GEMMs.
    #[test]
    fn cublaslt_enum_values_are_pinned() {
        assert_eq!(data_type(Elem::F32) as u32, 0);
        assert_eq!(data_type(Elem::F16) as u32, 2);
        assert_eq!(data_type(Elem::Bf16) as u32, 14);
        assert_eq!(data_type(Elem::E4m3) as u32, 28);
        assert_eq!(compute_type(Compute::F32) as u32, 68);
        assert_eq!(compute_type(Compute::Tf32) as u32, 77);
        assert_eq!(epilogue(Epilogue::None) as u32, 1);
        assert_eq!(epilogue(Epilogue::Bias) as u32, 4);
        assert_eq!(epilogue(Epilogue::ReluBias) as u32, 6);
        assert_eq!(A::CUBLASLT_MATMUL_DESC_TRANSA as u32, 3);
        assert_eq!(A::CUBLASLT_MATMUL_DESC_TRANSB as u32, 4);
        assert_eq!(A::CUBLASLT_MATMUL_DESC_EPILOGUE as u32, 7);
        assert_eq!(A::CUBLASLT_MATMUL_DESC_BIAS_POINTER as u32, 8);
        assert_eq!(A::CUBLASLT_MATMUL_DESC_A_SCALE_POINTER as u32, 17);
        assert_eq!(A::CUBLASLT_MATMUL_DESC_B_SCALE_POINTER as u32, 18);
        use sys::cublasLtMatmulPreferenceAttributes_t as P;
        assert_eq!(P::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES as u32, 5);
        assert_eq!(P::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES as u32, 8);
        use sys::cublasLtMatrixLayoutAttribute_t as L;
        assert_eq!(L::CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT as u32, 5);
        assert_eq!(L::CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET as u32, 6);
        assert_eq!(op(false) as u32, 0);
        assert_eq!(op(true) as u32, 1);
        assert_eq!(
            sys::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES
                as u32,
            1
        );
    }
}

//! cuBLASLt FFI (through cudarc's raw `cublaslt::result` layer): one handle per GPU and a
//! prepared GEMM — matmul descriptor (compute type, transposes, epilogue, FP8 scale pointers),
//! matrix layouts from [`super::layout`], and the algorithm cuBLASLt's heuristic ranks first
//! for this problem within the workspace (the same choice torch.matmul makes). The workspace
//! is owned by the caller and passed to every call.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::mem::size_of;

use cudarc::cublaslt::result as lt;
use cudarc::cublaslt::sys;
use cudarc::driver::CudaStream;

use super::layout::{Compute, Elem, Epilogue, Layout, RowMajorGemm};

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

fn err(what: &str, e: lt::CublasError) -> String {
    format!("cuBLASLt {what}: {e:?}")
}

/// A cuBLASLt handle.
pub struct LtHandle(sys::cublasLtHandle_t);

impl LtHandle {
    pub fn new() -> Result<Self, String> {
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
}

/// Device pointers for one call (0 where unused).
#[derive(Debug, Clone, Copy, Default)]
pub struct GemmPtrs {
    pub a: u64,
    pub b: u64,
    pub c: u64,
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
}

// SAFETY: the descriptor, layouts and algorithm are plain host objects owned by this value;
// cuBLASLt does not tie them to a thread.
unsafe impl Send for LtGemm {}

fn layout(e: Elem, l: Layout) -> Result<sys::cublasLtMatrixLayout_t, String> {
    lt::create_matrix_layout(data_type(e), l.rows, l.cols, l.ld).map_err(|x| err("layout", x))
}

fn set_desc<T>(
    desc: sys::cublasLtMatmulDesc_t,
    attr: sys::cublasLtMatmulDescAttributes_t,
    value: &T,
) -> Result<(), String> {
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
    pub fn new(h: &LtHandle, spec: GemmSpec, ptrs: GemmPtrs) -> Result<Self, String> {
        use sys::cublasLtMatmulDescAttributes_t as A;
        let p = spec.shape.to_lt();
        if spec.input == Elem::E4m3 && !spec.shape.is_fp8_tn() {
            return Err("cuBLASLt FP8 GEMMs need the TN form (B supplied transposed)".into());
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
        g.layouts = [
            layout(spec.input, p.a)?,
            layout(spec.input, p.b)?,
            layout(spec.output, p.c)?,
        ];
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
        let align = spec.align_a.clamp(1, 256);
        // SAFETY: `align` is a live u32, the documented type of MIN_ALIGNMENT_*_BYTES.
        let set = set.and_then(|_| unsafe {
            // cuBLASLt's B is our A (layout.rs).
            lt::set_matmul_pref_attribute(
                pref,
                sys::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                &align as *const u32 as *const c_void,
                size_of::<u32>(),
            )
        });
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
    ) -> Result<(), String> {
        if ptrs.bias != self.bias_set {
            return Err("internal: bias pointer differs from the prepared one".into());
        }
        let (alpha, beta) = (1.0f32, 0.0f32);
        // SAFETY: the caller's pointers address device buffers of the sizes the layouts
        // describe (checked when they were allocated), cuBLASLt's A is our B and its B our A
        // (see layout.rs), C is both input (beta = 0) and output, the workspace holds
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
                ptrs.c as *const c_void,
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
        assert_eq!(op(false) as u32, 0);
        assert_eq!(op(true) as u32, 1);
        assert_eq!(
            sys::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES
                as u32,
            1
        );
    }
}

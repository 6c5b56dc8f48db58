//! matmul on the GPU: one cuBLASLt GEMM per iteration (heuristic algorithm, 32 MiB workspace)
//! in the point's storage and accumulation types (`crate::gpu::storage::matmul_types`); fp8
//! e4m3 (sm_89+) gets B supplied transposed for the TN form and unit scales.

use kernels::matmul::Matmul;
use kernels::tensor::find;
use kernels::{DType, HostTensor};

use super::{Iteration, Output};
use crate::cuda::device::Device;
use crate::cuda::ffi::driver::DevBuf;
use crate::cuda::ffi::lt::{GemmPtrs, GemmSpec, LtGemm};
use crate::cuda::ffi::CudaError;
use crate::gpu::convert::{encode, transpose};
use crate::gpu::layout::{Elem, Epilogue, RowMajorGemm};
use crate::gpu::storage::matmul_types;

pub struct GpuMatmul {
    gemm: LtGemm,
    ptrs: GemmPtrs,
    out_elem: Elem,
    _bufs: Vec<DevBuf>,
    c: DevBuf,
}

impl GpuMatmul {
    pub fn new(
        dev: &Device,
        p: Matmul,
        dtype: DType,
        inputs: &[HostTensor],
    ) -> Result<Self, CudaError> {
        let (input, output, compute) = matmul_types(dtype);
        let fp8 = input == Elem::E4m3;
        let shape = RowMajorGemm {
            m: p.m,
            n: p.n,
            k: p.k,
            trans_a: false,
            trans_b: fp8,
        };
        let b_host = find(inputs, "b").as_f32();
        let b_vals = if fp8 {
            transpose(b_host, p.k as usize, p.n as usize)
        } else {
            b_host.to_vec()
        };
        let a = dev.gpu.upload(&encode(find(inputs, "a").as_f32(), input))?;
        let b = dev.gpu.upload(&encode(&b_vals, input))?;
        let c = dev.gpu.zeros((p.m * p.n) as usize * output.size())?;
        let ones = dev.gpu.upload(&encode(&[1.0, 1.0], Elem::F32))?;
        let ptrs = GemmPtrs {
            a: a.ptr,
            b: b.ptr,
            c: c.ptr,
            c_in: 0,
            bias: 0,
            scale_a: if fp8 { ones.ptr } else { 0 },
            scale_b: if fp8 { ones.ptr + 4 } else { 0 },
        };
        let spec = GemmSpec {
            shape,
            input,
            output,
            compute,
            epilogue: Epilogue::None,
            align_a: 256,
            align_rest: 256,
            batch: None,
            accumulate: false,
        };
        let gemm = LtGemm::new(&dev.lt, spec, ptrs)?;
        Ok(GpuMatmul {
            gemm,
            ptrs,
            out_elem: output,
            _bufs: vec![a, b, ones],
            c,
        })
    }
}

impl Iteration for GpuMatmul {
    fn enqueue(&self, dev: &Device, _step: usize) -> Result<(), CudaError> {
        self.gemm
            .run(&dev.lt, &self.ptrs, dev.workspace.ptr, &dev.gpu.stream)
    }

    fn output(&self) -> Output<'_> {
        Output::Tensor(&self.c, self.out_elem)
    }
}

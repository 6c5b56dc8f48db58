//! matmul on the GPU: one cuBLASLt GEMM per iteration (heuristic algorithm, 32 MiB workspace)
//! in the point's dtype — f32 (full f32), tf32 (f32 storage, TF32 tensor cores), bf16 and f16
//! (f32 accumulation, same-type output), fp8 e4m3 (sm_89+, B supplied transposed for the TN
//! form, unit scales, bf16 output). Each sample flushes L2 first and is timed by CUDA events.

use kernels::matmul::Matmul;
use kernels::tensor::find;
use kernels::{DType, HostTensor, Produced};

use super::convert::{decode, encode, transpose};
use super::driver::{DevBuf, EventTimer};
use super::layout::{Compute, Elem, Epilogue, RowMajorGemm};
use super::lt::{GemmPtrs, GemmSpec, LtGemm};
use super::Device;
use crate::{BackendError, Prepared};

/// (input storage, output storage, accumulation) for a matmul dtype.
pub fn types(d: DType) -> (Elem, Elem, Compute) {
    match d {
        DType::F32 => (Elem::F32, Elem::F32, Compute::F32),
        DType::Tf32 => (Elem::F32, Elem::F32, Compute::Tf32),
        DType::Bf16 => (Elem::Bf16, Elem::Bf16, Compute::F32),
        DType::F16 => (Elem::F16, Elem::F16, Compute::F32),
        DType::Fp8E4m3 => (Elem::E4m3, Elem::Bf16, Compute::F32),
    }
}

pub struct GpuMatmul<'a> {
    dev: &'a Device,
    gemm: LtGemm,
    ptrs: GemmPtrs,
    out_elem: Elem,
    _bufs: Vec<DevBuf>,
    c: DevBuf,
    timer: EventTimer,
}

impl<'a> GpuMatmul<'a> {
    pub fn new(
        dev: &'a Device,
        p: Matmul,
        dtype: DType,
        inputs: &[HostTensor],
    ) -> Result<Self, BackendError> {
        let (input, output, compute) = types(dtype);
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
        let pe = |e: String| BackendError::Point(e);
        let a = dev
            .gpu
            .upload(&encode(find(inputs, "a").as_f32(), input))
            .map_err(pe)?;
        let b = dev.gpu.upload(&encode(&b_vals, input)).map_err(pe)?;
        let c = dev
            .gpu
            .zeros((p.m * p.n) as usize * output.size())
            .map_err(pe)?;
        let ones = dev
            .gpu
            .upload(&encode(&[1.0, 1.0], Elem::F32))
            .map_err(pe)?;
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
        let gemm = LtGemm::new(&dev.lt, spec, ptrs).map_err(pe)?;
        let timer = dev.gpu.timer().map_err(pe)?;
        Ok(GpuMatmul {
            dev,
            gemm,
            ptrs,
            out_elem: output,
            _bufs: vec![a, b, ones],
            c,
            timer,
        })
    }
}

impl Prepared for GpuMatmul<'_> {
    fn run(&mut self) -> Result<Option<f64>, BackendError> {
        let (dev, gemm, ptrs) = (self.dev, &self.gemm, &self.ptrs);
        dev.timed(&self.timer, || {
            gemm.run(&dev.lt, ptrs, dev.workspace.ptr, &dev.gpu.stream)
        })
        .map(Some)
    }

    fn output(&mut self) -> Result<Produced, BackendError> {
        let bytes = self
            .dev
            .gpu
            .download(&self.c)
            .map_err(BackendError::Point)?;
        Ok(Produced::Tensor(decode(&bytes, self.out_elem)))
    }

    fn timer(&self) -> &'static str {
        "cuda_event"
    }

    fn telemetry(&mut self) -> Option<crate::Telemetry> {
        self.dev.telemetry_since_prepare()
    }
}

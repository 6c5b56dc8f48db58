//! attention on the GPU: bench's fused flash-attention forward kernel (kernels/cuda/attention.cu,
//! compiled by NVRTC for this device) over [b, h, s, d] bf16/f16 tensors, one launch per
//! iteration (geometry and arguments from `crate::gpu::attention`).

use cudarc::driver::CudaFunction;
use kernels::attention::Attention;
use kernels::tensor::find;
use kernels::{DType, HostTensor};

use super::{Iteration, Output};
use crate::cuda::device::Device;
use crate::cuda::ffi::driver::DevBuf;
use crate::cuda::ffi::CudaError;
use crate::cuda::modules::Kernels;
use crate::gpu::attention::{launch, Tensors};
use crate::gpu::convert::encode;
use crate::gpu::launch::Launch;
use crate::gpu::layout::Elem;

pub struct GpuAttention {
    func: CudaFunction,
    launch: Launch,
    elem: Elem,
    _bufs: Vec<DevBuf>,
    o: DevBuf,
}

impl GpuAttention {
    pub fn new(
        dev: &Device,
        kernels: &Kernels,
        p: Attention,
        dtype: DType,
        inputs: &[HostTensor],
    ) -> Result<Self, CudaError> {
        let elem = match dtype {
            DType::Bf16 => Elem::Bf16,
            DType::F16 => Elem::F16,
            other => return Err(CudaError::Invalid(format!("no {other} attention kernel"))),
        };
        let up = |n: &str| dev.gpu.upload(&encode(find(inputs, n).as_f32(), elem));
        let (q, k, v) = (up("q")?, up("k")?, up("v")?);
        let o = dev
            .gpu
            .zeros((p.b * p.h * p.s * p.d) as usize * elem.size())?;
        let tensors = Tensors {
            q: q.ptr,
            k: k.ptr,
            v: v.ptr,
            o: o.ptr,
        };
        let launch = launch(&p, dtype, tensors).map_err(CudaError::Invalid)?;
        let func = kernels
            .get(launch.kernel)
            .ok_or_else(|| CudaError::Invalid(format!("kernel {} not loaded", launch.kernel)))?
            .clone();
        Ok(GpuAttention {
            func,
            launch,
            elem,
            _bufs: vec![q, k, v],
            o,
        })
    }
}

impl Iteration for GpuAttention {
    fn enqueue(&self, dev: &Device, _step: usize) -> Result<(), CudaError> {
        dev.gpu.launch(&self.func, &self.launch)
    }

    fn output(&self) -> Output<'_> {
        Output::Tensor(&self.o, self.elem)
    }
}

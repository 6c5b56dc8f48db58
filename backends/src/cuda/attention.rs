//! attention on the GPU: bench's fused flash-attention forward kernel (kernels/cuda/attention.cu,
//! compiled by NVRTC for this device) over [b, h, s, d] bf16/f16 tensors, one launch per
//! iteration, L2 flushed before and CUDA events around each sample.

use cudarc::driver::CudaFunction;
use kernels::attention::Attention;
use kernels::tensor::find;
use kernels::{DType, HostTensor, Produced};

use super::convert::{decode, encode};
use super::driver::{DevBuf, EventTimer, KArg};
use super::layout::Elem;
use super::sources::{
    attention_kernel, attention_smem_bytes, ATTENTION_BLOCK_M, ATTENTION_THREADS,
};
use super::Device;
use crate::{BackendError, Prepared};

pub struct GpuAttention<'a> {
    dev: &'a Device,
    func: CudaFunction,
    grid: (u32, u32, u32),
    smem: u32,
    args: Vec<KArg>,
    elem: Elem,
    _bufs: Vec<DevBuf>,
    o: DevBuf,
    timer: EventTimer,
}

/// log2(e)/√d: the kernel works in base 2.
pub fn scale_log2(d: u64) -> f32 {
    (std::f64::consts::LOG2_E / (d as f64).sqrt()) as f32
}

impl<'a> GpuAttention<'a> {
    pub fn new(
        dev: &'a Device,
        func: CudaFunction,
        p: Attention,
        dtype: DType,
        inputs: &[HostTensor],
    ) -> Result<Self, BackendError> {
        let elem = match dtype {
            DType::Bf16 => Elem::Bf16,
            DType::F16 => Elem::F16,
            other => return Err(BackendError::Point(format!("no {other} attention kernel"))),
        };
        let pe = BackendError::Point;
        let up = |n: &str| dev.gpu.upload(&encode(find(inputs, n).as_f32(), elem));
        let (q, k, v) = (
            up("q").map_err(pe)?,
            up("k").map_err(pe)?,
            up("v").map_err(pe)?,
        );
        let o = dev
            .gpu
            .zeros((p.b * p.h * p.s * p.d) as usize * elem.size())
            .map_err(pe)?;
        let grid = (
            p.s.div_ceil(ATTENTION_BLOCK_M) as u32,
            (p.b * p.h) as u32,
            1,
        );
        let args = vec![
            KArg::Ptr(q.ptr),
            KArg::Ptr(k.ptr),
            KArg::Ptr(v.ptr),
            KArg::Ptr(o.ptr),
            KArg::I32(p.s as i32),
            KArg::I32(p.causal as i32),
            KArg::F32(scale_log2(p.d)),
        ];
        Ok(GpuAttention {
            dev,
            func,
            grid,
            smem: attention_smem_bytes(p.d),
            args,
            elem,
            _bufs: vec![q, k, v],
            o,
            timer: dev.gpu.timer().map_err(pe)?,
        })
    }

    /// The kernel name for a point, or why there is none.
    pub fn kernel_for(p: &Attention, dtype: DType) -> Result<&'static str, String> {
        let bf16 = match dtype {
            DType::Bf16 => true,
            DType::F16 => false,
            other => {
                return Err(format!(
                    "the cuda attention kernel runs bf16 and f16, not {other}"
                ))
            }
        };
        if p.s > i32::MAX as u64 || p.b * p.h > 65535 {
            return Err("the cuda attention kernel needs s < 2^31 and b·h ≤ 65535".into());
        }
        attention_kernel(bf16, p.d).ok_or_else(|| {
            format!(
                "the cuda attention kernel has head dims 64 and 128, not {}",
                p.d
            )
        })
    }
}

impl Prepared for GpuAttention<'_> {
    fn run(&mut self) -> Result<Option<f64>, BackendError> {
        let this = &*self;
        this.dev
            .timed(&this.timer, || {
                this.dev.gpu.launch(
                    &this.func,
                    this.grid,
                    ATTENTION_THREADS,
                    this.smem,
                    &this.args,
                )
            })
            .map(Some)
    }

    fn output(&mut self) -> Result<Produced, BackendError> {
        let bytes = self
            .dev
            .gpu
            .download(&self.o)
            .map_err(BackendError::Point)?;
        Ok(Produced::Tensor(decode(&bytes, self.elem)))
    }

    fn timer(&self) -> &'static str {
        "cuda_event"
    }

    fn telemetry(&mut self) -> Option<crate::Telemetry> {
        self.dev.telemetry_since_prepare()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_and_kernel_choice() {
        assert!((scale_log2(64) as f64 - std::f64::consts::LOG2_E / 8.0).abs() < 1e-7);
        let p = Attention {
            b: 4,
            h: 32,
            s: 4096,
            d: 128,
            causal: true,
        };
        assert_eq!(
            GpuAttention::kernel_for(&p, DType::Bf16),
            Ok("flash_fwd_bf16_d128")
        );
        assert!(GpuAttention::kernel_for(&p, DType::F32).is_err());
        let odd = Attention { d: 80, ..p };
        assert!(GpuAttention::kernel_for(&odd, DType::F16)
            .unwrap_err()
            .contains("64 and 128"));
    }
}

//! CPU attention with candle: scores = Q·Kᵀ/√d (+ causal mask), a softmax in f32 whatever
//! the input dtype (as fused GPU kernels do), then P·V in the point's dtype.

use candle_core::{DType as CDType, Device, Tensor, D};
use kernels::attention::Attention;
use kernels::tensor::find;
use kernels::{DType, HostTensor, Produced};

use super::{candle_dtype, to_candle, to_f32_vec};
use crate::{BackendError, Prepared};

pub struct CandleAttention {
    q: Tensor,
    kt: Tensor,
    v: Tensor,
    mask: Option<Tensor>,
    scale: f64,
    dtype: CDType,
    out: Option<Tensor>,
}

impl CandleAttention {
    pub fn new(p: Attention, dtype: DType, inputs: &[HostTensor]) -> Result<Self, BackendError> {
        let s = p.s as usize;
        let mask = if p.causal {
            let m: Vec<f32> = (0..s * s)
                .map(|i| {
                    if i % s > i / s {
                        f32::NEG_INFINITY
                    } else {
                        0.0
                    }
                })
                .collect();
            Some(Tensor::from_vec(m, (s, s), &Device::Cpu)?)
        } else {
            None
        };
        Ok(CandleAttention {
            q: to_candle(find(inputs, "q"), dtype)?,
            kt: to_candle(find(inputs, "k"), dtype)?.t()?.contiguous()?,
            v: to_candle(find(inputs, "v"), dtype)?,
            mask,
            scale: 1.0 / (p.d as f64).sqrt(),
            dtype: candle_dtype(dtype),
            out: None,
        })
    }
}

impl Prepared for CandleAttention {
    fn run(&mut self) -> Result<Option<f64>, BackendError> {
        let scores = self.q.matmul(&self.kt)?.to_dtype(CDType::F32)?;
        let mut scores = (scores * self.scale)?;
        if let Some(mask) = &self.mask {
            scores = scores.broadcast_add(mask)?;
        }
        let max = scores.max_keepdim(D::Minus1)?;
        let e = scores.broadcast_sub(&max)?.exp()?;
        let p = e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?;
        self.out = Some(p.to_dtype(self.dtype)?.matmul(&self.v)?);
        Ok(None)
    }

    fn output(&mut self) -> Result<Produced, BackendError> {
        if self.out.is_none() {
            self.run()?;
        }
        Ok(Produced::Tensor(to_f32_vec(
            self.out.as_ref().expect("set by run"),
        )?))
    }
}

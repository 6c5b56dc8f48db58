//! CPU prefill with candle: `batch` prompts through the decoder in one pass, causal attention
//! per (sequence, head), every layer's K and V kept as the KV cache the prepared point holds,
//! and logits only at `kernels::infer::prefill_positions` (what generation and the check read).

use candle_core::{Device, Tensor};
use kernels::infer::{prefill_positions, Prefill};
use kernels::tensor::find;
use kernels::{DType, HostTensor, Produced};

use super::decoder::Decoder;
use super::to_f32_vec;
use crate::{BackendError, Prepared};

pub struct CandlePrefill {
    p: Prefill,
    model: Decoder,
    ids: Tensor,
    positions: Tensor,
    /// Rows of the flattened [batch·prompt] sequence whose logits are output.
    out_rows: Tensor,
    mask: Tensor,
    /// The KV cache the last run wrote: per layer, K and V [batch, heads, prompt, d_head].
    cache: Vec<(Tensor, Tensor)>,
    logits: Option<Tensor>,
}

impl CandlePrefill {
    pub fn new(p: Prefill, dtype: DType, inputs: &[HostTensor]) -> Result<Self, BackendError> {
        let (b, t) = (p.batch as usize, p.prompt as usize);
        let ids: Vec<u32> = find(inputs, "tokens")
            .as_i32()
            .iter()
            .map(|&x| x as u32)
            .collect();
        let positions: Vec<u32> = (0..b * t).map(|i| (i % t) as u32).collect();
        let out_rows: Vec<u32> = (0..b)
            .flat_map(|s| {
                prefill_positions(p.prompt)
                    .into_iter()
                    .map(move |q| (s * t) as u32 + q as u32)
            })
            .collect();
        let mask: Vec<f32> = (0..t * t)
            .map(|i| {
                if i % t > i / t {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        Ok(CandlePrefill {
            p,
            model: Decoder::new(&p.gpt(), dtype, inputs)?,
            ids: Tensor::from_vec(ids, b * t, &Device::Cpu)?,
            positions: Tensor::from_vec(positions, b * t, &Device::Cpu)?,
            out_rows: Tensor::from_vec(out_rows.clone(), out_rows.len(), &Device::Cpu)?,
            mask: Tensor::from_vec(mask, (t, t), &Device::Cpu)?,
            cache: Vec::new(),
            logits: None,
        })
    }
}

impl Prepared for CandlePrefill {
    fn run(&mut self) -> Result<Option<f64>, BackendError> {
        let m = &self.model;
        let (b, t, h, hd) = (
            self.p.batch as usize,
            self.p.prompt as usize,
            m.heads,
            m.head_dim(),
        );
        let mut x = m.embed(&self.ids, &self.positions)?;
        self.cache.clear();
        for l in 0..m.layers {
            let qkv = m.qkv(l, &x)?.reshape((b, t, 3, h, hd))?;
            let part = |i: usize| -> Result<Tensor, BackendError> {
                Ok(qkv
                    .narrow(2, i, 1)?
                    .squeeze(2)?
                    .transpose(1, 2)?
                    .contiguous()?)
            };
            let (q, k, v) = (part(0)?, part(1)?, part(2)?);
            let att = m
                .attend(&q, &k, &v, Some(&self.mask))?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((b * t, h * hd))?;
            self.cache.push((k, v));
            x = m.finish_block(l, &x, &att)?;
        }
        self.logits = Some(m.logits(&x.index_select(&self.out_rows, 0)?)?);
        Ok(None)
    }

    fn output(&mut self) -> Result<Produced, BackendError> {
        match &self.logits {
            Some(l) => Ok(Produced::Tensor(to_f32_vec(l)?)),
            None => Err(BackendError::Point(
                "prefill output read before a run".into(),
            )),
        }
    }
}

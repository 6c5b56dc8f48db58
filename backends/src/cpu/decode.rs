//! CPU decode with candle: a KV cache per layer, K and V [batch, heads, context +
//! DECODE_WINDOW, d_head] in the point's dtype, filled at prepare from the pooled `kv` input
//! (position `p` = pool row `p mod pool`). Each `run` is one real generation step: step `i`
//! embeds `tokens[i mod DECODE_WINDOW]` at position `context + i mod DECODE_WINDOW`, writes
//! its K and V into the cache in place (`slice_set`), attends over every position up to its
//! own (a strided view of the cache, not a copy) and leaves logits [batch, vocab]. Every
//! DECODE_WINDOW steps the position returns to `context`, so the cache length cycles over
//! `context + 1 ..= context + DECODE_WINDOW` and the cached prefix is never rebuilt.

use candle_core::{Device, Tensor};
use kernels::infer::{Decode, DECODE_WINDOW};
use kernels::tensor::find;
use kernels::{DType, HostTensor, Produced};

use super::decoder::Decoder;
use super::{to_candle, to_f32_vec};
use crate::{BackendError, Prepared};

pub struct CandleDecode {
    p: Decode,
    model: Decoder,
    /// Per layer: K and V [batch, heads, context + DECODE_WINDOW, d_head].
    cache: Vec<(Tensor, Tensor)>,
    /// Per window slot: the new tokens [batch] (u32).
    tokens: Vec<Tensor>,
    step: u64,
    logits: Option<Tensor>,
}

/// One layer's K or V from the pool, as [batch, heads, cap, d_head] with positions past
/// `context` zero (each is written before it is read).
fn cache_tensor(
    p: &Decode,
    pool: &[f32],
    heads: usize,
    dtype: DType,
) -> Result<Tensor, BackendError> {
    let (b, d, ctx) = (
        p.batch as usize,
        p.model.d_model as usize,
        p.context as usize,
    );
    let (rows, cap) = (p.pool() as usize, ctx + DECODE_WINDOW as usize);
    let mut host = vec![0f32; b * cap * d];
    for s in 0..b {
        for pos in 0..ctx {
            let src = &pool[(s * rows + pos % rows) * d..][..d];
            host[(s * cap + pos) * d..][..d].copy_from_slice(src);
        }
    }
    let t = HostTensor::f32("cache", vec![b, cap, heads, d / heads], host);
    Ok(to_candle(&t, dtype)?.transpose(1, 2)?.contiguous()?)
}

impl CandleDecode {
    pub fn new(p: Decode, dtype: DType, inputs: &[HostTensor]) -> Result<Self, BackendError> {
        let model = Decoder::new(&p.gpt(), dtype, inputs)?;
        let (b, d) = (p.batch as usize, p.model.d_model as usize);
        let block = b * p.pool() as usize * d;
        let kv = find(inputs, "kv").as_f32();
        let cache = (0..model.layers)
            .map(|l| {
                let k = &kv[(2 * l) * block..][..block];
                let v = &kv[(2 * l + 1) * block..][..block];
                Ok((
                    cache_tensor(&p, k, model.heads, dtype)?,
                    cache_tensor(&p, v, model.heads, dtype)?,
                ))
            })
            .collect::<Result<Vec<_>, BackendError>>()?;
        let tokens = find(inputs, "tokens")
            .as_i32()
            .chunks(b)
            .map(|row| {
                let ids: Vec<u32> = row.iter().map(|&x| x as u32).collect();
                Ok(Tensor::from_vec(ids, b, &Device::Cpu)?)
            })
            .collect::<Result<Vec<_>, BackendError>>()?;
        Ok(CandleDecode {
            p,
            model,
            cache,
            tokens,
            step: 0,
            logits: None,
        })
    }
}

impl Prepared for CandleDecode {
    fn run(&mut self) -> Result<Option<f64>, BackendError> {
        let m = &self.model;
        let (b, h, hd) = (self.p.batch as usize, m.heads, m.head_dim());
        let slot = (self.step % DECODE_WINDOW) as usize;
        let pos = self.p.context as usize + slot;
        let positions = Tensor::from_vec(vec![pos as u32; b], b, &Device::Cpu)?;
        let mut x = m.embed(&self.tokens[slot], &positions)?;
        for l in 0..m.layers {
            let qkv = m.qkv(l, &x)?.reshape((b, 3, h, 1, hd))?;
            let part = |i: usize| -> Result<Tensor, BackendError> {
                Ok(qkv.narrow(1, i, 1)?.squeeze(1)?.contiguous()?)
            };
            let (q, k_new, v_new) = (part(0)?, part(1)?, part(2)?);
            let (k, v) = &self.cache[l];
            k.slice_set(&k_new, 2, pos)?;
            v.slice_set(&v_new, 2, pos)?;
            let (k, v) = (k.narrow(2, 0, pos + 1)?, v.narrow(2, 0, pos + 1)?);
            let att = m.attend(&q, &k, &v, None)?.reshape((b, h * hd))?;
            x = m.finish_block(l, &x, &att)?;
        }
        self.logits = Some(m.logits(&x)?);
        self.step += 1;
        Ok(None)
    }

    fn output(&mut self) -> Result<Produced, BackendError> {
        match &self.logits {
            Some(l) => Ok(Produced::Tensor(to_f32_vec(l)?)),
            None => Err(BackendError::Point(
                "decode output read before a run".into(),
            )),
        }
    }
}

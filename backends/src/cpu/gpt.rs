//! CPU train-gpt with candle's autograd: the transformer `kernels::gpt` defines (pre-norm
//! blocks, causal attention with an f32 softmax, tanh-GELU MLP, tied head), mean next-token
//! cross-entropy, then AdamW on the parameter `Var`s. Each `run` is one step and records its
//! loss, so the loop really trains and its trajectory can be checked.

use candle_core::{DType as CDType, Device, Tensor, Var, D};
use kernels::gpt::{
    TrainGpt, ADAM_EPS, BATCH_POOL, BETA1, BETA2, LEARNING_RATE, LN_EPS, WEIGHT_DECAY,
};
use kernels::tensor::find;
use kernels::{DType, HostTensor, Produced};

use super::to_candle;
use crate::{BackendError, Prepared};

pub struct CandleGpt {
    p: TrainGpt,
    params: Vec<Var>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Per pool slot: input ids [b·seq] and targets [b·seq, 1] (u32).
    batches: Vec<(Tensor, Tensor)>,
    mask: Tensor,
    step: usize,
    losses: Vec<f64>,
}

impl CandleGpt {
    pub fn new(p: TrainGpt, dtype: DType, inputs: &[HostTensor]) -> Result<Self, BackendError> {
        let params = p
            .param_specs()
            .iter()
            .map(|(n, _)| Ok(Var::from_tensor(&to_candle(find(inputs, n), dtype)?)?))
            .collect::<Result<Vec<_>, BackendError>>()?;
        let zeros = || {
            params
                .iter()
                .map(|v| v.as_tensor().zeros_like())
                .collect::<Result<Vec<_>, _>>()
        };
        let (m, v) = (zeros()?, zeros()?);
        let (b, t) = (p.batch as usize, p.seq as usize);
        let tokens = find(inputs, "tokens").as_i32();
        let batches = (0..BATCH_POOL)
            .map(|slot| {
                let seqs = &tokens[slot * b * (t + 1)..(slot + 1) * b * (t + 1)];
                let ids: Vec<u32> = seqs
                    .chunks(t + 1)
                    .flat_map(|s| s[..t].iter().map(|&x| x as u32))
                    .collect();
                let tgt: Vec<u32> = seqs
                    .chunks(t + 1)
                    .flat_map(|s| s[1..].iter().map(|&x| x as u32))
                    .collect();
                Ok((
                    Tensor::from_vec(ids, b * t, &Device::Cpu)?,
                    Tensor::from_vec(tgt, (b * t, 1), &Device::Cpu)?,
                ))
            })
            .collect::<Result<Vec<_>, BackendError>>()?;
        let mask: Vec<f32> = (0..t * t)
            .map(|i| {
                if i % t > i / t {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        Ok(CandleGpt {
            p,
            params,
            m,
            v,
            batches,
            mask: Tensor::from_vec(mask, (t, t), &Device::Cpu)?,
            step: 0,
            losses: Vec::new(),
        })
    }

    fn w(&self, i: usize) -> &Tensor {
        self.params[i].as_tensor()
    }

    fn layer_norm(&self, x: &Tensor, g: usize) -> Result<Tensor, BackendError> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let centered = x.broadcast_sub(&mean)?;
        let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
        let rstd = (var + LN_EPS)?.sqrt()?.recip()?;
        Ok(centered
            .broadcast_mul(&rstd)?
            .broadcast_mul(self.w(g))?
            .broadcast_add(self.w(g + 1))?)
    }

    fn attention(&self, qkv: &Tensor) -> Result<Tensor, BackendError> {
        let (b, t, d, h) = (
            self.p.batch as usize,
            self.p.seq as usize,
            self.p.d_model as usize,
            self.p.heads as usize,
        );
        let hd = d / h;
        let qkv = qkv.reshape((b, t, 3, h, hd))?;
        let part = |i: usize| -> Result<Tensor, BackendError> {
            Ok(qkv
                .narrow(2, i, 1)?
                .squeeze(2)?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let (q, k, v) = (part(0)?, part(1)?, part(2)?);
        let dtype = q.dtype();
        let scores = (q.matmul(&k.t()?)?.to_dtype(CDType::F32)? * (1.0 / (hd as f64).sqrt()))?
            .broadcast_add(&self.mask)?;
        let max = scores.max_keepdim(D::Minus1)?.detach();
        let e = scores.broadcast_sub(&max)?.exp()?;
        let probs = e
            .broadcast_div(&e.sum_keepdim(D::Minus1)?)?
            .to_dtype(dtype)?;
        Ok(probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b * t, d))?)
    }

    fn loss(&self, ids: &Tensor, targets: &Tensor) -> Result<Tensor, BackendError> {
        let (b, t, d) = (
            self.p.batch as usize,
            self.p.seq as usize,
            self.p.d_model as usize,
        );
        let mut x = self
            .w(0)
            .index_select(ids, 0)?
            .reshape((b, t, d))?
            .broadcast_add(self.w(1))?
            .reshape((b * t, d))?;
        for l in 0..self.p.layers as usize {
            let base = 2 + 12 * l;
            let a = self.layer_norm(&x, base)?;
            let qkv = a
                .matmul(self.w(base + 2))?
                .broadcast_add(self.w(base + 3))?;
            let att = self.attention(&qkv)?;
            x = (x + att
                .matmul(self.w(base + 4))?
                .broadcast_add(self.w(base + 5))?)?;
            let c = self.layer_norm(&x, base + 6)?;
            let u = c
                .matmul(self.w(base + 8))?
                .broadcast_add(self.w(base + 9))?;
            x = (x + u
                .gelu()?
                .matmul(self.w(base + 10))?
                .broadcast_add(self.w(base + 11))?)?;
        }
        let xf = self.layer_norm(&x, self.params.len() - 2)?;
        let logits = xf.matmul(&self.w(0).t()?)?.to_dtype(CDType::F32)?;
        let max = logits.max_keepdim(D::Minus1)?.detach();
        let lse = (logits
            .broadcast_sub(&max)?
            .exp()?
            .sum_keepdim(D::Minus1)?
            .log()?
            + max)?;
        let picked = logits.gather(targets, 1)?;
        Ok((lse - picked)?.mean_all()?)
    }
}

impl Prepared for CandleGpt {
    fn run(&mut self) -> Result<Option<f64>, BackendError> {
        let (ids, targets) = &self.batches[self.step % BATCH_POOL];
        let loss = self.loss(ids, targets)?;
        let grads = loss.backward()?;
        let t = (self.step + 1) as i32;
        let (c1, c2) = (1.0 - BETA1.powi(t), 1.0 - BETA2.powi(t));
        for i in 0..self.params.len() {
            let var = &self.params[i];
            let g = grads
                .get(var.as_tensor())
                .ok_or_else(|| BackendError::Point("a parameter got no gradient".into()))?;
            self.m[i] = ((&self.m[i] * BETA1)? + (g * (1.0 - BETA1))?)?;
            self.v[i] = ((&self.v[i] * BETA2)? + (g.sqr()? * (1.0 - BETA2))?)?;
            let update = ((&self.m[i] / c1)? / ((&self.v[i] / c2)?.sqrt()? + ADAM_EPS)?)?;
            let decayed = (update + (var.as_tensor() * WEIGHT_DECAY)?)?;
            var.set(&(var.as_tensor() - (decayed * LEARNING_RATE)?)?)?;
        }
        self.losses.push(loss.to_scalar::<f32>()? as f64);
        self.step += 1;
        Ok(None)
    }

    fn output(&mut self) -> Result<Produced, BackendError> {
        Ok(Produced::Losses(self.losses.clone()))
    }
}

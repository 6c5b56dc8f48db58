//! The inference decoder of `kernels::infer` on candle, shared by CPU prefill and decode: the
//! parameters in the point's dtype and the pieces of a pre-norm block (LayerNorm, the qkv
//! projection, the output projection and GELU MLP with their residuals, the tied head). The
//! attention itself differs (causal over a prompt, or one query over a cache) and lives with
//! each workload. Softmax and logits are f32 whatever the dtype, as in train-gpt's step.

use candle_core::{DType as CDType, Tensor, D};
use kernels::gpt::{TrainGpt, LN_EPS};
use kernels::tensor::find;
use kernels::{DType, HostTensor};

use super::to_candle;
use crate::BackendError;

pub struct Decoder {
    params: Vec<Tensor>,
    pub d: usize,
    pub heads: usize,
    pub layers: usize,
}

impl Decoder {
    pub fn new(g: &TrainGpt, dtype: DType, inputs: &[HostTensor]) -> Result<Self, BackendError> {
        let params = g
            .param_specs()
            .iter()
            .map(|(n, _)| to_candle(find(inputs, n), dtype))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Decoder {
            params,
            d: g.d_model as usize,
            heads: g.heads as usize,
            layers: g.layers as usize,
        })
    }

    pub fn head_dim(&self) -> usize {
        self.d / self.heads
    }

    fn w(&self, i: usize) -> &Tensor {
        &self.params[i]
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

    /// Token plus position embeddings: `ids` [n] (u32) at `positions` [n] (u32) → [n, d].
    pub fn embed(&self, ids: &Tensor, positions: &Tensor) -> Result<Tensor, BackendError> {
        Ok((self.w(0).index_select(ids, 0)? + self.w(1).index_select(positions, 0)?)?)
    }

    /// LN₁ then the qkv projection of layer `l`: [n, d] → [n, 3d].
    pub fn qkv(&self, l: usize, x: &Tensor) -> Result<Tensor, BackendError> {
        let base = 2 + 12 * l;
        let a = self.layer_norm(x, base)?;
        Ok(a.matmul(self.w(base + 2))?
            .broadcast_add(self.w(base + 3))?)
    }

    /// The rest of layer `l` after attention: `x + Wo·att`, then `+ W₂·gelu(W₁·LN₂(·))`.
    pub fn finish_block(&self, l: usize, x: &Tensor, att: &Tensor) -> Result<Tensor, BackendError> {
        let base = 2 + 12 * l;
        let x = (x + att
            .matmul(self.w(base + 4))?
            .broadcast_add(self.w(base + 5))?)?;
        let c = self.layer_norm(&x, base + 6)?;
        let u = c
            .matmul(self.w(base + 8))?
            .broadcast_add(self.w(base + 9))?;
        Ok((x + u
            .gelu()?
            .matmul(self.w(base + 10))?
            .broadcast_add(self.w(base + 11))?)?)
    }

    /// softmax(q·kᵀ/√d_head)·v over the last two dims, the softmax in f32; no mask (`mask`,
    /// when given, is added to the scores first).
    pub fn attend(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
    ) -> Result<Tensor, BackendError> {
        let dtype = q.dtype();
        let scale = 1.0 / (self.head_dim() as f64).sqrt();
        let mut scores = (q.matmul(&k.t()?)?.to_dtype(CDType::F32)? * scale)?;
        if let Some(m) = mask {
            scores = scores.broadcast_add(m)?;
        }
        let max = scores.max_keepdim(D::Minus1)?;
        let e = scores.broadcast_sub(&max)?.exp()?;
        let probs = e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?;
        Ok(probs.to_dtype(dtype)?.matmul(v)?)
    }

    /// The final LayerNorm and the tied head: rows [n, d] → logits [n, vocab] (f32).
    pub fn logits(&self, x: &Tensor) -> Result<Tensor, BackendError> {
        let nf = self.params.len();
        let xf = self.layer_norm(x, nf - 2)?;
        Ok(xf.matmul(&self.w(0).t()?)?.to_dtype(CDType::F32)?)
    }
}

//! What the prefill and decode stand-in NEFFs compute, on the host CPU in f32 (the decoder of
//! train-gpt: pre-norm blocks, causal multi-head attention, tanh-GELU MLP, tied head), written
//! independently of the kernels crate's f64 reference (`kernels::infer_ref`), which judges
//! these outputs; only the output positions come from the kernels crate.
//!
//! - prefill: the parameters and tokens [batch, prompt] → logits [batch, positions, vocab] at
//!   `kernels::infer::prefill_positions` and the KV cache written, [layers, 2, batch, prompt,
//!   d_model].
//! - decode: the parameters, tokens [window, batch], cache [layers, 2, batch, context +
//!   window, d_model] and step → logits [batch, vocab], the cache with this step's K and V
//!   written at position context + step mod window, and step + 1. Positions after the step's
//!   own are not attended.

use crate::compute::matmul;
use crate::standin::StandIn;

/// The model's parameters (the kernels crate's order: wte, wpe, 12 per layer, lnf_g, lnf_b).
struct Net<'a> {
    w: &'a [Vec<f32>],
    d: usize,
    heads: usize,
    layers: usize,
    vocab: usize,
    eps: f32,
}

impl<'a> Net<'a> {
    fn new(s: &StandIn, w: &'a [Vec<f32>]) -> Self {
        Net {
            w,
            d: s.param("d_model"),
            heads: s.param("heads"),
            layers: s.param("layers"),
            vocab: s.param("vocab"),
            eps: s.constants.get("ln_eps").copied().unwrap_or(1e-5) as f32,
        }
    }

    fn p(&self, layer: usize, k: usize) -> &[f32] {
        &self.w[2 + 12 * layer + k]
    }

    fn norm(&self, x: &[f32], g: &[f32], b: &[f32]) -> Vec<f32> {
        let d = self.d;
        let mut out = Vec::with_capacity(x.len());
        for row in x.chunks(d) {
            let mean = row.iter().sum::<f32>() / d as f32;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
            let r = 1.0 / (var + self.eps).sqrt();
            out.extend(
                row.iter()
                    .zip(g)
                    .zip(b)
                    .map(|((v, g), b)| (v - mean) * r * g + b),
            );
        }
        out
    }

    /// rows [n, k] · w [k, m] + bias.
    fn affine(&self, x: &[f32], w: &[f32], bias: &[f32]) -> Vec<f32> {
        let m = bias.len();
        let k = w.len() / m;
        let mut y = matmul(x, w, x.len() / k, k, m);
        for row in y.chunks_mut(m) {
            row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
        }
        y
    }

    /// Token plus position embedding of each (token, position).
    fn embed(&self, toks: impl Iterator<Item = (usize, usize)>) -> Vec<f32> {
        let d = self.d;
        let mut x = Vec::new();
        for (t, p) in toks {
            let (e, q) = (&self.w[0][t * d..][..d], &self.w[1][p * d..][..d]);
            x.extend(e.iter().zip(q).map(|(a, b)| a + b));
        }
        x
    }

    /// The layer's qkv rows [n, 3·d] of x.
    fn qkv(&self, l: usize, x: &[f32]) -> Vec<f32> {
        let a = self.norm(x, self.p(l, 0), self.p(l, 1));
        self.affine(&a, self.p(l, 2), self.p(l, 3))
    }

    /// x + proj(att), then x + MLP(x).
    fn finish(&self, l: usize, x: &mut [f32], att: &[f32]) {
        let o = self.affine(att, self.p(l, 4), self.p(l, 5));
        x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);
        let c = self.norm(x, self.p(l, 6), self.p(l, 7));
        let mut u = self.affine(&c, self.p(l, 8), self.p(l, 9));
        for v in u.iter_mut() {
            let t = (0.797_884_6 * (*v + 0.044715 * *v * *v * *v)).tanh();
            *v = 0.5 * *v * (1.0 + t);
        }
        let m = self.affine(&u, self.p(l, 10), self.p(l, 11));
        x.iter_mut().zip(&m).for_each(|(a, b)| *a += b);
    }

    /// Final LayerNorm of one row, times wteᵀ.
    fn logits(&self, x: &[f32]) -> Vec<f32> {
        let n = self.w.len();
        let xf = self.norm(x, &self.w[n - 2], &self.w[n - 1]);
        (0..self.vocab)
            .map(|t| {
                let e = &self.w[0][t * self.d..][..self.d];
                xf.iter().zip(e).map(|(a, b)| a * b).sum()
            })
            .collect()
    }

    /// Softmax attention of query q [d] over rows `key(j)`, `value(j)` for j < seen, per head.
    fn attend<'k>(
        &self,
        q: &[f32],
        seen: usize,
        key: impl Fn(usize) -> &'k [f32],
        value: impl Fn(usize) -> &'k [f32],
    ) -> Vec<f32> {
        let hd = self.d / self.heads;
        let scale = 1.0 / (hd as f32).sqrt();
        let mut out = vec![0f32; self.d];
        let mut s = vec![0f32; seen];
        for h in 0..self.heads {
            let c = h * hd..(h + 1) * hd;
            let qh = &q[c.clone()];
            for (j, sj) in s.iter_mut().enumerate() {
                *sj = qh
                    .iter()
                    .zip(&key(j)[c.clone()])
                    .map(|(a, b)| a * b)
                    .sum::<f32>()
                    * scale;
            }
            let max = s.iter().cloned().fold(f32::MIN, f32::max);
            let mut sum = 0f32;
            for sj in s.iter_mut() {
                *sj = (*sj - max).exp();
                sum += *sj;
            }
            let o = &mut out[c.clone()];
            for (j, &p) in s.iter().enumerate() {
                o.iter_mut()
                    .zip(&value(j)[c.clone()])
                    .for_each(|(a, v)| *a += p / sum * v);
            }
        }
        out
    }
}

/// Parameters in the decoder's list for `layers`.
pub fn param_count(layers: usize) -> usize {
    12 * layers + 4
}

pub fn prefill(s: &StandIn, vals: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let n = param_count(s.param("layers"));
    let net = Net::new(s, &vals[..n]);
    let (b, t, d) = (s.param("batch"), s.param("prompt"), net.d);
    let positions = kernels::infer::prefill_positions(t as u64);
    let tokens = &vals[n];
    let mut logits = Vec::with_capacity(b * positions.len() * net.vocab);
    let mut cache = vec![0f32; net.layers * 2 * b * t * d];
    for seq in 0..b {
        let toks = &tokens[seq * t..(seq + 1) * t];
        let mut x = net.embed(toks.iter().enumerate().map(|(i, &v)| (v as usize, i)));
        for l in 0..net.layers {
            let qkv = net.qkv(l, &x);
            let row = |i: usize, part: usize| &qkv[i * 3 * d + part * d..][..d];
            let mut att = Vec::with_capacity(t * d);
            for i in 0..t {
                att.extend(net.attend(row(i, 0), i + 1, |j| row(j, 1), |j| row(j, 2)));
            }
            for part in 0..2 {
                let base = ((l * 2 + part) * b + seq) * t * d;
                for i in 0..t {
                    cache[base + i * d..][..d].copy_from_slice(row(i, 1 + part));
                }
            }
            net.finish(l, &mut x, &att);
        }
        for &p in &positions {
            logits.extend(net.logits(&x[p as usize * d..][..d]));
        }
    }
    vec![logits, cache]
}

pub fn decode(s: &StandIn, vals: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let n = param_count(s.param("layers"));
    let net = Net::new(s, &vals[..n]);
    let (b, d) = (s.param("batch"), net.d);
    let window = s.constants.get("window").copied().unwrap_or(16.0) as usize;
    let ctx = s.param("context");
    let cap = ctx + window;
    let (tokens, mut cache, step) = (&vals[n], vals[n + 1].clone(), vals[n + 2][0] as usize);
    let slot = step % window;
    let pos = ctx + slot;
    let mut logits = Vec::with_capacity(b * net.vocab);
    for seq in 0..b {
        let tok = tokens[slot * b + seq] as usize;
        let mut x = net.embed(std::iter::once((tok, pos)));
        for l in 0..net.layers {
            let qkv = net.qkv(l, &x);
            let at = |part: usize, p: usize| ((((l * 2 + part) * b + seq) * cap) + p) * d;
            for part in 0..2 {
                let i = at(part, pos);
                cache[i..i + d].copy_from_slice(&qkv[(1 + part) * d..(2 + part) * d]);
            }
            let c = &cache;
            let att = net.attend(
                &qkv[..d],
                pos + 1,
                |j| &c[at(0, j)..at(0, j) + d],
                |j| &c[at(1, j)..at(1, j) + d],
            );
            net.finish(l, &mut x, &att);
        }
        logits.extend(net.logits(&x));
    }
    vec![logits, cache, vec![(step + 1) as f32]]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standin(workload: &str, params: &str, window: bool) -> StandIn {
        let consts = if window {
            r#"{"ln_eps": 1e-5, "window": 4}"#
        } else {
            r#"{"ln_eps": 1e-5}"#
        };
        let body = format!(
            r#"{{"workload": "{workload}", "params": {{{params}}}, "inputs": [], "outputs": [], "constants": {consts}}}"#
        );
        serde_json::from_str(&body).unwrap()
    }

    /// Decoding the last token over prefill's cache of the others gives prefill's last logits
    /// and appends prefill's K and V; a later step at the same slot sees the same cache length.
    #[test]
    fn decode_over_prefills_cache_equals_prefill() {
        use kernels::infer::{Decoder, Prefill};
        let m = Decoder {
            d_model: 8,
            layers: 2,
            heads: 2,
            vocab: 11,
        };
        let (b, ctx, window) = (2usize, 5usize, 4usize);
        let pre = Prefill {
            model: m,
            batch: b as u64,
            prompt: ctx as u64 + 1,
        };
        let ins = pre.inputs(kernels::DType::F32, 3);
        let mut vals: Vec<Vec<f32>> = ins
            .iter()
            .map(|t| match &t.data {
                kernels::tensor::TensorData::F32(v) => v.clone(),
                kernels::tensor::TensorData::I32(v) => v.iter().map(|&x| x as f32).collect(),
            })
            .collect();
        // wpe has prompt rows; decode's model needs context + window
        vals[1].resize((ctx + window) * 8, 0.25);
        let common = "\"d_model\": 8, \"layers\": 2, \"heads\": 2, \"vocab\": 11, \"batch\": 2";
        let out = prefill(
            &standin("prefill", &format!("{common}, \"prompt\": 6"), false),
            &vals,
        );
        let (logits, pcache) = (&out[0], &out[1]);
        let n = param_count(2);
        let (t, cap) = (ctx + 1, ctx + window);
        let mut cache = vec![0f32; 2 * 2 * b * cap * 8];
        for blk in 0..2 * 2 * b {
            cache[blk * cap * 8..][..ctx * 8].copy_from_slice(&pcache[blk * t * 8..][..ctx * 8]);
        }
        let tokens = &vals[n];
        let mut toks = vec![0f32; window * b];
        for s in 0..b {
            toks[s] = tokens[s * t + ctx];
        }
        let dec = standin("decode", &format!("{common}, \"context\": 5"), true);
        let mut dvals = vals[..n].to_vec();
        dvals.extend([toks, cache, vec![0.0]]);
        let first = decode(&dec, &dvals);
        let npos = kernels::infer::prefill_positions(t as u64).len();
        for s in 0..b {
            let want = &logits[(s * npos + npos - 1) * 11..][..11];
            let got = &first[0][s * 11..][..11];
            for (a, w) in got.iter().zip(want) {
                assert!((a - w).abs() < 1e-4, "seq {s}: {got:?} vs {want:?}");
            }
        }
        for blk in 0..2 * 2 * b {
            assert_eq!(
                &first[1][blk * cap * 8..][..t * 8],
                &pcache[blk * t * 8..][..t * 8]
            );
        }
        assert_eq!(first[2], vec![1.0]);
        // step `window` is slot 0 again: same token, same position, the stale row overwritten
        let mut again = vals[..n].to_vec();
        again.extend([dvals[n].clone(), first[1].clone(), vec![window as f32]]);
        let wrapped = decode(&dec, &again);
        assert_eq!(wrapped[0], first[0]);
        assert_eq!(wrapped[2], vec![window as f32 + 1.0]);
    }

    #[test]
    fn gelu_constant_is_sqrt_two_over_pi() {
        assert!((0.797_884_6f64 - (2.0 / std::f64::consts::PI).sqrt()).abs() < 1e-7);
    }
}

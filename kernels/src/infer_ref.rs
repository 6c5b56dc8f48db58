//! The f64 references of prefill and decode: the decoder of `gpt.rs` run token by position
//! over a KV cache, with train-gpt's reference LayerNorm and GELU (`gpt_ref`) and the threaded
//! f64 matmul (`linalg`). Weights stay f32 in the inputs and are widened one layer at a time,
//! so a 1B-parameter model costs a few hundred MB here, not 8 GB.
//!
//! Cost: prefill runs the checked sequences' prefixes up to the last checked position,
//! decode runs [`DECODE_CHECK_STEPS`] steps of the checked sequences over the whole cache;
//! both stay within about [`crate::infer::REFERENCE_FLOPS`] f64 FLOPs (seconds on a many-core
//! host; see `Prefill::checked`). The cross-check against train-gpt's reference (the same
//! logits give the same loss) is in the tests below.

use crate::check::Reference;
use crate::gpt_ref::{add_bias, gelu, layer_norm};
use crate::infer::{Decode, Prefill, DECODE_CHECK_STEPS, DECODE_WINDOW};
use crate::linalg::matmul;
use crate::tensor::{find, HostTensor};

/// One layer's cache for one sequence: `context` positions from a pool of f32 rows (position
/// `p` is row `p mod pool`), then the rows the forward appended, in f64.
struct LayerCache<'a> {
    pool_k: &'a [f32],
    pool_v: &'a [f32],
    pool: usize,
    context: usize,
    k: Vec<f64>,
    v: Vec<f64>,
}

impl LayerCache<'_> {
    fn empty() -> LayerCache<'static> {
        LayerCache {
            pool_k: &[],
            pool_v: &[],
            pool: 1,
            context: 0,
            k: Vec::new(),
            v: Vec::new(),
        }
    }

    /// q·K[j] over channels `c0..c0+q.len()`.
    fn dot_k(&self, j: usize, d: usize, c0: usize, q: &[f64]) -> f64 {
        if j < self.context {
            let row = &self.pool_k[(j % self.pool) * d + c0..][..q.len()];
            q.iter().zip(row).map(|(a, &b)| a * b as f64).sum()
        } else {
            let row = &self.k[(j - self.context) * d + c0..][..q.len()];
            q.iter().zip(row).map(|(a, b)| a * b).sum()
        }
    }

    /// out += p·V[j] over channels `c0..c0+out.len()`.
    fn add_v(&self, j: usize, d: usize, c0: usize, p: f64, out: &mut [f64]) {
        if j < self.context {
            let row = &self.pool_v[(j % self.pool) * d + c0..][..out.len()];
            out.iter_mut()
                .zip(row)
                .for_each(|(o, &x)| *o += p * x as f64);
        } else {
            let row = &self.v[(j - self.context) * d + c0..][..out.len()];
            out.iter_mut().zip(row).for_each(|(o, x)| *o += p * x);
        }
    }

    fn len(&self, d: usize) -> usize {
        self.context + self.k.len() / d
    }
}

struct Model<'a> {
    params: Vec<&'a [f32]>,
    d: usize,
    h: usize,
    v: usize,
    layers: usize,
}

fn wide(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

impl<'a> Model<'a> {
    fn new(g: &crate::gpt::TrainGpt, inputs: &'a [HostTensor]) -> Self {
        Model {
            params: g
                .param_specs()
                .iter()
                .map(|(n, _)| find(inputs, n).as_f32())
                .collect(),
            d: g.d_model as usize,
            h: g.heads as usize,
            v: g.vocab as usize,
            layers: g.layers as usize,
        }
    }

    fn w(&self, l: usize, k: usize) -> Vec<f64> {
        wide(self.params[2 + 12 * l + k])
    }

    /// Runs `tokens[s]` (each `t` long) at positions `pos0..pos0 + t` of sequence `s`,
    /// attending over and appending to `caches[s][layer]`; returns the final LayerNorm's
    /// rows [sequences·t, d].
    fn forward(
        &self,
        tokens: &[Vec<i32>],
        pos0: usize,
        caches: &mut [Vec<LayerCache>],
    ) -> Vec<f64> {
        let (d, f) = (self.d, 4 * self.d);
        let t = tokens[0].len();
        let n = tokens.len() * t;
        let (wte, wpe) = (self.params[0], self.params[1]);
        let mut x = vec![0.0; n * d];
        for (s, toks) in tokens.iter().enumerate() {
            for (i, &tok) in toks.iter().enumerate() {
                let row = &mut x[(s * t + i) * d..][..d];
                let (e, p) = (&wte[tok as usize * d..][..d], &wpe[(pos0 + i) * d..][..d]);
                for c in 0..d {
                    row[c] = e[c] as f64 + p[c] as f64;
                }
            }
        }
        for l in 0..self.layers {
            let (a, _) = layer_norm(&x, &self.w(l, 0), &self.w(l, 1), d);
            let mut qkv = matmul(&a, &self.w(l, 2), n, d, 3 * d);
            add_bias(&mut qkv, &self.w(l, 3));
            let att = self.attend(&qkv, t, l, caches);
            let mut proj = matmul(&att, &self.w(l, 4), n, d, d);
            add_bias(&mut proj, &self.w(l, 5));
            x.iter_mut().zip(&proj).for_each(|(a, b)| *a += b);
            let (c, _) = layer_norm(&x, &self.w(l, 6), &self.w(l, 7), d);
            let mut u = matmul(&c, &self.w(l, 8), n, d, f);
            add_bias(&mut u, &self.w(l, 9));
            u.iter_mut().for_each(|z| *z = gelu(*z));
            let mut out = matmul(&u, &self.w(l, 10), n, f, d);
            add_bias(&mut out, &self.w(l, 11));
            x.iter_mut().zip(&out).for_each(|(a, b)| *a += b);
        }
        let nf = self.params.len();
        layer_norm(
            &x,
            &wide(self.params[nf - 2]),
            &wide(self.params[nf - 1]),
            d,
        )
        .0
    }

    /// Appends each row's K and V to its sequence's cache, then attends causally: row `i` of a
    /// sequence sees every cached position up to and including its own.
    fn attend(&self, qkv: &[f64], t: usize, l: usize, caches: &mut [Vec<LayerCache>]) -> Vec<f64> {
        let (d, h) = (self.d, self.h);
        let hd = d / h;
        let scale = 1.0 / (hd as f64).sqrt();
        let mut att = vec![0.0; qkv.len() / 3];
        for (s, cache) in caches.iter_mut().enumerate() {
            let c = &mut cache[l];
            let before = c.len(d);
            for i in 0..t {
                let row = &qkv[(s * t + i) * 3 * d..][..3 * d];
                c.k.extend_from_slice(&row[d..2 * d]);
                c.v.extend_from_slice(&row[2 * d..]);
            }
            let c = &cache[l];
            let mut scores = vec![0.0; before + t];
            for i in 0..t {
                let seen = before + i + 1;
                let row = &qkv[(s * t + i) * 3 * d..][..3 * d];
                for hi in 0..h {
                    let q = &row[hi * hd..][..hd];
                    let mut max = f64::NEG_INFINITY;
                    for (j, sc) in scores.iter_mut().enumerate().take(seen) {
                        *sc = c.dot_k(j, d, hi * hd, q) * scale;
                        max = max.max(*sc);
                    }
                    let mut denom = 0.0;
                    for sc in scores.iter_mut().take(seen) {
                        *sc = (*sc - max).exp();
                        denom += *sc;
                    }
                    let out = &mut att[(s * t + i) * d + hi * hd..][..hd];
                    for (j, &p) in scores.iter().enumerate().take(seen) {
                        c.add_v(j, d, hi * hd, p / denom, out);
                    }
                }
            }
        }
        att
    }

    /// Logits of one final-LayerNorm row against the tied head (wte).
    fn logits(&self, xf: &[f64]) -> Vec<f64> {
        let d = self.d;
        (0..self.v)
            .map(|tok| {
                let e = &self.params[0][tok * d..][..d];
                xf.iter().zip(e).map(|(a, &b)| a * b as f64).sum()
            })
            .collect()
    }
}

/// Logits at the checked positions of the checked sequences (`Prefill::checked`).
pub fn prefill_reference(p: &Prefill, inputs: &[HostTensor]) -> Reference {
    let model = Model::new(&p.gpt(), inputs);
    let all_positions = crate::infer::prefill_positions(p.prompt);
    let (seqs, positions) = p.checked();
    let t = *positions.last().unwrap_or(&0) as usize + 1;
    let tokens = find(inputs, "tokens").as_i32();
    let prompt = p.prompt as usize;
    let rows: Vec<Vec<i32>> = seqs
        .iter()
        .map(|&s| tokens[s * prompt..s * prompt + t].to_vec())
        .collect();
    let mut caches: Vec<Vec<LayerCache>> = seqs
        .iter()
        .map(|_| (0..model.layers).map(|_| LayerCache::empty()).collect())
        .collect();
    let xf = model.forward(&rows, 0, &mut caches);
    let (v, d, np) = (model.v, model.d, all_positions.len());
    let mut indices = Vec::new();
    let mut values = Vec::new();
    for (si, &s) in seqs.iter().enumerate() {
        for &pos in &positions {
            let pi = all_positions.iter().position(|&q| q == pos).unwrap_or(0);
            let row = &xf[(si * t + pos as usize) * d..][..d];
            indices.extend((0..v).map(|c| (s * np + pi) * v + c));
            values.extend(model.logits(row));
        }
    }
    Reference::sampled(indices, values, p.batch as usize * np * v)
}

/// Logits of decode step [`DECODE_CHECK_STEPS`] (counting from 1) for the checked sequences.
pub fn decode_reference(p: &Decode, inputs: &[HostTensor]) -> Reference {
    let model = Model::new(&p.gpt(), inputs);
    let (b, d, pool, ctx) = (
        p.batch as usize,
        model.d,
        p.pool() as usize,
        p.context as usize,
    );
    let kv = find(inputs, "kv").as_f32();
    let tokens = find(inputs, "tokens").as_i32();
    let seqs = p.checked();
    let block = pool * d;
    let mut caches: Vec<Vec<LayerCache>> = seqs
        .iter()
        .map(|&s| {
            (0..model.layers)
                .map(|l| LayerCache {
                    pool_k: &kv[((l * 2) * b + s) * block..][..block],
                    pool_v: &kv[((l * 2 + 1) * b + s) * block..][..block],
                    pool,
                    context: ctx,
                    k: Vec::new(),
                    v: Vec::new(),
                })
                .collect()
        })
        .collect();
    let steps = DECODE_CHECK_STEPS.min(DECODE_WINDOW as usize);
    let rows: Vec<Vec<i32>> = seqs
        .iter()
        .map(|&s| (0..steps).map(|i| tokens[i * b + s]).collect())
        .collect();
    let xf = model.forward(&rows, ctx, &mut caches);
    let v = model.v;
    let mut indices = Vec::new();
    let mut values = Vec::new();
    for (si, &s) in seqs.iter().enumerate() {
        let row = &xf[(si * steps + steps - 1) * d..][..d];
        indices.extend((0..v).map(|c| s * v + c));
        values.extend(model.logits(row));
    }
    Reference::sampled(indices, values, b * v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::gpt::TrainGpt;
    use crate::infer::tests::TINY;

    /// Mean next-token cross-entropy from per-position logits.
    fn loss_of(logits: &[Vec<f64>], targets: &[i32]) -> f64 {
        let n = logits.len();
        logits
            .iter()
            .zip(targets)
            .map(|(row, &tg)| {
                let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let lse = max + row.iter().map(|z| (z - max).exp()).sum::<f64>().ln();
                lse - row[tg as usize]
            })
            .sum::<f64>()
            / n as f64
    }

    #[test]
    fn cached_forward_gives_train_gpt_reference_loss() {
        // Weights ×10 so attention and the MLP carry signal.
        let g: TrainGpt = TINY.gpt(6, 2);
        let inputs: Vec<HostTensor> = g
            .inputs(DType::F32, 5)
            .into_iter()
            .map(|mut t| {
                if let crate::tensor::TensorData::F32(v) = &mut t.data {
                    v.iter_mut().for_each(|x| *x *= 10.0);
                }
                t
            })
            .collect();
        let model = Model::new(&g, &inputs);
        let tokens = &find(&inputs, "tokens").as_i32()[..2 * 7];
        let rows: Vec<Vec<i32>> = tokens.chunks(7).map(|s| s[..6].to_vec()).collect();
        let targets: Vec<i32> = tokens.chunks(7).flat_map(|s| s[1..].to_vec()).collect();
        let mut caches: Vec<Vec<LayerCache>> = (0..2)
            .map(|_| (0..2).map(|_| LayerCache::empty()).collect())
            .collect();
        let xf = model.forward(&rows, 0, &mut caches);
        let logits: Vec<Vec<f64>> = xf.chunks(8).map(|r| model.logits(r)).collect();
        let params: Vec<Vec<f64>> = model.params.iter().map(|p| wide(p)).collect();
        let (want, _) = crate::gpt_ref::loss_and_grads(&g, &params, tokens);
        let got = loss_of(&logits, &targets);
        assert!((got - want).abs() < 1e-12 * want.abs(), "{got} vs {want}");
    }

    #[test]
    fn decoding_over_a_cache_equals_running_the_whole_sequence() {
        let g = TINY.gpt(9, 1);
        let inputs = g.init_params(DType::F32, 2, "t");
        let model = Model::new(&g, &inputs);
        let toks: Vec<i32> = vec![3, 1, 4, 1, 5, 9, 2, 6, 5];
        let fresh =
            || -> Vec<Vec<LayerCache>> { vec![(0..2).map(|_| LayerCache::empty()).collect()] };
        let mut whole = fresh();
        let all = model.forward(std::slice::from_ref(&toks), 0, &mut whole);
        let mut cache = fresh();
        model.forward(&[toks[..6].to_vec()], 0, &mut cache);
        model.forward(&[toks[6..8].to_vec()], 6, &mut cache);
        let last = model.forward(&[toks[8..].to_vec()], 8, &mut cache);
        for (a, b) in all[8 * 8..].iter().zip(&last) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        assert_eq!(cache[0][1].k, whole[0][1].k);
    }

    #[test]
    fn pooled_cache_positions_wrap() {
        let p = Decode {
            model: TINY,
            batch: 3,
            context: 5,
        };
        let inputs = p.inputs(DType::F32, 1);
        let r = decode_reference(&p, &inputs);
        assert_eq!(r.output_len, 3 * 11);
        assert_eq!(r.values.len(), 2 * 11); // sequences 0 and 2
        assert!(r.values.iter().all(|v| v.is_finite()));
        let pre = Prefill {
            model: TINY,
            batch: 2,
            prompt: 9,
        };
        let r = prefill_reference(&pre, &pre.inputs(DType::F32, 1));
        assert_eq!(r.output_len, 2 * 4 * 11);
        assert!(
            r.indices.is_none(),
            "every logit of a tiny point is checked"
        );
    }
}

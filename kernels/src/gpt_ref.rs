//! The f64 reference of train-gpt: forward, hand-written backward and AdamW, exactly as
//! `gpt.rs` defines the model. Every backend's loss trajectory is checked against
//! [`reference_losses`]; the gradients are themselves checked against finite differences.

use crate::gpt::{
    TrainGpt, ADAM_EPS, BATCH_POOL, BETA1, BETA2, LEARNING_RATE, LN_EPS, WEIGHT_DECAY,
};
use crate::linalg::{matmul, matmul_nt, matmul_tn, par_map, par_rows};
use crate::tensor::{find, HostTensor};

const GELU_C: f64 = 0.797_884_560_802_865_4; // sqrt(2/pi)

struct Dims {
    b: usize,
    t: usize,
    d: usize,
    h: usize,
    v: usize,
    f: usize,
    l: usize,
}

impl Dims {
    fn of(p: &TrainGpt) -> Dims {
        Dims {
            b: p.batch as usize,
            t: p.seq as usize,
            d: p.d_model as usize,
            h: p.heads as usize,
            v: p.vocab as usize,
            f: 4 * p.d_model as usize,
            l: p.layers as usize,
        }
    }
    fn n(&self) -> usize {
        self.b * self.t
    }
}

/// Index of a parameter in `param_specs` order.
fn idx_layer(l: usize, k: usize) -> usize {
    2 + 12 * l + k
}

pub(crate) struct LnCache {
    xhat: Vec<f64>,
    rstd: Vec<f64>,
}

pub(crate) fn layer_norm(x: &[f64], g: &[f64], bias: &[f64], d: usize) -> (Vec<f64>, LnCache) {
    let rows = x.len() / d;
    let mut y = vec![0.0; x.len()];
    let mut xhat = vec![0.0; x.len()];
    let mut rstd = vec![0.0; rows];
    for r in 0..rows {
        let row = &x[r * d..(r + 1) * d];
        let mu = row.iter().sum::<f64>() / d as f64;
        let var = row.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / d as f64;
        let rs = 1.0 / (var + LN_EPS).sqrt();
        rstd[r] = rs;
        for c in 0..d {
            let xh = (row[c] - mu) * rs;
            xhat[r * d + c] = xh;
            y[r * d + c] = xh * g[c] + bias[c];
        }
    }
    (y, LnCache { xhat, rstd })
}

/// Returns dx; accumulates dg and db.
fn layer_norm_back(
    dy: &[f64],
    cache: &LnCache,
    g: &[f64],
    dg: &mut [f64],
    db: &mut [f64],
    d: usize,
) -> Vec<f64> {
    let rows = dy.len() / d;
    let mut dx = vec![0.0; dy.len()];
    for r in 0..rows {
        let (dyr, xh) = (&dy[r * d..(r + 1) * d], &cache.xhat[r * d..(r + 1) * d]);
        let mut mean_dxh = 0.0;
        let mut mean_dxh_xh = 0.0;
        for c in 0..d {
            dg[c] += dyr[c] * xh[c];
            db[c] += dyr[c];
            let dxh = dyr[c] * g[c];
            mean_dxh += dxh;
            mean_dxh_xh += dxh * xh[c];
        }
        mean_dxh /= d as f64;
        mean_dxh_xh /= d as f64;
        for c in 0..d {
            let dxh = dyr[c] * g[c];
            dx[r * d + c] = cache.rstd[r] * (dxh - mean_dxh - xh[c] * mean_dxh_xh);
        }
    }
    dx
}

pub(crate) fn add_bias(x: &mut [f64], bias: &[f64]) {
    for row in x.chunks_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
}

fn col_sums_into(m: &[f64], out: &mut [f64]) {
    for row in m.chunks(out.len()) {
        for (o, v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

pub(crate) fn gelu(u: f64) -> f64 {
    0.5 * u * (1.0 + (GELU_C * (u + 0.044715 * u * u * u)).tanh())
}

fn gelu_grad(u: f64) -> f64 {
    let th = (GELU_C * (u + 0.044715 * u * u * u)).tanh();
    0.5 * (1.0 + th) + 0.5 * u * (1.0 - th * th) * GELU_C * (1.0 + 3.0 * 0.044715 * u * u)
}

struct BlockCache {
    ln1: LnCache,
    a: Vec<f64>,
    qkv: Vec<f64>,
    lse: Vec<f64>, // [b, h, t]
    att: Vec<f64>,
    ln2: LnCache,
    c: Vec<f64>,
    u: Vec<f64>,
    gl: Vec<f64>,
}

/// Query rows per block of the causal attention: block `[i0, i1)` attends to keys `0..i1`
/// only, so the GEMMs skip most of the masked upper triangle.
const ATT_BLOCK: usize = 256;

/// One head of one sequence gathered contiguous: (q, k, v), each [t, hd], from qkv_b [t, 3d].
fn gather_head(qkv_b: &[f64], hi: usize, d: usize, hd: usize) -> [Vec<f64>; 3] {
    let t = qkv_b.len() / (3 * d);
    let mut out = [vec![0.0; t * hd], vec![0.0; t * hd], vec![0.0; t * hd]];
    for (j, o) in out.iter_mut().enumerate() {
        for (i, row) in o.chunks_mut(hd).enumerate() {
            row.copy_from_slice(&qkv_b[i * 3 * d + j * d + hi * hd..][..hd]);
        }
    }
    out
}

/// Causal probabilities of query rows `i0..i0 + rows` against keys `0..end` ([rows, end], zero
/// above the diagonal) from their scaled scores, the row's log-sum-exp taken from `lse` or,
/// when `lse` is empty, computed and returned.
fn block_probs(
    q_blk: &[f64],
    k_pre: &[f64],
    (i0, end, hd): (usize, usize, usize),
    lse: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let rows = q_blk.len() / hd;
    let scale = 1.0 / (hd as f64).sqrt();
    let mut p = matmul_nt(q_blk, k_pre, rows, hd, end);
    let mut lse_out = Vec::with_capacity(if lse.is_empty() { rows } else { 0 });
    for (r, row) in p.chunks_mut(end).enumerate() {
        let i = i0 + r;
        let (live, masked) = row.split_at_mut(i + 1);
        masked.fill(0.0);
        for s in live.iter_mut() {
            *s *= scale;
        }
        let l = if lse.is_empty() {
            let max = live.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let l = max + live.iter().map(|s| (s - max).exp()).sum::<f64>().ln();
            lse_out.push(l);
            l
        } else {
            lse[i]
        };
        for s in live.iter_mut() {
            *s = (*s - l).exp();
        }
    }
    (p, lse_out)
}

/// The row blocks `[i0, i1)` of a sequence of length t.
fn blocks(t: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..t)
        .step_by(ATT_BLOCK)
        .map(move |i0| (i0, (i0 + ATT_BLOCK).min(t)))
}

/// Causal attention over qkv [n, 3d]; returns (att [n, d], log-sum-exp of every score row
/// [b, h, t]). Probabilities are recomputed in the backward pass rather than stored. Each
/// (batch, head) is one work item; its products are GEMMs over query row blocks.
fn attention(qkv: &[f64], dm: &Dims) -> (Vec<f64>, Vec<f64>) {
    let (b, t, d, h) = (dm.b, dm.t, dm.d, dm.h);
    let hd = d / h;
    let heads = par_map(b * h, |item| {
        let (bi, hi) = (item / h, item % h);
        let [q, k, v] = gather_head(&qkv[bi * t * 3 * d..(bi + 1) * t * 3 * d], hi, d, hd);
        let mut out = vec![0.0; t * hd];
        let mut lse = Vec::with_capacity(t);
        for (i0, i1) in blocks(t) {
            let (p, l) = block_probs(&q[i0 * hd..i1 * hd], &k[..i1 * hd], (i0, i1, hd), &[]);
            lse.extend(l);
            let o = matmul(&p, &v[..i1 * hd], i1 - i0, i1, hd);
            out[i0 * hd..i1 * hd].copy_from_slice(&o);
        }
        (out, lse)
    });
    let mut att = vec![0.0; b * t * d];
    let mut lse = vec![0.0; b * h * t];
    for (item, (out, l)) in heads.into_iter().enumerate() {
        let (bi, hi) = (item / h, item % h);
        for (i, row) in out.chunks(hd).enumerate() {
            att[(bi * t + i) * d + hi * hd..][..hd].copy_from_slice(row);
        }
        lse[item * t..(item + 1) * t].copy_from_slice(&l);
    }
    (att, lse)
}

fn attention_back(datt: &[f64], qkv: &[f64], lse: &[f64], dm: &Dims) -> Vec<f64> {
    let (b, t, d, h) = (dm.b, dm.t, dm.d, dm.h);
    let hd = d / h;
    let scale = 1.0 / (hd as f64).sqrt();
    let heads = par_map(b * h, |item| {
        let (bi, hi) = (item / h, item % h);
        let [q, k, v] = gather_head(&qkv[bi * t * 3 * d..(bi + 1) * t * 3 * d], hi, d, hd);
        let mut dy = vec![0.0; t * hd];
        for (i, row) in dy.chunks_mut(hd).enumerate() {
            row.copy_from_slice(&datt[(bi * t + i) * d + hi * hd..][..hd]);
        }
        let l = &lse[item * t..(item + 1) * t];
        let (mut dq, mut dk, mut dv) = (vec![0.0; t * hd], vec![0.0; t * hd], vec![0.0; t * hd]);
        for (i0, i1) in blocks(t) {
            let rows = i1 - i0;
            let (q_blk, dy_blk) = (&q[i0 * hd..i1 * hd], &dy[i0 * hd..i1 * hd]);
            let (p, _) = block_probs(q_blk, &k[..i1 * hd], (i0, i1, hd), l);
            // dP = dY·Vᵀ; dS = P ∘ (dP − rowsum(P ∘ dP)) · scale (zero where masked)
            let mut ds = matmul_nt(dy_blk, &v[..i1 * hd], rows, hd, i1);
            for (pr, dr) in p.chunks(i1).zip(ds.chunks_mut(i1)) {
                let dot: f64 = pr.iter().zip(dr.iter()).map(|(a, b)| a * b).sum();
                for (g, &pv) in dr.iter_mut().zip(pr) {
                    *g = pv * (*g - dot) * scale;
                }
            }
            dq[i0 * hd..i1 * hd].copy_from_slice(&matmul(&ds, &k[..i1 * hd], rows, i1, hd));
            for (acc, g) in dk.iter_mut().zip(matmul_tn(&ds, q_blk, rows, i1, hd)) {
                *acc += g;
            }
            for (acc, g) in dv.iter_mut().zip(matmul_tn(&p, dy_blk, rows, i1, hd)) {
                *acc += g;
            }
        }
        [dq, dk, dv]
    });
    let mut dqkv = vec![0.0; qkv.len()];
    for (item, grads) in heads.into_iter().enumerate() {
        let (bi, hi) = (item / h, item % h);
        for (j, g) in grads.iter().enumerate() {
            for (i, row) in g.chunks(hd).enumerate() {
                dqkv[(bi * t + i) * 3 * d + j * d + hi * hd..][..hd].copy_from_slice(row);
            }
        }
    }
    dqkv
}

/// Loss and gradients of every parameter (in `param_specs` order) on one batch of
/// `tokens` [batch, seq + 1].
pub fn loss_and_grads(p: &TrainGpt, params: &[Vec<f64>], tokens: &[i32]) -> (f64, Vec<Vec<f64>>) {
    let dm = Dims::of(p);
    let (t, d, v, f, n) = (dm.t, dm.d, dm.v, dm.f, dm.n());
    let input = |r: usize| tokens[(r / t) * (t + 1) + r % t] as usize;
    let target = |r: usize| tokens[(r / t) * (t + 1) + r % t + 1] as usize;
    let (wte, wpe) = (&params[0], &params[1]);
    let mut x = vec![0.0; n * d];
    for r in 0..n {
        for c in 0..d {
            x[r * d + c] = wte[input(r) * d + c] + wpe[(r % t) * d + c];
        }
    }
    let mut caches = Vec::with_capacity(dm.l);
    for l in 0..dm.l {
        let w = |k: usize| &params[idx_layer(l, k)];
        let (a, ln1) = layer_norm(&x, w(0), w(1), d);
        let mut qkv = matmul(&a, w(2), n, d, 3 * d);
        add_bias(&mut qkv, w(3));
        let (att, lse) = attention(&qkv, &dm);
        let mut proj = matmul(&att, w(4), n, d, d);
        add_bias(&mut proj, w(5));
        for (xv, pv) in x.iter_mut().zip(&proj) {
            *xv += pv;
        }
        let (c, ln2) = layer_norm(&x, w(6), w(7), d);
        let mut u = matmul(&c, w(8), n, d, f);
        add_bias(&mut u, w(9));
        let gl: Vec<f64> = u.iter().map(|&z| gelu(z)).collect();
        let mut out = matmul(&gl, w(10), n, f, d);
        add_bias(&mut out, w(11));
        for (xv, ov) in x.iter_mut().zip(&out) {
            *xv += ov;
        }
        caches.push(BlockCache {
            ln1,
            a,
            qkv,
            lse,
            att,
            ln2,
            c,
            u,
            gl,
        });
    }
    let nf = params.len();
    let (xf, lnf) = layer_norm(&x, &params[nf - 2], &params[nf - 1], d);
    let mut logits = matmul_nt(&xf, wte, n, d, v);
    // Cross-entropy per row; the logits become their gradient in place.
    let row_losses = par_rows(&mut logits, v, |r, row| {
        let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = max + row.iter().map(|z| (z - max).exp()).sum::<f64>().ln();
        let loss = lse - row[target(r)];
        for (j, z) in row.iter_mut().enumerate() {
            *z = ((*z - lse).exp() - if j == target(r) { 1.0 } else { 0.0 }) / n as f64;
        }
        loss
    });
    let loss = row_losses.iter().sum::<f64>() / n as f64;
    let dlogits = logits;

    let mut grads: Vec<Vec<f64>> = params.iter().map(|p| vec![0.0; p.len()]).collect();
    grads[0] = matmul_tn(&dlogits, &xf, n, v, d);
    let dxf = matmul(&dlogits, wte, n, v, d);
    let (mut dgf, mut dbf) = (vec![0.0; d], vec![0.0; d]);
    let mut dx = layer_norm_back(&dxf, &lnf, &params[nf - 2], &mut dgf, &mut dbf, d);
    grads[nf - 2] = dgf;
    grads[nf - 1] = dbf;
    for l in (0..dm.l).rev() {
        let cache = &caches[l];
        let w = |k: usize| &params[idx_layer(l, k)];
        let gi = |k: usize| idx_layer(l, k);
        // MLP: x_out = x_mid + gelu(c·W1 + b1)·W2 + b2
        grads[gi(10)] = matmul_tn(&cache.gl, &dx, n, f, d);
        col_sums_into(&dx, &mut grads[gi(11)]);
        let dgl = matmul_nt(&dx, w(10), n, d, f);
        let du: Vec<f64> = dgl
            .iter()
            .zip(&cache.u)
            .map(|(g, &u)| g * gelu_grad(u))
            .collect();
        grads[gi(8)] = matmul_tn(&cache.c, &du, n, d, f);
        col_sums_into(&du, &mut grads[gi(9)]);
        let dc = matmul_nt(&du, w(8), n, f, d);
        let (mut dg2, mut db2) = (vec![0.0; d], vec![0.0; d]);
        let dln2 = layer_norm_back(&dc, &cache.ln2, w(6), &mut dg2, &mut db2, d);
        grads[gi(6)] = dg2;
        grads[gi(7)] = db2;
        for (a, b) in dx.iter_mut().zip(&dln2) {
            *a += b;
        }
        // attention: x_mid = x_in + attn(a)·Wo + bo
        grads[gi(4)] = matmul_tn(&cache.att, &dx, n, d, d);
        col_sums_into(&dx, &mut grads[gi(5)]);
        let datt = matmul_nt(&dx, w(4), n, d, d);
        let dqkv = attention_back(&datt, &cache.qkv, &cache.lse, &dm);
        grads[gi(2)] = matmul_tn(&cache.a, &dqkv, n, d, 3 * d);
        col_sums_into(&dqkv, &mut grads[gi(3)]);
        let da = matmul_nt(&dqkv, w(2), n, 3 * d, d);
        let (mut dg1, mut db1) = (vec![0.0; d], vec![0.0; d]);
        let dln1 = layer_norm_back(&da, &cache.ln1, w(0), &mut dg1, &mut db1, d);
        grads[gi(0)] = dg1;
        grads[gi(1)] = db1;
        for (a, b) in dx.iter_mut().zip(&dln1) {
            *a += b;
        }
    }
    for r in 0..n {
        for c in 0..d {
            grads[0][input(r) * d + c] += dx[r * d + c];
            grads[1][(r % t) * d + c] += dx[r * d + c];
        }
    }
    (loss, grads)
}

/// Optimiser state of the f64 reference: parameters and both AdamW moments, in
/// `param_specs` order, and the number of steps taken.
pub struct GptState {
    pub params: Vec<Vec<f64>>,
    pub m: Vec<Vec<f64>>,
    pub v: Vec<Vec<f64>>,
    pub steps: usize,
}

impl GptState {
    /// The initial state from a point's inputs (moments at zero).
    pub fn from_inputs(p: &TrainGpt, inputs: &[HostTensor]) -> GptState {
        let params: Vec<Vec<f64>> = p
            .param_specs()
            .iter()
            .map(|(name, _)| {
                find(inputs, name)
                    .as_f32()
                    .iter()
                    .map(|&x| x as f64)
                    .collect()
            })
            .collect();
        let m: Vec<Vec<f64>> = params.iter().map(|x| vec![0.0; x.len()]).collect();
        GptState {
            v: m.clone(),
            m,
            params,
            steps: 0,
        }
    }

    /// One training step on `tokens` [batch, seq + 1]: returns the loss before the update.
    pub fn step(&mut self, p: &TrainGpt, tokens: &[i32]) -> f64 {
        let (loss, grads) = loss_and_grads(p, &self.params, tokens);
        self.steps += 1;
        let t = self.steps as i32;
        let (c1, c2) = (1.0 - BETA1.powi(t), 1.0 - BETA2.powi(t));
        for (i, g) in grads.iter().enumerate() {
            for (j, &g) in g.iter().enumerate() {
                let m = &mut self.m[i][j];
                let v = &mut self.v[i][j];
                *m = BETA1 * *m + (1.0 - BETA1) * g;
                *v = BETA2 * *v + (1.0 - BETA2) * g * g;
                let upd = (*m / c1) / ((*v / c2).sqrt() + ADAM_EPS);
                let w = &mut self.params[i][j];
                *w -= LEARNING_RATE * (upd + WEIGHT_DECAY * *w);
            }
        }
        loss
    }
}

/// The loss after each of the first `steps` AdamW steps, in f64.
pub fn reference_losses(p: &TrainGpt, inputs: &[HostTensor], steps: usize) -> Vec<f64> {
    let mut state = GptState::from_inputs(p, inputs);
    let tokens = find(inputs, "tokens").as_i32();
    let per_batch = (p.batch * (p.seq + 1)) as usize;
    (0..steps)
        .map(|step| {
            let slot = step % BATCH_POOL;
            state.step(p, &tokens[slot * per_batch..(slot + 1) * per_batch])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    fn tiny() -> TrainGpt {
        TrainGpt {
            d_model: 8,
            layers: 2,
            heads: 2,
            seq: 5,
            vocab: 11,
            batch: 2,
        }
    }

    fn params_of(p: &TrainGpt, inputs: &[HostTensor]) -> Vec<Vec<f64>> {
        p.param_specs()
            .iter()
            .map(|(n, _)| find(inputs, n).as_f32().iter().map(|&x| x as f64).collect())
            .collect()
    }

    #[test]
    fn gradients_match_finite_differences_for_every_parameter_kind() {
        let p = tiny();
        let inputs = p.inputs(DType::F32, 3);
        // larger weights than the init so every path carries signal
        let params: Vec<Vec<f64>> = params_of(&p, &inputs)
            .into_iter()
            .map(|v| v.into_iter().map(|x| x * 10.0).collect())
            .collect();
        let tokens = &find(&inputs, "tokens").as_i32()[..12];
        let (_, grads) = loss_and_grads(&p, &params, tokens);
        let eps = 1e-6;
        for (i, (name, _)) in p.param_specs().iter().enumerate() {
            for j in [0, params[i].len() / 2, params[i].len() - 1] {
                let mut plus = params.clone();
                plus[i][j] += eps;
                let mut minus = params.clone();
                minus[i][j] -= eps;
                let numeric = (loss_and_grads(&p, &plus, tokens).0
                    - loss_and_grads(&p, &minus, tokens).0)
                    / (2.0 * eps);
                let analytic = grads[i][j];
                assert!(
                    (numeric - analytic).abs() <= 1e-6 + 1e-4 * numeric.abs(),
                    "{name}[{j}]: numeric {numeric} analytic {analytic}"
                );
            }
        }
    }

    /// Sequences past one query block, so the blocked products cover a full and a partial block.
    fn two_blocks() -> (Dims, Vec<f64>) {
        let dm = Dims {
            b: 2,
            t: ATT_BLOCK + 45,
            d: 8,
            h: 2,
            v: 1,
            f: 32,
            l: 1,
        };
        let mut rng = crate::rng::Rng::for_stream(9, "gpt-ref-test/qkv");
        let qkv = rng.fill(dm.n() * 3 * dm.d, 1.0);
        (dm, qkv.into_iter().map(f64::from).collect())
    }

    #[test]
    fn blocked_attention_matches_the_definition_past_one_block() {
        let (dm, qkv) = two_blocks();
        let (att, lse) = attention(&qkv, &dm);
        let (t, d, hd) = (dm.t, dm.d, dm.d / dm.h);
        let scale = 1.0 / (hd as f64).sqrt();
        for (bi, hi, i) in [
            (0, 0, 0),
            (1, 1, 7),
            (0, 1, ATT_BLOCK - 1),
            (1, 0, ATT_BLOCK),
            (1, 1, t - 1),
        ] {
            let row =
                |j: usize, part: usize| &qkv[(bi * t + j) * 3 * d + part * d + hi * hd..][..hd];
            let s: Vec<f64> = (0..=i)
                .map(|j| {
                    row(i, 0)
                        .iter()
                        .zip(row(j, 1))
                        .map(|(a, b)| a * b)
                        .sum::<f64>()
                        * scale
                })
                .collect();
            let max = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = s.iter().map(|x| (x - max).exp()).sum();
            let want_lse = max + z.ln();
            assert!(
                (lse[(bi * dm.h + hi) * t + i] - want_lse).abs() < 1e-12,
                "lse of row {i}"
            );
            for c in 0..hd {
                let want: f64 = (0..=i).map(|j| (s[j] - max).exp() / z * row(j, 2)[c]).sum();
                let got = att[(bi * t + i) * d + hi * hd + c];
                assert!(
                    (got - want).abs() < 1e-12,
                    "att[{bi},{i},{hi},{c}]: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn blocked_attention_gradient_matches_finite_differences_past_one_block() {
        let (dm, qkv) = two_blocks();
        let mut rng = crate::rng::Rng::for_stream(9, "gpt-ref-test/weights");
        let r: Vec<f64> = rng
            .fill(dm.n() * dm.d, 1.0)
            .into_iter()
            .map(f64::from)
            .collect();
        // L = Σ att ∘ r, so dL/datt = r
        let loss =
            |x: &[f64]| -> f64 { attention(x, &dm).0.iter().zip(&r).map(|(a, b)| a * b).sum() };
        let (_, lse) = attention(&qkv, &dm);
        let grad = attention_back(&r, &qkv, &lse, &dm);
        let (t, d) = (dm.t, dm.d);
        let eps = 1e-6;
        // q, k and v entries of rows in the first block, the second block and the last row
        for (bi, i, col) in [
            (0, 3, 1),
            (1, ATT_BLOCK + 2, d + 5),
            (1, t - 1, 2 * d + 3),
            (0, 40, d + 1),
        ] {
            let at = (bi * t + i) * 3 * d + col;
            let (mut plus, mut minus) = (qkv.clone(), qkv.clone());
            plus[at] += eps;
            minus[at] -= eps;
            let numeric = (loss(&plus) - loss(&minus)) / (2.0 * eps);
            assert!(
                (numeric - grad[at]).abs() <= 1e-6 + 1e-5 * numeric.abs(),
                "dqkv[{at}]: numeric {numeric} analytic {}",
                grad[at]
            );
        }
    }

    #[test]
    fn initial_loss_is_near_ln_vocab_and_training_lowers_it() {
        let p = TrainGpt {
            d_model: 16,
            layers: 1,
            heads: 2,
            seq: 8,
            vocab: 13,
            batch: 4,
        };
        let inputs = p.inputs(DType::F32, 1);
        let losses = reference_losses(&p, &inputs, 40);
        assert!((losses[0] - 13f64.ln()).abs() < 0.1, "{}", losses[0]);
        assert!(losses[39] < losses[0] * 0.9, "{losses:?}");
    }
}

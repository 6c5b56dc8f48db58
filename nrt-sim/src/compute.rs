//! What a stand-in NEFF computes, on the host CPU in f32 (f32 accumulation, like the
//! device's matmul engine): matmul, softmax attention, and one SGD-momentum step of the
//! train-mlp ReLU classifier. Written independently of the bench kernels crate, whose f64
//! references judge these outputs, so that a mistake on either side fails the check.
//! The exception is train-gpt: its step here is the kernels crate's own f64 step
//! (`kernels::gpt_ref::GptState`), so through nrt-sim a train-gpt point tests the Neuron
//! path's plumbing (state ping-pong, step counter, batch choice, loss read-back), not the
//! transformer's math; the math of what a real NEFF computes (the JAX lowering) is checked
//! against the f64 reference by scripts/neuron/test_gpt_lowering.py.
//! Tensors arrive and leave as raw little-endian bytes in their declared dtypes.

use kernels::gpt::{TrainGpt, BATCH_POOL};
use kernels::gpt_ref::GptState;

use crate::standin::{Dtype, StandIn, TensorSpec};

/// Raw bytes → f32 values.
pub fn decode(bytes: &[u8], dtype: Dtype) -> Vec<f32> {
    match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::Bf16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::I32 => bytes
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32)
            .collect(),
    }
}

/// f32 values → raw bytes (rounded to nearest even for the narrow types).
pub fn encode(values: &[f32], dtype: Dtype) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * dtype.size());
    for &v in values {
        match dtype {
            Dtype::F32 => out.extend_from_slice(&v.to_le_bytes()),
            Dtype::Bf16 => out.extend_from_slice(&half::bf16::from_f32(v).to_le_bytes()),
            Dtype::F16 => out.extend_from_slice(&half::f16::from_f32(v).to_le_bytes()),
            Dtype::I32 => out.extend_from_slice(&(v as i32).to_le_bytes()),
        }
    }
    out
}

/// Runs the stand-in on its inputs (bytes, in declaration order); returns the outputs.
pub fn run(s: &StandIn, inputs: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let vals: Vec<Vec<f32>> = inputs
        .iter()
        .zip(&s.inputs)
        .map(|(b, spec)| decode(b, spec.dtype))
        .collect();
    let outs: Vec<Vec<f32>> = match s.workload.as_str() {
        "matmul" => vec![matmul(
            &vals[0],
            &vals[1],
            s.param("m"),
            s.param("k"),
            s.param("n"),
        )],
        "attention" => vec![attention(s, &vals[0], &vals[1], &vals[2])],
        "train-mlp" => train_step(s, &vals),
        "train-gpt" => gpt_step(s, &vals),
        "prefill" => crate::infer::prefill(s, &vals),
        "decode" => crate::infer::decode(s, &vals),
        _ => unreachable!("validated at load"),
    };
    outs.iter()
        .zip(&s.outputs)
        .map(|(v, spec): (&Vec<f32>, &TensorSpec)| encode(v, spec.dtype))
        .collect()
}

/// C[m,n] = A[m,k]·B[k,n], row-major, f32 accumulation.
pub fn matmul(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut c = vec![0f32; m * n];
    for (crow, arow) in c.chunks_mut(n).zip(a.chunks(k)) {
        for (&av, brow) in arow.iter().zip(b.chunks(n)) {
            for (cv, &bv) in crow.iter_mut().zip(brow) {
                *cv += av * bv;
            }
        }
    }
    c
}

fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; a.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = a[r * cols + c];
        }
    }
    t
}

fn attention(s: &StandIn, q: &[f32], k: &[f32], v: &[f32]) -> Vec<f32> {
    let (heads, sl, d) = (s.param("b") * s.param("h"), s.param("s"), s.param("d"));
    let causal = s.param("causal") == 1;
    let scale = 1.0 / (d as f32).sqrt();
    let mut out = vec![0f32; q.len()];
    let mut p = vec![0f32; sl];
    for h in 0..heads {
        let base = h * sl * d;
        for i in 0..sl {
            let qi = &q[base + i * d..base + (i + 1) * d];
            let last = if causal { i + 1 } else { sl };
            let mut max = f32::NEG_INFINITY;
            for (j, pj) in p.iter_mut().enumerate().take(last) {
                let kj = &k[base + j * d..base + (j + 1) * d];
                *pj = qi.iter().zip(kj).map(|(a, b)| a * b).sum::<f32>() * scale;
                max = max.max(*pj);
            }
            let mut sum = 0f32;
            for pj in p.iter_mut().take(last) {
                *pj = (*pj - max).exp();
                sum += *pj;
            }
            let o = &mut out[base + i * d..base + (i + 1) * d];
            for (j, &pj) in p.iter().enumerate().take(last) {
                let vj = &v[base + j * d..base + (j + 1) * d];
                for (ov, &vv) in o.iter_mut().zip(vj) {
                    *ov += pj / sum * vv;
                }
            }
        }
    }
    out
}

/// One train-gpt step with the kernels crate's f64 AdamW step (see the module docs).
fn gpt_step(s: &StandIn, vals: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let p = TrainGpt {
        d_model: s.param("d_model") as u64,
        layers: s.param("layers") as u64,
        heads: s.param("heads") as u64,
        seq: s.param("seq") as u64,
        vocab: s.param("vocab") as u64,
        batch: s.param("batch") as u64,
    };
    let n = p.param_specs().len();
    let to64 = |v: &[Vec<f32>]| -> Vec<Vec<f64>> {
        v.iter()
            .map(|t| t.iter().map(|&x| x as f64).collect())
            .collect()
    };
    let mut state = GptState {
        params: to64(&vals[..n]),
        m: to64(&vals[n..2 * n]),
        v: to64(&vals[2 * n..3 * n]),
        steps: vals[3 * n + 1][0] as usize,
    };
    let tokens: Vec<i32> = vals[3 * n].iter().map(|&x| x as i32).collect();
    let per_batch = s.param("batch") * (s.param("seq") + 1);
    let slot = state.steps % BATCH_POOL;
    let loss = state.step(&p, &tokens[slot * per_batch..(slot + 1) * per_batch]);
    let to32 = |v: Vec<Vec<f64>>| {
        v.into_iter()
            .map(|t| t.into_iter().map(|x| x as f32).collect())
    };
    let mut out: Vec<Vec<f32>> = to32(state.params)
        .chain(to32(state.m))
        .chain(to32(state.v))
        .collect();
    out.push(vec![loss as f32]);
    out.push(vec![state.steps as f32]);
    out
}

/// One train-mlp step: inputs are params (w0, b0, .., w_out, b_out), their momentum
/// buffers in the same order, the batch pool x [pool, batch, width], labels y [pool, batch]
/// and the step counter; outputs are the updated params and momentum, the loss before the
/// update, and step + 1.
fn train_step(s: &StandIn, vals: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let (l, w, b, c) = (
        s.param("layers"),
        s.param("width"),
        s.param("batch"),
        s.param("classes"),
    );
    let np = 2 * l + 2;
    let lr = s.constants["lr"] as f32;
    let mu = s.constants["momentum"] as f32;
    let pool = s.constants["batch_pool"] as usize;
    let params = &vals[..np];
    let vel = &vals[np..2 * np];
    let step = vals[2 * np + 2][0] as usize;
    let slot = step % pool.max(1);
    let xb = &vals[2 * np][slot * b * w..(slot + 1) * b * w];
    let yb = &vals[2 * np + 1][slot * b..(slot + 1) * b];

    // forward
    let mut acts = vec![xb.to_vec()];
    for i in 0..l {
        let mut z = matmul(&acts[i], &params[2 * i], b, w, w);
        add_bias(&mut z, &params[2 * i + 1], true);
        acts.push(z);
    }
    let mut logits = matmul(&acts[l], &params[2 * l], b, w, c);
    add_bias(&mut logits, &params[2 * l + 1], false);
    // mean softmax cross-entropy and its gradient
    let mut loss = 0f32;
    let mut dlogits = vec![0f32; b * c];
    for (r, row) in logits.chunks(c).enumerate() {
        let y = yb[r] as usize;
        let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f32>().ln();
        loss += lse - row[y];
        for (j, &v) in row.iter().enumerate() {
            let onehot = if j == y { 1.0 } else { 0.0 };
            dlogits[r * c + j] = ((v - lse).exp() - onehot) / b as f32;
        }
    }
    loss /= b as f32;
    // backward
    let mut grads = vec![Vec::new(); np];
    grads[2 * l] = matmul(&transpose(&acts[l], b, w), &dlogits, w, b, c);
    grads[2 * l + 1] = column_sums(&dlogits, c);
    let mut dh = matmul(&dlogits, &transpose(&params[2 * l], w, c), b, c, w);
    for i in (0..l).rev() {
        for (g, &a) in dh.iter_mut().zip(&acts[i + 1]) {
            if a <= 0.0 {
                *g = 0.0;
            }
        }
        grads[2 * i] = matmul(&transpose(&acts[i], b, w), &dh, w, b, w);
        grads[2 * i + 1] = column_sums(&dh, w);
        if i > 0 {
            dh = matmul(&dh, &transpose(&params[2 * i], w, w), b, w, w);
        }
    }
    // SGD with momentum: v ← μv + g; p ← p − lr·v
    let mut new_params = Vec::with_capacity(np);
    let mut new_vel = Vec::with_capacity(np);
    for ((p, v), g) in params.iter().zip(vel).zip(&grads) {
        let nv: Vec<f32> = v.iter().zip(g).map(|(v, g)| mu * v + g).collect();
        new_params.push(p.iter().zip(&nv).map(|(p, v)| p - lr * v).collect());
        new_vel.push(nv);
    }
    let mut out = new_params;
    out.extend(new_vel);
    out.push(vec![loss]);
    out.push(vec![(step + 1) as f32]);
    out
}

fn add_bias(z: &mut [f32], bias: &[f32], relu: bool) {
    for row in z.chunks_mut(bias.len()) {
        for (v, &bv) in row.iter_mut().zip(bias) {
            *v += bv;
            if relu && *v < 0.0 {
                *v = 0.0;
            }
        }
    }
}

fn column_sums(m: &[f32], cols: usize) -> Vec<f32> {
    let mut s = vec![0f32; cols];
    for row in m.chunks(cols) {
        for (a, &v) in s.iter_mut().zip(row) {
            *a += v;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_by_hand() {
        let c = matmul(&[1.0, 2.0, 3.0, 4.0], &[5.0, 6.0, 7.0, 8.0], 2, 2, 2);
        assert_eq!(c, vec![19.0, 22.0, 43.0, 50.0]);
    }

    #[test]
    fn dtypes_round_trip() {
        let v = vec![1.5f32, -2.25, 3.0];
        for d in [Dtype::F32, Dtype::Bf16, Dtype::F16, Dtype::I32] {
            let back = decode(&encode(&v, d), d);
            let want: Vec<f32> = if d == Dtype::I32 {
                vec![1.0, -2.0, 3.0]
            } else {
                v.clone()
            };
            assert_eq!(back, want, "{d:?}");
        }
    }
}

//! train-mlp: one optimisation step of an MLP classifier on synthetic seeded data.
//!
//! Model: `layers` hidden layers `h ← relu(h·Wᵢ + bᵢ)` of size `width`, then a linear head
//! `logits = h·W_out + b_out` over `classes`, mean softmax cross-entropy. Optimiser: SGD with
//! momentum (PyTorch convention: `v ← μ·v + g`, `p ← p − lr·v`, v starts at zero), lr 0.01,
//! μ 0.9. Data: a pool of [`BATCH_POOL`] batches `x` uniform in [-1, 1), labels from a random
//! linear teacher (`argmax(x·T)`) so the loss really falls; step `t` uses batch `t % BATCH_POOL`.
//! FLOPs ≈ 6 × parameters × batch. The f64 reference replays the first steps and gives the
//! loss after each; every backend's trajectory must match it.

use crate::dtype::DType;
use crate::linalg::{matmul, matmul_nt, matmul_tn};
use crate::rng::Rng;
use crate::storage::Elem;
use crate::tensor::{find, HostTensor, TensorSpec};

pub const LEARNING_RATE: f64 = 0.01;
pub const MOMENTUM: f64 = 0.9;
pub const BATCH_POOL: usize = 4;
/// Human-readable optimiser description recorded in result files.
pub const OPTIMIZER: &str = "sgd-momentum(lr=0.01,momentum=0.9)";

/// Parameters of one train-mlp point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainMlp {
    pub layers: u64,
    pub width: u64,
    pub batch: u64,
    pub classes: u64,
}

impl TrainMlp {
    pub const KEYS: &'static [&'static str] = &["layers", "width", "batch", "classes"];

    /// Trainable parameters (weights and biases).
    pub fn parameters(&self) -> u64 {
        let w = self.width;
        self.layers * (w * w + w) + w * self.classes + self.classes
    }

    pub fn flops(&self) -> f64 {
        6.0 * self.parameters() as f64 * self.batch as f64
    }

    /// Bytes moved per step, approximately: parameters, gradients and momentum read and
    /// written once, plus activations written in the forward pass and read in the backward.
    pub fn bytes(&self, dtype: DType) -> f64 {
        let e = dtype.size_bytes() as f64;
        let acts = (self.batch * (self.width * self.layers + self.classes)) as f64;
        e * (5.0 * self.parameters() as f64 + 2.0 * acts)
    }

    /// How many leading steps the correctness gate replays against the f64 reference.
    pub fn check_steps(&self) -> usize {
        if self.parameters() as f64 * self.batch as f64 <= (1u64 << 30) as f64 {
            4
        } else {
            2
        }
    }

    /// Names of the parameter tensors, in order: w0, b0, …, w_out, b_out.
    pub fn param_names(&self) -> Vec<String> {
        let mut v = Vec::new();
        for i in 0..self.layers {
            v.push(format!("w{i}"));
            v.push(format!("b{i}"));
        }
        v.push("w_out".into());
        v.push("b_out".into());
        v
    }

    /// Shapes matching [`TrainMlp::param_names`].
    pub fn param_shapes(&self) -> Vec<Vec<usize>> {
        let (w, c) = (self.width as usize, self.classes as usize);
        let mut v = Vec::new();
        for _ in 0..self.layers {
            v.push(vec![w, w]);
            v.push(vec![w]);
        }
        v.push(vec![w, c]);
        v.push(vec![c]);
        v
    }

    /// The parameters, the batch pool `x` [BATCH_POOL, batch, width] and labels `y`
    /// [BATCH_POOL, batch] (i32), as [`TrainMlp::inputs`] makes them.
    pub fn input_specs(&self, dtype: DType) -> Vec<TensorSpec> {
        let (w, b) = (self.width as usize, self.batch as usize);
        let e = dtype.storage();
        let mut v: Vec<TensorSpec> = self
            .param_names()
            .iter()
            .zip(self.param_shapes())
            .map(|(n, s)| TensorSpec::new(n, s, e))
            .collect();
        v.push(TensorSpec::new("x", vec![BATCH_POOL, b, w], e));
        v.push(TensorSpec::new("y", vec![BATCH_POOL, b], Elem::I32));
        v
    }

    /// What each step yields for the check: its loss (f32 on every backend).
    pub fn output_specs(&self, _dtype: DType) -> Vec<TensorSpec> {
        vec![TensorSpec::new("loss", vec![], Elem::F32)]
    }

    /// Initial parameters (Kaiming-uniform weights, small random biases), the batch pool
    /// `x` [BATCH_POOL, batch, width] and labels `y` [BATCH_POOL, batch] (i32).
    pub fn inputs(&self, dtype: DType, seed: u64) -> Vec<HostTensor> {
        let (w, b, c) = (
            self.width as usize,
            self.batch as usize,
            self.classes as usize,
        );
        let round = |v: Vec<f32>| -> Vec<f32> { v.into_iter().map(|x| dtype.round(x)).collect() };
        let mut out = Vec::new();
        for (name, shape) in self.param_names().iter().zip(self.param_shapes()) {
            let mut rng = Rng::for_stream(seed, &format!("train-mlp/{name}"));
            let scale = if shape.len() == 2 {
                (6.0 / shape[0] as f32).sqrt()
            } else {
                0.01
            };
            let n = shape.iter().product();
            out.push(HostTensor::f32(name, shape, round(rng.fill(n, scale))));
        }
        let x = round(Rng::for_stream(seed, "train-mlp/x").fill(BATCH_POOL * b * w, 1.0));
        let teacher = Rng::for_stream(seed, "train-mlp/teacher").fill(w * c, 1.0);
        let y: Vec<i32> = x
            .chunks(w)
            .map(|row| {
                (0..c)
                    .map(|j| {
                        let s: f32 = row
                            .iter()
                            .zip(teacher[j..].iter().step_by(c))
                            .map(|(a, t)| a * t)
                            .sum();
                        (s, j)
                    })
                    .fold((f32::NEG_INFINITY, 0), |best, cur| {
                        if cur.0 > best.0 {
                            cur
                        } else {
                            best
                        }
                    })
                    .1 as i32
            })
            .collect();
        out.push(HostTensor::f32("x", vec![BATCH_POOL, b, w], x));
        out.push(HostTensor::i32("y", vec![BATCH_POOL, b], y));
        out
    }

    /// The loss after each of the first `steps` optimisation steps, in f64.
    pub fn reference_losses(&self, inputs: &[HostTensor], steps: usize) -> Vec<f64> {
        let (w, b) = (self.width as usize, self.batch as usize);
        let to64 = |name: &str| -> Vec<f64> {
            find(inputs, name)
                .as_f32()
                .iter()
                .map(|&v| v as f64)
                .collect()
        };
        let names = self.param_names();
        let mut params: Vec<Vec<f64>> = names.iter().map(|n| to64(n)).collect();
        let mut vel: Vec<Vec<f64>> = params.iter().map(|p| vec![0.0; p.len()]).collect();
        let x = find(inputs, "x").as_f32();
        let y = find(inputs, "y").as_i32();
        let mut losses = Vec::with_capacity(steps);
        for step in 0..steps {
            let slot = step % BATCH_POOL;
            let xb: Vec<f64> = x[slot * b * w..(slot + 1) * b * w]
                .iter()
                .map(|&v| v as f64)
                .collect();
            let yb = &y[slot * b..(slot + 1) * b];
            let (loss, grads) = self.loss_and_grads(&params, &xb, yb);
            losses.push(loss);
            // update
            for ((p, v), g) in params.iter_mut().zip(&mut vel).zip(&grads) {
                for ((pv, vv), &gv) in p.iter_mut().zip(v.iter_mut()).zip(g) {
                    *vv = MOMENTUM * *vv + gv;
                    *pv -= LEARNING_RATE * *vv;
                }
            }
        }
        losses
    }

    /// Forward and backward on one batch: the mean loss and the gradient of every parameter.
    pub fn loss_and_grads(
        &self,
        params: &[Vec<f64>],
        xb: &[f64],
        yb: &[i32],
    ) -> (f64, Vec<Vec<f64>>) {
        let (w, b, c, l) = (
            self.width as usize,
            self.batch as usize,
            self.classes as usize,
            self.layers as usize,
        );
        let mut acts = vec![xb.to_vec()];
        for i in 0..l {
            let mut z = matmul(&acts[i], &params[2 * i], b, w, w);
            add_bias_relu(&mut z, &params[2 * i + 1], true);
            acts.push(z);
        }
        let mut logits = matmul(&acts[l], &params[2 * l], b, w, c);
        add_bias_relu(&mut logits, &params[2 * l + 1], false);
        let (loss, dlogits) = cross_entropy(&logits, yb, c);
        let mut grads: Vec<Vec<f64>> = vec![Vec::new(); params.len()];
        grads[2 * l] = matmul_tn(&acts[l], &dlogits, b, w, c);
        grads[2 * l + 1] = column_sums(&dlogits, c);
        let mut dh = matmul_nt(&dlogits, &params[2 * l], b, c, w);
        for i in (0..l).rev() {
            for (g, &a) in dh.iter_mut().zip(&acts[i + 1]) {
                if a <= 0.0 {
                    *g = 0.0;
                }
            }
            grads[2 * i] = matmul_tn(&acts[i], &dh, b, w, w);
            grads[2 * i + 1] = column_sums(&dh, w);
            if i > 0 {
                dh = matmul_nt(&dh, &params[2 * i], b, w, w);
            }
        }
        (loss, grads)
    }

    /// Largest acceptable relative difference of a step's loss from the reference.
    pub fn tolerance(dtype: DType) -> f64 {
        match dtype {
            DType::F32 => 1e-4,
            DType::Tf32 => 5e-3,
            DType::F16 => 1e-2,
            DType::Bf16 | DType::Fp8E4m3 => 5e-2,
        }
    }
}

fn add_bias_relu(z: &mut [f64], bias: &[f64], relu: bool) {
    for row in z.chunks_mut(bias.len()) {
        for (v, &bv) in row.iter_mut().zip(bias) {
            *v += bv;
            if relu && *v < 0.0 {
                *v = 0.0;
            }
        }
    }
}

fn column_sums(m: &[f64], cols: usize) -> Vec<f64> {
    let mut s = vec![0.0; cols];
    for row in m.chunks(cols) {
        for (a, &v) in s.iter_mut().zip(row) {
            *a += v;
        }
    }
    s
}

/// Mean cross-entropy and its gradient with respect to the logits.
fn cross_entropy(logits: &[f64], labels: &[i32], classes: usize) -> (f64, Vec<f64>) {
    let b = labels.len();
    let mut loss = 0.0;
    let mut grad = vec![0.0; logits.len()];
    for (r, (row, &y)) in logits.chunks(classes).zip(labels).enumerate() {
        let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = row.iter().map(|v| (v - max).exp()).sum();
        let lse = max + sum.ln();
        loss += lse - row[y as usize];
        for (j, &v) in row.iter().enumerate() {
            let p = (v - lse).exp();
            grad[r * classes + j] = (p - if j == y as usize { 1.0 } else { 0.0 }) / b as f64;
        }
    }
    (loss / b as f64, grad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> TrainMlp {
        TrainMlp {
            layers: 2,
            width: 16,
            batch: 8,
            classes: 4,
        }
    }

    #[test]
    fn parameter_and_flop_counts() {
        let p = tiny();
        assert_eq!(p.parameters(), 2 * (256 + 16) + 64 + 4);
        assert_eq!(p.flops(), 6.0 * 612.0 * 8.0);
        assert_eq!(p.param_names().len(), p.param_shapes().len());
    }

    #[test]
    fn cross_entropy_of_uniform_logits_is_ln_classes() {
        let (loss, grad) = cross_entropy(&[0.0; 8], &[1, 3], 4);
        assert!((loss - 4f64.ln()).abs() < 1e-12);
        assert!((grad[1] - (0.25 - 1.0) / 2.0).abs() < 1e-12);
        assert!((grad.iter().sum::<f64>()).abs() < 1e-12);
    }

    #[test]
    fn reference_loss_falls_and_starts_near_ln_classes() {
        let p = tiny();
        let inputs = p.inputs(DType::F32, 1);
        let losses = p.reference_losses(&inputs, 40);
        assert!(losses.iter().all(|l| l.is_finite()));
        assert!((losses[0] - 4f64.ln()).abs() < 1.5, "{losses:?}");
        assert!(losses[39] < losses[0] * 0.9, "{losses:?}");
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let p = TrainMlp {
            layers: 2,
            width: 5,
            batch: 3,
            classes: 3,
        };
        let inputs = p.inputs(DType::F32, 5);
        let params: Vec<Vec<f64>> = p
            .param_names()
            .iter()
            .map(|n| {
                find(&inputs, n)
                    .as_f32()
                    .iter()
                    .map(|&v| v as f64)
                    .collect()
            })
            .collect();
        let x: Vec<f64> = find(&inputs, "x").as_f32()[..15]
            .iter()
            .map(|&v| v as f64)
            .collect();
        let y = &find(&inputs, "y").as_i32()[..3];
        let (_, grads) = p.loss_and_grads(&params, &x, y);
        let eps = 1e-6;
        for (t, idx) in [(0usize, 7usize), (1, 2), (2, 11), (4, 4), (5, 1)] {
            let mut plus = params.clone();
            plus[t][idx] += eps;
            let mut minus = params.clone();
            minus[t][idx] -= eps;
            let numeric = (p.loss_and_grads(&plus, &x, y).0 - p.loss_and_grads(&minus, &x, y).0)
                / (2.0 * eps);
            assert!(
                (numeric - grads[t][idx]).abs() < 1e-6,
                "param {t}[{idx}]: numeric {numeric} analytic {}",
                grads[t][idx]
            );
        }
    }

    #[test]
    fn labels_cover_classes() {
        let p = TrainMlp {
            layers: 1,
            width: 32,
            batch: 64,
            classes: 4,
        };
        let inputs = p.inputs(DType::F32, 2);
        let y = find(&inputs, "y").as_i32();
        assert_eq!(y.len(), BATCH_POOL * 64);
        assert!((0..4).all(|k| y.contains(&k)));
    }
}

//! attention: O = softmax(Q·Kᵀ/√d, optionally causal)·V over [b, h, s, d] tensors, row-major.
//! FLOPs 4·b·h·s²·d (two matmuls), halved when causal; bytes one read of Q, K, V and one
//! write of O. The f64 reference covers every query row of small shapes and an even spread of
//! rows in every head for large ones.

use crate::check::Reference;
use crate::dtype::DType;
use crate::rng::Rng;
use crate::tensor::{find, HostTensor, TensorSpec};

/// Parameters of one attention point (`causal` is 0 or 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attention {
    pub b: u64,
    pub h: u64,
    pub s: u64,
    pub d: u64,
    pub causal: bool,
}

const FULL_CHECK_MACS: u64 = 1 << 27;

impl Attention {
    pub const KEYS: &'static [&'static str] = &["b", "h", "s", "d", "causal"];

    pub fn flops(&self) -> f64 {
        let full = 4.0 * (self.b * self.h) as f64 * (self.s as f64).powi(2) * self.d as f64;
        if self.causal {
            full / 2.0
        } else {
            full
        }
    }

    pub fn bytes(&self, dtype: DType) -> f64 {
        4.0 * (self.b * self.h * self.s * self.d) as f64 * dtype.size_bytes() as f64
    }

    /// Tokens processed per iteration (b·s).
    pub fn tokens(&self) -> f64 {
        (self.b * self.s) as f64
    }

    fn shape(&self) -> Vec<usize> {
        [self.b, self.h, self.s, self.d]
            .iter()
            .map(|&x| x as usize)
            .collect()
    }

    /// Q, K and V, each [b, h, s, d].
    pub fn input_specs(&self, dtype: DType) -> Vec<TensorSpec> {
        ["q", "k", "v"]
            .iter()
            .map(|name| TensorSpec::new(name, self.shape(), dtype.storage()))
            .collect()
    }

    /// O, [b, h, s, d].
    pub fn output_specs(&self, dtype: DType) -> Vec<TensorSpec> {
        vec![TensorSpec::new("out", self.shape(), dtype.storage())]
    }

    /// Q, K, V uniform in [-1, 1) rounded to the dtype.
    pub fn inputs(&self, dtype: DType, seed: u64) -> Vec<HostTensor> {
        self.input_specs(dtype)
            .into_iter()
            .map(|s| {
                let v = Rng::for_stream(seed, &format!("attention/{}", s.name))
                    .fill(s.len(), 1.0)
                    .into_iter()
                    .map(|x| dtype.round(x))
                    .collect();
                HostTensor::f32(&s.name, s.shape, v)
            })
            .collect()
    }

    /// Query rows (within each head) the reference covers.
    pub fn checked_rows(&self) -> Vec<usize> {
        let s = self.s as usize;
        let per_row = (self.b * self.h * self.s * self.d * 2).max(1);
        let rows = (FULL_CHECK_MACS / per_row).max(2).min(self.s) as usize;
        if rows >= s {
            return (0..s).collect();
        }
        let mut v: Vec<usize> = (0..rows).map(|i| i * (s - 1) / (rows - 1)).collect();
        v.dedup();
        v
    }

    /// O in f64 for the checked rows of every (batch, head).
    pub fn reference(&self, inputs: &[HostTensor]) -> Reference {
        let (q, k, v) = (
            find(inputs, "q").as_f32(),
            find(inputs, "k").as_f32(),
            find(inputs, "v").as_f32(),
        );
        let (s, d) = (self.s as usize, self.d as usize);
        let scale = 1.0 / (d as f64).sqrt();
        let rows = self.checked_rows();
        let heads = (self.b * self.h) as usize;
        let mut indices = Vec::with_capacity(heads * rows.len() * d);
        let mut values = Vec::with_capacity(heads * rows.len() * d);
        let mut scores = vec![0f64; s];
        let mut out = vec![0f64; d];
        for head in 0..heads {
            let base = head * s * d;
            for &i in &rows {
                let qi = &q[base + i * d..base + (i + 1) * d];
                let last = if self.causal { i } else { s - 1 };
                let mut max = f64::NEG_INFINITY;
                for (j, sc) in scores.iter_mut().enumerate().take(last + 1) {
                    let kj = &k[base + j * d..base + (j + 1) * d];
                    let dot: f64 = qi.iter().zip(kj).map(|(&a, &b)| a as f64 * b as f64).sum();
                    *sc = dot * scale;
                    max = max.max(*sc);
                }
                let mut denom = 0.0;
                for sc in scores.iter_mut().take(last + 1) {
                    *sc = (*sc - max).exp();
                    denom += *sc;
                }
                out.iter_mut().for_each(|o| *o = 0.0);
                for (j, &p) in scores.iter().enumerate().take(last + 1) {
                    let vj = &v[base + j * d..base + (j + 1) * d];
                    for (o, &x) in out.iter_mut().zip(vj) {
                        *o += p * x as f64;
                    }
                }
                indices.extend((0..d).map(|c| base + i * d + c));
                values.extend(out.iter().map(|o| o / denom));
            }
        }
        Reference::sampled(indices, values, heads * s * d)
    }

    pub fn tolerance(dtype: DType) -> f64 {
        match dtype {
            DType::F32 => 2e-4,
            DType::Tf32 => 1e-2,
            DType::Bf16 => 3e-2,
            DType::F16 => 5e-3,
            DType::Fp8E4m3 => 1e-1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(s: u64, causal: bool) -> Attention {
        Attention {
            b: 1,
            h: 1,
            s,
            d: 2,
            causal,
        }
    }

    #[test]
    fn flops_halve_when_causal() {
        let p = Attention {
            b: 2,
            h: 3,
            s: 4,
            d: 8,
            causal: false,
        };
        assert_eq!(p.flops(), 4.0 * 6.0 * 16.0 * 8.0);
        assert_eq!(
            Attention { causal: true, ..p }.flops(),
            2.0 * 6.0 * 16.0 * 8.0
        );
        assert_eq!(p.bytes(DType::Bf16), 4.0 * 2.0 * 3.0 * 4.0 * 8.0 * 2.0);
        assert_eq!(p.tokens(), 8.0);
    }

    #[test]
    fn reference_matches_hand_computed_softmax() {
        // Two keys with scaled scores 0 and ln 3, so the weights are 1/4 and 3/4.
        let d = 2.0f64;
        let t = (3.0f64).ln() * d.sqrt();
        let inputs = vec![
            HostTensor::f32("q", vec![1, 1, 2, 2], vec![1.0, 0.0, 1.0, 0.0]),
            HostTensor::f32("k", vec![1, 1, 2, 2], vec![0.0, 0.0, t as f32, 0.0]),
            HostTensor::f32("v", vec![1, 1, 2, 2], vec![4.0, 0.0, 8.0, 4.0]),
        ];
        let full = point(2, false).reference(&inputs);
        let r1 = full.values.clone();
        assert!((r1[0] - 7.0).abs() < 1e-6, "{r1:?}");
        assert!((r1[1] - 3.0).abs() < 1e-6);
        // causal: the first query sees only the first key
        let causal = point(2, true).reference(&inputs);
        assert_eq!(&causal.values[0..2], &[4.0, 0.0]);
        assert!((causal.values[2] - 7.0).abs() < 1e-6);
    }

    #[test]
    fn large_shapes_are_sampled() {
        let p = Attention {
            b: 4,
            h: 32,
            s: 4096,
            d: 128,
            causal: true,
        };
        let rows = p.checked_rows();
        assert_eq!((rows[0], *rows.last().unwrap()), (0, 4095));
        assert!(rows.len() < 64);
    }
}

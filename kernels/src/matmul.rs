//! matmul: C[m,n] = A[m,k] · B[k,n], row-major. FLOPs 2·m·n·k; bytes one read of A and B and
//! one write of C. The f64 reference covers every row for small shapes and an even spread of
//! rows (first and last included) for large ones, so checking a 16384³ product stays cheap.

use crate::check::Reference;
use crate::dtype::DType;
use crate::rng::Rng;
use crate::tensor::{find, HostTensor, TensorSpec};

/// Parameters of one matmul point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matmul {
    pub m: u64,
    pub n: u64,
    pub k: u64,
}

/// Reference work above which rows are sampled (multiply-adds in f64).
const FULL_CHECK_MACS: u64 = 1 << 27;

impl Matmul {
    pub const KEYS: &'static [&'static str] = &["m", "n", "k"];

    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.n as f64 * self.k as f64
    }

    pub fn bytes(&self, dtype: DType) -> f64 {
        let e = dtype.size_bytes() as f64;
        e * (self.m * self.k + self.k * self.n + self.m * self.n) as f64
    }

    /// A is m×k and B is k×n.
    pub fn input_specs(&self, dtype: DType) -> Vec<TensorSpec> {
        let (m, n, k) = (self.m as usize, self.n as usize, self.k as usize);
        let e = dtype.storage();
        vec![
            TensorSpec::new("a", vec![m, k], e),
            TensorSpec::new("b", vec![k, n], e),
        ]
    }

    /// C is m×n.
    pub fn output_specs(&self, dtype: DType) -> Vec<TensorSpec> {
        let e = dtype.storage();
        vec![TensorSpec::new(
            "out",
            vec![self.m as usize, self.n as usize],
            e,
        )]
    }

    /// A and B uniform in [-1, 1) rounded to the dtype.
    pub fn inputs(&self, dtype: DType, seed: u64) -> Vec<HostTensor> {
        self.input_specs(dtype)
            .into_iter()
            .map(|s| {
                let v = Rng::for_stream(seed, &format!("matmul/{}", s.name))
                    .fill(s.len(), 1.0)
                    .into_iter()
                    .map(|x| dtype.round(x))
                    .collect();
                HostTensor::f32(&s.name, s.shape, v)
            })
            .collect()
    }

    /// Rows of C the reference covers.
    pub fn checked_rows(&self) -> Vec<usize> {
        let m = self.m as usize;
        let per_row = (self.n * self.k).max(1);
        let rows = (FULL_CHECK_MACS / per_row).max(4).min(self.m) as usize;
        if rows >= m {
            return (0..m).collect();
        }
        let mut v: Vec<usize> = (0..rows).map(|i| i * (m - 1) / (rows - 1)).collect();
        v.dedup();
        v
    }

    /// C in f64 for the checked rows.
    pub fn reference(&self, inputs: &[HostTensor]) -> Reference {
        let a = find(inputs, "a").as_f32();
        let b = find(inputs, "b").as_f32();
        let (n, k) = (self.n as usize, self.k as usize);
        let rows = self.checked_rows();
        let mut indices = Vec::with_capacity(rows.len() * n);
        let mut values = Vec::with_capacity(rows.len() * n);
        let mut acc = vec![0f64; n];
        for &r in &rows {
            acc.iter_mut().for_each(|x| *x = 0.0);
            for p in 0..k {
                let av = a[r * k + p] as f64;
                let brow = &b[p * n..(p + 1) * n];
                for (c, &bv) in acc.iter_mut().zip(brow) {
                    *c += av * bv as f64;
                }
            }
            indices.extend((0..n).map(|j| r * n + j));
            values.extend_from_slice(&acc);
        }
        Reference::sampled(indices, values, self.m as usize * n)
    }

    /// Largest acceptable error relative to the reference's RMS, by dtype.
    pub fn tolerance(dtype: DType) -> f64 {
        match dtype {
            DType::F32 => 1e-4,
            DType::Tf32 => 1e-2,
            DType::Bf16 => 1e-2,
            DType::F16 => 2e-3,
            DType::Fp8E4m3 => 5e-2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flops_and_bytes() {
        let p = Matmul { m: 2, n: 3, k: 4 };
        assert_eq!(p.flops(), 48.0);
        assert_eq!(p.bytes(DType::F32), 4.0 * (8 + 12 + 6) as f64);
        assert_eq!(p.bytes(DType::Bf16), 2.0 * 26.0);
    }

    #[test]
    fn reference_matches_hand_computed_product() {
        let p = Matmul { m: 2, n: 2, k: 2 };
        let inputs = vec![
            HostTensor::f32("a", vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]),
            HostTensor::f32("b", vec![2, 2], vec![5.0, 6.0, 7.0, 8.0]),
        ];
        let r = p.reference(&inputs);
        assert_eq!(r.values, vec![19.0, 22.0, 43.0, 50.0]);
        assert_eq!(
            r.indices, None,
            "a fully covered output is a full reference"
        );
    }

    #[test]
    fn large_shapes_sample_rows_including_first_and_last() {
        let p = Matmul {
            m: 16384,
            n: 16384,
            k: 16384,
        };
        let rows = p.checked_rows();
        assert_eq!(rows.first(), Some(&0));
        assert_eq!(rows.last(), Some(&16383));
        assert!(rows.len() >= 4 && rows.len() < 64);
        let small = Matmul {
            m: 64,
            n: 64,
            k: 64,
        };
        assert_eq!(small.checked_rows().len(), 64);
    }

    #[test]
    fn inputs_are_seeded_rounded_and_nonzero() {
        let p = Matmul { m: 8, n: 8, k: 8 };
        let x = p.inputs(DType::Bf16, 3);
        assert_eq!(x, p.inputs(DType::Bf16, 3));
        assert_ne!(x, p.inputs(DType::Bf16, 4));
        for t in &x {
            for &v in t.as_f32() {
                assert!(v != 0.0);
                assert_eq!(DType::Bf16.round(v), v);
            }
        }
    }
}

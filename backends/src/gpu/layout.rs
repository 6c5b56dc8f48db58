//! Row-major GEMMs expressed as cuBLASLt's column-major ones, with no device involved (so the
//! mapping is unit-tested on any machine). `bench` stores matrices row-major; a row-major
//! X[r×c] is the column-major Xᵀ, so C = op(A)·op(B) (row-major, m×n) is computed as
//! Cᵀ = op(B)ᵀ·op(A)ᵀ: cuBLASLt's "A" is our B and its "B" is our A, m and n swap, and each
//! operand keeps its own transpose flag. FP8 kernels need cuBLASLt's "TN" form (its A
//! transposed, its B not), i.e. our B supplied transposed (stored [n×k]) and our A plain.

/// Element storage types cuBLASLt sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    F32,
    Bf16,
    F16,
    E4m3,
}

impl Elem {
    pub fn size(self) -> usize {
        match self {
            Elem::F32 => 4,
            Elem::Bf16 | Elem::F16 => 2,
            Elem::E4m3 => 1,
        }
    }
}

/// Accumulation mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compute {
    F32,
    /// f32 storage, TensorFloat-32 multiplies (`CUBLAS_COMPUTE_32F_FAST_TF32`).
    Tf32,
}

/// What the GEMM adds after the product (cuBLASLt epilogues).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    None,
    /// + bias[col] (one value per output column of the row-major C).
    Bias,
    /// relu(· + bias[col]).
    ReluBias,
}

/// A row-major GEMM: C[m×n] = op(A)·op(B); A is [m×k] (or [k×m] when `trans_a`), B is [k×n]
/// (or [n×k] when `trans_b`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowMajorGemm {
    pub m: u64,
    pub n: u64,
    pub k: u64,
    pub trans_a: bool,
    pub trans_b: bool,
}

/// A strided batch of GEMMs: `count` independent products, matrix i of each operand at
/// `i × stride` elements from its pointer (operands named as in [`RowMajorGemm`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    pub count: u64,
    pub stride_a: i64,
    pub stride_b: i64,
    pub stride_c: i64,
}

impl Batch {
    /// The strides in cuBLASLt's operand order [A, B, C]: its A is our B, its B our A.
    pub fn lt_strides(self) -> [i64; 3] {
        [self.stride_b, self.stride_a, self.stride_c]
    }
}

/// One column-major matrix layout: rows, cols, leading dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub rows: u64,
    pub cols: u64,
    pub ld: i64,
}

/// The column-major problem cuBLASLt is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LtProblem {
    /// cuBLASLt's A is the caller's B buffer, its B the caller's A buffer.
    pub a: Layout,
    pub b: Layout,
    pub c: Layout,
    pub trans_a: bool,
    pub trans_b: bool,
}

impl RowMajorGemm {
    pub fn to_lt(self) -> LtProblem {
        let RowMajorGemm {
            m,
            n,
            k,
            trans_a,
            trans_b,
        } = self;
        // Our B as stored: [k×n] row-major = column-major n×k (ld n); transposed: [n×k]
        // row-major = column-major k×n (ld k), which cuBLASLt transposes back.
        let a = if trans_b {
            Layout {
                rows: k,
                cols: n,
                ld: k as i64,
            }
        } else {
            Layout {
                rows: n,
                cols: k,
                ld: n as i64,
            }
        };
        let b = if trans_a {
            Layout {
                rows: m,
                cols: k,
                ld: m as i64,
            }
        } else {
            Layout {
                rows: k,
                cols: m,
                ld: k as i64,
            }
        };
        LtProblem {
            a,
            b,
            c: Layout {
                rows: n,
                cols: m,
                ld: n as i64,
            },
            trans_a: trans_b,
            trans_b: trans_a,
        }
    }

    /// Whether cuBLASLt's FP8 kernels accept this form ("TN": its A transposed, its B not).
    pub fn is_fp8_tn(self) -> bool {
        let p = self.to_lt();
        p.trans_a && !p.trans_b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Column-major GEMM on the host, the way cuBLASLt reads the layouts.
    fn lt_reference(p: &LtProblem, a: &[f64], b: &[f64]) -> Vec<f64> {
        let (m, n) = (p.c.rows as usize, p.c.cols as usize);
        let k = if p.trans_a { p.a.rows } else { p.a.cols } as usize;
        let at = |i: usize, l: usize| {
            if p.trans_a {
                a[i * p.a.ld as usize + l]
            } else {
                a[l * p.a.ld as usize + i]
            }
        };
        let bt = |l: usize, j: usize| {
            if p.trans_b {
                b[l * p.b.ld as usize + j]
            } else {
                b[j * p.b.ld as usize + l]
            }
        };
        let mut c = vec![0.0; m * n];
        for j in 0..n {
            for i in 0..m {
                c[j * p.c.ld as usize + i] = (0..k).map(|l| at(i, l) * bt(l, j)).sum();
            }
        }
        c
    }

    fn transpose(x: &[f64], r: usize, c: usize) -> Vec<f64> {
        let mut t = vec![0.0; x.len()];
        for i in 0..r {
            for j in 0..c {
                t[j * r + i] = x[i * c + j];
            }
        }
        t
    }

    #[test]
    fn every_transpose_combination_computes_the_row_major_product() {
        let (m, n, k) = (3usize, 5usize, 4usize);
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.91).cos()).collect();
        let want = kernels::linalg::matmul(&a, &b, m, k, n);
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let g = RowMajorGemm {
                m: m as u64,
                n: n as u64,
                k: k as u64,
                trans_a: ta,
                trans_b: tb,
            };
            let a_buf = if ta { transpose(&a, m, k) } else { a.clone() };
            let b_buf = if tb { transpose(&b, k, n) } else { b.clone() };
            let p = g.to_lt();
            // cuBLASLt's A is our B buffer and its B our A buffer.
            let c = lt_reference(&p, &b_buf, &a_buf);
            for (x, y) in c.iter().zip(&want) {
                assert!((x - y).abs() < 1e-12, "{ta} {tb}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn strided_batches_map_each_operand_to_its_stride() {
        let (m, n, k, count) = (3usize, 4usize, 5usize, 3usize);
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let g = RowMajorGemm {
                m: m as u64,
                n: n as u64,
                k: k as u64,
                trans_a: ta,
                trans_b: tb,
            };
            // Padded strides, different per operand, so a swap reads the wrong matrices.
            let batch = Batch {
                count: count as u64,
                stride_a: (m * k + 2) as i64,
                stride_b: (k * n + 7) as i64,
                stride_c: (m * n + 1) as i64,
            };
            let a: Vec<f64> = (0..count * (m * k + 2))
                .map(|i| (i as f64 * 0.31).sin())
                .collect();
            let b: Vec<f64> = (0..count * (k * n + 7))
                .map(|i| (i as f64 * 0.57).cos())
                .collect();
            let p = g.to_lt();
            let [sa_lt, sb_lt, sc_lt] = batch.lt_strides().map(|s| s as usize);
            for i in 0..count {
                let (a_i, b_i) = (
                    &a[i * batch.stride_a as usize..],
                    &b[i * batch.stride_b as usize..],
                );
                let a_m: Vec<f64> = a_i[..m * k].to_vec();
                let b_m: Vec<f64> = b_i[..k * n].to_vec();
                let a_plain = if ta { transpose(&a_m, k, m) } else { a_m };
                let b_plain = if tb { transpose(&b_m, n, k) } else { b_m };
                let want = kernels::linalg::matmul(&a_plain, &b_plain, m, k, n);
                // cuBLASLt reads batch i of its A (our B) and its B (our A) at its own strides.
                let c = lt_reference(&p, &b[i * sa_lt..], &a[i * sb_lt..]);
                assert_eq!(sc_lt, batch.stride_c as usize);
                for (x, y) in c.iter().zip(&want) {
                    assert!((x - y).abs() < 1e-12, "{ta} {tb} batch {i}: {x} vs {y}");
                }
            }
        }
    }

    #[test]
    fn fp8_needs_b_supplied_transposed() {
        let g = RowMajorGemm {
            m: 16,
            n: 32,
            k: 64,
            trans_a: false,
            trans_b: true,
        };
        assert!(g.is_fp8_tn());
        assert!(!RowMajorGemm {
            trans_b: false,
            ..g
        }
        .is_fp8_tn());
        let p = g.to_lt();
        assert_eq!(
            (p.a.rows, p.a.cols, p.a.ld, p.c.rows, p.c.cols),
            (64, 32, 64, 32, 16)
        );
    }
}

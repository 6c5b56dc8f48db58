//! f64 matrix products for the references: C = A·B, Aᵀ·B and A·Bᵀ on row-major slices,
//! computed by the `gemm` crate's threaded f64 kernels (cache-blocked, SIMD, one thread per
//! physical core, `RAYON_NUM_THREADS` to override) through candle-core's CPU matmul, the
//! safe entry point to them, so this crate stays free of `unsafe`. Transposed operands are
//! strided views, never copies. Also a parallel map over independent items (attention heads,
//! row blocks) on scoped threads, for the references' non-GEMM work.

use candle_core::{Device, Tensor};

/// The m×n result of a product, or zeros when k is 0 (an empty sum).
fn product(a: &[f64], b: &[f64], shapes: Shapes) -> Vec<f64> {
    let Shapes { a_rc, b_rc, ta, tb } = shapes;
    let (m, k) = if ta { (a_rc.1, a_rc.0) } else { a_rc };
    let n = if tb { b_rc.0 } else { b_rc.1 };
    assert_eq!(a.len(), a_rc.0 * a_rc.1, "A is not {}x{}", a_rc.0, a_rc.1);
    assert_eq!(b.len(), b_rc.0 * b_rc.1, "B is not {}x{}", b_rc.0, b_rc.1);
    if m == 0 || n == 0 || k == 0 {
        return vec![0.0; m * n];
    }
    let view = |x: &[f64], rc: (usize, usize), t: bool| -> candle_core::Result<Tensor> {
        let x = Tensor::from_slice(x, rc, &Device::Cpu)?;
        if t {
            x.t()
        } else {
            Ok(x)
        }
    };
    let c = view(a, a_rc, ta)
        .and_then(|a| a.matmul(&view(b, b_rc, tb)?))
        .and_then(|c| c.flatten_all())
        .and_then(|c| c.to_vec1::<f64>());
    // Shapes were checked above; an f64 CPU matmul of matching shapes has no failure mode.
    c.expect("f64 CPU matmul of checked shapes")
}

#[derive(Clone, Copy)]
struct Shapes {
    a_rc: (usize, usize),
    b_rc: (usize, usize),
    ta: bool,
    tb: bool,
}

/// C[m,n] = A[m,k] · B[k,n], all row-major f64.
pub fn matmul(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    product(
        a,
        b,
        Shapes {
            a_rc: (m, k),
            b_rc: (k, n),
            ta: false,
            tb: false,
        },
    )
}

/// C[m,n] = Aᵀ · B for A stored row-major as [k, m] and B as [k, n] (a weight gradient:
/// activationsᵀ · output gradient).
pub fn matmul_tn(a: &[f64], b: &[f64], k: usize, m: usize, n: usize) -> Vec<f64> {
    product(
        a,
        b,
        Shapes {
            a_rc: (k, m),
            b_rc: (k, n),
            ta: true,
            tb: false,
        },
    )
}

/// C[m,n] = A · Bᵀ for A stored row-major as [m, k] and B as [n, k] (an input gradient:
/// output gradient · weightᵀ; attention scores: Q·Kᵀ).
pub fn matmul_nt(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    product(
        a,
        b,
        Shapes {
            a_rc: (m, k),
            b_rc: (n, k),
            ta: false,
            tb: true,
        },
    )
}

/// The transpose of a row-major r×c matrix.
pub fn transpose(a: &[f64], r: usize, c: usize) -> Vec<f64> {
    let mut t = vec![0f64; r * c];
    for i in 0..r {
        for j in 0..c {
            t[j * r + i] = a[i * c + j];
        }
    }
    t
}

/// `f(0), f(1), …, f(count - 1)` in order, computed on up to one scoped thread per CPU
/// (item i on thread i mod threads), for independent work items such as attention heads.
pub fn par_map<R, F>(count: usize, f: F) -> Vec<R>
where
    R: Send,
    F: Fn(usize) -> R + Sync,
{
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .min(count);
    if threads <= 1 {
        return (0..count).map(f).collect();
    }
    let mut parts: Vec<Vec<(usize, R)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|tid| {
                let f = &f;
                scope.spawn(move || {
                    (tid..count)
                        .step_by(threads)
                        .map(|i| (i, f(i)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut out: Vec<Option<R>> = (0..count).map(|_| None).collect();
    for (i, r) in parts.iter_mut().flat_map(std::mem::take) {
        out[i] = Some(r);
    }
    out.into_iter()
        .map(|r| r.expect("every item is computed by one thread"))
        .collect()
}

/// `f(row index, row)` over every `width`-long row of `x`, in parallel over row chunks, and
/// what it returns for each row, in row order (row-wise passes: softmax, cross-entropy).
pub fn par_rows<R, F>(x: &mut [f64], width: usize, f: F) -> Vec<R>
where
    R: Send,
    F: Fn(usize, &mut [f64]) -> R + Sync,
{
    let width = width.max(1);
    let rows = x.len() / width;
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .min(rows.max(1));
    if threads <= 1 || x.len() < 1 << 16 {
        return x
            .chunks_mut(width)
            .enumerate()
            .map(|(r, row)| f(r, row))
            .collect();
    }
    let per = rows.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = x
            .chunks_mut(per * width)
            .enumerate()
            .map(|(ci, chunk)| {
                let f = &f;
                scope.spawn(move || {
                    chunk
                        .chunks_mut(width)
                        .enumerate()
                        .map(|(r, row)| f(ci * per + r, row))
                        .collect::<Vec<R>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, one dot product per element: the oracle the GEMM is held to.
    fn naive(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    fn seeded(len: usize, salt: u64) -> Vec<f64> {
        let mut r = crate::rng::Rng::for_stream(salt, "linalg-test");
        r.fill(len, 1.0).into_iter().map(f64::from).collect()
    }

    fn assert_close(got: &[f64], want: &[f64], k: usize) {
        assert_eq!(got.len(), want.len());
        // a k-term f64 sum of products of values in [-1, 1), summed in any order
        let bound = (k * k) as f64 * f64::EPSILON;
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= bound,
                "element {i}: {g} vs {w} (bound {bound:e})"
            );
        }
    }

    #[test]
    fn small_product_and_transpose() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2x3
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]; // 3x2
        assert_eq!(matmul(&a, &b, 2, 3, 2), vec![4.0, 5.0, 10.0, 11.0]);
        assert_eq!(transpose(&a, 2, 3), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }

    #[test]
    fn products_match_the_definition_in_every_orientation() {
        // sizes past gemm's blocking and threading thresholds, none a multiple of a block
        for &(m, k, n) in &[(1, 1, 1), (3, 7, 2), (130, 90, 100), (257, 300, 129)] {
            let a = seeded(m * k, 1);
            let b = seeded(k * n, 2);
            let want = naive(&a, &b, m, k, n);
            assert_close(&matmul(&a, &b, m, k, n), &want, k);
            assert_close(&matmul_tn(&transpose(&a, m, k), &b, k, m, n), &want, k);
            assert_close(&matmul_nt(&a, &transpose(&b, k, n), m, k, n), &want, k);
        }
    }

    #[test]
    fn empty_dimensions_give_empty_or_zero_products() {
        assert_eq!(matmul(&[], &[], 0, 3, 0), Vec::<f64>::new());
        assert_eq!(matmul(&[], &[], 2, 0, 3), vec![0.0; 6]);
        assert_eq!(matmul_tn(&[], &[], 0, 2, 2), vec![0.0; 4]);
    }

    #[test]
    #[should_panic(expected = "A is not 2x3")]
    fn a_wrong_length_is_caught() {
        matmul(&[1.0; 5], &[1.0; 6], 2, 3, 2);
    }

    #[test]
    fn par_map_keeps_order_and_par_rows_visits_every_row_once() {
        assert_eq!(
            par_map(37, |i| i * i),
            (0..37).map(|i| i * i).collect::<Vec<_>>()
        );
        let mut x = vec![0.0; 300 * 301];
        let sums = par_rows(&mut x, 301, |r, row| {
            for v in row.iter_mut() {
                *v += r as f64;
            }
            row.iter().sum::<f64>()
        });
        assert_eq!(sums, (0..300).map(|r| 301.0 * r as f64).collect::<Vec<_>>());
        for (r, row) in x.chunks(301).enumerate() {
            assert!(row.iter().all(|&v| v == r as f64), "row {r}");
        }
    }
}

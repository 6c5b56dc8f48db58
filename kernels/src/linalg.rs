//! f64 matrix helpers for the references: a row-parallel C = A·B (scoped std threads, no
//! dependency) and a transpose. Plain loops in i-k-j order; correctness matters here, and
//! the threads keep the references of standard-suite points to seconds on a GPU host.

/// C[m,n] = A[m,k] · B[k,n], all row-major f64.
pub fn matmul(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    assert_eq!(a.len(), m * k, "A is not {m}x{k}");
    assert_eq!(b.len(), k * n, "B is not {k}x{n}");
    let mut c = vec![0f64; m * n];
    if m == 0 || n == 0 {
        return c;
    }
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .min(m)
        .min(if m * k * n < 1 << 20 { 1 } else { usize::MAX });
    let rows_per = m.div_ceil(threads);
    std::thread::scope(|scope| {
        for (chunk_idx, chunk) in c.chunks_mut(rows_per * n).enumerate() {
            scope.spawn(move || {
                let row0 = chunk_idx * rows_per;
                for (r, crow) in chunk.chunks_mut(n).enumerate() {
                    let arow = &a[(row0 + r) * k..(row0 + r + 1) * k];
                    for (p, &av) in arow.iter().enumerate() {
                        if av == 0.0 {
                            continue;
                        }
                        let brow = &b[p * n..(p + 1) * n];
                        for (cv, &bv) in crow.iter_mut().zip(brow) {
                            *cv += av * bv;
                        }
                    }
                }
            });
        }
    });
    c
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_product_and_transpose() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2x3
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]; // 3x2
        assert_eq!(matmul(&a, &b, 2, 3, 2), vec![4.0, 5.0, 10.0, 11.0]);
        assert_eq!(transpose(&a, 2, 3), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }

    #[test]
    fn threaded_product_matches_serial_definition() {
        let (m, k, n) = (130, 90, 100);
        let a: Vec<f64> = (0..m * k).map(|i| ((i * 7) % 13) as f64 - 6.0).collect();
        let b: Vec<f64> = (0..k * n).map(|i| ((i * 5) % 11) as f64 - 5.0).collect();
        let c = matmul(&a, &b, m, k, n);
        for &(i, j) in &[(0, 0), (129, 99), (64, 33)] {
            let want: f64 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            assert_eq!(c[i * n + j], want);
        }
    }
}

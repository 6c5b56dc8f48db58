//! What the CUDA backend can run on a GPU of a given compute capability: the table of
//! dtypes and shapes each workload needs (fp8 on 8.9+, bf16 and the fused attention on 8.0+,
//! cuBLASLt's fp8 shape rule), with the reason when it cannot.

use kernels::{DType, Point, Workload};

use crate::gpu::attention;
use crate::gpu::storage::train_storage;

/// What this backend can run on a device of compute capability `cc`.
pub fn supports_on(cc: (i32, i32), point: &Point) -> Result<(), String> {
    let at_least = |want: (i32, i32), what: &str| {
        if cc >= want {
            Ok(())
        } else {
            Err(format!(
                "{what} needs compute capability {}.{}+, this GPU has {}.{}",
                want.0, want.1, cc.0, cc.1
            ))
        }
    };
    let dt = point.dtype;
    match point.workload {
        Workload::Matmul(m) => match dt {
            DType::Fp8E4m3 => {
                at_least((8, 9), "fp8 e4m3 matmul")?;
                if m.m % 16 != 0 || m.n % 16 != 0 || m.k % 16 != 0 {
                    return Err("cuBLASLt fp8 GEMMs need m, n and k multiples of 16".into());
                }
                Ok(())
            }
            DType::Bf16 | DType::Tf32 => at_least((8, 0), &format!("{dt} matmul")),
            DType::F16 | DType::F32 => Ok(()),
        },
        Workload::Attention(a) => {
            attention::kernel_for(&a, dt)?;
            at_least(
                (8, 0),
                "the fused attention kernel (mma.sync bf16/f16, cp.async)",
            )
        }
        Workload::TrainMlp(_) => match train_storage(dt) {
            None => Err(format!(
                "train-mlp has no {dt} variant on cuda (fp8 training is not a workload here)"
            )),
            Some(_) => at_least(
                (8, 0),
                "train-mlp on cuda (bf16 conversions in its kernels)",
            ),
        },
        Workload::TrainGpt(_) => match train_storage(dt) {
            None => Err(format!(
                "train-gpt has no {dt} variant on cuda (fp8 training is not a workload here)"
            )),
            Some(_) => at_least(
                (8, 0),
                "train-gpt on cuda (bf16 conversions in its kernels)",
            ),
        },
        Workload::Prefill(_) | Workload::Decode(_) => Err(format!(
            "{} has no cuda implementation yet (issue 16)",
            point.kind()
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn point(kind: kernels::WorkloadKind, kv: &[(&str, u64)], d: DType) -> Point {
        let p: BTreeMap<String, u64> = kv.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        Point::new(kind, &p, d).unwrap()
    }

    #[test]
    fn support_follows_compute_capability_and_shapes() {
        use kernels::WorkloadKind::*;
        let mm = |d, n| point(Matmul, &[("m", n), ("n", n), ("k", n)], d);
        assert!(supports_on((9, 0), &mm(DType::Fp8E4m3, 4096)).is_ok());
        assert!(supports_on((8, 0), &mm(DType::Fp8E4m3, 4096))
            .unwrap_err()
            .contains("8.9"));
        assert!(supports_on((9, 0), &mm(DType::Fp8E4m3, 100))
            .unwrap_err()
            .contains("16"));
        assert!(supports_on((7, 0), &mm(DType::Bf16, 64)).is_err());
        assert!(supports_on((7, 0), &mm(DType::F32, 64)).is_ok());
        let att = |d, dim| {
            point(
                Attention,
                &[("b", 1), ("h", 2), ("s", 128), ("d", dim), ("causal", 1)],
                d,
            )
        };
        assert!(supports_on((9, 0), &att(DType::Bf16, 128)).is_ok());
        assert!(supports_on((9, 0), &att(DType::F32, 128)).is_err());
        assert!(supports_on((9, 0), &att(DType::F16, 32)).is_err());
        let mlp = |d| {
            point(
                TrainMlp,
                &[("layers", 2), ("width", 64), ("batch", 8), ("classes", 4)],
                d,
            )
        };
        assert!(supports_on((9, 0), &mlp(DType::Bf16)).is_ok());
        assert!(supports_on((9, 0), &mlp(DType::Fp8E4m3)).is_err());
        let gpt = |d, heads: u64| {
            point(
                TrainGpt,
                &[
                    ("d_model", 64),
                    ("layers", 2),
                    ("heads", heads),
                    ("seq", 32),
                    ("vocab", 256),
                    ("batch", 4),
                ],
                d,
            )
        };
        assert!(supports_on((9, 0), &gpt(DType::Bf16, 4)).is_ok());
        assert!(supports_on((9, 0), &gpt(DType::Tf32, 4)).is_ok());
        assert!(supports_on((7, 5), &gpt(DType::F32, 4)).is_err());
        assert!(supports_on((9, 0), &gpt(DType::Fp8E4m3, 4)).is_err());
    }
}

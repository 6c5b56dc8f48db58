//! What the CUDA backend can run on a GPU of a given compute capability: the table of
//! dtypes and shapes each workload needs (fp8 on 8.9+, bf16 and the fused attention on 8.0+,
//! cuBLASLt's fp8 shape rule, prefill and decode's dtypes and kernel size limits, and whether
//! their buffers fit the GPU's memory), with the reason when it cannot.

use kernels::infer::Decoder;
use kernels::{DType, Point, Workload};

use crate::gpu::attention;
use crate::gpu::infer_plan::{self, InferPlan};
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
        Workload::Prefill(p) => {
            decoder_rule(point, p.model, p.batch, p.batch * p.prompt)?;
            at_least((8, 0), "prefill on cuda (bf16 conversions in its kernels)")
        }
        Workload::Decode(p) => {
            decoder_rule(point, p.model, p.batch, p.batch)?;
            at_least((8, 0), "decode on cuda (bf16 conversions in its kernels)")
        }
    }
}

/// prefill and decode's dtypes and the sizes their kernels serve (`rows`: one step's rows).
fn decoder_rule(point: &Point, m: Decoder, batch: u64, rows: u64) -> Result<(), String> {
    let (kind, dt) = (point.kind(), point.dtype);
    if train_storage(dt).is_none() {
        return Err(format!(
            "{kind} has no {dt} variant on cuda (its kernels store f32, bf16 or f16)"
        ));
    }
    match infer_plan::unsupported(m.d_model, m.heads, batch, rows) {
        Some(why) => Err(format!("{kind} on cuda: {why}")),
        None => Ok(()),
    }
}

/// The plan of a prefill or decode point (`None` for the other workloads), its decode
/// attention split for `sms` multiprocessors.
pub fn infer_plan_of(point: &Point, sms: u32) -> Option<InferPlan> {
    match point.workload {
        Workload::Prefill(p) => Some(InferPlan::prefill(&p, point.dtype)),
        Workload::Decode(p) => Some(InferPlan::decode(&p, point.dtype, sms)),
        _ => None,
    }
}

/// Room a point leaves for cuBLASLt's workspace, the L2 flush buffer and the CUDA context.
pub const DEVICE_HEADROOM: u64 = 1 << 30;

/// Whether a prefill or decode point's buffers (weights, KV cache, activations, in its storage
/// dtype) fit a GPU of `memory_bytes` with [`DEVICE_HEADROOM`] to spare; the reason when not.
/// Other workloads always pass here.
pub fn fits_memory(point: &Point, memory_bytes: u64, sms: u32) -> Result<(), String> {
    let (Some(plan), Some((elem, _, _))) = (infer_plan_of(point, sms), train_storage(point.dtype))
    else {
        return Ok(());
    };
    let need = plan.device_bytes(elem.size());
    if need.saturating_add(DEVICE_HEADROOM) > memory_bytes {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        return Err(format!(
            "{} needs {:.1} GiB of device memory (weights, KV cache, activations) plus {:.0} GiB \
             of headroom and this GPU has {:.1} GiB: choose a smaller batch, context or prompt",
            point.kind(),
            gib(need),
            gib(DEVICE_HEADROOM),
            gib(memory_bytes)
        ));
    }
    Ok(())
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

    fn decoder(kind: kernels::WorkloadKind, d: DType, d_model: u64, heads: u64, n: u64) -> Point {
        let last = match kind {
            kernels::WorkloadKind::Prefill => "prompt",
            _ => "context",
        };
        point(
            kind,
            &[
                ("d_model", d_model),
                ("layers", 2),
                ("heads", heads),
                ("vocab", 300),
                ("batch", 4),
                (last, n),
            ],
            d,
        )
    }

    #[test]
    fn prefill_and_decode_follow_dtype_capability_and_kernel_limits() {
        use kernels::WorkloadKind::{Decode, Prefill};
        for kind in [Prefill, Decode] {
            for d in [DType::F32, DType::Tf32, DType::Bf16, DType::F16] {
                assert_eq!(supports_on((9, 0), &decoder(kind, d, 256, 4, 64)), Ok(()));
            }
            let fp8 = supports_on((9, 0), &decoder(kind, DType::Fp8E4m3, 256, 4, 64)).unwrap_err();
            assert!(
                fp8.contains("fp8_e4m3") && fp8.contains("f32, bf16 or f16"),
                "{fp8}"
            );
            let old = supports_on((7, 5), &decoder(kind, DType::F32, 256, 4, 64)).unwrap_err();
            assert!(old.contains("8.0+") && old.contains("7.5"), "{old}");
            // head dim 512: past the decode attention's 256
            let wide = supports_on((9, 0), &decoder(kind, DType::Bf16, 1024, 2, 64)).unwrap_err();
            assert!(wide.contains("head dim 512"), "{wide}");
        }
    }

    #[test]
    fn memory_fit_names_the_need_and_the_gpu() {
        use kernels::WorkloadKind::{Decode, Prefill};
        let gib = 1u64 << 30;
        // 0.87B-class model, batch 64 at context 8192 in bf16: a 69 GB cache
        let big = point(
            Decode,
            &[
                ("d_model", 2048),
                ("layers", 16),
                ("heads", 16),
                ("vocab", 32768),
                ("batch", 64),
                ("context", 8192),
            ],
            DType::Bf16,
        );
        assert_eq!(fits_memory(&big, 141 * gib, 132), Ok(()));
        let e = fits_memory(&big, 40 * gib, 108).unwrap_err();
        assert!(
            e.starts_with("decode needs 6") && e.contains("40.0 GiB") && e.contains("context"),
            "{e}"
        );
        // the need is the plan's buffers: just enough memory passes, one byte less fails
        let small = decoder(Prefill, DType::F32, 256, 4, 64);
        let need = infer_plan_of(&small, 4).unwrap().device_bytes(4) + DEVICE_HEADROOM;
        assert_eq!(fits_memory(&small, need, 4), Ok(()));
        assert!(fits_memory(&small, need - 1, 4).is_err());
        // other workloads are not sized here
        let mm = point(
            kernels::WorkloadKind::Matmul,
            &[("m", 8), ("n", 8), ("k", 8)],
            DType::F32,
        );
        assert_eq!(fits_memory(&mm, 0, 1), Ok(()));
    }
}

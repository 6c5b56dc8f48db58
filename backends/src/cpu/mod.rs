//! The CPU reference backend: candle-core on the host for every workload, and an OpenBLAS
//! `cblas_sgemm` loaded at run time for f32 matmul when the library is present (Debian's
//! `libopenblas0`; set `BENCH_CPU_BLAS=off` to force candle, or to a path to pick a library).
//! The default build links no BLAS, so a fresh machine needs nothing installed.

mod attention;
mod blas;
mod decode;
mod decoder;
mod gpt;
mod inject;
mod matmul;
mod mlp;
mod prefill;

use std::collections::BTreeMap;

use candle_core::{DType as CDType, Device, Tensor};
use kernels::{DType, HostTensor, Point, Workload};

use crate::{Backend, BackendError, BackendKind, DeviceInfo, Prepared};

pub use blas::Blas;

/// candle-core on the host CPU.
pub struct CpuBackend {
    info: DeviceInfo,
    blas: Option<Blas>,
    inject: Option<inject::Fault>,
}

impl CpuBackend {
    pub fn new() -> Result<Self, BackendError> {
        let blas = match blas::Blas::from_env() {
            Ok(b) => b,
            Err(e) => return Err(BackendError::Config(e)),
        };
        let inject = inject::Fault::from_env().map_err(BackendError::Config)?;
        let mut extra = BTreeMap::new();
        if let Some(f) = inject {
            extra.insert("fault_injection".into(), f.name().into());
        }
        extra.insert("threads".into(), threads().to_string());
        extra.insert(
            "f32_matmul".into(),
            match &blas {
                Some(b) => format!("openblas ({})", b.describe()),
                None => "candle (gemm crate)".into(),
            },
        );
        Ok(CpuBackend {
            info: DeviceInfo {
                kind: Some(BackendKind::Cpu),
                implementation: "bench".into(),
                device: cpu_model(),
                device_count: 1,
                // the harness records the locked candle-core version with the run
                runtime_version: None,
                driver_version: None,
                simulated: false,
                extra,
            },
            blas,
            inject,
        })
    }
}

/// One line for `bench list`.
pub fn describe_here() -> String {
    let blas = match blas::Blas::from_env() {
        Ok(Some(b)) => format!("f32 matmul via {}", b.describe()),
        Ok(None) => {
            "f32 matmul via candle (no OpenBLAS found; apt-get install libopenblas0 for BLAS speed)"
                .into()
        }
        Err(e) => e,
    };
    format!("{} ({} threads); {blas}", cpu_model(), threads())
}

fn threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// MemAvailable from /proc/meminfo, in bytes.
fn mem_available() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// The CPU model from /proc/cpuinfo, or the architecture when it cannot be read.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

impl Backend for CpuBackend {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn supports(&self, point: &Point) -> Result<(), String> {
        match point.dtype {
            DType::F32 | DType::Bf16 | DType::F16 => {}
            other => {
                return Err(format!(
                "the cpu backend has no {other} arithmetic (tf32 and fp8 are GPU/accelerator dtypes)"
            ))
            }
        }
        if let Workload::Decode(p) = point.workload {
            let need = p.cache_bytes(point.dtype);
            if let Some(have) = mem_available() {
                if need > 0.5 * have {
                    return Err(format!(
                        "decode's KV cache needs {:.1} GB, more than half the {:.1} GB this host has available",
                        need / 1e9,
                        have / 1e9
                    ));
                }
            }
        }
        Ok(())
    }

    fn prepare<'a>(
        &'a mut self,
        point: &Point,
        inputs: &[HostTensor],
    ) -> Result<Box<dyn Prepared + 'a>, BackendError> {
        self.supports(point).map_err(BackendError::Point)?;
        let prepared: Box<dyn Prepared + 'a> = match point.workload {
            Workload::Matmul(p) => match (&self.blas, point.dtype) {
                (Some(blas), DType::F32) => Box::new(matmul::BlasMatmul::new(blas, p, inputs)),
                _ => Box::new(matmul::CandleMatmul::new(point.dtype, inputs)?),
            },
            Workload::Attention(p) => {
                Box::new(attention::CandleAttention::new(p, point.dtype, inputs)?)
            }
            Workload::TrainMlp(p) => Box::new(mlp::CandleMlp::new(p, point.dtype, inputs)?),
            Workload::TrainGpt(p) => Box::new(gpt::CandleGpt::new(p, point.dtype, inputs)?),
            Workload::Prefill(p) => Box::new(prefill::CandlePrefill::new(p, point.dtype, inputs)?),
            Workload::Decode(p) => Box::new(decode::CandleDecode::new(p, point.dtype, inputs)?),
        };
        Ok(match self.inject {
            Some(fault) => Box::new(inject::Faulty {
                inner: prepared,
                fault,
            }),
            None => prepared,
        })
    }
}

/// candle's dtype for ours (only the ones `supports` accepts).
fn candle_dtype(d: DType) -> CDType {
    match d {
        DType::Bf16 => CDType::BF16,
        DType::F16 => CDType::F16,
        _ => CDType::F32,
    }
}

/// A host tensor as a candle tensor of the point's dtype.
fn to_candle(t: &HostTensor, dtype: DType) -> Result<Tensor, BackendError> {
    let f = Tensor::from_slice(t.as_f32(), t.shape.as_slice(), &Device::Cpu)?;
    Ok(f.to_dtype(candle_dtype(dtype))?)
}

/// A candle tensor's values as f32, flattened.
fn to_f32_vec(t: &Tensor) -> Result<Vec<f32>, BackendError> {
    Ok(t.to_dtype(CDType::F32)?.flatten_all()?.to_vec1::<f32>()?)
}

//! The CUDA backend: cudarc with run-time loading (the default build needs no CUDA anywhere),
//! cuBLASLt for GEMMs, bench's own kernels (kernels/cuda/*.cu) compiled by NVRTC for the
//! device, CUDA-event timing with an L2 flush before every sample, NVML telemetry, and device
//! provenance. Opening checks every library and driver symbol first (`probe`), so a machine
//! without CUDA gets a one-line error naming what is missing, never a panic.
//!
//! FFI lives in `probe`, `driver`, `lt` and `nvrtc` (each `unsafe` block with a `// SAFETY:`
//! line); the workloads (`gemm`, `attention`, `mlp`) are safe code on top.

mod attention;
mod convert;
mod driver;
mod gemm;
mod gpt;
#[cfg(test)]
mod gpt_emulated;
mod gpt_launch;
mod gpt_plan;
#[cfg(test)]
mod gpt_plan_host;
mod layout;
mod lt;
mod mlp;
mod mlp_plan;
mod nvrtc;
mod probe;
pub mod sources;
mod telemetry;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use cudarc::driver::CudaFunction;
use kernels::{DType, HostTensor, Point, Workload};

use crate::{Backend, BackendError, BackendKind, BackendOptions, DeviceInfo, Prepared, Telemetry};
use driver::{DevBuf, EventTimer, Gpu};
use lt::LtHandle;

pub use probe::{
    INSTALL_HINT, REQUIRED_CUBLASLT_SYMBOLS, REQUIRED_DRIVER_SYMBOLS, REQUIRED_NVRTC_SYMBOLS,
};

/// Everything one GPU's points share.
pub struct Device {
    gpu: Gpu,
    lt: LtHandle,
    workspace: DevBuf,
    flush: DevBuf,
    nvml: telemetry::NvmlHandle,
    uuid: Option<String>,
    sampler: Mutex<Option<telemetry::Sampler>>,
}

impl Device {
    fn open(
        ordinal: usize,
        found: &probe::Found,
        nvml: telemetry::NvmlHandle,
    ) -> Result<Device, String> {
        let gpu = Gpu::open(ordinal, &found.driver_lib, found.elapsed_symbol)?;
        let lt = LtHandle::new()?;
        let workspace = gpu.zeros(lt::WORKSPACE_BYTES)?;
        // nvbench's cold-measurement flush: a buffer the size of L2, zeroed before each sample.
        let flush = gpu.zeros((gpu.props.l2_bytes.max(1 << 20)) as usize)?;
        let uuid = gpu.uuid();
        Ok(Device {
            gpu,
            lt,
            workspace,
            flush,
            nvml,
            uuid,
            sampler: Mutex::new(None),
        })
    }

    /// One timed sample: flush L2 (outside the events), then CUDA events around `work`.
    fn timed(
        &self,
        timer: &EventTimer,
        work: impl FnOnce() -> Result<(), String>,
    ) -> Result<f64, BackendError> {
        let pe = BackendError::Point;
        self.gpu
            .memset_raw(self.flush.ptr, self.flush.bytes)
            .map_err(pe)?;
        timer.start().map_err(pe)?;
        work().map_err(pe)?;
        timer.stop().map_err(pe)
    }

    /// One timed training step (`work` enqueues it), then its loss read back from the f32 at
    /// `loss` (outside the timed region): (seconds, loss).
    fn timed_step(
        &self,
        timer: &EventTimer,
        loss: &DevBuf,
        work: impl FnOnce() -> Result<(), String>,
    ) -> Result<(f64, f64), BackendError> {
        let secs = self.timed(timer, work)?;
        let bytes = self.gpu.download(loss).map_err(BackendError::Point)?;
        let value = convert::decode(&bytes, layout::Elem::F32)[0] as f64;
        Ok((secs, value))
    }

    fn start_sampling(&self) {
        let s = match (&self.nvml, &self.uuid) {
            (Ok(n), Some(u)) => Some(telemetry::Sampler::start(n.clone(), u.clone())),
            _ => None,
        };
        if let Ok(mut slot) = self.sampler.lock() {
            *slot = s;
        }
    }

    /// Telemetry from the point's preparation until now (absent, with the reason, without NVML).
    fn telemetry_since_prepare(&self) -> Option<Telemetry> {
        let s = self.sampler.lock().ok()?.take();
        Some(match (s, &self.nvml) {
            (Some(s), _) => s.finish(),
            (None, Err(why)) => telemetry::absent(why.clone()),
            (None, Ok(_)) => telemetry::absent("the GPU's UUID is unknown to NVML".into()),
        })
    }
}

/// Compiled kernel modules, by source file.
#[derive(Default)]
struct Modules {
    attention: Option<BTreeMap<&'static str, CudaFunction>>,
    mlp: Option<BTreeMap<&'static str, CudaFunction>>,
    gpt: Option<BTreeMap<&'static str, CudaFunction>>,
}

/// Which kernel module a workload needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ModuleKind {
    Attention,
    Mlp,
    Gpt,
}

/// What multi-GPU runs need to know about a worker's GPU.
#[derive(Debug, Clone, Copy)]
pub struct CudaBackendFacts {
    pub cc: (i32, i32),
}

/// The CUDA backend on one GPU.
pub struct CudaBackend {
    info: DeviceInfo,
    dev: Device,
    modules: Modules,
}

/// `--devices`: one index (default 0). Several GPUs need one worker per GPU.
fn parse_devices(options: &BackendOptions, available: usize) -> Result<Vec<usize>, BackendError> {
    let spec = options
        .settings
        .get("devices")
        .map(String::as_str)
        .unwrap_or("0");
    let list: Vec<usize> = if spec == "all" {
        (0..available).collect()
    } else {
        spec.split(',')
            .map(|s| {
                s.trim().parse::<usize>().map_err(|_| {
                    BackendError::Config(format!(
                        "--devices '{spec}': use a GPU index list like 0,1 or all"
                    ))
                })
            })
            .collect::<Result<_, _>>()?
    };
    if let Some(bad) = list.iter().find(|&&d| d >= available) {
        return Err(BackendError::Config(format!(
            "--devices {spec}: GPU {bad} does not exist (this machine has {available}: 0..{})",
            available.saturating_sub(1)
        )));
    }
    if list.is_empty() {
        return Err(BackendError::Config(format!(
            "--devices '{spec}' names no GPU"
        )));
    }
    Ok(list)
}

impl CudaBackend {
    /// Probes the libraries and opens the first GPU of `--devices` (multi-GPU runs go through
    /// [`open`]).
    pub fn open_one(ordinal: usize, found: &probe::Found) -> Result<Self, BackendError> {
        let nvml = telemetry::init();
        let dev = Device::open(ordinal, found, nvml).map_err(|e| BackendError::Unavailable {
            backend: "cuda",
            why: format!("GPU {ordinal}: {e}"),
        })?;
        let p = &dev.gpu.props;
        let mut extra = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            extra.insert(k.to_string(), v);
        };
        put("gpu_index", ordinal.to_string());
        put("compute_capability", format!("{}.{}", p.cc.0, p.cc.1));
        put("sm_count", p.sm_count.to_string());
        put("memory_bytes", p.memory_bytes.to_string());
        put("sm_clock_max_mhz", (p.sm_clock_khz / 1000).to_string());
        put("mem_clock_max_mhz", (p.mem_clock_khz / 1000).to_string());
        put("memory_bus_bits", p.bus_width_bits.to_string());
        put("l2_bytes", p.l2_bytes.to_string());
        put("driver_api", probe::api_version_string(found.driver_api));
        put("libcuda", found.driver_lib.clone());
        put("libcublasLt", found.cublaslt_lib.clone());
        put("cublaslt_version", LtHandle::version().to_string());
        put("libnvrtc", found.nvrtc_lib.clone());
        if let Some((a, b)) = nvrtc::version() {
            put("nvrtc_version", format!("{a}.{b}"));
        }
        put("event_elapsed_symbol", found.elapsed_symbol.to_string());
        put("cublaslt_workspace_bytes", lt::WORKSPACE_BYTES.to_string());
        put(
            "cache_between_samples",
            format!(
                "L2 flushed before every sample: memset of a {} byte buffer, outside the timed events",
                dev.flush.bytes
            ),
        );
        if let Some(u) = &dev.uuid {
            put("gpu_uuid", u.clone());
        }
        let nvml_driver = match &dev.nvml {
            Ok(n) => n.sys_driver_version().ok(),
            Err(why) => {
                put("telemetry", why.clone());
                None
            }
        };
        let info = DeviceInfo {
            kind: Some(BackendKind::Cuda),
            implementation: "bench".into(),
            device: p.name.clone(),
            device_count: found.devices as u32,
            runtime_version: Some(format!(
                "cuBLASLt {} ({}), NVRTC {}",
                LtHandle::version(),
                found.cublaslt_lib,
                nvrtc::version()
                    .map(|(a, b)| format!("{a}.{b}"))
                    .unwrap_or_else(|| "?".into())
            )),
            driver_version: Some(match nvml_driver {
                Some(v) => format!("{v} (CUDA {})", probe::api_version_string(found.driver_api)),
                None => format!("CUDA {}", probe::api_version_string(found.driver_api)),
            }),
            simulated: false,
            extra,
        };
        Ok(CudaBackend {
            info,
            dev,
            modules: Modules::default(),
        })
    }

    fn facts(&self) -> CudaBackendFacts {
        CudaBackendFacts { cc: self.cc() }
    }

    fn cc(&self) -> (i32, i32) {
        self.dev.gpu.props.cc
    }

    /// Compiles and loads a module once; returns its functions and the compile time if it
    /// compiled now.
    fn module(
        &mut self,
        kind: ModuleKind,
    ) -> Result<(BTreeMap<&'static str, CudaFunction>, Option<f64>), BackendError> {
        let slot = match kind {
            ModuleKind::Attention => &mut self.modules.attention,
            ModuleKind::Mlp => &mut self.modules.mlp,
            ModuleKind::Gpt => &mut self.modules.gpt,
        };
        if let Some(m) = slot {
            return Ok((m.clone(), None));
        }
        let (name, src, names): (&str, String, Vec<&'static str>) = match kind {
            ModuleKind::Attention => (
                "attention.cu",
                sources::program(sources::ATTENTION),
                sources::ATTENTION_KERNELS.iter().map(|k| k.0).collect(),
            ),
            ModuleKind::Mlp => (
                "mlp.cu",
                sources::program(sources::MLP),
                sources::MLP_KERNELS.to_vec(),
            ),
            ModuleKind::Gpt => (
                "gpt.cu",
                sources::gpt_program(),
                [sources::XENT, sources::RELU_BWD_COLSUM]
                    .into_iter()
                    .chain(sources::GPT_KERNELS)
                    .collect(),
            ),
        };
        let t = Instant::now();
        let cubin =
            nvrtc::compile_cubin(&src, name, self.dev.gpu.props.cc).map_err(BackendError::Point)?;
        let module = self
            .dev
            .gpu
            .ctx
            .load_module(cudarc::nvrtc::Ptx::from_binary(cubin))
            .map_err(|e| BackendError::Point(format!("loading {name}: {e:?}")))?;
        let mut funcs = BTreeMap::new();
        for n in names {
            let f = module
                .load_function(n)
                .map_err(|e| BackendError::Point(format!("{name} has no kernel {n}: {e:?}")))?;
            funcs.insert(n, f);
        }
        let secs = t.elapsed().as_secs_f64();
        *slot = Some(funcs.clone());
        Ok((funcs, Some(secs)))
    }
}

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
            attention::GpuAttention::kernel_for(&a, dt)?;
            at_least(
                (8, 0),
                "the fused attention kernel (mma.sync bf16/f16, cp.async)",
            )
        }
        Workload::TrainMlp(_) => match mlp::storage(dt) {
            None => Err(format!(
                "train-mlp has no {dt} variant on cuda (fp8 training is not a workload here)"
            )),
            Some(_) => at_least(
                (8, 0),
                "train-mlp on cuda (bf16 conversions in its kernels)",
            ),
        },
        Workload::TrainGpt(_) => match mlp::storage(dt) {
            None => Err(format!(
                "train-gpt has no {dt} variant on cuda (fp8 training is not a workload here)"
            )),
            Some(_) => at_least(
                (8, 0),
                "train-gpt on cuda (bf16 conversions in its kernels)",
            ),
        },
    }
}

impl Backend for CudaBackend {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn supports(&self, point: &Point) -> Result<(), String> {
        supports_on(self.cc(), point)
    }

    fn prepare<'a>(
        &'a mut self,
        point: &Point,
        inputs: &[HostTensor],
    ) -> Result<Box<dyn Prepared + 'a>, BackendError> {
        self.supports(point).map_err(BackendError::Point)?;
        let (funcs, compile_s) = match point.workload {
            Workload::Attention(_) => self.module(ModuleKind::Attention)?,
            Workload::TrainMlp(_) => self.module(ModuleKind::Mlp)?,
            Workload::TrainGpt(_) => self.module(ModuleKind::Gpt)?,
            _ => (BTreeMap::new(), None),
        };
        self.dev.start_sampling();
        let dev = &self.dev;
        let inner: Box<dyn Prepared + 'a> = match point.workload {
            Workload::Matmul(p) => Box::new(gemm::GpuMatmul::new(dev, p, point.dtype, inputs)?),
            Workload::Attention(p) => {
                let name = attention::GpuAttention::kernel_for(&p, point.dtype)
                    .map_err(BackendError::Point)?;
                let f = funcs[name].clone();
                Box::new(attention::GpuAttention::new(
                    dev,
                    f,
                    p,
                    point.dtype,
                    inputs,
                )?)
            }
            Workload::TrainMlp(p) => {
                Box::new(mlp::GpuMlp::new(dev, funcs, p, point.dtype, inputs)?)
            }
            Workload::TrainGpt(p) => {
                Box::new(gpt::GpuGpt::new(dev, funcs, p, point.dtype, inputs)?)
            }
        };
        // Make sure uploads are done before the gate and timing start.
        dev.gpu.sync().map_err(BackendError::Point)?;
        Ok(Box::new(WithCompile { inner, compile_s }))
    }
}

/// Adds the one-off NVRTC compile time to a prepared point.
struct WithCompile<'a> {
    inner: Box<dyn Prepared + 'a>,
    compile_s: Option<f64>,
}

impl Prepared for WithCompile<'_> {
    fn run(&mut self) -> Result<Option<f64>, BackendError> {
        self.inner.run()
    }
    fn output(&mut self) -> Result<kernels::Produced, BackendError> {
        self.inner.output()
    }
    fn timer(&self) -> &'static str {
        self.inner.timer()
    }
    fn one_off(&self) -> crate::OneOff {
        crate::OneOff {
            compile_s: self.compile_s,
        }
    }
    fn telemetry(&mut self) -> Option<Telemetry> {
        self.inner.telemetry()
    }
}

/// Opens the CUDA backend: probe, then one GPU (or one worker per GPU for `--devices`).
pub fn open(options: &BackendOptions) -> Result<Box<dyn Backend>, BackendError> {
    let found = probe::probe()?;
    let devices = parse_devices(options, found.devices)?;
    if devices.len() == 1 {
        return Ok(Box::new(CudaBackend::open_one(devices[0], &found)?));
    }
    Ok(Box::new(multi::MultiGpu::open(devices, found)?))
}

/// The NVIDIA driver library this process would load, if any (no other CUDA call is made).
pub fn driver_present() -> Option<String> {
    probe::find_lib("cuda")
}

/// One line for `bench list`: the GPU(s), or why the backend cannot run here.
pub fn describe_here() -> Result<String, String> {
    let found = probe::probe().map_err(|e| e.to_string())?;
    let b = CudaBackend::open_one(0, &found).map_err(|e| e.to_string())?;
    Ok(format!(
        "{} ×{} ({}, {})",
        b.info.device,
        found.devices,
        b.info.driver_version.clone().unwrap_or_default(),
        b.info.runtime_version.clone().unwrap_or_default()
    ))
}

mod multi;

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(d: &str) -> BackendOptions {
        let mut o = BackendOptions::default();
        o.settings.insert("devices".into(), d.into());
        o
    }

    #[test]
    fn devices_parse_and_bad_values_are_named() {
        assert_eq!(
            parse_devices(&BackendOptions::default(), 8).unwrap(),
            vec![0]
        );
        assert_eq!(parse_devices(&opts("all"), 4).unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(parse_devices(&opts("1,3"), 4).unwrap(), vec![1, 3]);
        let e = parse_devices(&opts("9"), 2).unwrap_err().to_string();
        assert!(
            e.contains("GPU 9 does not exist") && e.contains("has 2"),
            "{e}"
        );
        let e = parse_devices(&opts("x"), 2).unwrap_err().to_string();
        assert!(e.contains("--devices 'x'"), "{e}");
    }

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

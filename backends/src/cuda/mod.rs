//! The CUDA backend: cudarc with run-time loading (the default build needs no CUDA anywhere),
//! cuBLASLt for GEMMs, bench's own kernels (kernels/cuda/*.cu) compiled by NVRTC for the
//! device, CUDA-event timing with an L2 flush before every sample, NVML telemetry, and device
//! provenance. Opening checks every library and driver symbol first (`ffi::probe`), so a
//! machine without CUDA gets a one-line error naming what is missing, never a panic.
//!
//! By concern: `ffi` (probe, driver, cuBLASLt, NVRTC: the only `unsafe`, typed errors);
//! `device` (what a GPU's points share, and the timed sample); `modules` (which source each
//! workload needs, the NVRTC compile, the per-GPU module cache); `capability` (what runs on
//! which compute capability); `provenance`; `options`; `telemetry` (NVML); `bind` (each
//! workload's device-independent plan from `crate::gpu` bound to this GPU). This file opens
//! the backend and dispatches points (matmul, attention, train-mlp, train-gpt, prefill and
//! decode); several GPUs go through `crate::multi`.

mod bind;
mod capability;
mod device;
mod ffi;
mod modules;
mod options;
mod provenance;
pub mod sources;
mod telemetry;

use kernels::{HostTensor, Point, Workload};

use crate::{Backend, BackendError, BackendOptions, DeviceInfo, Prepared};
use bind::{Bound, Iteration};
use device::Device;

pub use capability::{fits_memory, supports_on};
pub use ffi::error::CudaError;
pub use ffi::nvrtc::{
    arch_of, options as nvrtc_options, present as nvrtc_present, version as nvrtc_version,
};
pub use ffi::probe::{
    INSTALL_HINT, PROBE_ARCH, PROBE_KERNEL, REQUIRED_CUBLASLT_SYMBOLS, REQUIRED_DRIVER_SYMBOLS,
    REQUIRED_NVRTC_SYMBOLS,
};
pub use modules::{compile_module, ModuleKind};

/// The CUDA backend on one GPU.
pub struct CudaBackend {
    info: DeviceInfo,
    dev: Device,
    modules: modules::Modules,
}

impl CudaBackend {
    /// Opens GPU `ordinal` with the libraries the probe found (several GPUs go through
    /// [`open`]).
    pub fn open_one(ordinal: usize, found: &ffi::probe::Found) -> Result<Self, BackendError> {
        let nvml = telemetry::init();
        let dev = Device::open(ordinal, found, nvml).map_err(|e| BackendError::Unavailable {
            backend: "cuda",
            why: format!("GPU {ordinal}: {e}"),
        })?;
        Ok(CudaBackend {
            info: provenance::device_info(ordinal, found, &dev),
            dev,
            modules: modules::Modules::default(),
        })
    }

    fn cc(&self) -> (i32, i32) {
        self.dev.gpu.props.cc
    }

    fn sms(&self) -> u32 {
        self.dev.gpu.props.sm_count.max(1) as u32
    }
}

/// `work` bound to `dev` as a prepared point.
fn bound<'a, W: Iteration + 'a>(
    dev: &'a Device,
    work: W,
    compile_s: Option<f64>,
) -> Result<Box<dyn Prepared + 'a>, BackendError> {
    Ok(Box::new(Bound::new(dev, work, compile_s)?))
}

impl Backend for CudaBackend {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn supports(&self, point: &Point) -> Result<(), String> {
        supports_on(self.cc(), point)?;
        let props = &self.dev.gpu.props;
        capability::fits_memory(point, props.memory_bytes as u64, self.sms())
    }

    fn prepare<'a>(
        &'a mut self,
        point: &Point,
        inputs: &[HostTensor],
    ) -> Result<Box<dyn Prepared + 'a>, BackendError> {
        self.supports(point).map_err(BackendError::Point)?;
        let plan = capability::infer_plan_of(point, self.sms());
        let mut kernels = modules::Kernels::new();
        let mut compile_s = None;
        for kind in modules::modules_for(point, plan.as_ref()) {
            let (k, secs) = self.modules.get(&self.dev.gpu, kind)?;
            kernels.extend(k);
            if let Some(s) = secs {
                compile_s = Some(compile_s.unwrap_or(0.0) + s);
            }
        }
        self.dev.start_sampling();
        let dev = &self.dev;
        let dt = point.dtype;
        let prepared = match point.workload {
            Workload::Matmul(p) => bound(
                dev,
                bind::matmul::GpuMatmul::new(dev, p, dt, inputs)?,
                compile_s,
            )?,
            Workload::Attention(p) => bound(
                dev,
                bind::attention::GpuAttention::new(dev, &kernels, p, dt, inputs)?,
                compile_s,
            )?,
            Workload::TrainMlp(p) => bound(
                dev,
                bind::mlp::GpuMlp::new(dev, kernels, p, dt, inputs)?,
                compile_s,
            )?,
            Workload::TrainGpt(p) => bound(
                dev,
                bind::gpt::GpuGpt::new(dev, kernels, p, dt, inputs)?,
                compile_s,
            )?,
            Workload::Prefill(_) | Workload::Decode(_) => {
                let plan = plan.ok_or_else(|| {
                    BackendError::Point(format!("internal: no plan for {}", point.kind()))
                })?;
                bound(
                    dev,
                    bind::infer::GpuInfer::new(dev, kernels, plan, dt, inputs)?,
                    compile_s,
                )?
            }
        };
        // Make sure uploads are done before the gate and timing start.
        dev.gpu.sync()?;
        Ok(prepared)
    }
}

/// Opens the CUDA backend: probe, then one GPU (or one worker per GPU for `--devices`).
pub fn open(options: &BackendOptions) -> Result<Box<dyn Backend>, BackendError> {
    let found = ffi::probe::probe()?;
    let devices = options::parse_devices(options, found.devices)?;
    if devices.len() == 1 {
        return Ok(Box::new(CudaBackend::open_one(devices[0], &found)?));
    }
    let multi = crate::multi::MultiDevice::spawn(
        "cuda",
        devices,
        std::sync::Arc::new(move |d| {
            Ok(Box::new(CudaBackend::open_one(d, &found)?) as Box<dyn Backend>)
        }),
    )?;
    Ok(Box::new(multi))
}

/// The NVIDIA driver library this process would load, if any (no other CUDA call is made).
pub fn driver_present() -> Option<String> {
    ffi::probe::find_lib("cuda")
}

/// One line for `bench list`: the GPU(s), or why the backend cannot run here.
pub fn describe_here() -> Result<String, String> {
    let found = ffi::probe::probe().map_err(|e| e.to_string())?;
    let b = CudaBackend::open_one(0, &found).map_err(|e| e.to_string())?;
    Ok(format!(
        "{} ×{} ({}, {})",
        b.info.device,
        found.devices,
        b.info.driver_version.clone().unwrap_or_default(),
        b.info.runtime_version.clone().unwrap_or_default()
    ))
}

//! Where workloads run. One small trait, [`Backend`], and one implementation per platform:
//! `cpu` (candle-core, with a run-time-loaded OpenBLAS for f32 GEMM when present), and the
//! accelerators. A backend is workload-level: it prepares a whole point (inputs uploaded,
//! kernels chosen or loaded), then runs synchronised iterations the harness times.
//!
//! A backend whose library or device is missing is an error or a skip with a reason, never a
//! panic. `unsafe` is allowed only in the FFI modules (`cpu::blas`; `neuron::{sys, runtime, model,
//! tensor}`; `cuda::ffi::{probe, driver, lt, nvrtc}`), each block with a
//! `// SAFETY:` line. `gpu` is the device-independent half of the GPU backends (plans, layouts,
//! launch descriptions); `multi` drives several devices of any backend together.
#![deny(unsafe_code)]

pub mod cpu;
pub mod cuda;
mod error;
pub mod gpu;
pub mod multi;
pub mod neuron;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

pub use error::BackendError;
use kernels::{HostTensor, Point, Produced};

/// The platforms `bench` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BackendKind {
    Cpu,
    Cuda,
    Neuron,
}

impl BackendKind {
    pub const ALL: [BackendKind; 3] = [BackendKind::Cpu, BackendKind::Cuda, BackendKind::Neuron];

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Cpu => "cpu",
            BackendKind::Cuda => "cuda",
            BackendKind::Neuron => "neuron",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = BackendError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BackendKind::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| BackendError::UnknownBackend(s.to_string()))
    }
}

/// What a backend runs on, recorded in every result file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeviceInfo {
    pub kind: Option<BackendKind>,
    /// `bench` for the harness's own kernels; the vendor library's name for a reference run.
    pub implementation: String,
    pub device: String,
    pub device_count: u32,
    pub runtime_version: Option<String>,
    pub driver_version: Option<String>,
    /// True for stand-in runtimes (nrt-sim): such results are never priced.
    pub simulated: bool,
    /// Further facts worth keeping (library versions, settings), free-form.
    pub extra: BTreeMap<String, String>,
}

/// Options a backend is opened with.
#[derive(Debug, Clone, Default)]
pub struct BackendOptions {
    /// Extra settings by name (`neff_dir`, `cores`, ...), interpreted by the backend.
    pub settings: BTreeMap<String, String>,
}

/// One-off costs a prepared point reports beyond its own preparation time.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct OneOff {
    /// Seconds spent compiling kernels (NVRTC, NEFF load-time compile), if any.
    pub compile_s: Option<f64>,
}

/// A platform that can run workload points.
pub trait Backend {
    fn info(&self) -> &DeviceInfo;

    /// `Err(reason)` when this backend cannot run the point (the harness records a skip).
    fn supports(&self, point: &Point) -> Result<(), String>;

    /// Uploads inputs and readies everything one iteration needs.
    fn prepare<'a>(
        &'a mut self,
        point: &Point,
        inputs: &[HostTensor],
    ) -> Result<Box<dyn Prepared + 'a>, BackendError>;

    /// Accelerator chips (or CPU sockets) one point occupies; may be fractional.
    fn devices_used(&self, _point: &Point) -> f64 {
        1.0
    }

    /// Second implementations of the point this backend runs beside its own (the Neuron
    /// backend's `nki` NEFFs): each name, with `Err(reason)` where it cannot run this point.
    /// The harness records each as a record of its own labelled with the name. None by default.
    fn alternatives(&self, _point: &Point) -> Vec<(String, Result<(), String>)> {
        Vec::new()
    }

    /// Prepares alternative `name` of the point, one that [`Backend::alternatives`] lists as
    /// runnable; otherwise as [`Backend::prepare`].
    fn prepare_alternative<'a>(
        &'a mut self,
        name: &str,
        _point: &Point,
        _inputs: &[HostTensor],
    ) -> Result<Box<dyn Prepared + 'a>, BackendError> {
        Err(BackendError::Point(format!(
            "this backend has no implementation '{name}'"
        )))
    }
}

/// A point ready to run.
pub trait Prepared {
    /// One iteration, complete (synchronised) when it returns. Returns the iteration's
    /// duration in seconds when the backend times it itself (device events); `None` lets
    /// the harness time it with the wall clock.
    fn run(&mut self) -> Result<Option<f64>, BackendError>;

    /// The output to check: the result tensor, or every loss recorded so far for training.
    fn output(&mut self) -> Result<Produced, BackendError>;

    /// The timer that `run` uses: `wall` unless the backend times itself.
    fn timer(&self) -> &'static str {
        "wall"
    }

    /// The last `run`'s host wall time as the backend measured it (apart from its own timing
    /// bookkeeping), when it keeps one beside the device time `run` returned; the harness
    /// records these in `samples_wall_s`.
    fn wall_s(&self) -> Option<f64> {
        None
    }

    fn one_off(&self) -> OneOff {
        OneOff::default()
    }

    /// Device telemetry (clocks, power, temperature, throttling) sampled while the point ran,
    /// when the backend collects it.
    fn telemetry(&mut self) -> Option<Telemetry> {
        None
    }
}

/// Device telemetry sampled during one point (the CUDA backend's NVML sampler).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Telemetry {
    /// `nvml`, or `absent` (with `absent_reason`).
    pub source: String,
    pub absent_reason: Option<String>,
    pub samples: usize,
    pub interval_s: f64,
    /// Metric (`sm_clock_mhz`, `mem_clock_mhz`, `power_w`, `temperature_c`) → [min, median, max].
    pub metrics: BTreeMap<String, [f64; 3]>,
    /// Metrics the device did not report, with the library's reason.
    pub absent_metrics: BTreeMap<String, String>,
    /// Clock-throttle reasons seen in any sample (GPU idle excluded).
    pub throttle_reasons: Vec<String>,
}

impl Telemetry {
    /// Several devices' telemetry as one: min of mins, max of maxes, the larger median,
    /// reasons and absences united.
    pub fn merge(mut self, other: &Telemetry) -> Telemetry {
        self.samples += other.samples;
        for (k, o) in &other.metrics {
            let e = self.metrics.entry(k.clone()).or_insert(*o);
            *e = [e[0].min(o[0]), e[1].max(o[1]), e[2].max(o[2])];
        }
        for (k, v) in &other.absent_metrics {
            self.absent_metrics
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        for r in &other.throttle_reasons {
            if !self.throttle_reasons.contains(r) {
                self.throttle_reasons.push(r.clone());
            }
        }
        if self.source != "nvml" && other.source == "nvml" {
            self.source = other.source.clone();
            self.absent_reason = None;
        }
        self
    }
}

/// Opens a backend, or says clearly why it cannot run here.
pub fn open(kind: BackendKind, options: &BackendOptions) -> Result<Box<dyn Backend>, BackendError> {
    match kind {
        BackendKind::Cpu => Ok(Box::new(cpu::CpuBackend::new()?)),
        BackendKind::Cuda => cuda::open(options),
        BackendKind::Neuron => Ok(Box::new(neuron::NeuronBackend::open(options)?)),
    }
}

/// Whether a backend can run on this machine, and why not, without opening it fully.
pub fn availability(kind: BackendKind) -> Result<String, String> {
    match kind {
        BackendKind::Cpu => Ok(cpu::describe_here()),
        BackendKind::Neuron => neuron::describe_here(),
        BackendKind::Cuda => cuda::describe_here(),
    }
}

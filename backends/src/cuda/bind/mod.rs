//! Workload bindings: each maps a workload's device-independent step (`crate::gpu`) onto this
//! GPU — inputs uploaded in the storage type, cuBLASLt GEMMs prepared, NVRTC kernels resolved —
//! and says what one iteration enqueues ([`Iteration`]). [`Bound`] is the one `Prepared` they
//! all share: every sample flushes L2 and is timed by CUDA events, a training step's loss is
//! read back after its timed region, and the output is decoded for the correctness gate.

pub mod attention;
pub mod gpt;
pub mod infer;
pub mod matmul;
pub mod mlp;

use kernels::Produced;

use super::device::Device;
use super::ffi::driver::{DevBuf, EventTimer};
use super::ffi::CudaError;
use crate::gpu::convert::decode;
use crate::gpu::layout::Elem;
use crate::{BackendError, OneOff, Prepared, Telemetry};

/// Where an iteration's result lies.
pub enum Output<'a> {
    /// A tensor of this storage type, read back once for the check.
    Tensor(&'a DevBuf, Elem),
    /// The f32 mean loss each training step leaves here, read back after every step.
    Loss(&'a DevBuf),
}

/// What one iteration of a bound point does on the device.
pub trait Iteration {
    /// Enqueues iteration `step` (0-based) on the device's stream: the work between the
    /// timing events.
    fn enqueue(&self, dev: &Device, step: usize) -> Result<(), CudaError>;

    /// Where the result is.
    fn output(&self) -> Output<'_>;
}

/// A point bound to one GPU, ready to run.
pub struct Bound<'a, W> {
    dev: &'a Device,
    work: W,
    timer: EventTimer,
    step: usize,
    losses: Vec<f64>,
    compile_s: Option<f64>,
}

impl<'a, W: Iteration> Bound<'a, W> {
    /// `compile_s`: the NVRTC compile-and-load time the point's module took, if it was built
    /// for this point (a one-off cost).
    pub fn new(dev: &'a Device, work: W, compile_s: Option<f64>) -> Result<Self, CudaError> {
        Ok(Bound {
            dev,
            work,
            timer: dev.gpu.timer()?,
            step: 0,
            losses: Vec::new(),
            compile_s,
        })
    }
}

impl<W: Iteration> Prepared for Bound<'_, W> {
    fn run(&mut self) -> Result<Option<f64>, BackendError> {
        let (dev, work, step) = (self.dev, &self.work, self.step);
        let secs = dev.timed(&self.timer, || work.enqueue(dev, step))?;
        if let Output::Loss(buf) = work.output() {
            let bytes = dev.gpu.download(buf)?;
            self.losses.push(decode(&bytes, Elem::F32)[0] as f64);
        }
        self.step += 1;
        Ok(Some(secs))
    }

    fn output(&mut self) -> Result<Produced, BackendError> {
        match self.work.output() {
            Output::Tensor(buf, elem) => {
                let bytes = self.dev.gpu.download(buf)?;
                Ok(Produced::Tensor(decode(&bytes, elem)))
            }
            Output::Loss(_) => Ok(Produced::Losses(self.losses.clone())),
        }
    }

    fn timer(&self) -> &'static str {
        "cuda_event"
    }

    fn one_off(&self) -> OneOff {
        OneOff {
            compile_s: self.compile_s,
        }
    }

    fn telemetry(&mut self) -> Option<Telemetry> {
        self.dev.telemetry_since_prepare()
    }
}

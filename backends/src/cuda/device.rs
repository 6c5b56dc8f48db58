//! Everything one GPU's points share — the driver context and stream, the cuBLASLt handle and
//! workspace, the L2-flush buffer, NVML — and the one way a sample is timed: L2 flushed
//! (outside the timed region), then CUDA events around the iteration's work.

use std::sync::Mutex;

use super::ffi::driver::{DevBuf, EventTimer, Gpu};
use super::ffi::lt::{self, LtHandle};
use super::ffi::probe::Found;
use super::ffi::CudaError;
use super::telemetry;
use crate::Telemetry;

pub struct Device {
    pub gpu: Gpu,
    pub lt: LtHandle,
    pub workspace: DevBuf,
    pub flush: DevBuf,
    pub nvml: telemetry::NvmlHandle,
    pub uuid: Option<String>,
    sampler: Mutex<Option<telemetry::Sampler>>,
}

impl Device {
    pub fn open(
        ordinal: usize,
        found: &Found,
        nvml: telemetry::NvmlHandle,
    ) -> Result<Device, CudaError> {
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
    pub fn timed(
        &self,
        timer: &EventTimer,
        work: impl FnOnce() -> Result<(), CudaError>,
    ) -> Result<f64, CudaError> {
        self.gpu.memset_raw(self.flush.ptr, self.flush.bytes)?;
        timer.start()?;
        work()?;
        timer.stop()
    }

    /// Starts NVML sampling for the point being prepared (nothing without NVML).
    pub fn start_sampling(&self) {
        let s = match (&self.nvml, &self.uuid) {
            (Ok(n), Some(u)) => Some(telemetry::Sampler::start(n.clone(), u.clone())),
            _ => None,
        };
        if let Ok(mut slot) = self.sampler.lock() {
            *slot = s;
        }
    }

    /// Telemetry from the point's preparation until now (absent, with the reason, without NVML).
    pub fn telemetry_since_prepare(&self) -> Option<Telemetry> {
        let s = self.sampler.lock().ok()?.take();
        Some(match (s, &self.nvml) {
            (Some(s), _) => s.finish(),
            (None, Err(why)) => telemetry::absent(why.clone()),
            (None, Ok(_)) => telemetry::absent("the GPU's UUID is unknown to NVML".into()),
        })
    }
}

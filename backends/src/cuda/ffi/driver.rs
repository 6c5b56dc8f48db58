//! The CUDA driver side of one GPU (FFI): a context and one stream (cudarc's safe layer, with its
//! per-buffer event tracking turned off — everything runs in order on one stream), byte buffers
//! with their raw device addresses, kernel launches, and CUDA-event timing through whichever
//! `cuEventElapsedTime` entry point the driver exports (see `probe`). Device facts for the
//! provenance come from driver attributes.
#![allow(unsafe_code)]

use std::ffi::c_int;
use std::sync::Arc;

use cudarc::driver::sys::{self, CUdevice_attribute_enum as Attr};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DevicePtr, LaunchConfig, PushKernelArg,
};

use super::error::CudaError;
use crate::gpu::launch::{KArg, Launch};

/// Facts about the device, for provenance and for sizing (L2 flush, kernel choice).
#[derive(Debug, Clone, PartialEq)]
pub struct Props {
    pub ordinal: usize,
    pub name: String,
    pub cc: (i32, i32),
    pub sm_count: i32,
    pub memory_bytes: usize,
    pub sm_clock_khz: i32,
    pub mem_clock_khz: i32,
    pub l2_bytes: i32,
    pub bus_width_bits: i32,
    pub pci_bus_id: i32,
}

type ElapsedFn = unsafe extern "C" fn(*mut f32, sys::CUevent, sys::CUevent) -> c_int;

/// A device buffer and its raw address (valid while the buffer lives).
pub struct DevBuf {
    buf: CudaSlice<u8>,
    pub ptr: u64,
    pub bytes: usize,
}

/// One GPU: context, stream, events, and the driver's elapsed-time entry point.
pub struct Gpu {
    pub ctx: Arc<CudaContext>,
    pub stream: Arc<CudaStream>,
    pub props: Props,
    elapsed: ElapsedFn,
    _lib: Arc<libloading::Library>,
}

fn e(what: &str) -> impl FnOnce(cudarc::driver::DriverError) -> CudaError + '_ {
    CudaError::driver(what)
}

impl Gpu {
    /// Opens device `ordinal`. `driver_lib` and `elapsed_symbol` come from the probe.
    pub fn open(ordinal: usize, driver_lib: &str, elapsed_symbol: &str) -> Result<Gpu, CudaError> {
        let lib_err = |what, source| CudaError::Library {
            what,
            lib: driver_lib.to_string(),
            source,
        };
        // SAFETY: the probe loaded this library and found the symbol already.
        let lib =
            unsafe { libloading::Library::new(driver_lib) }.map_err(|x| lib_err("loading", x))?;
        // SAFETY: both cuEventElapsedTime and cuEventElapsedTime_v2 have the C signature
        // CUresult (float*, CUevent, CUevent); CUresult is a C int.
        let elapsed: ElapsedFn = unsafe {
            *lib.get::<ElapsedFn>(elapsed_symbol.as_bytes())
                .map_err(|x| lib_err("the event-timing symbol of", x))?
        };
        let ctx = CudaContext::new(ordinal).map_err(e("context"))?;
        // SAFETY: every buffer of this backend lives on the one stream below, so cudarc's
        // cross-stream event tracking is not needed; it is turned off before any allocation.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.new_stream().map_err(e("stream"))?;
        let attr = |a: Attr| ctx.attribute(a).unwrap_or(0);
        let props = Props {
            ordinal,
            name: ctx.name().map_err(e("device name"))?,
            cc: ctx.compute_capability().map_err(e("compute capability"))?,
            sm_count: attr(Attr::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
            memory_bytes: ctx.total_mem().map_err(e("memory size"))?,
            sm_clock_khz: attr(Attr::CU_DEVICE_ATTRIBUTE_CLOCK_RATE),
            mem_clock_khz: attr(Attr::CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE),
            l2_bytes: attr(Attr::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE),
            bus_width_bits: attr(Attr::CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH),
            pci_bus_id: attr(Attr::CU_DEVICE_ATTRIBUTE_PCI_BUS_ID),
        };
        Ok(Gpu {
            ctx,
            stream,
            props,
            elapsed,
            _lib: Arc::new(lib),
        })
    }

    fn wrap(&self, buf: CudaSlice<u8>) -> DevBuf {
        let bytes = buf.len();
        let ptr = buf.device_ptr(&self.stream).0;
        DevBuf { ptr, bytes, buf }
    }

    pub fn upload(&self, bytes: &[u8]) -> Result<DevBuf, CudaError> {
        let buf = self.stream.clone_htod(bytes).map_err(e("upload"))?;
        Ok(self.wrap(buf))
    }

    pub fn zeros(&self, bytes: usize) -> Result<DevBuf, CudaError> {
        let buf = self
            .stream
            .alloc_zeros::<u8>(bytes.max(1))
            .map_err(e(&format!("allocating {bytes} bytes")))?;
        Ok(self.wrap(buf))
    }

    pub fn download(&self, b: &DevBuf) -> Result<Vec<u8>, CudaError> {
        self.stream.clone_dtoh(&b.buf).map_err(e("download"))
    }

    /// Zeroes `bytes` bytes at device address `ptr` on the stream (the L2 flush).
    pub fn memset_raw(&self, ptr: u64, bytes: usize) -> Result<(), CudaError> {
        // SAFETY: callers pass the address and size of a live buffer they own (DevBuf).
        unsafe { sys::cuMemsetD8Async(ptr, 0, bytes, self.stream.cu_stream()) }
            .result()
            .map_err(e("memset"))
    }

    /// The device's UUID as NVML prints it (`GPU-xxxxxxxx-xxxx-...`).
    pub fn uuid(&self) -> Option<String> {
        let u = self.ctx.uuid().ok()?;
        let b: Vec<u8> = u.bytes.iter().map(|&x| x as u8).collect();
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        Some(format!(
            "GPU-{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        ))
    }

    pub fn sync(&self) -> Result<(), CudaError> {
        self.stream.synchronize().map_err(e("synchronize"))
    }

    /// Launches `f` on the stream with the geometry and arguments of `l` (`l.kernel` names it).
    pub fn launch(&self, f: &CudaFunction, l: &Launch) -> Result<(), CudaError> {
        let mut b = self.stream.launch_builder(f);
        for a in &l.args {
            match a {
                KArg::Ptr(p) => b.arg(p),
                KArg::I32(v) => b.arg(v),
                KArg::I64(v) => b.arg(v),
                KArg::F32(v) => b.arg(v),
            };
        }
        let cfg = LaunchConfig {
            grid_dim: l.grid,
            block_dim: (l.block, 1, 1),
            shared_mem_bytes: l.smem,
        };
        // SAFETY: each kernel's argument list is built by the plans' launch functions from
        // the kernel's C signature in kernels/cuda/*.cu (tested against the parsed sources;
        // pointers are u64 device addresses of live buffers, ints and floats by value), and
        // the launch geometry is the one the kernel documents (tested against its compiled
        // resources in backends/tests/cuda_nvrtc.rs).
        unsafe { b.launch(cfg) }
            .map(|_| ())
            .map_err(e(&format!("launch of {}", l.kernel)))
    }

    pub fn timer(&self) -> Result<EventTimer, CudaError> {
        let mk = || -> Result<sys::CUevent, CudaError> {
            let mut ev = std::ptr::null_mut();
            // SAFETY: cuEventCreate writes one handle; flags 0 = default (timing enabled).
            let rc = unsafe { sys::cuEventCreate(&mut ev, 0) };
            rc.result().map_err(e("event"))?;
            Ok(ev)
        };
        Ok(EventTimer {
            start: mk()?,
            end: mk()?,
            elapsed: self.elapsed,
            stream: self.stream.cu_stream(),
        })
    }
}

/// A pair of CUDA events around work on the stream.
pub struct EventTimer {
    start: sys::CUevent,
    end: sys::CUevent,
    elapsed: ElapsedFn,
    stream: sys::CUstream,
}

impl EventTimer {
    pub fn start(&self) -> Result<(), CudaError> {
        // SAFETY: the event and stream are live (the timer is dropped before its Gpu).
        unsafe { sys::cuEventRecord(self.start, self.stream) }
            .result()
            .map_err(e("event record"))
    }

    /// Records the end event, waits for it, and returns the seconds between the two events.
    pub fn stop(&self) -> Result<f64, CudaError> {
        // SAFETY: as in `start`.
        unsafe { sys::cuEventRecord(self.end, self.stream) }
            .result()
            .map_err(e("event record"))?;
        // SAFETY: the end event was recorded just above.
        unsafe { sys::cuEventSynchronize(self.end) }
            .result()
            .map_err(e("event synchronize"))?;
        let mut ms = 0f32;
        // SAFETY: both events were recorded on the same stream and have completed; the
        // function pointer has the documented signature (checked at open).
        let rc = unsafe { (self.elapsed)(&mut ms, self.start, self.end) };
        if rc != 0 {
            return Err(CudaError::Elapsed(rc));
        }
        Ok(ms as f64 / 1e3)
    }
}

impl Drop for EventTimer {
    fn drop(&mut self) {
        // SAFETY: created by cuEventCreate, destroyed once.
        unsafe {
            let _ = sys::cuEventDestroy_v2(self.start);
            let _ = sys::cuEventDestroy_v2(self.end);
        }
    }
}

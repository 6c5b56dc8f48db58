//! Finds the CUDA libraries before anything touches them: cudarc loads libraries and symbols
//! lazily and panics when one is missing, so this module checks, up front and without
//! panicking, that the driver (`libcuda.so.1`), cuBLASLt and NVRTC are loadable (cudarc's
//! `is_culib_present`), that the driver exports every symbol the backend calls (so a driver
//! too old for the CUDA 13 bindings is a clear error, not a panic), initialises the driver and
//! counts the devices. It also picks the event-timing entry point the driver has: CUDA 13
//! drivers and 12.8+ export `cuEventElapsedTime_v2`, older CUDA 12 drivers only
//! `cuEventElapsedTime` (same signature) — the run-time fallback that lets one binary run on
//! CUDA 12 and 13 drivers. Last it compiles a one-line kernel with NVRTC: libnvrtc loads
//! `libnvrtc-builtins` only at its first compile, so a missing builtins library shows here
//! (in `bench list` and at open) rather than at the first point. Every failure is [`BackendError::Unavailable`] naming what is missing
//! and what to install.
#![allow(unsafe_code)]

use cudarc::driver::sys as dsys;

use super::error::CudaError;
use super::nvrtc;
use crate::BackendError;

/// Driver symbols the backend (through cudarc's safe layer and its own FFI) calls. All exist in
/// CUDA 12.0+ drivers.
pub const REQUIRED_DRIVER_SYMBOLS: &[&str] = &[
    "cuInit",
    "cuDriverGetVersion",
    "cuGetErrorName",
    "cuGetErrorString",
    "cuDeviceGet",
    "cuDeviceGetCount",
    "cuDeviceGetName",
    "cuDeviceGetAttribute",
    "cuDeviceTotalMem_v2",
    "cuDeviceGetUuid_v2",
    "cuDevicePrimaryCtxRetain",
    "cuDevicePrimaryCtxRelease_v2",
    "cuCtxSetCurrent",
    "cuCtxGetCurrent",
    "cuCtxSynchronize",
    "cuStreamCreate",
    "cuStreamSynchronize",
    "cuStreamDestroy_v2",
    "cuStreamWaitEvent",
    "cuMemAllocAsync",
    "cuMemFreeAsync",
    "cuMemAlloc_v2",
    "cuMemFree_v2",
    "cuMemcpyHtoDAsync_v2",
    "cuMemcpyDtoHAsync_v2",
    "cuMemsetD8Async",
    "cuMemGetInfo_v2",
    "cuModuleLoadData",
    "cuModuleGetFunction",
    "cuModuleUnload",
    "cuFuncSetAttribute",
    "cuLaunchKernel",
    "cuEventCreate",
    "cuEventRecord",
    "cuEventSynchronize",
    "cuEventQuery",
    "cuEventDestroy_v2",
];

/// cuBLASLt entry points the backend calls (all in cuBLASLt 11.x and later).
pub const REQUIRED_CUBLASLT_SYMBOLS: &[&str] = &[
    "cublasLtCreate",
    "cublasLtDestroy",
    "cublasLtGetVersion",
    "cublasLtMatmul",
    "cublasLtMatmulAlgoGetHeuristic",
    "cublasLtMatmulDescCreate",
    "cublasLtMatmulDescDestroy",
    "cublasLtMatmulDescSetAttribute",
    "cublasLtMatmulPreferenceCreate",
    "cublasLtMatmulPreferenceDestroy",
    "cublasLtMatmulPreferenceSetAttribute",
    "cublasLtMatrixLayoutCreate",
    "cublasLtMatrixLayoutDestroy",
];

/// NVRTC entry points the backend calls (CUBIN output: NVRTC 11.1 and later).
pub const REQUIRED_NVRTC_SYMBOLS: &[&str] = &[
    "nvrtcCreateProgram",
    "nvrtcCompileProgram",
    "nvrtcDestroyProgram",
    "nvrtcGetProgramLogSize",
    "nvrtcGetProgramLog",
    "nvrtcGetCUBINSize",
    "nvrtcGetCUBIN",
    "nvrtcVersion",
];

/// The event-timing entry points, newest first.
pub const ELAPSED_SYMBOLS: &[&str] = &["cuEventElapsedTime_v2", "cuEventElapsedTime"];

/// The kernel the probe compiles: NVRTC's first compile loads libnvrtc-builtins.
pub const PROBE_KERNEL: &str = "extern \"C\" __global__ void bench_probe(int *x) { *x = 1; }";

/// The architecture of the probe's compile: one every supported NVRTC (12.x, 13.x) targets.
pub const PROBE_ARCH: &str = "sm_80";

/// Compiles [`PROBE_KERNEL`] with the NVRTC this process loaded, or says why it cannot.
pub fn nvrtc_compiles(nvrtc_lib: &str) -> Result<(), BackendError> {
    nvrtc::compile_cubin(PROBE_KERNEL, "bench_probe.cu", PROBE_ARCH)
        .map(|_| ())
        .map_err(|e| {
            let builtins = e.to_string().contains("builtins");
            unavailable(format!(
                "{nvrtc_lib} cannot compile a one-line kernel: {e}{}",
                if builtins {
                    "; put libnvrtc-builtins (shipped with libnvrtc in the toolkit's lib64 and \
                     the nvidia-cuda-nvrtc wheel) in the same directory, on LD_LIBRARY_PATH"
                } else {
                    ""
                }
            ))
        })
}

/// The oldest driver API version the backend supports (CUDA 12.0).
pub const MIN_DRIVER_API: i32 = 12000;

/// What the probe found.
#[derive(Debug, Clone)]
pub struct Found {
    /// File names that loaded, e.g. `libcuda.so.1`, `libcublasLt.so.13`.
    pub driver_lib: String,
    pub cublaslt_lib: String,
    pub nvrtc_lib: String,
    pub cublas_lib: Option<String>,
    /// `cuDriverGetVersion`, e.g. 13000 for CUDA 13.0.
    pub driver_api: i32,
    pub devices: usize,
    /// The event-timing symbol this driver has.
    pub elapsed_symbol: &'static str,
}

/// What to install, for every message.
pub const INSTALL_HINT: &str = "install the NVIDIA driver (libcuda.so.1, CUDA 12.0+) and the CUDA 13 or 12 runtime libraries (cuBLASLt and NVRTC: the toolkit's lib64, or `pip install nvidia-cublas nvidia-cuda-nvrtc`, -cu12 for CUDA 12), and put their directories on LD_LIBRARY_PATH";

fn unavailable(why: String) -> BackendError {
    BackendError::Unavailable {
        backend: "cuda",
        why,
    }
}

/// The first file name of `lib` (cudarc's candidate list: `libcublasLt.so`, `.so.13`, `.so.12`,
/// ...) that loads, if any.
pub fn find_lib(lib: &str) -> Option<String> {
    cudarc::get_lib_name_candidates(lib)
        .into_iter()
        .find(|name| {
            // SAFETY: loading a CUDA library runs its initialisers, which are designed to be
            // loaded by any process; the handle is dropped (unloaded) right away.
            unsafe { libloading::Library::new(name) }.is_ok()
        })
}

/// The names a user should look for, e.g. `libcublasLt.so.13 (or .so.12)`.
fn wanted(lib: &str, what: &str) -> String {
    if lib == "cuda" {
        format!("libcuda.so.1 ({what})")
    } else {
        format!("lib{lib}.so.13 or .so.12 ({what})")
    }
}

/// Driver symbols in `names` that `lib_name` does not export.
pub fn missing_symbols(lib_name: &str, names: &[&str]) -> Result<Vec<String>, CudaError> {
    // SAFETY: as in `find_lib`; the library stays loaded while its symbols are looked up and
    // no symbol is called.
    let lib =
        unsafe { libloading::Library::new(lib_name) }.map_err(|source| CudaError::Library {
            what: "loading",
            lib: lib_name.to_string(),
            source,
        })?;
    Ok(names
        .iter()
        .filter(|n| {
            // SAFETY: only the symbol's presence is checked; the pointer is never used.
            unsafe { lib.get::<unsafe extern "C" fn()>(n.as_bytes()) }.is_err()
        })
        .map(|n| n.to_string())
        .collect())
}

fn driver_error(e: cudarc::driver::DriverError) -> String {
    let name = e
        .error_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|_| format!("{:?}", e.0));
    let text = e
        .error_string()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if text.is_empty() {
        name
    } else {
        format!("{name} ({text})")
    }
}

/// `13000` → `13.0`.
pub fn api_version_string(v: i32) -> String {
    format!("{}.{}", v / 1000, (v % 1000) / 10)
}

/// Checks libraries, symbols, driver initialisation and devices, in that order.
pub fn probe() -> Result<Found, BackendError> {
    // SAFETY: `is_culib_present` only tries to load the library by its candidate names.
    let driver_present = unsafe { dsys::is_culib_present() };
    // SAFETY: as above, for cuBLASLt, cuBLAS and NVRTC.
    let (lt_present, nvrtc_present, cublas_present) = unsafe {
        (
            cudarc::cublaslt::sys::is_culib_present(),
            cudarc::nvrtc::sys::is_culib_present(),
            cudarc::cublas::sys::is_culib_present(),
        )
    };
    let mut missing = Vec::new();
    if !driver_present {
        missing.push(wanted("cuda", "the NVIDIA driver"));
    }
    if !lt_present {
        missing.push(wanted("cublasLt", "cuBLASLt"));
    }
    if !nvrtc_present {
        missing.push(wanted("nvrtc", "NVRTC"));
    }
    let driver_lib = find_lib("cuda");
    let (driver_lib, elapsed_symbol, driver_api, devices) = match driver_lib {
        Some(lib) if driver_present => {
            let absent = missing_symbols(&lib, REQUIRED_DRIVER_SYMBOLS)
                .map_err(|e| unavailable(e.to_string()))?;
            if !absent.is_empty() {
                return Err(unavailable(format!(
                    "{lib} lacks {}: the NVIDIA driver is too old; bench needs a CUDA 12.0+ driver (R525 or newer)",
                    absent.join(", ")
                )));
            }
            let elapsed = ELAPSED_SYMBOLS
                .iter()
                .copied()
                .find(|s| {
                    missing_symbols(&lib, &[s])
                        .map(|m| m.is_empty())
                        .unwrap_or(false)
                })
                .ok_or_else(|| unavailable(format!("{lib} exports no cuEventElapsedTime")))?;
            let mut api = 0i32;
            // SAFETY: cuDriverGetVersion writes one int and may be called before cuInit;
            // the symbol's presence was checked above.
            let rc = unsafe { dsys::cuDriverGetVersion(&mut api) };
            if rc != dsys::CUresult::CUDA_SUCCESS {
                return Err(unavailable(format!(
                    "cuDriverGetVersion failed in {lib}: {:?}",
                    rc
                )));
            }
            if api < MIN_DRIVER_API {
                return Err(unavailable(format!(
                    "the NVIDIA driver supports CUDA {} only; bench needs CUDA 12.0+ (driver R525 or newer)",
                    api_version_string(api)
                )));
            }
            cudarc::driver::result::init().map_err(|e| {
                unavailable(format!(
                    "cuInit failed: {} (driver API {}; is a GPU attached and visible? check nvidia-smi and CUDA_VISIBLE_DEVICES)",
                    driver_error(e),
                    api_version_string(api)
                ))
            })?;
            let n = cudarc::driver::result::device::get_count().map_err(|e| {
                unavailable(format!("cuDeviceGetCount failed: {}", driver_error(e)))
            })?;
            if n <= 0 {
                return Err(unavailable(
                    "the NVIDIA driver sees no CUDA device (check nvidia-smi and CUDA_VISIBLE_DEVICES)"
                        .into(),
                ));
            }
            (lib, elapsed, api, n as usize)
        }
        _ => {
            if missing.is_empty() {
                missing.push(wanted("cuda", "the NVIDIA driver"));
            }
            return Err(unavailable(format!(
                "not found: {}; {INSTALL_HINT}",
                missing.join(", ")
            )));
        }
    };
    if !missing.is_empty() {
        return Err(unavailable(format!(
            "not found: {} (driver {driver_lib}, CUDA {}); {INSTALL_HINT}",
            missing.join(", "),
            api_version_string(driver_api)
        )));
    }
    let cublaslt_lib = find_lib("cublasLt").unwrap_or_else(|| "cublasLt".into());
    let nvrtc_lib = find_lib("nvrtc").unwrap_or_else(|| "nvrtc".into());
    for (lib, symbols) in [
        (&cublaslt_lib, REQUIRED_CUBLASLT_SYMBOLS),
        (&nvrtc_lib, REQUIRED_NVRTC_SYMBOLS),
    ] {
        let absent = missing_symbols(lib, symbols).map_err(|e| unavailable(e.to_string()))?;
        if !absent.is_empty() {
            return Err(unavailable(format!(
                "{lib} lacks {}: install CUDA 12 or 13 libraries; {INSTALL_HINT}",
                absent.join(", ")
            )));
        }
    }
    nvrtc_compiles(&nvrtc_lib)?;
    Ok(Found {
        driver_lib,
        cublaslt_lib,
        nvrtc_lib,
        cublas_lib: if cublas_present {
            find_lib("cublas")
        } else {
            None
        },
        driver_api,
        devices,
        elapsed_symbol,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_read_as_major_minor() {
        assert_eq!(api_version_string(13000), "13.0");
        assert_eq!(api_version_string(12040), "12.4");
        assert_eq!(api_version_string(12080), "12.8");
    }

    #[test]
    fn the_elapsed_fallback_lists_the_new_name_first() {
        assert_eq!(ELAPSED_SYMBOLS[0], "cuEventElapsedTime_v2");
        assert!(!REQUIRED_DRIVER_SYMBOLS
            .iter()
            .any(|s| s.starts_with("cuEventElapsedTime")));
    }
}

//! Run-time compilation of bench's CUDA kernels with NVRTC (FFI through cudarc's raw
//! `nvrtc::result` layer). Sources are compiled for the device's exact architecture
//! (`--gpu-architecture=sm_XY`) to a CUBIN, not PTX: a CUBIN from the NVRTC that sits beside
//! the driver loads on that driver without a PTX JIT, so a CUDA 12 driver with NVRTC 12 works
//! as well as a CUDA 13 pair. Compile errors come back with NVRTC's log. Needs no device: the
//! same function serves a GPU run and the CPU-only test of every module (tests/cuda_nvrtc.rs).
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, CStr, CString};

use cudarc::nvrtc::result as nr;
use cudarc::nvrtc::sys;

use super::error::CudaError;

/// Whether this process can load libnvrtc (cudarc's candidate names on the loader path);
/// nothing else here may be called when it cannot.
pub fn present() -> bool {
    // SAFETY: `is_culib_present` only tries to load the library by its candidate names.
    unsafe { sys::is_culib_present() }
}

/// NVRTC's version, e.g. (13, 0).
pub fn version() -> Option<(i32, i32)> {
    let (mut major, mut minor): (c_int, c_int) = (0, 0);
    // SAFETY: nvrtcVersion writes two ints.
    let rc = unsafe { sys::nvrtcVersion(&mut major, &mut minor) };
    (rc == sys::nvrtcResult::NVRTC_SUCCESS).then_some((major, minor))
}

fn log(prog: sys::nvrtcProgram) -> String {
    // SAFETY: the program is live; the log is a NUL-terminated C string NVRTC owns a copy of.
    match unsafe { nr::get_program_log(prog) } {
        Ok(buf) if !buf.is_empty() => {
            // SAFETY: NVRTC NUL-terminates the log it writes into `buf`.
            unsafe { CStr::from_ptr(buf.as_ptr()) }
                .to_string_lossy()
                .into_owned()
        }
        _ => String::new(),
    }
}

/// The options every module is compiled with, for architecture `arch` (`sm_90`, `sm_90a`).
pub fn options(arch: &str) -> [String; 3] {
    [
        format!("--gpu-architecture={arch}"),
        "--std=c++17".to_string(),
        "-default-device".to_string(),
    ]
}

/// `sm_XY` for compute capability (X, Y).
pub fn arch_of(cc: (i32, i32)) -> String {
    format!("sm_{}{}", cc.0, cc.1)
}

/// Compiles `src` (program name `name`) for `arch` (`sm_90`, or `sm_90a` for code specialised
/// for one architecture) and returns the CUBIN image.
pub fn compile_cubin(src: &str, name: &str, arch: &str) -> Result<Vec<u8>, CudaError> {
    let invalid = |why: &str| CudaError::Invalid(format!("{name}: {why}"));
    let csrc = CString::new(src).map_err(|_| invalid("source holds a NUL byte"))?;
    let cname = CString::new(name).map_err(|_| invalid("bad program name"))?;
    let nvrtc = |what, source| CudaError::Nvrtc {
        what,
        program: name.to_string(),
        source,
    };
    let prog = nr::create_program(&csrc, Some(&cname)).map_err(|e| nvrtc("create", e))?;
    // SAFETY: the program is live and the options are valid C strings.
    let compiled = unsafe { nr::compile_program(prog, &options(arch)) };
    let result = match compiled {
        Err(source) => Err(CudaError::Compile {
            program: name.to_string(),
            arch: arch.to_string(),
            // one line: errors are printed as one line
            log: log(prog)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
            source,
        }),
        Ok(()) => {
            let mut size = 0usize;
            // SAFETY: the program compiled; the size is written to `size`.
            let rc = unsafe { sys::nvrtcGetCUBINSize(prog, &mut size) };
            match rc.result() {
                Err(e) => Err(nvrtc("CUBIN size", e)),
                Ok(()) if size == 0 => Err(invalid("NVRTC produced an empty CUBIN")),
                Ok(()) => {
                    let mut cubin = vec![0u8; size];
                    // SAFETY: `cubin` holds exactly the size NVRTC reported.
                    let rc = unsafe { sys::nvrtcGetCUBIN(prog, cubin.as_mut_ptr() as *mut c_char) };
                    rc.result().map(|_| cubin).map_err(|e| nvrtc("CUBIN", e))
                }
            }
        }
    };
    // SAFETY: created above and destroyed once.
    let _ = unsafe { nr::destroy_program(prog) };
    result
}

//! Run-time compilation of bench's CUDA kernels with NVRTC (FFI through cudarc's raw
//! `nvrtc::result` layer). Sources are compiled for the device's exact architecture
//! (`-arch=sm_XY`) to a CUBIN, not PTX: a CUBIN from the NVRTC that sits beside the driver
//! loads on that driver without a PTX JIT, so a CUDA 12 driver with NVRTC 12 works as well as a
//! CUDA 13 pair. Compile errors come back with NVRTC's log.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, CStr, CString};

use cudarc::nvrtc::result as nr;
use cudarc::nvrtc::sys;

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

/// Compiles `src` for compute capability `cc` and returns the CUBIN image.
pub fn compile_cubin(src: &str, name: &str, cc: (i32, i32)) -> Result<Vec<u8>, String> {
    let csrc = CString::new(src).map_err(|_| format!("{name}: source holds a NUL byte"))?;
    let cname = CString::new(name).map_err(|_| format!("{name}: bad program name"))?;
    let prog =
        nr::create_program(&csrc, Some(&cname)).map_err(|e| format!("NVRTC {name}: {e:?}"))?;
    let opts = [
        format!("--gpu-architecture=sm_{}{}", cc.0, cc.1),
        "--std=c++17".to_string(),
        "-default-device".to_string(),
    ];
    // SAFETY: the program is live and the options are valid C strings.
    let compiled = unsafe { nr::compile_program(prog, &opts) };
    let result = match compiled {
        Err(e) => Err(format!(
            "NVRTC could not compile {name} for sm_{}{}: {e:?}: {}",
            cc.0,
            cc.1,
            log(prog).trim()
        )),
        Ok(()) => {
            let mut size = 0usize;
            // SAFETY: the program compiled; the size is written to `size`.
            let rc = unsafe { sys::nvrtcGetCUBINSize(prog, &mut size) };
            if rc != sys::nvrtcResult::NVRTC_SUCCESS || size == 0 {
                Err(format!("NVRTC produced no CUBIN for {name} ({rc:?})"))
            } else {
                let mut cubin = vec![0u8; size];
                // SAFETY: `cubin` holds exactly the size NVRTC reported.
                let rc = unsafe { sys::nvrtcGetCUBIN(prog, cubin.as_mut_ptr() as *mut c_char) };
                if rc == sys::nvrtcResult::NVRTC_SUCCESS {
                    Ok(cubin)
                } else {
                    Err(format!(
                        "NVRTC could not return the CUBIN of {name} ({rc:?})"
                    ))
                }
            }
        }
    };
    // SAFETY: created above and destroyed once.
    let _ = unsafe { nr::destroy_program(prog) };
    result
}

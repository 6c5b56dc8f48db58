//! Typed errors of the CUDA FFI layer, each carrying the library's own error as its source
//! (cudarc's `DriverError`, `CublasError`, `NvrtcError`; libloading's error), and the context
//! a user needs: which call, which program, which architecture.

use cudarc::cublaslt::result::CublasError;
use cudarc::driver::DriverError;
use cudarc::nvrtc::result::NvrtcError;

/// A failed call into the driver, cuBLASLt, NVRTC or the loader.
#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    /// A driver call (`what` names it: "context", "upload", "launch", ...).
    #[error("CUDA {what}: {source}")]
    Driver {
        what: String,
        #[source]
        source: DriverError,
    },
    /// A cuBLASLt call.
    #[error("cuBLASLt {what}: {source}")]
    CublasLt {
        what: String,
        #[source]
        source: CublasError,
    },
    /// An NVRTC call other than the compile itself.
    #[error("NVRTC {what} ({program}): {source}")]
    Nvrtc {
        what: &'static str,
        program: String,
        #[source]
        source: NvrtcError,
    },
    /// NVRTC rejected a program: its log says why. A missing `libnvrtc-builtins` shows here.
    #[error("NVRTC could not compile {program} for {arch}: {source}: {log}")]
    Compile {
        program: String,
        arch: String,
        log: String,
        #[source]
        source: NvrtcError,
    },
    /// A shared library that would not load, or lacks a symbol.
    #[error("{what} {lib}: {source}")]
    Library {
        what: &'static str,
        lib: String,
        #[source]
        source: libloading::Error,
    },
    /// The driver's event-timing entry point returned a CUresult other than success.
    #[error("CUDA event elapsed time failed with code {0}")]
    Elapsed(i32),
    /// A value the C API cannot take (a NUL byte in a source, a count over int32, a GEMM
    /// called with pointers other than the ones it was prepared for).
    #[error("{0}")]
    Invalid(String),
}

impl CudaError {
    pub fn driver(what: impl Into<String>) -> impl FnOnce(DriverError) -> CudaError {
        let what = what.into();
        move |source| CudaError::Driver { what, source }
    }

    pub fn lt(what: impl Into<String>) -> impl FnOnce(CublasError) -> CudaError {
        let what = what.into();
        move |source| CudaError::CublasLt { what, source }
    }
}

//! The CUDA FFI layer, the only `unsafe` code of the CUDA backend (each block with a
//! `// SAFETY:` line): `probe` finds the libraries and checks their symbols before anything
//! calls them, `driver` is one GPU's context, stream, buffers, launches and event timer, `lt`
//! the cuBLASLt handle and prepared GEMMs, `nvrtc` the run-time compiler. Every call returns a
//! typed [`CudaError`] that carries the library's own error.

pub mod driver;
pub mod error;
pub mod lt;
pub mod nvrtc;
pub mod probe;

pub use error::CudaError;

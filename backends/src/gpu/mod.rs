//! The device-independent half of the GPU backends: what runs, in which order, on which
//! buffers, with which launch geometry — never how a particular driver is called. A ROCm
//! backend (hipBLASLt has cuBLASLt's API, HIP compiles these kernels) would reuse all of it.
//!
//! - [`layout`]: row-major GEMMs as the column-major problems BLAS-Lt libraries take, storage
//!   element types, accumulation modes, epilogues, strided batches;
//! - [`storage`]: which storage type, kernel dtype code and accumulation each point dtype uses;
//! - [`convert`]: host f32 ↔ device bytes in each storage type;
//! - [`kernels`]: the device kernels of kernels/cuda by name, and their fixed geometry;
//! - [`launch`]: a kernel launch as data (kernel, grid, block, dynamic shared memory, arguments);
//! - [`attention`], [`mlp_plan`] / [`mlp_launch`], [`gpt_plan`] / [`gpt_launch`], [`infer_plan`]: each
//!   workload's step as a plan of GEMMs and kernel launches; [`step`]: every launch of one
//!   iteration of a point, as data.
//!
//! Everything here is pure and tested on the host (backends/tests/cuda_gpt_step executes the
//! train-gpt plan in f64 and through the real kernels under emulation); the CUDA binding in
//! `crate::cuda::bind` maps it onto cuBLASLt, NVRTC modules and the driver.
#![forbid(unsafe_code)]

pub mod attention;
pub mod convert;
pub mod gpt_launch;
pub mod gpt_plan;
pub mod infer_plan;
pub mod kernels;
pub mod launch;
pub mod layout;
pub mod mlp_launch;
pub mod mlp_plan;
pub mod step;
pub mod storage;

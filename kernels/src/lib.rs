//! What is computed: every workload the harness measures, declared once.
//!
//! Each workload (matmul, attention, train-mlp, train-gpt, prefill, decode) has typed
//! parameters, analytic FLOP and byte counts, seeded random inputs (never zeros), an f64
//! reference and a dtype-aware tolerance.
//! Backends read the inputs from here and the harness checks their outputs against the
//! references from here, so every backend is judged by the same yardstick. No I/O, no unsafe.
#![forbid(unsafe_code)]

pub mod attention;
pub mod check;
pub mod dtype;
pub mod gpt;
pub mod gpt_ref;
pub mod infer;
pub mod infer_ref;
pub mod linalg;
pub mod matmul;
pub mod mlp;
pub mod point;
pub mod rng;
pub mod storage;
pub mod tensor;

pub use check::{check_output, CheckResult, Reference};
pub use dtype::DType;
pub use point::{Expected, Point, PointError, Produced, Workload, WorkloadKind};
pub use storage::Elem;
pub use tensor::{HostTensor, TensorData, TensorSpec};

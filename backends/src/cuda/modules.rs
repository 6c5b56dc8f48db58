//! The kernel modules: which source each workload needs and which kernels it holds, the one
//! compile a GPU run does ([`compile_module`], NVRTC to a CUBIN for the device's
//! architecture; callable with no device, so tests compile exactly what a run would), and the
//! per-GPU cache that loads each module once, looks up its kernels and opts every kernel that
//! takes dynamic shared memory in to the amount its launches use.

use std::collections::BTreeMap;
use std::time::Instant;

use cudarc::driver::sys::CUfunction_attribute_enum as FuncAttr;
use cudarc::driver::CudaFunction;

use super::ffi::driver::Gpu;
use super::ffi::{nvrtc, CudaError};
use super::sources;
use crate::gpu::kernels::{dynamic_smem_bytes, ATTENTION_KERNELS, GPT_KERNELS, MLP_KERNELS};
use crate::gpu::kernels::{DECODE_KERNELS, RELU_BWD_COLSUM, XENT};

/// A kernel module, by source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ModuleKind {
    Attention,
    Mlp,
    Gpt,
    /// prefill and decode: gpt.cu and decode_attention.cu.
    Infer,
}

impl ModuleKind {
    pub const ALL: [ModuleKind; 4] = [
        ModuleKind::Attention,
        ModuleKind::Mlp,
        ModuleKind::Gpt,
        ModuleKind::Infer,
    ];

    /// The program name NVRTC is given.
    pub fn file(self) -> &'static str {
        match self {
            ModuleKind::Attention => "attention.cu",
            ModuleKind::Mlp => "mlp.cu",
            ModuleKind::Gpt => "gpt.cu",
            ModuleKind::Infer => "decode_attention.cu",
        }
    }

    /// The source NVRTC compiles (common.cuh inlined).
    pub fn source(self) -> String {
        match self {
            ModuleKind::Attention => sources::program(sources::ATTENTION),
            ModuleKind::Mlp => sources::program(sources::MLP),
            ModuleKind::Gpt => sources::gpt_program(),
            ModuleKind::Infer => sources::infer_program(),
        }
    }

    /// The kernels the backend launches from this module.
    pub fn kernels(self) -> Vec<&'static str> {
        match self {
            ModuleKind::Attention => ATTENTION_KERNELS.iter().map(|k| k.0).collect(),
            ModuleKind::Mlp => MLP_KERNELS.to_vec(),
            ModuleKind::Gpt => [XENT, RELU_BWD_COLSUM]
                .into_iter()
                .chain(GPT_KERNELS)
                .collect(),
            ModuleKind::Infer => GPT_KERNELS.into_iter().chain(DECODE_KERNELS).collect(),
        }
    }

    /// The architecture a device of compute capability `cc` gets this module compiled for
    /// (`sm_XY`; no module is specialised for an `a` variant yet).
    pub fn arch(self, cc: (i32, i32)) -> String {
        nvrtc::arch_of(cc)
    }
}

/// Compiles `kind` with NVRTC for compute capability `cc`, as a GPU run does: the CUBIN.
pub fn compile_module(kind: ModuleKind, cc: (i32, i32)) -> Result<Vec<u8>, CudaError> {
    nvrtc::compile_cubin(&kind.source(), kind.file(), &kind.arch(cc))
}

/// A loaded module's kernels by name.
pub type Kernels = BTreeMap<&'static str, CudaFunction>;

/// One GPU's loaded modules.
#[derive(Default)]
pub struct Modules {
    loaded: BTreeMap<ModuleKind, Kernels>,
}

impl Modules {
    /// The kernels of `kind`, compiled and loaded on first use; the second value is the
    /// compile-and-load time when it happened now (a one-off cost).
    pub fn get(
        &mut self,
        gpu: &Gpu,
        kind: ModuleKind,
    ) -> Result<(Kernels, Option<f64>), CudaError> {
        if let Some(k) = self.loaded.get(&kind) {
            return Ok((k.clone(), None));
        }
        let t = Instant::now();
        let cubin = compile_module(kind, gpu.props.cc)?;
        let module = gpu
            .ctx
            .load_module(cudarc::nvrtc::Ptx::from_binary(cubin))
            .map_err(CudaError::driver(format!("loading {}", kind.file())))?;
        let mut funcs = Kernels::new();
        for name in kind.kernels() {
            let f = module
                .load_function(name)
                .map_err(CudaError::driver(format!(
                    "{} has no kernel {name}",
                    kind.file()
                )))?;
            // Above 48 KiB a kernel must opt in; set it for every kernel that uses dynamic
            // shared memory, so the attribute always covers what its launches ask.
            let smem = dynamic_smem_bytes(name);
            if smem > 0 {
                f.set_attribute(
                    FuncAttr::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    smem as i32,
                )
                .map_err(CudaError::driver(format!(
                    "setting {name}'s dynamic shared memory to {smem} bytes"
                )))?;
            }
            funcs.insert(name, f);
        }
        let secs = t.elapsed().as_secs_f64();
        self.loaded.insert(kind, funcs.clone());
        Ok((funcs, Some(secs)))
    }
}

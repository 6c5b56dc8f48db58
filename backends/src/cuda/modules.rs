//! The kernel modules: which source each workload needs and which kernels it holds, which
//! modules a point loads ([`modules_for`]), the one
//! compile a GPU run does ([`compile_module`], NVRTC to a CUBIN for the device's
//! architecture; callable with no device, so tests compile exactly what a run would), and the
//! per-GPU cache that loads each module once, looks up its kernels and opts every kernel that
//! takes dynamic shared memory in to the amount its launches use.

use std::collections::BTreeMap;
use std::time::Instant;

use cudarc::driver::sys::CUfunction_attribute_enum as FuncAttr;
use cudarc::driver::CudaFunction;
use kernels::{Point, Workload};

use super::ffi::driver::Gpu;
use super::ffi::{nvrtc, CudaError};
use super::sources;
use crate::gpu::infer_plan::{InferPlan, Mode};
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

/// The modules a point's launches need (`plan`: a prefill or decode point's plan): none for
/// matmul (cuBLASLt only); prefill and decode load gpt.cu with decode_attention.cu, and prefill
/// adds attention.cu where its plan runs the fused flash kernel.
pub fn modules_for(point: &Point, plan: Option<&InferPlan>) -> Vec<ModuleKind> {
    match point.workload {
        Workload::Matmul(_) => Vec::new(),
        Workload::Attention(_) => vec![ModuleKind::Attention],
        Workload::TrainMlp(_) => vec![ModuleKind::Mlp],
        Workload::TrainGpt(_) => vec![ModuleKind::Gpt],
        Workload::Prefill(_) | Workload::Decode(_) => {
            let flash = matches!(
                plan.map(|p| p.mode),
                Some(Mode::Prefill { flash: Some(_), .. })
            );
            let mut v = vec![ModuleKind::Infer];
            if flash {
                v.push(ModuleKind::Attention);
            }
            v
        }
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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use kernels::{DType, WorkloadKind};

    use super::*;
    use crate::cuda::capability::infer_plan_of;

    fn point(kind: WorkloadKind, last: (&str, u64), d_model: u64, d: DType) -> Point {
        let kv = [
            ("d_model", d_model),
            ("layers", 2),
            ("heads", 2),
            ("vocab", 300),
            ("batch", 3),
            last,
        ];
        let p: BTreeMap<String, u64> = kv.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        Point::new(kind, &p, d).unwrap()
    }

    /// What prepare loads for a prefill or decode point holds every kernel its plan launches
    /// (the fill, every op of a step), and decode does not compile attention.cu.
    #[test]
    fn prefill_and_decode_load_every_kernel_they_launch() {
        let mut flash_seen = false;
        for (kind, last) in [
            (WorkloadKind::Prefill, ("prompt", 70)),
            (WorkloadKind::Decode, ("context", 100)),
        ] {
            // head dims 128 (flash serves bf16/f16) and 48 (unfused prefill)
            for d_model in [256, 96] {
                for (dt, code, eb) in [
                    (DType::F32, 0, 4),
                    (DType::Tf32, 0, 4),
                    (DType::Bf16, 1, 2),
                    (DType::F16, 2, 2),
                ] {
                    let p = point(kind, last, d_model, dt);
                    let plan = infer_plan_of(&p, 4).unwrap();
                    let mods = modules_for(&p, Some(&plan));
                    let loaded: BTreeSet<&str> = mods.iter().flat_map(|m| m.kernels()).collect();
                    for l in plan.all_launches(code, 4, eb) {
                        assert!(
                            loaded.contains(l.kernel),
                            "{}: {} is launched but {mods:?} do not hold it",
                            p.id(),
                            l.kernel
                        );
                    }
                    let flash = matches!(plan.mode, Mode::Prefill { flash: Some(_), .. });
                    flash_seen |= flash;
                    assert_eq!(mods.contains(&ModuleKind::Attention), flash, "{}", p.id());
                }
            }
        }
        assert!(flash_seen, "no case ran prefill through the fused kernel");
    }
}

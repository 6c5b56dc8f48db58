//! train-gpt on the GPU: one AdamW step of kernels::gpt's transformer per iteration, entirely
//! on the device. The order of operations and their operands come from `crate::gpu::gpt_plan`
//! (checked on the host against the f64 reference) and the launches from `gpt_launch`; this
//! file binds them to device buffers, cuBLASLt GEMMs (bias epilogues, residual adds as beta =
//! 1, per-head strided batches) and the NVRTC kernels of kernels/cuda/gpt.cu and mlp.cu. Parameters and activations are stored in the point's
//! dtype (f32 for tf32) with f32 arithmetic in every kernel, as the CPU backend does;
//! gradients and both AdamW moments are f32, and weight gradients come out of cuBLASLt in f32.
//! The loss of each step is read back after its timed region, so the whole trajectory is
//! recorded and checked against the f64 reference.

use std::collections::BTreeMap;

use kernels::gpt::{TrainGpt, BATCH_POOL};
use kernels::tensor::find;
use kernels::{DType, HostTensor};

use super::{Iteration, Output};
use crate::cuda::device::Device;
use crate::cuda::ffi::driver::DevBuf;
use crate::cuda::ffi::lt::{GemmPtrs, GemmSpec, LtGemm};
use crate::cuda::ffi::CudaError;
use crate::cuda::modules::Kernels;
use crate::gpu::convert::encode;
use crate::gpu::gpt_launch::launches;
use crate::gpu::gpt_plan::{
    buffers, device_bytes, param_offsets, step_plan, Buf, Dims, StepOp, Views,
};
use crate::gpu::layout::Elem;
use crate::gpu::storage::train_storage;

/// The largest power of two (≤ 256) dividing `bytes` (256 for 0).
fn align_of(bytes: u64) -> u32 {
    if bytes == 0 {
        256
    } else {
        1 << bytes.trailing_zeros().min(8)
    }
}

pub struct GpuGpt {
    funcs: Kernels,
    p: TrainGpt,
    plan: Vec<StepOp>,
    /// Where each view lies (computed once; addresses are resolved for every launch).
    views: Views,
    /// The cuBLASLt GEMM of each plan step that is one.
    gemms: Vec<Option<LtGemm>>,
    bufs: BTreeMap<Buf, DevBuf>,
    /// Input ids and targets of every pool slot, [BATCH_POOL, B·T] i32 each.
    ids: DevBuf,
    targets: DevBuf,
    elem: Elem,
    dt: i32,
    sms: u32,
}

impl GpuGpt {
    pub fn new(
        dev: &Device,
        funcs: Kernels,
        p: TrainGpt,
        dtype: DType,
        inputs: &[HostTensor],
    ) -> Result<Self, CudaError> {
        let (elem, dt, compute) = train_storage(dtype)
            .ok_or_else(|| CudaError::Invalid(format!("no {dtype} training on cuda")))?;
        let need = device_bytes(&p, elem.size());
        let have = dev.gpu.props.memory_bytes as u64;
        // cuBLASLt's workspace, the L2 flush buffer and the CUDA context need some room too.
        if need + (1 << 30) > have {
            return Err(CudaError::Invalid(format!(
                "train-gpt needs {:.1} GiB of device memory for these sizes and this GPU has \
                 {:.1} GiB: choose a smaller batch, seq or vocab",
                need as f64 / (1u64 << 30) as f64,
                have as f64 / (1u64 << 30) as f64
            )));
        }
        let gpu = &dev.gpu;
        let (offs, total) = param_offsets(&p);
        let mut params = vec![0f32; total];
        for (i, (name, _)) in p.param_specs().iter().enumerate() {
            let data = find(inputs, name).as_f32();
            params[offs[i]..offs[i] + data.len()].copy_from_slice(data);
        }
        let mut bufs = BTreeMap::new();
        for (buf, n) in buffers(&p) {
            let d = match buf {
                Buf::Params => gpu.upload(&encode(&params, elem)),
                b if b.is_f32() => gpu.zeros(n * 4),
                _ => gpu.zeros(n * elem.size()),
            };
            bufs.insert(buf, d?);
        }
        let (b, t) = (p.batch as usize, p.seq as usize);
        let tokens = find(inputs, "tokens").as_i32();
        let pool = |skip: usize| -> Vec<u8> {
            tokens
                .chunks(t + 1)
                .take(BATCH_POOL * b)
                .flat_map(|s| s[skip..skip + t].iter().flat_map(|v| v.to_le_bytes()))
                .collect()
        };
        let ids = gpu.upload(&pool(0))?;
        let targets = gpu.upload(&pool(1))?;
        let mut g = GpuGpt {
            funcs,
            p,
            plan: step_plan(&p),
            views: Views::of(&p),
            gemms: Vec::new(),
            bufs,
            ids,
            targets,
            elem,
            dt,
            sms: gpu.props.sm_count.max(1) as u32,
        };
        let mut gemms = Vec::with_capacity(g.plan.len());
        let views = &g.views;
        for op in &g.plan {
            gemms.push(match *op {
                StepOp::Gemm {
                    shape,
                    batch,
                    epilogue,
                    a,
                    b,
                    c,
                    bias,
                    add,
                    out_f32,
                } => {
                    let out = if out_f32 { Elem::F32 } else { elem };
                    let strides = batch.map(|x| (x.stride_a, x.stride_b, x.stride_c));
                    let stride =
                        |s: i64, e: Elem| strides.map_or(0, |_| s as u64 * e.size() as u64);
                    let (sa, sb, sc) = strides.unwrap_or((0, 0, 0));
                    let align_a = align_of(views.offset_bytes(a, elem.size()))
                        .min(align_of(stride(sa, elem)));
                    let mut rest = align_of(views.offset_bytes(b, elem.size()))
                        .min(align_of(stride(sb, elem)))
                        .min(align_of(views.offset_bytes(c, elem.size())))
                        .min(align_of(stride(sc, out)));
                    if let Some(x) = add {
                        rest = rest.min(align_of(views.offset_bytes(x, elem.size())));
                    }
                    let spec = GemmSpec {
                        shape,
                        input: elem,
                        output: out,
                        compute,
                        epilogue,
                        align_a,
                        align_rest: rest,
                        batch,
                        accumulate: add.is_some(),
                    };
                    let ptrs = GemmPtrs {
                        bias: bias.map(|x| g.ptr(x, 0)).unwrap_or(0),
                        ..Default::default()
                    };
                    Some(LtGemm::new(&dev.lt, spec, ptrs).map_err(|e| {
                        CudaError::Invalid(format!("{e} (GEMM {shape:?}, batch {batch:?})"))
                    })?)
                }
                _ => None,
            });
        }
        g.gemms = gemms;
        Ok(g)
    }

    /// The device address of a plan buffer at step `step`.
    fn ptr(&self, b: Buf, step: usize) -> u64 {
        self.views.address(b, step, self.elem.size(), &|x| match x {
            Buf::Ids => self.ids.ptr,
            Buf::Targets => self.targets.ptr,
            other => self.bufs[&other].ptr,
        })
    }
}

impl Iteration for GpuGpt {
    fn enqueue(&self, dev: &Device, step: usize) -> Result<(), CudaError> {
        let dm = Dims::of(&self.p);
        let ptr = |b: Buf| self.ptr(b, step);
        for (op, gemm) in self.plan.iter().zip(&self.gemms) {
            match *op {
                StepOp::Zero(b) => {
                    dev.gpu.memset_raw(ptr(b), self.bufs[&b].bytes)?;
                }
                StepOp::Gemm {
                    a, b, c, bias, add, ..
                } => {
                    let g = gemm
                        .as_ref()
                        .ok_or_else(|| CudaError::Invalid("internal: GEMM not prepared".into()))?;
                    let ptrs = GemmPtrs {
                        a: ptr(a),
                        b: ptr(b),
                        c: ptr(c),
                        c_in: add.map(ptr).unwrap_or(0),
                        bias: bias.map(ptr).unwrap_or(0),
                        ..Default::default()
                    };
                    g.run(&dev.lt, &ptrs, dev.workspace.ptr, &dev.gpu.stream)?;
                }
                _ => {
                    for l in launches(op, &dm, self.dt, self.sms, step, &ptr) {
                        let f = self.funcs.get(l.kernel).ok_or_else(|| {
                            CudaError::Invalid(format!("internal: kernel {} not loaded", l.kernel))
                        })?;
                        dev.gpu.launch(f, &l)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn output(&self) -> Output<'_> {
        Output::Loss(&self.bufs[&Buf::Loss])
    }
}

#[cfg(test)]
mod tests {
    use super::align_of;

    #[test]
    fn alignment_is_the_largest_power_of_two_up_to_256() {
        assert_eq!(align_of(0), 256);
        assert_eq!(align_of(512), 256);
        assert_eq!(align_of(40), 8);
        assert_eq!(align_of(6), 2);
    }
}

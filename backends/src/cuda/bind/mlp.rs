//! train-mlp on the GPU: one SGD-momentum step of kernels::mlp's ReLU MLP per iteration,
//! entirely on the device. Forward GEMMs in cuBLASLt with the bias and ReLU fused as epilogues
//! (RELU_BIAS for hidden layers, BIAS for the head); softmax cross-entropy with its gradient,
//! the ReLU backward fused with the bias-gradient column sums, and the update in NVRTC kernels
//! (kernels/cuda/mlp.cu); weight gradients and input gradients in cuBLASLt. Parameters,
//! gradients, activations and momentum are stored in the point's dtype (f32 for tf32) with f32
//! arithmetic inside each kernel, as the CPU backend and the torch reference do; bias gradients
//! accumulate in f32. The loss of each step is read back after its timed region, so the whole
//! trajectory is recorded and checked against the f64 reference. The order of operations and
//! their operands come from `crate::gpu::mlp_plan` (checked on the host against the reference)
//! and the launches from `crate::gpu::mlp_launch`; this file binds them to device buffers,
//! cuBLASLt GEMMs and the loaded kernels.

use std::collections::BTreeMap;

use kernels::mlp::{TrainMlp, BATCH_POOL};
use kernels::tensor::find;
use kernels::{DType, HostTensor};

use super::{Iteration, Output};
use crate::cuda::device::Device;
use crate::cuda::ffi::driver::DevBuf;
use crate::cuda::ffi::lt::{GemmPtrs, GemmSpec, LtGemm};
use crate::cuda::ffi::CudaError;
use crate::cuda::modules::Kernels;
use crate::gpu::convert::encode;
use crate::gpu::mlp_launch::launch;
use crate::gpu::mlp_plan::{buffers, step_plan, Buf, StepOp};
use crate::gpu::storage::train_storage;

pub struct GpuMlp {
    funcs: Kernels,
    plan: Vec<StepOp>,
    /// The cuBLASLt GEMM of each plan step that is one.
    gemms: Vec<Option<LtGemm>>,
    bufs: BTreeMap<Buf, DevBuf>,
    /// All bias gradients in one f32 buffer (zeroed with one memset), at these offsets.
    bias_grads: DevBuf,
    bias_off: BTreeMap<usize, u64>,
    x: DevBuf,
    labels: DevBuf,
    x_slot_bytes: u64,
    label_slot_bytes: u64,
    dt: i32,
    sms: u32,
}

impl GpuMlp {
    pub fn new(
        dev: &Device,
        funcs: Kernels,
        p: TrainMlp,
        dtype: DType,
        inputs: &[HostTensor],
    ) -> Result<Self, CudaError> {
        let (elem, dt, compute) = train_storage(dtype)
            .ok_or_else(|| CudaError::Invalid(format!("no {dtype} training on cuda")))?;
        let (w, b) = (p.width as usize, p.batch as usize);
        let es = elem.size();
        let gpu = &dev.gpu;
        let names = p.param_names();
        let mut bufs = BTreeMap::new();
        let mut bias_off = BTreeMap::new();
        let mut bias_bytes = 0u64;
        for (buf, n) in buffers(&p) {
            let d = match buf {
                Buf::Param(i) => gpu.upload(&encode(find(inputs, &names[i]).as_f32(), elem)),
                Buf::BiasGrad(i) => {
                    bias_off.insert(i, bias_bytes);
                    bias_bytes += (n.div_ceil(64) * 64 * 4) as u64; // 256-byte aligned
                    continue;
                }
                Buf::Loss => gpu.zeros(4),
                _ => gpu.zeros(n * es),
            };
            bufs.insert(buf, d?);
        }
        let bias_grads = gpu.zeros(bias_bytes as usize)?;
        let x = gpu.upload(&encode(find(inputs, "x").as_f32(), elem))?;
        let labels_host: Vec<u8> = find(inputs, "y")
            .as_i32()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let labels = gpu.upload(&labels_host)?;
        // Batch slots start at multiples of b·w·es bytes inside x.
        let slot_align = 1u32 << ((b * w * es).trailing_zeros().min(8));
        let plan = step_plan(&p);
        let mut gemms = Vec::with_capacity(plan.len());
        for op in &plan {
            gemms.push(match op {
                StepOp::Gemm {
                    shape,
                    epilogue,
                    a,
                    bias,
                    ..
                } => {
                    let spec = GemmSpec {
                        shape: *shape,
                        input: elem,
                        output: elem,
                        compute,
                        epilogue: *epilogue,
                        align_a: if *a == Buf::XSlot { slot_align } else { 256 },
                        align_rest: 256,
                        batch: None,
                        accumulate: false,
                    };
                    let ptrs = GemmPtrs {
                        bias: bias.map(|x| bufs[&x].ptr).unwrap_or(0),
                        ..Default::default()
                    };
                    Some(LtGemm::new(&dev.lt, spec, ptrs)?)
                }
                _ => None,
            });
        }
        Ok(GpuMlp {
            funcs,
            plan,
            gemms,
            bufs,
            bias_grads,
            bias_off,
            x,
            labels,
            x_slot_bytes: (b * w * es) as u64,
            label_slot_bytes: (b * 4) as u64,
            dt,
            sms: dev.gpu.props.sm_count.max(1) as u32,
        })
    }

    /// The device address of a plan buffer at step `step`.
    fn ptr(&self, buf: Buf, step: usize) -> u64 {
        let slot = (step % BATCH_POOL) as u64;
        match buf {
            Buf::XSlot => self.x.ptr + slot * self.x_slot_bytes,
            Buf::YSlot => self.labels.ptr + slot * self.label_slot_bytes,
            Buf::BiasGrad(i) => self.bias_grads.ptr + self.bias_off[&i],
            other => self.bufs[&other].ptr,
        }
    }
}

impl Iteration for GpuMlp {
    fn enqueue(&self, dev: &Device, step: usize) -> Result<(), CudaError> {
        let gpu = &dev.gpu;
        let ptr = |b: Buf| self.ptr(b, step);
        gpu.memset_raw(ptr(Buf::Loss), 4)?;
        gpu.memset_raw(self.bias_grads.ptr, self.bias_grads.bytes)?;
        for (op, gemm) in self.plan.iter().zip(&self.gemms) {
            match (op, gemm) {
                (StepOp::Gemm { a, b, c, bias, .. }, Some(g)) => {
                    let ptrs = GemmPtrs {
                        a: ptr(*a),
                        b: ptr(*b),
                        c: ptr(*c),
                        bias: bias.map(ptr).unwrap_or(0),
                        ..Default::default()
                    };
                    g.run(&dev.lt, &ptrs, dev.workspace.ptr, &gpu.stream)?;
                }
                (StepOp::Gemm { .. }, None) => {
                    return Err(CudaError::Invalid("internal: GEMM not prepared".into()))
                }
                _ => {
                    let l = launch(op, self.dt, self.sms, &ptr)
                        .ok_or_else(|| CudaError::Invalid(format!("internal: {op:?}")))?;
                    let f = self.funcs.get(l.kernel).ok_or_else(|| {
                        CudaError::Invalid(format!("internal: kernel {} not loaded", l.kernel))
                    })?;
                    gpu.launch(f, &l)?;
                }
            }
        }
        Ok(())
    }

    fn output(&self) -> Output<'_> {
        Output::Loss(&self.bufs[&Buf::Loss])
    }
}

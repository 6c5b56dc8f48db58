//! train-mlp on the GPU: one SGD-momentum step of kernels::mlp's ReLU MLP per iteration,
//! entirely on the device. Forward GEMMs in cuBLASLt with the bias and ReLU fused as epilogues
//! (RELU_BIAS for hidden layers, BIAS for the head); softmax cross-entropy with its gradient,
//! the ReLU backward fused with the bias-gradient column sums, and the update in NVRTC kernels
//! (kernels/cuda/mlp.cu); weight gradients and input gradients in cuBLASLt. Parameters,
//! gradients, activations and momentum are stored in the point's dtype (f32 for tf32) with f32
//! arithmetic inside each kernel, as the CPU backend and the torch reference do; bias gradients
//! accumulate in f32. The loss of each step is read back after its timed region, so the whole
//! trajectory is recorded and checked against the f64 reference. The order of operations and
//! their operands come from `mlp_plan` (checked on the host against the reference); this file
//! binds them to device buffers, cuBLASLt GEMMs and kernel launches.

use std::collections::BTreeMap;

use cudarc::driver::CudaFunction;
use kernels::mlp::{TrainMlp, BATCH_POOL, LEARNING_RATE, MOMENTUM};
use kernels::tensor::find;
use kernels::{DType, HostTensor, Produced};

use super::convert::encode;
use super::driver::{DevBuf, EventTimer, KArg};
use super::layout::{Compute, Elem};
use super::lt::{GemmPtrs, GemmSpec, LtGemm};
use super::mlp_plan::{buffers, step_plan, Buf, StepOp};
use super::sources::{RELU_BWD_COLSUM, SGD, XENT};
use super::Device;
use crate::{BackendError, Prepared};

/// Storage element, kernel dtype code (0 f32, 1 bf16, 2 f16) and GEMM accumulation for a dtype.
pub fn storage(d: DType) -> Option<(Elem, i32, Compute)> {
    match d {
        DType::F32 => Some((Elem::F32, 0, Compute::F32)),
        DType::Tf32 => Some((Elem::F32, 0, Compute::Tf32)),
        DType::Bf16 => Some((Elem::Bf16, 1, Compute::F32)),
        DType::F16 => Some((Elem::F16, 2, Compute::F32)),
        DType::Fp8E4m3 => None,
    }
}

/// Rows of the gradient each relu_bwd_colsum block sums.
const ROWS_PER_BLOCK: u32 = 32;

pub struct GpuMlp<'a> {
    dev: &'a Device,
    funcs: BTreeMap<&'static str, CudaFunction>,
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
    timer: EventTimer,
    step: usize,
    losses: Vec<f64>,
}

fn pe(e: String) -> BackendError {
    BackendError::Point(e)
}

impl<'a> GpuMlp<'a> {
    pub fn new(
        dev: &'a Device,
        funcs: BTreeMap<&'static str, CudaFunction>,
        p: TrainMlp,
        dtype: DType,
        inputs: &[HostTensor],
    ) -> Result<Self, BackendError> {
        let (elem, dt, compute) = storage(dtype)
            .ok_or_else(|| BackendError::Point(format!("no {dtype} training on cuda")))?;
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
            bufs.insert(buf, d.map_err(pe)?);
        }
        let bias_grads = gpu.zeros(bias_bytes as usize).map_err(pe)?;
        let x = gpu
            .upload(&encode(find(inputs, "x").as_f32(), elem))
            .map_err(pe)?;
        let labels_host: Vec<u8> = find(inputs, "y")
            .as_i32()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let labels = gpu.upload(&labels_host).map_err(pe)?;
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
                    Some(LtGemm::new(&dev.lt, spec, ptrs).map_err(pe)?)
                }
                _ => None,
            });
        }
        Ok(GpuMlp {
            dev,
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
            timer: dev.gpu.timer().map_err(pe)?,
            step: 0,
            losses: Vec::new(),
        })
    }

    /// The device address of a plan buffer in this step.
    fn ptr(&self, buf: Buf) -> u64 {
        let slot = (self.step % BATCH_POOL) as u64;
        match buf {
            Buf::XSlot => self.x.ptr + slot * self.x_slot_bytes,
            Buf::YSlot => self.labels.ptr + slot * self.label_slot_bytes,
            Buf::BiasGrad(i) => self.bias_grads.ptr + self.bias_off[&i],
            other => self.bufs[&other].ptr,
        }
    }

    fn enqueue_step(&self) -> Result<(), String> {
        let gpu = &self.dev.gpu;
        gpu.memset_raw(self.ptr(Buf::Loss), 4)?;
        gpu.memset_raw(self.bias_grads.ptr, self.bias_grads.bytes)?;
        let dt = self.dt;
        for (op, gemm) in self.plan.iter().zip(&self.gemms) {
            match (op, gemm) {
                (StepOp::Gemm { a, b, c, bias, .. }, Some(g)) => {
                    let ptrs = GemmPtrs {
                        a: self.ptr(*a),
                        b: self.ptr(*b),
                        c: self.ptr(*c),
                        bias: bias.map(|x| self.ptr(x)).unwrap_or(0),
                        ..Default::default()
                    };
                    g.run(&self.dev.lt, &ptrs, self.dev.workspace.ptr, &gpu.stream)?;
                }
                (
                    StepOp::Xent {
                        logits,
                        labels,
                        dlogits,
                        loss,
                        rows,
                        classes,
                    },
                    _,
                ) => gpu.launch(
                    &self.funcs[XENT],
                    ((*rows as u32).div_ceil(8), 1, 1),
                    256,
                    0,
                    &[
                        KArg::Ptr(self.ptr(*logits)),
                        KArg::Ptr(self.ptr(*labels)),
                        KArg::Ptr(self.ptr(*dlogits)),
                        KArg::Ptr(self.ptr(*loss)),
                        KArg::I32(*rows as i32),
                        KArg::I32(*classes as i32),
                        KArg::I32(dt),
                    ],
                )?,
                (
                    StepOp::ReluBwdColsum {
                        grad,
                        act,
                        bias_grad,
                        rows,
                        cols,
                    },
                    _,
                ) => gpu.launch(
                    &self.funcs[RELU_BWD_COLSUM],
                    (
                        (*cols as u32).div_ceil(256),
                        (*rows as u32).div_ceil(ROWS_PER_BLOCK),
                        1,
                    ),
                    256,
                    0,
                    &[
                        KArg::Ptr(self.ptr(*grad)),
                        KArg::Ptr(act.map(|a| self.ptr(a)).unwrap_or(0)),
                        KArg::Ptr(self.ptr(*bias_grad)),
                        KArg::I32(*rows as i32),
                        KArg::I32(*cols as i32),
                        KArg::I32(ROWS_PER_BLOCK as i32),
                        KArg::I32(dt),
                    ],
                )?,
                (
                    StepOp::Sgd {
                        param,
                        vel,
                        grad,
                        n,
                    },
                    _,
                ) => gpu.launch(
                    &self.funcs[SGD],
                    ((*n as u32).div_ceil(256).clamp(1, self.sms * 8), 1, 1),
                    256,
                    0,
                    &[
                        KArg::Ptr(self.ptr(*param)),
                        KArg::Ptr(self.ptr(*vel)),
                        KArg::Ptr(self.ptr(*grad)),
                        KArg::I64(*n as i64),
                        KArg::F32(LEARNING_RATE as f32),
                        KArg::F32(MOMENTUM as f32),
                        KArg::I32(dt),
                        // bias gradients are f32 sums; weight gradients have the storage type
                        KArg::I32(if matches!(grad, Buf::BiasGrad(_)) {
                            0
                        } else {
                            dt
                        }),
                    ],
                )?,
                (StepOp::Gemm { .. }, None) => return Err("internal: GEMM not prepared".into()),
            }
        }
        Ok(())
    }
}

impl Prepared for GpuMlp<'_> {
    fn run(&mut self) -> Result<Option<f64>, BackendError> {
        let this = &*self;
        let (secs, loss) = this
            .dev
            .timed_step(&this.timer, &this.bufs[&Buf::Loss], || this.enqueue_step())?;
        self.losses.push(loss);
        self.step += 1;
        Ok(Some(secs))
    }

    fn output(&mut self) -> Result<Produced, BackendError> {
        Ok(Produced::Losses(self.losses.clone()))
    }

    fn timer(&self) -> &'static str {
        "cuda_event"
    }

    fn telemetry(&mut self) -> Option<crate::Telemetry> {
        self.dev.telemetry_since_prepare()
    }
}

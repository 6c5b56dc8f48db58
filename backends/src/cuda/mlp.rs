//! train-mlp on the GPU: one SGD-momentum step of kernels::mlp's ReLU MLP per iteration,
//! entirely on the device. Forward GEMMs in cuBLASLt with the bias and ReLU fused as epilogues
//! (RELU_BIAS for hidden layers, BIAS for the head); softmax cross-entropy with its gradient,
//! the ReLU backward fused with the bias-gradient column sums, and the update in NVRTC kernels
//! (kernels/cuda/mlp.cu); weight gradients and input gradients in cuBLASLt. Parameters,
//! gradients, activations and momentum are stored in the point's dtype (f32 for tf32) with f32
//! arithmetic inside each kernel, as the CPU backend and the torch reference do; bias gradients
//! accumulate in f32. The loss of each step is read back after its timed region, so the whole
//! trajectory is recorded and checked against the f64 reference.

use std::collections::BTreeMap;

use cudarc::driver::CudaFunction;
use kernels::mlp::{TrainMlp, BATCH_POOL, LEARNING_RATE, MOMENTUM};
use kernels::tensor::find;
use kernels::{DType, HostTensor, Produced};

use super::convert::{decode, encode};
use super::driver::{DevBuf, EventTimer, KArg};
use super::layout::{Compute, Elem, Epilogue, RowMajorGemm};
use super::lt::{GemmPtrs, GemmSpec, LtGemm};
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

struct Gemm {
    lt: LtGemm,
    ptrs: GemmPtrs,
}

/// One GEMM of the step, by role, with its A operand given per step (the batch slot changes).
enum Op {
    Gemm(Gemm, Option<usize>),
    Kernel(&'static str, (u32, u32, u32), Vec<KArg>),
}

pub struct GpuMlp<'a> {
    dev: &'a Device,
    funcs: BTreeMap<&'static str, CudaFunction>,
    ops: Vec<Op>,
    /// Byte offset of batch slot 0's x (and its labels) per slot.
    x_slot_bytes: u64,
    label_slot_bytes: u64,
    x: DevBuf,
    labels: DevBuf,
    loss: DevBuf,
    fscratch: DevBuf,
    _bufs: Vec<DevBuf>,
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
        let (l, w, b, c) = (
            p.layers as usize,
            p.width as usize,
            p.batch as usize,
            p.classes as usize,
        );
        let es = elem.size();
        let gpu = &dev.gpu;
        let mut keep = Vec::new();
        // Parameters (w0, b0, …, w_out, b_out), momentum, weight gradients.
        let names = p.param_names();
        let shapes = p.param_shapes();
        let mut params = Vec::new();
        let mut vels = Vec::new();
        for n in &names {
            let v = find(inputs, n).as_f32();
            params.push(gpu.upload(&encode(v, elem)).map_err(pe)?);
            vels.push(gpu.zeros(v.len() * es).map_err(pe)?);
        }
        // f32 scratch: bias gradients, each at a 256-byte-aligned offset.
        let mut bias_off = BTreeMap::new();
        let mut off = 0usize;
        for (i, s) in shapes.iter().enumerate() {
            if s.len() == 1 {
                bias_off.insert(i, off);
                off += s[0].div_ceil(64) * 64 * 4;
            }
        }
        let fscratch = gpu.zeros(off).map_err(pe)?;
        let loss = gpu.zeros(4).map_err(pe)?;
        let x = gpu
            .upload(&encode(find(inputs, "x").as_f32(), elem))
            .map_err(pe)?;
        let labels_host: Vec<u8> = find(inputs, "y")
            .as_i32()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let labels = gpu.upload(&labels_host).map_err(pe)?;
        let acts: Vec<DevBuf> = (0..l)
            .map(|_| gpu.zeros(b * w * es))
            .collect::<Result<_, _>>()
            .map_err(pe)?;
        let logits = gpu.zeros(b * c * es).map_err(pe)?;
        let dlogits = gpu.zeros(b * c * es).map_err(pe)?;
        let dh = [
            gpu.zeros(b * w * es).map_err(pe)?,
            gpu.zeros(b * w * es).map_err(pe)?,
        ];
        let grads: Vec<Option<DevBuf>> = shapes
            .iter()
            .map(|s| {
                (s.len() == 2)
                    .then(|| gpu.zeros(s[0] * s[1] * es))
                    .transpose()
            })
            .collect::<Result<_, _>>()
            .map_err(pe)?;

        // Batch slots start at multiples of b·w·es bytes inside x.
        let slot_align = 1u32 << ((b * w * es).trailing_zeros().min(8));
        let gemm =
            |shape: RowMajorGemm, epi: Epilogue, ptrs: GemmPtrs| -> Result<Gemm, BackendError> {
                let spec = GemmSpec {
                    shape,
                    input: elem,
                    output: elem,
                    compute,
                    epilogue: epi,
                    // A = 0 marks the batch slot, whose offset may be less aligned.
                    align_a: if ptrs.a == 0 { slot_align } else { 256 },
                };
                Ok(Gemm {
                    lt: LtGemm::new(&dev.lt, spec, ptrs).map_err(pe)?,
                    ptrs,
                })
            };
        let rm = |m: usize, n: usize, k: usize, ta: bool, tb: bool| RowMajorGemm {
            m: m as u64,
            n: n as u64,
            k: k as u64,
            trans_a: ta,
            trans_b: tb,
        };
        // H_i: activation i (H_0 is the batch slot, patched per step: `Some(0)` marks it).
        let h_ptr = |i: usize| if i == 0 { 0 } else { acts[i - 1].ptr };
        let h_slot = |i: usize| (i == 0).then_some(0usize);
        let mut ops = Vec::new();
        for i in 0..l {
            let ptrs = GemmPtrs {
                a: h_ptr(i),
                b: params[2 * i].ptr,
                c: acts[i].ptr,
                bias: params[2 * i + 1].ptr,
                ..Default::default()
            };
            ops.push(Op::Gemm(
                gemm(rm(b, w, w, false, false), Epilogue::ReluBias, ptrs)?,
                h_slot(i),
            ));
        }
        let head = GemmPtrs {
            a: h_ptr(l),
            b: params[2 * l].ptr,
            c: logits.ptr,
            bias: params[2 * l + 1].ptr,
            ..Default::default()
        };
        ops.push(Op::Gemm(
            gemm(rm(b, c, w, false, false), Epilogue::Bias, head)?,
            h_slot(l),
        ));
        ops.push(Op::Kernel(
            XENT,
            ((b as u32).div_ceil(8), 1, 1),
            vec![
                KArg::Ptr(logits.ptr),
                KArg::Ptr(0), // labels slot, patched per step
                KArg::Ptr(dlogits.ptr),
                KArg::Ptr(loss.ptr),
                KArg::I32(b as i32),
                KArg::I32(c as i32),
                KArg::I32(dt),
            ],
        ));
        let colsum = |grad: u64, act: u64, bias_grad: u64, cols: usize| {
            Op::Kernel(
                RELU_BWD_COLSUM,
                (
                    (cols as u32).div_ceil(256),
                    (b as u32).div_ceil(ROWS_PER_BLOCK),
                    1,
                ),
                vec![
                    KArg::Ptr(grad),
                    KArg::Ptr(act),
                    KArg::Ptr(bias_grad),
                    KArg::I32(b as i32),
                    KArg::I32(cols as i32),
                    KArg::I32(ROWS_PER_BLOCK as i32),
                    KArg::I32(dt),
                ],
            )
        };
        ops.push(colsum(
            dlogits.ptr,
            0,
            fscratch.ptr + bias_off[&(2 * l + 1)] as u64,
            c,
        ));
        let gw = |i: usize| grads[i].as_ref().map(|g| g.ptr).unwrap_or(0);
        let dwo = GemmPtrs {
            a: h_ptr(l),
            b: dlogits.ptr,
            c: gw(2 * l),
            ..Default::default()
        };
        ops.push(Op::Gemm(
            gemm(rm(w, c, b, true, false), Epilogue::None, dwo)?,
            h_slot(l),
        ));
        let dhl = GemmPtrs {
            a: dlogits.ptr,
            b: params[2 * l].ptr,
            c: dh[0].ptr,
            ..Default::default()
        };
        ops.push(Op::Gemm(
            gemm(rm(b, w, c, false, true), Epilogue::None, dhl)?,
            None,
        ));
        let mut cur = 0usize;
        for i in (0..l).rev() {
            ops.push(colsum(
                dh[cur].ptr,
                acts[i].ptr,
                fscratch.ptr + bias_off[&(2 * i + 1)] as u64,
                w,
            ));
            let dwi = GemmPtrs {
                a: h_ptr(i),
                b: dh[cur].ptr,
                c: gw(2 * i),
                ..Default::default()
            };
            ops.push(Op::Gemm(
                gemm(rm(w, w, b, true, false), Epilogue::None, dwi)?,
                h_slot(i),
            ));
            if i > 0 {
                let dhi = GemmPtrs {
                    a: dh[cur].ptr,
                    b: params[2 * i].ptr,
                    c: dh[1 - cur].ptr,
                    ..Default::default()
                };
                ops.push(Op::Gemm(
                    gemm(rm(b, w, w, false, true), Epilogue::None, dhi)?,
                    None,
                ));
                cur = 1 - cur;
            }
        }
        let sms = dev.gpu.props.sm_count.max(1) as u32;
        for (i, s) in shapes.iter().enumerate() {
            let n: usize = s.iter().product();
            let (grad, gdt) = match bias_off.get(&i) {
                Some(o) => (fscratch.ptr + *o as u64, 0),
                None => (gw(i), dt),
            };
            ops.push(Op::Kernel(
                SGD,
                ((n as u32).div_ceil(256).clamp(1, sms * 8), 1, 1),
                vec![
                    KArg::Ptr(params[i].ptr),
                    KArg::Ptr(vels[i].ptr),
                    KArg::Ptr(grad),
                    KArg::I64(n as i64),
                    KArg::F32(LEARNING_RATE as f32),
                    KArg::F32(MOMENTUM as f32),
                    KArg::I32(dt),
                    KArg::I32(gdt),
                ],
            ));
        }
        keep.extend(params);
        keep.extend(vels);
        keep.extend(acts);
        keep.extend([logits, dlogits]);
        keep.extend(dh);
        keep.extend(grads.into_iter().flatten());
        Ok(GpuMlp {
            dev,
            funcs,
            ops,
            x_slot_bytes: (b * w * es) as u64,
            label_slot_bytes: (b * 4) as u64,
            x,
            labels,
            loss,
            fscratch,
            _bufs: keep,
            timer: dev.gpu.timer().map_err(pe)?,
            step: 0,
            losses: Vec::new(),
        })
    }

    fn enqueue_step(&self) -> Result<(), String> {
        let slot = (self.step % BATCH_POOL) as u64;
        let x_slot = self.x.ptr + slot * self.x_slot_bytes;
        let y_slot = self.labels.ptr + slot * self.label_slot_bytes;
        let gpu = &self.dev.gpu;
        gpu.memset_raw(self.loss.ptr, 4)?;
        gpu.memset_raw(self.fscratch.ptr, self.fscratch.bytes)?;
        for op in &self.ops {
            match op {
                Op::Gemm(g, slot_a) => {
                    let mut ptrs = g.ptrs;
                    if slot_a.is_some() {
                        ptrs.a = x_slot;
                    }
                    g.lt.run(&self.dev.lt, &ptrs, self.dev.workspace.ptr, &gpu.stream)?;
                }
                Op::Kernel(name, grid, args) => {
                    let mut args = args.clone();
                    if *name == XENT {
                        args[1] = KArg::Ptr(y_slot);
                    }
                    gpu.launch(&self.funcs[name], *grid, 256, 0, &args)?;
                }
            }
        }
        Ok(())
    }
}

impl Prepared for GpuMlp<'_> {
    fn run(&mut self) -> Result<Option<f64>, BackendError> {
        let this = &*self;
        let secs = this.dev.timed(&this.timer, || this.enqueue_step())?;
        let bytes = self.dev.gpu.download(&self.loss).map_err(pe)?;
        self.losses.push(decode(&bytes, Elem::F32)[0] as f64);
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

//! prefill and decode on the GPU: the plan of `crate::gpu::infer_plan` bound to device
//! buffers, cuBLASLt GEMMs (bias epilogues, residual adds as beta = 1, per-head strided
//! batches, the tied head with an f32 result) and the NVRTC kernels of gpt.cu and
//! decode_attention.cu (attention.cu's fused kernel for prefill where it serves). Parameters,
//! activations and the KV cache are stored in the point's dtype (f32 for tf32) with f32
//! arithmetic in every kernel. decode's cache lives on the device for the whole point: filled
//! once from the pooled `kv` input at prepare (kv_fill, untimed), then every timed step appends
//! its token's K and V at the step's position (context + step mod DECODE_WINDOW) and attends
//! over every position before it, so the timing loop really decodes.

use std::collections::BTreeMap;

use kernels::tensor::find;
use kernels::{DType, HostTensor};

use super::{Iteration, Output};
use crate::cuda::device::Device;
use crate::cuda::ffi::driver::DevBuf;
use crate::cuda::ffi::lt::{GemmPtrs, GemmSpec, LtGemm};
use crate::cuda::ffi::CudaError;
use crate::cuda::modules::Kernels;
use crate::gpu::convert::encode;
use crate::gpu::gpt_plan::{param_offsets, StepOp};
use crate::gpu::infer_plan::{InferPlan, Op, Slot};
use crate::gpu::launch::Launch;
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

pub struct GpuInfer {
    funcs: Kernels,
    plan: InferPlan,
    /// The cuBLASLt GEMM of each plan op that is one.
    gemms: Vec<Option<LtGemm>>,
    bufs: BTreeMap<Slot, DevBuf>,
    elem: Elem,
    dt: i32,
    sms: u32,
}

impl GpuInfer {
    /// Uploads the point's inputs, prepares every GEMM and, for decode, fills the cache.
    /// `CudaBackend::prepare` has checked that the plan's buffers fit the GPU
    /// (`capability::fits_memory`).
    pub fn new(
        dev: &Device,
        funcs: Kernels,
        plan: InferPlan,
        dtype: DType,
        inputs: &[HostTensor],
    ) -> Result<Self, CudaError> {
        let (elem, dt, compute) = train_storage(dtype)
            .ok_or_else(|| CudaError::Invalid(format!("no {dtype} inference on cuda")))?;
        let gpu = &dev.gpu;
        let (offs, total) = param_offsets(&plan.gpt);
        let mut params = vec![0f32; total];
        for (i, (name, _)) in plan.gpt.param_specs().iter().enumerate() {
            let data = find(inputs, name).as_f32();
            params[offs[i]..offs[i] + data.len()].copy_from_slice(data);
        }
        let i32_bytes = |v: &[i32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
        let mut bufs = BTreeMap::new();
        for (slot, n) in plan.buffers() {
            let d = match slot {
                Slot::Gpt(crate::gpu::gpt_plan::Buf::Params) => gpu.upload(&encode(&params, elem)),
                Slot::Tokens => gpu.upload(&i32_bytes(find(inputs, "tokens").as_i32())),
                Slot::RowIdx => gpu.upload(&i32_bytes(&plan.row_indices())),
                s => gpu.zeros(n * InferPlan::elem_bytes(s, elem.size()) as usize),
            };
            bufs.insert(slot, d?);
        }
        let sms = gpu.props.sm_count.max(1) as u32;
        let mut g = GpuInfer {
            funcs,
            plan,
            gemms: Vec::new(),
            bufs,
            elem,
            dt,
            sms,
        };
        if let Some(kv) = inputs.iter().find(|t| t.name == "kv") {
            let pool = gpu.upload(&encode(kv.as_f32(), elem))?;
            let cache = g.bufs[&Slot::Cache].ptr;
            if let Some(l) = g.plan.fill_launch(dt, sms, pool.ptr, cache) {
                g.launch(dev, &l)?;
            }
            // the pool is freed when it drops: wait for the fill first
            gpu.sync()?;
        }
        let mut gemms = Vec::with_capacity(g.plan.ops.len());
        for op in &g.plan.ops {
            gemms.push(match *op {
                Op::Step(StepOp::Gemm {
                    shape,
                    batch,
                    epilogue,
                    a,
                    b,
                    c,
                    bias,
                    add,
                    out_f32,
                }) => {
                    let out = if out_f32 { Elem::F32 } else { elem };
                    let strides = batch.map(|x| (x.stride_a, x.stride_b, x.stride_c));
                    let stride =
                        |s: i64, e: Elem| strides.map_or(0, |_| s as u64 * e.size() as u64);
                    let (sa, sb, sc) = strides.unwrap_or((0, 0, 0));
                    let at = |x| g.ptr(Slot::Gpt(x));
                    let align_a = align_of(at(a)).min(align_of(stride(sa, elem)));
                    let mut rest = align_of(at(b))
                        .min(align_of(stride(sb, elem)))
                        .min(align_of(at(c)))
                        .min(align_of(stride(sc, out)));
                    if let Some(x) = add {
                        rest = rest.min(align_of(at(x)));
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
                        bias: bias.map(at).unwrap_or(0),
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

    /// The device address of a slot or view.
    fn ptr(&self, s: Slot) -> u64 {
        self.plan
            .address(s, self.elem.size(), &|x| self.bufs[&x].ptr)
    }

    fn launch(&self, dev: &Device, l: &Launch) -> Result<(), CudaError> {
        let f = self.funcs.get(l.kernel).ok_or_else(|| {
            CudaError::Invalid(format!("internal: kernel {} not loaded", l.kernel))
        })?;
        dev.gpu.launch(f, l)
    }
}

impl Iteration for GpuInfer {
    fn enqueue(&self, dev: &Device, step: usize) -> Result<(), CudaError> {
        let eb = self.elem.size();
        let ptr = |s: Slot| self.ptr(s);
        for (op, gemm) in self.plan.ops.iter().zip(&self.gemms) {
            match *op {
                Op::Step(StepOp::Gemm {
                    a, b, c, bias, add, ..
                }) => {
                    let g = gemm
                        .as_ref()
                        .ok_or_else(|| CudaError::Invalid("internal: GEMM not prepared".into()))?;
                    let at = |x| ptr(Slot::Gpt(x));
                    let ptrs = GemmPtrs {
                        a: at(a),
                        b: at(b),
                        c: at(c),
                        c_in: add.map(at).unwrap_or(0),
                        bias: bias.map(at).unwrap_or(0),
                        ..Default::default()
                    };
                    g.run(&dev.lt, &ptrs, dev.workspace.ptr, &dev.gpu.stream)?;
                }
                _ => {
                    for l in self.plan.launches(op, self.dt, self.sms, step, eb, &ptr) {
                        self.launch(dev, &l)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn output(&self) -> Output<'_> {
        Output::Tensor(
            &self.bufs[&Slot::Gpt(crate::gpu::gpt_plan::Buf::Logits)],
            Elem::F32,
        )
    }
}

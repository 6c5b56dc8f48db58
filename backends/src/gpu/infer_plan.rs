//! prefill and decode (kernels::infer) as device-independent plans: which GEMMs and kernels
//! run, in order, on which buffers, and the launch of each kernel. `cuda::bind::infer` binds a
//! plan to device buffers, cuBLASLt and NVRTC; backends/tests/cuda_infer_step.rs resolves it
//! the same way and runs it through the real kernels under the host emulation, against
//! kernels::infer_ref.
//!
//! Both run train-gpt's forward pass (the GEMMs with bias epilogues and residual adds as
//! `gpt_plan::StepOp`s, gpt.cu's embedding, LayerNorm, GELU and head split), reusing one set of
//! scratch buffers across layers:
//! - **prefill** over `batch·prompt` rows: per layer, the qkv projection is split by head into
//!   that layer's part of the cache ([layers, 3, batch, heads, prompt, hd]: Q, then the K and V
//!   that are the KV cache the prompt leaves); causal attention is attention.cu's fused flash
//!   kernel where it serves (bf16/f16, head dim 64 or 128), otherwise Q·Kᵀ (f32), gpt.cu's
//!   causal softmax and P·V as batched GEMMs. The rows at `prefill_positions` are gathered
//!   before the final LayerNorm, so the tied head's GEMM runs on those rows only.
//! - **decode** over `batch` rows at step `i`: position `context + i mod DECODE_WINDOW`, token
//!   row `i mod DECODE_WINDOW`; per layer, the new K and V are appended to the device cache
//!   ([layers, 2, batch, heads, cap, hd], cap = context + DECODE_WINDOW, filled from the
//!   pooled input once by kv_fill) and the query attends over positions 0..=pos with the
//!   split decode attention of decode_attention.cu ([`decode_splits`] blocks per head).
//!
//! Logits are f32 (the head GEMM writes f32), as the point's output is.

use kernels::gpt::TrainGpt;
use kernels::infer::{prefill_positions, Decode, Prefill, DECODE_WINDOW};
use kernels::DType;

use super::attention::{self as flash, Tensors};
use super::gpt_launch;
use super::gpt_plan::{layer_param, param_offsets, Buf, Dims, StepOp, Views};
use super::kernels::{self as k, STEP_THREADS};
use super::launch::{KArg, Launch};
use super::layout::{Batch, Epilogue, RowMajorGemm};

/// Positions per decode-attention split at least (16 per warp).
pub const MIN_CHUNK: usize = 64;

/// A buffer of an inference plan: train-gpt's roles (each one scratch buffer reused by every
/// layer) and the inference ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Slot {
    /// train-gpt's buffers and views (`Param(i)` in `Params`; `Heads(l)`, `HeadPart(l, _)`
    /// in [`Slot::Cache`] for prefill).
    Gpt(Buf),
    /// prefill: [layers, 3, batch, heads, prompt, hd] (Q, K, V by head); decode: [layers, 2,
    /// batch, heads, cap, hd] (K, V). Storage dtype.
    Cache,
    /// decode attention's per-split outputs, f32 [batch·heads·splits, hd], and log-sum-exps,
    /// f32 [batch·heads·splits].
    PartO,
    PartLse,
    /// Token ids (i32): prefill [batch, prompt], decode [DECODE_WINDOW, batch].
    Tokens,
    /// prefill: the rows (b·prompt + position) whose logits are output, i32 [batch·positions].
    RowIdx,
}

/// One operation of a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// A GEMM or one of gpt.cu's kernels, as train-gpt's plan has them.
    Step(StepOp),
    /// x = wte[token] + wpe[position] (embed_fwd): every prompt token, or this step's tokens.
    Embed,
    /// decode: layer l's new K and V into the cache at this step's position (kv_append).
    KvAppend(usize),
    /// decode: layer l's attention over cache positions 0..=pos into `Att(0)`
    /// (decode_attn_partial, then decode_attn_combine).
    DecodeAttention(usize),
    /// prefill: layer l's causal attention through the fused kernel, into `HeadOut`.
    Flash(usize),
    /// prefill: the `RowIdx` rows of `Resid(0)` into `Resid(2)` (gather_rows).
    Gather,
}

/// What kind of plan, with its sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Prefill {
        /// Output rows: batch · prefill_positions.
        rows: usize,
        /// The fused attention kernel, where one serves the dtype and head dim.
        flash: Option<&'static str>,
    },
    Decode {
        context: usize,
        /// Cache positions per (layer, K|V, sequence, head): context + DECODE_WINDOW.
        cap: usize,
        /// Distinct rows of the pooled input per (layer, K|V, sequence).
        pool: usize,
        splits: usize,
        chunk: usize,
    },
}

/// A prefill or decode point as a plan.
#[derive(Debug, Clone)]
pub struct InferPlan {
    /// The model as train-gpt lays out its parameters (`Views::of`, `param_offsets`).
    pub gpt: TrainGpt,
    /// Sizes per step: prefill's rows are batch·prompt (t = prompt), decode's batch (t = 1).
    pub dm: Dims,
    pub mode: Mode,
    pub ops: Vec<Op>,
    views: Views,
    dtype: DType,
}

/// Splits of decode attention per (sequence, head) and positions per split, for `bh`
/// sequence·heads over a cache of `cap` positions on `sms` multiprocessors: enough blocks for
/// about four per SM, each split at least [`MIN_CHUNK`] positions, no split wholly past `cap`.
pub fn decode_splits(bh: usize, cap: usize, sms: u32) -> (usize, usize) {
    let want = (4 * sms.max(1) as usize).div_ceil(bh.max(1));
    let most = (cap / MIN_CHUNK).max(1);
    let chunk = cap.div_ceil(want.clamp(1, most));
    (cap.div_ceil(chunk), chunk)
}

/// Why the CUDA plans cannot run a decoder of these sizes, if they cannot: the decode
/// attention serves head dims up to [`k::DECODE_MAX_HD`] and one grid row per (sequence,
/// head), and the kernels take rows and columns as 32-bit ints (`rows`: the rows of one
/// step, batch·prompt for prefill, batch for decode).
pub fn unsupported(d_model: u64, heads: u64, batch: u64, rows: u64) -> Option<String> {
    let hd = d_model / heads.max(1);
    if hd > k::DECODE_MAX_HD {
        return Some(format!(
            "head dim {hd} (d_model / heads): the cuda decode attention serves up to {}",
            k::DECODE_MAX_HD
        ));
    }
    if batch * heads > 65535 {
        return Some(format!(
            "batch·heads = {} is over the 65535 blocks a grid column holds",
            batch * heads
        ));
    }
    if rows * 4 * d_model > i32::MAX as u64 {
        return Some(format!(
            "rows·4·d_model = {} does not fit the kernels' 32-bit sizes",
            rows * 4 * d_model
        ));
    }
    None
}

fn rm(m: usize, n: usize, k: usize, trans_b: bool) -> RowMajorGemm {
    RowMajorGemm {
        m: m as u64,
        n: n as u64,
        k: k as u64,
        trans_a: false,
        trans_b,
    }
}

/// x·W + bias (+ add), W = parameter `w`, its bias the next parameter.
fn linear(shape: RowMajorGemm, a: Buf, w: usize, c: Buf, add: Option<Buf>) -> Op {
    Op::Step(StepOp::Gemm {
        shape,
        batch: None,
        epilogue: Epilogue::Bias,
        a,
        b: Buf::Param(w),
        c,
        bias: Some(Buf::Param(w + 1)),
        add,
        out_f32: false,
    })
}

/// A GEMM batched over the b·h heads, each operand a packed matrix per head.
fn per_head(dm: &Dims, shape: RowMajorGemm, a: Buf, b: Buf, c: Buf, out_f32: bool) -> Op {
    let (m, n, kk) = (shape.m as i64, shape.n as i64, shape.k as i64);
    Op::Step(StepOp::Gemm {
        shape,
        batch: Some(Batch {
            count: (dm.b * dm.h) as u64,
            stride_a: m * kk,
            stride_b: kk * n,
            stride_c: m * n,
        }),
        epilogue: Epilogue::None,
        a,
        b,
        c,
        bias: None,
        add: None,
        out_f32,
    })
}

/// LayerNorm of `x` (LayerNorm parameters at `g`) into LnOut/Mean/Rstd number `k`.
fn ln(x: Buf, k: usize, g: usize, rows: usize, d: usize) -> Op {
    Op::Step(StepOp::LnFwd {
        x,
        g: Buf::Param(g),
        b: Buf::Param(g + 1),
        y: Buf::LnOut(k),
        mean: Buf::Mean(k),
        rstd: Buf::Rstd(k),
        rows,
        d,
    })
}

/// A layer's MLP and its residual: Resid(1) → Resid(0).
fn mlp(ops: &mut Vec<Op>, dm: &Dims, l: usize) {
    let (n, d, f) = (dm.n, dm.d, dm.f);
    let w = layer_param;
    ops.push(ln(Buf::Resid(1), 0, w(l, 6), n, d));
    ops.push(linear(
        rm(n, f, d, false),
        Buf::LnOut(0),
        w(l, 8),
        Buf::U(0),
        None,
    ));
    ops.push(Op::Step(StepOp::GeluFwd {
        u: Buf::U(0),
        out: Buf::Gelu(0),
        n: n * f,
    }));
    ops.push(linear(
        rm(n, d, f, false),
        Buf::Gelu(0),
        w(l, 10),
        Buf::Resid(0),
        Some(Buf::Resid(1)),
    ));
}

/// The tied head over `rows` final-LayerNorm rows (LnOut(k)) into f32 logits.
fn head(rows: usize, dm: &Dims, k: usize) -> Op {
    Op::Step(StepOp::Gemm {
        shape: rm(rows, dm.v, dm.d, true),
        batch: None,
        epilogue: Epilogue::None,
        a: Buf::LnOut(k),
        b: Buf::Param(0),
        c: Buf::Logits,
        bias: None,
        add: None,
        out_f32: true,
    })
}

impl InferPlan {
    /// prefill's plan in storage dtype `dtype`.
    pub fn prefill(p: &Prefill, dtype: DType) -> InferPlan {
        let gpt = p.gpt();
        let dm = Dims::of(&gpt);
        let (n, d, t, hd) = (dm.n, dm.d, dm.t, dm.hd);
        let att = kernels::attention::Attention {
            b: dm.b as u64,
            h: dm.h as u64,
            s: t as u64,
            d: hd as u64,
            causal: true,
        };
        let flash = flash::kernel_for(&att, dtype).ok();
        let rows = dm.b * prefill_positions(p.prompt).len();
        let w = layer_param;
        let mut ops = vec![Op::Embed];
        for l in 0..dm.l {
            ops.push(ln(Buf::Resid(0), 0, w(l, 0), n, d));
            ops.push(linear(
                rm(n, 3 * d, d, false),
                Buf::LnOut(0),
                w(l, 2),
                Buf::Qkv,
                None,
            ));
            ops.push(Op::Step(StepOp::SplitHeads {
                src: Buf::Qkv,
                dst: Buf::Heads(l),
                parts: 3,
                inverse: false,
            }));
            if flash.is_some() {
                ops.push(Op::Flash(l));
            } else {
                ops.push(per_head(
                    &dm,
                    rm(t, t, hd, true),
                    Buf::HeadPart(l, 0),
                    Buf::HeadPart(l, 1),
                    Buf::Scores,
                    true,
                ));
                ops.push(Op::Step(StepOp::CausalSoftmax {
                    s: Buf::Scores,
                    p: Buf::Probs,
                    rows: dm.b * dm.h * t,
                    seq: t,
                    scale: 1.0 / (hd as f64).sqrt(),
                }));
                ops.push(per_head(
                    &dm,
                    rm(t, hd, t, false),
                    Buf::Probs,
                    Buf::HeadPart(l, 2),
                    Buf::HeadOut,
                    false,
                ));
            }
            ops.push(Op::Step(StepOp::SplitHeads {
                src: Buf::HeadOut,
                dst: Buf::Att(0),
                parts: 1,
                inverse: true,
            }));
            ops.push(linear(
                rm(n, d, d, false),
                Buf::Att(0),
                w(l, 4),
                Buf::Resid(1),
                Some(Buf::Resid(0)),
            ));
            mlp(&mut ops, &dm, l);
        }
        ops.push(Op::Gather);
        ops.push(ln(Buf::Resid(2), 2, w(dm.l, 0), rows, d));
        ops.push(head(rows, &dm, 2));
        InferPlan {
            views: Views::of(&gpt),
            gpt,
            dm,
            mode: Mode::Prefill { rows, flash },
            ops,
            dtype,
        }
    }

    /// decode's plan in storage dtype `dtype`, its attention split for `sms` multiprocessors.
    pub fn decode(p: &Decode, dtype: DType, sms: u32) -> InferPlan {
        let gpt = p.gpt();
        let dm = Dims::of(&p.model.gpt(1, p.batch));
        let (n, d) = (dm.n, dm.d);
        let cap = (p.context + DECODE_WINDOW) as usize;
        let (splits, chunk) = decode_splits(dm.b * dm.h, cap, sms);
        let w = layer_param;
        let mut ops = vec![Op::Embed];
        for l in 0..dm.l {
            ops.push(ln(Buf::Resid(0), 0, w(l, 0), n, d));
            ops.push(linear(
                rm(n, 3 * d, d, false),
                Buf::LnOut(0),
                w(l, 2),
                Buf::Qkv,
                None,
            ));
            ops.push(Op::KvAppend(l));
            ops.push(Op::DecodeAttention(l));
            ops.push(linear(
                rm(n, d, d, false),
                Buf::Att(0),
                w(l, 4),
                Buf::Resid(1),
                Some(Buf::Resid(0)),
            ));
            mlp(&mut ops, &dm, l);
        }
        ops.push(ln(Buf::Resid(0), 0, w(dm.l, 0), n, d));
        ops.push(head(n, &dm, 0));
        InferPlan {
            views: Views::of(&gpt),
            gpt,
            dm,
            mode: Mode::Decode {
                context: p.context as usize,
                cap,
                pool: p.pool() as usize,
                splits,
                chunk,
            },
            ops,
            dtype,
        }
    }

    /// Rows of the output logits ([rows, vocab], f32).
    pub fn output_rows(&self) -> usize {
        match self.mode {
            Mode::Prefill { rows, .. } => rows,
            Mode::Decode { .. } => self.dm.n,
        }
    }

    /// The position decode step `step` (0-based) writes; 0 for prefill.
    pub fn position(&self, step: usize) -> usize {
        match self.mode {
            Mode::Decode { context, .. } => context + step % DECODE_WINDOW as usize,
            Mode::Prefill { .. } => 0,
        }
    }

    /// Bytes per element of a slot at storage elements of `eb` bytes.
    pub fn elem_bytes(slot: Slot, eb: usize) -> u64 {
        match slot {
            Slot::Gpt(Buf::Mean(_) | Buf::Rstd(_) | Buf::Scores | Buf::Logits) => 4,
            Slot::PartO | Slot::PartLse | Slot::Tokens | Slot::RowIdx => 4,
            _ => eb as u64,
        }
    }

    /// Every allocation of the plan and its length in elements (not the views).
    pub fn buffers(&self) -> Vec<(Slot, usize)> {
        let dm = &self.dm;
        let (n, d, f) = (dm.n, dm.d, dm.f);
        let g = Slot::Gpt;
        let mut v = vec![
            (g(Buf::Params), param_offsets(&self.gpt).1),
            (g(Buf::Resid(0)), n * d),
            (g(Buf::Resid(1)), n * d),
            (g(Buf::LnOut(0)), n * d),
            (g(Buf::Mean(0)), n),
            (g(Buf::Rstd(0)), n),
            (g(Buf::Qkv), 3 * n * d),
            (g(Buf::Att(0)), n * d),
            (g(Buf::U(0)), n * f),
            (g(Buf::Gelu(0)), n * f),
            (g(Buf::Logits), self.output_rows() * dm.v),
        ];
        match self.mode {
            Mode::Prefill { rows, flash } => {
                v.extend([
                    (Slot::Cache, dm.l * 3 * n * d),
                    (g(Buf::HeadOut), n * d),
                    (g(Buf::Resid(2)), rows * d),
                    (g(Buf::LnOut(2)), rows * d),
                    (g(Buf::Mean(2)), rows),
                    (g(Buf::Rstd(2)), rows),
                    (Slot::Tokens, n),
                    (Slot::RowIdx, rows),
                ]);
                if flash.is_none() {
                    let scores = dm.b * dm.h * dm.t * dm.t;
                    v.extend([(g(Buf::Scores), scores), (g(Buf::Probs), scores)]);
                }
            }
            Mode::Decode { cap, splits, .. } => {
                let parts = dm.b * dm.h * splits;
                v.extend([
                    (Slot::Cache, dm.l * 2 * dm.b * cap * d),
                    (Slot::PartO, parts * dm.hd),
                    (Slot::PartLse, parts),
                    (Slot::Tokens, DECODE_WINDOW as usize * dm.b),
                ]);
            }
        }
        v
    }

    /// Device bytes of every allocation at storage elements of `eb` bytes.
    pub fn device_bytes(&self, eb: usize) -> u64 {
        self.buffers()
            .iter()
            .map(|&(s, len)| len as u64 * Self::elem_bytes(s, eb))
            .sum()
    }

    /// The address of a slot or view from the addresses of the allocations (`base`).
    pub fn address(&self, slot: Slot, eb: usize, base: &dyn Fn(Slot) -> u64) -> u64 {
        match slot {
            Slot::Gpt(b) => {
                let whole = |x: Buf| match x {
                    // prefill's Heads(l) is layer l's part of the cache
                    Buf::Heads(l) => {
                        base(Slot::Cache) + (l * 3 * self.dm.n * self.dm.d * eb) as u64
                    }
                    other => base(Slot::Gpt(other)),
                };
                self.views.address(b, 0, eb, &whole)
            }
            other => base(other),
        }
    }

    /// The (K, V) addresses of layer `l`'s decode cache.
    fn cache_kv(&self, l: usize, eb: usize, addr: &dyn Fn(Slot) -> u64) -> (u64, u64) {
        let Mode::Decode { cap, .. } = self.mode else {
            return (0, 0);
        };
        let part = (self.dm.b * cap * self.dm.d * eb) as u64;
        let k = addr(Slot::Cache) + 2 * l as u64 * part;
        (k, k + part)
    }

    /// The launches of `op` (none for a GEMM) at step `step`, `addr` resolving slots and
    /// views (e.g. through [`InferPlan::address`]); `sms` bounds grid-stride grids.
    pub fn launches(
        &self,
        op: &Op,
        dt: i32,
        sms: u32,
        step: usize,
        eb: usize,
        addr: &dyn Fn(Slot) -> u64,
    ) -> Vec<Launch> {
        let dm = &self.dm;
        let ptr = |s: Slot| KArg::Ptr(addr(s));
        let gp = |b: Buf| KArg::Ptr(addr(Slot::Gpt(b)));
        let i = |v: usize| KArg::I32(v as i32);
        let stride_grid = |n: usize| {
            (
                (n.div_ceil(STEP_THREADS as usize) as u32).clamp(1, sms.max(1) * 8),
                1,
                1,
            )
        };
        let plain = |kernel, grid, args: Vec<KArg>| Launch {
            kernel,
            grid,
            block: STEP_THREADS,
            smem: 0,
            args,
        };
        let pos = self.position(step);
        match *op {
            Op::Step(ref s) => gpt_launch::launches(s, dm, dt, sms, step, &|b| addr(Slot::Gpt(b))),
            Op::Embed => {
                let (ids, wpe, rows, seq) = match self.mode {
                    Mode::Prefill { .. } => (
                        addr(Slot::Tokens),
                        addr(Slot::Gpt(Buf::Param(1))),
                        dm.n,
                        dm.t,
                    ),
                    Mode::Decode { .. } => (
                        addr(Slot::Tokens) + ((step % DECODE_WINDOW as usize) * dm.b * 4) as u64,
                        addr(Slot::Gpt(Buf::Param(1))) + (pos * dm.d * eb) as u64,
                        dm.b,
                        1,
                    ),
                };
                vec![plain(
                    k::EMBED_FWD,
                    stride_grid(rows * dm.d),
                    vec![
                        KArg::Ptr(ids),
                        gp(Buf::Param(0)),
                        KArg::Ptr(wpe),
                        gp(Buf::Resid(0)),
                        i(rows),
                        i(seq),
                        i(dm.d),
                        KArg::I32(dt),
                    ],
                )]
            }
            Op::KvAppend(l) => {
                let Mode::Decode { cap, .. } = self.mode else {
                    return Vec::new();
                };
                let (kk, vv) = self.cache_kv(l, eb, addr);
                vec![plain(
                    k::KV_APPEND,
                    stride_grid(dm.b * dm.d),
                    vec![
                        gp(Buf::Qkv),
                        KArg::Ptr(kk),
                        KArg::Ptr(vv),
                        i(dm.b),
                        i(dm.h),
                        i(dm.hd),
                        i(cap),
                        i(pos),
                        KArg::I32(dt),
                    ],
                )]
            }
            Op::DecodeAttention(l) => {
                let Mode::Decode {
                    cap, splits, chunk, ..
                } = self.mode
                else {
                    return Vec::new();
                };
                let (kk, vv) = self.cache_kv(l, eb, addr);
                let bh = dm.b * dm.h;
                vec![
                    Launch {
                        kernel: k::DECODE_ATTN_PARTIAL,
                        grid: (splits as u32, bh as u32, 1),
                        block: k::DECODE_THREADS,
                        smem: k::decode_attn_smem_bytes(),
                        args: vec![
                            gp(Buf::Qkv),
                            KArg::Ptr(kk),
                            KArg::Ptr(vv),
                            ptr(Slot::PartO),
                            ptr(Slot::PartLse),
                            i(dm.h),
                            i(dm.hd),
                            i(cap),
                            i(pos + 1),
                            i(chunk),
                            KArg::F32(flash::scale_log2(dm.hd as u64)),
                            KArg::I32(dt),
                        ],
                    },
                    plain(
                        k::DECODE_ATTN_COMBINE,
                        ((bh as u32).div_ceil(STEP_THREADS / 32), 1, 1),
                        vec![
                            ptr(Slot::PartO),
                            ptr(Slot::PartLse),
                            gp(Buf::Att(0)),
                            i(bh),
                            i(dm.h),
                            i(dm.hd),
                            i(splits),
                            KArg::I32(dt),
                        ],
                    ),
                ]
            }
            Op::Flash(l) => {
                let att = kernels::attention::Attention {
                    b: dm.b as u64,
                    h: dm.h as u64,
                    s: dm.t as u64,
                    d: dm.hd as u64,
                    causal: true,
                };
                let t = Tensors {
                    q: addr(Slot::Gpt(Buf::HeadPart(l, 0))),
                    k: addr(Slot::Gpt(Buf::HeadPart(l, 1))),
                    v: addr(Slot::Gpt(Buf::HeadPart(l, 2))),
                    o: addr(Slot::Gpt(Buf::HeadOut)),
                };
                flash::launch(&att, self.dtype, t).into_iter().collect()
            }
            Op::Gather => {
                let rows = self.output_rows();
                vec![plain(
                    k::GATHER_ROWS,
                    stride_grid(rows * dm.d),
                    vec![
                        gp(Buf::Resid(0)),
                        ptr(Slot::RowIdx),
                        gp(Buf::Resid(2)),
                        i(rows),
                        i(dm.d),
                        KArg::I32(dt),
                    ],
                )]
            }
        }
    }

    /// decode's one-off launch before the first step: positions 0..context of the cache from
    /// the pooled `kv` input at `pool` ([layers, 2, batch, pool, d_model]); none for prefill.
    pub fn fill_launch(&self, dt: i32, sms: u32, pool_addr: u64, cache: u64) -> Option<Launch> {
        let Mode::Decode {
            context, cap, pool, ..
        } = self.mode
        else {
            return None;
        };
        let dm = &self.dm;
        let groups = dm.l * 2 * dm.b;
        let n = groups * dm.h * context * dm.hd;
        Some(Launch {
            kernel: k::KV_FILL,
            grid: (
                (n.div_ceil(STEP_THREADS as usize) as u32).clamp(1, sms.max(1) * 8),
                1,
                1,
            ),
            block: STEP_THREADS,
            smem: 0,
            args: vec![
                KArg::Ptr(pool_addr),
                KArg::Ptr(cache),
                KArg::I32(groups as i32),
                KArg::I32(dm.h as i32),
                KArg::I32(dm.hd as i32),
                KArg::I32(pool as i32),
                KArg::I32(context as i32),
                KArg::I32(cap as i32),
                KArg::I32(dt),
            ],
        })
    }

    /// prefill's `RowIdx`: row b·prompt + position for each sequence and output position.
    pub fn row_indices(&self) -> Vec<i32> {
        let t = self.dm.t as u64;
        (0..self.dm.b as u64)
            .flat_map(|b| {
                prefill_positions(t)
                    .into_iter()
                    .map(move |p| (b * t + p) as i32)
            })
            .collect()
    }

    /// Every launch of one step (step 0), with addresses from `addr`, and decode's fill.
    pub fn all_launches(&self, dt: i32, sms: u32, eb: usize) -> Vec<Launch> {
        let addr = |_: Slot| 0x1000u64;
        let mut v: Vec<Launch> = self
            .fill_launch(dt, sms, 0x1000, 0x2000)
            .into_iter()
            .collect();
        for op in &self.ops {
            v.extend(self.launches(op, dt, sms, 0, eb, &addr));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use kernels::infer::Decoder;

    use super::*;
    use crate::cuda::sources::infer_program;
    use crate::gpu::launch::signatures;

    const MODEL: Decoder = Decoder {
        d_model: 128,
        layers: 2,
        heads: 2,
        vocab: 50,
    };

    #[test]
    fn splits_cover_the_cache_and_fill_the_device() {
        for (bh, cap, sms) in [(1, 8208, 132), (2048, 8208, 132), (32, 16, 1), (4, 100, 4)] {
            let (s, chunk) = decode_splits(bh, cap, sms);
            assert!(
                s >= 1 && s * chunk >= cap && (s - 1) * chunk < cap,
                "{bh} {cap}"
            );
            assert!(chunk >= MIN_CHUNK.min(cap), "{bh} {cap}: chunk {chunk}");
        }
        // one head of a long context: splits of about MIN_CHUNK positions (127 blocks)
        assert_eq!(decode_splits(1, 8208, 132), (127, 65));
        // 16 heads: about four blocks per SM
        assert_eq!(decode_splits(16, 8208, 132), (33, 249));
        // enough heads already: no split
        assert_eq!(decode_splits(2048, 8208, 132).0, 1);
    }

    #[test]
    fn sizes_past_the_kernels_are_named() {
        assert_eq!(unsupported(2048, 16, 64, 64), None);
        assert_eq!(unsupported(2048, 16, 8, 8 * 2048), None);
        assert!(unsupported(4096, 8, 1, 16)
            .unwrap()
            .contains("head dim 512"));
        assert!(unsupported(256, 64, 2048, 16).unwrap().contains("65535"));
        assert!(unsupported(8192, 64, 64, 64 * 8192)
            .unwrap()
            .contains("32-bit"));
    }

    #[test]
    fn every_launch_matches_its_kernel_signature() {
        // the flash launch is attention.rs's own, checked against its macro there
        let sigs = signatures(&infer_program());
        let mut used = BTreeSet::new();
        let pre = Prefill {
            model: MODEL,
            batch: 2,
            prompt: 70,
        };
        let dec = Decode {
            model: MODEL,
            batch: 3,
            context: 100,
        };
        for (plan, dt) in [
            (InferPlan::prefill(&pre, DType::Bf16), 1),
            (InferPlan::prefill(&pre, DType::F32), 0),
            (InferPlan::decode(&dec, DType::F16, 4), 2),
        ] {
            for l in plan.all_launches(dt, 4, 2) {
                used.insert(l.kernel);
                if l.kernel.starts_with("flash_fwd") {
                    continue;
                }
                let got: Vec<&str> = l.args.iter().map(KArg::kind).collect();
                let want = sigs.get(l.kernel).unwrap_or_else(|| panic!("{}", l.kernel));
                assert_eq!(&got, want, "{}", l.kernel);
                assert!(l.grid.0 >= 1 && l.grid.1 >= 1 && l.grid.2 == 1, "{l:?}");
            }
        }
        for kname in k::DECODE_KERNELS {
            assert!(used.contains(kname), "{kname} is never launched");
        }
        assert!(used.contains("flash_fwd_bf16_d64") && used.contains(k::CAUSAL_SOFTMAX));
    }

    #[test]
    fn prefill_picks_flash_where_it_serves_and_outputs_the_checked_rows() {
        let pre = Prefill {
            model: MODEL,
            batch: 2,
            prompt: 40,
        };
        let bf = InferPlan::prefill(&pre, DType::Bf16);
        assert!(matches!(
            bf.mode,
            Mode::Prefill {
                flash: Some(_),
                rows: 10
            }
        ));
        let f32p = InferPlan::prefill(&pre, DType::F32);
        assert!(matches!(f32p.mode, Mode::Prefill { flash: None, .. }));
        assert!(f32p
            .buffers()
            .iter()
            .any(|&(s, n)| s == Slot::Gpt(Buf::Scores) && n == 2 * 2 * 40 * 40));
        assert_eq!(bf.row_indices(), vec![0, 7, 20, 31, 39, 40, 47, 60, 71, 79]);
        // the heads of layer 1 lie in the cache after layer 0's Q, K and V
        let base = |s: Slot| match s {
            Slot::Cache => 1 << 40,
            _ => 2 << 40,
        };
        let n_d = 2 * 40 * 128;
        assert_eq!(
            bf.address(Slot::Gpt(Buf::HeadPart(1, 2)), 2, &base),
            (1 << 40) + ((3 * n_d + 2 * n_d) * 2) as u64
        );
    }

    #[test]
    fn decode_steps_advance_and_wrap_the_position() {
        let dec = Decode {
            model: MODEL,
            batch: 2,
            context: 30,
        };
        let plan = InferPlan::decode(&dec, DType::Bf16, 4);
        assert_eq!(plan.position(0), 30);
        assert_eq!(plan.position(15), 45);
        assert_eq!(plan.position(16), 30);
        let addr = |s: Slot| match s {
            Slot::Tokens => 0x10_0000,
            Slot::Gpt(Buf::Params) => 0x20_0000,
            _ => 0x30_0000,
        };
        let at = |step: usize| {
            let l = plan.launches(&Op::Embed, 1, 4, step, 2, &|s| plan.address(s, 2, &addr));
            (l[0].args[0], l[0].args[2])
        };
        let (ids, wpe) = at(17);
        assert_eq!(ids, KArg::Ptr(0x10_0000 + 2 * 4));
        let (_, wpe0) = at(0);
        let (KArg::Ptr(a), KArg::Ptr(b)) = (wpe, wpe0) else {
            panic!()
        };
        assert_eq!(a - b, 128 * 2, "step 17 writes position 31");
        let att = plan.launches(&Op::DecodeAttention(1), 1, 4, 3, 2, &addr);
        assert_eq!(
            att[0].args[8],
            KArg::I32(34),
            "step 3 attends over 34 positions"
        );
        assert_eq!(att[0].block, 128);
    }
}

//! The train-gpt step as a device-independent plan: which GEMMs (row-major shapes, strided
//! batches, epilogues, residual adds) and which kernels of kernels/cuda/gpt.cu and mlp.cu run,
//! in order, on which buffers. `cuda::bind::gpt` binds the plan to device buffers, cuBLASLt and
//! NVRTC; backends/tests/cuda_gpt_step/host.rs executes the same plan on the host in f64 and requires
//! kernels::gpt_ref's loss trajectory, so the wiring — operand order, transposes, head
//! layouts, strides, view offsets, which gradient goes where, the update — is checked
//! without a GPU.
//!
//! Attention is computed unfused through batched GEMMs over the B·H heads: S = Q·Kᵀ (f32),
//! a causal softmax, O = P·V; the backward recomputes S and P (only Q, K, V are kept per
//! layer), then dV = Pᵀ·dO, dP = dO·Vᵀ, dS = scale·P⊙(dP − rowsum(P⊙dP)), dQ = dS·K,
//! dK = dSᵀ·Q. Memory for scores is one [B·H·T, T] f32 and one storage-dtype buffer, reused
//! by every layer.

use kernels::gpt::TrainGpt;

use super::layout::{Batch, Epilogue, RowMajorGemm};

/// A buffer of the step, by role. Storage dtype unless [`Buf::is_f32`] or ids/targets (i32).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Buf {
    /// Every parameter, each at its [`param_offsets`] offset (zero padding between).
    Params,
    /// Every gradient (f32), same offsets; zeroed at the start of each step.
    Grads,
    /// AdamW's first and second moments (f32), same offsets.
    M,
    V,
    /// Views: parameter i (`param_specs` order) and its gradient.
    Param(usize),
    Grad(usize),
    /// This step's input ids and next-token targets [N] (i32): views into the uploaded pool.
    Ids,
    Targets,
    /// Residual stream x_k [N, d], k in 0..=2L: x_{2l} enters block l, x_{2l+1} is after its
    /// attention, x_{2L} enters the final LayerNorm.
    Resid(usize),
    /// LayerNorm k (of `Resid(k)`): output [N, d], and per-row mean and 1/σ [N] (f32).
    LnOut(usize),
    Mean(usize),
    Rstd(usize),
    /// Scratch [N, 3d]: the layer's qkv in the forward pass, dqkv in the backward.
    Qkv,
    /// Layer l's q, k, v split by head: [3, B, H, T, hd].
    Heads(usize),
    /// View: part 0 (q), 1 (k) or 2 (v) of `Heads(l)`, [B·H, T, hd].
    HeadPart(usize, usize),
    /// Scratch [B, H, T, hd]: attention output by head.
    HeadOut,
    /// Layer l's attention output with heads merged, [N, d].
    Att(usize),
    /// Layer l's MLP pre-activation u and gelu(u), [N, 4d].
    U(usize),
    Gelu(usize),
    /// Scores, then dP in the backward (f32 [B·H·T, T]); probabilities, then dS (storage).
    Scores,
    Probs,
    Logits,
    DLogits,
    /// Gradient of the residual stream [N, d].
    DX,
    /// [N, d] scratch gradient (of a LayerNorm output, or of the attention output).
    DTmp,
    /// dO by head [B, H, T, hd].
    DHeadOut,
    /// dq, dk, dv by head [3, B, H, T, hd], and the view of one part.
    DHeads,
    DHeadPart(usize),
    /// [N, 4d] scratch: d gelu(u), then du in place.
    DWide,
    /// The step's mean loss (f32).
    Loss,
}

impl Buf {
    /// Whether the buffer holds f32 whatever the point's dtype.
    pub fn is_f32(self) -> bool {
        matches!(
            self,
            Buf::Grads
                | Buf::M
                | Buf::V
                | Buf::Grad(_)
                | Buf::Mean(_)
                | Buf::Rstd(_)
                | Buf::Scores
                | Buf::Loss
        )
    }
}

/// One operation of the step.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOp {
    /// Sets a buffer to zero.
    Zero(Buf),
    /// C = op(A)·op(B) (+ bias per column) (+ `add`), per matrix of the batch; C is f32 when
    /// `out_f32`, else storage.
    Gemm {
        shape: RowMajorGemm,
        batch: Option<Batch>,
        epilogue: Epilogue,
        a: Buf,
        b: Buf,
        c: Buf,
        bias: Option<Buf>,
        add: Option<Buf>,
        out_f32: bool,
    },
    /// x[r] = wte[ids[r]] + wpe[r mod T] (embed_fwd).
    EmbedFwd { rows: usize, seq: usize, d: usize },
    /// grad(wte)[ids[r]] += dx[r]; grad(wpe)[t] += Σ_b dx[b·T + t] (embed_bwd_wte/_wpe).
    EmbedBwd {
        rows: usize,
        batch: usize,
        seq: usize,
        d: usize,
    },
    /// y = LayerNorm(x)·g + b, keeping mean and 1/σ (layernorm_fwd).
    LnFwd {
        x: Buf,
        g: Buf,
        b: Buf,
        y: Buf,
        mean: Buf,
        rstd: Buf,
        rows: usize,
        d: usize,
    },
    /// dx (+)= LayerNorm backward of dy (layernorm_bwd_dx).
    LnBwdDx {
        dy: Buf,
        x: Buf,
        mean: Buf,
        rstd: Buf,
        g: Buf,
        dx: Buf,
        accumulate: bool,
        rows: usize,
        d: usize,
    },
    /// dg += Σ_rows dy·x̂; db += Σ_rows dy (layernorm_bwd_params).
    LnBwdParams {
        dy: Buf,
        x: Buf,
        mean: Buf,
        rstd: Buf,
        dg: Buf,
        db: Buf,
        rows: usize,
        d: usize,
    },
    /// bias_grad += column sums of grad (mlp.cu's relu_bwd_colsum without a ReLU).
    ColSum {
        grad: Buf,
        bias_grad: Buf,
        rows: usize,
        cols: usize,
    },
    /// out = gelu_tanh(u) (gelu_fwd).
    GeluFwd { u: Buf, out: Buf, n: usize },
    /// du = dout·gelu'(u), in place when du == dout (gelu_bwd).
    GeluBwd {
        dout: Buf,
        u: Buf,
        du: Buf,
        n: usize,
    },
    /// [B, T, parts, H, hd] → [parts, B, H, T, hd], or back when `inverse` (split_heads).
    SplitHeads {
        src: Buf,
        dst: Buf,
        parts: usize,
        inverse: bool,
    },
    /// p = causal softmax of scale·s per row (causal_softmax).
    CausalSoftmax {
        s: Buf,
        p: Buf,
        rows: usize,
        seq: usize,
        scale: f64,
    },
    /// p ← scale·p⊙(dp − rowsum(p⊙dp)), causal (softmax_bwd).
    SoftmaxBwd {
        p: Buf,
        dp: Buf,
        rows: usize,
        seq: usize,
        scale: f64,
    },
    /// loss += mean cross-entropy of logits against targets; dlogits (mlp.cu's xent_fwd_bwd).
    Xent { rows: usize, classes: usize },
    /// One AdamW update of every parameter (adamw), `n` elements including padding.
    AdamW { n: usize },
}

/// Elements between parameter offsets are padded to this many (256 bytes at 2-byte storage),
/// so every parameter and gradient view is as aligned as a fresh allocation for cuBLASLt.
pub const PARAM_ALIGN: usize = 128;

/// Offset (in elements) of each parameter in `Params`/`Grads`/`M`/`V`, and their length.
pub fn param_offsets(p: &TrainGpt) -> (Vec<usize>, usize) {
    let mut offs = Vec::new();
    let mut at = 0;
    for (_, shape) in p.param_specs() {
        offs.push(at);
        at += shape.iter().product::<usize>().div_ceil(PARAM_ALIGN) * PARAM_ALIGN;
    }
    (offs, at)
}

/// Index of layer l's k-th parameter in `param_specs` order (ln1_g, ln1_b, w_qkv, b_qkv, w_o,
/// b_o, ln2_g, ln2_b, w_fc, b_fc, w_proj, b_proj).
pub fn layer_param(l: usize, k: usize) -> usize {
    2 + 12 * l + k
}

/// Sizes the plan uses.
#[derive(Debug, Clone, Copy)]
pub struct Dims {
    pub b: usize,
    pub t: usize,
    pub d: usize,
    pub h: usize,
    pub hd: usize,
    pub v: usize,
    pub f: usize,
    pub l: usize,
    /// Tokens per step, B·T.
    pub n: usize,
}

impl Dims {
    pub fn of(p: &TrainGpt) -> Dims {
        let (b, t, d, h) = (
            p.batch as usize,
            p.seq as usize,
            p.d_model as usize,
            p.heads as usize,
        );
        Dims {
            b,
            t,
            d,
            h,
            hd: d / h.max(1),
            v: p.vocab as usize,
            f: 4 * d,
            l: p.layers as usize,
            n: b * t,
        }
    }
}

fn rm(m: usize, n: usize, k: usize, trans_a: bool, trans_b: bool) -> RowMajorGemm {
    RowMajorGemm {
        m: m as u64,
        n: n as u64,
        k: k as u64,
        trans_a,
        trans_b,
    }
}

/// A plain GEMM with a storage-dtype result.
fn gemm(shape: RowMajorGemm, a: Buf, b: Buf, c: Buf) -> StepOp {
    StepOp::Gemm {
        shape,
        batch: None,
        epilogue: Epilogue::None,
        a,
        b,
        c,
        bias: None,
        add: None,
        out_f32: false,
    }
}

/// A weight gradient: f32 result into a `Grad` view.
fn wgrad(shape: RowMajorGemm, a: Buf, b: Buf, c: Buf) -> StepOp {
    StepOp::Gemm {
        shape,
        batch: None,
        epilogue: Epilogue::None,
        a,
        b,
        c,
        bias: None,
        add: None,
        out_f32: true,
    }
}

/// x·W + bias (+ add), W = parameter `w`, its bias the next parameter.
fn linear(shape: RowMajorGemm, a: Buf, w: usize, c: Buf, add: Option<Buf>) -> StepOp {
    StepOp::Gemm {
        shape,
        batch: None,
        epilogue: Epilogue::Bias,
        a,
        b: Buf::Param(w),
        c,
        bias: Some(Buf::Param(w + 1)),
        add,
        out_f32: false,
    }
}

/// A GEMM batched over the B·H heads, each operand a packed matrix per head.
fn per_head(dm: &Dims, shape: RowMajorGemm, a: Buf, b: Buf, c: Buf, out_f32: bool) -> StepOp {
    let size = |rows: u64, cols: u64| (rows * cols) as i64;
    let (m, n, k) = (shape.m, shape.n, shape.k);
    StepOp::Gemm {
        shape,
        batch: Some(Batch {
            count: (dm.b * dm.h) as u64,
            stride_a: size(m, k),
            stride_b: size(k, n),
            stride_c: size(m, n),
        }),
        epilogue: Epilogue::None,
        a,
        b,
        c,
        bias: None,
        add: None,
        out_f32,
    }
}

fn ln_fwd(dm: &Dims, k: usize, g: usize) -> StepOp {
    StepOp::LnFwd {
        x: Buf::Resid(k),
        g: Buf::Param(g),
        b: Buf::Param(g + 1),
        y: Buf::LnOut(k),
        mean: Buf::Mean(k),
        rstd: Buf::Rstd(k),
        rows: dm.n,
        d: dm.d,
    }
}

/// LayerNorm k's backward from `DTmp` into `DX` (accumulating unless it is the first).
fn ln_bwd(dm: &Dims, k: usize, g: usize, accumulate: bool) -> [StepOp; 2] {
    [
        StepOp::LnBwdDx {
            dy: Buf::DTmp,
            x: Buf::Resid(k),
            mean: Buf::Mean(k),
            rstd: Buf::Rstd(k),
            g: Buf::Param(g),
            dx: Buf::DX,
            accumulate,
            rows: dm.n,
            d: dm.d,
        },
        StepOp::LnBwdParams {
            dy: Buf::DTmp,
            x: Buf::Resid(k),
            mean: Buf::Mean(k),
            rstd: Buf::Rstd(k),
            dg: Buf::Grad(g),
            db: Buf::Grad(g + 1),
            rows: dm.n,
            d: dm.d,
        },
    ]
}

fn colsum(grad: Buf, param: usize, rows: usize, cols: usize) -> StepOp {
    StepOp::ColSum {
        grad,
        bias_grad: Buf::Grad(param),
        rows,
        cols,
    }
}

/// Attention scores and probabilities of layer l into `Scores` / `Probs`.
fn scores_and_probs(dm: &Dims, l: usize) -> [StepOp; 2] {
    [
        per_head(
            dm,
            rm(dm.t, dm.t, dm.hd, false, true),
            Buf::HeadPart(l, 0),
            Buf::HeadPart(l, 1),
            Buf::Scores,
            true,
        ),
        StepOp::CausalSoftmax {
            s: Buf::Scores,
            p: Buf::Probs,
            rows: dm.b * dm.h * dm.t,
            seq: dm.t,
            scale: 1.0 / (dm.hd as f64).sqrt(),
        },
    ]
}

/// The whole step, in order: forward, loss, backward, update.
pub fn step_plan(p: &TrainGpt) -> Vec<StepOp> {
    let dm = Dims::of(p);
    let (n, d, t, f, v, nl) = (dm.n, dm.d, dm.t, dm.f, dm.v, dm.l);
    let (lnf, hd) = (layer_param(nl, 0), dm.hd);
    let w = layer_param;
    let mut ops = vec![
        StepOp::Zero(Buf::Loss),
        StepOp::Zero(Buf::Grads),
        StepOp::EmbedFwd { rows: n, seq: t, d },
    ];
    for l in 0..nl {
        ops.push(ln_fwd(&dm, 2 * l, w(l, 0)));
        ops.push(linear(
            rm(n, 3 * d, d, false, false),
            Buf::LnOut(2 * l),
            w(l, 2),
            Buf::Qkv,
            None,
        ));
        ops.push(StepOp::SplitHeads {
            src: Buf::Qkv,
            dst: Buf::Heads(l),
            parts: 3,
            inverse: false,
        });
        ops.extend(scores_and_probs(&dm, l));
        ops.push(per_head(
            &dm,
            rm(t, hd, t, false, false),
            Buf::Probs,
            Buf::HeadPart(l, 2),
            Buf::HeadOut,
            false,
        ));
        ops.push(StepOp::SplitHeads {
            src: Buf::HeadOut,
            dst: Buf::Att(l),
            parts: 1,
            inverse: true,
        });
        let (x_in, x_mid, x_out) = (
            Buf::Resid(2 * l),
            Buf::Resid(2 * l + 1),
            Buf::Resid(2 * l + 2),
        );
        ops.push(linear(
            rm(n, d, d, false, false),
            Buf::Att(l),
            w(l, 4),
            x_mid,
            Some(x_in),
        ));
        ops.push(ln_fwd(&dm, 2 * l + 1, w(l, 6)));
        ops.push(linear(
            rm(n, f, d, false, false),
            Buf::LnOut(2 * l + 1),
            w(l, 8),
            Buf::U(l),
            None,
        ));
        ops.push(StepOp::GeluFwd {
            u: Buf::U(l),
            out: Buf::Gelu(l),
            n: n * f,
        });
        ops.push(linear(
            rm(n, d, f, false, false),
            Buf::Gelu(l),
            w(l, 10),
            x_out,
            Some(x_mid),
        ));
    }
    ops.push(ln_fwd(&dm, 2 * nl, lnf));
    // Tied head: logits = xf·wteᵀ.
    ops.push(gemm(
        rm(n, v, d, false, true),
        Buf::LnOut(2 * nl),
        Buf::Param(0),
        Buf::Logits,
    ));
    ops.push(StepOp::Xent {
        rows: n,
        classes: v,
    });
    ops.push(wgrad(
        rm(v, d, n, true, false),
        Buf::DLogits,
        Buf::LnOut(2 * nl),
        Buf::Grad(0),
    ));
    ops.push(gemm(
        rm(n, d, v, false, false),
        Buf::DLogits,
        Buf::Param(0),
        Buf::DTmp,
    ));
    ops.extend(ln_bwd(&dm, 2 * nl, lnf, false));
    for l in (0..nl).rev() {
        // MLP: x_out = x_mid + gelu(LN2(x_mid)·W_fc + b_fc)·W_proj + b_proj
        ops.push(wgrad(
            rm(f, d, n, true, false),
            Buf::Gelu(l),
            Buf::DX,
            Buf::Grad(w(l, 10)),
        ));
        ops.push(colsum(Buf::DX, w(l, 11), n, d));
        ops.push(gemm(
            rm(n, f, d, false, true),
            Buf::DX,
            Buf::Param(w(l, 10)),
            Buf::DWide,
        ));
        ops.push(StepOp::GeluBwd {
            dout: Buf::DWide,
            u: Buf::U(l),
            du: Buf::DWide,
            n: n * f,
        });
        ops.push(wgrad(
            rm(d, f, n, true, false),
            Buf::LnOut(2 * l + 1),
            Buf::DWide,
            Buf::Grad(w(l, 8)),
        ));
        ops.push(colsum(Buf::DWide, w(l, 9), n, f));
        ops.push(gemm(
            rm(n, d, f, false, true),
            Buf::DWide,
            Buf::Param(w(l, 8)),
            Buf::DTmp,
        ));
        ops.extend(ln_bwd(&dm, 2 * l + 1, w(l, 6), true));
        // Attention: x_mid = x_in + attn(LN1(x_in))·W_o + b_o
        ops.push(wgrad(
            rm(d, d, n, true, false),
            Buf::Att(l),
            Buf::DX,
            Buf::Grad(w(l, 4)),
        ));
        ops.push(colsum(Buf::DX, w(l, 5), n, d));
        ops.push(gemm(
            rm(n, d, d, false, true),
            Buf::DX,
            Buf::Param(w(l, 4)),
            Buf::DTmp,
        ));
        ops.push(StepOp::SplitHeads {
            src: Buf::DTmp,
            dst: Buf::DHeadOut,
            parts: 1,
            inverse: false,
        });
        ops.extend(scores_and_probs(&dm, l));
        // dV = Pᵀ·dO; dP = dO·Vᵀ; dS; dQ = dS·K; dK = dSᵀ·Q
        ops.push(per_head(
            &dm,
            rm(t, hd, t, true, false),
            Buf::Probs,
            Buf::DHeadOut,
            Buf::DHeadPart(2),
            false,
        ));
        ops.push(per_head(
            &dm,
            rm(t, t, hd, false, true),
            Buf::DHeadOut,
            Buf::HeadPart(l, 2),
            Buf::Scores,
            true,
        ));
        ops.push(StepOp::SoftmaxBwd {
            p: Buf::Probs,
            dp: Buf::Scores,
            rows: dm.b * dm.h * t,
            seq: t,
            scale: 1.0 / (hd as f64).sqrt(),
        });
        ops.push(per_head(
            &dm,
            rm(t, hd, t, false, false),
            Buf::Probs,
            Buf::HeadPart(l, 1),
            Buf::DHeadPart(0),
            false,
        ));
        ops.push(per_head(
            &dm,
            rm(t, hd, t, true, false),
            Buf::Probs,
            Buf::HeadPart(l, 0),
            Buf::DHeadPart(1),
            false,
        ));
        ops.push(StepOp::SplitHeads {
            src: Buf::DHeads,
            dst: Buf::Qkv,
            parts: 3,
            inverse: true,
        });
        ops.push(wgrad(
            rm(d, 3 * d, n, true, false),
            Buf::LnOut(2 * l),
            Buf::Qkv,
            Buf::Grad(w(l, 2)),
        ));
        ops.push(colsum(Buf::Qkv, w(l, 3), n, 3 * d));
        ops.push(gemm(
            rm(n, d, 3 * d, false, true),
            Buf::Qkv,
            Buf::Param(w(l, 2)),
            Buf::DTmp,
        ));
        ops.extend(ln_bwd(&dm, 2 * l, w(l, 0), true));
    }
    ops.push(StepOp::EmbedBwd {
        rows: n,
        batch: dm.b,
        seq: t,
        d,
    });
    ops.push(StepOp::AdamW {
        n: param_offsets(p).1,
    });
    ops
}

/// Where the views lie: parameter offsets and the head-part stride, computed once per point
/// (addresses are resolved for every launch of every step).
#[derive(Debug, Clone)]
pub struct Views {
    param_offs: Vec<usize>,
    /// Elements of one [N, d] part of `Heads` / `DHeads`.
    part: usize,
    /// Bytes of one slot of the id/target pools.
    slot_bytes: u64,
}

impl Views {
    pub fn of(p: &TrainGpt) -> Views {
        let dm = Dims::of(p);
        Views {
            param_offs: param_offsets(p).0,
            part: dm.n * dm.d,
            slot_bytes: (dm.n * 4) as u64,
        }
    }

    /// The buffer a view lies in and its offset in elements (`None` for a buffer of its
    /// own). `Ids` and `Targets` are slot views resolved per step by [`Views::address`].
    pub fn view(&self, buf: Buf) -> Option<(Buf, usize)> {
        match buf {
            Buf::Param(i) => Some((Buf::Params, self.param_offs[i])),
            Buf::Grad(i) => Some((Buf::Grads, self.param_offs[i])),
            Buf::HeadPart(l, part) => Some((Buf::Heads(l), part * self.part)),
            Buf::DHeadPart(part) => Some((Buf::DHeads, part * self.part)),
            _ => None,
        }
    }

    /// Offset in bytes of a buffer inside the allocation it lies in (0 for one of its own).
    pub fn offset_bytes(&self, b: Buf, elem_bytes: usize) -> u64 {
        self.view(b)
            .map_or(0, |(base, off)| off as u64 * elem_size(base, elem_bytes))
    }

    /// The address of a buffer or view at step `step` (0-based), from the addresses of the
    /// allocations: `base` of every buffer of its own, and of `Ids` / `Targets` as the whole
    /// [BATCH_POOL, N] pools, of which the step uses slot `step mod BATCH_POOL`.
    pub fn address(
        &self,
        b: Buf,
        step: usize,
        elem_bytes: usize,
        base: &dyn Fn(Buf) -> u64,
    ) -> u64 {
        match b {
            Buf::Ids | Buf::Targets => {
                base(b) + (step % kernels::gpt::BATCH_POOL) as u64 * self.slot_bytes
            }
            _ => match self.view(b) {
                Some((whole, _)) => base(whole) + self.offset_bytes(b, elem_bytes),
                None => base(b),
            },
        }
    }
}

/// Bytes per element of a buffer when storage elements take `elem_bytes`.
pub fn elem_size(b: Buf, elem_bytes: usize) -> u64 {
    match b {
        Buf::Ids | Buf::Targets => 4,
        b if b.is_f32() => 4,
        _ => elem_bytes as u64,
    }
}

/// Every buffer of its own the plan uses and its length in elements (not the views, not the
/// token pool).
pub fn buffers(p: &TrainGpt) -> Vec<(Buf, usize)> {
    let dm = Dims::of(p);
    let (n, d, f) = (dm.n, dm.d, dm.f);
    let total = param_offsets(p).1;
    let mut v = vec![
        (Buf::Params, total),
        (Buf::Grads, total),
        (Buf::M, total),
        (Buf::V, total),
    ];
    for k in 0..=2 * dm.l {
        v.extend([
            (Buf::Resid(k), n * d),
            (Buf::LnOut(k), n * d),
            (Buf::Mean(k), n),
            (Buf::Rstd(k), n),
        ]);
    }
    for l in 0..dm.l {
        v.extend([
            (Buf::Heads(l), 3 * n * d),
            (Buf::Att(l), n * d),
            (Buf::U(l), n * f),
            (Buf::Gelu(l), n * f),
        ]);
    }
    let scores = dm.b * dm.h * dm.t * dm.t;
    v.extend([
        (Buf::Qkv, 3 * n * d),
        (Buf::HeadOut, n * d),
        (Buf::Scores, scores),
        (Buf::Probs, scores),
        (Buf::Logits, n * dm.v),
        (Buf::DLogits, n * dm.v),
        (Buf::DX, n * d),
        (Buf::DTmp, n * d),
        (Buf::DHeadOut, n * d),
        (Buf::DHeads, 3 * n * d),
        (Buf::DWide, n * f),
        (Buf::Loss, 1),
    ]);
    v
}

/// Device bytes the step needs at storage elements of `elem_bytes` (plus the token pool).
pub fn device_bytes(p: &TrainGpt, elem_bytes: usize) -> u64 {
    let dm = Dims::of(p);
    let pool = 2 * kernels::gpt::BATCH_POOL * dm.n * 4;
    buffers(p)
        .iter()
        .map(|&(b, len)| (len * if b.is_f32() { 4 } else { elem_bytes }) as u64)
        .sum::<u64>()
        + pool as u64
}

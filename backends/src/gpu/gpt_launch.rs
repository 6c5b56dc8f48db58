//! The kernel launches of each non-GEMM step of the train-gpt plan: kernel name, grid, block
//! ([`STEP_THREADS`]) and arguments in the order of the kernel's C signature in
//! kernels/cuda/gpt.cu or mlp.cu. Pure, so the tests compare every launch's argument list with
//! the signatures parsed from the source NVRTC compiles (an argument missing, extra or of the
//! wrong width would corrupt the launch silently on a GPU).

use kernels::gpt::{ADAM_EPS, BETA1, BETA2, LEARNING_RATE, WEIGHT_DECAY};

use super::gpt_plan::{Buf, Dims, StepOp};
use super::kernels::{self as k, STEP_THREADS};
pub use super::launch::{KArg, Launch};

/// Rows each column-sum block (layernorm_bwd_params, relu_bwd_colsum) reduces.
pub const ROWS_PER_BLOCK: u32 = 64;

/// The launches of `op` (none for zeroing and GEMMs) at step `step` (0-based), with buffer
/// addresses from `addr`; `sms` bounds grid-stride grids.
pub fn launches(
    op: &StepOp,
    dm: &Dims,
    dt: i32,
    sms: u32,
    step: usize,
    addr: &dyn Fn(Buf) -> u64,
) -> Vec<Launch> {
    let mut out = Vec::new();
    let mut go = |kernel: &'static str, grid: (u32, u32, u32), args: &[KArg]| {
        out.push(Launch {
            kernel,
            grid,
            block: STEP_THREADS,
            smem: 0,
            args: args.to_vec(),
        })
    };
    let (dt, ptr) = (KArg::I32(dt), |b: Buf| KArg::Ptr(addr(b)));
    let i = |v: usize| KArg::I32(v as i32);
    let per_block = STEP_THREADS as usize;
    let stride_grid = |n: usize| {
        (
            (n.div_ceil(per_block) as u32).clamp(1, sms.max(1) * 8),
            1,
            1,
        )
    };
    // one warp per row
    let rows_grid = |rows: usize| ((rows as u32).div_ceil(STEP_THREADS / 32), 1, 1);
    let cols_grid = |rows: usize, cols: usize| {
        (
            (cols as u32).div_ceil(STEP_THREADS),
            (rows as u32).div_ceil(ROWS_PER_BLOCK),
            1,
        )
    };
    match *op {
        StepOp::EmbedFwd { rows, seq, d } => go(
            k::EMBED_FWD,
            stride_grid(rows * d),
            &[
                ptr(Buf::Ids),
                ptr(Buf::Param(0)),
                ptr(Buf::Param(1)),
                ptr(Buf::Resid(0)),
                i(rows),
                i(seq),
                i(d),
                dt,
            ],
        ),
        StepOp::EmbedBwd {
            rows,
            batch,
            seq,
            d,
        } => {
            go(
                k::EMBED_BWD_WTE,
                stride_grid(rows * d),
                &[
                    ptr(Buf::Ids),
                    ptr(Buf::DX),
                    ptr(Buf::Grad(0)),
                    i(rows),
                    i(d),
                    dt,
                ],
            );
            go(
                k::EMBED_BWD_WPE,
                stride_grid(seq * d),
                &[ptr(Buf::DX), ptr(Buf::Grad(1)), i(batch), i(seq), i(d), dt],
            );
        }
        StepOp::LnFwd {
            x,
            g,
            b,
            y,
            mean,
            rstd,
            rows,
            d,
        } => go(
            k::LN_FWD,
            rows_grid(rows),
            &[
                ptr(x),
                ptr(g),
                ptr(b),
                ptr(y),
                ptr(mean),
                ptr(rstd),
                i(rows),
                i(d),
                dt,
            ],
        ),
        StepOp::LnBwdDx {
            dy,
            x,
            mean,
            rstd,
            g,
            dx,
            accumulate,
            rows,
            d,
        } => go(
            k::LN_BWD_DX,
            rows_grid(rows),
            &[
                ptr(dy),
                ptr(x),
                ptr(mean),
                ptr(rstd),
                ptr(g),
                ptr(dx),
                i(rows),
                i(d),
                KArg::I32(accumulate as i32),
                dt,
            ],
        ),
        StepOp::LnBwdParams {
            dy,
            x,
            mean,
            rstd,
            dg,
            db,
            rows,
            d,
        } => go(
            k::LN_BWD_PARAMS,
            cols_grid(rows, d),
            &[
                ptr(dy),
                ptr(x),
                ptr(mean),
                ptr(rstd),
                ptr(dg),
                ptr(db),
                i(rows),
                i(d),
                i(ROWS_PER_BLOCK as usize),
                dt,
            ],
        ),
        StepOp::ColSum {
            grad,
            bias_grad,
            rows,
            cols,
        } => go(
            k::RELU_BWD_COLSUM,
            cols_grid(rows, cols),
            &[
                ptr(grad),
                KArg::Ptr(0),
                ptr(bias_grad),
                i(rows),
                i(cols),
                i(ROWS_PER_BLOCK as usize),
                dt,
            ],
        ),
        StepOp::GeluFwd { u, out, n } => go(
            k::GELU_FWD,
            stride_grid(n),
            &[ptr(u), ptr(out), KArg::I64(n as i64), dt],
        ),
        StepOp::GeluBwd { dout, u, du, n } => go(
            k::GELU_BWD,
            stride_grid(n),
            &[ptr(dout), ptr(u), ptr(du), KArg::I64(n as i64), dt],
        ),
        StepOp::SplitHeads {
            src,
            dst,
            parts,
            inverse,
        } => go(
            k::SPLIT_HEADS,
            stride_grid(parts * dm.n * dm.d),
            &[
                ptr(src),
                ptr(dst),
                i(dm.b),
                i(dm.t),
                i(parts),
                i(dm.h),
                i(dm.hd),
                KArg::I32(inverse as i32),
                dt,
            ],
        ),
        StepOp::CausalSoftmax {
            s,
            p,
            rows,
            seq,
            scale,
        } => go(
            k::CAUSAL_SOFTMAX,
            rows_grid(rows),
            &[ptr(s), ptr(p), i(rows), i(seq), KArg::F32(scale as f32), dt],
        ),
        StepOp::SoftmaxBwd {
            p,
            dp,
            rows,
            seq,
            scale,
        } => go(
            k::SOFTMAX_BWD,
            rows_grid(rows),
            &[
                ptr(p),
                ptr(dp),
                i(rows),
                i(seq),
                KArg::F32(scale as f32),
                dt,
            ],
        ),
        StepOp::Xent { rows, classes } => go(
            k::XENT,
            rows_grid(rows),
            &[
                ptr(Buf::Logits),
                ptr(Buf::Targets),
                ptr(Buf::DLogits),
                ptr(Buf::Loss),
                i(rows),
                i(classes),
                dt,
            ],
        ),
        StepOp::AdamW { n } => {
            let t = (step + 1) as i32;
            let f = |x: f64| KArg::F32(x as f32);
            go(
                k::ADAMW,
                stride_grid(n),
                &[
                    ptr(Buf::Params),
                    ptr(Buf::Grads),
                    ptr(Buf::M),
                    ptr(Buf::V),
                    KArg::I64(n as i64),
                    f(LEARNING_RATE),
                    f(BETA1),
                    f(BETA2),
                    f(ADAM_EPS),
                    f(WEIGHT_DECAY),
                    f(1.0 - BETA1.powi(t)),
                    f(1.0 - BETA2.powi(t)),
                    dt,
                ],
            )
        }
        StepOp::Zero(_) | StepOp::Gemm { .. } => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use kernels::gpt::TrainGpt;

    use super::*;
    use crate::cuda::sources::gpt_program;
    use crate::gpu::gpt_plan::step_plan;
    use crate::gpu::launch::signatures;

    #[test]
    fn every_launch_matches_its_kernel_signature() {
        let sigs = signatures(&gpt_program());
        assert!(sigs.len() >= 14, "{sigs:?}");
        let p = TrainGpt {
            d_model: 64,
            layers: 2,
            heads: 4,
            seq: 32,
            vocab: 300,
            batch: 3,
        };
        let dm = Dims::of(&p);
        let mut used = BTreeSet::new();
        for op in step_plan(&p) {
            for l in launches(&op, &dm, 1, 132, 0, &|_| 0x1000) {
                let want = sigs
                    .get(l.kernel)
                    .unwrap_or_else(|| panic!("{} is not a kernel of the module", l.kernel));
                let got: Vec<&str> = l.args.iter().map(KArg::kind).collect();
                assert_eq!(&got, want, "{op:?} → {}", l.kernel);
                assert!(l.grid.0 >= 1 && l.grid.1 >= 1 && l.grid.2 == 1, "{l:?}");
                used.insert(l.kernel);
            }
        }
        let mut all: BTreeSet<&str> = k::GPT_KERNELS.into_iter().collect();
        all.extend([k::XENT, k::RELU_BWD_COLSUM]);
        assert_eq!(used, all, "kernels the step launches vs the module's list");
    }

    #[test]
    fn warp_per_row_and_column_grids_cover_their_rows_and_columns() {
        let p = TrainGpt {
            d_model: 40,
            layers: 1,
            heads: 5,
            seq: 13,
            vocab: 77,
            batch: 3,
        };
        let dm = Dims::of(&p);
        for op in step_plan(&p) {
            let (rows, cols) = match op {
                StepOp::LnFwd { rows, .. }
                | StepOp::LnBwdDx { rows, .. }
                | StepOp::CausalSoftmax { rows, .. }
                | StepOp::SoftmaxBwd { rows, .. }
                | StepOp::Xent { rows, .. } => (rows, 0),
                StepOp::LnBwdParams { rows, d, .. } => (rows, d),
                StepOp::ColSum { rows, cols, .. } => (rows, cols),
                _ => continue,
            };
            let l = &launches(&op, &dm, 0, 1, 0, &|_| 0)[0];
            if cols == 0 {
                assert!(l.grid.0 as usize * 8 >= rows, "{op:?}: {l:?}");
            } else {
                assert!(l.grid.0 as usize * 256 >= cols, "{op:?}: {l:?}");
                assert!(
                    l.grid.1 as usize * ROWS_PER_BLOCK as usize >= rows,
                    "{op:?}"
                );
            }
        }
    }
}

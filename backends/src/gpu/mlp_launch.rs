//! The kernel launches of each non-GEMM step of the train-mlp plan (kernels/cuda/mlp.cu):
//! kernel name, grid, block ([`STEP_THREADS`]) and arguments in the order of the kernel's C
//! signature, with buffer addresses from the caller. Pure, so the tests compare every launch
//! with the signatures parsed from mlp.cu.

use kernels::mlp::{LEARNING_RATE, MOMENTUM};

use super::kernels::{RELU_BWD_COLSUM, SGD, STEP_THREADS, XENT};
use super::launch::{KArg, Launch};
use super::mlp_plan::{Buf, StepOp};

/// Rows of the gradient each relu_bwd_colsum block sums.
pub const ROWS_PER_BLOCK: u32 = 32;

/// The launch of `op` (none for a GEMM), with buffer addresses from `addr`; `dt` is the
/// storage dtype code and `sms` bounds the update's grid-stride grid.
pub fn launch(op: &StepOp, dt: i32, sms: u32, addr: &dyn Fn(Buf) -> u64) -> Option<Launch> {
    let ptr = |b: Buf| KArg::Ptr(addr(b));
    let i = |v: usize| KArg::I32(v as i32);
    let (kernel, grid, args) = match *op {
        StepOp::Gemm { .. } => return None,
        StepOp::Xent {
            logits,
            labels,
            dlogits,
            loss,
            rows,
            classes,
        } => (
            XENT,
            // one warp per row
            ((rows as u32).div_ceil(STEP_THREADS / 32), 1, 1),
            vec![
                ptr(logits),
                ptr(labels),
                ptr(dlogits),
                ptr(loss),
                i(rows),
                i(classes),
                KArg::I32(dt),
            ],
        ),
        StepOp::ReluBwdColsum {
            grad,
            act,
            bias_grad,
            rows,
            cols,
        } => (
            RELU_BWD_COLSUM,
            (
                (cols as u32).div_ceil(STEP_THREADS),
                (rows as u32).div_ceil(ROWS_PER_BLOCK),
                1,
            ),
            vec![
                ptr(grad),
                KArg::Ptr(act.map(addr).unwrap_or(0)),
                ptr(bias_grad),
                i(rows),
                i(cols),
                KArg::I32(ROWS_PER_BLOCK as i32),
                KArg::I32(dt),
            ],
        ),
        StepOp::Sgd {
            param,
            vel,
            grad,
            n,
        } => (
            SGD,
            (
                (n as u32).div_ceil(STEP_THREADS).clamp(1, sms.max(1) * 8),
                1,
                1,
            ),
            vec![
                ptr(param),
                ptr(vel),
                ptr(grad),
                KArg::I64(n as i64),
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
        ),
    };
    Some(Launch {
        kernel,
        grid,
        block: STEP_THREADS,
        smem: 0,
        args,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use kernels::mlp::TrainMlp;

    use super::*;
    use crate::cuda::sources::{program, MLP};
    use crate::gpu::launch::signatures;
    use crate::gpu::mlp_plan::step_plan;

    #[test]
    fn every_launch_matches_its_kernel_signature_and_covers_its_rows() {
        let sigs = signatures(&program(MLP));
        let p = TrainMlp {
            layers: 2,
            width: 300,
            batch: 70,
            classes: 10,
        };
        let mut used = BTreeSet::new();
        for op in step_plan(&p) {
            let Some(l) = launch(&op, 1, 132, &|_| 0x1000) else {
                continue;
            };
            let got: Vec<&str> = l.args.iter().map(KArg::kind).collect();
            assert_eq!(Some(&got), sigs.get(l.kernel), "{op:?}");
            match op {
                StepOp::Xent { rows, .. } => assert!(l.grid.0 * 8 >= rows as u32),
                StepOp::ReluBwdColsum { rows, cols, .. } => {
                    assert!(l.grid.0 * STEP_THREADS >= cols as u32);
                    assert!(l.grid.1 * ROWS_PER_BLOCK >= rows as u32);
                }
                _ => {}
            }
            used.insert(l.kernel);
        }
        assert_eq!(used, [XENT, RELU_BWD_COLSUM, SGD].into_iter().collect());
    }
}

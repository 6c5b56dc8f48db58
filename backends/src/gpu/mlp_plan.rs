//! The train-mlp step as a device-independent plan: which GEMMs (row-major shapes, transposes,
//! epilogues) and which kernels run, in order, on which buffers. `cuda::bind::mlp` binds the
//! plan to GPU buffers, cuBLASLt GEMMs and NVRTC kernels (launches from `mlp_launch`); the
//! tests here execute the same plan on the host in f64 and require kernels::mlp's reference
//! loss trajectory, so the wiring (operand order, transposes, ReLU masks, bias gradients,
//! update order) is checked without a GPU.

use kernels::mlp::TrainMlp;

use super::layout::{Epilogue, RowMajorGemm};

/// A buffer of the step, by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Buf {
    /// Parameter i in kernels::mlp order (w0, b0, …, w_out, b_out).
    Param(usize),
    /// Its momentum.
    Vel(usize),
    /// Gradient of weight parameter i (storage dtype).
    WeightGrad(usize),
    /// Gradient of bias parameter i (f32, summed by atomics; zeroed before every step).
    BiasGrad(usize),
    /// Hidden activation H_{i+1} = relu(H_i·W_i + b_i), i in 0..layers.
    Act(usize),
    /// This step's batch slot of x [batch, width] and of the labels [batch].
    XSlot,
    YSlot,
    Logits,
    DLogits,
    /// Two [batch, width] gradient buffers used alternately.
    DH(usize),
    /// The step's mean loss (f32, zeroed before every step).
    Loss,
}

/// One operation of the step.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOp {
    /// C = op(A)·op(B), plus the epilogue with `bias` (row-major; see layout.rs).
    Gemm {
        shape: RowMajorGemm,
        epilogue: Epilogue,
        a: Buf,
        b: Buf,
        c: Buf,
        bias: Option<Buf>,
    },
    /// loss += mean cross-entropy; dlogits = (softmax − onehot) / rows (mlp.cu xent_fwd_bwd).
    Xent {
        logits: Buf,
        labels: Buf,
        dlogits: Buf,
        loss: Buf,
        rows: usize,
        classes: usize,
    },
    /// grad ⊙= (act > 0) when `act` is given; bias_grad += column sums (relu_bwd_colsum).
    ReluBwdColsum {
        grad: Buf,
        act: Option<Buf>,
        bias_grad: Buf,
        rows: usize,
        cols: usize,
    },
    /// v ← μ·v + g; p ← p − lr·v (sgd_momentum).
    Sgd {
        param: Buf,
        vel: Buf,
        grad: Buf,
        n: usize,
    },
}

fn rm(m: u64, n: u64, k: u64, trans_a: bool, trans_b: bool) -> RowMajorGemm {
    RowMajorGemm {
        m,
        n,
        k,
        trans_a,
        trans_b,
    }
}

/// H_i: the batch for i = 0, else hidden activation i.
fn h(i: usize) -> Buf {
    if i == 0 {
        Buf::XSlot
    } else {
        Buf::Act(i - 1)
    }
}

/// The whole step, in order: forward, loss, backward, update.
pub fn step_plan(p: &TrainMlp) -> Vec<StepOp> {
    let (l, w, b, c) = (p.layers as usize, p.width, p.batch, p.classes);
    let mut ops = Vec::new();
    for i in 0..l {
        ops.push(StepOp::Gemm {
            shape: rm(b, w, w, false, false),
            epilogue: Epilogue::ReluBias,
            a: h(i),
            b: Buf::Param(2 * i),
            c: Buf::Act(i),
            bias: Some(Buf::Param(2 * i + 1)),
        });
    }
    ops.push(StepOp::Gemm {
        shape: rm(b, c, w, false, false),
        epilogue: Epilogue::Bias,
        a: h(l),
        b: Buf::Param(2 * l),
        c: Buf::Logits,
        bias: Some(Buf::Param(2 * l + 1)),
    });
    ops.push(StepOp::Xent {
        logits: Buf::Logits,
        labels: Buf::YSlot,
        dlogits: Buf::DLogits,
        loss: Buf::Loss,
        rows: b as usize,
        classes: c as usize,
    });
    ops.push(StepOp::ReluBwdColsum {
        grad: Buf::DLogits,
        act: None,
        bias_grad: Buf::BiasGrad(2 * l + 1),
        rows: b as usize,
        cols: c as usize,
    });
    // dW_out = H_Lᵀ·dlogits; dH_L = dlogits·W_outᵀ
    ops.push(StepOp::Gemm {
        shape: rm(w, c, b, true, false),
        epilogue: Epilogue::None,
        a: h(l),
        b: Buf::DLogits,
        c: Buf::WeightGrad(2 * l),
        bias: None,
    });
    ops.push(StepOp::Gemm {
        shape: rm(b, w, c, false, true),
        epilogue: Epilogue::None,
        a: Buf::DLogits,
        b: Buf::Param(2 * l),
        c: Buf::DH(0),
        bias: None,
    });
    let mut cur = 0;
    for i in (0..l).rev() {
        // dZ_i = dH_{i+1} ⊙ relu'(H_{i+1}); db_i = Σ rows; dW_i = H_iᵀ·dZ_i; dH_i = dZ_i·W_iᵀ
        ops.push(StepOp::ReluBwdColsum {
            grad: Buf::DH(cur),
            act: Some(Buf::Act(i)),
            bias_grad: Buf::BiasGrad(2 * i + 1),
            rows: b as usize,
            cols: w as usize,
        });
        ops.push(StepOp::Gemm {
            shape: rm(w, w, b, true, false),
            epilogue: Epilogue::None,
            a: h(i),
            b: Buf::DH(cur),
            c: Buf::WeightGrad(2 * i),
            bias: None,
        });
        if i > 0 {
            ops.push(StepOp::Gemm {
                shape: rm(b, w, w, false, true),
                epilogue: Epilogue::None,
                a: Buf::DH(cur),
                b: Buf::Param(2 * i),
                c: Buf::DH(1 - cur),
                bias: None,
            });
            cur = 1 - cur;
        }
    }
    for (i, s) in p.param_shapes().iter().enumerate() {
        ops.push(StepOp::Sgd {
            param: Buf::Param(i),
            vel: Buf::Vel(i),
            grad: if s.len() == 1 {
                Buf::BiasGrad(i)
            } else {
                Buf::WeightGrad(i)
            },
            n: s.iter().product(),
        });
    }
    ops
}

/// Elements of every buffer the plan uses except the batch (XSlot, YSlot: views into the
/// uploaded pool).
pub fn buffers(p: &TrainMlp) -> Vec<(Buf, usize)> {
    let (l, w, b, c) = (
        p.layers as usize,
        p.width as usize,
        p.batch as usize,
        p.classes as usize,
    );
    let mut v = Vec::new();
    for (i, s) in p.param_shapes().iter().enumerate() {
        let n: usize = s.iter().product();
        v.push((Buf::Param(i), n));
        v.push((Buf::Vel(i), n));
        v.push((
            if s.len() == 1 {
                Buf::BiasGrad(i)
            } else {
                Buf::WeightGrad(i)
            },
            n,
        ));
    }
    for i in 0..l {
        v.push((Buf::Act(i), b * w));
    }
    v.extend([
        (Buf::Logits, b * c),
        (Buf::DLogits, b * c),
        (Buf::DH(0), b * w),
        (Buf::DH(1), b * w),
        (Buf::Loss, 1),
    ]);
    v
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kernels::mlp::{BATCH_POOL, LEARNING_RATE, MOMENTUM};
    use kernels::tensor::find;
    use kernels::DType;

    use super::*;

    /// Executes the plan on the host in f64, the way the GPU does it (row-major GEMMs).
    fn run_plan(p: &TrainMlp, steps: usize) -> Vec<f64> {
        let inputs = p.inputs(DType::F32, 3);
        let mut mem: BTreeMap<Buf, Vec<f64>> = buffers(p)
            .into_iter()
            .map(|(b, n)| (b, vec![0.0; n]))
            .collect();
        for (i, name) in p.param_names().iter().enumerate() {
            mem.insert(
                Buf::Param(i),
                find(&inputs, name)
                    .as_f32()
                    .iter()
                    .map(|&v| v as f64)
                    .collect(),
            );
        }
        let (b, w) = (p.batch as usize, p.width as usize);
        let x = find(&inputs, "x").as_f32();
        let y = find(&inputs, "y").as_i32();
        let plan = step_plan(p);
        let mut losses = Vec::new();
        for step in 0..steps {
            let slot = step % BATCH_POOL;
            mem.insert(
                Buf::XSlot,
                x[slot * b * w..(slot + 1) * b * w]
                    .iter()
                    .map(|&v| v as f64)
                    .collect(),
            );
            mem.insert(
                Buf::YSlot,
                y[slot * b..(slot + 1) * b]
                    .iter()
                    .map(|&v| v as f64)
                    .collect(),
            );
            for (k, v) in mem.iter_mut() {
                if matches!(k, Buf::BiasGrad(_) | Buf::Loss) {
                    v.iter_mut().for_each(|x| *x = 0.0);
                }
            }
            for op in &plan {
                exec(op, &mut mem);
            }
            losses.push(mem[&Buf::Loss][0]);
        }
        losses
    }

    fn exec(op: &StepOp, mem: &mut BTreeMap<Buf, Vec<f64>>) {
        match *op {
            StepOp::Gemm {
                shape: s,
                epilogue,
                a,
                b,
                c,
                bias,
            } => {
                let (m, n, k) = (s.m as usize, s.n as usize, s.k as usize);
                let (av, bv) = (&mem[&a], &mem[&b]);
                assert_eq!(av.len(), m * k, "{op:?}: A size");
                assert_eq!(bv.len(), k * n, "{op:?}: B size");
                let at = |i: usize, l: usize| {
                    if s.trans_a {
                        av[l * m + i]
                    } else {
                        av[i * k + l]
                    }
                };
                let bt = |l: usize, j: usize| {
                    if s.trans_b {
                        bv[j * k + l]
                    } else {
                        bv[l * n + j]
                    }
                };
                let bias_v = bias.map(|x| mem[&x].clone());
                let mut out = vec![0.0; m * n];
                for i in 0..m {
                    for j in 0..n {
                        let mut acc: f64 = (0..k).map(|l| at(i, l) * bt(l, j)).sum();
                        if let Some(bb) = &bias_v {
                            acc += bb[j];
                        }
                        if epilogue == Epilogue::ReluBias && acc < 0.0 {
                            acc = 0.0;
                        }
                        out[i * n + j] = acc;
                    }
                }
                assert_eq!(mem[&c].len(), m * n, "{op:?}: C size");
                mem.insert(c, out);
            }
            StepOp::Xent {
                logits,
                labels,
                dlogits,
                loss,
                rows,
                classes,
            } => {
                let lg = mem[&logits].clone();
                let ys = mem[&labels].clone();
                let mut g = vec![0.0; rows * classes];
                let mut total = 0.0;
                for r in 0..rows {
                    let row = &lg[r * classes..(r + 1) * classes];
                    let mx = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let lse = mx + row.iter().map(|v| (v - mx).exp()).sum::<f64>().ln();
                    let yr = ys[r] as usize;
                    total += (lse - row[yr]) / rows as f64;
                    for j in 0..classes {
                        g[r * classes + j] =
                            ((row[j] - lse).exp() - if j == yr { 1.0 } else { 0.0 }) / rows as f64;
                    }
                }
                mem.insert(dlogits, g);
                mem.get_mut(&loss).unwrap()[0] += total;
            }
            StepOp::ReluBwdColsum {
                grad,
                act,
                bias_grad,
                rows,
                cols,
            } => {
                let actv = act.map(|a| mem[&a].clone());
                let gv = mem.get_mut(&grad).unwrap();
                let mut sums = vec![0.0; cols];
                assert_eq!(gv.len(), rows * cols);
                for (i, g) in gv.iter_mut().enumerate() {
                    if actv.as_ref().is_some_and(|a| a[i] <= 0.0) {
                        *g = 0.0;
                    }
                    sums[i % cols] += *g;
                }
                for (d, s) in mem.get_mut(&bias_grad).unwrap().iter_mut().zip(sums) {
                    *d += s;
                }
            }
            StepOp::Sgd {
                param,
                vel,
                grad,
                n,
            } => {
                let g = mem[&grad].clone();
                assert_eq!(g.len(), n);
                let v = mem.get_mut(&vel).unwrap();
                for (vi, gi) in v.iter_mut().zip(&g) {
                    *vi = MOMENTUM * *vi + gi;
                }
                let v = v.clone();
                for (pi, vi) in mem.get_mut(&param).unwrap().iter_mut().zip(&v) {
                    *pi -= LEARNING_RATE * vi;
                }
            }
        }
    }

    #[test]
    fn the_plan_reproduces_the_reference_trajectory() {
        for p in [
            TrainMlp {
                layers: 2,
                width: 16,
                batch: 8,
                classes: 4,
            },
            TrainMlp {
                layers: 3,
                width: 12,
                batch: 5,
                classes: 7,
            },
            TrainMlp {
                layers: 1,
                width: 9,
                batch: 6,
                classes: 3,
            },
        ] {
            let steps = 6;
            let got = run_plan(&p, steps);
            let want = p.reference_losses(&p.inputs(DType::F32, 3), steps);
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-12 * w.abs(),
                    "{p:?}: {got:?} vs {want:?}"
                );
            }
            assert_eq!(got.len(), steps);
        }
    }

    #[test]
    fn every_buffer_the_plan_touches_is_allocated() {
        let p = TrainMlp {
            layers: 3,
            width: 8,
            batch: 4,
            classes: 5,
        };
        let have: Vec<Buf> = buffers(&p).into_iter().map(|(b, _)| b).collect();
        for op in step_plan(&p) {
            let used: Vec<Buf> = match op {
                StepOp::Gemm { a, b, c, bias, .. } => [Some(a), Some(b), Some(c), bias]
                    .into_iter()
                    .flatten()
                    .collect(),
                StepOp::Xent {
                    logits,
                    labels,
                    dlogits,
                    loss,
                    ..
                } => vec![logits, labels, dlogits, loss],
                StepOp::ReluBwdColsum {
                    grad,
                    act,
                    bias_grad,
                    ..
                } => [Some(grad), act, Some(bias_grad)]
                    .into_iter()
                    .flatten()
                    .collect(),
                StepOp::Sgd {
                    param, vel, grad, ..
                } => vec![param, vel, grad],
            };
            for b in used {
                assert!(
                    have.contains(&b) || matches!(b, Buf::XSlot | Buf::YSlot),
                    "{b:?} is not allocated"
                );
            }
        }
    }
}

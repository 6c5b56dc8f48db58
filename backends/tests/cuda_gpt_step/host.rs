//! Executes the train-gpt plan (`backends::gpu::gpt_plan`) on the host in f64, op by op with the
//! semantics each kernel and cuBLASLt call documents, over memory laid out as on the device
//! (views at their offsets, batched GEMMs at their strides), and requires kernels::gpt_ref's
//! loss trajectory. A wrong operand, transpose, stride, offset or update order changes the
//! losses.

use std::collections::BTreeMap;

use kernels::gpt::{
    TrainGpt, ADAM_EPS, BATCH_POOL, BETA1, BETA2, LEARNING_RATE, LN_EPS, WEIGHT_DECAY,
};
use kernels::gpt_ref::reference_losses;
use kernels::tensor::find;
use kernels::DType;

use backends::gpu::gpt_plan::{
    buffers, device_bytes, param_offsets, step_plan, Buf, Dims, StepOp, Views,
};
use backends::gpu::layout::Epilogue;

use super::gpt;

const GELU_C: f64 = 0.797_884_560_802_865_4;

struct Host {
    p: TrainGpt,
    views: Views,
    mem: BTreeMap<Buf, Vec<f64>>,
    ids: Vec<f64>,
    targets: Vec<f64>,
    step: usize,
}

impl Host {
    /// (base buffer, offset) of a buffer or view.
    fn at(&self, b: Buf) -> (Buf, usize) {
        self.views.view(b).unwrap_or((b, 0))
    }

    /// `len` elements of `b` from its start.
    fn read(&self, b: Buf, len: usize) -> Vec<f64> {
        match b {
            Buf::Ids => return self.ids.clone(),
            Buf::Targets => return self.targets.clone(),
            _ => {}
        }
        let (base, off) = self.at(b);
        let m = self
            .mem
            .get(&base)
            .unwrap_or_else(|| panic!("{base:?} is not allocated"));
        assert!(
            off + len <= m.len(),
            "{b:?}: {len} elements at {off} overrun {}",
            m.len()
        );
        m[off..off + len].to_vec()
    }

    fn write(&mut self, b: Buf, data: &[f64]) {
        let (base, off) = self.at(b);
        let m = self
            .mem
            .get_mut(&base)
            .unwrap_or_else(|| panic!("{base:?} is not allocated"));
        assert!(off + data.len() <= m.len(), "{b:?} overrun");
        m[off..off + data.len()].copy_from_slice(data);
    }

    fn exec(&mut self, op: &StepOp) {
        let dm = Dims::of(&self.p);
        match *op {
            StepOp::Zero(b) => {
                let len = self.mem[&b].len();
                self.write(b, &vec![0.0; len]);
            }
            StepOp::Gemm {
                shape: s,
                batch,
                epilogue,
                a,
                b,
                c,
                bias,
                add,
                ..
            } => {
                let (m, n, k) = (s.m as usize, s.n as usize, s.k as usize);
                let (count, sa, sb, sc) = batch
                    .map(|x| {
                        (
                            x.count as usize,
                            x.stride_a as usize,
                            x.stride_b as usize,
                            x.stride_c as usize,
                        )
                    })
                    .unwrap_or((1, 0, 0, 0));
                let av = self.read(a, (count - 1) * sa + m * k);
                let bv = self.read(b, (count - 1) * sb + k * n);
                let bias_v = bias.map(|x| self.read(x, n));
                assert_eq!(bias.is_some(), epilogue == Epilogue::Bias, "{op:?}");
                let add_v = add.map(|x| self.read(x, (count - 1) * sc + m * n));
                let mut out = self.read(c, (count - 1) * sc + m * n);
                for bi in 0..count {
                    let (a0, b0, c0) = (bi * sa, bi * sb, bi * sc);
                    for i in 0..m {
                        for j in 0..n {
                            let mut acc = 0.0;
                            for l in 0..k {
                                let x = if s.trans_a {
                                    av[a0 + l * m + i]
                                } else {
                                    av[a0 + i * k + l]
                                };
                                let y = if s.trans_b {
                                    bv[b0 + j * k + l]
                                } else {
                                    bv[b0 + l * n + j]
                                };
                                acc += x * y;
                            }
                            if let Some(bb) = &bias_v {
                                acc += bb[j];
                            }
                            if let Some(ad) = &add_v {
                                acc += ad[c0 + i * n + j];
                            }
                            out[c0 + i * n + j] = acc;
                        }
                    }
                }
                self.write(c, &out);
            }
            StepOp::EmbedFwd { rows, seq, d } => {
                let wte = self.read(Buf::Param(0), dm.v * d);
                let wpe = self.read(Buf::Param(1), seq * d);
                let mut x = vec![0.0; rows * d];
                for r in 0..rows {
                    let id = self.ids[r] as usize;
                    for c in 0..d {
                        x[r * d + c] = wte[id * d + c] + wpe[(r % seq) * d + c];
                    }
                }
                self.write(Buf::Resid(0), &x);
            }
            StepOp::EmbedBwd {
                rows,
                batch,
                seq,
                d,
            } => {
                let dx = self.read(Buf::DX, rows * d);
                let mut gw = self.read(Buf::Grad(0), dm.v * d);
                let mut gp = self.read(Buf::Grad(1), seq * d);
                for r in 0..rows {
                    let id = self.ids[r] as usize;
                    for c in 0..d {
                        gw[id * d + c] += dx[r * d + c];
                    }
                }
                for t in 0..seq {
                    for c in 0..d {
                        gp[t * d + c] += (0..batch).map(|b| dx[(b * seq + t) * d + c]).sum::<f64>();
                    }
                }
                self.write(Buf::Grad(0), &gw);
                self.write(Buf::Grad(1), &gp);
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
            } => {
                let (xv, gv, bv) = (self.read(x, rows * d), self.read(g, d), self.read(b, d));
                let (mut yv, mut mu, mut rs) =
                    (vec![0.0; rows * d], vec![0.0; rows], vec![0.0; rows]);
                for r in 0..rows {
                    let row = &xv[r * d..(r + 1) * d];
                    mu[r] = row.iter().sum::<f64>() / d as f64;
                    let var = row.iter().map(|v| (v - mu[r]).powi(2)).sum::<f64>() / d as f64;
                    rs[r] = 1.0 / (var + LN_EPS).sqrt();
                    for c in 0..d {
                        yv[r * d + c] = (row[c] - mu[r]) * rs[r] * gv[c] + bv[c];
                    }
                }
                self.write(y, &yv);
                self.write(mean, &mu);
                self.write(rstd, &rs);
            }
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
            } => {
                let (dyv, xv, gv) = (
                    self.read(dy, rows * d),
                    self.read(x, rows * d),
                    self.read(g, d),
                );
                let (mu, rs) = (self.read(mean, rows), self.read(rstd, rows));
                let mut out = if accumulate {
                    self.read(dx, rows * d)
                } else {
                    vec![0.0; rows * d]
                };
                for r in 0..rows {
                    let xh: Vec<f64> = (0..d).map(|c| (xv[r * d + c] - mu[r]) * rs[r]).collect();
                    let h: Vec<f64> = (0..d).map(|c| dyv[r * d + c] * gv[c]).collect();
                    let mh = h.iter().sum::<f64>() / d as f64;
                    let mhx = h.iter().zip(&xh).map(|(a, b)| a * b).sum::<f64>() / d as f64;
                    for c in 0..d {
                        out[r * d + c] += rs[r] * (h[c] - mh - xh[c] * mhx);
                    }
                }
                self.write(dx, &out);
            }
            StepOp::LnBwdParams {
                dy,
                x,
                mean,
                rstd,
                dg,
                db,
                rows,
                d,
            } => {
                let (dyv, xv) = (self.read(dy, rows * d), self.read(x, rows * d));
                let (mu, rs) = (self.read(mean, rows), self.read(rstd, rows));
                let (mut gg, mut gb) = (self.read(dg, d), self.read(db, d));
                for r in 0..rows {
                    for c in 0..d {
                        gg[c] += dyv[r * d + c] * (xv[r * d + c] - mu[r]) * rs[r];
                        gb[c] += dyv[r * d + c];
                    }
                }
                self.write(dg, &gg);
                self.write(db, &gb);
            }
            StepOp::ColSum {
                grad,
                bias_grad,
                rows,
                cols,
            } => {
                let gv = self.read(grad, rows * cols);
                let mut s = self.read(bias_grad, cols);
                for (i, v) in gv.iter().enumerate() {
                    s[i % cols] += v;
                }
                self.write(bias_grad, &s);
            }
            StepOp::GeluFwd { u, out, n } => {
                let o: Vec<f64> = self
                    .read(u, n)
                    .iter()
                    .map(|&z| 0.5 * z * (1.0 + (GELU_C * (z + 0.044715 * z * z * z)).tanh()))
                    .collect();
                self.write(out, &o);
            }
            StepOp::GeluBwd { dout, u, du, n } => {
                let (g, uv) = (self.read(dout, n), self.read(u, n));
                let o: Vec<f64> = g
                    .iter()
                    .zip(&uv)
                    .map(|(&g, &z)| {
                        let th = (GELU_C * (z + 0.044715 * z * z * z)).tanh();
                        g * (0.5 * (1.0 + th)
                            + 0.5 * z * (1.0 - th * th) * GELU_C * (1.0 + 3.0 * 0.044715 * z * z))
                    })
                    .collect();
                self.write(du, &o);
            }
            StepOp::SplitHeads {
                src,
                dst,
                parts,
                inverse,
            } => {
                let (b, t, h, hd) = (dm.b, dm.t, dm.h, dm.hd);
                let total = parts * b * t * h * hd;
                let sv = self.read(src, total);
                let mut o = vec![0.0; total];
                for pi in 0..parts {
                    for bi in 0..b {
                        for ti in 0..t {
                            for hi in 0..h {
                                for e in 0..hd {
                                    let merged = (((bi * t + ti) * parts + pi) * h + hi) * hd + e;
                                    let split = (((pi * b + bi) * h + hi) * t + ti) * hd + e;
                                    if inverse {
                                        o[merged] = sv[split];
                                    } else {
                                        o[split] = sv[merged];
                                    }
                                }
                            }
                        }
                    }
                }
                self.write(dst, &o);
            }
            StepOp::CausalSoftmax {
                s,
                p,
                rows,
                seq,
                scale,
            } => {
                let sv = self.read(s, rows * seq);
                let mut o = vec![0.0; rows * seq];
                for r in 0..rows {
                    let i = r % seq;
                    let row = &sv[r * seq..r * seq + i + 1];
                    let mx = row
                        .iter()
                        .map(|x| x * scale)
                        .fold(f64::NEG_INFINITY, f64::max);
                    let lse = mx + row.iter().map(|x| (x * scale - mx).exp()).sum::<f64>().ln();
                    for j in 0..=i {
                        o[r * seq + j] = (row[j] * scale - lse).exp();
                    }
                }
                self.write(p, &o);
            }
            StepOp::SoftmaxBwd {
                p,
                dp,
                rows,
                seq,
                scale,
            } => {
                let (pv, dv) = (self.read(p, rows * seq), self.read(dp, rows * seq));
                let mut o = vec![0.0; rows * seq];
                for r in 0..rows {
                    let i = r % seq;
                    let dd: f64 = (0..=i).map(|j| pv[r * seq + j] * dv[r * seq + j]).sum();
                    for j in 0..=i {
                        o[r * seq + j] = scale * pv[r * seq + j] * (dv[r * seq + j] - dd);
                    }
                }
                self.write(p, &o);
            }
            StepOp::Xent { rows, classes } => {
                let lg = self.read(Buf::Logits, rows * classes);
                let mut g = vec![0.0; rows * classes];
                let mut total = 0.0;
                for r in 0..rows {
                    let row = &lg[r * classes..(r + 1) * classes];
                    let mx = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let lse = mx + row.iter().map(|v| (v - mx).exp()).sum::<f64>().ln();
                    let y = self.targets[r] as usize;
                    total += (lse - row[y]) / rows as f64;
                    for j in 0..classes {
                        g[r * classes + j] =
                            ((row[j] - lse).exp() - f64::from(j == y)) / rows as f64;
                    }
                }
                self.write(Buf::DLogits, &g);
                let l = self.read(Buf::Loss, 1)[0];
                self.write(Buf::Loss, &[l + total]);
            }
            StepOp::AdamW { n } => {
                let t = (self.step + 1) as i32;
                let (c1, c2) = (1.0 - BETA1.powi(t), 1.0 - BETA2.powi(t));
                let g = self.read(Buf::Grads, n);
                let (mut pv, mut m, mut v) = (
                    self.read(Buf::Params, n),
                    self.read(Buf::M, n),
                    self.read(Buf::V, n),
                );
                for i in 0..n {
                    m[i] = BETA1 * m[i] + (1.0 - BETA1) * g[i];
                    v[i] = BETA2 * v[i] + (1.0 - BETA2) * g[i] * g[i];
                    let upd = (m[i] / c1) / ((v[i] / c2).sqrt() + ADAM_EPS);
                    pv[i] -= LEARNING_RATE * (upd + WEIGHT_DECAY * pv[i]);
                }
                self.write(Buf::Params, &pv);
                self.write(Buf::M, &m);
                self.write(Buf::V, &v);
            }
        }
    }
}

/// Runs `steps` steps of the plan on the host; returns the losses and the final memory.
fn run_plan(p: &TrainGpt, steps: usize) -> (Vec<f64>, BTreeMap<Buf, Vec<f64>>) {
    let inputs = p.inputs(DType::F32, 5);
    let mut h = Host {
        p: *p,
        views: Views::of(p),
        mem: buffers(p)
            .into_iter()
            .map(|(b, n)| (b, vec![f64::NAN; n]))
            .collect(),
        ids: Vec::new(),
        targets: Vec::new(),
        step: 0,
    };
    // Padding and moments start at zero, as the device's zeroed allocations do.
    for b in [Buf::Params, Buf::M, Buf::V] {
        h.mem.get_mut(&b).unwrap().iter_mut().for_each(|x| *x = 0.0);
    }
    let offs = param_offsets(p).0;
    for (i, (name, _)) in p.param_specs().iter().enumerate() {
        let data: Vec<f64> = find(&inputs, name)
            .as_f32()
            .iter()
            .map(|&x| x as f64)
            .collect();
        h.mem.get_mut(&Buf::Params).unwrap()[offs[i]..offs[i] + data.len()].copy_from_slice(&data);
    }
    let tokens = find(&inputs, "tokens").as_i32();
    let (b, t) = (p.batch as usize, p.seq as usize);
    let plan = step_plan(p);
    let mut losses = Vec::new();
    for step in 0..steps {
        let slot = &tokens[(step % BATCH_POOL) * b * (t + 1)..][..b * (t + 1)];
        h.ids = slot
            .chunks(t + 1)
            .flat_map(|s| s[..t].iter().map(|&x| x as f64))
            .collect();
        h.targets = slot
            .chunks(t + 1)
            .flat_map(|s| s[1..].iter().map(|&x| x as f64))
            .collect();
        h.step = step;
        for op in &plan {
            h.exec(op);
        }
        losses.push(h.mem[&Buf::Loss][0]);
    }
    (losses, h.mem)
}

#[test]
fn the_plan_reproduces_the_reference_trajectory() {
    for p in [
        gpt(8, 2, 2, 5, 11, 3),
        gpt(12, 1, 3, 4, 7, 2),
        gpt(6, 3, 1, 3, 5, 1),
    ] {
        let steps = 5; // more than BATCH_POOL: slot reuse is covered
        let (got, mem) = run_plan(&p, steps);
        let want = reference_losses(&p, &p.inputs(DType::F32, 5), steps);
        assert_eq!(got.len(), steps);
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-10 * w.abs(),
                "{p:?}: {got:?} vs {want:?}"
            );
        }
        assert!(
            want[steps - 1] < want[0],
            "{want:?}: the model should learn"
        );
        // Padding between parameters stays zero through the updates.
        let (offs, total) = param_offsets(&p);
        let params = &mem[&Buf::Params];
        for (i, (_, shape)) in p.param_specs().iter().enumerate() {
            let end = offs.get(i + 1).copied().unwrap_or(total);
            let len: usize = shape.iter().product();
            assert!(params[offs[i] + len..end].iter().all(|&x| x == 0.0));
        }
    }
}

#[test]
fn every_buffer_is_written_before_it_is_read_and_nothing_is_left_nan() {
    // Buffers start as NaN in run_plan; a read of an unwritten region would make the loss NaN.
    let p = gpt(8, 2, 2, 5, 11, 3);
    let (losses, mem) = run_plan(&p, 1);
    assert!(losses[0].is_finite());
    for b in [Buf::Params, Buf::M, Buf::V, Buf::Grads] {
        assert!(mem[&b].iter().all(|x| x.is_finite()), "{b:?}");
    }
}

#[test]
fn device_bytes_counts_every_buffer() {
    // d 768, 12 layers, seq 2048, batch 4, vocab 32768 in bf16: the standard suite's largest.
    let p = gpt(768, 12, 12, 2048, 32768, 4);
    let gib = device_bytes(&p, 2) as f64 / (1u64 << 30) as f64;
    // 16·d activations per token per layer, logits twice, scores once in f32 and once in bf16.
    let (n, d, l) = (8192.0, 768.0, 12.0);
    let floor = (2.0 * 16.0 * d * l * n + 4.0 * n * 32768.0 + 6.0 * 48.0 * 2048.0 * 2048.0)
        / (1u64 << 30) as f64;
    assert!(
        gib > floor && gib < floor + 3.0,
        "{gib} GiB vs floor {floor}"
    );
}

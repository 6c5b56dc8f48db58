//! CPU train-mlp with candle's autograd: forward, `backward()`, then SGD with momentum applied
//! to the parameter `Var`s, exactly the step `kernels::mlp` defines. Each `run` is one step
//! and records its loss, so the loop really trains and the trajectory can be checked.

use candle_core::{DType as CDType, Device, Tensor, Var, D};
use kernels::mlp::{TrainMlp, BATCH_POOL, LEARNING_RATE, MOMENTUM};
use kernels::tensor::find;
use kernels::{DType, HostTensor, Produced};

use super::{candle_dtype, to_candle};
use crate::{BackendError, Prepared};

pub struct CandleMlp {
    params: Vec<Var>,
    velocity: Vec<Tensor>,
    batches: Vec<(Tensor, Tensor)>,
    layers: usize,
    step: usize,
    losses: Vec<f64>,
}

impl CandleMlp {
    pub fn new(p: TrainMlp, dtype: DType, inputs: &[HostTensor]) -> Result<Self, BackendError> {
        let params = p
            .param_names()
            .iter()
            .map(|n| Ok(Var::from_tensor(&to_candle(find(inputs, n), dtype)?)?))
            .collect::<Result<Vec<_>, BackendError>>()?;
        let velocity = params
            .iter()
            .map(|v| v.as_tensor().zeros_like())
            .collect::<Result<Vec<_>, _>>()?;
        let (b, w, c) = (p.batch as usize, p.width as usize, p.classes as usize);
        let x = to_candle(find(inputs, "x"), dtype)?;
        let y = find(inputs, "y").as_i32();
        let batches = (0..BATCH_POOL)
            .map(|slot| {
                let mut onehot = vec![0f32; b * c];
                for (r, &label) in y[slot * b..(slot + 1) * b].iter().enumerate() {
                    onehot[r * c + label as usize] = 1.0;
                }
                let onehot = Tensor::from_vec(onehot, (b, c), &Device::Cpu)?
                    .to_dtype(candle_dtype(dtype))?;
                Ok((x.get(slot)?.reshape((b, w))?, onehot))
            })
            .collect::<Result<Vec<_>, BackendError>>()?;
        Ok(CandleMlp {
            params,
            velocity,
            batches,
            layers: p.layers as usize,
            step: 0,
            losses: Vec::new(),
        })
    }

    fn loss(&self, x: &Tensor, onehot: &Tensor) -> Result<Tensor, BackendError> {
        let p = &self.params;
        let mut h = x.clone();
        for i in 0..self.layers {
            h = h
                .matmul(p[2 * i].as_tensor())?
                .broadcast_add(p[2 * i + 1].as_tensor())?
                .relu()?;
        }
        let l = self.layers;
        let logits = h
            .matmul(p[2 * l].as_tensor())?
            .broadcast_add(p[2 * l + 1].as_tensor())?
            .to_dtype(CDType::F32)?;
        // log-sum-exp with a detached shift (the result does not depend on it)
        let max = logits.max_keepdim(D::Minus1)?.detach();
        let lse = (logits
            .broadcast_sub(&max)?
            .exp()?
            .sum_keepdim(D::Minus1)?
            .log()?
            + max)?;
        let picked = (logits * onehot.to_dtype(CDType::F32)?)?.sum_keepdim(D::Minus1)?;
        Ok((lse - picked)?.mean_all()?)
    }
}

impl Prepared for CandleMlp {
    fn run(&mut self) -> Result<Option<f64>, BackendError> {
        let (x, onehot) = &self.batches[self.step % BATCH_POOL];
        let loss = self.loss(x, onehot)?;
        let grads = loss.backward()?;
        for (var, vel) in self.params.iter().zip(self.velocity.iter_mut()) {
            let g = grads
                .get(var.as_tensor())
                .ok_or_else(|| BackendError::Point("a parameter got no gradient".into()))?;
            *vel = ((&*vel * MOMENTUM)? + g)?;
            var.set(&(var.as_tensor() - (&*vel * LEARNING_RATE)?)?)?;
        }
        self.losses.push(loss.to_scalar::<f32>()? as f64);
        self.step += 1;
        Ok(None)
    }

    fn output(&mut self) -> Result<Produced, BackendError> {
        Ok(Produced::Losses(self.losses.clone()))
    }
}

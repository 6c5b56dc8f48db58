//! CPU matmul: candle's (gemm crate) for every dtype, or OpenBLAS `cblas_sgemm` for f32.

use candle_core::Tensor;
use kernels::matmul::Matmul;
use kernels::tensor::find;
use kernels::{DType, HostTensor, Produced};

use super::{to_candle, to_f32_vec, Blas};
use crate::{BackendError, Prepared};

pub struct CandleMatmul {
    a: Tensor,
    b: Tensor,
    c: Option<Tensor>,
}

impl CandleMatmul {
    pub fn new(dtype: DType, inputs: &[HostTensor]) -> Result<Self, BackendError> {
        Ok(CandleMatmul {
            a: to_candle(find(inputs, "a"), dtype)?,
            b: to_candle(find(inputs, "b"), dtype)?,
            c: None,
        })
    }
}

impl Prepared for CandleMatmul {
    fn run(&mut self) -> Result<Option<f64>, BackendError> {
        self.c = Some(self.a.matmul(&self.b)?);
        Ok(None)
    }

    fn output(&mut self) -> Result<Produced, BackendError> {
        if self.c.is_none() {
            self.run()?;
        }
        Ok(Produced::Tensor(to_f32_vec(
            self.c.as_ref().expect("set by run"),
        )?))
    }
}

pub struct BlasMatmul<'a> {
    blas: &'a Blas,
    p: Matmul,
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

impl<'a> BlasMatmul<'a> {
    pub fn new(blas: &'a Blas, p: Matmul, inputs: &[HostTensor]) -> Self {
        BlasMatmul {
            blas,
            p,
            a: find(inputs, "a").as_f32().to_vec(),
            b: find(inputs, "b").as_f32().to_vec(),
            c: vec![0.0; (p.m * p.n) as usize],
        }
    }
}

impl Prepared for BlasMatmul<'_> {
    fn run(&mut self) -> Result<Option<f64>, BackendError> {
        let (m, n, k) = (self.p.m as usize, self.p.n as usize, self.p.k as usize);
        self.blas
            .sgemm(m, n, k, &self.a, &self.b, &mut self.c)
            .map_err(BackendError::Point)?;
        Ok(None)
    }

    fn output(&mut self) -> Result<Produced, BackendError> {
        self.run()?;
        Ok(Produced::Tensor(self.c.clone()))
    }
}

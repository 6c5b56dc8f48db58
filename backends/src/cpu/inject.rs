//! Fault injection for end-to-end tests of the correctness gate through the real binary:
//! `BENCH_CPU_INJECT=wrong-output` perturbs one element of every output (and one loss of
//! every trajectory), `BENCH_CPU_INJECT=nan` puts a NaN there. The setting is recorded in the
//! run's provenance (backend.extra.fault_injection and env).

use kernels::Produced;

use crate::{BackendError, OneOff, Prepared};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    WrongOutput,
    Nan,
}

impl Fault {
    pub fn from_env() -> Result<Option<Fault>, String> {
        match std::env::var("BENCH_CPU_INJECT").as_deref() {
            Err(_) | Ok("") => Ok(None),
            Ok("wrong-output") => Ok(Some(Fault::WrongOutput)),
            Ok("nan") => Ok(Some(Fault::Nan)),
            Ok(other) => Err(format!(
                "BENCH_CPU_INJECT={other}: use wrong-output or nan (a test aid), or unset it"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Fault::WrongOutput => "wrong-output",
            Fault::Nan => "nan",
        }
    }
}

/// A prepared point whose output is corrupted as the fault says.
pub struct Faulty<'a> {
    pub inner: Box<dyn Prepared + 'a>,
    pub fault: Fault,
}

impl Prepared for Faulty<'_> {
    fn run(&mut self) -> Result<Option<f64>, BackendError> {
        self.inner.run()
    }

    fn output(&mut self) -> Result<Produced, BackendError> {
        Ok(match self.inner.output()? {
            Produced::Tensor(mut v) => {
                if let Some(x) = v.get_mut(0) {
                    *x = match self.fault {
                        Fault::WrongOutput => *x + 1.0 + x.abs(),
                        Fault::Nan => f32::NAN,
                    };
                }
                Produced::Tensor(v)
            }
            Produced::Losses(mut l) => {
                if let Some(x) = l.last_mut() {
                    *x = match self.fault {
                        Fault::WrongOutput => *x * 1.5 + 0.1,
                        Fault::Nan => f64::NAN,
                    };
                }
                Produced::Losses(l)
            }
        })
    }

    fn timer(&self) -> &'static str {
        self.inner.timer()
    }

    fn one_off(&self) -> OneOff {
        self.inner.one_off()
    }
}

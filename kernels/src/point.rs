//! A point: one workload at one set of parameters and one dtype, the unit that is prepared,
//! checked, timed and recorded. Its id (`matmul/m=2048,n=2048,k=2048/bf16`) pairs like-for-like
//! points across runs from different machines, so it is built only here.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::attention::Attention;
use crate::check::{check_losses, check_output, CheckResult, Reference};
use crate::dtype::DType;
use crate::gpt::TrainGpt;
use crate::infer::{Decode, Decoder, Prefill};
use crate::matmul::Matmul;
use crate::mlp::TrainMlp;
use crate::tensor::{HostTensor, TensorSpec};

/// The kinds of workload, by their command-line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkloadKind {
    Matmul,
    Attention,
    TrainMlp,
    TrainGpt,
    Prefill,
    Decode,
}

impl WorkloadKind {
    pub const ALL: [WorkloadKind; 6] = [
        WorkloadKind::Matmul,
        WorkloadKind::Attention,
        WorkloadKind::TrainMlp,
        WorkloadKind::TrainGpt,
        WorkloadKind::Prefill,
        WorkloadKind::Decode,
    ];

    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Matmul => "matmul",
            WorkloadKind::Attention => "attention",
            WorkloadKind::TrainMlp => "train-mlp",
            WorkloadKind::TrainGpt => "train-gpt",
            WorkloadKind::Prefill => "prefill",
            WorkloadKind::Decode => "decode",
        }
    }

    /// Parameter names in the order they appear in point ids.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            WorkloadKind::Matmul => Matmul::KEYS,
            WorkloadKind::Attention => Attention::KEYS,
            WorkloadKind::TrainMlp => TrainMlp::KEYS,
            WorkloadKind::TrainGpt => TrainGpt::KEYS,
            WorkloadKind::Prefill => Prefill::KEYS,
            WorkloadKind::Decode => Decode::KEYS,
        }
    }

    /// One line for `bench list`.
    pub fn summary(self) -> &'static str {
        match self {
            WorkloadKind::Matmul => "C = A·B; FLOPs 2·m·n·k",
            WorkloadKind::Attention => {
                "softmax(Q·Kᵀ/√d, causal=0|1)·V; FLOPs 4·b·h·s²·d, halved when causal"
            }
            WorkloadKind::TrainMlp => {
                "one SGD-momentum step of a ReLU MLP classifier; FLOPs ≈ 6·parameters·batch"
            }
            WorkloadKind::TrainGpt => {
                "one AdamW step of a decoder-only transformer; FLOPs/token = 6·N + 12·layers·d_model·seq"
            }
            WorkloadKind::Prefill => {
                "train-gpt's decoder over batch prompts, writing the KV cache; items: input tokens"
            }
            WorkloadKind::Decode => {
                "one generation step over a KV cache of context positions; items: output tokens"
            }
        }
    }

    pub fn is_training(self) -> bool {
        matches!(self, WorkloadKind::TrainMlp | WorkloadKind::TrainGpt)
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WorkloadKind {
    type Err = PointError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WorkloadKind::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| PointError::UnknownWorkload(s.to_string()))
    }
}

/// A workload with its typed parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Matmul(Matmul),
    Attention(Attention),
    TrainMlp(TrainMlp),
    TrainGpt(TrainGpt),
    Prefill(Prefill),
    Decode(Decode),
}

/// The most elements a point may hold or move (2^50, over a petabyte in f32): far beyond any
/// device, and small enough that no size bench computes from the parameters overflows `u64`.
pub const MAX_ELEMENTS: f64 = (1u64 << 50) as f64;

/// The most layers a workload may have.
pub const MAX_LAYERS: u64 = 1024;

/// Problems building a point from user-supplied values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PointError {
    #[error("unknown workload '{0}': use one of matmul, attention, train-mlp, train-gpt, prefill, decode")]
    UnknownWorkload(String),
    #[error("workload {workload} has no parameter '{key}': its parameters are {valid}")]
    UnknownParam {
        workload: &'static str,
        key: String,
        valid: String,
    },
    #[error("workload {workload} needs parameter '{key}'")]
    MissingParam { workload: &'static str, key: String },
    #[error("{workload} point {params} is too large: about {elements} elements of inputs, weights, state and outputs, over the 2^50 (1.1e15) bench accepts, beyond any device's memory: use smaller parameters")]
    TooLarge {
        workload: &'static str,
        params: String,
        /// The bound, as `1.2e16`.
        elements: String,
    },
    #[error("parameter {key}={value} of {workload} is out of range: {why}")]
    OutOfRange {
        workload: &'static str,
        key: String,
        value: u64,
        why: &'static str,
    },
}

/// One workload point: what is computed and in which dtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub workload: Workload,
    pub dtype: DType,
}

impl Point {
    /// Builds a point from named parameters, checking names and ranges.
    pub fn new(
        kind: WorkloadKind,
        params: &BTreeMap<String, u64>,
        dtype: DType,
    ) -> Result<Point, PointError> {
        let keys = kind.keys();
        if let Some(bad) = params.keys().find(|k| !keys.contains(&k.as_str())) {
            return Err(PointError::UnknownParam {
                workload: kind.name(),
                key: bad.clone(),
                valid: keys.join(", "),
            });
        }
        let get = |key: &str| -> Result<u64, PointError> {
            params
                .get(key)
                .copied()
                .ok_or_else(|| PointError::MissingParam {
                    workload: kind.name(),
                    key: key.to_string(),
                })
        };
        let range = |key: &str, value: u64, ok: bool, why: &'static str| {
            if ok {
                Ok(())
            } else {
                Err(PointError::OutOfRange {
                    workload: kind.name(),
                    key: key.to_string(),
                    value,
                    why,
                })
            }
        };
        let positive = |key: &str| -> Result<u64, PointError> {
            let v = get(key)?;
            range(key, v, v >= 1, "must be at least 1")?;
            range(key, v, v <= 1 << 20, "must be at most 1048576")?;
            Ok(v)
        };
        // Every layer is its own tensors (and NEFF inputs): far beyond real models' ~100 layers
        // a point would be millions of tensors, however small each is.
        let layers = || -> Result<u64, PointError> {
            let v = positive("layers")?;
            range("layers", v, v <= MAX_LAYERS, "must be at most 1024")?;
            Ok(v)
        };
        let decoder = || -> Result<Decoder, PointError> {
            let (d_model, heads, vocab) =
                (positive("d_model")?, positive("heads")?, positive("vocab")?);
            range("heads", heads, d_model % heads == 0, "must divide d_model")?;
            range(
                "vocab",
                vocab,
                (2..=1 << 24).contains(&vocab),
                "must be between 2 and 16777216",
            )?;
            Ok(Decoder {
                d_model,
                layers: layers()?,
                heads,
                vocab,
            })
        };
        let workload = match kind {
            WorkloadKind::Matmul => Workload::Matmul(Matmul {
                m: positive("m")?,
                n: positive("n")?,
                k: positive("k")?,
            }),
            WorkloadKind::Attention => {
                let causal = get("causal")?;
                range("causal", causal, causal <= 1, "must be 0 or 1")?;
                Workload::Attention(Attention {
                    b: positive("b")?,
                    h: positive("h")?,
                    s: positive("s")?,
                    d: positive("d")?,
                    causal: causal == 1,
                })
            }
            WorkloadKind::TrainMlp => {
                let classes = positive("classes")?;
                range("classes", classes, classes >= 2, "needs at least 2 classes")?;
                Workload::TrainMlp(TrainMlp {
                    layers: layers()?,
                    width: positive("width")?,
                    batch: positive("batch")?,
                    classes,
                })
            }
            WorkloadKind::TrainGpt => {
                let (d_model, heads, vocab) =
                    (positive("d_model")?, positive("heads")?, positive("vocab")?);
                range("heads", heads, d_model % heads == 0, "must divide d_model")?;
                range(
                    "vocab",
                    vocab,
                    (2..=1 << 24).contains(&vocab),
                    "must be between 2 and 16777216",
                )?;
                Workload::TrainGpt(TrainGpt {
                    d_model,
                    layers: layers()?,
                    heads,
                    seq: positive("seq")?,
                    vocab,
                    batch: positive("batch")?,
                })
            }
            WorkloadKind::Prefill => Workload::Prefill(Prefill {
                model: decoder()?,
                batch: positive("batch")?,
                prompt: positive("prompt")?,
            }),
            WorkloadKind::Decode => Workload::Decode(Decode {
                model: decoder()?,
                batch: positive("batch")?,
                context: positive("context")?,
            }),
        };
        let point = Point { workload, dtype };
        let elements = point.elements_bound();
        if elements > MAX_ELEMENTS {
            let params: Vec<String> = point
                .params()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            return Err(PointError::TooLarge {
                workload: kind.name(),
                params: params.join(","),
                elements: format!("{elements:.1e}"),
            });
        }
        Ok(point)
    }

    /// An upper bound, in f64, on the elements a point holds or moves: inputs, weights,
    /// optimiser state, activations, KV cache and outputs. Every integer size the workloads
    /// compute (parameter counts, shapes, bytes) is within a small factor of it, so a point
    /// under [`MAX_ELEMENTS`] cannot overflow them.
    fn elements_bound(&self) -> f64 {
        let f = |v: u64| v as f64;
        let decoder = |m: &Decoder, batch: u64, positions: u64| {
            let (d, l) = (f(m.d_model), f(m.layers));
            l * (16.0 * d * d + 16.0 * d)
                + f(m.vocab) * d
                + f(positions) * d
                + f(batch) * f(positions) * (2.0 * l * d + 16.0 * d)
                + f(batch) * 8.0 * f(m.vocab)
        };
        match self.workload {
            Workload::Matmul(p) => f(p.m) * f(p.k) + f(p.k) * f(p.n) + f(p.m) * f(p.n),
            Workload::Attention(p) => 4.0 * f(p.b) * f(p.h) * f(p.s) * f(p.d),
            Workload::TrainMlp(p) => {
                let w = f(p.width);
                f(p.layers) * (w * w + w)
                    + (w + 1.0) * f(p.classes)
                    + f(p.batch) * (w * f(p.layers) + w + f(p.classes))
            }
            Workload::TrainGpt(p) => {
                let (d, l) = (f(p.d_model), f(p.layers));
                l * (16.0 * d * d + 16.0 * d)
                    + (f(p.vocab) + f(p.seq)) * d
                    + f(p.batch) * f(p.seq) * (16.0 * d * l + f(p.vocab))
            }
            Workload::Prefill(p) => decoder(&p.model, p.batch, p.prompt),
            Workload::Decode(p) => {
                decoder(&p.model, p.batch, p.context + crate::infer::DECODE_WINDOW)
            }
        }
    }

    pub fn kind(&self) -> WorkloadKind {
        match self.workload {
            Workload::Matmul(_) => WorkloadKind::Matmul,
            Workload::Attention(_) => WorkloadKind::Attention,
            Workload::TrainMlp(_) => WorkloadKind::TrainMlp,
            Workload::TrainGpt(_) => WorkloadKind::TrainGpt,
            Workload::Prefill(_) => WorkloadKind::Prefill,
            Workload::Decode(_) => WorkloadKind::Decode,
        }
    }

    /// Parameters in id order.
    pub fn params(&self) -> Vec<(&'static str, u64)> {
        match self.workload {
            Workload::Matmul(p) => vec![("m", p.m), ("n", p.n), ("k", p.k)],
            Workload::Attention(p) => vec![
                ("b", p.b),
                ("h", p.h),
                ("s", p.s),
                ("d", p.d),
                ("causal", p.causal as u64),
            ],
            Workload::TrainMlp(p) => vec![
                ("layers", p.layers),
                ("width", p.width),
                ("batch", p.batch),
                ("classes", p.classes),
            ],
            Workload::TrainGpt(p) => vec![
                ("d_model", p.d_model),
                ("layers", p.layers),
                ("heads", p.heads),
                ("seq", p.seq),
                ("vocab", p.vocab),
                ("batch", p.batch),
            ],
            Workload::Prefill(p) => {
                let mut v = decoder_params(&p.model);
                v.extend([("batch", p.batch), ("prompt", p.prompt)]);
                v
            }
            Workload::Decode(p) => {
                let mut v = decoder_params(&p.model);
                v.extend([("batch", p.batch), ("context", p.context)]);
                v
            }
        }
    }

    /// The stable id that pairs this point across runs.
    pub fn id(&self) -> String {
        let params: Vec<String> = self
            .params()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{}/{}/{}", self.kind(), params.join(","), self.dtype)
    }

    /// Floating-point operations per iteration.
    pub fn flops(&self) -> f64 {
        match self.workload {
            Workload::Matmul(p) => p.flops(),
            Workload::Attention(p) => p.flops(),
            Workload::TrainMlp(p) => p.flops(),
            Workload::TrainGpt(p) => p.flops(),
            Workload::Prefill(p) => p.flops(),
            Workload::Decode(p) => p.flops(),
        }
    }

    /// Bytes of memory traffic per iteration (compulsory traffic; see each workload).
    pub fn bytes(&self) -> f64 {
        match self.workload {
            Workload::Matmul(p) => p.bytes(self.dtype),
            Workload::Attention(p) => p.bytes(self.dtype),
            Workload::TrainMlp(p) => p.bytes(self.dtype),
            Workload::TrainGpt(p) => p.bytes(self.dtype),
            Workload::Prefill(p) => p.bytes(self.dtype),
            Workload::Decode(p) => p.bytes(self.dtype),
        }
    }

    /// Work items per iteration and their unit, for throughput and price per item.
    pub fn items(&self) -> (f64, &'static str) {
        match self.workload {
            Workload::Matmul(_) => (1.0, "matmuls"),
            Workload::Attention(p) => (p.tokens(), "tokens"),
            Workload::TrainMlp(p) => (p.batch as f64, "samples"),
            Workload::TrainGpt(p) => (p.tokens_per_step(), "tokens"),
            Workload::Prefill(p) => (p.tokens(), "tokens"),
            Workload::Decode(p) => (p.batch as f64, "tokens"),
        }
    }

    /// Seeded inputs for this point.
    pub fn inputs(&self, seed: u64) -> Vec<HostTensor> {
        match self.workload {
            Workload::Matmul(p) => p.inputs(self.dtype, seed),
            Workload::Attention(p) => p.inputs(self.dtype, seed),
            Workload::TrainMlp(p) => p.inputs(self.dtype, seed),
            Workload::TrainGpt(p) => p.inputs(self.dtype, seed),
            Workload::Prefill(p) => p.inputs(self.dtype, seed),
            Workload::Decode(p) => p.inputs(self.dtype, seed),
        }
    }

    /// Names, shapes and storage types of [`Point::inputs`], without making them.
    pub fn input_specs(&self) -> Vec<TensorSpec> {
        match self.workload {
            Workload::Matmul(p) => p.input_specs(self.dtype),
            Workload::Attention(p) => p.input_specs(self.dtype),
            Workload::TrainMlp(p) => p.input_specs(self.dtype),
            Workload::TrainGpt(p) => p.input_specs(self.dtype),
            Workload::Prefill(p) => p.input_specs(self.dtype),
            Workload::Decode(p) => p.input_specs(self.dtype),
        }
    }

    /// What one iteration yields for the check: the output tensor, or a training step's loss.
    pub fn output_specs(&self) -> Vec<TensorSpec> {
        match self.workload {
            Workload::Matmul(p) => p.output_specs(self.dtype),
            Workload::Attention(p) => p.output_specs(self.dtype),
            Workload::TrainMlp(p) => p.output_specs(self.dtype),
            Workload::TrainGpt(p) => p.output_specs(self.dtype),
            Workload::Prefill(p) => p.output_specs(self.dtype),
            Workload::Decode(p) => p.output_specs(self.dtype),
        }
    }

    /// Iterations the gate runs before reading the output: a training point's replayed steps,
    /// decode's [`crate::infer::DECODE_CHECK_STEPS`] (the second step attends over the first
    /// one's append); 0 for the rest (the gate runs one iteration).
    pub fn check_steps(&self) -> usize {
        match self.workload {
            Workload::TrainMlp(p) => p.check_steps(),
            Workload::TrainGpt(p) => p.check_steps(),
            Workload::Decode(_) => crate::infer::DECODE_CHECK_STEPS,
            _ => 0,
        }
    }

    pub fn tolerance(&self) -> f64 {
        match self.workload {
            Workload::Matmul(_) => Matmul::tolerance(self.dtype),
            Workload::Attention(_) => Attention::tolerance(self.dtype),
            Workload::TrainMlp(_) => TrainMlp::tolerance(self.dtype),
            Workload::TrainGpt(_) => TrainGpt::tolerance(self.dtype),
            Workload::Prefill(_) => Prefill::tolerance(self.dtype),
            Workload::Decode(_) => Decode::tolerance(self.dtype),
        }
    }

    /// The f64 reference: the output tensor, or for training the loss after each check step.
    pub fn reference(&self, inputs: &[HostTensor]) -> Expected {
        match self.workload {
            Workload::Matmul(p) => Expected::Tensor(p.reference(inputs)),
            Workload::Attention(p) => Expected::Tensor(p.reference(inputs)),
            Workload::TrainMlp(p) => Expected::Losses(p.reference_losses(inputs, p.check_steps())),
            Workload::TrainGpt(p) => Expected::Losses(crate::gpt_ref::reference_losses(
                &p,
                inputs,
                p.check_steps(),
            )),
            Workload::Prefill(p) => Expected::Tensor(p.reference(inputs)),
            Workload::Decode(p) => Expected::Tensor(p.reference(inputs)),
        }
    }

    /// The optimiser a training point uses, as recorded in result files.
    pub fn optimizer(&self) -> Option<&'static str> {
        match self.workload {
            Workload::TrainMlp(_) => Some(crate::mlp::OPTIMIZER),
            Workload::TrainGpt(_) => Some(crate::gpt::OPTIMIZER),
            _ => None,
        }
    }
}

fn decoder_params(m: &Decoder) -> Vec<(&'static str, u64)> {
    vec![
        ("d_model", m.d_model),
        ("layers", m.layers),
        ("heads", m.heads),
        ("vocab", m.vocab),
    ]
}

/// What a correct backend must produce.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    Tensor(Reference),
    Losses(Vec<f64>),
}

/// What a backend produced, for the check.
#[derive(Debug, Clone, PartialEq)]
pub enum Produced {
    Tensor(Vec<f32>),
    Losses(Vec<f64>),
}

impl Expected {
    /// The correctness gate for one point.
    pub fn check(&self, produced: &Produced, tolerance: f64) -> CheckResult {
        match (self, produced) {
            (Expected::Tensor(r), Produced::Tensor(o)) => check_output(o, r, tolerance),
            (Expected::Losses(r), Produced::Losses(l)) => check_losses(l, r, tolerance),
            _ => CheckResult {
                max_rel_err: f64::INFINITY,
                tolerance,
                passed: false,
                checked: 0,
                detail: Some("the backend returned the wrong kind of output".into()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(kv: &[(&str, u64)]) -> BTreeMap<String, u64> {
        kv.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn ids_are_stable_and_ordered() {
        let p = Point::new(
            WorkloadKind::Matmul,
            &params(&[("k", 3), ("m", 1), ("n", 2)]),
            DType::Bf16,
        )
        .unwrap();
        assert_eq!(p.id(), "matmul/m=1,n=2,k=3/bf16");
        let a = Point::new(
            WorkloadKind::Attention,
            &params(&[("b", 1), ("h", 2), ("s", 3), ("d", 4), ("causal", 1)]),
            DType::F16,
        )
        .unwrap();
        assert_eq!(a.id(), "attention/b=1,h=2,s=3,d=4,causal=1/f16");
        let kv = [
            ("vocab", 5),
            ("context", 9),
            ("d_model", 8),
            ("layers", 1),
            ("heads", 2),
            ("batch", 2),
        ];
        let d = Point::new(WorkloadKind::Decode, &params(&kv), DType::Bf16).unwrap();
        assert_eq!(
            d.id(),
            "decode/d_model=8,layers=1,heads=2,vocab=5,batch=2,context=9/bf16"
        );
        assert_eq!(d.check_steps(), crate::infer::DECODE_CHECK_STEPS);
        assert_eq!(d.items(), (2.0, "tokens"));
        let mut bad = params(&kv);
        bad.insert("heads".into(), 3);
        let e = Point::new(WorkloadKind::Decode, &bad, DType::Bf16).unwrap_err();
        assert!(e.to_string().contains("heads=3"), "{e}");
    }

    #[test]
    fn bad_params_are_named() {
        let e = Point::new(
            WorkloadKind::Matmul,
            &params(&[("m", 1), ("n", 1), ("q", 1)]),
            DType::F32,
        )
        .unwrap_err();
        assert!(e.to_string().contains("'q'") && e.to_string().contains("m, n, k"));
        let e = Point::new(
            WorkloadKind::Matmul,
            &params(&[("m", 1), ("n", 1)]),
            DType::F32,
        )
        .unwrap_err();
        assert!(e.to_string().contains("needs parameter 'k'"));
        let e = Point::new(
            WorkloadKind::Matmul,
            &params(&[("m", 0), ("n", 1), ("k", 1)]),
            DType::F32,
        )
        .unwrap_err();
        assert!(e.to_string().contains("m=0"));
        assert!("conv".parse::<WorkloadKind>().is_err());
    }

    #[test]
    fn points_too_large_to_size_are_refused_before_anything_overflows() {
        let max = 1 << 20;
        let huge = [
            (
                WorkloadKind::Attention,
                &[
                    ("b", max),
                    ("h", max),
                    ("s", max),
                    ("d", max),
                    ("causal", 1),
                ][..],
            ),
            (
                WorkloadKind::TrainMlp,
                &[
                    ("layers", 1024),
                    ("width", max),
                    ("batch", max),
                    ("classes", max),
                ],
            ),
            (
                WorkloadKind::TrainGpt,
                &[
                    ("d_model", max),
                    ("layers", 1024),
                    ("heads", 1),
                    ("seq", max),
                    ("vocab", max),
                    ("batch", max),
                ],
            ),
            (
                WorkloadKind::Decode,
                &[
                    ("d_model", max),
                    ("layers", 1024),
                    ("heads", 1),
                    ("vocab", max),
                    ("batch", max),
                    ("context", max),
                ],
            ),
        ];
        for (kind, p) in huge {
            let e = Point::new(kind, &params(p), DType::F32).unwrap_err();
            assert!(matches!(e, PointError::TooLarge { .. }), "{kind}: {e}");
            assert!(
                e.to_string().contains("too large") && e.to_string().contains(kind.name()),
                "{e}"
            );
        }
        // matmul's largest sizes stay inside the bound (3 * 2^40 elements)
        let big = params(&[("m", max), ("n", max), ("k", max)]);
        assert!(Point::new(WorkloadKind::Matmul, &big, DType::F32).is_ok());
        let deep = params(&[("layers", 1025), ("width", 4), ("batch", 3), ("classes", 2)]);
        let e = Point::new(WorkloadKind::TrainMlp, &deep, DType::F32).unwrap_err();
        assert!(e.to_string().contains("layers=1025"), "{e}");
    }

    #[test]
    fn input_specs_describe_the_inputs() {
        let pts = [
            (WorkloadKind::Matmul, &[("m", 3), ("n", 5), ("k", 4)][..]),
            (
                WorkloadKind::Attention,
                &[("b", 1), ("h", 2), ("s", 3), ("d", 4), ("causal", 1)],
            ),
            (
                WorkloadKind::TrainMlp,
                &[("layers", 2), ("width", 4), ("batch", 3), ("classes", 2)],
            ),
            (
                WorkloadKind::TrainGpt,
                &[
                    ("d_model", 8),
                    ("layers", 1),
                    ("heads", 2),
                    ("seq", 3),
                    ("vocab", 5),
                    ("batch", 2),
                ],
            ),
            (
                WorkloadKind::Prefill,
                &[
                    ("d_model", 8),
                    ("layers", 1),
                    ("heads", 2),
                    ("vocab", 5),
                    ("batch", 2),
                    ("prompt", 3),
                ],
            ),
            (
                WorkloadKind::Decode,
                &[
                    ("d_model", 8),
                    ("layers", 1),
                    ("heads", 2),
                    ("vocab", 5),
                    ("batch", 2),
                    ("context", 4),
                ],
            ),
        ];
        for (kind, kv) in pts {
            for d in DType::ALL {
                let p = Point::new(kind, &params(kv), d).unwrap();
                let made: Vec<TensorSpec> = p.inputs(1).iter().map(|t| t.spec(d)).collect();
                assert_eq!(made, p.input_specs(), "{}", p.id());
                assert!(!p.output_specs().is_empty());
            }
        }
    }

    #[test]
    fn mismatched_output_kind_fails_the_gate() {
        let e = Expected::Losses(vec![1.0]);
        assert!(!e.check(&Produced::Tensor(vec![1.0]), 1.0).passed);
    }
}

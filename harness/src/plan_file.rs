//! `bench plan --backend neuron --suite S --out plan.json`: the points of a suite (after
//! `--workload/--dtype/--param`) written as JSON for `scripts/neuron/build_neffs.py`, which
//! lowers each to HLO and compiles it to a NEFF ahead of the run, and for
//! `scripts/gpu/torch_reference.py` beside a GPU run. The plan carries each point's id (the
//! key of the NEFF manifest), workload, parameters and dtype, and the kernels crate's
//! metadata so that no script re-derives it: the inputs and outputs with names, shapes and
//! storage dtypes, FLOPs, bytes, items and their unit, and what the check compares; plus the
//! workload constants the lowering must share with the kernels crate (the optimiser's).

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use kernels::{Point, TensorSpec};
use serde::Serialize;

use crate::cli::PlanArgs;

pub const SCHEMA: &str = "bench.plan/1";

#[derive(Debug, Serialize)]
pub struct PlanFile {
    pub schema: &'static str,
    pub backend: String,
    pub suite: String,
    pub harness_version: String,
    pub git_commit: String,
    /// Per workload: constants its lowering must use (train-mlp: lr, momentum, batch_pool;
    /// prefill: ln_eps; decode: ln_eps and the window of positions the step cycles over).
    pub constants: BTreeMap<String, BTreeMap<String, f64>>,
    pub points: Vec<PlanPoint>,
}

#[derive(Debug, Serialize)]
pub struct PlanPoint {
    pub id: String,
    pub workload: String,
    pub params: BTreeMap<String, u64>,
    pub dtype: String,
    /// The seeded inputs (`bench --dump` writes their values), in the kernels crate's order.
    pub inputs: Vec<PlanTensor>,
    /// What one iteration yields for the check: the output tensor, or a training step's loss.
    pub outputs: Vec<PlanTensor>,
    /// Floating-point operations and compulsory bytes of memory traffic per iteration.
    pub flops: f64,
    pub bytes: f64,
    /// Work items per iteration and their unit (matmuls, tokens, samples).
    pub items: f64,
    pub item: String,
    pub check: PlanCheck,
}

/// A tensor's name, shape and storage dtype (f32, bf16, f16, fp8_e4m3, i32); floating
/// values are already rounded to the point's dtype.
#[derive(Debug, Serialize)]
pub struct PlanTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: String,
}

/// How bench judges the point: the output compared with the f64 reference, the tolerance, and
/// for training how many leading steps' losses the reference covers.
#[derive(Debug, Serialize)]
pub struct PlanCheck {
    pub output: String,
    pub tolerance: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
}

impl PlanPoint {
    pub fn of(p: &Point) -> PlanPoint {
        let tensors = |v: Vec<TensorSpec>| -> Vec<PlanTensor> {
            v.into_iter()
                .map(|t| PlanTensor {
                    name: t.name,
                    shape: t.shape,
                    dtype: t.elem.name().to_string(),
                })
                .collect()
        };
        let outputs = tensors(p.output_specs());
        let (items, item) = p.items();
        let steps = p.check_steps();
        PlanPoint {
            id: p.id(),
            workload: p.kind().name().to_string(),
            params: p
                .params()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            dtype: p.dtype.name().to_string(),
            inputs: tensors(p.input_specs()),
            check: PlanCheck {
                output: outputs.first().map(|t| t.name.clone()).unwrap_or_default(),
                tolerance: p.tolerance(),
                steps: (steps > 0).then_some(steps),
            },
            outputs,
            flops: p.flops(),
            bytes: p.bytes(),
            items,
            item: item.to_string(),
        }
    }
}

/// The plan for these arguments.
pub fn build(args: &PlanArgs) -> Result<PlanFile> {
    if args.backend != "neuron" && args.backend != "cuda" {
        bail!(
            "bench plan --backend {}: plans are for building NEFFs ahead of a run (--backend neuron) \
             or for the torch reference beside a GPU run (--backend cuda)",
            args.backend
        );
    }
    let (suite, points) = args.select.points()?;
    let mut constants = BTreeMap::new();
    constants.insert(
        "train-mlp".to_string(),
        BTreeMap::from([
            ("lr".to_string(), kernels::mlp::LEARNING_RATE),
            ("momentum".to_string(), kernels::mlp::MOMENTUM),
            ("batch_pool".to_string(), kernels::mlp::BATCH_POOL as f64),
        ]),
    );
    constants.insert(
        "train-gpt".to_string(),
        BTreeMap::from([
            ("lr".to_string(), kernels::gpt::LEARNING_RATE),
            ("beta1".to_string(), kernels::gpt::BETA1),
            ("beta2".to_string(), kernels::gpt::BETA2),
            ("eps".to_string(), kernels::gpt::ADAM_EPS),
            ("weight_decay".to_string(), kernels::gpt::WEIGHT_DECAY),
            ("ln_eps".to_string(), kernels::gpt::LN_EPS),
            ("batch_pool".to_string(), kernels::gpt::BATCH_POOL as f64),
        ]),
    );
    constants.insert(
        "prefill".to_string(),
        BTreeMap::from([("ln_eps".to_string(), kernels::gpt::LN_EPS)]),
    );
    constants.insert(
        "decode".to_string(),
        BTreeMap::from([
            ("ln_eps".to_string(), kernels::gpt::LN_EPS),
            ("window".to_string(), kernels::infer::DECODE_WINDOW as f64),
        ]),
    );
    let h = crate::provenance::harness();
    Ok(PlanFile {
        schema: SCHEMA,
        backend: args.backend.clone(),
        suite: suite.name().to_string(),
        harness_version: h.version,
        git_commit: h.git_commit,
        constants,
        points: points.iter().map(PlanPoint::of).collect(),
    })
}

/// Writes the plan file and says what to do next.
pub fn write(args: &PlanArgs) -> Result<()> {
    let plan = build(args)?;
    crate::store::write_json_atomic(&args.out, &plan)?;
    let next = if args.backend == "cuda" {
        format!(
            "python3 scripts/gpu/torch_reference.py --plan {} --out DIR (or scripts/gpu/verify.sh)",
            args.out.display()
        )
    } else {
        format!(
            "python3 scripts/neuron/build_neffs.py {} --out neffs --target trn2",
            args.out.display()
        )
    };
    eprintln!(
        "bench: wrote {} points to {}; next: {next}",
        plan.points.len(),
        args.out.display(),
    );
    Ok(())
}

//! `bench plan --backend neuron --suite S --out plan.json`: the points of a suite (after
//! `--workload/--dtype/--param`) written as JSON for `scripts/neuron/build_neffs.py`, which
//! lowers each to HLO and compiles it to a NEFF ahead of the run. The plan carries each
//! point's id (the key of the NEFF manifest), workload, parameters and dtype, plus the
//! workload constants the lowering must share with the kernels crate (the optimiser's).

use std::collections::BTreeMap;

use anyhow::{bail, Result};
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
    /// Per workload: constants its lowering must use (train-mlp: lr, momentum, batch_pool).
    pub constants: BTreeMap<String, BTreeMap<String, f64>>,
    pub points: Vec<PlanPoint>,
}

#[derive(Debug, Serialize)]
pub struct PlanPoint {
    pub id: String,
    pub workload: String,
    pub params: BTreeMap<String, u64>,
    pub dtype: String,
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
    let h = crate::provenance::harness();
    Ok(PlanFile {
        schema: SCHEMA,
        backend: args.backend.clone(),
        suite: suite.name().to_string(),
        harness_version: h.version,
        git_commit: h.git_commit,
        constants,
        points: points
            .iter()
            .map(|p| PlanPoint {
                id: p.id(),
                workload: p.kind().name().to_string(),
                params: p
                    .params()
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                dtype: p.dtype.name().to_string(),
            })
            .collect(),
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

//! Suites (quick, standard, full) as parameter grids per workload, and the user's narrowing
//! and overrides (`--workload`, `--dtype`, `--param KEY=V[,V..]`) turned into the list of
//! points to run. Every bad value is a [`PlanError`] that names it and says what to do.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use kernels::{DType, Point, PointError, WorkloadKind};

/// Decoder shapes of the inference workloads: (d_model, layers, heads, vocab).
type Shape = (u64, u64, u64, u64);
/// Quick: train-gpt's quick model.
const TINY: Shape = (64, 2, 4, 256);
/// GPT-2 small's blocks with a 32768 vocabulary: 110M parameters.
const GPT_110M: Shape = (768, 12, 12, 32768);
/// d_model 2048, 16 layers (Llama-3.2-1B's width and depth): 0.87B parameters; its decode KV
/// cache at batch 64 and context 8192 is 69 GB in bf16, one 80 GB device with the weights.
const CLASS_1B: Shape = (2048, 16, 16, 32768);

/// A prefill or decode grid: the decoder's shape, then `rest`.
fn decoder(kind: WorkloadKind, m: Shape, rest: &[(&str, &[u64])], dtypes: &[&str]) -> Grid {
    let shape: [(&str, &[u64]); 4] = [
        ("d_model", &[m.0]),
        ("layers", &[m.1]),
        ("heads", &[m.2]),
        ("vocab", &[m.3]),
    ];
    let values: Vec<(&str, &[u64])> = shape.into_iter().chain(rest.iter().copied()).collect();
    Grid::new(kind, &values, dtypes)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    Quick,
    Standard,
    Full,
}

impl Suite {
    pub const ALL: [Suite; 3] = [Suite::Quick, Suite::Standard, Suite::Full];

    pub fn name(self) -> &'static str {
        match self {
            Suite::Quick => "quick",
            Suite::Standard => "standard",
            Suite::Full => "full",
        }
    }

    pub fn summary(self) -> &'static str {
        match self {
            Suite::Quick => "every workload at 2-3 small sizes; under a minute on a 2-core CPU",
            Suite::Standard => "sizes that fill one accelerator (matmul to 16384, attention s to 8192, MLP width to 8192, GPT 42M-110M parameters; prefill and decode on 110M and 0.87B decoders, batch 1-64, context 512-8192)",
            Suite::Full => "sweeps over powers of two for every workload and dtype (decode: batch 1-64 by context 512-8192)",
        }
    }

    /// Default per-point time budget in seconds (warm-up excluded).
    pub fn default_budget_s(self) -> f64 {
        match self {
            Suite::Quick => 0.5,
            Suite::Standard => 3.0,
            Suite::Full => 3.0,
        }
    }

    /// The suite's grids.
    pub fn grids(self) -> Vec<Grid> {
        use WorkloadKind::*;
        let g = Grid::new;
        match self {
            Suite::Quick => vec![
                g(
                    Matmul,
                    &[("m", &[256, 512, 1024]), ("n", &[]), ("k", &[])],
                    &["f32", "bf16"],
                )
                .square(),
                g(
                    Attention,
                    &[
                        ("b", &[1]),
                        ("h", &[8]),
                        ("s", &[128, 512]),
                        ("d", &[64]),
                        ("causal", &[1]),
                    ],
                    &["f32", "bf16"],
                ),
                g(
                    Attention,
                    &[
                        ("b", &[1]),
                        ("h", &[8]),
                        ("s", &[256]),
                        ("d", &[64]),
                        ("causal", &[0]),
                    ],
                    &["f32"],
                ),
                g(
                    TrainMlp,
                    &[
                        ("layers", &[2]),
                        ("width", &[256, 512]),
                        ("batch", &[64]),
                        ("classes", &[10]),
                    ],
                    &["f32"],
                ),
                g(
                    TrainGpt,
                    &[
                        ("d_model", &[64]),
                        ("layers", &[2]),
                        ("heads", &[4]),
                        ("seq", &[32, 64]),
                        ("vocab", &[256]),
                        ("batch", &[4]),
                    ],
                    &["f32"],
                ),
                decoder(
                    Prefill,
                    TINY,
                    &[("batch", &[4]), ("prompt", &[32, 128])],
                    &["f32"],
                ),
                decoder(
                    Decode,
                    TINY,
                    &[("batch", &[1, 8]), ("context", &[128])],
                    &["f32", "bf16"],
                ),
            ],
            Suite::Standard => vec![
                g(
                    Matmul,
                    &[("m", &[2048, 4096, 8192, 16384]), ("n", &[]), ("k", &[])],
                    &["bf16", "f16", "fp8_e4m3", "tf32", "f32"],
                )
                .square(),
                g(
                    Attention,
                    &[
                        ("b", &[4]),
                        ("h", &[32]),
                        ("s", &[1024, 2048, 4096, 8192]),
                        ("d", &[128]),
                        ("causal", &[0, 1]),
                    ],
                    &["bf16", "f16"],
                ),
                g(
                    Attention,
                    &[
                        ("b", &[4]),
                        ("h", &[32]),
                        ("s", &[4096]),
                        ("d", &[64]),
                        ("causal", &[1]),
                    ],
                    &["bf16"],
                ),
                g(
                    TrainMlp,
                    &[
                        ("layers", &[4]),
                        ("width", &[1024, 4096, 8192]),
                        ("batch", &[512]),
                        ("classes", &[1000]),
                    ],
                    &["bf16", "f32"],
                ),
                g(
                    TrainGpt,
                    &[
                        ("d_model", &[512]),
                        ("layers", &[8]),
                        ("heads", &[8]),
                        ("seq", &[1024]),
                        ("vocab", &[32768]),
                        ("batch", &[8]),
                    ],
                    &["bf16", "f32"],
                ),
                g(
                    TrainGpt,
                    &[
                        ("d_model", &[768]),
                        ("layers", &[12]),
                        ("heads", &[12]),
                        ("seq", &[2048]),
                        ("vocab", &[32768]),
                        ("batch", &[4]),
                    ],
                    &["bf16"],
                ),
                decoder(
                    Prefill,
                    GPT_110M,
                    &[("batch", &[1, 8]), ("prompt", &[512, 2048])],
                    &["bf16"],
                ),
                decoder(
                    Prefill,
                    CLASS_1B,
                    &[("batch", &[1, 8]), ("prompt", &[512, 2048])],
                    &["bf16"],
                ),
                decoder(
                    Decode,
                    GPT_110M,
                    &[("batch", &[1, 8, 64]), ("context", &[512, 2048, 8192])],
                    &["bf16"],
                ),
                decoder(
                    Decode,
                    CLASS_1B,
                    &[("batch", &[1, 8, 64]), ("context", &[512, 8192])],
                    &["bf16"],
                ),
            ],
            Suite::Full => vec![
                g(
                    Matmul,
                    &[
                        ("m", &[256, 512, 1024, 2048, 4096, 8192, 16384]),
                        ("n", &[]),
                        ("k", &[]),
                    ],
                    &["bf16", "f16", "fp8_e4m3", "tf32", "f32"],
                )
                .square(),
                g(
                    Matmul,
                    &[("m", &[16384]), ("n", &[4096]), ("k", &[1024, 4096, 16384])],
                    &["bf16"],
                ),
                g(
                    Attention,
                    &[
                        ("b", &[4]),
                        ("h", &[32]),
                        ("s", &[512, 1024, 2048, 4096, 8192, 16384]),
                        ("d", &[64, 128]),
                        ("causal", &[0, 1]),
                    ],
                    &["bf16", "f16"],
                ),
                g(
                    TrainMlp,
                    &[
                        ("layers", &[4]),
                        ("width", &[512, 1024, 2048, 4096, 8192]),
                        ("batch", &[128, 512, 1024]),
                        ("classes", &[1000]),
                    ],
                    &["bf16", "f32"],
                ),
                g(
                    TrainGpt,
                    &[
                        ("d_model", &[256, 512, 768, 1024]),
                        ("layers", &[8, 12]),
                        ("heads", &[8]),
                        ("seq", &[1024, 2048]),
                        ("vocab", &[32768]),
                        ("batch", &[8]),
                    ],
                    &["bf16"],
                ),
                decoder(
                    Prefill,
                    GPT_110M,
                    &[("batch", &[1, 4, 16]), ("prompt", &[128, 512, 2048, 8192])],
                    &["bf16"],
                ),
                decoder(
                    Prefill,
                    CLASS_1B,
                    &[("batch", &[1, 4, 16]), ("prompt", &[128, 512, 2048])],
                    &["bf16"],
                ),
                decoder(
                    Decode,
                    GPT_110M,
                    &[
                        ("batch", &[1, 2, 4, 8, 16, 32, 64]),
                        ("context", &[512, 1024, 2048, 4096, 8192]),
                    ],
                    &["bf16"],
                ),
                decoder(
                    Decode,
                    CLASS_1B,
                    &[
                        ("batch", &[1, 2, 4, 8, 16, 32, 64]),
                        ("context", &[512, 2048, 8192]),
                    ],
                    &["bf16"],
                ),
            ],
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Suite {
    type Err = PlanError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Suite::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| {
                PlanError(format!(
                    "unknown suite '{s}': use one of quick, standard, full"
                ))
            })
    }
}

/// A cartesian grid of parameter values for one workload, with its dtypes.
#[derive(Debug, Clone)]
pub struct Grid {
    pub workload: WorkloadKind,
    /// Values per key; a key with no values follows `m` (square matmuls).
    pub values: Vec<(String, Vec<u64>)>,
    pub dtypes: Vec<DType>,
    square: bool,
}

impl Grid {
    fn new(workload: WorkloadKind, values: &[(&str, &[u64])], dtypes: &[&str]) -> Grid {
        Grid {
            workload,
            values: values
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_vec()))
                .collect(),
            dtypes: dtypes
                .iter()
                .map(|d| d.parse().expect("suite dtypes are valid"))
                .collect(),
            square: false,
        }
    }

    /// n and k follow m unless overridden.
    fn square(mut self) -> Grid {
        self.square = true;
        self
    }

    /// How many points [`Grid::points`] makes (saturating).
    fn count(&self) -> usize {
        self.values
            .iter()
            .map(|(_, v)| v.len().max(1))
            .fold(self.dtypes.len(), usize::saturating_mul)
    }

    fn points(&self) -> Result<Vec<Point>, PointError> {
        let mut combos: Vec<BTreeMap<String, u64>> = vec![BTreeMap::new()];
        for (key, vals) in &self.values {
            if vals.is_empty() {
                continue;
            }
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    vals.iter().map(move |&v| {
                        let mut c = c.clone();
                        c.insert(key.clone(), v);
                        c
                    })
                })
                .collect();
        }
        let mut out = Vec::new();
        for mut c in combos {
            if self.square {
                let m = c["m"];
                c.entry("n".into()).or_insert(m);
                c.entry("k".into()).or_insert(m);
            }
            for &d in &self.dtypes {
                out.push(Point::new(self.workload, &c, d)?);
            }
        }
        Ok(out)
    }
}

/// The most points one selection may plan: `--param` lists multiply (m × n × k values), and
/// a product beyond this is a typing mistake that would take hours to plan and years to run.
pub const MAX_POINTS: usize = 10_000;

/// A planning error: names the bad value and what to use instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

/// `--param KEY=V[,V..]` parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamOverride {
    pub key: String,
    pub values: Vec<u64>,
}

impl FromStr for ParamOverride {
    type Err = PlanError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (key, vals) = s.split_once('=').ok_or_else(|| {
            PlanError(format!(
                "--param '{s}' is not KEY=VALUE[,VALUE..] (e.g. --param m=2048)"
            ))
        })?;
        let key = key.trim();
        if key.is_empty() {
            return Err(PlanError(format!(
                "--param '{s}' has no key (e.g. --param m=2048)"
            )));
        }
        let values = vals
            .split(',')
            .map(|v| {
                let v = v.trim();
                v.parse::<u64>().map_err(|_| {
                    PlanError(format!(
                        "--param {key}: '{v}' is not a non-negative integer (e.g. --param {key}=1024,2048)"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ParamOverride {
            key: key.to_string(),
            values,
        })
    }
}

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub workloads: Vec<String>,
    pub dtypes: Vec<String>,
    pub params: Vec<String>,
}

/// The points of a suite after the user's selection and overrides, deduplicated, in order.
pub fn plan(suite: Suite, sel: &Selection) -> Result<Vec<Point>, PlanError> {
    let workloads: BTreeSet<WorkloadKind> = sel
        .workloads
        .iter()
        .flat_map(|w| w.split(','))
        .map(|w| {
            w.trim()
                .parse::<WorkloadKind>()
                .map_err(|e| PlanError(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let dtypes: Vec<DType> = sel
        .dtypes
        .iter()
        .flat_map(|d| d.split(','))
        .map(|d| {
            d.trim()
                .parse::<DType>()
                .map_err(|e| PlanError(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let overrides: Vec<ParamOverride> = sel
        .params
        .iter()
        .map(|p| p.parse())
        .collect::<Result<_, _>>()?;
    let mut grids: Vec<Grid> = suite
        .grids()
        .into_iter()
        .filter(|g| workloads.is_empty() || workloads.contains(&g.workload))
        .collect();
    for o in &overrides {
        let mut used = false;
        for g in grids.iter_mut() {
            if let Some(slot) = g.values.iter_mut().find(|(k, _)| *k == o.key) {
                slot.1 = o.values.clone();
                used = true;
            }
        }
        if !used {
            let known: BTreeSet<&str> = grids
                .iter()
                .flat_map(|g| g.workload.keys().iter().copied())
                .collect();
            return Err(PlanError(format!(
                "--param {}: no selected workload has a parameter '{}' (they have: {})",
                o.key,
                o.key,
                known.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    if !dtypes.is_empty() {
        for g in grids.iter_mut() {
            g.dtypes = dtypes.clone();
        }
    }
    let count = grids
        .iter()
        .map(Grid::count)
        .fold(0usize, usize::saturating_add);
    if count > MAX_POINTS {
        return Err(PlanError(format!(
            "the selection gives {count} points (the --param lists multiply), over the {MAX_POINTS} points bench plans at most: pass fewer values to --param, or narrow --workload/--dtype"
        )));
    }
    let mut seen = BTreeSet::new();
    let mut points = Vec::new();
    for g in &grids {
        for p in g.points().map_err(|e| PlanError(e.to_string()))? {
            if seen.insert(p.id()) {
                points.push(p);
            }
        }
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(w: &[&str], d: &[&str], p: &[&str]) -> Selection {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
        Selection {
            workloads: s(w),
            dtypes: s(d),
            params: s(p),
        }
    }

    #[test]
    fn quick_has_every_workload_at_two_or_three_sizes() {
        let pts = plan(Suite::Quick, &Selection::default()).unwrap();
        for w in WorkloadKind::ALL {
            let sizes: BTreeSet<String> = pts
                .iter()
                .filter(|p| p.kind() == w)
                .map(|p| p.id().split('/').nth(1).unwrap().to_string())
                .collect();
            assert!((2..=3).contains(&sizes.len()), "{w}: {sizes:?}");
        }
    }

    #[test]
    fn param_override_replaces_values_and_square_follows_m() {
        let pts = plan(
            Suite::Quick,
            &sel(&["matmul"], &["f32"], &["m=2048", "n=2048", "k=64,128"]),
        )
        .unwrap();
        let ids: Vec<String> = pts.iter().map(|p| p.id()).collect();
        assert_eq!(
            ids,
            vec![
                "matmul/m=2048,n=2048,k=64/f32",
                "matmul/m=2048,n=2048,k=128/f32"
            ]
        );
        let sq = plan(Suite::Quick, &sel(&["matmul"], &["f32"], &["m=300"])).unwrap();
        assert_eq!(sq[0].id(), "matmul/m=300,n=300,k=300/f32");
    }

    #[test]
    fn bad_values_are_named() {
        let e = plan(Suite::Quick, &sel(&["conv"], &[], &[])).unwrap_err();
        assert!(e.0.contains("'conv'"), "{e}");
        let e = plan(Suite::Quick, &sel(&[], &["f64"], &[])).unwrap_err();
        assert!(e.0.contains("'f64'"), "{e}");
        let e = plan(Suite::Quick, &sel(&[], &[], &["m=big"])).unwrap_err();
        assert!(e.0.contains("'big'"), "{e}");
        let e = plan(Suite::Quick, &sel(&[], &[], &["m"])).unwrap_err();
        assert!(e.0.contains("KEY=VALUE"), "{e}");
        let e = plan(Suite::Quick, &sel(&["matmul"], &[], &["width=5"])).unwrap_err();
        assert!(e.0.contains("'width'") && e.0.contains("m, n"), "{e}");
        let e = plan(Suite::Quick, &sel(&["matmul"], &[], &["m=0"])).unwrap_err();
        assert!(e.0.contains("m=0"), "{e}");
        assert!("huge".parse::<Suite>().is_err());
    }

    #[test]
    fn a_selection_of_too_many_points_is_refused_before_it_is_built() {
        let many = (1..=100)
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let p = |k: &str| format!("{k}={many}");
        let e = plan(
            Suite::Quick,
            &sel(&["matmul"], &["f32"], &[&p("m"), &p("n"), &p("k")]),
        )
        .unwrap_err();
        assert!(
            e.0.contains("1000000 points") && e.0.contains("--param"),
            "{e}"
        );
        let ok = plan(
            Suite::Quick,
            &sel(&["matmul"], &["f32"], &[&p("m"), &p("n")]),
        )
        .unwrap();
        assert_eq!(ok.len(), 10_000);
    }

    #[test]
    fn every_suite_plans() {
        for s in Suite::ALL {
            assert!(!plan(s, &Selection::default()).unwrap().is_empty());
        }
    }
}

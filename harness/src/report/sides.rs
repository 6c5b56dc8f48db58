//! The sides of a comparison and the best implementation on each. A *side* is one instance type:
//! every selected run of that type (bench's kernels, `torch`, later `nki`..., as
//! `--implementation` allows) is one side, and for each point id the side's time is that of its
//! fastest usable record (ok, check passed, samples). Sides pair by point id; what does not pair
//! is listed with its reason. Pure over the loaded records and their sorted samples.

use std::collections::HashMap;

use super::input::LoadedRun;
use super::pairing::{unusable, Unpaired};

/// One side: an instance type and the runs (indices into the report's runs) that make it.
#[derive(Debug, Clone, PartialEq)]
pub struct SideRuns {
    pub instance: String,
    pub runs: Vec<usize>,
}

/// Groups runs by instance type, in the order each type first appears. Runs with no instance
/// type come back apart (they cannot be priced).
pub fn group(runs: &[LoadedRun], chosen: &[usize]) -> (Vec<SideRuns>, Vec<usize>) {
    let mut sides: Vec<SideRuns> = Vec::new();
    let mut untyped = Vec::new();
    for &i in chosen {
        match runs[i].run.host.instance_type.as_deref() {
            None => untyped.push(i),
            Some(t) => match sides.iter_mut().find(|s| s.instance == t) {
                Some(s) => s.runs.push(i),
                None => sides.push(SideRuns {
                    instance: t.to_string(),
                    runs: vec![i],
                }),
            },
        }
    }
    (sides, untyped)
}

/// A point's chosen record on a side: run index, point index and median time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pick {
    pub run: usize,
    pub point: usize,
    pub median_s: f64,
}

/// Every point id a side has, with its fastest usable record or (when none is usable) its first
/// record, in first-seen order.
#[derive(Debug, Clone, Default)]
pub struct SidePoints<'a> {
    pub order: Vec<&'a str>,
    pub best: HashMap<&'a str, Pick>,
    pub unusable: HashMap<&'a str, (usize, usize)>,
}

fn median_of_sorted(s: &[f64]) -> f64 {
    let n = s.len();
    (s[(n - 1) / 2] + s[n / 2]) * 0.5
}

/// The best record of each point on a side. `sorted[run][point]` holds a usable point's sorted
/// samples and is empty for an unusable one. Ties keep the earlier run.
pub fn best_of<'a>(
    runs: &'a [LoadedRun],
    side: &SideRuns,
    sorted: &[Vec<Vec<f64>>],
) -> SidePoints<'a> {
    let mut out = SidePoints::default();
    for &r in &side.runs {
        for (i, p) in runs[r].run.points.iter().enumerate() {
            let id = p.id.as_str();
            let seen = out.best.contains_key(id) || out.unusable.contains_key(id);
            if !seen {
                out.order.push(id);
            }
            let s = &sorted[r][i];
            if s.is_empty() {
                if !seen {
                    out.unusable.insert(id, (r, i));
                }
                continue;
            }
            let pick = Pick {
                run: r,
                point: i,
                median_s: median_of_sorted(s),
            };
            match out.best.get_mut(id) {
                Some(b) if b.median_s <= pick.median_s => {}
                Some(b) => *b = pick,
                None => {
                    out.unusable.remove(id);
                    out.best.insert(id, pick);
                }
            }
        }
    }
    out
}

/// Paired picks (baseline, challenger) in the baseline's point order, and the points left out.
pub fn pair_sides(
    runs: &[LoadedRun],
    b: &SidePoints,
    c: &SidePoints,
    b_instance: &str,
    c_instance: &str,
) -> (Vec<(Pick, Pick)>, Vec<Unpaired>) {
    let mut pairs = Vec::new();
    let mut unpaired = Vec::new();
    let why = |&(r, i): &(usize, usize)| {
        let run = &runs[r];
        format!(
            "{} in {}",
            unusable(&run.run.points[i]).unwrap_or_default(),
            run.name
        )
    };
    for &id in &b.order {
        match (b.best.get(id), c.best.get(id)) {
            (Some(&x), Some(&y)) => pairs.push((x, y)),
            (Some(_), None) => unpaired.push(Unpaired {
                point_id: id.to_string(),
                reason: match c.unusable.get(id) {
                    Some(at) => why(at),
                    None => format!("not run on {c_instance}"),
                },
            }),
            (None, _) => unpaired.push(Unpaired {
                point_id: id.to_string(),
                reason: why(&b.unusable[id]),
            }),
        }
    }
    for &id in &c.order {
        if b.best.contains_key(id) || b.unusable.contains_key(id) {
            continue;
        }
        unpaired.push(Unpaired {
            point_id: id.to_string(),
            reason: match c.unusable.get(id) {
                Some(at) => why(at),
                None => format!("not run on {b_instance}"),
            },
        });
    }
    (pairs, unpaired)
}

/// bench's speed as a fraction of the side's best, over the points bench ran usably: the
/// geometric mean of best median ÷ bench median (1.0: bench is the best everywhere), with the
/// number of points. None when the side has no bench run or no other implementation.
pub fn bench_fraction_of_best(
    runs: &[LoadedRun],
    side: &SideRuns,
    points: &SidePoints,
    sorted: &[Vec<Vec<f64>>],
) -> Option<(f64, usize)> {
    let is_bench = |r: usize| runs[r].run.backend.implementation == "bench";
    if !side.runs.iter().any(|&r| !is_bench(r)) {
        return None;
    }
    let mut ln_sum = 0.0;
    let mut n = 0usize;
    let mut seen = std::collections::HashSet::new();
    for &r in side.runs.iter().filter(|&&r| is_bench(r)) {
        for (i, p) in runs[r].run.points.iter().enumerate() {
            let s = &sorted[r][i];
            if s.is_empty() || !seen.insert(p.id.as_str()) {
                continue;
            }
            if let Some(best) = points.best.get(p.id.as_str()) {
                ln_sum += (best.median_s / median_of_sorted(s)).ln();
                n += 1;
            }
        }
    }
    (n > 0).then(|| ((ln_sum / n as f64).exp(), n))
}

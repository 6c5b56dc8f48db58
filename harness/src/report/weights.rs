//! Workload weighting of the overall ratio: each workload is first averaged over its own paired
//! points (geometric mean), then the overall ratio is the weighted geometric mean over
//! workloads, so a 50-point matmul sweep cannot outvote one attention point. Weights come from
//! `--weights` (workloads not named weigh 1); the bootstrap interval applies the same formula
//! to every replicate's per-workload sums of ln(ratio). Pure.

use serde::Serialize;

use super::resample::percentile_95;
use super::verdict::RatioCi;

/// Where a workload's weight came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightSource {
    /// Not named in `--weights`: weight 1.
    Default,
    /// Given with `--weights`.
    User,
}

/// The weight of each workload: the user's, else 1.
pub fn weight_of(weights: &[(String, f64)], workload: &str) -> (f64, WeightSource) {
    match weights.iter().find(|(w, _)| w == workload) {
        Some((_, x)) => (*x, WeightSource::User),
        None => (1.0, WeightSource::Default),
    }
}

/// One workload's share of the overall ratio: its weight, paired points, and the geometric mean
/// of its points' ratios with its own bootstrap interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkloadRatio {
    pub workload: String,
    pub weight: f64,
    pub weight_source: WeightSource,
    pub points: usize,
    pub ratio: f64,
    pub low: f64,
    pub high: f64,
}

/// A workload's inputs to the combination: weight, points, Σ ln(ratio) over its points and the
/// per-replicate sums of ln(replicate ratio).
#[derive(Debug, Clone, Copy)]
pub struct Group<'a> {
    pub weight: f64,
    pub points: usize,
    pub ln_sum: f64,
    pub replicate_ln_sums: &'a [f64],
}

impl Group<'_> {
    /// This workload's geometric mean and its interval.
    pub fn own(&self) -> RatioCi {
        let n = self.points as f64;
        let mut reps: Vec<f64> = self
            .replicate_ln_sums
            .iter()
            .map(|s| (s / n).exp())
            .collect();
        let (low, high) = percentile_95(&mut reps);
        RatioCi {
            ratio: (self.ln_sum / n).exp(),
            low,
            high,
        }
    }
}

/// exp(Σ w·(Σ ln r ÷ n) ÷ Σ w) over the groups with weight > 0 and points, and the same per
/// replicate for the interval; None when no group has both.
pub fn combine(groups: &[Group]) -> Option<RatioCi> {
    let used: Vec<&Group> = groups
        .iter()
        .filter(|g| g.weight > 0.0 && g.points > 0)
        .collect();
    let total: f64 = used.iter().map(|g| g.weight).sum();
    if used.is_empty() || total <= 0.0 {
        return None;
    }
    let mean = |ln: &dyn Fn(&Group) -> f64| {
        (used
            .iter()
            .map(|g| g.weight * ln(g) / g.points as f64)
            .sum::<f64>()
            / total)
            .exp()
    };
    let ratio = mean(&|g| g.ln_sum);
    let reps = used[0].replicate_ln_sums.len();
    let mut rep: Vec<f64> = (0..reps)
        .map(|r| mean(&|g| g.replicate_ln_sums[r]))
        .collect();
    let (low, high) = percentile_95(&mut rep);
    Some(RatioCi { ratio, low, high })
}

/// "matmul=1, attention=2 (--weights), train-mlp=1 (default)": the weights used, stated
/// beside the verdict.
pub fn describe(workloads: &[WorkloadRatio]) -> String {
    workloads
        .iter()
        .map(|w| {
            format!(
                "{}={}{}",
                w.workload,
                w.weight,
                match w.weight_source {
                    WeightSource::Default => " (default)",
                    WeightSource::User => "",
                }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn a_sweep_cannot_outvote_one_point() {
        // 50 matmul points at ratio 2 and one attention point at ratio 0.5, constant replicates:
        // per workload 2 and 0.5, overall sqrt(2 * 0.5) = 1 (the pooled mean would be ~1.9).
        let m = vec![50.0 * 2f64.ln(); 10];
        let a = vec![0.5f64.ln(); 10];
        let g = [
            Group {
                weight: 1.0,
                points: 50,
                ln_sum: 50.0 * 2f64.ln(),
                replicate_ln_sums: &m,
            },
            Group {
                weight: 1.0,
                points: 1,
                ln_sum: 0.5f64.ln(),
                replicate_ln_sums: &a,
            },
        ];
        let r = combine(&g).unwrap();
        assert!(
            close(r.ratio, 1.0) && close(r.low, 1.0) && close(r.high, 1.0),
            "{r:?}"
        );
        assert!(close(g[0].own().ratio, 2.0) && close(g[1].own().high, 0.5));
        // weights matmul=1, attention=2: exp((ln 2 + 2 ln 0.5) / 3) = 2^(-1/3)
        let w = [
            Group {
                weight: 1.0,
                ..g[0]
            },
            Group {
                weight: 2.0,
                ..g[1]
            },
        ];
        assert!(close(combine(&w).unwrap().ratio, 2f64.powf(-1.0 / 3.0)));
        // a weight of 0 leaves the workload out; all zero gives nothing
        let z = [
            Group {
                weight: 0.0,
                ..g[0]
            },
            g[1],
        ];
        assert!(close(combine(&z).unwrap().ratio, 0.5));
        assert!(combine(&[Group {
            weight: 0.0,
            ..g[0]
        }])
        .is_none());
    }

    #[test]
    fn replicates_follow_the_same_formula() {
        // replicate r: workload A's mean ln is r·0.01, B's is 0: overall = exp(r·0.01/2)
        let a: Vec<f64> = (0..2000).map(|r| 3.0 * 0.01 * r as f64).collect();
        let b = vec![0.0; 2000];
        let g = [
            Group {
                weight: 1.0,
                points: 3,
                ln_sum: 0.0,
                replicate_ln_sums: &a,
            },
            Group {
                weight: 1.0,
                points: 2,
                ln_sum: 0.0,
                replicate_ln_sums: &b,
            },
        ];
        let r = combine(&g).unwrap();
        let mut want: Vec<f64> = (0..2000).map(|r| (0.005 * r as f64).exp()).collect();
        let (lo, hi) = percentile_95(&mut want);
        assert!(close(r.low, lo) && close(r.high, hi) && close(r.ratio, 1.0));
    }

    #[test]
    fn weights_default_to_one_and_are_described() {
        let w = vec![("attention".to_string(), 2.0)];
        assert_eq!(weight_of(&w, "attention"), (2.0, WeightSource::User));
        assert_eq!(weight_of(&w, "matmul"), (1.0, WeightSource::Default));
        let rows = [
            WorkloadRatio {
                workload: "matmul".into(),
                weight: 1.0,
                weight_source: WeightSource::Default,
                points: 3,
                ratio: 1.0,
                low: 1.0,
                high: 1.0,
            },
            WorkloadRatio {
                workload: "attention".into(),
                weight: 2.0,
                weight_source: WeightSource::User,
                points: 1,
                ratio: 1.0,
                low: 1.0,
                high: 1.0,
            },
        ];
        assert_eq!(describe(&rows), "matmul=1 (default), attention=2");
    }
}

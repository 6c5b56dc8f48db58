//! Job cost (`--job WORKLOAD=ITEMS`): what an amount of work costs on each side, in dollars and
//! instance-hours. A side's perf per $ for the workload is the geometric mean of its perf per $
//! over the workload's paired points, in the job's unit (FLOP for matmul, else the workload's
//! item: tokens, samples); dollars = items ÷ perf per $, instance-hours = dollars ÷ $/h. This
//! assumes the work scales linearly to the whole instance (every device as fast as the one
//! measured, no communication cost). Pure.

use serde::Serialize;

use super::verdict::geomean;

/// The scaling assumption, stated beside every job cost.
pub const ASSUMPTION: &str = "linear scaling to the whole instance: every accelerator of the instance works at the measured per-device rate, with no communication or idle cost";

/// A job's cost on both sides (None where the workload has no paired point).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobCost {
    pub workload: String,
    pub items: f64,
    /// The unit of `items`: "FLOP" for matmul, else the workload's item ("tokens", "samples").
    pub item: String,
    /// Paired points the perf per $ is averaged over.
    pub points: usize,
    pub baseline_items_per_usd: Option<f64>,
    pub challenger_items_per_usd: Option<f64>,
    pub baseline_usd: Option<f64>,
    pub challenger_usd: Option<f64>,
    pub baseline_instance_hours: Option<f64>,
    pub challenger_instance_hours: Option<f64>,
    pub assumption: &'static str,
    /// Why there is no cost (the workload did not pair).
    pub note: Option<String>,
}

/// One paired point's perf per $ on each side, in the job's unit (items per $).
#[derive(Debug, Clone, Copy)]
pub struct PointRate {
    pub baseline_items_per_usd: f64,
    pub challenger_items_per_usd: f64,
}

/// The cost of `items` of `workload` from its paired points' rates and the two $/h.
pub fn job_cost(
    workload: &str,
    items: f64,
    item: &str,
    rates: &[PointRate],
    baseline_usd_per_hour: f64,
    challenger_usd_per_hour: f64,
) -> JobCost {
    let mut out = JobCost {
        workload: workload.into(),
        items,
        item: item.into(),
        points: rates.len(),
        baseline_items_per_usd: None,
        challenger_items_per_usd: None,
        baseline_usd: None,
        challenger_usd: None,
        baseline_instance_hours: None,
        challenger_instance_hours: None,
        assumption: ASSUMPTION,
        note: None,
    };
    if rates.is_empty() {
        out.note = Some(format!(
            "{workload} has no paired point in this comparison: no cost"
        ));
        return out;
    }
    let b: Vec<f64> = rates.iter().map(|r| r.baseline_items_per_usd).collect();
    let c: Vec<f64> = rates.iter().map(|r| r.challenger_items_per_usd).collect();
    let (pb, pc) = (geomean(&b), geomean(&c));
    let (db, dc) = (items / pb, items / pc);
    out.baseline_items_per_usd = Some(pb);
    out.challenger_items_per_usd = Some(pc);
    out.baseline_usd = Some(db);
    out.challenger_usd = Some(dc);
    out.baseline_instance_hours = Some(db / baseline_usd_per_hour);
    out.challenger_instance_hours = Some(dc / challenger_usd_per_hour);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
    }

    #[test]
    fn dollars_and_hours_by_hand() {
        // two points: baseline 1e6 and 4e6 tokens/$ (geomean 2e6), challenger 3e6 and 3e6.
        // 1e9 tokens: baseline $500 = 500/55.04 h; challenger $333.33 = 333.33/32 h.
        let rates = [
            PointRate {
                baseline_items_per_usd: 1e6,
                challenger_items_per_usd: 3e6,
            },
            PointRate {
                baseline_items_per_usd: 4e6,
                challenger_items_per_usd: 3e6,
            },
        ];
        let j = job_cost("train-gpt", 1e9, "tokens", &rates, 55.04, 32.0);
        assert!(close(j.baseline_items_per_usd.unwrap(), 2e6));
        assert!(close(j.baseline_usd.unwrap(), 500.0));
        assert!(close(j.challenger_usd.unwrap(), 1e9 / 3e6));
        assert!(close(j.baseline_instance_hours.unwrap(), 500.0 / 55.04));
        assert!(close(
            j.challenger_instance_hours.unwrap(),
            1e9 / 3e6 / 32.0
        ));
        assert!(j.note.is_none() && j.assumption.contains("linear scaling"));
        let none = job_cost("attention", 1e9, "tokens", &[], 55.04, 32.0);
        assert!(none.baseline_usd.is_none() && none.note.is_some());
    }
}

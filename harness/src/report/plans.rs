//! The planner's tables of a comparison, composed from the model: the price scenarios (every
//! combination of the two instance types' price rows, each with its ratio, interval and
//! verdict) and the `--job` costs (dollars and instance-hours on each side, with the scaling
//! assumption). Numbers are right-aligned, one unit per column.

use super::doc::{p, table_aligned, Block};
use super::jobcost::ASSUMPTION;
use super::model::Comparison;
use super::units::{num, usd};

fn price(model: &str, region: &str) -> String {
    if region.is_empty() {
        model.to_string()
    } else {
        format!("{model} ({region})")
    }
}

/// The scenario table, or nothing when the comparison has no overall ratio.
pub fn scenarios(c: &Comparison) -> Vec<Block> {
    if c.scenarios.is_empty() {
        return Vec::new();
    }
    let rows = c
        .scenarios
        .iter()
        .map(|s| {
            vec![
                format!(
                    "{}{}",
                    price(&s.baseline_purchase_model, &s.baseline_region),
                    if s.headline { " (headline)" } else { "" }
                ),
                num(s.baseline_usd_per_hour),
                price(&s.challenger_purchase_model, &s.challenger_region),
                num(s.challenger_usd_per_hour),
                num(s.ratio),
                num(s.low),
                num(s.high),
                s.verdict.map_or("NO CLAIM", |v| v.name()).to_string(),
            ]
        })
        .collect();
    vec![
        p(format!(
            "Price scenarios for {}: every purchase model and region of {} against every one of {}. A price is a constant factor in every bootstrap replicate, so each ratio and interval is the headline's scaled by the two price ratios.",
            c.title, c.baseline_side.instance, c.challenger_side.instance
        )),
        table_aligned(
            &[
                format!("{} price", c.baseline_side.instance),
                "$/h".into(),
                format!("{} price", c.challenger_side.instance),
                "$/h".into(),
                "ratio".into(),
                "95% CI low".into(),
                "95% CI high".into(),
                "verdict".into(),
            ],
            &[false, true, false, true, true, true, true, false],
            rows,
        ),
    ]
}

/// The job-cost table, or nothing without `--job`.
pub fn jobs(c: &Comparison) -> Vec<Block> {
    if c.jobs.is_empty() {
        return Vec::new();
    }
    let opt = |x: Option<f64>, f: fn(f64) -> String| x.map_or("—".to_string(), f);
    let rows = c
        .jobs
        .iter()
        .map(|j| {
            vec![
                j.workload.clone(),
                format!("{} {}", num(j.items), j.item),
                j.points.to_string(),
                opt(j.baseline_usd, usd),
                opt(j.baseline_instance_hours, num),
                opt(j.challenger_usd, usd),
                opt(j.challenger_instance_hours, num),
            ]
        })
        .collect();
    let mut out = vec![
        p(format!(
            "Job costs for {} at the headline prices ({} at {}/h, {} at {}/h); dollars = items ÷ the side's perf per $ for the workload (geometric mean over its paired points). Assumes {ASSUMPTION}.",
            c.title,
            c.baseline_side.instance,
            usd(c.baseline_price.usd_per_hour),
            c.challenger_side.instance,
            usd(c.challenger_price.usd_per_hour),
        )),
        table_aligned(
            &[
                "workload".to_string(),
                "items".into(),
                "paired points".into(),
                format!("{} $", c.baseline_side.instance),
                format!("{} instance-hours", c.baseline_side.instance),
                format!("{} $", c.challenger_side.instance),
                format!("{} instance-hours", c.challenger_side.instance),
            ],
            &[false, true, true, true, true, true, true],
            rows,
        ),
    ];
    let notes: Vec<String> = c.jobs.iter().filter_map(|j| j.note.clone()).collect();
    if !notes.is_empty() {
        out.push(Block::List(notes));
    }
    out
}

//! The report's detail tables, one per workload so every numeric column has one unit with
//! one SI prefix (µs, PFLOP/$, M tokens/$, $ per 1M tokens): the paired points of a
//! comparison, and each run's own results; prefill and decode add their per-token and
//! bandwidth columns (inference.rs). Numeric columns are flagged for right alignment
//! and numeric sorting in the HTML. Reads only the model.

use super::doc::{p, table_aligned, Block};
use super::inference::{self, RunColumns};
use super::metrics::PointMetrics;
use super::model::{Comparison, PairRow, RunSummary};
use super::units::{label, num, perf_base, scale_time, scale_up, usd, Scale};

/// Rows shown per table in the text; the CSV/JSON always hold every row.
pub const MAX_ROWS: usize = 300;

/// Groups items by workload, keeping first-seen order.
fn by_workload<T>(items: &[T], workload: impl Fn(&T) -> &str) -> Vec<(String, Vec<&T>)> {
    let mut out: Vec<(String, Vec<&T>)> = Vec::new();
    for it in items {
        let w = workload(it);
        match out.iter_mut().find(|(k, _)| k == w) {
            Some((_, v)) => v.push(it),
            None => out.push((w.to_string(), vec![it])),
        }
    }
    out
}

fn scaled(x: f64, s: Scale) -> String {
    num(x / s.factor)
}

/// A perf-per-$ column's scale and label from its values in the model's unit.
fn perf_scale(unit: &str, values: impl Iterator<Item = f64>) -> (f64, Scale, String) {
    let (mult, base) = perf_base(unit);
    let s = scale_up(values.map(|v| v * mult));
    (mult, s, label(s, &base))
}

fn truncated(shown: usize, total: usize, what: &str, file: &str, out: &mut Vec<Block>) {
    if shown < total {
        out.push(p(format!(
            "First {shown} of {total} {what}; {file} has all of them."
        )));
    }
}

/// Paired points of one comparison, one table per workload.
pub fn pairs(c: &Comparison) -> Vec<Block> {
    let mut out = Vec::new();
    for (workload, rows) in by_workload(&c.pairs, |r: &PairRow| &r.workload) {
        let total = rows.len();
        let shown = total.min(MAX_ROWS);
        let rows = &rows[..shown];
        let t = scale_time(
            rows.iter()
                .flat_map(|r| [r.baseline_median_s, r.challenger_median_s]),
        );
        let unit = rows[0].perf_unit.clone();
        let (mult, ps, plabel) = perf_scale(
            &unit,
            rows.iter()
                .flat_map(|r| [r.baseline_perf_per_usd, r.challenger_perf_per_usd]),
        );
        let tl = label(t, "s");
        out.push(p(format!("**{workload}** ({total} paired points)")));
        truncated(shown, total, "pairs", "summary.csv", &mut out);
        out.push(table_aligned(
            &[
                "point".to_string(),
                "baseline impl.".into(),
                "challenger impl.".into(),
                format!("baseline median ({tl})"),
                format!("challenger median ({tl})"),
                format!("baseline ({plabel})"),
                format!("challenger ({plabel})"),
                "ratio".into(),
                "CI low".into(),
                "CI high".into(),
                "verdict".into(),
                "challenger break-even ($/h)".into(),
            ],
            &[
                false, false, false, true, true, true, true, true, true, true, false, true,
            ],
            rows.iter()
                .map(|r| {
                    vec![
                        r.point_id.clone(),
                        r.baseline_implementation.clone(),
                        r.challenger_implementation.clone(),
                        scaled(r.baseline_median_s, t),
                        scaled(r.challenger_median_s, t),
                        scaled(r.baseline_perf_per_usd * mult, ps),
                        scaled(r.challenger_perf_per_usd * mult, ps),
                        num(r.ratio.ratio),
                        num(r.ratio.low),
                        num(r.ratio.high),
                        r.verdict.map_or("NO CLAIM", |v| v.name()).to_string(),
                        r.break_even
                            .map_or("n/a".into(), |b| format!("{:.2}", b.challenger_at_claim)),
                    ]
                })
                .collect(),
        ));
        out.extend(inference::pair_table(&workload, rows));
    }
    out
}

/// Each paired workload's weight, points and geometric-mean ratio with its interval.
pub fn workloads(c: &Comparison) -> Block {
    table_aligned(
        &[
            "workload",
            "weight",
            "paired points",
            "ratio",
            "CI low",
            "CI high",
        ],
        &[false, true, true, true, true, true],
        c.workloads
            .iter()
            .map(|w| {
                vec![
                    w.workload.clone(),
                    num(w.weight),
                    w.points.to_string(),
                    num(w.ratio),
                    num(w.low),
                    num(w.high),
                ]
            })
            .collect(),
    )
}

/// One run's usable points, one table per workload.
pub fn run_results(r: &RunSummary) -> Vec<Block> {
    let mut out = Vec::new();
    if r.points.is_empty() {
        out.push(p("No usable points."));
        return out;
    }
    for (workload, ms) in by_workload(&r.points, |m: &PointMetrics| &m.workload) {
        let total = ms.len();
        let shown = total.min(MAX_ROWS);
        let ms = &ms[..shown];
        let t = scale_time(ms.iter().map(|m| m.median_s));
        let tl = label(t, "s");
        let (mult, ps, plabel) =
            perf_scale(&ms[0].perf_unit, ms.iter().filter_map(|m| m.perf_per_usd));
        let item = ms[0].item.clone();
        let per_million = ms.iter().any(|m| m.usd_per_million_items.is_some());
        let infer = inference::is_inference(&workload).then(|| RunColumns::new(&item, ms));
        out.push(p(format!("**{workload}** ({total} points)")));
        truncated(shown, total, "points", "points.csv", &mut out);
        let mut header = vec![
            "point".to_string(),
            format!("median ({tl})"),
            format!("CI low ({tl})"),
            format!("CI high ({tl})"),
            "TFLOP/s per device".into(),
            "% of datasheet peak".into(),
            format!("perf ({plabel})"),
        ];
        if per_million {
            header.push(format!("$ per 1M {item}"));
        }
        if let Some(c) = &infer {
            header.extend(c.header.iter().cloned());
        }
        header.extend(["one-off (s)".to_string(), "one-off ($)".to_string()]);
        let mut numeric = vec![true; header.len()];
        numeric[0] = false;
        out.push(table_aligned(
            &header,
            &numeric,
            ms.iter()
                .map(|m| {
                    let mut row = vec![
                        m.id.clone(),
                        scaled(m.median_s, t),
                        scaled(m.ci95_low_s, t),
                        scaled(m.ci95_high_s, t),
                        num(m.tflops_per_device),
                        m.pct_of_peak
                            .map(|x| format!("{x:.1}"))
                            .unwrap_or_else(|| "n/a".into()),
                        m.perf_per_usd
                            .map(|x| scaled(x * mult, ps))
                            .unwrap_or_else(|| "unpriced".into()),
                    ];
                    if per_million {
                        row.push(
                            m.usd_per_million_items
                                .map(usd)
                                .unwrap_or_else(|| "n/a".into()),
                        );
                    }
                    if let Some(c) = &infer {
                        row.extend(c.cells(m));
                    }
                    row.push(num(m.one_off_s));
                    row.push(m.one_off_usd.map(usd).unwrap_or_else(|| "unpriced".into()));
                    row
                })
                .collect(),
        ));
    }
    out
}

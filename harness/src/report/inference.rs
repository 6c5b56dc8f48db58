//! The inference part of the report's tables (prefill and decode): tokens per second per device
//! and per instance, $ per 1M input tokens (prefill) or output tokens (decode), and against the
//! datasheet the achieved GB/s per device, its % of the memory bandwidth (bytes ÷ time ÷ peak
//! bandwidth) beside the % of the FLOP peak and of the roofline, with the roof that bounds the
//! point; and the verdict card's line of each side's $ per 1M input and output tokens. Reads
//! only the model.

use super::doc::{p, table_aligned, Block};
use super::metrics::{inference_item, PointMetrics};
use super::model::{Comparison, PairRow};
use super::units::{label, num, scale_up, usd, Scale};

/// Is the workload prefill or decode?
pub fn is_inference(workload: &str) -> bool {
    inference_item(workload).is_some()
}

/// A percentage: one decimal from 1% up, about four significant digits below.
fn pct(x: Option<f64>) -> String {
    match x {
        Some(v) if v.abs() >= 1.0 => format!("{v:.1}"),
        Some(v) => num(v),
        None => "n/a".into(),
    }
}

fn scaled(x: f64, s: Scale) -> String {
    num(x / s.factor)
}

/// A rate column's scale and its unit, e.g. "k output tokens/s".
fn rate_scale(item: &str, values: impl Iterator<Item = f64>) -> (Scale, String) {
    let s = scale_up(values);
    (s, label(s, &format!("{item}/s")))
}

/// The columns an inference workload adds to a run's table, and the cells of one point.
pub struct RunColumns {
    rate: Scale,
    pub header: Vec<String>,
}

impl RunColumns {
    pub fn new(item: &str, ms: &[&PointMetrics]) -> Self {
        let (rate, unit) = rate_scale(
            item,
            ms.iter().flat_map(|m| {
                [m.items_per_s_per_device]
                    .into_iter()
                    .chain(m.items_per_s_per_instance)
            }),
        );
        RunColumns {
            rate,
            header: vec![
                format!("{unit} per device"),
                format!("{unit} per instance"),
                "GB/s per device".into(),
                "% of datasheet memory BW".into(),
                "% of roofline".into(),
                "bound".into(),
            ],
        }
    }

    pub fn cells(&self, m: &PointMetrics) -> Vec<String> {
        vec![
            scaled(m.items_per_s_per_device, self.rate),
            m.items_per_s_per_instance
                .map_or_else(|| "unpriced".into(), |x| scaled(x, self.rate)),
            m.gb_per_s_per_device.map_or_else(|| "n/a".into(), num),
            pct(m.pct_of_peak_memory_bw),
            pct(m.pct_of_roofline),
            m.roofline_bound.unwrap_or("n/a").to_string(),
        ]
    }
}

/// The per-token table of one inference workload's paired points: each side's tokens/s per
/// device and per instance, $ per 1M tokens, % of the FLOP peak and of the memory bandwidth.
pub fn pair_table(workload: &str, rows: &[&PairRow]) -> Vec<Block> {
    let Some(item) = inference_item(workload) else {
        return Vec::new();
    };
    let (rate, unit) = rate_scale(
        item,
        rows.iter().flat_map(|r| {
            [
                r.baseline_items_per_s_per_device,
                r.challenger_items_per_s_per_device,
            ]
        }),
    );
    let (inst, inst_unit) = rate_scale(
        item,
        rows.iter().flat_map(|r| {
            [
                r.baseline_items_per_s_per_instance,
                r.challenger_items_per_s_per_instance,
            ]
        }),
    );
    let header: Vec<String> = vec![
        "point".into(),
        format!("baseline ({unit} per device)"),
        format!("challenger ({unit} per device)"),
        format!("baseline ({inst_unit} per instance)"),
        format!("challenger ({inst_unit} per instance)"),
        format!("baseline ($ per 1M {item})"),
        format!("challenger ($ per 1M {item})"),
        "baseline % of FLOP peak".into(),
        "challenger % of FLOP peak".into(),
        "baseline % of memory BW".into(),
        "challenger % of memory BW".into(),
    ];
    let mut numeric = vec![true; header.len()];
    numeric[0] = false;
    let opt_usd = |x: Option<f64>| x.map_or_else(|| "n/a".into(), usd);
    vec![
        p(format!(
            "**{workload}** per token: {item}/s per device and per instance (every accelerator of the instance at the per-device rate), $ per 1M {item}, and % of the datasheet FLOP peak and memory bandwidth (bytes ÷ time ÷ peak)"
        )),
        table_aligned(
            &header,
            &numeric,
            rows.iter()
                .map(|r| {
                    vec![
                        r.point_id.clone(),
                        scaled(r.baseline_items_per_s_per_device, rate),
                        scaled(r.challenger_items_per_s_per_device, rate),
                        scaled(r.baseline_items_per_s_per_instance, inst),
                        scaled(r.challenger_items_per_s_per_instance, inst),
                        opt_usd(r.baseline_usd_per_1m_items),
                        opt_usd(r.challenger_usd_per_1m_items),
                        pct(r.baseline_pct_of_peak_flops),
                        pct(r.challenger_pct_of_peak_flops),
                        pct(r.baseline_pct_of_peak_memory_bw),
                        pct(r.challenger_pct_of_peak_memory_bw),
                    ]
                })
                .collect(),
        ),
    ]
}

/// The geometric mean of some dollar figures (None when there are none).
fn geomean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| (xs.iter().map(|x| x.ln()).sum::<f64>() / xs.len() as f64).exp())
}

/// The verdict card's line on inference prices, when prefill or decode paired: each side's $
/// per 1M input tokens (prefill) and output tokens (decode), the geometric mean over the
/// workload's paired points (as the job cost averages them).
pub fn card_line(c: &Comparison) -> Option<String> {
    let mut parts = Vec::new();
    for w in ["prefill", "decode"] {
        let item = inference_item(w)?;
        let rows: Vec<&PairRow> = c.pairs.iter().filter(|r| r.workload == w).collect();
        let side = |f: fn(&PairRow) -> Option<f64>| {
            let xs: Option<Vec<f64>> = rows.iter().map(|r| f(r)).collect();
            xs.and_then(|v| geomean(&v))
        };
        let (Some(ch), Some(b)) = (
            side(|r| r.challenger_usd_per_1m_items),
            side(|r| r.baseline_usd_per_1m_items),
        ) else {
            continue;
        };
        parts.push(format!(
            "{w} {} per 1M {item} on {} against {} on {} ({} paired point{})",
            usd(ch),
            c.challenger_price.instance,
            usd(b),
            c.baseline_price.instance,
            rows.len(),
            if rows.len() == 1 { "" } else { "s" }
        ));
    }
    (!parts.is_empty()).then(|| {
        format!(
            "Inference at these prices, geometric means over each workload's paired points: {}.",
            parts.join("; ")
        )
    })
}

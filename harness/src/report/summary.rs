//! `summary.csv` and `summary.json`: one row per paired point, the same columns in both
//! (`pd.read_csv("summary.csv")` / `pd.read_json("summary.json")`), the DESIGN.md columns
//! first. Inference rows add $ per 1M input tokens (prefill) and output tokens (decode) beside
//! the generic $ per 1M items, tokens/s per device and per instance, and % of the datasheet
//! FLOP peak, memory bandwidth and roofline. The whole model goes to `report.json`.

use serde::Serialize;

use super::model::{PairRow, Report};

#[derive(Debug, Clone, Serialize)]
pub struct Row<'a> {
    pub point_id: &'a str,
    pub baseline_run: &'a str,
    pub challenger_run: &'a str,
    pub baseline_instance: &'a str,
    pub challenger_instance: &'a str,
    pub baseline_usd_per_hour: f64,
    pub challenger_usd_per_hour: f64,
    pub baseline_perf_per_usd: f64,
    pub challenger_perf_per_usd: f64,
    pub ratio: f64,
    pub ratio_ci95_low: f64,
    pub ratio_ci95_high: f64,
    /// The comparison's claim (its low end for a range); empty when the pair has none.
    pub claim: Option<f64>,
    /// Empty when the pair has no claim.
    pub verdict: &'static str,
    pub workload: &'a str,
    pub dtype: &'a str,
    pub perf_unit: &'a str,
    pub baseline_backend: &'a str,
    pub challenger_backend: &'a str,
    pub baseline_median_s: f64,
    pub challenger_median_s: f64,
    pub baseline_devices_used: f64,
    pub challenger_devices_used: f64,
    pub baseline_price_model: &'a str,
    pub challenger_price_model: &'a str,
    pub challenger_breakeven_usd_per_hour: Option<f64>,
    pub baseline_breakeven_usd_per_hour: Option<f64>,
    pub baseline_implementation: &'a str,
    pub challenger_implementation: &'a str,
    pub params: &'a str,
    /// The workload's item (matmuls, tokens, samples): the unit of the $ per 1M items.
    pub item: &'a str,
    pub baseline_cost_per_iteration_usd: f64,
    pub challenger_cost_per_iteration_usd: f64,
    pub baseline_usd_per_1m_items: Option<f64>,
    pub challenger_usd_per_1m_items: Option<f64>,
    /// Items (input tokens for prefill, output tokens for decode) per second per device, and per
    /// instance (the per-device rate on every accelerator of the instance).
    pub baseline_items_per_s_per_device: f64,
    pub challenger_items_per_s_per_device: f64,
    pub baseline_items_per_s_per_instance: f64,
    pub challenger_items_per_s_per_instance: f64,
    /// Prefill's $ per 1M input tokens (empty for other workloads).
    pub baseline_usd_per_1m_input_tokens: Option<f64>,
    pub challenger_usd_per_1m_input_tokens: Option<f64>,
    /// Decode's $ per 1M output tokens (empty for other workloads).
    pub baseline_usd_per_1m_output_tokens: Option<f64>,
    pub challenger_usd_per_1m_output_tokens: Option<f64>,
    /// % of the dtype's datasheet FLOP peak per device (empty when unknown).
    pub baseline_pct_of_peak_flops: Option<f64>,
    pub challenger_pct_of_peak_flops: Option<f64>,
    /// % of the datasheet memory bandwidth: bytes ÷ time ÷ peak (empty when unknown).
    pub baseline_pct_of_peak_memory_bw: Option<f64>,
    pub challenger_pct_of_peak_memory_bw: Option<f64>,
    /// % of the roofline, min(FLOP peak, FLOP per byte × bandwidth), and the bounding roof
    /// ("memory" or "compute"; empty when unknown).
    pub baseline_pct_of_roofline: Option<f64>,
    pub challenger_pct_of_roofline: Option<f64>,
    pub baseline_roofline_bound: &'static str,
    pub challenger_roofline_bound: &'static str,
}

/// The $ per 1M items of a pair when its workload is `workload` (prefill: input tokens,
/// decode: output tokens), else None.
fn side_tokens(p: &PairRow, workload: &str, usd_per_1m_items: Option<f64>) -> Option<f64> {
    usd_per_1m_items.filter(|_| p.workload == workload)
}

pub fn rows(r: &Report) -> Vec<Row<'_>> {
    let mut out = Vec::new();
    for c in &r.comparisons {
        for p in &c.pairs {
            out.push(Row {
                point_id: &p.point_id,
                baseline_run: &p.baseline_run,
                challenger_run: &p.challenger_run,
                baseline_instance: &c.baseline_price.instance,
                challenger_instance: &c.challenger_price.instance,
                baseline_usd_per_hour: c.baseline_price.usd_per_hour,
                challenger_usd_per_hour: c.challenger_price.usd_per_hour,
                baseline_perf_per_usd: p.baseline_perf_per_usd,
                challenger_perf_per_usd: p.challenger_perf_per_usd,
                ratio: p.ratio.ratio,
                ratio_ci95_low: p.ratio.low,
                ratio_ci95_high: p.ratio.high,
                claim: c.claim.as_ref().map(|k| k.low),
                verdict: p.verdict.map_or("", |v| v.name()),
                workload: &p.workload,
                dtype: &p.dtype,
                perf_unit: &p.perf_unit,
                baseline_backend: &c.baseline_side.backend,
                challenger_backend: &c.challenger_side.backend,
                baseline_median_s: p.baseline_median_s,
                challenger_median_s: p.challenger_median_s,
                baseline_devices_used: p.baseline_devices_used,
                challenger_devices_used: p.challenger_devices_used,
                baseline_price_model: &c.baseline_price.purchase_model,
                challenger_price_model: &c.challenger_price.purchase_model,
                challenger_breakeven_usd_per_hour: p.break_even.map(|b| b.challenger_at_claim),
                baseline_breakeven_usd_per_hour: p.break_even.map(|b| b.baseline_at_claim),
                baseline_implementation: &p.baseline_implementation,
                challenger_implementation: &p.challenger_implementation,
                params: &p.params,
                item: &p.item,
                baseline_cost_per_iteration_usd: p.baseline_cost_per_iteration_usd,
                challenger_cost_per_iteration_usd: p.challenger_cost_per_iteration_usd,
                baseline_usd_per_1m_items: p.baseline_usd_per_1m_items,
                challenger_usd_per_1m_items: p.challenger_usd_per_1m_items,
                baseline_items_per_s_per_device: p.baseline_items_per_s_per_device,
                challenger_items_per_s_per_device: p.challenger_items_per_s_per_device,
                baseline_items_per_s_per_instance: p.baseline_items_per_s_per_instance,
                challenger_items_per_s_per_instance: p.challenger_items_per_s_per_instance,
                baseline_usd_per_1m_input_tokens: side_tokens(
                    p,
                    "prefill",
                    p.baseline_usd_per_1m_items,
                ),
                challenger_usd_per_1m_input_tokens: side_tokens(
                    p,
                    "prefill",
                    p.challenger_usd_per_1m_items,
                ),
                baseline_usd_per_1m_output_tokens: side_tokens(
                    p,
                    "decode",
                    p.baseline_usd_per_1m_items,
                ),
                challenger_usd_per_1m_output_tokens: side_tokens(
                    p,
                    "decode",
                    p.challenger_usd_per_1m_items,
                ),
                baseline_pct_of_peak_flops: p.baseline_pct_of_peak_flops,
                challenger_pct_of_peak_flops: p.challenger_pct_of_peak_flops,
                baseline_pct_of_peak_memory_bw: p.baseline_pct_of_peak_memory_bw,
                challenger_pct_of_peak_memory_bw: p.challenger_pct_of_peak_memory_bw,
                baseline_pct_of_roofline: p.baseline_pct_of_roofline,
                challenger_pct_of_roofline: p.challenger_pct_of_roofline,
                baseline_roofline_bound: p.baseline_roofline_bound.unwrap_or(""),
                challenger_roofline_bound: p.challenger_roofline_bound.unwrap_or(""),
            });
        }
    }
    out
}

/// The CSV text (a header line even when nothing paired).
pub fn csv(r: &Report) -> Result<String, csv::Error> {
    let rows = rows(r);
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    w.write_record(HEADER)?;
    for row in &rows {
        w.serialize(row)?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8(bytes).expect("csv is utf-8"))
}

/// The column names, in order (kept equal to [`Row`]'s fields by a test).
pub const HEADER: [&str; 51] = [
    "point_id",
    "baseline_run",
    "challenger_run",
    "baseline_instance",
    "challenger_instance",
    "baseline_usd_per_hour",
    "challenger_usd_per_hour",
    "baseline_perf_per_usd",
    "challenger_perf_per_usd",
    "ratio",
    "ratio_ci95_low",
    "ratio_ci95_high",
    "claim",
    "verdict",
    "workload",
    "dtype",
    "perf_unit",
    "baseline_backend",
    "challenger_backend",
    "baseline_median_s",
    "challenger_median_s",
    "baseline_devices_used",
    "challenger_devices_used",
    "baseline_price_model",
    "challenger_price_model",
    "challenger_breakeven_usd_per_hour",
    "baseline_breakeven_usd_per_hour",
    "baseline_implementation",
    "challenger_implementation",
    "params",
    "item",
    "baseline_cost_per_iteration_usd",
    "challenger_cost_per_iteration_usd",
    "baseline_usd_per_1m_items",
    "challenger_usd_per_1m_items",
    "baseline_items_per_s_per_device",
    "challenger_items_per_s_per_device",
    "baseline_items_per_s_per_instance",
    "challenger_items_per_s_per_instance",
    "baseline_usd_per_1m_input_tokens",
    "challenger_usd_per_1m_input_tokens",
    "baseline_usd_per_1m_output_tokens",
    "challenger_usd_per_1m_output_tokens",
    "baseline_pct_of_peak_flops",
    "challenger_pct_of_peak_flops",
    "baseline_pct_of_peak_memory_bw",
    "challenger_pct_of_peak_memory_bw",
    "baseline_pct_of_roofline",
    "challenger_pct_of_roofline",
    "baseline_roofline_bound",
    "challenger_roofline_bound",
];

/// A JSON array of row objects, one row per line.
pub fn json(r: &Report) -> serde_json::Result<String> {
    let rows = rows(r);
    let mut out = String::from("[\n");
    for (i, row) in rows.iter().enumerate() {
        out.push_str(&serde_json::to_string(row)?);
        out.push_str(if i + 1 < rows.len() { ",\n" } else { "\n" });
    }
    out.push_str("]\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_the_row_fields() {
        let row = Row {
            point_id: "p",
            baseline_run: "b",
            challenger_run: "c",
            baseline_instance: "bi",
            challenger_instance: "ci",
            baseline_usd_per_hour: 1.0,
            challenger_usd_per_hour: 1.0,
            baseline_perf_per_usd: 1.0,
            challenger_perf_per_usd: 1.0,
            ratio: 1.0,
            ratio_ci95_low: 1.0,
            ratio_ci95_high: 1.0,
            claim: None,
            verdict: "",
            workload: "w",
            dtype: "d",
            perf_unit: "u",
            baseline_backend: "cuda",
            challenger_backend: "neuron",
            baseline_median_s: 1.0,
            challenger_median_s: 1.0,
            baseline_devices_used: 1.0,
            challenger_devices_used: 1.0,
            baseline_price_model: "m",
            challenger_price_model: "m",
            challenger_breakeven_usd_per_hour: None,
            baseline_breakeven_usd_per_hour: None,
            baseline_implementation: "bench",
            challenger_implementation: "bench",
            params: "m=1",
            item: "matmuls",
            baseline_cost_per_iteration_usd: 1.0,
            challenger_cost_per_iteration_usd: 1.0,
            baseline_usd_per_1m_items: None,
            challenger_usd_per_1m_items: None,
            baseline_items_per_s_per_device: 1.0,
            challenger_items_per_s_per_device: 1.0,
            baseline_items_per_s_per_instance: 1.0,
            challenger_items_per_s_per_instance: 1.0,
            baseline_usd_per_1m_input_tokens: None,
            challenger_usd_per_1m_input_tokens: None,
            baseline_usd_per_1m_output_tokens: None,
            challenger_usd_per_1m_output_tokens: None,
            baseline_pct_of_peak_flops: None,
            challenger_pct_of_peak_flops: None,
            baseline_pct_of_peak_memory_bw: None,
            challenger_pct_of_peak_memory_bw: None,
            baseline_pct_of_roofline: None,
            challenger_pct_of_roofline: None,
            baseline_roofline_bound: "",
            challenger_roofline_bound: "",
        };
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(&row).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert_eq!(text.lines().next().unwrap(), HEADER.join(","));
    }
}

//! `points.csv`: one row per usable point of every real run (paired or not, priced or not),
//! with the per-point metrics of the run tables: throughput per device and per instance, % of
//! the datasheet FLOP peak, memory bandwidth and roofline, and the prices ($ per 1M items, and
//! per 1M input or output tokens for prefill and decode). `pd.read_csv("points.csv")` reads it
//! as it is; a CPU-only report, which pairs nothing, has its decode tokens/s here.

use serde::Serialize;

use super::metrics::PointMetrics;
use super::model::{Report, RunSummary};

#[derive(Debug, Clone, Serialize)]
pub struct Row<'a> {
    pub run: &'a str,
    pub instance: &'a str,
    pub backend: &'a str,
    pub implementation: &'a str,
    pub accelerator: &'a str,
    pub point_id: &'a str,
    pub workload: &'a str,
    pub dtype: &'a str,
    pub item: &'a str,
    pub median_s: f64,
    pub ci95_low_s: f64,
    pub ci95_high_s: f64,
    pub n: usize,
    pub flops: f64,
    pub bytes: f64,
    pub devices_used: f64,
    pub tflops_per_device: f64,
    pub pct_of_peak_flops: Option<f64>,
    pub items_per_s: f64,
    pub items_per_s_per_device: f64,
    pub items_per_s_per_instance: Option<f64>,
    pub gb_per_s_per_device: Option<f64>,
    pub pct_of_peak_memory_bw: Option<f64>,
    pub pct_of_roofline: Option<f64>,
    pub roofline_bound: &'a str,
    pub cost_per_iteration_usd: Option<f64>,
    pub perf_per_usd: Option<f64>,
    pub perf_unit: &'a str,
    pub usd_per_1m_items: Option<f64>,
    /// Prefill only.
    pub usd_per_1m_input_tokens: Option<f64>,
    /// Decode only.
    pub usd_per_1m_output_tokens: Option<f64>,
}

fn row<'a>(r: &'a RunSummary, m: &'a PointMetrics) -> Row<'a> {
    let only = |w: &str| m.usd_per_million_items.filter(|_| m.workload == w);
    Row {
        run: &r.name,
        instance: r.instance.as_deref().unwrap_or(""),
        backend: &r.backend,
        implementation: &r.implementation,
        accelerator: r.accelerator.as_deref().unwrap_or(""),
        point_id: &m.id,
        workload: &m.workload,
        dtype: &m.dtype,
        item: &m.item,
        median_s: m.median_s,
        ci95_low_s: m.ci95_low_s,
        ci95_high_s: m.ci95_high_s,
        n: m.n,
        flops: m.flops,
        bytes: m.bytes,
        devices_used: m.devices_used,
        tflops_per_device: m.tflops_per_device,
        pct_of_peak_flops: m.pct_of_peak,
        items_per_s: m.items_per_s,
        items_per_s_per_device: m.items_per_s_per_device,
        items_per_s_per_instance: m.items_per_s_per_instance,
        gb_per_s_per_device: m.gb_per_s_per_device,
        pct_of_peak_memory_bw: m.pct_of_peak_memory_bw,
        pct_of_roofline: m.pct_of_roofline,
        roofline_bound: m.roofline_bound.unwrap_or(""),
        cost_per_iteration_usd: m.cost_per_iteration_usd,
        perf_per_usd: m.perf_per_usd,
        perf_unit: &m.perf_unit,
        usd_per_1m_items: m.usd_per_million_items,
        usd_per_1m_input_tokens: only("prefill"),
        usd_per_1m_output_tokens: only("decode"),
    }
}

/// The column names, in order (kept equal to [`Row`]'s fields by a test).
pub const HEADER: [&str; 31] = [
    "run",
    "instance",
    "backend",
    "implementation",
    "accelerator",
    "point_id",
    "workload",
    "dtype",
    "item",
    "median_s",
    "ci95_low_s",
    "ci95_high_s",
    "n",
    "flops",
    "bytes",
    "devices_used",
    "tflops_per_device",
    "pct_of_peak_flops",
    "items_per_s",
    "items_per_s_per_device",
    "items_per_s_per_instance",
    "gb_per_s_per_device",
    "pct_of_peak_memory_bw",
    "pct_of_roofline",
    "roofline_bound",
    "cost_per_iteration_usd",
    "perf_per_usd",
    "perf_unit",
    "usd_per_1m_items",
    "usd_per_1m_input_tokens",
    "usd_per_1m_output_tokens",
];

/// The CSV text (a header line even when no run has a usable point); simulated runs have no
/// usable points in the model, so they have no rows.
pub fn csv(r: &Report) -> Result<String, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    w.write_record(HEADER)?;
    for run in r.runs.iter().filter(|run| !run.simulated) {
        for m in &run.points {
            w.serialize(row(run, m))?;
        }
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8(bytes).expect("csv is utf-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_the_row_fields() {
        let row = Row {
            run: "r",
            instance: "i",
            backend: "cpu",
            implementation: "bench",
            accelerator: "a",
            point_id: "p",
            workload: "decode",
            dtype: "f32",
            item: "output tokens",
            median_s: 1.0,
            ci95_low_s: 1.0,
            ci95_high_s: 1.0,
            n: 1,
            flops: 1.0,
            bytes: 1.0,
            devices_used: 1.0,
            tflops_per_device: 1.0,
            pct_of_peak_flops: None,
            items_per_s: 1.0,
            items_per_s_per_device: 1.0,
            items_per_s_per_instance: None,
            gb_per_s_per_device: None,
            pct_of_peak_memory_bw: None,
            pct_of_roofline: None,
            roofline_bound: "",
            cost_per_iteration_usd: None,
            perf_per_usd: None,
            perf_unit: "output tokens/$",
            usd_per_1m_items: None,
            usd_per_1m_input_tokens: None,
            usd_per_1m_output_tokens: None,
        };
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(&row).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert_eq!(text.lines().next().unwrap(), HEADER.join(","));
    }
}

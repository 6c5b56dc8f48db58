//! Per-point normalisation: throughput per device, % of the datasheet peak for the dtype, cost
//! per iteration, perf per dollar in the workload's own unit (TFLOP/$ for matmul, tokens/$ for
//! attention, samples/$ for training), $ per 1M tokens or samples, and the one-off time (init,
//! load, compile) priced as time-to-first-result. Pure.

use serde::Serialize;

use super::devices::DeviceRow;
use super::prices::Priced;
use super::verdict::{cost_usd, device_share};
use crate::schema::PointRecord;

/// Is the point's work counted in FLOP (matmul, per the kernels crate) rather than in items?
pub fn counts_flop(p: &PointRecord) -> bool {
    p.workload.parse::<kernels::WorkloadKind>() == Ok(kernels::WorkloadKind::Matmul)
}

/// The unit perf per dollar is given in: TFLOP/$ for matmul, else the workload's own item
/// per $ (tokens/$ for attention, samples/$ for training, as run.json's throughput.item says).
pub fn perf_unit(p: &PointRecord) -> String {
    match &p.throughput {
        _ if counts_flop(p) => "TFLOP/$".into(),
        Some(t) if !t.item.is_empty() => format!("{}/$", t.item),
        _ => "iterations/$".into(),
    }
}

/// The unit a `--job` amount is given in and how many of it one perf-per-$ numerator unit is:
/// ("FLOP", 1e12) for matmul (perf per $ is in TFLOP/$), else (the item, 1).
pub fn job_unit(p: &PointRecord) -> (String, f64) {
    if counts_flop(p) {
        return ("FLOP".into(), 1e12);
    }
    match &p.throughput {
        Some(t) if !t.item.is_empty() => (t.item.clone(), 1.0),
        _ => ("iterations".into(), 1.0),
    }
}

/// Work per iteration in the perf-per-$ unit's numerator.
pub fn work_per_iteration(p: &PointRecord) -> f64 {
    if counts_flop(p) {
        return p.flops / 1e12;
    }
    match items_per_iteration(p) {
        x if x > 0.0 => x,
        _ => 1.0,
    }
}

/// Items (tokens, samples, matmuls) per iteration, from the recorded throughput.
pub fn items_per_iteration(p: &PointRecord) -> f64 {
    match (&p.throughput, &p.stats) {
        (Some(t), Some(s)) => t.items_per_s * s.median_s,
        _ => 0.0,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PointMetrics {
    pub id: String,
    pub workload: String,
    pub dtype: String,
    pub median_s: f64,
    pub ci95_low_s: f64,
    pub ci95_high_s: f64,
    pub n: usize,
    pub flops: f64,
    pub devices_used: f64,
    pub tflops_per_device: f64,
    pub item: String,
    pub items_per_s: f64,
    /// Dense datasheet peak for the dtype (TFLOP/s per device), when known.
    pub peak_tflops: Option<f64>,
    pub pct_of_peak: Option<f64>,
    pub cost_per_iteration_usd: Option<f64>,
    pub perf_per_usd: Option<f64>,
    pub perf_unit: String,
    pub usd_per_million_items: Option<f64>,
    pub one_off_s: f64,
    pub one_off_usd: Option<f64>,
}

/// Metrics of an ok point with samples; `price` and `device` when known.
pub fn point_metrics(
    p: &PointRecord,
    median_s: f64,
    price: Option<&Priced>,
    device: Option<&DeviceRow>,
) -> PointMetrics {
    let stats = p.stats.as_ref();
    let flop_per_s = p.flops / median_s;
    let tflops_per_device = flop_per_s / 1e12 / p.devices_used;
    let items = items_per_iteration(p);
    let peak_tflops = device.and_then(|d| d.peak_tflops(&p.dtype));
    let pct_of_peak = peak_tflops.map(|peak| 100.0 * tflops_per_device / peak);
    let share = price.map(|pr| device_share(p.devices_used, pr.accelerators_per_instance));
    let cost = price
        .zip(share)
        .map(|(pr, s)| cost_usd(pr.usd_per_hour, s, median_s));
    let one_off_s = [p.one_off_s.init, p.one_off_s.load, p.one_off_s.compile]
        .iter()
        .flatten()
        .sum::<f64>();
    let per_million = !counts_flop(p) && items > 0.0;
    PointMetrics {
        id: p.id.clone(),
        workload: p.workload.clone(),
        dtype: p.dtype.clone(),
        median_s,
        ci95_low_s: stats.map_or(median_s, |s| s.ci95_low_s),
        ci95_high_s: stats.map_or(median_s, |s| s.ci95_high_s),
        n: p.samples_s.len(),
        flops: p.flops,
        devices_used: p.devices_used,
        tflops_per_device,
        item: p
            .throughput
            .as_ref()
            .map(|t| t.item.clone())
            .unwrap_or_default(),
        items_per_s: if median_s > 0.0 {
            items / median_s
        } else {
            0.0
        },
        peak_tflops,
        pct_of_peak,
        cost_per_iteration_usd: cost,
        perf_per_usd: cost.map(|c| work_per_iteration(p) / c),
        perf_unit: perf_unit(p),
        usd_per_million_items: cost.filter(|_| per_million).map(|c| 1e6 * c / items),
        one_off_s,
        one_off_usd: price
            .zip(share)
            .map(|(pr, s)| cost_usd(pr.usd_per_hour, s, one_off_s)),
    }
}

//! Per-point normalisation: throughput per device and per instance, % of the datasheet peak for
//! the dtype, % of the datasheet memory bandwidth and of the roofline (from the point's bytes),
//! cost per iteration, perf per dollar in the workload's own unit (TFLOP/$ for matmul, tokens/$
//! for attention, samples/$ for training, input tokens/$ for prefill, output tokens/$ for
//! decode), $ per 1M items (input or output tokens for inference), and the one-off time (init,
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

/// The item of an inference workload, which side of a model API's price it is: prefill's
/// tokens are input tokens, decode's are output tokens. None for other workloads.
pub fn inference_item(workload: &str) -> Option<&'static str> {
    match workload.parse::<kernels::WorkloadKind>() {
        Ok(kernels::WorkloadKind::Prefill) => Some("input tokens"),
        Ok(kernels::WorkloadKind::Decode) => Some("output tokens"),
        _ => None,
    }
}

/// The point's item as the report names it: [`inference_item`] for prefill and decode, else
/// run.json's throughput.item (empty when the point recorded none).
pub fn item_name(p: &PointRecord) -> String {
    match (&p.throughput, inference_item(&p.workload)) {
        (Some(t), Some(name)) if !t.item.is_empty() => name.to_string(),
        (Some(t), _) => t.item.clone(),
        (None, _) => String::new(),
    }
}

/// The unit perf per dollar is given in: TFLOP/$ for matmul, else the workload's own item
/// per $ (tokens/$ for attention, samples/$ for training, input/output tokens/$ for prefill
/// and decode, from run.json's throughput.item).
pub fn perf_unit(p: &PointRecord) -> String {
    match item_name(p) {
        _ if counts_flop(p) => "TFLOP/$".into(),
        item if !item.is_empty() => format!("{item}/$"),
        _ => "iterations/$".into(),
    }
}

/// The unit a `--job` amount is given in and how many of it one perf-per-$ numerator unit is:
/// ("FLOP", 1e12) for matmul (perf per $ is in TFLOP/$), else (the item, 1).
pub fn job_unit(p: &PointRecord) -> (String, f64) {
    if counts_flop(p) {
        return ("FLOP".into(), 1e12);
    }
    match item_name(p) {
        item if !item.is_empty() => (item, 1.0),
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
    /// Items per second per device used (tokens/s per device for prefill and decode).
    pub items_per_s_per_device: f64,
    /// The per-device rate times the instance's accelerators (a copy of the point on each),
    /// when the run is priced; equal to `items_per_s` for a point using the whole instance.
    pub items_per_s_per_instance: Option<f64>,
    /// Dense datasheet peak for the dtype (TFLOP/s per device), when known.
    pub peak_tflops: Option<f64>,
    pub pct_of_peak: Option<f64>,
    /// Bytes of memory traffic per iteration as run.json records them (compulsory traffic:
    /// decode's weights plus the KV cache read).
    pub bytes: f64,
    /// `bytes` ÷ median time per device, in GB/s; None when the point records no bytes.
    pub gb_per_s_per_device: Option<f64>,
    /// Datasheet memory (HBM) bandwidth per device in GB/s (results/devices.csv), when known.
    pub peak_memory_bw_gb_s: Option<f64>,
    /// % of the datasheet memory bandwidth: bytes ÷ time ÷ peak bandwidth.
    pub pct_of_peak_memory_bw: Option<f64>,
    /// The roofline's attainable TFLOP/s per device at the point's arithmetic intensity:
    /// min(dtype peak, FLOP per byte × memory bandwidth).
    pub roofline_tflops: Option<f64>,
    /// Achieved TFLOP/s per device as a % of [`Self::roofline_tflops`].
    pub pct_of_roofline: Option<f64>,
    /// Which roof bounds the point: "memory" or "compute".
    pub roofline_bound: Option<&'static str>,
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
    let roof = roofline(p, median_s, tflops_per_device, peak_tflops, device);
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
        item: item_name(p),
        items_per_s: if median_s > 0.0 {
            items / median_s
        } else {
            0.0
        },
        items_per_s_per_device: per_device_rate(items, median_s, p.devices_used),
        items_per_s_per_instance: price.map(|pr| {
            per_device_rate(items, median_s, p.devices_used) * pr.accelerators_per_instance
        }),
        peak_tflops,
        pct_of_peak,
        bytes: p.bytes,
        gb_per_s_per_device: roof.gb_per_s,
        peak_memory_bw_gb_s: roof.peak_bw,
        pct_of_peak_memory_bw: roof.pct_bw,
        roofline_tflops: roof.attainable,
        pct_of_roofline: roof.pct,
        roofline_bound: roof.bound,
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

/// `per_iteration` items (or bytes) ÷ time ÷ devices; 0 for a non-positive time or device count.
pub fn per_device_rate(per_iteration: f64, median_s: f64, devices: f64) -> f64 {
    if median_s > 0.0 && devices > 0.0 {
        per_iteration / median_s / devices
    } else {
        0.0
    }
}

/// A point against the memory roof and the FLOP roof of its device.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Roofline {
    pub gb_per_s: Option<f64>,
    pub peak_bw: Option<f64>,
    pub pct_bw: Option<f64>,
    pub attainable: Option<f64>,
    pub pct: Option<f64>,
    pub bound: Option<&'static str>,
}

/// The point's achieved memory rate, its % of the datasheet bandwidth, and the roofline: the
/// attainable TFLOP/s at its FLOP per byte is min(FLOP peak, intensity × bandwidth).
pub fn roofline(
    p: &PointRecord,
    median_s: f64,
    tflops_per_device: f64,
    peak_tflops: Option<f64>,
    device: Option<&DeviceRow>,
) -> Roofline {
    let gb_per_s = (p.bytes > 0.0 && median_s > 0.0)
        .then(|| per_device_rate(p.bytes, median_s, p.devices_used) / 1e9);
    let peak_bw = device.and_then(|d| d.memory_bw_gb_s).filter(|b| *b > 0.0);
    let pct_bw = gb_per_s.zip(peak_bw).map(|(g, b)| 100.0 * g / b);
    let mut out = Roofline {
        gb_per_s,
        peak_bw,
        pct_bw,
        ..Roofline::default()
    };
    if let (Some(bw), Some(peak), true) = (peak_bw, peak_tflops, p.bytes > 0.0 && p.flops > 0.0) {
        // FLOP per byte × GB/s = GFLOP/s; ÷ 1e3 for TFLOP/s
        let memory_roof = p.flops / p.bytes * bw / 1e3;
        let attainable = memory_roof.min(peak);
        out.attainable = Some(attainable);
        out.pct = Some(100.0 * tflops_per_device / attainable);
        out.bound = Some(if memory_roof < peak {
            "memory"
        } else {
            "compute"
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(workload: &str, flops: f64, bytes: f64, devices: f64) -> PointRecord {
        serde_json::from_value(serde_json::json!({
            "id": format!("{workload}/x=1/bf16"), "workload": workload, "params": {"x": 1},
            "dtype": "bf16", "status": "ok", "flops": flops, "bytes": bytes,
            "devices_used": devices, "samples_s": [0.002],
            "stats": {"n": 1, "median_s": 0.002, "mean_s": 0.002, "stdev_s": 0.0, "mad_s": 0.0,
                      "ci95_low_s": 0.002, "ci95_high_s": 0.002, "outliers": 0},
            "throughput": {"flop_per_s": flops / 0.002, "items_per_s": 8.0 / 0.002,
                           "item": "tokens"}
        }))
        .unwrap()
    }

    #[test]
    fn inference_items_are_input_and_output_tokens() {
        assert_eq!(item_name(&record("prefill", 1.0, 0.0, 1.0)), "input tokens");
        assert_eq!(item_name(&record("decode", 1.0, 0.0, 1.0)), "output tokens");
        assert_eq!(item_name(&record("attention", 1.0, 0.0, 1.0)), "tokens");
        assert_eq!(
            perf_unit(&record("decode", 1.0, 0.0, 1.0)),
            "output tokens/$"
        );
        assert_eq!(
            job_unit(&record("prefill", 1.0, 0.0, 1.0)).0,
            "input tokens"
        );
    }

    #[test]
    fn bandwidth_and_roofline_by_hand() {
        let h100 = super::super::devices::DeviceTable::builtin();
        let h100 = h100.get("H100 SXM").unwrap();
        // 6.7 GB in 2 ms on one device = 3350 GB/s = 100% of 3350; 1 FLOP per byte:
        // memory roof 3.35 TFLOP/s < 989, achieved 3.35 → 100% of the roofline
        let p = record("decode", 6.7e9, 6.7e9, 1.0);
        let r = roofline(&p, 0.002, 6.7e9 / 0.002 / 1e12, Some(989.0), Some(h100));
        assert!((r.gb_per_s.unwrap() - 3350.0).abs() < 1e-9);
        assert!((r.pct_bw.unwrap() - 100.0).abs() < 1e-9);
        assert!((r.attainable.unwrap() - 3.35).abs() < 1e-12);
        assert!((r.pct.unwrap() - 100.0).abs() < 1e-9);
        assert_eq!(r.bound, Some("memory"));
        // two devices: half the rate each; 1000 FLOP per byte is compute-bound
        let p = record("decode", 6.7e12, 6.7e9, 2.0);
        let r = roofline(
            &p,
            0.002,
            6.7e12 / 0.002 / 2.0 / 1e12,
            Some(989.0),
            Some(h100),
        );
        assert!((r.pct_bw.unwrap() - 50.0).abs() < 1e-9);
        assert_eq!(r.attainable, Some(989.0));
        assert_eq!(r.bound, Some("compute"));
        // no bytes recorded, no device: nothing claimed
        let r = roofline(&record("matmul", 1.0, 0.0, 1.0), 0.002, 1.0, None, None);
        assert_eq!(r, Roofline::default());
        assert_eq!(per_device_rate(8.0, 0.002, 2.0), 2000.0);
    }
}

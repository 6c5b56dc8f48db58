//! Chart: achieved TFLOP/s per device against work per iteration (GFLOP), one panel per
//! workload but decode (drawn against batch in decode_batch.rs), one line per run and dtype, with each device's datasheet peak for that dtype as a
//! dashed line (log-log axes). Peaks come from results/devices.csv; a CPU has none.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::ratio_size::marker;
use super::{render, run_colour, span, tick_label, DrawResult, Outcome, FONT};
use crate::report::model::Report;

/// Most points drawn per series (every k-th beyond that; the tables hold all).
const MAX_POINTS: usize = 1000;

struct Series {
    label: String,
    colour: RGBColor,
    /// The dtype's marker (the run has the colour).
    marker: usize,
    points: Vec<(f64, f64)>,
    peak: Option<(String, f64)>,
}

pub struct Data {
    panels: Vec<(String, Vec<Series>)>,
}

/// The attention variant of a point ("causal" / "full"), from its id; None for other workloads.
fn variant(m: &crate::report::metrics::PointMetrics) -> Option<&'static str> {
    attention_variant(&m.workload, &m.id)
}

fn attention_variant(workload: &str, id: &str) -> Option<&'static str> {
    (workload == "attention").then(|| {
        if id.contains("causal=1") {
            "causal"
        } else {
            "full"
        }
    })
}

fn prepare(rep: &Report) -> Option<Data> {
    let mut panels: BTreeMap<String, Vec<Series>> = BTreeMap::new();
    let mut markers: BTreeMap<String, usize> = BTreeMap::new();
    for (ri, r) in rep.runs.iter().enumerate().filter(|(_, r)| !r.simulated) {
        let mut by: BTreeMap<(String, String), Vec<&crate::report::metrics::PointMetrics>> =
            BTreeMap::new();
        // decode has its own chart against batch (decode_batch.rs)
        for m in r.points.iter().filter(|m| m.workload != "decode") {
            // Causal and full attention do different work per FLOP: one line each.
            let dtype = match variant(m) {
                Some(v) => format!("{} {v}", m.dtype),
                None => m.dtype.clone(),
            };
            by.entry((m.workload.clone(), dtype)).or_default().push(m);
        }
        for ((workload, dtype), ms) in by {
            let label = format!(
                "{} {} {}",
                r.instance.as_deref().unwrap_or(&r.name),
                r.backend,
                dtype
            );
            let next = markers.len();
            let m = *markers.entry(dtype.clone()).or_insert(next);
            let step = ms.len().div_ceil(MAX_POINTS).max(1);
            let mut points: Vec<(f64, f64)> = ms
                .iter()
                .step_by(step)
                .map(|m| (m.flops / 1e9, m.tflops_per_device))
                .filter(|(x, y)| *x > 0.0 && *y > 0.0)
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            let peak = ms.iter().find_map(|m| {
                m.peak_tflops.map(|p| {
                    (
                        format!(
                            "{} {} datasheet peak {p} TFLOP/s",
                            r.accelerator.as_deref().unwrap_or("device"),
                            ms[0].dtype
                        ),
                        p,
                    )
                })
            });
            if !points.is_empty() {
                panels.entry(workload).or_default().push(Series {
                    label,
                    colour: run_colour(rep, ri),
                    marker: m,
                    points,
                    peak,
                });
            }
        }
    }
    (!panels.is_empty()).then(|| Data {
        panels: panels.into_iter().collect(),
    })
}

fn plot<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, d: &Data) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let root = root.titled(
        "Achieved throughput per device vs problem size (dashed: datasheet peak)",
        (FONT, 22),
    )?;
    let (_, h) = root.dim_in_pixel();
    let mut legend: Vec<(String, RGBColor, bool, usize)> = Vec::new();
    for (_, series) in &d.panels {
        for s in series {
            if !legend.iter().any(|l| l.0 == s.label) {
                legend.push((s.label.clone(), s.colour, false, s.marker));
            }
            if let Some((name, _)) = &s.peak {
                if !legend.iter().any(|l| &l.0 == name) {
                    legend.push((name.clone(), s.colour, true, 0));
                }
            }
        }
    }
    let rows = legend.len().div_ceil(2) as u32;
    let (top, bottom) = root.split_vertically(h.saturating_sub(22 * rows + 16));
    let areas = top.split_evenly((1, d.panels.len()));
    for (area, (workload, series)) in areas.iter().zip(&d.panels) {
        let (x0, x1) = span(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
        let (y0, y1) = span(series.iter().flat_map(|s| {
            s.points
                .iter()
                .map(|p| p.1)
                .chain(s.peak.as_ref().map(|p| p.1))
        }));
        let mut chart = ChartBuilder::on(area)
            .caption(workload, (FONT, 19))
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("work per iteration (GFLOP)")
            .y_desc("TFLOP/s per device")
            .x_labels(5)
            .y_labels(6)
            .x_label_formatter(&tick_label)
            .y_label_formatter(&tick_label)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .draw()?;
        for s in series {
            let c = s.colour;
            let m = s.marker;
            chart.draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))?;
            chart.draw_series(
                s.points
                    .iter()
                    .map(|&p| EmptyElement::at(p) + marker((0, 0), m, c)),
            )?;
            if let Some((_, peak)) = &s.peak {
                chart.draw_series(DashedLineSeries::new(
                    [(x0, *peak), (x1, *peak)],
                    8,
                    5,
                    c.stroke_width(2),
                ))?;
            }
        }
    }
    let (w, _) = bottom.dim_in_pixel();
    let col = (w / 2) as i32;
    for (i, (label, c, dashed, m)) in legend.iter().enumerate() {
        let x = 40 + (i as i32 % 2) * col;
        let y = 10 + (i as i32 / 2) * 22;
        let style = c.stroke_width(if *dashed { 2 } else { 3 });
        if *dashed {
            for k in 0..3 {
                bottom.draw(&PathElement::new(
                    [(x + k * 10, y + 8), (x + k * 10 + 6, y + 8)],
                    style,
                ))?;
            }
        } else {
            bottom.draw(&PathElement::new([(x, y + 8), (x + 26, y + 8)], style))?;
            bottom.draw(&(EmptyElement::at((x + 13, y + 8)) + marker((0, 0), *m, *c)))?;
        }
        bottom.draw(&Text::new(label.clone(), (x + 36, y), (FONT, 15)))?;
    }
    Ok(())
}

// The closures are needed: `plot::<SVGBackend>` is not general over the backend's lifetime.
#[allow(clippy::redundant_closure)]
pub fn draw(rep: &Report, dir: &Path) -> Result<Outcome, Box<dyn Error>> {
    let Some(data) = prepare(rep) else {
        return Ok(Err(
            "throughput vs size: no usable points in any real run".into()
        ));
    };
    Ok(Ok(render(
        dir,
        "throughput_vs_size",
        "Achieved TFLOP/s per device against work per iteration, per run and dtype, with each device's dense datasheet peak for that dtype (dashed). A CPU has no datasheet peak in results/devices.csv. Decode is drawn against batch in its own chart.".into(),
        &data,
        |r, d| plot(r, d),
        |r, d| plot(r, d),
    )?))
}

#[cfg(test)]
mod tests {
    use super::attention_variant;

    #[test]
    fn causal_and_full_attention_are_separate_lines() {
        let v = |id| attention_variant("attention", id);
        assert_eq!(
            v("attention/b=1,h=8,s=128,d=64,causal=1/f32"),
            Some("causal")
        );
        assert_eq!(v("attention/b=1,h=8,s=256,d=64,causal=0/f32"), Some("full"));
        assert_eq!(attention_variant("matmul", "matmul/m=1,n=1,k=1/f32"), None);
    }
}

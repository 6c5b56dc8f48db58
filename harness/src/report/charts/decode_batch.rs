//! Chart: decode's output tokens/s per device against batch, one panel per model shape, one
//! line per run, dtype and context, with each line's roofline ceiling dashed: the tokens/s the
//! device's datasheet memory bandwidth and FLOP peak allow at that point's bytes and FLOPs
//! (min of the two roofs; results/devices.csv, none for a CPU). Decode is memory-bound, so the
//! gap between a line and its ceiling is its share of the memory bandwidth.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::ratio_size::marker;
use super::{render, run_colour, span, tick_label, DrawResult, Outcome, FONT};
use crate::report::metrics::PointMetrics;
use crate::report::model::Report;

/// Most legend entries shown (the tables hold every point).
const MAX_LEGEND: usize = 18;

struct Series {
    label: String,
    colour: RGBColor,
    marker: usize,
    /// (batch, tokens/s per device)
    points: Vec<(f64, f64)>,
    /// (batch, roofline ceiling in tokens/s per device), where the device's peaks are known.
    ceiling: Vec<(f64, f64)>,
}

pub struct Data {
    panels: Vec<(String, Vec<Series>)>,
}

/// The point's parameters from its id ("decode/d_model=64,...,batch=8,context=128/f32").
fn id_params(id: &str) -> Vec<(&str, u64)> {
    id.split('/')
        .nth(1)
        .unwrap_or("")
        .split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k, v.parse().ok()?))
        })
        .collect()
}

/// (model shape, context, batch) of a decode point id; None when the id lacks batch or context.
fn shape_of(id: &str) -> Option<(String, u64, u64)> {
    let ps = id_params(id);
    let get = |k: &str| ps.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    let (batch, context) = (get("batch")?, get("context")?);
    let model: Vec<String> = ps
        .iter()
        .filter(|(k, _)| !matches!(*k, "batch" | "context"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    Some((model.join(","), context, batch))
}

/// The roofline ceiling of a point in items/s per device: a device's share of the items per
/// iteration over the shortest time its share of the FLOPs takes at the attainable rate (min of
/// the FLOP peak and intensity × bandwidth); the device count cancels.
fn ceiling(m: &PointMetrics) -> Option<f64> {
    let items = m.items_per_s_per_device * m.devices_used * m.median_s;
    m.roofline_tflops
        .filter(|_| m.flops > 0.0 && items > 0.0)
        .map(|t| items * t * 1e12 / m.flops)
}

/// One line of the chart: (model shape, dtype, context); its points are (batch, metrics).
type LineKey = (String, String, u64);

fn prepare(rep: &Report) -> Option<Data> {
    let mut panels: BTreeMap<String, Vec<Series>> = BTreeMap::new();
    let mut markers: BTreeMap<(String, u64), usize> = BTreeMap::new();
    for (ri, r) in rep.runs.iter().enumerate().filter(|(_, r)| !r.simulated) {
        let mut by: BTreeMap<LineKey, Vec<(u64, &PointMetrics)>> = BTreeMap::new();
        for m in r.points.iter().filter(|m| m.workload == "decode") {
            if let Some((model, context, batch)) = shape_of(&m.id) {
                by.entry((model, m.dtype.clone(), context))
                    .or_default()
                    .push((batch, m));
            }
        }
        for ((model, dtype, context), mut ms) in by {
            ms.sort_by_key(|(b, _)| *b);
            let points: Vec<(f64, f64)> = ms
                .iter()
                .map(|(b, m)| (*b as f64, m.items_per_s_per_device))
                .filter(|(_, y)| *y > 0.0)
                .collect();
            if points.is_empty() {
                continue;
            }
            let ceiling: Vec<(f64, f64)> = ms
                .iter()
                .filter_map(|(b, m)| ceiling(m).map(|c| (*b as f64, c)))
                .collect();
            let next = markers.len();
            let mk = *markers.entry((dtype.clone(), context)).or_insert(next);
            panels.entry(model).or_default().push(Series {
                label: format!(
                    "{} {} {dtype} context {context}",
                    r.instance.as_deref().unwrap_or(&r.name),
                    r.backend
                ),
                colour: run_colour(rep, ri),
                marker: mk,
                points,
                ceiling,
            });
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
        "Decode: output tokens/s per device vs batch (dashed: roofline ceiling from the datasheet)",
        (FONT, 20),
    )?;
    let (_, h) = root.dim_in_pixel();
    let mut legend: Vec<(String, RGBColor, usize)> = Vec::new();
    for (_, series) in &d.panels {
        for s in series {
            if !legend.iter().any(|l| l.0 == s.label) {
                legend.push((s.label.clone(), s.colour, s.marker));
            }
        }
    }
    let more = legend.len().saturating_sub(MAX_LEGEND);
    legend.truncate(MAX_LEGEND);
    let any_ceiling = d
        .panels
        .iter()
        .any(|(_, ss)| ss.iter().any(|s| !s.ceiling.is_empty()));
    let lines = legend.len() + usize::from(more > 0) + usize::from(any_ceiling);
    let rows = lines.div_ceil(2) as u32;
    let (top, bottom) = root.split_vertically(h.saturating_sub(22 * rows + 16));
    let areas = top.split_evenly((1, d.panels.len()));
    for (area, (model, series)) in areas.iter().zip(&d.panels) {
        let (x0, x1) = span(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
        let (y0, y1) = span(
            series
                .iter()
                .flat_map(|s| s.points.iter().chain(&s.ceiling).map(|p| p.1)),
        );
        let mut chart = ChartBuilder::on(area)
            .caption(model, (FONT, 15))
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("batch (sequences)")
            .y_desc("output tokens/s per device")
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&tick_label)
            .y_label_formatter(&tick_label)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .draw()?;
        for s in series {
            let (c, m) = (s.colour, s.marker);
            chart.draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))?;
            chart.draw_series(
                s.points
                    .iter()
                    .map(|&p| EmptyElement::at(p) + marker((0, 0), m, c)),
            )?;
            if s.ceiling.len() > 1 {
                chart.draw_series(DashedLineSeries::new(
                    s.ceiling.iter().copied(),
                    8,
                    5,
                    c.stroke_width(2),
                ))?;
            } else if let Some(&(x, y)) = s.ceiling.first() {
                // one batch: a short dashed tick at the ceiling
                chart.draw_series(DashedLineSeries::new(
                    [(x / 1.3, y), (x * 1.3, y)],
                    4,
                    3,
                    c.stroke_width(2),
                ))?;
            }
        }
    }
    let (w, _) = bottom.dim_in_pixel();
    let col = (w / 2) as i32;
    let mut i = 0i32;
    let at = |i: i32| (40 + (i % 2) * col, 10 + (i / 2) * 22);
    for (label, c, m) in &legend {
        let (x, y) = at(i);
        bottom.draw(&PathElement::new(
            [(x, y + 8), (x + 26, y + 8)],
            c.stroke_width(3),
        ))?;
        bottom.draw(&(EmptyElement::at((x + 13, y + 8)) + marker((0, 0), *m, *c)))?;
        bottom.draw(&Text::new(label.clone(), (x + 36, y), (FONT, 15)))?;
        i += 1;
    }
    if more > 0 {
        let (x, y) = at(i);
        bottom.draw(&Text::new(
            format!("… and {more} more lines (see the tables)"),
            (x + 36, y),
            (FONT, 15),
        ))?;
        i += 1;
    }
    if any_ceiling {
        let (x, y) = at(i);
        for k in 0..3 {
            bottom.draw(&PathElement::new(
                [(x + k * 10, y + 8), (x + k * 10 + 6, y + 8)],
                BLACK.stroke_width(2),
            ))?;
        }
        bottom.draw(&Text::new(
            "roofline ceiling: min(datasheet memory BW ÷ bytes, FLOP peak ÷ FLOPs) per step",
            (x + 36, y),
            (FONT, 15),
        ))?;
    }
    Ok(())
}

// The closures are needed: `plot::<SVGBackend>` is not general over the backend's lifetime.
#[allow(clippy::redundant_closure)]
/// The chart, or None when no real run has a decode point (nothing to say).
pub fn draw(rep: &Report, dir: &Path) -> Result<Option<Outcome>, Box<dyn Error>> {
    let Some(data) = prepare(rep) else {
        return Ok(None);
    };
    Ok(Some(Ok(render(
        dir,
        "decode_vs_batch",
        "Decode: output tokens/s per device against batch, one panel per model shape and one line per run, dtype and context; dashed, each line's roofline ceiling from results/devices.csv (the datasheet memory bandwidth over the point's bytes — weights plus KV cache read — or the FLOP peak over its FLOPs, whichever is lower). A CPU has no datasheet row, so no ceiling.".into(),
        &data,
        |r, d| plot(r, d),
        |r, d| plot(r, d),
    )?)))
}

#[cfg(test)]
mod tests {
    use super::shape_of;

    #[test]
    fn model_context_and_batch_from_the_id() {
        assert_eq!(
            shape_of("decode/d_model=64,layers=2,heads=4,vocab=256,batch=8,context=128/f32"),
            Some(("d_model=64,layers=2,heads=4,vocab=256".into(), 128, 8))
        );
        assert_eq!(shape_of("decode/d_model=64/f32"), None);
    }
}

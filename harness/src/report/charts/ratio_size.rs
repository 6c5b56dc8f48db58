//! Chart: the perf-per-$ ratio of each paired point against its size (work per iteration,
//! FLOP, log axis), one panel per workload that has several sizes, one line per comparison and
//! dtype with the point's 95% interval as a whisker, and the claim as a dashed line. A ratio
//! that drifts with size says the verdict depends on the mix of sizes. Colours are the
//! challenger runs' (the same in every chart); dtypes differ by marker.

use std::collections::{BTreeMap, HashMap};
use std::error::Error;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{render, run_colour, tick_label, DrawResult, Outcome, FONT};
use crate::report::model::Report;

/// Most sizes drawn per series.
const MAX_POINTS: usize = 200;

/// (FLOP per iteration, ratio, CI low, CI high) of one paired point.
type SizePoint = (f64, f64, f64, f64);

struct Series {
    label: String,
    colour: RGBColor,
    marker: usize,
    /// (FLOP per iteration, ratio, low, high), by size.
    points: Vec<SizePoint>,
}

pub struct Data {
    panels: Vec<(String, Vec<Series>)>,
    claim: Option<f64>,
}

/// The series key of a point: dtype, and causal/full for attention (different work per FLOP).
fn variant(workload: &str, id: &str, dtype: &str) -> String {
    if workload == "attention" {
        let v = if id.contains("causal=1") {
            "causal"
        } else {
            "full"
        };
        format!("{dtype} {v}")
    } else {
        dtype.to_string()
    }
}

fn prepare(rep: &Report) -> Option<Data> {
    let mut panels: BTreeMap<String, Vec<Series>> = BTreeMap::new();
    // FLOP per iteration of every usable point, by (run, point id).
    let flops_of: HashMap<(&str, &str), f64> = rep
        .runs
        .iter()
        .flat_map(|r| {
            r.points
                .iter()
                .map(move |m| ((r.name.as_str(), m.id.as_str()), m.flops))
        })
        .collect();
    for c in rep.comparisons.iter().filter(|c| c.overall.is_some()) {
        let mut by: BTreeMap<(String, String), Vec<SizePoint>> = BTreeMap::new();
        for p in &c.pairs {
            let flops = flops_of
                .get(&(p.baseline_run.as_str(), p.point_id.as_str()))
                .copied();
            let Some(flops) = flops.filter(|f| *f > 0.0) else {
                continue;
            };
            by.entry((
                p.workload.clone(),
                variant(&p.workload, &p.point_id, &p.dtype),
            ))
            .or_default()
            .push((flops, p.ratio.ratio, p.ratio.low, p.ratio.high));
        }
        let mut markers: BTreeMap<String, usize> = BTreeMap::new();
        for ((workload, key), mut points) in by {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            points.dedup_by(|a, b| a.0 == b.0);
            // Every k-th size beyond MAX_POINTS (the tables and CSV hold all).
            let step = points.len().div_ceil(MAX_POINTS).max(1);
            let points: Vec<SizePoint> = points.into_iter().step_by(step).collect();
            let next = markers.len();
            let marker = *markers.entry(key.clone()).or_insert(next);
            panels.entry(workload).or_default().push(Series {
                label: format!("{} {key}", c.challenger_side.instance),
                colour: run_colour(rep, c.challenger),
                marker,
                points,
            });
        }
    }
    // Only workloads with several sizes.
    let panels: Vec<(String, Vec<Series>)> = panels
        .into_iter()
        .filter(|(_, s)| s.iter().any(|s| s.points.len() > 1))
        .collect();
    (!panels.is_empty()).then(|| Data {
        panels,
        claim: rep
            .comparisons
            .iter()
            .find_map(|c| c.claim.as_ref().map(|k| k.low)),
    })
}

fn plot<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, d: &Data) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let root = root.titled(
        "Perf-per-$ ratio vs problem size (whiskers: 95% CI; dashed: claim)",
        (FONT, 22),
    )?;
    let areas = root.split_evenly((1, d.panels.len()));
    for (area, (workload, series)) in areas.iter().zip(&d.panels) {
        let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
        let (x0, x1) = xs.fold((f64::INFINITY, 0f64), |(a, b), x| (a.min(x), b.max(x)));
        let (mut y0, mut y1) = (d.claim.unwrap_or(1.0), d.claim.unwrap_or(1.0));
        for p in series.iter().flat_map(|s| &s.points) {
            y0 = y0.min(p.2);
            y1 = y1.max(p.3);
        }
        let pad = (y1 - y0).max(0.05 * y1) * 0.15;
        let mut chart = ChartBuilder::on(area)
            .caption(workload, (FONT, 19))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(
                ((x0 / 2.0)..(x1 * 2.0)).log_scale(),
                (y0 - pad).max(0.0)..(y1 + pad),
            )?;
        chart
            .configure_mesh()
            .x_desc("work per iteration (FLOP)")
            .y_desc("ratio: challenger perf/$ ÷ baseline perf/$")
            .x_labels(6)
            .x_label_formatter(&tick_label)
            .y_label_formatter(&tick_label)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .draw()?;
        for s in series {
            let c = s.colour;
            let line = chart.draw_series(LineSeries::new(
                s.points.iter().map(|p| (p.0, p.1)),
                c.stroke_width(2),
            ))?;
            let m = s.marker;
            line.label(s.label.clone())
                .legend(move |(x, y)| EmptyElement::at((x + 7, y)) + marker((0, 0), m, c));
            for &(x, r, lo, hi) in &s.points {
                chart.draw_series(std::iter::once(PathElement::new(
                    [(x, lo), (x, hi)],
                    BLACK.stroke_width(2),
                )))?;
                chart.draw_series(std::iter::once(
                    EmptyElement::at((x, r)) + marker((0, 0), m, c),
                ))?;
            }
        }
        if let Some(claim) = d.claim {
            chart.draw_series(DashedLineSeries::new(
                [(x0 / 2.0, claim), (x1 * 2.0, claim)],
                10,
                6,
                RED.stroke_width(2),
            ))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FONT, 13))
            .draw()?;
    }
    Ok(())
}

/// A dtype's marker: circle, triangle, square, cross.
pub fn marker<DB: DrawingBackend>(
    at: (i32, i32),
    kind: usize,
    c: RGBColor,
) -> DynElement<'static, DB, (i32, i32)> {
    match kind % 4 {
        0 => Circle::new(at, 6, c.filled()).into_dyn(),
        1 => TriangleMarker::new(at, 7, c.filled()).into_dyn(),
        2 => Rectangle::new([(at.0 - 5, at.1 - 5), (at.0 + 5, at.1 + 5)], c.filled()).into_dyn(),
        _ => Cross::new(at, 6, c.stroke_width(3)).into_dyn(),
    }
}

// The closures are needed: `plot::<SVGBackend>` is not general over the backend's lifetime.
#[allow(clippy::redundant_closure)]
pub fn draw(rep: &Report, dir: &Path) -> Result<Outcome, Box<dyn Error>> {
    let Some(data) = prepare(rep) else {
        return Ok(Err(
            "ratio vs size: no workload has paired points at several sizes".into(),
        ));
    };
    Ok(Ok(render(
        dir,
        "ratio_vs_size",
        "Each paired point's perf-per-$ ratio (challenger ÷ baseline) against its work per iteration, per workload with several sizes; whiskers are the point's 95% bootstrap interval, the dashed line the claim. Markers tell dtypes apart.".into(),
        &data,
        |r, d| plot(r, d),
        |r, d| plot(r, d),
    )?))
}

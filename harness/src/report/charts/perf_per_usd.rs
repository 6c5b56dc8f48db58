//! Chart: perf per $ by workload (and dtype) and instance, relative to the baseline run (or,
//! with no comparison, to the first priced run), as grouped bars with the claim as a dashed
//! line. Each bar is the geometric mean over the points that run shares with the reference.

use std::collections::HashMap;
use std::error::Error;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{colour, render, DrawResult, Outcome, FONT};
use crate::report::model::Report;
use crate::report::verdict::geomean;

pub struct Data {
    groups: Vec<String>,
    /// (run label, value per group)
    bars: Vec<(String, Vec<Option<f64>>)>,
    reference: String,
    claim: Option<f64>,
}

fn prepare(rep: &Report) -> Option<Data> {
    let priced: Vec<usize> = (0..rep.runs.len())
        .filter(|&i| rep.runs[i].price.is_some() && !rep.runs[i].points.is_empty())
        .collect();
    let comparison = rep.comparisons.iter().find(|c| !c.pairs.is_empty());
    let reference = comparison.map(|c| c.baseline).or(priced.first().copied())?;
    if priced.len() < 2 {
        return None;
    }
    let key = |w: &str, d: &str| format!("{w} {d}");
    let mut groups: Vec<String> = Vec::new();
    for &i in &priced {
        for m in &rep.runs[i].points {
            let k = key(&m.workload, &m.dtype);
            if !groups.contains(&k) {
                groups.push(k);
            }
        }
    }
    let reference_perf: HashMap<&str, f64> = rep.runs[reference]
        .points
        .iter()
        .filter_map(|m| m.perf_per_usd.map(|v| (m.id.as_str(), v)))
        .collect();
    let bars = priced
        .iter()
        .map(|&i| {
            let r = &rep.runs[i];
            let values = groups
                .iter()
                .map(|g| {
                    let ratios: Vec<f64> = r
                        .points
                        .iter()
                        .filter(|m| &key(&m.workload, &m.dtype) == g)
                        .filter_map(|m| Some(m.perf_per_usd? / reference_perf.get(m.id.as_str())?))
                        .collect();
                    (!ratios.is_empty()).then(|| geomean(&ratios))
                })
                .collect();
            let backend = if r.implementation == "bench" {
                r.backend.clone()
            } else {
                format!("{} {}", r.backend, r.implementation)
            };
            let label = format!(
                "{} ({backend}, ${}/h)",
                r.instance.as_deref().unwrap_or("?"),
                r.price.as_ref().map_or(0.0, |p| p.usd_per_hour)
            );
            (label, values)
        })
        .collect();
    Some(Data {
        groups,
        bars,
        reference: rep.runs[reference]
            .instance
            .clone()
            .unwrap_or_else(|| rep.runs[reference].name.clone()),
        claim: comparison.and_then(|c| c.claim.as_ref().map(|k| k.low)),
    })
}

fn plot<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, d: &Data) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let max = d
        .bars
        .iter()
        .flat_map(|(_, v)| v.iter().flatten().copied())
        .fold(d.claim.unwrap_or(1.0), f64::max);
    let n = d.groups.len();
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("Perf per $ relative to {} (higher is better)", d.reference),
            (FONT, 24),
        )
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..n as f64, 0f64..max * 1.25)?;
    let groups = d.groups.clone();
    let label = move |x: &f64| {
        let i = (x - 0.5).round();
        if (x - 0.5 - i).abs() < 1e-6 && i >= 0.0 {
            groups.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(2 * n + 1)
        .x_label_formatter(&label)
        .x_desc("workload and dtype")
        .y_desc(format!("perf per $ ÷ {}'s perf per $", d.reference))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .draw()?;
    let m = d.bars.len() as f64;
    let width = 0.8 / m;
    for (k, (name, values)) in d.bars.iter().enumerate() {
        let c = colour(k);
        chart
            .draw_series(values.iter().enumerate().filter_map(|(g, v)| {
                let x0 = g as f64 + 0.1 + k as f64 * width;
                v.map(|v| Rectangle::new([(x0, 0.0), (x0 + width * 0.92, v)], c.filled()))
            }))?
            .label(name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled()));
    }
    if let Some(claim) = d.claim {
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, claim), (n as f64, claim)],
                10,
                6,
                RED.stroke_width(2),
            ))?
            .label(format!("claim: {claim}× the baseline"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], RED.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 15))
        .draw()?;
    Ok(())
}

// The closures are needed: `plot::<SVGBackend>` is not general over the backend's lifetime.
#[allow(clippy::redundant_closure)]
pub fn draw(rep: &Report, dir: &Path) -> Result<Outcome, Box<dyn Error>> {
    let Some(data) = prepare(rep) else {
        return Ok(Err(
            "perf per $ by workload and instance: needs at least two priced runs".into(),
        ));
    };
    let caption = match data.claim {
        Some(c) => format!("Perf per dollar by workload and instance, relative to the baseline ({}); the dashed line is the claim ({c}×). Bars are geometric means over each group's paired points.", data.reference),
        None => format!("Perf per dollar by workload and instance, relative to {} (no baseline/challenger comparison, so no claim line).", data.reference),
    };
    Ok(Ok(render(
        dir,
        "perf_per_usd",
        caption,
        &data,
        |r, d| plot(r, d),
        |r, d| plot(r, d),
    )?))
}

//! Chart: how the overall ratio (geometric mean with its 95% interval) moves when one side's
//! price is discounted by 0–60% — a discount on the challenger raises it, on the baseline
//! lowers it — against the claim line. Where a band crosses the claim the verdict flips.

use std::error::Error;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{colour, render, DrawResult, Outcome, FONT};
use crate::report::model::Report;
use crate::report::verdict::{with_discount, Discounted, RatioCi};

const MAX_DISCOUNT: f64 = 0.6;

pub struct Data {
    lines: Vec<(String, RatioCi)>,
    /// The first comparison's claim (its low end); no claim line when none has one.
    claim: Option<f64>,
}

fn prepare(rep: &Report) -> Option<Data> {
    let lines: Vec<(String, RatioCi)> = rep
        .comparisons
        .iter()
        .filter_map(|c| {
            c.overall.map(|o| {
                let label = |i: usize, instance: &str| {
                    let r = &rep.runs[i];
                    if r.implementation == "bench" {
                        instance.to_string()
                    } else {
                        format!("{instance} ({})", r.implementation)
                    }
                };
                (
                    format!(
                        "{} vs {}",
                        label(c.challenger, &c.challenger_price.instance),
                        label(c.baseline, &c.baseline_price.instance)
                    ),
                    o,
                )
            })
        })
        .collect();
    (!lines.is_empty()).then_some(Data {
        lines,
        claim: rep
            .comparisons
            .iter()
            .find_map(|c| c.claim.as_ref().map(|k| k.low)),
    })
}

fn curve(r: f64, side: Discounted) -> Vec<(f64, f64)> {
    (0..=60)
        .map(|i| {
            let d = i as f64 / 100.0;
            (100.0 * d, with_discount(r, d, side))
        })
        .collect()
}

fn plot<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, d: &Data) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let hi = d
        .lines
        .iter()
        .map(|(_, r)| with_discount(r.high, MAX_DISCOUNT, Discounted::Challenger))
        .fold(d.claim.unwrap_or(1.0), f64::max);
    let lo = d
        .lines
        .iter()
        .map(|(_, r)| with_discount(r.low, MAX_DISCOUNT, Discounted::Baseline))
        .fold(d.claim.unwrap_or(1.0), f64::min);
    let mut chart = ChartBuilder::on(root)
        .caption(
            "Verdict sensitivity: perf-per-$ ratio vs a price discount on one side",
            (FONT, 22),
        )
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..100.0 * MAX_DISCOUNT, (lo * 0.9)..(hi * 1.05))?;
    chart
        .configure_mesh()
        .x_desc("discount on that side's $/h (%)")
        .x_label_formatter(&|v| format!("{v:.0}%"))
        .y_label_formatter(&|v| format!("{v:.2}"))
        .y_desc("ratio: challenger perf/$ ÷ baseline perf/$")
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .draw()?;
    for (k, (name, r)) in d.lines.iter().enumerate() {
        for (j, (side, what)) in [
            (Discounted::Challenger, "discount on challenger"),
            (Discounted::Baseline, "discount on baseline"),
        ]
        .into_iter()
        .enumerate()
        {
            let c = colour(2 * k + j);
            let band: Vec<(f64, f64)> = curve(r.low, side)
                .into_iter()
                .chain(curve(r.high, side).into_iter().rev())
                .collect();
            chart.draw_series(std::iter::once(Polygon::new(band, c.mix(0.18).filled())))?;
            chart
                .draw_series(LineSeries::new(curve(r.ratio, side), c.stroke_width(3)))?
                .label(format!("{name}: {what} (band: 95% CI)"))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], c.stroke_width(3)));
        }
    }
    if let Some(claim) = d.claim {
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, claim), (100.0 * MAX_DISCOUNT, claim)],
                10,
                6,
                RED.stroke_width(2),
            ))?
            .label(format!("claim {claim}×"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], RED.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
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
            "verdict sensitivity: needs a baseline/challenger comparison with paired points".into(),
        ));
    };
    Ok(Ok(render(
        dir,
        "sensitivity",
        "Overall ratio (geometric mean, band = 95% CI) when the challenger's price is discounted (rising curve) or the baseline's is (falling curve); the verdict flips where a band crosses the claim line.".into(),
        &data,
        |r, d| plot(r, d),
        |r, d| plot(r, d),
    )?))
}

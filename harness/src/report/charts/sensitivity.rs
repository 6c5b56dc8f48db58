//! Chart: how the overall ratio (with its 95% band) moves with one side's price in $/h, from
//! a 60% discount to a 60% increase (wider when the break-even lies further out): the left
//! panel varies the challenger's price, the right the baseline's, the other held at today's.
//! Each panel marks today's price and the break-even price where the ratio equals the claim,
//! with the claim as a dashed line. Colours are the challenger run's.

use std::error::Error;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{render, run_colour, tick, tick_label, DrawResult, Outcome, FONT};
use crate::report::model::Report;
use crate::report::verdict::RatioCi;

/// Prices from (1 - SPAN) to (1 + SPAN) times today's.
const SPAN: f64 = 0.6;
const STEPS: usize = 80;

struct Line {
    label: String,
    colour: RGBColor,
    ratio: RatioCi,
    challenger_usd: f64,
    baseline_usd: f64,
    /// (challenger, baseline) price at which the ratio equals the claim.
    break_even: Option<(f64, f64)>,
}

pub struct Data {
    lines: Vec<Line>,
    claim: Option<f64>,
}

fn prepare(rep: &Report) -> Option<Data> {
    let lines: Vec<Line> = rep
        .comparisons
        .iter()
        .filter_map(|c| {
            let o = c.overall?;
            Some(Line {
                label: c.title.clone(),
                colour: run_colour(rep, c.challenger),
                ratio: o,
                challenger_usd: c.challenger_price.usd_per_hour,
                baseline_usd: c.baseline_price.usd_per_hour,
                break_even: c
                    .break_even
                    .map(|b| (b.challenger_at_claim, b.baseline_at_claim)),
            })
        })
        .collect();
    let claim = rep
        .comparisons
        .iter()
        .find_map(|c| c.claim.as_ref().map(|k| k.low));
    (!lines.is_empty()).then_some(Data { lines, claim })
}

/// Which side's price a panel varies.
#[derive(Clone, Copy)]
enum Varied {
    Challenger,
    Baseline,
}

impl Line {
    fn today(&self, v: Varied) -> f64 {
        match v {
            Varied::Challenger => self.challenger_usd,
            Varied::Baseline => self.baseline_usd,
        }
    }

    fn break_even(&self, v: Varied) -> Option<f64> {
        self.break_even.map(|(c, b)| match v {
            Varied::Challenger => c,
            Varied::Baseline => b,
        })
    }

    /// The ratio (or an interval end) at price `p` of the varied side: it scales as
    /// P_baseline ÷ P_challenger.
    fn at(&self, r: f64, v: Varied, p: f64) -> f64 {
        match v {
            Varied::Challenger => r * self.challenger_usd / p,
            Varied::Baseline => r * p / self.baseline_usd,
        }
    }
}

/// The price range of a panel: ±SPAN around today's prices, widened to show break-evens.
fn range(d: &Data, v: Varied) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi: f64 = 0.0;
    for l in &d.lines {
        let t = l.today(v);
        lo = lo.min(t * (1.0 - SPAN));
        hi = hi.max(t * (1.0 + SPAN));
        if let Some(b) = l.break_even(v).filter(|b| b.is_finite() && *b > 0.0) {
            lo = lo.min((b * 0.9).max(t * 0.1));
            hi = hi.max((b * 1.1).min(t * 3.0));
        }
    }
    (lo, hi)
}

fn panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, d: &Data, v: Varied) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (x0, x1) = range(d, v);
    let xs: Vec<f64> = (0..=STEPS)
        .map(|i| x0 + (x1 - x0) * i as f64 / STEPS as f64)
        .collect();
    let (mut y0, mut y1) = (d.claim.unwrap_or(1.0), d.claim.unwrap_or(1.0));
    for l in &d.lines {
        for &x in [x0, x1].iter() {
            for r in [l.ratio.low, l.ratio.high] {
                let y = l.at(r, v, x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
    }
    let side = match v {
        Varied::Challenger => "challenger",
        Varied::Baseline => "baseline",
    };
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{side}'s price varies"), (FONT, 19))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, (y0 * 0.92)..(y1 * 1.05))?;
    chart
        .configure_mesh()
        .x_desc(format!("{side} price ($/h); the other side at today's"))
        .y_desc("ratio: challenger perf/$ ÷ baseline perf/$")
        .x_label_formatter(&|p| format!("${}", tick(*p)))
        .y_label_formatter(&tick_label)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .draw()?;
    for l in &d.lines {
        let c = l.colour;
        let band: Vec<(f64, f64)> = xs
            .iter()
            .map(|&x| (x, l.at(l.ratio.low, v, x)))
            .chain(xs.iter().rev().map(|&x| (x, l.at(l.ratio.high, v, x))))
            .collect();
        chart.draw_series(std::iter::once(Polygon::new(band, c.mix(0.2).filled())))?;
        chart
            .draw_series(LineSeries::new(
                xs.iter().map(|&x| (x, l.at(l.ratio.ratio, v, x))),
                c.stroke_width(3),
            ))?
            .label(format!("{} (band: 95% CI)", l.label))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], c.stroke_width(3)));
        let today = l.today(v);
        chart.draw_series(std::iter::once(Circle::new(
            (today, l.ratio.ratio),
            6,
            c.filled(),
        )))?;
        chart.draw_series(std::iter::once(
            EmptyElement::at((today, l.ratio.ratio))
                + Text::new(
                    format!("today ${:.2}/h", today),
                    (10, -22),
                    (FONT, 14).into_font().color(&BLACK),
                ),
        ))?;
        if let (Some(b), Some(claim)) = (l.break_even(v), d.claim) {
            if b > x0 && b < x1 {
                chart.draw_series(DashedLineSeries::new(
                    [(b, y0 * 0.92), (b, y1 * 1.05)],
                    6,
                    4,
                    BLACK.stroke_width(2),
                ))?;
                chart.draw_series(std::iter::once(Circle::new((b, claim), 5, BLACK.filled())))?;
                chart.draw_series(std::iter::once(
                    EmptyElement::at((b, y0 * 0.92 + (y1 * 1.05 - y0 * 0.92) * 0.06))
                        + Text::new(
                            format!("break-even ${:.2}/h", b),
                            (6, 0),
                            (FONT, 14).into_font().color(&BLACK),
                        ),
                ))?;
            }
        }
    }
    if let Some(claim) = d.claim {
        chart
            .draw_series(DashedLineSeries::new(
                [(x0, claim), (x1, claim)],
                10,
                6,
                RED.stroke_width(2),
            ))?
            .label(format!("claim {claim}×"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 14, y)], RED.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 13))
        .draw()?;
    Ok(())
}

fn plot<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, d: &Data) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let root = root.titled(
        "Verdict sensitivity: the overall ratio against each side's price ($/h)",
        (FONT, 22),
    )?;
    let areas = root.split_evenly((1, 2));
    panel(&areas[0], d, Varied::Challenger)?;
    panel(&areas[1], d, Varied::Baseline)?;
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
        "The overall ratio (line; band = 95% CI, timing noise only) as the challenger's price (left) or the baseline's (right) moves from a 60% discount to a 60% increase, the other side at today's price (dot). The dashed vertical line is the break-even price, where the ratio equals the claim (red dashed line); the verdict changes where the band crosses the claim.".into(),
        &data,
        |r, d| plot(r, d),
        |r, d| plot(r, d),
    )?))
}

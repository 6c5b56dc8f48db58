//! Chart: perf per $ relative to the baseline side, per workload and overall, as grouped bars:
//! the baseline at 1, each challenger side at its workload's geometric-mean ratio with the 95%
//! interval as a whisker, an overall group (the comparison's weighted ratio and interval), the
//! claim as a dashed line, and a label ("not run", "failed check", ...) where a side has no
//! paired point of a workload. Colours are the runs' (the same in every chart).

use std::error::Error;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{render, run_colour, tick_label, DrawResult, Outcome, FONT};
use crate::report::coverage::SideRole;
use crate::report::model::{Comparison, Report};

/// One bar series: its label, colour, and per group a (ratio, low, high) or why there is none.
struct Series {
    label: String,
    colour: RGBColor,
    values: Vec<Result<(f64, f64, f64), String>>,
}

pub struct Data {
    groups: Vec<String>,
    series: Vec<Series>,
    baseline: String,
    claim: Option<f64>,
}

const OVERALL: &str = "overall";

/// The label of an empty slot: why `side` has no bar for `workload` in `c`.
fn empty_slot(c: &Comparison, workload: &str, side: SideRole) -> String {
    let Some(m) = c.coverage.missing.iter().find(|m| m.workload == workload) else {
        return "not run".into();
    };
    if m.side != side && m.side != SideRole::Both {
        return "not paired".into();
    }
    let r = m.reason.as_str();
    if r.contains("failed its check") {
        "failed check"
    } else if r.contains("failed") {
        "failed"
    } else if r.contains("skipped") {
        "skipped"
    } else if r.contains("not run") {
        "not run"
    } else {
        "not paired"
    }
    .into()
}

fn prepare(rep: &Report) -> Option<Data> {
    let comps: Vec<_> = rep
        .comparisons
        .iter()
        .filter(|c| c.overall.is_some())
        .collect();
    let first = comps.first()?;
    let mut groups: Vec<String> = Vec::new();
    for c in &comps {
        for w in c
            .workloads
            .iter()
            .map(|w| &w.workload)
            .chain(c.coverage.missing.iter().map(|m| &m.workload))
        {
            if !groups.contains(w) {
                groups.push(w.clone());
            }
        }
    }
    groups.push(OVERALL.into());
    let mut series = vec![Series {
        label: format!("baseline {} (= 1)", first.baseline_side.label()),
        colour: run_colour(rep, first.baseline),
        values: groups
            .iter()
            .map(|g| {
                let paired = g == OVERALL || first.workloads.iter().any(|w| &w.workload == g);
                if paired {
                    Ok((1.0, 1.0, 1.0))
                } else {
                    Err(empty_slot(first, g, SideRole::Baseline))
                }
            })
            .collect(),
    }];
    for c in &comps {
        series.push(Series {
            label: if comps.len() > 1 {
                c.title.clone()
            } else {
                format!("challenger {}", c.challenger_side.label())
            },
            colour: run_colour(rep, c.challenger),
            values: groups
                .iter()
                .map(|g| {
                    if g == OVERALL {
                        let o = c.overall.expect("filtered");
                        return Ok((o.ratio, o.low, o.high));
                    }
                    match c.workloads.iter().find(|w| &w.workload == g) {
                        Some(w) => Ok((w.ratio, w.low, w.high)),
                        None => Err(empty_slot(c, g, SideRole::Challenger)),
                    }
                })
                .collect(),
        });
    }
    Some(Data {
        groups,
        series,
        baseline: first.baseline_side.instance.clone(),
        claim: first.claim.as_ref().map(|k| k.low),
    })
}

fn plot<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, d: &Data) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let max = d
        .series
        .iter()
        .flat_map(|s| s.values.iter().filter_map(|v| v.as_ref().ok().map(|v| v.2)))
        .fold(d.claim.unwrap_or(1.0), f64::max);
    let n = d.groups.len();
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!(
                "Perf per $ relative to the baseline {} (higher is better; whiskers: 95% CI)",
                d.baseline
            ),
            (FONT, 22),
        )
        .margin(15)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..n as f64, 0f64..max * 1.3)?;
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
        .y_label_formatter(&tick_label)
        .x_desc("workload (each averaged over its paired points), and the overall ratio")
        .y_desc(format!("perf per $ ÷ {}'s perf per $", d.baseline))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .draw()?;
    let m = d.series.len() as f64;
    let width = 0.8 / m;
    for (k, s) in d.series.iter().enumerate() {
        let c = s.colour;
        let x0 = |g: usize| g as f64 + 0.1 + k as f64 * width;
        chart
            .draw_series(s.values.iter().enumerate().filter_map(|(g, v)| {
                let (r, _, _) = v.as_ref().ok()?;
                let x = x0(g);
                // The overall bar is hatched lighter so it reads as a summary.
                let fill = if d.groups[g] == OVERALL {
                    c.mix(0.6).filled()
                } else {
                    c.filled()
                };
                Some(Rectangle::new([(x, 0.0), (x + width * 0.92, *r)], fill))
            }))?
            .label(s.label.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled()));
        for (g, v) in s.values.iter().enumerate() {
            let mid = x0(g) + width * 0.46;
            match v {
                Ok((_, lo, hi)) if hi > lo => {
                    let cap = width * 0.2;
                    for seg in [
                        [(mid, *lo), (mid, *hi)],
                        [(mid - cap, *lo), (mid + cap, *lo)],
                        [(mid - cap, *hi), (mid + cap, *hi)],
                    ] {
                        chart.draw_series(std::iter::once(PathElement::new(
                            seg,
                            BLACK.stroke_width(2),
                        )))?;
                    }
                }
                Ok(_) => {}
                Err(why) => {
                    chart.draw_series(std::iter::once(Text::new(
                        why.clone(),
                        (mid - width * 0.3, max * 0.06),
                        (FONT, 14).into_font().color(&BLACK),
                    )))?;
                }
            }
        }
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
            "perf per $ by workload: needs a baseline/challenger comparison with paired points"
                .into(),
        ));
    };
    let caption = match data.claim {
        Some(c) => format!("Perf per dollar relative to the baseline ({}) per workload (geometric mean over its paired points) and overall (weighted over workloads); whiskers are 95% bootstrap intervals (timing noise only), the dashed line is the claim ({c}×); an empty slot says why that side has no paired point (not run, failed, failed check, skipped, not paired).", data.baseline),
        None => format!("Perf per dollar relative to the baseline ({}) per workload and overall; whiskers are 95% bootstrap intervals (timing noise only). This pair of platforms has no claim, so no claim line.", data.baseline),
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

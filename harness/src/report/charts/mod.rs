//! Charts drawn with plotters, each written as SVG and PNG: perf per $ by workload and instance
//! with the claim line, throughput against size per run with the datasheet peaks, decode's
//! tokens/s against batch with its roofline ceiling, and the verdict's sensitivity to a discount on either side. PNG text uses DejaVu Sans from the
//! `dejavu` crate through plotters' ab_glyph feature, so no system font library is needed.

pub mod decode_batch;
pub mod perf_per_usd;
pub mod ratio_size;
pub mod sensitivity;
pub mod throughput;

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::model::Report;

pub const WIDTH: u32 = 1100;
pub const HEIGHT: u32 = 620;
pub const FONT: &str = "sans-serif";

pub type DrawResult = Result<(), Box<dyn Error>>;

/// Distinct colours for series (colour-blind friendly Okabe–Ito order).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A log axis range around `values`: half the smallest to twice the largest.
pub fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, 0f64), |(a, b), v| (a.min(v), b.max(v)));
    (lo / 2.0, hi * 2.0)
}

/// The colour of a run, the same in every chart: its place among the report's real runs.
pub fn run_colour(rep: &Report, run: usize) -> RGBColor {
    let k = rep.runs[..run].iter().filter(|r| !r.simulated).count();
    colour(k)
}

/// The one tick-label style of every axis: up to three significant digits, an SI suffix from
/// a thousand up (1.5k, 20M, 3P), e-notation below 0.001.
pub fn tick(v: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let a = v.abs();
    if a == 0.0 {
        return "0".into();
    }
    if a < 1e-3 {
        return format!("{v:.0e}");
    }
    let (scaled, suffix) = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        .iter()
        .find(|(f, _)| a >= *f)
        .map_or((v, ""), |(f, s)| (v / f, *s));
    let digits = if scaled.abs() >= 100.0 {
        0
    } else if scaled.abs() >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{scaled:.digits$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{suffix}")
}

/// [`tick`] as plotters' label formatter.
pub fn tick_label(v: &f64) -> String {
    tick(*v)
}

static FONT_ONCE: Once = Once::new();

/// Registers the embedded font for bitmap text (once per process).
pub fn register_font() {
    FONT_ONCE.call_once(|| {
        // DejaVu Sans parses; failure here would be a broken build of the dejavu crate.
        if plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_err()
        {
            eprintln!("bench: warning: the embedded font did not load; PNG text may be missing");
        }
    });
}

/// A drawn chart: its file stem, caption, SVG text and the paths written.
#[derive(Debug, Clone)]
pub struct Drawn {
    pub stem: String,
    pub caption: String,
    pub svg: String,
    pub files: Vec<PathBuf>,
}

/// Draws one chart on an SVG and a PNG backend (`plot_svg`/`plot_png` are the same generic
/// function instantiated for each), writing `<dir>/<stem>.svg` and `.png`.
pub fn render<D>(
    dir: &Path,
    stem: &str,
    caption: String,
    data: &D,
    plot_svg: for<'a> fn(&DrawingArea<SVGBackend<'a>, Shift>, &D) -> DrawResult,
    plot_png: for<'a> fn(&DrawingArea<BitMapBackend<'a>, Shift>, &D) -> DrawResult,
) -> Result<Drawn, Box<dyn Error>> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        plot_svg(&root, data)?;
        root.present()?;
    }
    let png = dir.join(format!("{stem}.png"));
    {
        let root = BitMapBackend::new(&png, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        plot_png(&root, data)?;
        root.present()?;
    }
    let svg_path = dir.join(format!("{stem}.svg"));
    std::fs::write(&svg_path, &svg)?;
    Ok(Drawn {
        stem: stem.into(),
        caption,
        svg,
        files: vec![svg_path, png],
    })
}

/// What a chart module returns: the chart, or why these results allow none.
pub type Outcome = Result<Drawn, String>;

/// The charts these results allow, written under `dir`, and why any others were not drawn.
pub fn draw_all(rep: &Report, dir: &Path) -> Result<(Vec<Drawn>, Vec<String>), Box<dyn Error>> {
    register_font();
    std::fs::create_dir_all(dir)?;
    let (mut drawn, mut skipped) = (Vec::new(), Vec::new());
    for outcome in [
        Some(perf_per_usd::draw(rep, dir)?),
        Some(ratio_size::draw(rep, dir)?),
        Some(throughput::draw(rep, dir)?),
        decode_batch::draw(rep, dir)?,
        Some(sensitivity::draw(rep, dir)?),
    ]
    .into_iter()
    .flatten()
    {
        match outcome {
            Ok(d) => drawn.push(d),
            Err(why) => skipped.push(why),
        }
    }
    Ok((drawn, skipped))
}

#[cfg(test)]
mod tests {
    use super::tick;

    #[test]
    fn one_tick_style() {
        let t: Vec<String> = [
            0.0, 0.0005, 0.1, 0.25, 1.0, 1.3, 12.5, 250.0, 1500.0, 2e7, 3e15,
        ]
        .iter()
        .map(|&v| tick(v))
        .collect();
        assert_eq!(
            t,
            ["0", "5e-4", "0.1", "0.25", "1", "1.3", "12.5", "250", "1.5k", "20M", "3P"]
        );
    }
}

//! The summary table printed after a run: one row per point record (a second implementation's
//! record, such as Neuron's nki, as `id [nki]`), fixed-width, readable in a terminal and in CI
//! logs. Reads only result records.

use crate::schema::{PointRecord, Status};

/// Seconds in the most readable unit.
pub fn fmt_secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

/// The table as text.
pub fn render(points: &[PointRecord]) -> String {
    let header = [
        "point", "status", "median", "95% CI", "n", "GFLOP/s", "items/s", "max err",
    ];
    let rows: Vec<[String; 8]> = points
        .iter()
        .map(|p| {
            let (median, ci, n) = match &p.stats {
                Some(s) => (
                    fmt_secs(s.median_s),
                    format!(
                        "±{:.1}%",
                        (s.ci95_high_s - s.ci95_low_s) / 2.0 / s.median_s * 100.0
                    ),
                    s.n.to_string(),
                ),
                None => ("-".into(), "-".into(), "-".into()),
            };
            let (gf, items) = match &p.throughput {
                Some(t) => (
                    format!("{:.1}", t.flop_per_s / 1e9),
                    format!("{:.3e} {}", t.items_per_s, t.item),
                ),
                None => ("-".into(), "-".into()),
            };
            let err = match &p.check {
                Some(c) => match c.max_rel_err {
                    Some(e) => format!("{e:.1e}"),
                    None => "NaN/Inf".into(),
                },
                None => "-".into(),
            };
            let status = match p.status {
                Status::Ok => "ok",
                Status::Failed => "FAILED",
                Status::Skipped => "skipped",
            };
            [label(p), status.into(), median, ci, n, gf, items, err]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}", w = *w))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(header.to_vec()) + "\n";
    for r in &rows {
        out += &line(r.iter().map(|s| s.as_str()).collect());
        out.push('\n');
    }
    let failed: Vec<&PointRecord> = points
        .iter()
        .filter(|p| p.status == Status::Failed)
        .collect();
    for p in failed {
        out += &format!(
            "FAILED {}: {}\n",
            label(p),
            p.reason.as_deref().unwrap_or("")
        );
    }
    out
}

/// The point's id, with `[name]` after it for a record of a second implementation.
pub fn label(p: &PointRecord) -> String {
    match &p.implementation {
        Some(i) => format!("{} [{i}]", p.id),
        None => p.id.clone(),
    }
}

//! Composes the report's text from the model: the verdict first (or exactly what is missing),
//! then prices with source and date, runs, paired points, exclusions, per-run results, the
//! datasheet-only table when nothing could be compared, the charts, and the method. Both the
//! markdown and the HTML are rendered from these blocks.

use super::doc::{h, p, table, Block};
use super::model::{Comparison, Report, Role, RunSummary};

/// Rows shown per table in the text; the CSV/JSON always hold every row.
pub const MAX_ROWS: usize = 300;

/// A number with about four significant digits, plain or in e-notation when large or tiny.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let a = x.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e6).contains(&a) {
        format!("{x:.3e}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.3}")
    } else {
        format!("{x:.4}")
    }
}

fn usd(x: f64) -> String {
    format!("${}", num(x))
}

fn run_label(r: &RunSummary) -> String {
    format!(
        "{} ({}, {})",
        r.name,
        r.backend,
        r.instance.as_deref().unwrap_or("instance unknown")
    )
}

fn verdict_blocks(rep: &Report, c: &Comparison, out: &mut Vec<Block>) {
    out.push(h(3, c.title.clone()));
    let side_runs = |s: &super::model::SideSummary| {
        s.runs
            .iter()
            .map(|&i| format!("{} ({})", rep.runs[i].name, rep.runs[i].implementation))
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push(p(format!(
        "Challenger side {}: {}. Baseline side {}: {}. Each point uses its side's fastest correctness-passing implementation (`--implementation {}`).",
        c.challenger_side.instance,
        side_runs(&c.challenger_side),
        c.baseline_side.instance,
        side_runs(&c.baseline_side),
        rep.implementation
    )));
    if let Some(reason) = &c.verdict_reason {
        out.push(p(format!(
            "**{}** {reason}.",
            if c.partial { "Partial:" } else { "Coverage:" }
        )));
    }
    out.push(p(match &c.claim {
        Some(k) if k.origin == super::claims::ClaimOrigin::Table => format!(
            "Claim tested: {}× (\"{}\", {}){}.",
            k.text(),
            k.quote,
            k.source,
            if k.is_range() {
                "; a range is judged at both ends"
            } else {
                ""
            }
        ),
        Some(k) => format!("Claim tested: {}× (`--claim`).", k.text()),
        None => "No claim for this pair of platforms in the claims table: the ratio and its interval only (`--claim RATIO` tests one).".into(),
    }));
    match (c.overall, c.verdict, c.break_even) {
        (Some(o), v, be) => {
            out.push(p(format!(
                "**{}**{}{} — weighted geometric mean over workloads of the perf-per-$ ratio (challenger ÷ baseline) **{}** (95% CI {}–{}) over {} of {} workloads ({} paired points; weights {}), against the claim {}. Challenger {} at {}/h ({}, {}, as of {}); baseline {} at {}/h ({}, {}, as of {}).",
                v.map_or("NO CLAIM", |v| v.name()),
                if c.partial { " (partial)" } else { "" },
                c.claim_outcome
                    .as_deref()
                    .map(|x| format!(" ({x})"))
                    .unwrap_or_default(),
                num(o.ratio),
                num(o.low),
                num(o.high),
                c.coverage.workloads_paired,
                c.coverage.workloads_total,
                c.pairs.len(),
                super::weights::describe(&c.workloads),
                c.claim.as_ref().map_or("(none)".into(), |k| k.text()),
                c.challenger_price.instance,
                usd(c.challenger_price.usd_per_hour),
                c.challenger_price.purchase_model,
                c.challenger_price.source,
                c.challenger_price.as_of,
                c.baseline_price.instance,
                usd(c.baseline_price.usd_per_hour),
                c.baseline_price.purchase_model,
                c.baseline_price.source,
                c.baseline_price.as_of,
            )));
            let per: std::collections::BTreeMap<&str, usize> =
                c.pairs.iter().fold(Default::default(), |mut m, r| {
                    *m.entry(r.verdict.map_or("NO CLAIM", |v| v.name()))
                        .or_default() += 1;
                    m
                });
            out.push(p(format!(
                "Per point: {}.",
                per.iter()
                    .map(|(k, v)| format!("{v} {k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
            let Some(be) = be else { return };
            out.push(Block::List(vec![
                format!(
                    "Break-even challenger price (ratio = claim): {}/h. SUPPORTED while it costs at most {}/h; REFUTED above {}/h (baseline at {}/h).",
                    usd(be.challenger_at_claim),
                    usd(be.challenger_supported_at_most),
                    usd(be.challenger_refuted_above),
                    usd(c.baseline_price.usd_per_hour)
                ),
                format!(
                    "Break-even baseline price (ratio = claim): {}/h. SUPPORTED while it costs at least {}/h; REFUTED below {}/h (challenger at {}/h).",
                    usd(be.baseline_at_claim),
                    usd(be.baseline_supported_at_least),
                    usd(be.baseline_refuted_below),
                    usd(c.challenger_price.usd_per_hour)
                ),
            ]));
        }
        _ => out.push(p(format!(
            "**{}**: the two sides share no usable point ({} points left out, listed below).",
            c.verdict.map_or("No verdict", |v| v.name()),
            c.unpaired.len()
        ))),
    }
}

/// "bench report: trn2.48xlarge (Trainium2) vs p5.48xlarge (H100 SXM)": the sides compared.
pub fn title(rep: &Report) -> String {
    let mut titles: Vec<&str> = Vec::new();
    for c in &rep.comparisons {
        if !titles.contains(&c.title.as_str()) {
            titles.push(&c.title);
        }
    }
    if titles.is_empty() {
        "bench report: price-performance".into()
    } else {
        format!("bench report: {}", titles.join("; "))
    }
}

pub fn compose(rep: &Report, charts: &[(String, String)], not_drawn: &[String]) -> Vec<Block> {
    let mut out = vec![h(1, title(rep))];
    out.push(p(format!(
        "Claim tested: the challenger's work per dollar is at least the claim × the baseline's; the claim is {}. Baseline runs match `--baseline {}`, challenger runs `--challenger {}`. Ratio = challenger perf per $ ÷ baseline perf per $ for the same point id; SUPPORTED when the 95% interval's low end is at or above the claim, REFUTED when its high end is below it, INCONCLUSIVE otherwise.",
        match rep.claim {
            Some(c) if c.high > c.low => format!("**{}-{}×** (`--claim`)", num(c.low), num(c.high)),
            Some(c) => format!("**{}×** (`--claim`)", num(c.low)),
            None => "the sourced claim for each pair of platforms (below), if there is one".into(),
        },
        rep.baseline_selector, rep.challenger_selector
    )));

    out.push(h(2, "Verdict"));
    if rep.comparisons.is_empty() {
        out.push(p(
            "**No verdict**: there is no baseline/challenger pair of real runs to compare.",
        ));
    }
    for c in &rep.comparisons {
        verdict_blocks(rep, c, &mut out);
    }
    if !rep.missing.is_empty() {
        out.push(h(2, "What is missing"));
        out.push(Block::List(rep.missing.clone()));
    }

    out.push(h(2, "Runs and prices"));
    out.push(p(format!(
        "Price table: {}. Cost of a point = $/h × (devices used ÷ devices in the instance) × time.",
        rep.price_origin
    )));
    out.push(table(
        &[
            "run",
            "role",
            "backend",
            "device",
            "instance (source)",
            "$/h",
            "price model, source, as of",
            "ok / failed / skipped",
        ],
        rep.runs
            .iter()
            .map(|r| {
                vec![
                    r.name.clone(),
                    format!("{:?}", r.role).to_lowercase(),
                    format!("{} ({})", r.backend, r.implementation),
                    format!("{} × {}", r.device_count, r.device),
                    match &r.instance {
                        Some(i) => format!("{i} ({})", r.instance_source),
                        None => "unknown".into(),
                    },
                    r.price
                        .as_ref()
                        .map(|p| usd(p.usd_per_hour))
                        .unwrap_or_else(|| "unpriced".into()),
                    match (&r.price, &r.price_note) {
                        (Some(p), _) => format!("{}, {}, {}", p.purchase_model, p.source, p.as_of),
                        (None, Some(n)) => n.clone(),
                        (None, None) => String::new(),
                    },
                    format!("{} / {} / {}", r.ok, r.failed, r.skipped),
                ]
            })
            .collect(),
    ));
    if rep.runs.iter().any(|r| r.role == Role::Simulated) {
        out.push(p("Simulated runs (nrt-sim) and dry runs are listed for completeness; they are not measurements, are never priced and never enter a verdict."));
    }

    for c in &rep.comparisons {
        if c.pairs.is_empty() {
            continue;
        }
        out.push(h(2, format!("Paired points: {}", c.title)));
        let shown = c.pairs.len().min(MAX_ROWS);
        if shown < c.pairs.len() {
            out.push(p(format!(
                "First {shown} of {} pairs; summary.csv has all of them.",
                c.pairs.len()
            )));
        }
        out.push(table(
            &[
                "point",
                "baseline median s",
                "challenger median s",
                "baseline perf/$",
                "challenger perf/$",
                "ratio [95% CI]",
                "verdict",
                "challenger break-even $/h",
            ],
            c.pairs[..shown]
                .iter()
                .map(|r| {
                    vec![
                        r.point_id.clone(),
                        num(r.baseline_median_s),
                        num(r.challenger_median_s),
                        format!("{} {}", num(r.baseline_perf_per_usd), r.perf_unit),
                        format!("{} {}", num(r.challenger_perf_per_usd), r.perf_unit),
                        format!(
                            "{} [{}, {}]",
                            num(r.ratio.ratio),
                            num(r.ratio.low),
                            num(r.ratio.high)
                        ),
                        r.verdict.map_or("NO CLAIM", |v| v.name()).to_string(),
                        r.break_even
                            .map_or("—".into(), |b| num(b.challenger_at_claim)),
                    ]
                })
                .collect(),
        ));
        if !c.unpaired.is_empty() {
            out.push(p(format!(
                "Left out of this comparison ({} points, not in any verdict):",
                c.unpaired.len()
            )));
            out.push(Block::List(
                c.unpaired
                    .iter()
                    .take(MAX_ROWS)
                    .map(|u| format!("`{}`: {}", u.point_id, u.reason))
                    .collect(),
            ));
        }
    }

    if !rep.excluded.is_empty() {
        out.push(h(2, "Excluded points"));
        out.push(p("Failed, skipped and unusable points, and simulated runs, are left out of every price and verdict:"));
        out.push(Block::List(
            rep.excluded
                .iter()
                .take(MAX_ROWS)
                .map(|e| format!("{}: `{}`: {}", e.run, e.point_id, e.reason))
                .collect(),
        ));
    }

    out.push(h(2, "Results per run"));
    for r in rep.runs.iter().filter(|r| !r.simulated) {
        out.push(h(3, run_label(r)));
        let shown = r.points.len().min(MAX_ROWS);
        if shown == 0 {
            out.push(p("No usable points."));
            continue;
        }
        if shown < r.points.len() {
            out.push(p(format!("First {shown} of {} points.", r.points.len())));
        }
        out.push(table(
            &[
                "point",
                "median s [95% CI]",
                "TFLOP/s per device",
                "% of datasheet peak",
                "perf per $",
                "$ per 1M items",
                "one-off s ($)",
            ],
            r.points[..shown]
                .iter()
                .map(|m| {
                    vec![
                        m.id.clone(),
                        format!(
                            "{} [{}, {}]",
                            num(m.median_s),
                            num(m.ci95_low_s),
                            num(m.ci95_high_s)
                        ),
                        num(m.tflops_per_device),
                        m.pct_of_peak
                            .map(|x| format!("{x:.1}%"))
                            .unwrap_or_else(|| "n/a".into()),
                        m.perf_per_usd
                            .map(|x| format!("{} {}", num(x), m.perf_unit))
                            .unwrap_or_else(|| "unpriced".into()),
                        m.usd_per_million_items
                            .map(|x| format!("{} ({})", usd(x), m.item))
                            .unwrap_or_else(|| "—".into()),
                        match m.one_off_usd {
                            Some(d) => format!("{} ({})", num(m.one_off_s), usd(d)),
                            None => num(m.one_off_s),
                        },
                    ]
                })
                .collect(),
        ));
    }

    if !rep.vendor.is_empty() {
        out.push(h(2, "Speed against the vendor reference"));
        out.push(p("bench's own kernels against the vendor's (e.g. torch) on the same instance: reference median time ÷ bench median time, so 1.0 is as fast as the reference and below 1.0 is slower. A weak GPU baseline would flatter the challenger."));
        for v in &rep.vendor {
            let (b, r) = (&rep.runs[v.bench_run], &rep.runs[v.reference_run]);
            out.push(p(format!(
                "{} vs {} ({}): geometric mean {} over {} shared points.",
                b.name,
                r.name,
                r.implementation,
                v.geomean.map(num).unwrap_or_else(|| "n/a".into()),
                v.points.len()
            )));
            if !v.points.is_empty() {
                out.push(table(
                    &["point", "bench speed ÷ reference speed"],
                    v.points
                        .iter()
                        .take(MAX_ROWS)
                        .map(|(id, f)| vec![id.clone(), num(*f)])
                        .collect(),
                ));
            }
        }
    }

    if !rep.datasheet.is_empty() {
        out.push(h(2, "Datasheet-only comparison (NOT a measurement)"));
        out.push(p("With no measured comparison, this is all that can be said: dense BF16 datasheet peak per dollar of each priced instance. Peaks are not achieved throughput (the one measured MAMF figure, H100 bf16, is 80% of peak), so this table cannot support or refute the claim."));
        out.push(table(
            &[
                "instance",
                "accelerators",
                "$/h (model)",
                "peak BF16 PFLOP/s",
                "peak PFLOP/s-hours per $",
            ],
            rep.datasheet
                .iter()
                .map(|d| {
                    vec![
                        d.instance.clone(),
                        format!("{} × {}", d.accelerators, d.accelerator),
                        format!("{} ({})", usd(d.usd_per_hour), d.price_model),
                        num(d.peak_bf16_pflops),
                        format!("{:.3}", d.peak_pflops_hours_per_usd),
                    ]
                })
                .collect(),
        ));
        if !rep
            .datasheet
            .iter()
            .any(|d| d.accelerator.starts_with("Trainium2"))
        {
            out.push(p("trn2.48xlarge is absent: it has no on-demand price; pass `--price trn2.48xlarge=USD` to include it."));
        }
    }

    out.push(h(2, "Charts"));
    if charts.is_empty() {
        out.push(p("No chart could be drawn from these runs."));
    }
    for (stem, caption) in charts {
        out.push(Block::Chart {
            stem: stem.clone(),
            caption: caption.clone(),
        });
    }
    if !not_drawn.is_empty() {
        out.push(p("Not drawn:"));
        out.push(Block::List(not_drawn.to_vec()));
    }

    out.push(h(2, "Method"));
    out.push(Block::List(vec![
        "Perf per $ = work per iteration ÷ cost per iteration, in the workload's unit: TFLOP/$ (matmul), tokens/$ (attention), samples/$ (train-mlp), tokens/$ and $ per 1M training tokens (train-gpt). Cost per iteration = $/h × devices used ÷ devices in the instance × median seconds ÷ 3600.".into(),
        format!("Each ratio's 95% interval is a percentile bootstrap ({} replicates, seed {:#x}): every replicate resamples both sides' raw timing samples with replacement and takes the ratio of the replicate medians. The geometric mean's interval takes, per replicate, the geometric mean of all points' replicate ratios.", rep.resamples, rep.seed),
        "Only points that are ok, passed their correctness check and have samples on both sides are paired (by point id). Failed, skipped, unpaired and simulated points are listed above and excluded.".into(),
        "% of datasheet peak = achieved FLOP/s per device ÷ the dense peak for the dtype in results/devices.csv; for train-gpt, whose FLOPs are model FLOPs (6 × the parameters in matmuls + 12 × layers × d_model × seq per token; recomputation not counted), this is MFU. One-off time (backend init, point load, compile) is reported apart and priced as time to first result.".into(),
    ]));
    out
}

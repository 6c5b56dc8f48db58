//! Composes the page a planner reads from the model, in this order: the title naming the sides
//! compared, a verdict card per comparison (before any table), the claim tested and links to
//! the data and chart files, the charts, then the details in collapsible sections (break-even
//! prices, what is missing, runs and prices, paired points, exclusions, per-run results, the
//! vendor reference, the datasheet-only table when nothing could be compared, the method) and
//! a footer with the date, bench version and git commit. Markdown and HTML are rendered from
//! these blocks.

use super::card;
use super::doc::{details, h, p, table_aligned, Block};
use super::model::{Comparison, Report, Role, RunSummary};
use super::tables;
pub use super::units::num;
use super::units::usd;

/// When and by which build the page was made.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub generated_at: String,
    pub version: String,
    pub commit: String,
}

impl Meta {
    /// Now (or `SOURCE_DATE_EPOCH`, for reproducible pages), this binary's version and commit.
    pub fn now() -> Meta {
        let generated_at = std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .map(crate::clock::rfc3339_at)
            .unwrap_or_else(crate::clock::now_rfc3339);
        let h = crate::provenance::harness();
        Meta {
            generated_at,
            version: h.version,
            commit: h.git_commit,
        }
    }
}

fn run_label(r: &RunSummary) -> String {
    format!(
        "{} ({}, {})",
        r.name,
        r.backend,
        r.instance.as_deref().unwrap_or("instance unknown")
    )
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

/// Which runs make up each side and how a point's implementation is chosen.
fn sides(rep: &Report, c: &Comparison) -> Block {
    let side_runs = |s: &super::model::SideSummary| {
        s.runs
            .iter()
            .map(|&i| format!("{} ({})", rep.runs[i].name, rep.runs[i].implementation))
            .collect::<Vec<_>>()
            .join(", ")
    };
    p(format!(
        "Challenger side {}: {}. Baseline side {}: {}. Each point uses its side's fastest correctness-passing implementation (`--implementation {}`).",
        c.challenger_side.instance,
        side_runs(&c.challenger_side),
        c.baseline_side.instance,
        side_runs(&c.baseline_side),
        rep.implementation
    ))
}

fn break_even_blocks(rep: &Report, c: &Comparison) -> Vec<Block> {
    let per: std::collections::BTreeMap<&str, usize> =
        c.pairs.iter().fold(Default::default(), |mut m, r| {
            *m.entry(r.verdict.map_or("NO CLAIM", |v| v.name()))
                .or_default() += 1;
            m
        });
    let (cp, bp) = (&c.challenger_price, &c.baseline_price);
    let mut out = vec![
        sides(rep, c),
        p(card::claim_sentence(c)),
        p(format!(
            "Challenger {} at {}/h ({}, {}, as of {}); baseline {} at {}/h ({}, {}, as of {}). Per point: {}.",
            cp.instance,
            usd(cp.usd_per_hour),
            cp.purchase_model,
            cp.source,
            cp.as_of,
            bp.instance,
            usd(bp.usd_per_hour),
            bp.purchase_model,
            bp.source,
            bp.as_of,
            per.iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    ];
    let (Some(be), Some(k)) = (c.break_even, &c.claim) else {
        out.push(p(
            "No break-even price: it needs paired points and a claim to break even with.",
        ));
        return out;
    };
    out.push(Block::List(vec![
            format!(
                "Break-even challenger price (ratio = claim {}): {}/h. SUPPORTED while it costs at most {}/h; REFUTED above {}/h (baseline at {}/h).",
                num(k.low),
                usd(be.challenger_at_claim),
                usd(be.challenger_supported_at_most),
                usd(be.challenger_refuted_above),
                usd(bp.usd_per_hour)
            ),
            format!(
                "Break-even baseline price (ratio = claim): {}/h. SUPPORTED while it costs at least {}/h; REFUTED below {}/h (challenger at {}/h).",
                usd(be.baseline_at_claim),
                usd(be.baseline_supported_at_least),
                usd(be.baseline_refuted_below),
                usd(cp.usd_per_hour)
            ),
        ]));
    out
}

fn runs_table(rep: &Report) -> Vec<Block> {
    let mut out = vec![
        p(format!(
            "Price table: {}. Cost of a point = $/h × (devices used ÷ devices in the instance) × time.",
            rep.price_origin
        )),
        table_aligned(
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
            &[false, false, false, false, false, true, false, false],
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
                            .map(|p| format!("{:.2}", p.usd_per_hour))
                            .unwrap_or_else(|| "unpriced".into()),
                        match (&r.price, &r.price_note) {
                            (Some(p), _) => {
                                format!("{}, {}, {}", p.purchase_model, p.source, p.as_of)
                            }
                            (None, Some(n)) => n.clone(),
                            (None, None) => String::new(),
                        },
                        format!("{} / {} / {}", r.ok, r.failed, r.skipped),
                    ]
                })
                .collect(),
        ),
    ];
    if rep.runs.iter().any(|r| r.role == Role::Simulated) {
        out.push(p("Simulated runs (nrt-sim) and dry runs are listed for completeness; they are not measurements, are never priced and never enter a verdict."));
    }
    out
}

fn vendor_blocks(rep: &Report) -> Vec<Block> {
    let mut out = vec![p("bench's own kernels against the vendor's (e.g. torch) on the same instance: reference median time ÷ bench median time, so 1.0 is as fast as the reference and below 1.0 is slower. A weak GPU baseline would flatter the challenger.")];
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
            out.push(table_aligned(
                &["point", "bench speed ÷ reference speed"],
                &[false, true],
                v.points
                    .iter()
                    .take(tables::MAX_ROWS)
                    .map(|(id, f)| vec![id.clone(), num(*f)])
                    .collect(),
            ));
        }
    }
    out
}

fn datasheet_blocks(rep: &Report) -> Vec<Block> {
    let mut out = vec![
        p("With no measured comparison, this is all that can be said: dense BF16 datasheet peak per dollar of each priced instance. Peaks are not achieved throughput (the one measured MAMF figure, H100 bf16, is 80% of peak), so this table cannot support or refute the claim."),
        table_aligned(
            &[
                "instance",
                "accelerators",
                "$/h",
                "price model",
                "peak BF16 PFLOP/s",
                "peak PFLOP/s-hours per $",
            ],
            &[false, false, true, false, true, true],
            rep.datasheet
                .iter()
                .map(|d| {
                    vec![
                        d.instance.clone(),
                        format!("{} × {}", d.accelerators, d.accelerator),
                        format!("{:.2}", d.usd_per_hour),
                        d.price_model.clone(),
                        num(d.peak_bf16_pflops),
                        format!("{:.3}", d.peak_pflops_hours_per_usd),
                    ]
                })
                .collect(),
        ),
    ];
    if !rep
        .datasheet
        .iter()
        .any(|d| d.accelerator.starts_with("Trainium2"))
    {
        out.push(p("trn2.48xlarge is absent: it has no on-demand price; pass `--price trn2.48xlarge=USD` to include it."));
    }
    out
}

fn method(rep: &Report) -> Block {
    Block::List(vec![
        "Perf per $ = work per iteration ÷ cost per iteration, in the workload's unit: FLOP/$ (matmul), tokens/$ (attention), samples/$ (train-mlp), tokens/$ and $ per 1M training tokens (train-gpt), input tokens/$ and $ per 1M input tokens (prefill), output tokens/$ and $ per 1M output tokens (decode); tables show each column with one SI prefix. Cost per iteration = $/h × devices used ÷ devices in the instance × median seconds ÷ 3600.".into(),
        format!("Each ratio's 95% interval is a percentile bootstrap ({} replicates, seed {:#x}): every replicate resamples both sides' raw timing samples with replacement and takes the ratio of the replicate medians. The geometric mean's interval takes, per replicate, the geometric mean of all points' replicate ratios. It is timing noise only.", rep.resamples, rep.seed),
        "Only points that are ok, passed their correctness check and have samples on both sides are paired (by point id). Failed, skipped, unpaired and simulated points are listed above and excluded.".into(),
        "% of datasheet peak = achieved FLOP/s per device ÷ the dense peak for the dtype in results/devices.csv; for train-gpt, whose FLOPs are model FLOPs (6 × the parameters in matmuls + 12 × layers × d_model × seq per token; recomputation not counted), this is MFU. % of datasheet memory bandwidth = the point's bytes (decode: the weights plus the KV cache read) ÷ median time ÷ devices ÷ the memory bandwidth in results/devices.csv; % of roofline = achieved FLOP/s per device ÷ min(the dtype's peak, FLOP per byte × that bandwidth), with the roof that bounds the point. Throughput per instance = per device × the instance's accelerators. One-off time (backend init, point load, compile) is reported apart and priced as time to first result.".into(),
    ])
}

/// The files beside the report, with the drawn charts.
fn links(charts: &[(String, String)]) -> Block {
    let mut l: Vec<(String, String)> = [
        ("summary.csv", "summary.csv"),
        ("summary.json", "summary.json"),
        ("points.csv (every run's points)", "points.csv"),
        ("report.json (the whole model)", "report.json"),
        ("report.md", "report.md"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    for (stem, _) in charts {
        for ext in ["svg", "png"] {
            l.push((format!("{stem}.{ext}"), format!("charts/{stem}.{ext}")));
        }
    }
    Block::Links(l)
}

pub fn compose(
    rep: &Report,
    charts: &[(String, String)],
    not_drawn: &[String],
    meta: &Meta,
) -> Vec<Block> {
    let mut out = vec![h(1, title(rep))];
    if rep.comparisons.is_empty() {
        out.push(card::no_comparison(rep));
    }
    for c in &rep.comparisons {
        out.push(card::card(rep, c));
    }
    out.push(p(format!(
        "Claim tested: the challenger's work per dollar is at least the claim × the baseline's; the claim is {}. Baseline runs match `--baseline {}`, challenger runs `--challenger {}`. Ratio = challenger perf per $ ÷ baseline perf per $ for the same point id; SUPPORTED when the 95% interval's low end is at or above the claim, REFUTED when its high end is below it, INCONCLUSIVE otherwise.",
        match rep.claim {
            Some(c) if c.high > c.low => format!("**{}-{}×** (`--claim`)", num(c.low), num(c.high)),
            Some(c) => format!("**{}×** (`--claim`)", num(c.low)),
            None => "the sourced claim for each pair of platforms (on its card), if there is one".into(),
        },
        rep.baseline_selector, rep.challenger_selector
    )));
    let scenarios: Vec<Block> = rep
        .comparisons
        .iter()
        .flat_map(super::plans::scenarios)
        .collect();
    if !scenarios.is_empty() {
        out.push(h(2, "Price scenarios"));
        out.extend(scenarios);
    }
    let jobs: Vec<Block> = rep
        .comparisons
        .iter()
        .flat_map(super::plans::jobs)
        .collect();
    if !jobs.is_empty() {
        out.push(h(2, "Job costs"));
        out.extend(jobs);
    }
    out.push(links(charts));

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

    out.push(h(2, "Details"));
    for c in &rep.comparisons {
        let mut blocks = break_even_blocks(rep, c);
        if !c.workloads.is_empty() {
            blocks.push(tables::workloads(c));
        }
        blocks.extend(tables::pairs(c));
        if !c.unpaired.is_empty() {
            blocks.push(p(format!(
                "Left out of this comparison ({} points, not in any verdict):",
                c.unpaired.len()
            )));
            blocks.push(Block::List(
                c.unpaired
                    .iter()
                    .take(tables::MAX_ROWS)
                    .map(|u| format!("`{}`: {}", u.point_id, u.reason))
                    .collect(),
            ));
        }
        out.push(details(
            format!("Paired points: {}", c.title),
            false,
            blocks,
        ));
    }
    if !rep.missing.is_empty() {
        out.push(details(
            "What is missing",
            true,
            vec![Block::List(rep.missing.clone())],
        ));
    }
    out.push(details("Runs and prices", false, runs_table(rep)));
    if !rep.excluded.is_empty() {
        out.push(details(
            format!("Excluded points ({})", rep.excluded.len()),
            false,
            vec![
                p("Failed, skipped and unusable points, and simulated runs, are left out of every price and verdict:"),
                Block::List(
                    rep.excluded
                        .iter()
                        .take(tables::MAX_ROWS)
                        .map(|e| format!("{}: `{}`: {}", e.run, e.point_id, e.reason))
                        .collect(),
                ),
            ],
        ));
    }
    for r in rep.runs.iter().filter(|r| !r.simulated) {
        out.push(details(
            format!("Results of {}", run_label(r)),
            false,
            tables::run_results(r),
        ));
    }
    if !rep.vendor.is_empty() {
        out.push(details(
            "Speed against the vendor reference",
            false,
            vendor_blocks(rep),
        ));
    }
    if !rep.datasheet.is_empty() {
        out.push(details(
            "Datasheet-only comparison (NOT a measurement)",
            true,
            datasheet_blocks(rep),
        ));
    }
    out.push(details("Method", false, vec![method(rep)]));
    out.push(p(format!(
        "Generated {} by bench {} (git commit {}).",
        meta.generated_at, meta.version, meta.commit
    )));
    out
}

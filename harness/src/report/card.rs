//! The verdict card that opens the report, one per comparison: a coloured badge, the overall
//! ratio and its 95% interval against the claim, coverage and weights, one plain sentence a
//! planner can act on (how much more or less work per dollar, at which price the claim holds),
//! and what the interval covers (timing noise only) with the per-workload range. Reads only
//! the model.

use super::claims::ClaimOrigin;
use super::doc::{Block, Tone};
use super::model::{Comparison, Report};
use super::units::{more_or_less, num, usd};
use super::verdict::Verdict;
use super::weights;

/// The per-workload ratios as the model gives them (weights applied to the overall only).
pub fn per_workload(c: &Comparison) -> Vec<(String, f64)> {
    c.workloads
        .iter()
        .map(|w| (w.workload.clone(), w.ratio))
        .collect()
}

/// A sentence's first letter in upper case.
fn capital(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn tone(v: Option<Verdict>) -> Tone {
    match v {
        Some(Verdict::Supported) => Tone::Good,
        Some(Verdict::Refuted) => Tone::Bad,
        Some(Verdict::Inconclusive) => Tone::Unsure,
        None => Tone::None,
    }
}

/// A fraction as a percentage, with a decimal below 10%: 0.09 → "9.0%", 0.31 → "31%".
fn pct(f: f64) -> String {
    if f.abs() < 0.1 {
        format!("{:.1}%", f * 100.0)
    } else {
        format!("{:.0}%", f * 100.0)
    }
}

/// A claim ratio as a percentage ("30%").
fn claim_pct(claim: f64) -> String {
    format!("{:.0}%", (claim - 1.0) * 100.0)
}

/// The claim judged and where it came from, as one sentence.
pub fn claim_sentence(c: &Comparison) -> String {
    match &c.claim {
        Some(k) if k.origin == ClaimOrigin::Table => format!(
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
    }
}

/// How the verdict fares over every price scenario, with the best and worst ratio.
fn scenario_line(c: &Comparison) -> Option<String> {
    if c.scenarios.len() < 2 {
        return None;
    }
    let mut counts: Vec<(String, usize)> = Vec::new();
    for s in &c.scenarios {
        let v = s.verdict.map_or("NO CLAIM", |v| v.name()).to_string();
        match counts.iter_mut().find(|(k, _)| *k == v) {
            Some((_, n)) => *n += 1,
            None => counts.push((v, 1)),
        }
    }
    let name = |s: &super::scenarios::Scenario| {
        format!(
            "{} {} at {}/h vs {} {} at {}/h",
            c.challenger_side.instance,
            s.challenger_purchase_model,
            usd(s.challenger_usd_per_hour),
            c.baseline_side.instance,
            s.baseline_purchase_model,
            usd(s.baseline_usd_per_hour)
        )
    };
    let best = c
        .scenarios
        .iter()
        .max_by(|a, b| a.ratio.total_cmp(&b.ratio))?;
    let worst = c
        .scenarios
        .iter()
        .min_by(|a, b| a.ratio.total_cmp(&b.ratio))?;
    Some(format!(
        "Over the {} price scenarios (table below): {}; best {} ({}), worst {} ({}).",
        c.scenarios.len(),
        counts
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", "),
        num(best.ratio),
        name(best),
        num(worst.ratio),
        name(worst)
    ))
}

/// The card for one comparison.
pub fn card(_rep: &Report, c: &Comparison) -> Block {
    let title = c.title.clone();
    let mut badge = match c.verdict {
        Some(v) if c.partial => format!("{} (partial)", v.name()),
        Some(v) => v.name().to_string(),
        None if c.claim.is_none() && c.overall.is_some() => "NO CLAIM".into(),
        None => "NO VERDICT".into(),
    };
    if let Some(outcome) = &c.claim_outcome {
        badge.push_str(&format!(" · {outcome}"));
    }
    let mut lines = Vec::new();
    if let Some(reason) = &c.verdict_reason {
        let label = if c.partial {
            "Partial:".to_string()
        } else {
            "Why:".to_string()
        };
        lines.push(format!("**{label}** {reason}."));
    }
    // The reason already names what did not pair; otherwise the coverage line does.
    let cov = if c.verdict_reason.is_some() {
        format!(
            "coverage: {} of {} workloads paired",
            c.coverage.workloads_paired, c.coverage.workloads_total
        )
    } else {
        c.coverage.sentence()
    };
    let mut coverage = format!("{} ({} paired points).", capital(&cov), c.pairs.len());
    if !c.workloads.is_empty() {
        coverage.push_str(&format!(
            " Weights: {}; the overall ratio is the weighted geometric mean over workloads, each first averaged over its own points.",
            weights::describe(&c.workloads)
        ));
    }
    let Some(o) = c.overall else {
        lines.push(coverage);
        lines.push(format!(
            "The two sides share no usable point ({} left out, listed under the comparison's details): run the same suite (same --suite/--param/--dtype) on both.",
            c.unpaired.len()
        ));
        return Block::Card {
            badge,
            tone: tone(c.verdict),
            title,
            lines,
        };
    };
    let over = if c.coverage.complete() {
        String::new()
    } else {
        format!(
            " over the {} paired workloads only",
            c.coverage.workloads_paired
        )
    };
    let against = match &c.claim {
        Some(k) => format!(", against the claim {}×", k.text()),
        None => ", with no claim to test".into(),
    };
    lines.insert(
        0,
        format!(
            "Perf-per-$ ratio (challenger ÷ baseline){over} **{}**, 95% CI {}–{}{against}.",
            num(o.ratio),
            num(o.low),
            num(o.high),
        ),
    );
    lines.push(coverage);
    // With no claim the reason line already says so.
    if c.claim.is_some() || c.verdict_reason.is_none() {
        lines.push(claim_sentence(c));
    }
    let (cp, bp) = (&c.challenger_price, &c.baseline_price);
    let holds = match (&c.claim, c.break_even) {
        (Some(k), Some(be)) => {
            let at_claim = be.challenger_at_claim;
            let name = if k.is_range() {
                format!("the low end ({}) of the claim", claim_pct(k.low))
            } else {
                format!("the {} claim", claim_pct(k.low))
            };
            if o.ratio >= k.low {
                format!(
                    "; {name} holds up to {}/h ({} above that price)",
                    usd(at_claim),
                    pct(at_claim / cp.usd_per_hour - 1.0)
                )
            } else {
                format!(
                    "; {name} holds at ≤ {}/h ({} off)",
                    usd(at_claim),
                    pct(1.0 - at_claim / cp.usd_per_hour)
                )
            }
        }
        _ => String::new(),
    };
    lines.push(format!(
        "{}{} does {} work per dollar than {} at {}/h ({}) against {}/h ({}){holds}.",
        if c.coverage.complete() {
            ""
        } else {
            "On the paired workloads only, "
        },
        cp.instance,
        more_or_less(o.ratio),
        bp.instance,
        usd(cp.usd_per_hour),
        cp.purchase_model,
        usd(bp.usd_per_hour),
        bp.purchase_model,
    ));
    if let Some(line) = scenario_line(c) {
        lines.push(line);
    }
    if let Some(line) = super::inference::card_line(c) {
        lines.push(line);
    }
    let ws = per_workload(c);
    let range = match (
        ws.iter().min_by(|a, b| a.1.total_cmp(&b.1)),
        ws.iter().max_by(|a, b| a.1.total_cmp(&b.1)),
    ) {
        (Some(lo), Some(hi)) if ws.len() > 1 => format!(
            "per-workload ratios range from {} ({}) to {} ({})",
            num(lo.1),
            lo.0,
            num(hi.1),
            hi.0
        ),
        (Some(only), _) => format!("one workload only ({}: {})", only.0, num(only.1)),
        _ => "no per-workload ratio".into(),
    };
    lines.push(format!(
        "The CI is timing noise only (a bootstrap over both sides' raw samples); it does not cover other sizes, software versions or prices; {range}."
    ));
    Block::Card {
        badge,
        tone: tone(c.verdict),
        title,
        lines,
    }
}

/// The card when there is no comparison at all.
pub fn no_comparison(rep: &Report) -> Block {
    let mut lines = vec!["There is no baseline/challenger pair of real runs to compare.".into()];
    lines.extend(rep.missing.iter().cloned());
    Block::Card {
        badge: "NO VERDICT".into(),
        tone: tone(None),
        title: "Nothing to compare".into(),
        lines,
    }
}

//! Builds the report's model from loaded runs, prices and datasheet peaks: per-run metrics,
//! the comparisons (baseline side × challenger side, a side being one instance type with the
//! best implementation per point) with per-point ratios, intervals and verdicts, workload
//! coverage, the weighted geometric mean over workloads and break-even prices, the exclusions,
//! what is missing, and (with no comparison) a datasheet-only table. Renderers read only this
//! model.

use serde::Serialize;

use kernels::rng::Rng;

use super::args::{closest, ClaimArg, Implementation, JobArg};
use super::claims::{claim_for, judge, range_outcome, Claim, SidePlatform};
use super::coverage::{coverage, insert_workload, Coverage};
use super::devices::DeviceTable;
use super::input::LoadedRun;
use super::jobcost::{job_cost, JobCost, PointRate};
use super::metrics::{
    item_name, items_per_iteration, job_unit, perf_unit, point_metrics, work_per_iteration,
    PointMetrics,
};
use super::pairing::{pair, selects, unusable, Unpaired};
use super::parallel::{run_jobs, PairJob};
use super::prices::{PriceTable, Priced};
use super::resample::RankTables;
use super::scenarios::{price_options, scenarios, sensitivity, Judging, Scenario, Sensitivity};
use super::sides::{bench_fraction_of_best, best_of, group, pair_sides, SideRuns};
use super::verdict::{break_even, geomean, BreakEven, RatioCi, Side, Verdict, RESAMPLES};
use super::weights::{combine, weight_of, Group, WorkloadRatio};

/// Seed of every bootstrap in a report (reports are reproducible).
pub const REPORT_SEED: u64 = 0x5eed_2026;

#[derive(Debug, Clone)]
pub struct Options {
    /// `--claim`: overrides the claims table for every comparison.
    pub claim: Option<ClaimArg>,
    pub baseline: String,
    pub challenger: String,
    /// Which implementations a side may use (`best`: the fastest correct one per point).
    pub implementation: Implementation,
    /// Give a verdict over the paired workloads when some workload did not pair.
    pub allow_partial: bool,
    /// `--weights`: workload → weight (workloads not named weigh 1).
    pub weights: Vec<(String, f64)>,
    /// `--job WORKLOAD=ITEMS`: jobs to cost on both sides.
    pub jobs: Vec<JobArg>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            claim: None,
            baseline: "cuda".into(),
            challenger: "neuron".into(),
            implementation: Implementation::Best,
            allow_partial: false,
            weights: Vec::new(),
            jobs: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: instance {instance} has no price in {origin}{hint}; pass --price {instance}=USD (dollars per hour) or --prices FILE")]
    NoPrice {
        path: String,
        instance: String,
        origin: String,
        hint: String,
    },
    #[error("{path}: the run records no instance type, so it cannot be priced for the comparison; re-run it with --instance TYPE")]
    NoInstance { path: String },
    #[error("--claim {0}: must be a positive ratio, e.g. 1.30, or a range, e.g. 1.30-1.40")]
    Claim(String),
    #[error("--implementation {name}: no run has that implementation; the runs have: {known}")]
    UnknownImplementation { name: String, known: String },
    #[error("--weights: every workload of the runs ({0}) has weight 0; give at least one a weight above 0")]
    AllWeightsZero(String),
    #[error("{option} names workload '{workload}', which no run has; {known}")]
    UnknownWorkload {
        option: &'static str,
        workload: String,
        known: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Baseline,
    Challenger,
    Both,
    Other,
    Simulated,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub name: String,
    pub path: String,
    pub backend: String,
    pub implementation: String,
    pub device: String,
    pub device_count: u32,
    pub instance: Option<String>,
    pub instance_source: String,
    pub simulated: bool,
    pub role: Role,
    pub price: Option<Priced>,
    /// Why the run has no price and how to give it one.
    pub price_note: Option<String>,
    pub accelerator: Option<String>,
    pub ok: usize,
    /// Points that failed, a failed correctness check included.
    pub failed: usize,
    pub skipped: usize,
    pub points: Vec<PointMetrics>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PairRow {
    pub point_id: String,
    pub workload: String,
    pub dtype: String,
    /// The point's parameters as in its id, e.g. "m=2048,n=2048,k=2048".
    pub params: String,
    /// The runs whose records were chosen on each side (the fastest usable one).
    pub baseline_run: String,
    pub challenger_run: String,
    pub baseline_implementation: String,
    pub challenger_implementation: String,
    pub baseline_median_s: f64,
    pub challenger_median_s: f64,
    pub baseline_devices_used: f64,
    pub challenger_devices_used: f64,
    pub baseline_perf_per_usd: f64,
    pub challenger_perf_per_usd: f64,
    pub perf_unit: String,
    /// The workload's item (matmuls, tokens, samples) and each side's cost per iteration and
    /// per million items.
    pub item: String,
    pub baseline_cost_per_iteration_usd: f64,
    pub challenger_cost_per_iteration_usd: f64,
    pub baseline_usd_per_1m_items: Option<f64>,
    pub challenger_usd_per_1m_items: Option<f64>,
    /// Each side's items (tokens for prefill and decode) per second per device, and per
    /// instance (the per-device rate on every accelerator of the instance).
    pub baseline_items_per_s_per_device: f64,
    pub challenger_items_per_s_per_device: f64,
    pub baseline_items_per_s_per_instance: f64,
    pub challenger_items_per_s_per_instance: f64,
    /// Each side's % of the dtype's datasheet FLOP peak per device, when known.
    pub baseline_pct_of_peak_flops: Option<f64>,
    pub challenger_pct_of_peak_flops: Option<f64>,
    /// Each side's % of the datasheet memory bandwidth (bytes ÷ time ÷ peak), when the point
    /// records bytes and results/devices.csv has the device's bandwidth.
    pub baseline_pct_of_peak_memory_bw: Option<f64>,
    pub challenger_pct_of_peak_memory_bw: Option<f64>,
    /// Each side's % of the roofline (min of FLOP peak and intensity × bandwidth) and which
    /// roof bounds it.
    pub baseline_pct_of_roofline: Option<f64>,
    pub challenger_pct_of_roofline: Option<f64>,
    pub baseline_roofline_bound: Option<&'static str>,
    pub challenger_roofline_bound: Option<&'static str>,
    pub ratio: RatioCi,
    /// Against the comparison's claim (its low end); None when the pair has no claim.
    pub verdict: Option<Verdict>,
    pub break_even: Option<BreakEven>,
}

/// One side of a comparison: an instance type, its platform and the runs it is made of.
#[derive(Debug, Clone, Serialize)]
pub struct SideSummary {
    pub instance: String,
    /// The accelerator per the price table (e.g. "H100 SXM", "Trainium2"), else the device.
    pub accelerator: String,
    /// The first run's device name.
    pub device: String,
    pub backend: String,
    /// Indices into the report's runs.
    pub runs: Vec<usize>,
    /// The distinct implementations of those runs, in run order.
    pub implementations: Vec<String>,
    /// bench's speed as a fraction of this side's best implementation (geometric mean of best
    /// time ÷ bench time over the points bench ran), when the side has another implementation.
    pub bench_fraction_of_best: Option<f64>,
    pub bench_fraction_points: usize,
}

impl SideSummary {
    /// "p5.48xlarge (H100 SXM)".
    pub fn label(&self) -> String {
        format!("{} ({})", self.instance, self.accelerator)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// "trn2.48xlarge (Trainium2) vs p5.48xlarge (H100 SXM)": challenger first.
    pub title: String,
    /// The first run of each side (renderers that name one run use it).
    pub baseline: usize,
    pub challenger: usize,
    pub baseline_side: SideSummary,
    pub challenger_side: SideSummary,
    pub baseline_price: Priced,
    pub challenger_price: Priced,
    pub pairs: Vec<PairRow>,
    pub unpaired: Vec<Unpaired>,
    pub coverage: Coverage,
    /// The claim judged: `--claim`, else the claims table's for this pair of platforms, else
    /// none (a ratio and interval, no verdict).
    pub claim: Option<Claim>,
    /// For a range claim: "holds at the high end", "holds at the low end", ...
    pub claim_outcome: Option<String>,
    /// Each paired workload's weight, points and geometric-mean ratio with its interval.
    pub workloads: Vec<WorkloadRatio>,
    /// Weighted geometric mean over workloads with its bootstrap interval.
    pub overall: Option<RatioCi>,
    pub verdict: Option<Verdict>,
    /// The verdict covers only the paired workloads (`--allow-partial`).
    pub partial: bool,
    /// Why the verdict is what it is when that is not the interval alone (coverage).
    pub verdict_reason: Option<String>,
    pub break_even: Option<BreakEven>,
    /// The overall ratio, interval and verdict at every combination of the two instance types'
    /// price rows (purchase model, region) and `--price`.
    pub scenarios: Vec<Scenario>,
    /// The data of the sensitivity chart: the ratio as either side's price moves.
    pub sensitivity: Option<Sensitivity>,
    /// `--job` costs on both sides.
    pub jobs: Vec<JobCost>,
}

/// bench's speed as a fraction of a vendor reference (e.g. torch) measured on the same
/// instance and backend: reference median time ÷ bench median time per shared point.
#[derive(Debug, Clone, Serialize)]
pub struct VendorComparison {
    pub bench_run: usize,
    pub reference_run: usize,
    /// (point id, fraction): 1.0 means as fast as the reference.
    pub points: Vec<(String, f64)>,
    pub geomean: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Excluded {
    pub run: String,
    pub point_id: String,
    pub reason: String,
}

/// One instance's datasheet peak per dollar (never a measurement).
#[derive(Debug, Clone, Serialize)]
pub struct DatasheetRow {
    pub instance: String,
    pub accelerator: String,
    pub accelerators: f64,
    pub usd_per_hour: f64,
    pub price_model: String,
    pub peak_bf16_pflops: f64,
    pub peak_pflops_hours_per_usd: f64,
}

/// A `--weights` entry as given.
#[derive(Debug, Clone, Serialize)]
pub struct WeightGiven {
    pub workload: String,
    pub weight: f64,
}

/// The report.json contract's name and version (bump on a rename or removal).
pub const REPORT_SCHEMA: &str = "bench.report/1";

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`REPORT_SCHEMA`].
    pub schema: &'static str,
    /// `--claim` as given (None: each comparison's claim comes from the claims table).
    pub claim: Option<ClaimArg>,
    pub baseline_selector: String,
    pub challenger_selector: String,
    /// `--implementation`: best, bench or a name.
    pub implementation: String,
    pub allow_partial: bool,
    /// `--weights` as given (workloads not named weigh 1).
    pub weights: Vec<WeightGiven>,
    pub price_origin: String,
    pub runs: Vec<RunSummary>,
    pub comparisons: Vec<Comparison>,
    pub excluded: Vec<Excluded>,
    pub missing: Vec<String>,
    pub datasheet: Vec<DatasheetRow>,
    pub vendor: Vec<VendorComparison>,
    pub resamples: usize,
    pub seed: u64,
}

fn sorted_samples(p: &crate::schema::PointRecord) -> Vec<f64> {
    let mut v = p.samples_s.clone();
    v.sort_by(f64::total_cmp);
    v
}

fn median_of_sorted(s: &[f64]) -> f64 {
    let n = s.len();
    (s[(n - 1) / 2] + s[n / 2]) * 0.5
}

fn price_note(run: &LoadedRun, prices: &PriceTable) -> Option<String> {
    match &run.run.host.instance_type {
        None => Some(format!(
            "no instance type recorded ({}): re-run with `--instance TYPE` (e.g. c7i.4xlarge) to price it; an instance type seen by the report can also be priced with `--price TYPE=USD`",
            run.run.host.instance_type_source
        )),
        Some(t) if prices.price(t).is_none() => {
            let alts: Vec<String> = prices
                .alternatives(t)
                .iter()
                .map(|r| {
                    format!(
                        "{} {} ${}/h ({}, {})",
                        r.purchase_model,
                        r.region,
                        r.usd_per_hour.unwrap_or_default(),
                        r.source,
                        r.as_of
                    )
                })
                .collect();
            let alt = if alts.is_empty() {
                String::new()
            } else {
                format!("; sourced alternatives: {}", alts.join("; "))
            };
            Some(format!(
                "{t} has no on-demand price in {}{alt}: pass `--price {t}=USD`",
                prices.origin
            ))
        }
        Some(_) => None,
    }
}

/// `--implementation NAME` and `--weights` must name something the runs have.
fn check_options(runs: &[LoadedRun], opts: &Options) -> Result<(), ModelError> {
    let real: Vec<&LoadedRun> = runs.iter().filter(|r| !not_a_measurement(r)).collect();
    let mut impls: Vec<&str> = Vec::new();
    for r in &real {
        let i = r.run.backend.implementation.as_str();
        if !impls.contains(&i) {
            impls.push(i);
        }
    }
    if opts.implementation != Implementation::Best
        && !impls.iter().any(|i| opts.implementation.allows(i))
    {
        return Err(ModelError::UnknownImplementation {
            name: opts.implementation.to_string(),
            known: if impls.is_empty() {
                "none (no real run)".into()
            } else {
                impls.join(", ")
            },
        });
    }
    let mut workloads: Vec<String> = Vec::new();
    for r in &real {
        for p in &r.run.points {
            insert_workload(&mut workloads, &p.workload);
        }
    }
    for (w, _) in &opts.weights {
        if !workloads.contains(w) {
            return Err(unknown_workload("--weights", w, &workloads));
        }
    }
    for j in &opts.jobs {
        if !workloads.contains(&j.workload) {
            return Err(unknown_workload("--job", &j.workload, &workloads));
        }
    }
    if !workloads.is_empty()
        && workloads
            .iter()
            .all(|w| weight_of(&opts.weights, w).0 == 0.0)
    {
        return Err(ModelError::AllWeightsZero(workloads.join(", ")));
    }
    Ok(())
}

fn unknown_workload(option: &'static str, w: &str, known: &[String]) -> ModelError {
    let mut names: Vec<String> = known.to_vec();
    for k in kernels::WorkloadKind::ALL {
        insert_workload(&mut names, k.name());
    }
    let near = closest(w, names.iter().map(String::as_str).filter(|n| *n != w), 2);
    ModelError::UnknownWorkload {
        option,
        workload: w.to_string(),
        known: format!(
            "the runs have: {}{}",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            },
            if near.is_empty() {
                String::new()
            } else {
                format!(" (closest: {})", near.join(", "))
            }
        ),
    }
}

fn side_summary(runs: &[LoadedRun], prices: &PriceTable, s: &SideRuns) -> SideSummary {
    let first = &runs[s.runs[0]].run;
    let mut implementations: Vec<String> = Vec::new();
    for &r in &s.runs {
        let i = &runs[r].run.backend.implementation;
        if !implementations.contains(i) {
            implementations.push(i.clone());
        }
    }
    SideSummary {
        instance: s.instance.clone(),
        accelerator: prices
            .facts(&s.instance)
            .map(|f| f.accelerator.clone())
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| first.backend.device.clone()),
        device: first.backend.device.clone(),
        backend: first.backend.kind.clone(),
        runs: s.runs.clone(),
        implementations,
        bench_fraction_of_best: None,
        bench_fraction_points: 0,
    }
}

fn price_of(runs: &[LoadedRun], prices: &PriceTable, s: &SideRuns) -> Result<Priced, ModelError> {
    prices
        .price(&s.instance)
        .ok_or_else(|| ModelError::NoPrice {
            path: runs[s.runs[0]].path.display().to_string(),
            instance: s.instance.clone(),
            origin: prices.origin.clone(),
            hint: if prices.facts(&s.instance).is_some() {
                let alts: Vec<String> = prices
                    .alternatives(&s.instance)
                    .iter()
                    .map(|r| {
                        format!(
                            "{} {} ${}/h",
                            r.purchase_model,
                            r.region,
                            r.usd_per_hour.unwrap_or_default()
                        )
                    })
                    .collect();
                if alts.is_empty() {
                    " (the table has its hardware facts but no on-demand price)".into()
                } else {
                    format!(
                        " (the table has no on-demand price for it; its sourced rates: {}; each is a price scenario once it is priced)",
                        alts.join(", ")
                    )
                }
            } else {
                String::new()
            },
        })
}

/// The per-point ratios, coverage, workload means and verdict of one side pair.
#[allow(clippy::too_many_arguments)]
fn compare(
    runs: &[LoadedRun],
    prices: &PriceTable,
    devices: &DeviceTable,
    sorted: &[Vec<Vec<f64>>],
    tables: &mut RankTables,
    bs: &SideRuns,
    cs: &SideRuns,
    opts: &Options,
) -> Result<Comparison, ModelError> {
    let bp = price_of(runs, prices, bs)?;
    let cp = price_of(runs, prices, cs)?;
    let baseline_side = side_summary(runs, prices, bs);
    let challenger_side = side_summary(runs, prices, cs);
    fn platform(s: &SideSummary) -> SidePlatform<'_> {
        SidePlatform {
            accelerator: &s.accelerator,
            device: &s.device,
            backend: &s.backend,
        }
    }
    let claim = claim_for(
        opts.claim.map(|c| (c.low, c.high)),
        &platform(&challenger_side),
        &platform(&baseline_side),
    );
    let (bpts, cpts) = (best_of(runs, bs, sorted), best_of(runs, cs, sorted));
    let mut baseline_side = baseline_side;
    let mut challenger_side = challenger_side;
    for (summary, side, pts) in [
        (&mut baseline_side, bs, &bpts),
        (&mut challenger_side, cs, &cpts),
    ] {
        if let Some((f, n)) = bench_fraction_of_best(runs, side, pts, sorted) {
            summary.bench_fraction_of_best = Some(f);
            summary.bench_fraction_points = n;
        }
    }
    let (picks, unpaired) = pair_sides(runs, &bpts, &cpts, &bs.instance, &cs.instance);
    tables.prepare(
        picks
            .iter()
            .flat_map(|(x, y)| [sorted[x.run][x.point].len(), sorted[y.run][y.point].len()]),
    );
    let record = |x: &super::sides::Pick| &runs[x.run].run.points[x.point];
    // workload groups in the kernels' order
    let mut workloads: Vec<String> = Vec::new();
    for (x, _) in &picks {
        insert_workload(&mut workloads, &record(x).workload);
    }
    let seed = Rng::for_stream(REPORT_SEED, &format!("{}|{}", bs.instance, cs.instance)).next_u64();
    let jobs: Vec<PairJob> = picks
        .iter()
        .map(|(x, y)| {
            let (p, q) = (record(x), record(y));
            PairJob {
                b: Side {
                    sorted_s: &sorted[x.run][x.point],
                    usd_per_hour: bp.usd_per_hour,
                    share: p.devices_used / bp.accelerators_per_instance,
                },
                c: Side {
                    sorted_s: &sorted[y.run][y.point],
                    usd_per_hour: cp.usd_per_hour,
                    share: q.devices_used / cp.accelerators_per_instance,
                },
                seed,
                id: &p.id,
                group: workloads.iter().position(|w| *w == p.workload).unwrap_or(0),
            }
        })
        .collect();
    let tables: &RankTables = tables;
    let (cis, sums) = run_jobs(&jobs, workloads.len(), tables);
    let pairs: Vec<PairRow> = picks
        .iter()
        .zip(&jobs)
        .zip(&cis)
        .map(|(((x, y), job), r)| {
            let (p, q) = (record(x), record(y));
            let work = work_per_iteration(p);
            let cost = |s: &Side| s.usd_per_hour * s.share * s.median() / 3600.0;
            let (cb, cc) = (cost(&job.b), cost(&job.c));
            let per_1m = |c: f64, rec| {
                let items = items_per_iteration(rec);
                (items > 0.0).then(|| 1e6 * c / items)
            };
            let bm = point_metrics(
                p,
                job.b.median(),
                Some(&bp),
                devices.get(&baseline_side.accelerator),
            );
            let cm = point_metrics(
                q,
                job.c.median(),
                Some(&cp),
                devices.get(&challenger_side.accelerator),
            );
            PairRow {
                point_id: p.id.clone(),
                workload: p.workload.clone(),
                dtype: p.dtype.clone(),
                params: params_text(p),
                baseline_run: runs[x.run].name.clone(),
                challenger_run: runs[y.run].name.clone(),
                baseline_implementation: runs[x.run].run.backend.implementation.clone(),
                challenger_implementation: runs[y.run].run.backend.implementation.clone(),
                baseline_median_s: job.b.median(),
                challenger_median_s: job.c.median(),
                baseline_devices_used: p.devices_used,
                challenger_devices_used: q.devices_used,
                baseline_perf_per_usd: work / cb,
                challenger_perf_per_usd: work / cc,
                perf_unit: perf_unit(p),
                item: item_name(p),
                baseline_cost_per_iteration_usd: cb,
                challenger_cost_per_iteration_usd: cc,
                baseline_usd_per_1m_items: per_1m(cb, p),
                challenger_usd_per_1m_items: per_1m(cc, q),
                baseline_items_per_s_per_device: bm.items_per_s_per_device,
                challenger_items_per_s_per_device: cm.items_per_s_per_device,
                baseline_items_per_s_per_instance: bm.items_per_s_per_instance.unwrap_or(0.0),
                challenger_items_per_s_per_instance: cm.items_per_s_per_instance.unwrap_or(0.0),
                baseline_pct_of_peak_flops: bm.pct_of_peak,
                challenger_pct_of_peak_flops: cm.pct_of_peak,
                baseline_pct_of_peak_memory_bw: bm.pct_of_peak_memory_bw,
                challenger_pct_of_peak_memory_bw: cm.pct_of_peak_memory_bw,
                baseline_pct_of_roofline: bm.pct_of_roofline,
                challenger_pct_of_roofline: cm.pct_of_roofline,
                baseline_roofline_bound: bm.roofline_bound,
                challenger_roofline_bound: cm.roofline_bound,
                ratio: *r,
                verdict: claim.as_ref().map(|k| judge(r.low, r.high, k)),
                break_even: claim
                    .as_ref()
                    .map(|k| break_even(r, bp.usd_per_hour, cp.usd_per_hour, k.low)),
            }
        })
        .collect();
    let mut ln_sums = vec![0.0; workloads.len()];
    let mut counts = vec![0usize; workloads.len()];
    for (job, r) in jobs.iter().zip(&cis) {
        ln_sums[job.group] += r.ratio.ln();
        counts[job.group] += 1;
    }
    let groups: Vec<Group> = workloads
        .iter()
        .enumerate()
        .map(|(g, w)| Group {
            weight: weight_of(&opts.weights, w).0,
            points: counts[g],
            ln_sum: ln_sums[g],
            replicate_ln_sums: &sums[g],
        })
        .collect();
    let workload_rows: Vec<WorkloadRatio> = workloads
        .iter()
        .zip(&groups)
        .map(|(w, g)| {
            let own = g.own();
            let (weight, weight_source) = weight_of(&opts.weights, w);
            WorkloadRatio {
                workload: w.clone(),
                weight,
                weight_source,
                points: g.points,
                ratio: own.ratio,
                low: own.low,
                high: own.high,
            }
        })
        .collect();
    let overall = combine(&groups);
    let cov = coverage(runs, bs, cs, &picks, |w| {
        weight_of(&opts.weights, w).0 > 0.0
    });
    let (verdict_now, partial, reason) = if cov.workloads_total == 0 {
        (None, false, None)
    } else if claim.is_none() {
        (
            None,
            false,
            Some(format!(
                "{}no claim for {} vs {} in the claims table: a ratio and interval only; pass --claim RATIO to test one",
                if cov.complete() {
                    String::new()
                } else {
                    format!("{}; ", cov.sentence())
                },
                challenger_side.accelerator,
                baseline_side.accelerator
            )),
        )
    } else if !cov.complete() && !opts.allow_partial {
        (
            Some(Verdict::Inconclusive),
            false,
            Some(format!(
                "{}; pass --allow-partial for a verdict over the paired workloads only",
                cov.sentence()
            )),
        )
    } else {
        match overall {
            None => (
                None,
                false,
                Some(
                    if picks.is_empty() {
                        "no point paired"
                    } else {
                        "every paired workload has weight 0"
                    }
                    .to_string(),
                ),
            ),
            Some(o) => {
                let partial = !cov.complete();
                (
                    claim.as_ref().map(|k| judge(o.low, o.high, k)),
                    partial,
                    partial
                        .then(|| format!("partial verdict (--allow-partial): {}", cov.sentence())),
                )
            }
        }
    };
    let judging = Judging {
        claim: claim.as_ref(),
        coverage_forces_inconclusive: !cov.complete() && !opts.allow_partial,
    };
    let scenario_rows = overall.map_or_else(Vec::new, |o| {
        scenarios(
            &o,
            &bp,
            &cp,
            &price_options(prices, &bs.instance),
            &price_options(prices, &cs.instance),
            judging,
        )
    });
    let sens = overall.map(|o| sensitivity(&o, bp.usd_per_hour, cp.usd_per_hour, judging));
    let jobs_out: Vec<JobCost> = opts
        .jobs
        .iter()
        .map(|j| {
            let mut item = None;
            let rates: Vec<PointRate> = picks
                .iter()
                .zip(&pairs)
                .filter(|(_, row)| row.workload == j.workload)
                .map(|((x, _), row)| {
                    let (unit, scale) = job_unit(record(x));
                    item.get_or_insert(unit);
                    PointRate {
                        baseline_items_per_usd: row.baseline_perf_per_usd * scale,
                        challenger_items_per_usd: row.challenger_perf_per_usd * scale,
                    }
                })
                .collect();
            let item = item.unwrap_or_else(|| {
                bs.runs
                    .iter()
                    .chain(&cs.runs)
                    .flat_map(|&r| &runs[r].run.points)
                    .filter(|p| p.workload == j.workload)
                    .max_by_key(|p| p.throughput.is_some())
                    .map_or_else(|| "items".to_string(), |p| job_unit(p).0)
            });
            job_cost(
                &j.workload,
                j.items,
                &item,
                &rates,
                bp.usd_per_hour,
                cp.usd_per_hour,
            )
        })
        .collect();
    let claim_outcome = match (&claim, overall, verdict_now) {
        (Some(k), Some(o), Some(_)) if cov.complete() || opts.allow_partial => {
            range_outcome(o.low, o.high, k).map(String::from)
        }
        _ => None,
    };
    Ok(Comparison {
        title: format!("{} vs {}", challenger_side.label(), baseline_side.label()),
        baseline: bs.runs[0],
        challenger: cs.runs[0],
        baseline_side,
        challenger_side,
        break_even: overall
            .zip(claim.as_ref())
            .map(|(o, k)| break_even(&o, bp.usd_per_hour, cp.usd_per_hour, k.low)),
        claim,
        claim_outcome,
        scenarios: scenario_rows,
        sensitivity: sens,
        jobs: jobs_out,
        overall,
        verdict: verdict_now,
        partial,
        verdict_reason: reason,
        coverage: cov,
        workloads: workload_rows,
        baseline_price: bp,
        challenger_price: cp,
        pairs,
        unpaired,
    })
}

/// "m=2048,n=2048,k=2048": the parameters in the order of the point id when it has them.
fn params_text(p: &crate::schema::PointRecord) -> String {
    let from_id = p.id.split('/').nth(1).unwrap_or("");
    let all_there = p.params.keys().all(|k| {
        from_id
            .split(',')
            .any(|kv| kv.split('=').next() == Some(k.as_str()))
    });
    if !from_id.is_empty() && all_there {
        return from_id.to_string();
    }
    p.params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

pub fn build(
    runs: &[LoadedRun],
    prices: &PriceTable,
    devices: &DeviceTable,
    opts: &Options,
) -> Result<Report, ModelError> {
    if let Some(c) = opts.claim {
        let ok = |x: f64| x.is_finite() && x > 0.0;
        if !(ok(c.low) && ok(c.high) && c.low <= c.high) {
            return Err(ModelError::Claim(format!("{}-{}", c.low, c.high)));
        }
    }
    check_options(runs, opts)?;
    let mut summaries = Vec::with_capacity(runs.len());
    let mut excluded = Vec::new();
    let mut sorted: Vec<Vec<Vec<f64>>> = Vec::with_capacity(runs.len());
    for run in runs {
        let r = &run.run;
        let simulated = not_a_measurement(run);
        let allowed = opts.implementation.allows(&r.backend.implementation);
        let is_b = allowed && selects(&opts.baseline, run);
        let is_c = allowed && selects(&opts.challenger, run);
        let role = match (simulated, is_b, is_c) {
            (true, _, _) => Role::Simulated,
            (false, true, true) => Role::Both,
            (false, true, false) => Role::Baseline,
            (false, false, true) => Role::Challenger,
            _ => Role::Other,
        };
        let price = if simulated {
            None
        } else {
            r.host
                .instance_type
                .as_deref()
                .and_then(|t| prices.price(t))
        };
        let accelerator = r
            .host
            .instance_type
            .as_deref()
            .and_then(|t| prices.facts(t))
            .map(|f| f.accelerator.clone())
            .or_else(|| price.as_ref().map(|p| p.accelerator.clone()))
            .filter(|a| !a.is_empty());
        let device = accelerator.as_deref().and_then(|a| devices.get(a));
        let mut points = Vec::new();
        let mut run_sorted = Vec::with_capacity(r.points.len());
        let (mut ok, mut failed, mut skipped) = (0, 0, 0);
        for p in &r.points {
            let check_failed = p.check.as_ref().is_some_and(|c| !c.passed);
            match p.status {
                crate::schema::Status::Ok if check_failed => failed += 1,
                crate::schema::Status::Ok => ok += 1,
                crate::schema::Status::Failed => failed += 1,
                crate::schema::Status::Skipped => skipped += 1,
            }
            if simulated {
                run_sorted.push(Vec::new());
                continue;
            }
            match unusable(p) {
                Some(reason) => {
                    excluded.push(Excluded {
                        run: run.name.clone(),
                        point_id: p.id.clone(),
                        reason,
                    });
                    run_sorted.push(Vec::new());
                }
                None => {
                    let s = sorted_samples(p);
                    points.push(point_metrics(
                        p,
                        median_of_sorted(&s),
                        price.as_ref(),
                        device,
                    ));
                    run_sorted.push(s);
                }
            }
        }
        if simulated {
            excluded.push(Excluded {
                run: run.name.clone(),
                point_id: "(all points)".into(),
                reason: format!(
                    "not a measurement ({}): never priced, never in a verdict",
                    if r.backend.simulated {
                        "simulated, e.g. nrt-sim".to_string()
                    } else {
                        r.backend.implementation.clone()
                    }
                ),
            });
        }
        summaries.push(RunSummary {
            name: run.name.clone(),
            path: run.path.display().to_string(),
            backend: r.backend.kind.clone(),
            implementation: r.backend.implementation.clone(),
            device: r.backend.device.clone(),
            device_count: r.backend.device_count,
            instance: r.host.instance_type.clone(),
            instance_source: r.host.instance_type_source.clone(),
            simulated,
            role,
            price_note: if simulated {
                Some("simulated: never priced".into())
            } else {
                price_note(run, prices)
            },
            price,
            accelerator,
            ok,
            failed,
            skipped,
            points,
        });
        sorted.push(run_sorted);
    }

    // sides: the baseline and challenger runs grouped by instance type
    let is = |i: usize, role: Role| summaries[i].role == role || summaries[i].role == Role::Both;
    let chosen = |role: Role| -> Vec<usize> { (0..runs.len()).filter(|&i| is(i, role)).collect() };
    let (b_sides, b_untyped) = group(runs, &chosen(Role::Baseline));
    let (c_sides, c_untyped) = group(runs, &chosen(Role::Challenger));
    let any_b = !b_sides.is_empty() || !b_untyped.is_empty();
    let any_c = !c_sides.is_empty() || !c_untyped.is_empty();
    if any_b && any_c {
        if let Some(&i) = b_untyped.first().or(c_untyped.first()) {
            return Err(ModelError::NoInstance {
                path: runs[i].path.display().to_string(),
            });
        }
    }
    let mut tables = RankTables::new(REPORT_SEED);
    let mut comparisons = Vec::new();
    for bs in &b_sides {
        for cs in c_sides.iter().filter(|c| c.instance != bs.instance) {
            comparisons.push(compare(
                runs,
                prices,
                devices,
                &sorted,
                &mut tables,
                bs,
                cs,
                opts,
            )?);
        }
    }

    let missing = missing(&summaries, &comparisons, opts);
    let datasheet = if comparisons.iter().any(|c| !c.pairs.is_empty()) {
        Vec::new()
    } else {
        datasheet(prices, devices)
    };
    let vendor = vendor_comparisons(runs, &summaries, &sorted);
    Ok(Report {
        schema: REPORT_SCHEMA,
        claim: opts.claim,
        baseline_selector: opts.baseline.clone(),
        challenger_selector: opts.challenger.clone(),
        implementation: opts.implementation.to_string(),
        allow_partial: opts.allow_partial,
        weights: opts
            .weights
            .iter()
            .map(|(w, x)| WeightGiven {
                workload: w.clone(),
                weight: *x,
            })
            .collect(),
        price_origin: prices.origin.clone(),
        runs: summaries,
        comparisons,
        excluded,
        missing,
        datasheet,
        vendor,
        resamples: RESAMPLES,
        seed: REPORT_SEED,
    })
}

/// Runs that are not evidence: simulated backends and dry runs of a reference script.
pub fn not_a_measurement(run: &LoadedRun) -> bool {
    let b = &run.run.backend;
    b.simulated
        || b.implementation.contains("dry run")
        || b.implementation.contains("not a measurement")
}

fn vendor_comparisons(
    runs: &[LoadedRun],
    summaries: &[RunSummary],
    sorted: &[Vec<Vec<f64>>],
) -> Vec<VendorComparison> {
    let mut out = Vec::new();
    for (bi, b) in summaries.iter().enumerate() {
        if b.simulated || b.implementation != "bench" {
            continue;
        }
        for (ri, r) in summaries.iter().enumerate() {
            let same_place = r.backend == b.backend
                && (r.instance.is_some() && r.instance == b.instance || r.device == b.device);
            if ri == bi || r.simulated || r.implementation == "bench" || !same_place {
                continue;
            }
            let pairing = pair(&runs[bi], &runs[ri]);
            let points: Vec<(String, f64)> = pairing
                .pairs
                .iter()
                .map(|&(i, j)| {
                    (
                        runs[bi].run.points[i].id.clone(),
                        median_of_sorted(&sorted[ri][j]) / median_of_sorted(&sorted[bi][i]),
                    )
                })
                .collect();
            let fractions: Vec<f64> = points.iter().map(|p| p.1).collect();
            out.push(VendorComparison {
                bench_run: bi,
                reference_run: ri,
                geomean: (!fractions.is_empty()).then(|| geomean(&fractions)),
                points,
            });
        }
    }
    out
}

fn missing(runs: &[RunSummary], comparisons: &[Comparison], opts: &Options) -> Vec<String> {
    let mut m = Vec::new();
    let has = |role: Role| runs.iter().any(|r| r.role == role || r.role == Role::Both);
    let sims: Vec<&str> = runs
        .iter()
        .filter(|r| r.simulated)
        .map(|r| r.name.as_str())
        .collect();
    let only = match opts.implementation {
        Implementation::Best => String::new(),
        ref i => format!(" with `--implementation {i}`"),
    };
    if !has(Role::Challenger) {
        m.push(format!(
            "No challenger run: no real (non-simulated) run{only} matches `--challenger {}`. For the Trainium claim, run `bench --backend neuron --instance trn2.48xlarge` on a Trainium instance and pass its run directory to `bench report`.",
            opts.challenger
        ));
    }
    if !has(Role::Baseline) {
        m.push(format!(
            "No baseline run: no real run{only} matches `--baseline {}`. Run `bench --backend cuda --instance p5.48xlarge` (or another GPU instance) and pass its run directory.",
            opts.baseline
        ));
    }
    if !sims.is_empty() {
        m.push(format!(
            "Simulated runs and dry runs are not evidence and are left out: {}.",
            sims.join(", ")
        ));
    }
    for c in comparisons {
        if c.pairs.is_empty() {
            m.push(format!(
                "{} and {} share no usable point id: run the same suite (same --suite/--param/--dtype) on both.",
                c.baseline_side.instance, c.challenger_side.instance
            ));
        } else if !c.coverage.complete() {
            m.push(format!("{}: {}.", c.title, c.coverage.sentence()));
        }
    }
    m
}

fn datasheet(prices: &PriceTable, devices: &DeviceTable) -> Vec<DatasheetRow> {
    let mut instances: Vec<&str> = prices.rows.iter().map(|r| r.instance.as_str()).collect();
    instances.extend(prices.overrides.keys().map(String::as_str));
    instances.dedup();
    let mut seen = std::collections::BTreeSet::new();
    instances
        .into_iter()
        .filter(|i| seen.insert(i.to_string()))
        .filter_map(|i| {
            let p = prices.price(i)?;
            let peak = devices.get(&p.accelerator)?.peak_tflops("bf16")?;
            let pflops = peak * p.accelerators_per_instance / 1000.0;
            Some(DatasheetRow {
                instance: i.to_string(),
                accelerator: p.accelerator.clone(),
                accelerators: p.accelerators_per_instance,
                usd_per_hour: p.usd_per_hour,
                price_model: p.purchase_model.clone(),
                peak_bf16_pflops: pflops,
                peak_pflops_hours_per_usd: pflops / p.usd_per_hour,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::verdict::verdict;
    use super::*;

    use crate::report::input::fixture;

    fn opts() -> Options {
        Options::default()
    }

    #[test]
    fn simulated_runs_never_compare_and_trn2_needs_a_price() {
        let runs = [
            fixture("cuda-p5"),
            fixture("neuron-trn2"),
            fixture("neuron-sim"),
        ];
        let e = build(
            &runs,
            &PriceTable::builtin(),
            &DeviceTable::builtin(),
            &opts(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("--price trn2.48xlarge=USD"), "{e}");
        let prices = PriceTable::builtin()
            .with_overrides(&["trn2.48xlarge=30".into()])
            .unwrap();
        let rep = build(&runs, &prices, &DeviceTable::builtin(), &opts()).unwrap();
        assert_eq!(rep.comparisons.len(), 1);
        assert_eq!(rep.runs[2].role, Role::Simulated);
        assert!(rep.runs[2].price.is_none() && rep.runs[2].points.is_empty());
        let c = &rep.comparisons[0];
        // every pair's ratio is the cost ratio by hand: (55.04/8 · t_b) / (30/16 · t_c)
        for p in &c.pairs {
            let by_hand =
                (55.04 / 8.0 * p.baseline_median_s) / (30.0 / 16.0 * p.challenger_median_s);
            assert!((p.ratio.ratio - by_hand).abs() < 1e-12 * by_hand);
            assert!(p.ratio.low <= p.ratio.ratio && p.ratio.ratio <= p.ratio.high);
        }
        let o = c.overall.unwrap();
        // by hand: the geometric mean per workload, then over workloads
        let mut per: Vec<(String, Vec<f64>)> = Vec::new();
        for p in &c.pairs {
            match per.iter_mut().find(|(w, _)| *w == p.workload) {
                Some((_, v)) => v.push(p.ratio.ratio),
                None => per.push((p.workload.clone(), vec![p.ratio.ratio])),
            }
        }
        let means: Vec<f64> = per.iter().map(|(_, v)| geomean(v)).collect();
        assert!((o.ratio - geomean(&means)).abs() < 1e-12 * o.ratio);
        assert_eq!(c.workloads.len(), per.len());
        if c.coverage.complete() {
            assert_eq!(c.verdict, Some(verdict(o.low, o.high, 1.3)));
        } else {
            assert_eq!(c.verdict, Some(Verdict::Inconclusive));
        }
        assert!(rep.datasheet.is_empty());
    }

    #[test]
    fn bench_speed_against_the_vendor_reference_by_hand() {
        let bench = fixture("cuda-p5");
        let mut torch = fixture("cuda-p5");
        torch.name = "torch".into();
        torch.run.backend.implementation = "torch".into();
        // the reference is 25% slower on every sample: bench speed / reference speed = 1.25
        for p in &mut torch.run.points {
            p.samples_s.iter_mut().for_each(|s| *s *= 1.25);
        }
        let mut dry = torch.clone();
        dry.name = "dry".into();
        dry.run.backend.implementation = "torch (dry run: not a measurement)".into();
        let runs = [bench, torch, dry];
        let rep = build(
            &runs,
            &PriceTable::builtin(),
            &DeviceTable::builtin(),
            &opts(),
        )
        .unwrap();
        assert_eq!(rep.vendor.len(), 1, "the dry run is not a reference");
        let v = &rep.vendor[0];
        assert_eq!((v.bench_run, v.reference_run), (0, 1));
        assert_eq!(v.points.len(), runs[0].run.points.len());
        assert!(
            v.points.iter().all(|(_, f)| (f - 1.25).abs() < 1e-9),
            "{:?}",
            v.points
        );
        assert!((v.geomean.unwrap() - 1.25).abs() < 1e-9);
        assert_eq!(rep.runs[2].role, Role::Simulated);
        assert!(rep.runs[2].price.is_none());
    }

    #[test]
    fn without_a_challenger_the_report_says_what_is_missing() {
        let runs = [fixture("cuda-p5"), fixture("cpu-unpriced")];
        let rep = build(
            &runs,
            &PriceTable::builtin(),
            &DeviceTable::builtin(),
            &opts(),
        )
        .unwrap();
        assert!(rep.comparisons.is_empty());
        assert!(
            rep.missing[0].contains("No challenger run"),
            "{:?}",
            rep.missing
        );
        assert!(rep.runs[1]
            .price_note
            .as_deref()
            .unwrap()
            .contains("--instance"));
        assert!(rep.datasheet.iter().any(|d| d.instance == "p5.48xlarge"));
        assert!(!rep.datasheet.iter().any(|d| d.instance == "trn2.48xlarge"));
    }
}

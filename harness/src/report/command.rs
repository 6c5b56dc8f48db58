//! The `bench report` and `bench prices` commands: read the price table (built-in, `--prices
//! FILE`, `--price TYPE=USD` overrides) and the result files, build the model, and write
//! report.md, report.html, summary.csv, summary.json, points.csv, report.json and charts/ into --out.
//! Every bad input is an error naming the file or value (the binary exits 2).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::args::{merge_weights, parse_claim, parse_implementation, parse_instance_of, parse_job};
use super::devices::DeviceTable;
use super::model::{build, Options, Report};
use super::prices::PriceTable;
use super::{apply, charts, compose, html, input, markdown, points, summary};
use crate::cli::{PricesArgs, ReportArgs};

/// The price table a command uses.
pub fn price_table(file: Option<&Path>, overrides: &[String]) -> Result<PriceTable> {
    let table = match file {
        Some(f) => PriceTable::from_file(f)?,
        None => PriceTable::builtin(),
    };
    Ok(table.with_overrides(overrides)?)
}

/// `bench prices`: prints the table in use.
pub fn prices(args: &PricesArgs) -> Result<()> {
    let t = price_table(args.prices.as_deref(), &args.price)?;
    print!("{}", t.render());
    Ok(())
}

/// `bench report`: writes the report and prints where.
pub fn report(args: &ReportArgs) -> Result<()> {
    let prices = price_table(args.prices.as_deref(), &args.price)?;
    let claim = args.claim.as_deref().map(parse_claim).transpose()?;
    let instance_of = args
        .instance_of
        .iter()
        .map(|s| parse_instance_of(s))
        .collect::<Result<Vec<_>, _>>()?;
    let mut runs = input::load(&args.paths)?;
    apply::instance_of(&mut runs, &instance_of)?;
    apply::check_price_types(&runs, &prices)?;
    input::check_devices(&runs, &prices)?;
    let opts = Options {
        claim,
        baseline: args.baseline.clone(),
        challenger: args.challenger.clone(),
        implementation: parse_implementation(&args.implementation)?,
        allow_partial: args.allow_partial,
        weights: merge_weights(&args.weights)?,
        jobs: args
            .job
            .iter()
            .map(|s| parse_job(s))
            .collect::<Result<Vec<_>, _>>()?,
    };
    let model = build(&runs, &prices, &DeviceTable::builtin(), &opts)?;
    write(&model, &args.out)?;
    print_summary(&model, &args.out);
    Ok(())
}

/// A report over one finished run, written to `<run dir>/report` (for `bench --report`).
pub fn report_beside_run(run_dir: &Path) -> Result<PathBuf> {
    let out = run_dir.join("report");
    let runs = input::load(&[run_dir.to_path_buf()])?;
    input::check_devices(&runs, &PriceTable::builtin())?;
    let opts = Options::default();
    let model = build(
        &runs,
        &PriceTable::builtin(),
        &DeviceTable::builtin(),
        &opts,
    )?;
    write(&model, &out)?;
    Ok(out.join("report.md"))
}

fn print_summary(model: &Report, out: &Path) {
    for c in &model.comparisons {
        let label = format!(
            "{} vs {}",
            c.challenger_side.label(),
            c.baseline_side.label()
        );
        match (c.overall, c.verdict) {
            (Some(o), Some(v)) => println!(
                "{v}{}: {label}: ratio {:.3} (95% CI {:.3}-{:.3}) over {} of {} workloads ({} points; weights {}), claim {}{}{}",
                if c.partial { " (partial)" } else { "" },
                o.ratio,
                o.low,
                o.high,
                c.coverage.workloads_paired,
                c.coverage.workloads_total,
                c.pairs.len(),
                super::weights::describe(&c.workloads),
                c.claim.as_ref().map_or("none".into(), |k| k.text()),
                c.claim_outcome
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default(),
                c.verdict_reason
                    .as_deref()
                    .map(|r| format!("; {r}"))
                    .unwrap_or_default()
            ),
            (None, Some(v)) => println!(
                "{v}: {label}: {}",
                c.verdict_reason.as_deref().unwrap_or("no ratio")
            ),
            _ => println!(
                "no verdict: {label}: {}",
                c.verdict_reason
                    .as_deref()
                    .unwrap_or("the sides share no usable point")
            ),
        }
    }
    for m in &model.missing {
        println!("missing: {m}");
    }
    println!("report: {}", out.join("report.md").display());
}

/// Writes every output file of a report into `out`.
pub fn write(model: &Report, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create report directory {}", out.display()))?;
    let chart_dir = out.join("charts");
    let (drawn, not_drawn) = charts::draw_all(model, &chart_dir)
        .map_err(|e| anyhow::anyhow!("drawing charts in {}: {e}", chart_dir.display()))?;
    let list: Vec<(String, String)> = drawn
        .iter()
        .map(|d| (d.stem.clone(), d.caption.clone()))
        .collect();
    let meta = compose::Meta::now();
    let blocks = compose::compose(model, &list, &not_drawn, &meta);
    let svgs: BTreeMap<String, String> = drawn.into_iter().map(|d| (d.stem, d.svg)).collect();
    let put = |name: &str, text: String| {
        let path = out.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    // The data files are independent of the text: write them on another core meanwhile.
    std::thread::scope(|scope| -> Result<()> {
        let data = scope.spawn(|| -> Result<()> {
            put("summary.csv", summary::csv(model)?)?;
            put("summary.json", summary::json(model)?)?;
            put("points.csv", points::csv(model)?)
        });
        let full = scope.spawn(|| put("report.json", serde_json::to_string(model)?));
        put("report.md", markdown::render(&blocks))?;
        put(
            "report.html",
            html::render(&compose::title(model), &blocks, &svgs),
        )?;
        data.join().expect("report writer thread")?;
        full.join().expect("report writer thread")
    })?;
    Ok(())
}

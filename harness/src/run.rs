//! `bench run`: plan the points, open the backend, then for each point execute, record and
//! flush; print the summary table. Exit status: 0 all points ok (or skipped), 1 some point
//! failed, 2 for usage/configuration/I/O errors (finished points stay in run.json).

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use backends::{BackendKind, BackendOptions};

use crate::cli::RunArgs;
use crate::dump::Dumper;
use crate::interrupt::{self, Signal};
use crate::progress::Progress;
use crate::runner::{
    blank_record, execute_alternative, execute_point, MeasureConfig, PointContext,
};
use crate::schema::{BackendInfo, Interruption, Resume, RunFile, Status, INTERRUPTED, SCHEMA};
use crate::store::RunWriter;
use crate::suite::Suite;
use crate::watchdog::Watchdog;
use crate::{clock, provenance, resume, table};

/// How a run ended, when it ran to the end or a signal stopped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    AllOk,
    SomeFailed,
    /// SIGINT or SIGTERM: run.json holds every finished point; exit 130 or 143.
    Interrupted(Signal),
}

fn validate(args: &RunArgs) -> Result<MeasureConfig> {
    let positive = |name: &str, v: f64| -> Result<()> {
        if !(v.is_finite() && v > 0.0) {
            bail!("--{name} {v}: must be a positive number of seconds");
        }
        Ok(())
    };
    if let Some(b) = args.budget {
        positive("budget", b)?;
    }
    if !(args.warmup.is_finite() && args.warmup >= 0.0) {
        bail!(
            "--warmup {}: must be zero or a positive number of seconds",
            args.warmup
        );
    }
    if !(args.target_noise > 0.0 && args.target_noise < 1.0) {
        bail!(
            "--target-noise {}: must be a fraction between 0 and 1, e.g. 0.01",
            args.target_noise
        );
    }
    if args.min_samples < 2 || args.max_samples < args.min_samples {
        bail!(
            "--min-samples {} / --max-samples {}: need 2 <= min <= max",
            args.min_samples,
            args.max_samples
        );
    }
    Ok(MeasureConfig {
        warmup_s: args.warmup,
        target_rel_ci: args.target_noise,
        min_samples: args.min_samples,
        max_samples: args.max_samples,
        budget_s: args.budget.unwrap_or(0.0),
        seed: args.seed,
    })
}

/// Backend settings from the command line.
pub fn backend_options(args: &RunArgs) -> BackendOptions {
    let mut settings = BTreeMap::new();
    if let Some(d) = &args.neff_dir {
        settings.insert("neff_dir".into(), d.display().to_string());
    }
    if let Some(c) = args.cores {
        settings.insert("cores".into(), c.to_string());
    }
    if let Some(d) = &args.devices {
        settings.insert("devices".into(), d.clone());
    }
    BackendOptions { settings }
}

pub fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_=./,:".contains(c))
            {
                a
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn run(args: &RunArgs) -> Result<Outcome> {
    interrupt::install().context("cannot install the SIGINT/SIGTERM handlers")?;
    // A resume continues with the run's own configuration (checked against what was given).
    let (resumed, effective) = match args.resume.as_deref() {
        Some(dir) => {
            let (r, a) = resume::load(dir, args)?;
            (Some(r), Some(a))
        }
        None => (None, None),
    };
    let args = effective.as_ref().unwrap_or(args);
    let kind: BackendKind = args.backend.parse()?;
    let (suite, points) = args.select.points()?;
    let mut cfg = validate(args)?;
    if args.budget.is_none() {
        cfg.budget_s = suite.default_budget_s();
    }

    let t_init = Instant::now();
    let mut backend = backends::open(kind, &backend_options(args))?;
    let init_s = t_init.elapsed().as_secs_f64();
    let info = backend.info().clone();

    let host = provenance::host(args.instance.as_deref());
    let mut extra = info.extra.clone();
    for (k, v) in provenance::library_versions() {
        extra.entry(k).or_insert(v);
    }
    let backend_info = BackendInfo {
        kind: kind.name().into(),
        implementation: info.implementation.clone(),
        device: info.device.clone(),
        device_count: info.device_count,
        runtime_version: info.runtime_version.clone().or_else(|| {
            // candle-core is the CPU backend's runtime; its locked version is known here
            (kind == BackendKind::Cpu)
                .then(|| format!("candle-core {}", env!("BENCH_CANDLE_VERSION")))
        }),
        driver_version: info.driver_version.clone(),
        simulated: info.simulated,
        extra,
    };
    let (mut writer, todo) = match resumed {
        Some(r) => {
            r.check_machine(&backend_info, &host.instance_type)?;
            let todo = r.todo(&points, args.retry_failed);
            let kept = r.run.points.len()
                - todo
                    .iter()
                    .map(|p| r.run.points.iter().filter(|q| q.id == p.id()).count())
                    .sum::<usize>();
            let mut run = r.run;
            run.finished_at = None;
            run.interrupted = None;
            run.resumes.push(Resume {
                at: clock::now_rfc3339(),
                command: command_line(),
                harness: provenance::harness(),
                retry_failed: args.retry_failed,
                env: provenance::relevant_env(),
                points_run: Vec::new(),
                finished_at: None,
            });
            let writer = RunWriter::reopen(&r.dir, run)?;
            eprintln!(
                "bench: resuming {}: {} points to run, {kept} kept as they are",
                writer.file().display(),
                todo.len()
            );
            (writer, todo)
        }
        None => {
            let run_file = RunFile {
                schema: SCHEMA.into(),
                harness: provenance::harness(),
                host: host.clone(),
                backend: backend_info,
                command: command_line(),
                started_at: clock::now_rfc3339(),
                finished_at: None,
                settings: {
                    // A backend that flushes caches between samples says how (cuda: an L2 memset).
                    let mut s = settings(&cfg, suite);
                    if let Some(c) = info.extra.get("cache_between_samples") {
                        s.insert("cache".into(), c.clone().into());
                    }
                    s.extend(resume::recorded_settings(args));
                    s
                },
                env: provenance::relevant_env(),
                points: Vec::new(),
                resumes: Vec::new(),
                interrupted: None,
            };
            let label = host
                .instance_type
                .clone()
                .unwrap_or_else(|| host.hostname.clone());
            let name = sanitize(&format!("{}-{}-{}", clock::now_stamp(), kind, label));
            // results/runs/ holds only real measurements: a simulated runtime (nrt-sim) that was not
            // given another --out writes under results/simulated/ (git-ignored) instead.
            let out = if info.simulated && args.out == std::path::Path::new("results/runs") {
                eprintln!("bench: the runtime is simulated; writing under results/simulated/ (never priced), not results/runs/");
                std::path::PathBuf::from("results/simulated")
            } else {
                args.out.clone()
            };
            let writer = RunWriter::create(&out, &name, run_file)?;
            eprintln!(
                "bench: {} points of the {suite} suite on {kind} ({}); writing {}",
                points.len(),
                info.device,
                writer.file().display()
            );
            (writer, points)
        }
    };
    let mut dumper = args.dump.as_deref().map(Dumper::new).transpose()?;

    let mut progress = Progress::new(todo.len());
    let watchdog = Watchdog::start(writer.file(), progress.bar());
    let stop = || interrupt::requested().is_some();
    let mut stopped: Option<(anyhow::Error, bool)> = None;
    let mut seq = 0usize;
    'points: for point in todo.iter() {
        if stop() {
            break;
        }
        progress.start(&point.id());
        let id = point.id();
        // bench's own implementation, then each second implementation the backend has for
        // the point (the Neuron backend's nki NEFFs), each its own record.
        let mut variants: Vec<Option<(String, Result<(), String>)>> = vec![None];
        variants.extend(backend.alternatives(point).into_iter().map(Some));
        for variant in variants {
            if stop() {
                break 'points;
            }
            let mut abandoned = blank_record(point, backend.devices_used(point));
            abandoned.implementation = variant.as_ref().map(|(name, _)| name.clone());
            abandoned.status = Status::Failed;
            abandoned.reason = Some(INTERRUPTED.into());
            watchdog.set_in_flight(Some(abandoned));
            let this_seq = seq;
            seq += 1;
            let dump_id = match &variant {
                None => id.clone(),
                Some((name, _)) => format!("{id} [{name}]"),
            };
            let mut hook = |inputs: &[kernels::HostTensor],
                            produced: Option<&kernels::Produced>,
                            expected: &kernels::Expected| {
                match dumper.as_mut() {
                    Some(d) => d.dump(this_seq, &dump_id, inputs, produced, expected),
                    None => Ok(()),
                }
            };
            let mut ctx = PointContext {
                measure: cfg,
                stop: &stop,
                init_s,
                on_checked: Some(&mut hook),
            };
            let rec = match variant {
                None => execute_point(backend.as_mut(), point, &mut ctx),
                Some((name, available)) => {
                    execute_alternative(backend.as_mut(), point, &name, available, &mut ctx)
                }
            };
            // Before the record is pushed: the watchdog must never overwrite a finished point.
            watchdog.set_in_flight(None);
            let rec = match rec {
                Ok(rec) => rec,
                Err(e) => {
                    stopped = Some((e.context(format!("point {id}")), true));
                    break 'points;
                }
            };
            // Written before its progress line: a terminal that blocks the line must not hold
            // a finished record back past the watchdog's grace period.
            let line = rec.clone();
            if let Err(e) = writer.push(rec) {
                // A failed write names the file and left it as it was (e.g. a full disk).
                stopped = Some((e, false));
                break 'points;
            }
            if line.implementation.is_none() {
                progress.finish_point(&line);
            } else {
                progress.also(&line);
            }
        }
    }
    watchdog.settle();
    progress.finish();
    let file = writer.file();
    if let Some((e, backend_error)) = stopped {
        print!("{}", table::render(&writer.run().points));
        if !backend_error {
            return Err(e);
        }
        return Err(e.context(format!(
            "run stopped; finished points are kept in {}; continue with bench run --resume {}",
            file.display(),
            writer.dir().display()
        )));
    }
    if let Some(sig) = interrupt::requested() {
        let point = writer
            .run()
            .points
            .iter()
            .find(|p| p.reason.as_deref() == Some(INTERRUPTED))
            .map(|p| p.id.clone());
        writer.update(|r| {
            r.interrupted = Some(Interruption {
                signal: sig.name().into(),
                at: clock::now_rfc3339(),
                point,
            })
        })?;
        print!("{}", table::render(&writer.run().points));
        eprintln!(
            "bench: stopped by {}; every finished point is in {}; continue with: bench run --resume {}",
            sig.name(),
            file.display(),
            writer.dir().display()
        );
        return Ok(Outcome::Interrupted(sig));
    }
    writer.finish(clock::now_rfc3339())?;
    print!("{}", table::render(&writer.run().points));
    println!("results: {}", file.display());
    let failed = writer
        .run()
        .points
        .iter()
        .any(|p| p.status == Status::Failed);
    if args.report {
        let md = crate::report::command::report_beside_run(writer.dir())?;
        println!("report: {}", md.display());
    }
    Ok(if failed {
        Outcome::SomeFailed
    } else {
        Outcome::AllOk
    })
}

fn settings(cfg: &MeasureConfig, suite: Suite) -> BTreeMap<String, serde_json::Value> {
    let mut s = BTreeMap::new();
    s.insert("suite".into(), suite.name().into());
    s.insert("seed".into(), cfg.seed.into());
    s.insert("warmup_s".into(), cfg.warmup_s.into());
    s.insert("budget_s".into(), cfg.budget_s.into());
    s.insert("target_rel_ci".into(), cfg.target_rel_ci.into());
    s.insert("min_samples".into(), cfg.min_samples.into());
    s.insert("max_samples".into(), cfg.max_samples.into());
    s.insert(
        "cache".into(),
        "inputs stay resident; CPU caches are not flushed between samples".into(),
    );
    s
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

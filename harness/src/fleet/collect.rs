//! `bench fleet collect`: optionally wait until no job is queued or running, then gather each
//! target's run folder (everything that finished is kept, a failed job's partial run too),
//! list every target that did not succeed with the scheduler's state and the tail of its log,
//! and with `--report` run `bench report` over the gathered runs into DIR/report, handing
//! every argument after `--report` to the report's own parser.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;

use super::args::CollectArgs;
use super::job::first_line;
use super::kube;
use super::record::{self, FleetRecord, TargetRecord};
use super::spec::Scheduler;
use super::state::{JobState, Phase};
use super::status::{self, RunInfo};
use super::tools;
use crate::cli::{Cli, Command};
use crate::run::Outcome;

/// Lines of a failed job's log shown.
const LOG_LINES: usize = 12;

pub fn collect(args: &CollectArgs) -> Result<Outcome> {
    if !(args.poll.is_finite() && args.poll > 0.0) {
        bail!("--poll {}: must be a positive number of seconds", args.poll);
    }
    let mut rec = record::read(&args.dir)?;
    let dir = std::fs::canonicalize(&args.dir)
        .with_context(|| format!("cannot read {}", args.dir.display()))?;
    let states = if args.wait {
        wait(&dir, &mut rec, Duration::from_secs_f64(args.poll))?
    } else {
        let s = status::query(&rec)?;
        status::remember(&dir, &mut rec, &s)?;
        s
    };

    let mut runs: Vec<PathBuf> = Vec::new();
    let mut failed = 0;
    println!("fleet {} ({}):", rec.id, rec.scheduler);
    for (t, st) in rec.targets.iter().zip(&states) {
        let all = status::runs(&t.out);
        let run = all.last();
        println!(
            "  {}: {}; {}",
            t.name,
            st.describe(),
            run_line(&dir, run, all.len())
        );
        if let Some(r) = run {
            runs.push(r.dir.clone());
        }
        if st.phase != Phase::Succeeded {
            failed += 1;
            print!("{}", log_section(&rec, t, st));
        }
    }
    let active = states.iter().filter(|s| s.is_active()).count();
    println!(
        "collected {} run folder(s) of {} targets; {} did not succeed{}",
        runs.len(),
        rec.targets.len(),
        failed,
        if active > 0 {
            format!(" ({active} still queued or running: collect again, or pass --wait)")
        } else {
            String::new()
        }
    );
    if let Some(extra) = &args.report {
        if runs.is_empty() {
            bail!(
                "no target of {} wrote a run folder, so there is nothing to report",
                dir.display()
            );
        }
        report(&dir, &runs, extra)?;
    }
    Ok(if failed > 0 {
        Outcome::SomeFailed
    } else {
        Outcome::AllOk
    })
}

/// Queries until no job is active, printing each change of state.
fn wait(dir: &Path, rec: &mut FleetRecord, poll: Duration) -> Result<Vec<JobState>> {
    let mut last: Vec<String> = vec![String::new(); rec.targets.len()];
    loop {
        let states = status::query(rec)?;
        for ((t, s), seen) in rec.targets.iter().zip(&states).zip(last.iter_mut()) {
            let now = s.describe();
            if *seen != now {
                eprintln!("collect: {}: {now}", t.name);
                *seen = now;
            }
        }
        status::remember(dir, rec, &states)?;
        if !states.iter().any(JobState::is_active) {
            return Ok(states);
        }
        std::thread::sleep(poll);
    }
}

fn run_line(dir: &Path, run: Option<&RunInfo>, count: usize) -> String {
    match run {
        None => "no run folder".into(),
        Some(r) => {
            let rel = r.dir.strip_prefix(dir).unwrap_or(&r.dir);
            let older = if count > 1 {
                format!(" (newest of {count}; the older ones are left out)")
            } else {
                String::new()
            };
            format!("run {}: {}{older}", rel.display(), r.describe())
        }
    }
}

/// Where a failed target's log is and its last lines.
fn log_section(rec: &FleetRecord, t: &TargetRecord, st: &JobState) -> String {
    let Some(job) = t.job() else {
        return match &t.submit_error {
            Some(e) => format!("      not submitted: {e}\n"),
            None => "      not submitted (dry run)\n".into(),
        };
    };
    let (source, text) = match rec.scheduler {
        Scheduler::Slurm => {
            let Some(log) = &job.log else {
                return String::new();
            };
            match std::fs::read_to_string(log) {
                Ok(text) => (log.display().to_string(), text),
                Err(_) if st.state == "CANCELLED" || st.state == "PENDING" => {
                    return format!("      no log ({} never started)\n", log.display())
                }
                Err(e) => return format!("      no log at {}: {e}\n", log.display()),
            }
        }
        Scheduler::Kubernetes => {
            let Some(kubectl) = tools::find("kubectl") else {
                return "      (no log: kubectl not on PATH)\n".into();
            };
            let ns = t.namespace.clone().unwrap_or_else(|| "default".into());
            (
                format!("kubectl logs -n {ns} job/{}", job.id),
                kube::log_tail(&kubectl, &ns, &job.id, LOG_LINES),
            )
        }
    };
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(LOG_LINES)..];
    let mut out = format!("      log {source}, last {} lines:\n", tail.len());
    for l in tail {
        out += &format!("      | {l}\n");
    }
    out
}

/// `bench report RUNS.. --out DIR/report [options]` through bench's own parser and report
/// code, so every report option works here as it does there (it prints where it wrote).
fn report(dir: &Path, runs: &[PathBuf], extra: &[String]) -> Result<()> {
    let out = dir.join("report");
    let mut argv: Vec<String> = vec!["bench".into(), "report".into()];
    argv.extend(runs.iter().map(|r| r.display().to_string()));
    let user_out = extra
        .iter()
        .any(|a| a == "--out" || a.starts_with("--out="));
    if !user_out {
        argv.extend(["--out".into(), out.display().to_string()]);
    }
    argv.extend(extra.iter().cloned());
    let cli = Cli::try_parse_from(&argv).map_err(|e| {
        anyhow::anyhow!("--report options: {}", first_line(&e.render().to_string()))
    })?;
    let Some(Command::Report(report_args)) = cli.command else {
        bail!("--report options do not form a bench report command");
    };
    crate::report::command::report(&report_args)
}

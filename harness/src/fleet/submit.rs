//! `bench fleet submit` and `bench fleet rerun`: check the fleet file and the scheduler's
//! command before writing anything, create `<results>/<fleet-id>/` (a copy of the fleet file,
//! `logs/`, one folder per target), write one sbatch script or Job manifest per target,
//! submit each, and record the job ids in fleet.json. The last line printed is the fleet
//! directory. A rerun writes a new attempt for each failed target into the same directory:
//! `bench run --resume` of the target's run folder when it has one, else a fresh run.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::args::{RerunArgs, SubmitArgs};
use super::job;
use super::kube;
use super::record::{self, FleetRecord, JobRecord, TargetRecord};
use super::slurm;
use super::spec::{self, Fleet, Scheduler, Target};
use super::state::Phase;
use super::status;
use super::tools::{self, ToolError};
use crate::clock;
use crate::report::prices::PriceTable;
use crate::run::Outcome;

/// Where a fleet's jobs are written and how they are submitted.
struct Site {
    scheduler: Scheduler,
    id: String,
    /// The stamp part of the id, for Kubernetes Job names.
    stamp: String,
    dir: PathBuf,
    results: PathBuf,
    fleet_file: String,
    bench: String,
    /// sbatch or kubectl; None in a dry run.
    tool: Option<PathBuf>,
}

/// The scheduler's submit command, or a one-line error saying what to do.
pub fn submit_tool(scheduler: Scheduler) -> Result<PathBuf, ToolError> {
    match scheduler {
        Scheduler::Slurm => tools::require(
            "sbatch",
            "run `bench fleet submit` on a Slurm login node (or pass --dry-run to only write the job scripts)",
        ),
        Scheduler::Kubernetes => tools::require(
            "kubectl",
            "install kubectl and point it at the cluster with KUBECONFIG (or pass --dry-run to only write the manifests)",
        ),
    }
}

pub fn submit(args: &SubmitArgs) -> Result<Outcome> {
    let origin = args.fleet_file.display().to_string();
    let text = fs::read_to_string(&args.fleet_file).with_context(|| {
        format!("cannot read the fleet file {origin}: give the path of a fleet TOML file (see scripts/fleet/local.toml)")
    })?;
    let fleet = spec::parse(&text, &origin)?;
    let cli_scheduler = args
        .scheduler
        .as_deref()
        .map(|s| s.parse::<Scheduler>())
        .transpose()
        .map_err(|m| anyhow::anyhow!("--scheduler: {m}"))?;
    let scheduler = fleet.scheduler_or(cli_scheduler);
    fleet.check_for(scheduler, &origin)?;
    let results = shared_results(&fleet, args.results.as_deref(), &origin)?;
    if scheduler == Scheduler::Slurm {
        slurm::check_dir(&results).map_err(anyhow::Error::msg)?;
    }
    let tool = if args.dry_run {
        None
    } else {
        Some(submit_tool(scheduler)?)
    };
    let limits = kube_limits(&fleet, scheduler)?;
    let bench = bench_binary(&fleet, scheduler)?;

    let stamp = clock::now_stamp();
    let (id, dir) = fleet_dir(&results, &fleet.name, &stamp)?;
    let site = Site {
        scheduler,
        stamp: id
            .trim_start_matches(&format!("{}-", fleet.name))
            .to_string(),
        id,
        dir,
        results,
        fleet_file: origin.clone(),
        bench,
        tool,
    };
    fs::create_dir_all(site.dir.join("logs"))
        .with_context(|| format!("cannot create {}/logs", site.dir.display()))?;
    fs::write(site.dir.join("fleet.toml"), &text)
        .with_context(|| format!("cannot write {}/fleet.toml", site.dir.display()))?;

    let mut rec = FleetRecord {
        schema: record::SCHEMA.into(),
        id: site.id.clone(),
        scheduler,
        fleet_file: origin,
        created_at: clock::now_rfc3339(),
        dry_run: args.dry_run,
        bench: site.bench.clone(),
        results: site.results.clone(),
        targets: Vec::new(),
    };
    for (t, limits) in fleet.targets.iter().zip(&limits) {
        let out = site.dir.join(&t.name);
        fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
        let command = job::run_args(t, &out);
        let job = write_job(&site, t, limits, 1, command, None)?;
        rec.targets.push(TargetRecord {
            name: t.name.clone(),
            backend: t.backend.name().into(),
            instance: t.instance.clone(),
            out,
            namespace: (scheduler == Scheduler::Kubernetes).then(|| namespace(t)),
            jobs: vec![job],
            submit_error: None,
            last_state: None,
        });
    }
    record::write(&site.dir, &rec)?;
    let tally = submit_all(&site, &mut rec, None)?;
    finish(&site, &rec, tally, args.dry_run, None)
}

pub fn rerun(args: &RerunArgs) -> Result<Outcome> {
    let mut rec = record::read(&args.dir)?;
    let copy = args.dir.join("fleet.toml");
    let origin = copy.display().to_string();
    let text = fs::read_to_string(&copy).with_context(|| {
        format!("cannot read {origin}: the fleet directory lacks its copy of the fleet file")
    })?;
    let fleet = spec::parse(&text, &origin)?;
    for name in &args.target {
        if !rec.targets.iter().any(|t| &t.name == name) {
            bail!(
                "--target {name}: no such target in {}; its targets: {}",
                args.dir.display(),
                rec.targets
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let states = status::query(&rec)?;
    let mut chosen = Vec::new();
    for (i, (t, st)) in rec.targets.iter().zip(&states).enumerate() {
        let named = args.target.contains(&t.name);
        if named && st.is_active() {
            bail!(
                "target {} is {}: cancel its job first (scancel / kubectl delete job) or wait for it",
                t.name,
                st.describe()
            );
        }
        if named || (args.target.is_empty() && st.phase == Phase::Failed) {
            chosen.push(i);
        }
    }
    let dir = fs::canonicalize(&args.dir)
        .with_context(|| format!("cannot read {}", args.dir.display()))?;
    if chosen.is_empty() {
        println!("rerun: no failed or cancelled target in {}", dir.display());
        println!("{}", dir.display());
        return Ok(Outcome::AllOk);
    }
    let tool = if args.dry_run {
        None
    } else {
        Some(submit_tool(rec.scheduler)?)
    };
    let limits = kube_limits(&fleet, rec.scheduler)?;
    let site = Site {
        scheduler: rec.scheduler,
        stamp: rec
            .id
            .trim_start_matches(&format!("{}-", fleet.name))
            .to_string(),
        id: rec.id.clone(),
        results: rec.results.clone(),
        dir,
        fleet_file: rec.fleet_file.clone(),
        bench: rec.bench.clone(),
        tool,
    };
    for &i in &chosen {
        let name = rec.targets[i].name.clone();
        let Some((t, lim)) = fleet
            .targets
            .iter()
            .zip(&limits)
            .find(|(t, _)| t.name == name)
        else {
            bail!("{origin}: target {name} of fleet.json is missing from the fleet file copy");
        };
        let out = rec.targets[i].out.clone();
        let (command, resumes) = match status::latest_run(&out) {
            Some(run) => (job::resume_args(&run.dir, args.retry_failed), Some(run.dir)),
            None => (job::run_args(t, &out), None),
        };
        let attempt = rec.targets[i].jobs.len() + 1;
        let job = write_job(&site, t, lim, attempt, command, resumes)?;
        rec.targets[i].jobs.push(job);
        rec.targets[i].submit_error = None;
        rec.targets[i].last_state = None;
    }
    record::write(&site.dir, &rec)?;
    let tally = submit_all(&site, &mut rec, Some(&chosen))?;
    finish(&site, &rec, tally, args.dry_run, Some(&chosen))
}

/// The results path: absolute, an existing directory.
fn shared_results(fleet: &Fleet, cli: Option<&Path>, origin: &str) -> Result<PathBuf> {
    let (path, field) = match cli {
        Some(p) => (p.to_path_buf(), "--results".to_string()),
        None => (PathBuf::from(&fleet.results), format!("{origin}: results")),
    };
    if !path.is_dir() {
        bail!(
            "{field} = \"{}\": no such directory; it must be the cluster's shared filesystem, mounted at the same path on every node (create it, or pass --results DIR)",
            path.display()
        );
    }
    fs::canonicalize(&path).with_context(|| format!("{field}: cannot resolve {}", path.display()))
}

/// The bench binary the jobs run: the file's `bench`, else this binary (Slurm; it must sit on
/// the shared filesystem) or `bench` on the image's PATH (Kubernetes).
fn bench_binary(fleet: &Fleet, scheduler: Scheduler) -> Result<String> {
    if let Some(b) = &fleet.bench {
        return Ok(b.clone());
    }
    Ok(match scheduler {
        Scheduler::Kubernetes => "bench".into(),
        Scheduler::Slurm => std::env::current_exe()
            .and_then(fs::canonicalize)
            .context("cannot find this bench binary's path: set `bench` in the fleet file")?
            .display()
            .to_string(),
    })
}

/// Resource limits per target (Kubernetes), checked before anything is written.
fn kube_limits(
    fleet: &Fleet,
    scheduler: Scheduler,
) -> Result<Vec<std::collections::BTreeMap<String, String>>> {
    let prices = PriceTable::builtin();
    fleet
        .targets
        .iter()
        .map(|t| match scheduler {
            Scheduler::Slurm => Ok(Default::default()),
            Scheduler::Kubernetes => kube::resources(t, &prices).map_err(anyhow::Error::msg),
        })
        .collect()
}

fn namespace(t: &Target) -> String {
    t.kubernetes
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into())
}

/// `<results>/<name>-<stamp>` (with `-2`, `-3`.. when taken), created.
fn fleet_dir(results: &Path, name: &str, stamp: &str) -> Result<(String, PathBuf)> {
    let mut n = 1;
    loop {
        let id = if n == 1 {
            format!("{name}-{stamp}")
        } else {
            format!("{name}-{stamp}-{n}")
        };
        let dir = results.join(&id);
        match fs::create_dir(&dir) {
            Ok(()) => return Ok((id, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "cannot create the fleet directory {}: the results path must be writable",
                        dir.display()
                    )
                })
            }
        }
    }
}

/// Writes attempt `attempt` of a target's job file; returns its unsubmitted record.
fn write_job(
    site: &Site,
    t: &Target,
    limits: &std::collections::BTreeMap<String, String>,
    attempt: usize,
    command: Vec<String>,
    resumes: Option<PathBuf>,
) -> Result<JobRecord> {
    let out = site.dir.join(&t.name);
    let suffix = if attempt <= 1 {
        String::new()
    } else {
        format!("-{attempt}")
    };
    let mut steps = Vec::new();
    if let (Some(b), None) = (&t.neff_build, &resumes) {
        let plan = out.join("plan.json");
        steps.push(
            std::iter::once(site.bench.clone())
                .chain(job::plan_args(t, &plan))
                .collect(),
        );
        steps.push(job::build_argv(t, b, &plan));
    }
    let argv: Vec<String> = std::iter::once(site.bench.clone())
        .chain(command.iter().cloned())
        .collect();
    let (file, body, log) = match site.scheduler {
        Scheduler::Slurm => {
            let log = slurm::log_pattern(&site.dir, &t.name);
            let body = slurm::script(&slurm::Script {
                fleet_id: &site.id,
                fleet_file: &site.fleet_file,
                target: t,
                log: &log,
                steps: &steps,
                command: &argv,
            });
            (
                site.dir.join(format!("{}{suffix}.sbatch", t.name)),
                body,
                Some(log),
            )
        }
        Scheduler::Kubernetes => {
            let name = kube::job_name(&t.name, &site.stamp, attempt);
            let m = kube::manifest(
                &kube::Manifest {
                    fleet_id: &site.id,
                    target: t,
                    name: &name,
                    results: &site.results,
                    steps: &steps,
                    command: &argv,
                },
                limits,
            );
            let body = serde_json::to_string_pretty(&m)? + "\n";
            (
                site.dir.join(format!("{}{suffix}.job.json", t.name)),
                body,
                None,
            )
        }
    };
    fs::write(&file, body).with_context(|| format!("cannot write {}", file.display()))?;
    Ok(JobRecord {
        id: String::new(),
        job_file: file,
        log,
        submitted_at: None,
        command,
        resumes,
    })
}

/// Jobs tried and jobs refused.
#[derive(Clone, Copy)]
struct Tally {
    tried: usize,
    refused: usize,
}

/// Submits the latest attempt of each target (or of `only`); a refusal is recorded and
/// counted, not fatal. Rewrites fleet.json after each submission.
fn submit_all(site: &Site, rec: &mut FleetRecord, only: Option<&[usize]>) -> Result<Tally> {
    let mut tally = Tally {
        tried: 0,
        refused: 0,
    };
    let Some(tool) = &site.tool else {
        return Ok(tally);
    };
    for i in 0..rec.targets.len() {
        if only.is_some_and(|o| !o.contains(&i)) {
            continue;
        }
        tally.tried += 1;
        let t = &mut rec.targets[i];
        let job = t.jobs.last_mut().expect("a target has a job file");
        let submitted = match site.scheduler {
            Scheduler::Slurm => slurm::submit(tool, &job.job_file),
            Scheduler::Kubernetes => kube::apply(tool, &job.job_file),
        };
        match submitted {
            Ok(id) => {
                if let Some(log) = &job.log {
                    job.log = Some(slurm::log_for(log, &id));
                }
                println!(
                    "{}: submitted {} as job {id}",
                    t.name,
                    job.job_file.display()
                );
                job.id = id;
                job.submitted_at = Some(clock::now_rfc3339());
            }
            Err(e) => {
                eprintln!("{}: not submitted: {e}", t.name);
                t.submit_error = Some(e.to_string());
                tally.refused += 1;
            }
        }
        record::write(&site.dir, rec)?;
    }
    Ok(tally)
}

fn finish(
    site: &Site,
    rec: &FleetRecord,
    tally: Tally,
    dry_run: bool,
    only: Option<&[usize]>,
) -> Result<Outcome> {
    if dry_run {
        for (_, t) in rec
            .targets
            .iter()
            .enumerate()
            .filter(|(i, _)| only.is_none_or(|o| o.contains(i)))
        {
            if let Some(j) = t.jobs.last() {
                println!(
                    "{}: wrote {} (not submitted: --dry-run)",
                    t.name,
                    j.job_file.display()
                );
            }
        }
    }
    if tally.tried > 0 && tally.refused == tally.tried {
        let tool = match site.scheduler {
            Scheduler::Slurm => "sbatch",
            Scheduler::Kubernetes => "kubectl apply",
        };
        bail!(
            "{tool} refused every job ({}); the errors are above and the job files in {}",
            tally.tried,
            site.dir.display()
        );
    }
    println!("{}", site.dir.display());
    Ok(if tally.refused > 0 {
        Outcome::SomeFailed
    } else {
        Outcome::AllOk
    })
}
